"""The documentation site builds with ``mkdocs build --strict`` and every Python snippet on it runs.

Snippets run in their own interpreter (they may configure process-wide things) against a fresh
reference server; see tests/docs/snippets.py for the conventions.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import kei_agent
from kei_agent.testing import ServerHandle, run_server
from tests.docs.snippets import (
    DOC_URL,
    DOCS,
    OWN_TESTS,
    RUNNER,
    SPECIAL,
    Snippet,
    page_snippets,
    pages,
    site_snippets,
    special_snippets,
)
from tests.support.peers import REPO_ROOT


@pytest.fixture
def docs_server() -> Iterator[ServerHandle]:
    """A fresh reference server per snippet, accepting the development token the docs use."""
    with run_server() as server:
        yield server


def run_snippet(code: str, server: ServerHandle, tmp_path: Path, where: str) -> str:
    script = tmp_path / "snippet.py"
    script.write_text(code.replace(DOC_URL, server.base_url), encoding="utf-8")
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(runner), str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"{where} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.mark.parametrize("snippet", site_snippets(), ids=lambda snippet: snippet.key)
def test_snippet_runs_and_prints_what_the_page_shows(
    snippet: Snippet, docs_server: ServerHandle, tmp_path: Path
) -> None:
    output = run_snippet(snippet.code, docs_server, tmp_path, snippet.key)
    assert snippet.matches(output), f"{snippet.key} printed:\n{output}\nthe page shows:\n{snippet.expected}"


def test_every_page_is_in_the_site_and_has_runnable_snippets() -> None:
    config = (REPO_ROOT / "mkdocs.yml").read_text()
    names = [page.relative_to(DOCS).as_posix() for page in pages()]
    for name in names:
        assert f" {name}\n" in config, f"{name} is not in the mkdocs.yml nav"
    assert set(OWN_TESTS) <= set(names)
    # Snippets of the guides and quick starts (not the API reference pages) run here or elsewhere.
    for page in pages():
        if page.parent.name != "reference":
            assert page_snippets(page) or page.name in {"examples.md", "regenerating.md"}, page


def test_special_snippets_are_owned_by_a_test() -> None:
    marked = {snippet.special for page in pages() for snippet in page_snippets(page) if snippet.special}
    assert marked == set(SPECIAL)
    for name, test in SPECIAL.items():
        assert special_snippets(name)
        assert (REPO_ROOT / test).exists(), test


def test_snippet_expectations_can_fail() -> None:
    snippet = Snippet("docs/x.md", 1, "", "plan-... created\n...steps", None)
    assert snippet.matches("plan-000001 created\n3 steps")
    assert not snippet.matches("plan-000001 failed\n3 steps")
    assert not Snippet("docs/x.md", 1, "", None, None).matches("  \n")


def test_the_package_docstring_example_runs(docs_server: ServerHandle, tmp_path: Path) -> None:
    doc = kei_agent.__doc__ or ""
    lines = doc.split("::\n\n", 1)[1].splitlines()
    end = next(index for index, line in enumerate(lines) if line.strip() and not line.startswith("    "))
    code = "\n".join(line[4:] for line in lines[:end])
    assert "with KeiAgentClient(" in code
    output = run_snippet(code, docs_server, tmp_path, "kei_agent.__doc__")
    assert output.startswith("PlanResponse(plan_id='plan-"), output
    assert "objective='Write a quarterly report'" in output


def test_the_errors_page_covers_every_error_class() -> None:
    errors = importlib.import_module("kei_agent.errors")
    classes = [
        name
        for name in errors.__all__
        if isinstance(getattr(errors, name), type) and issubclass(getattr(errors, name), BaseException)
    ]
    page = (DOCS / "errors.md").read_text()
    headings = re.findall(r"^### `(\w+)`", page, re.M)
    assert sorted(headings) == sorted(classes)
    for name in classes:
        section = page.split(f"### `{name}`", 1)[1].split("\n### ", 1)[0]
        for part in ("**When**", "**Carries**", "**What to do**"):
            assert part in section, f"{name}: {part}"


def test_the_configuration_page_lists_every_default() -> None:
    page = (DOCS / "configuration.md").read_text()
    rows = re.findall(r"^\| `([^`]+)` \| `([^`]*)` \| `?([A-Z0-9_]*)`? \|", page, re.M)
    assert [(setting, default) for setting, default, _ in rows] == [
        (setting, default) for setting, default, _ in kei_agent.DEFAULTS_TABLE
    ]
    variables = {
        target.strip(): name for name, targets in kei_agent.ENV_VARIABLES.items() for target in targets.split(",")
    }
    nested = {"ConnectionConfig.": "AgentClientConfig.connection.", "RetryConfig.": "AgentClientConfig.retry."}
    for setting, _, variable in rows:
        path = next(
            (full + setting[len(short) :] for short, full in nested.items() if setting.startswith(short)), setting
        )
        assert variable == variables.get(path, ""), setting
    assert {variable for _, _, variable in rows if variable} == set(kei_agent.ENV_VARIABLES)


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=REPO_ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    errors = (site / "errors" / "index.html").read_text()
    assert "RateLimitError" in errors
    pipeline = (site / "pipeline" / "index.html").read_text()
    assert pipeline.count('class="mermaid"') >= 1
    clients = (site / "reference" / "clients" / "index.html").read_text()
    assert "plan_task" in clients
    assert "execute_action" in clients
    assert (site / "enterprise" / "index.html").exists()


@pytest.mark.parametrize("package", ["kei_agent", "kei_agent_async", "kei_agent_sync"])
def test_the_api_reference_covers_every_public_name(package: str) -> None:
    text = "\n".join(page.read_text() for page in (DOCS / "reference").glob("*.md"))
    documented = set(re.findall(r"^::: [\w.]+\.(\w+)", text, re.M)) | set(re.findall(r"^        - (\w+)", text, re.M))
    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if not name.startswith("__") and name not in documented]
    assert missing == []
