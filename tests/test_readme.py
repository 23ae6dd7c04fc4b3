"""The README runs as written: its Python snippets against the reference server, its tables in sync."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from kei_agent import DEFAULTS_TABLE
from kei_agent.testing import ServerHandle, run_server
from tests.support.peers import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()
README_URL = "http://127.0.0.1:8080"
SNIPPETS = re.findall(r"```python\n(.+?)```", README, re.S)


@pytest.fixture(scope="module")
def dev_server() -> Iterator[ServerHandle]:
    """The reference server as `kei-agent serve` runs it: the development token `dev-token`."""
    with run_server() as server:
        yield server


def test_readme_has_snippets() -> None:
    assert len(SNIPPETS) >= 3


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_readme_snippet_runs(dev_server: ServerHandle, index: int, capsys: pytest.CaptureFixture[str]) -> None:
    code = SNIPPETS[index]
    assert README_URL in code
    capsys.readouterr()
    exec(compile(code.replace(README_URL, dev_server.base_url), f"README.md[{index}]", "exec"), {})
    assert capsys.readouterr().out.strip()


def test_defaults_table_matches_the_code() -> None:
    rows = re.findall(r"^\| `([^`]+)` \| `([^`]*)` \| (.+) \|$", README, re.M)
    assert rows == [(setting, default, meaning) for setting, default, meaning in DEFAULTS_TABLE]
