"""The README's Python snippets run as written (the server URL pointed at Prism)."""

from __future__ import annotations

import re

import pytest

from tests.support.peers import REPO_ROOT

pytestmark = pytest.mark.prism

README_URL = "http://127.0.0.1:8080"


def snippets() -> list[str]:
    return re.findall(r"```python\n(.+?)```", (REPO_ROOT / "README.md").read_text(), re.S)


def test_readme_has_snippets() -> None:
    assert snippets()


@pytest.mark.parametrize("index", range(len(snippets())))
def test_readme_snippet_runs(prism_url: str, index: int, capsys: pytest.CaptureFixture[str]) -> None:
    code = snippets()[index]
    assert README_URL in code
    namespace: dict[str, object] = {}
    exec(compile(code.replace(README_URL, prism_url), f"README.md[{index}]", "exec"), namespace)
    assert capsys.readouterr().out.strip()
