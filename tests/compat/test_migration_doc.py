"""Every Python snippet of docs/migration.md runs against the reference server, each in its own
interpreter (warnings are errors there, except in the snippet written in the 0.1.0b6 spelling,
whose deprecation warnings must name the new spelling)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kei_agent.testing import ServerHandle, run_server
from tests.support.peers import REPO_ROOT

DOC = REPO_ROOT / "docs" / "migration.md"
DOC_URL = "https://api.kei-framework.com"
TOKEN = "your-api-token"


@dataclass
class Snippet:
    heading: str
    index: int
    line: int
    code: str

    @property
    def key(self) -> str:
        return f"{self.heading} #{self.index}"


def snippets() -> list[Snippet]:
    found: list[Snippet] = []
    heading = ""
    counts: dict[str, int] = {}
    lines = DOC.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.strip() == "```python":
            start = index + 1
            end = lines.index("```", start)
            counts[heading] = counts.get(heading, 0) + 1
            found.append(Snippet(heading, counts[heading], start + 1, "\n".join(lines[start:end]) + "\n"))
            index = end
        index += 1
    return found


@dataclass
class Run:
    stdout: str
    stderr: str
    server: ServerHandle


def _old_code(run: Run) -> None:
    out = run.stdout
    assert "Agent ID: my-agent, protocols: ['rpc', 'bus', 'stream', 'mcp']" in out
    assert re.search(r"^Plan ID: plan-\S+$", out, re.M)
    assert "Status: healthy, uptime known: True" in out
    assert "Ergebnis: {'value': 58.0}" in out
    assert "Registered: my-agent" in out
    assert "Security error: AuthenticationError" in out
    for new in (
        "use AgentClientConfig(connection=ConnectionConfig(timeout=30))",
        "use AgentClientConfig(retry=RetryConfig(max_attempts=4))",
        "HealthReport['uptime'] is deprecated: read 'uptime_seconds'",
    ):
        assert run.stderr.count(new) == 1, run.stderr
    assert run.server.stats.requests("planTask") == 2


def _new_code(run: Run) -> None:
    lines = run.stdout.splitlines()
    assert re.fullmatch(r"plan-\S+ True 58\.0 my-agent", lines[0]), run.stdout
    assert lines[1] == "AuthenticationError 401"


def _streaming(run: Run) -> None:
    assert "refused: execute_agent_operation('monitor_stream') cannot be carried by the stream protocol" in run.stdout
    assert "Ask for it with protocol=Protocol.RPC or protocol=Protocol.BUS" in run.stdout
    assert "event: agent_events {'cpu': '25%'}" in run.stdout
    assert run.server.stats.requests("executeOperation") == 0


def _sync(run: Run) -> None:
    lines = run.stdout.splitlines()
    assert lines[0] == "True 1.0.0"
    assert lines[1].startswith("plan-")


def _logging(run: Run) -> None:
    assert "refused: level" in run.stdout
    assert '"debug records are shown"' in run.stderr
    assert '"the previous configuration still logs"' in run.stderr


EXPECTATIONS: dict[str, Callable[[Run], None]] = {
    "Your 0.1.0b6 code, unchanged #1": _old_code,
    "Your 0.1.0b6 code, unchanged #2": _new_code,
    "Streaming: what `protocol=ProtocolType.STREAM` can carry #1": _streaming,
    "The blocking client has the same methods #1": _sync,
    "Logging #1": _logging,
}


def test_every_snippet_has_expectations() -> None:
    assert sorted(snippet.key for snippet in snippets()) == sorted(EXPECTATIONS)


@pytest.fixture
def doc_server() -> Iterator[ServerHandle]:
    """A fresh server per snippet (the snippets register the same agent ids)."""
    with run_server(tokens=[TOKEN]) as server:
        yield server


@pytest.mark.parametrize("snippet", snippets(), ids=lambda snippet: snippet.key)
def test_snippet_runs(snippet: Snippet, doc_server: ServerHandle, tmp_path: Path) -> None:
    code = snippet.code.replace(DOC_URL, doc_server.base_url)
    assert DOC_URL not in code
    old_spelling = "deprecated:" in code
    script = tmp_path / "snippet.py"
    script.write_text(code, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-W", "default" if old_spelling else "error", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    where = f"docs/migration.md:{snippet.line} ({snippet.key})"
    assert proc.returncode == 0, f"{where} failed:\n{proc.stdout}\n{proc.stderr}"
    EXPECTATIONS[snippet.key](Run(proc.stdout, proc.stderr, doc_server))


def test_the_migration_page_names_every_deprecated_spelling() -> None:
    text = DOC.read_text(encoding="utf-8")
    from kei_agent._compat_config import LEGACY_RENAMES

    for renames in LEGACY_RENAMES.values():
        for old, new in renames.items():
            assert f"{old}=" in text
            assert f"{new}=" in text
