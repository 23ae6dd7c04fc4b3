"""The Python snippets of the documentation site (docs/**/*.md): where they are, what they print.

A ```python block is run as written apart from the server URL; a ```text block right after it is
the output it must print (``...`` matches anything, also across lines). Snippets that need other
peers than the reference server are marked ``<!-- snippet: NAME -->`` on the line before the
fence and run by the test that owns NAME (``SPECIAL``). Top-level ``await`` (notebook cells) runs
inside an event loop, as in Jupyter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tests.support.peers import REPO_ROOT

DOCS = REPO_ROOT / "docs"
DOC_URL = "http://127.0.0.1:8080"
#: docs/enterprise.md has its own test with per-snippet expectations (tests/enterprise/test_docs.py).
OWN_TESTS = {
    "enterprise.md": "tests/enterprise/test_docs.py",
    # Its snippets show the deprecated 0.1.0b6 spellings: the test expects their warnings.
    "migration.md": "tests/compat/test_migration_doc.py",
}
#: Marked snippets and the tests that run them against their peers.
SPECIAL = {
    "oidc": "tests/clients/test_site_auth.py",
    "mtls": "tests/clients/test_site_auth.py",
}
_MARKER = re.compile(r"<!-- snippet: ([a-z0-9-]+) -->")

#: Runs a snippet like a notebook cell when it has top-level await, else like a script.
RUNNER = """\
import ast, asyncio, sys
path = sys.argv[1]
with open(path, encoding="utf-8") as handle:
    code = compile(handle.read(), path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
result = eval(code, {"__name__": "__main__"})
if asyncio.iscoroutine(result):
    asyncio.run(result)
"""


@dataclass(frozen=True)
class Snippet:
    page: str
    line: int
    code: str
    expected: str | None
    special: str | None

    @property
    def key(self) -> str:
        return f"{self.page}:{self.line}"

    def matches(self, output: str) -> bool:
        if self.expected is None:
            return bool(output.strip())
        pattern = ".*?".join(re.escape(part) for part in self.expected.strip().split("..."))
        return re.fullmatch(pattern, output.strip(), re.DOTALL) is not None


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def _fence(lines: list[str], start: int) -> int:
    return lines.index("```", start)


def page_snippets(page: Path) -> list[Snippet]:
    lines = page.read_text(encoding="utf-8").splitlines()
    name = page.relative_to(DOCS).as_posix()
    found: list[Snippet] = []
    index = 0
    while index < len(lines):
        if lines[index].strip() != "```python":
            index += 1
            continue
        end = _fence(lines, index + 1)
        before = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        marker = _MARKER.fullmatch(before.strip())
        after = end + 1
        while after < len(lines) and not lines[after].strip():
            after += 1
        expected = None
        if after < len(lines) and lines[after].strip() == "```text":
            close = _fence(lines, after + 1)
            expected = "\n".join(lines[after + 1 : close])
        code = "\n".join(lines[index + 1 : end]) + "\n"
        found.append(Snippet(f"docs/{name}", index + 2, code, expected, marker.group(1) if marker else None))
        index = end + 1
    return found


def site_snippets() -> list[Snippet]:
    """Every snippet the generic site test runs (not those of pages with their own test)."""
    return [
        snippet
        for page in pages()
        if page.relative_to(DOCS).as_posix() not in OWN_TESTS
        for snippet in page_snippets(page)
        if snippet.special is None
    ]


def special_snippets(name: str) -> list[Snippet]:
    return [snippet for page in pages() for snippet in page_snippets(page) if snippet.special == name]
