"""LICENSE, CHANGELOG and the package docstrings say what the project is."""

from __future__ import annotations

import importlib
import re
import tomllib

import pytest

from kei_agent import __version__
from tests.support.peers import REPO_ROOT


def test_license_is_the_full_apache_2_0_text_pyproject_names() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    text = (REPO_ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License")
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    sections = re.findall(r"^\s+(\d)\. [A-Z][a-z]+", text, re.M)
    assert sections == [str(n) for n in range(1, 10)]
    assert len(text.split()) > 1500  # the full text, not a stub


def test_license_and_changelog_ship_in_the_sdist() -> None:
    build = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]
    assert {"LICENSE", "CHANGELOG.md"} <= set(build["sdist"]["include"])


def test_changelog_has_the_current_version_and_an_unreleased_section() -> None:
    text = (REPO_ROOT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## \[([^\]]+)\]", text, re.M)
    assert headings[0] == "Unreleased"
    assert __version__ in headings
    assert "### Added" in text


@pytest.mark.parametrize("package", ["kei_agent", "kei_agent_async", "kei_agent_sync"])
def test_package_docstrings_speak_of_the_package(package: str) -> None:
    doc = importlib.import_module(package).__doc__ or ""
    assert "later issue" not in doc
    assert "KEI" in doc.split("\n", 1)[0]
    assert "KeiAgentClient" in doc


def test_core_docstring_names_the_api_and_both_flavours() -> None:
    doc = importlib.import_module("kei_agent").__doc__ or ""
    for word in ("plan", "act", "observe", "explain", "registry", "bus", "MCP", "stream", "health"):
        assert word in doc, word
    assert "kei_agent_sync" in doc
    assert "kei_agent_async" in doc
