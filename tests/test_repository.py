"""Repository-level checks: layout, packaging, spec validity, lint and types, CI wiring."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import tomllib
from importlib.metadata import metadata

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

from generator import PINNED_VERSIONS
from tests.support.peers import REPO_ROOT

PACKAGES = ["kei_agent", "kei_agent_async", "kei_agent_sync"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True, check=False)


def test_spec_is_valid_openapi_3_1() -> None:
    spec, _ = read_from_filename(str(REPO_ROOT / "openapi" / "kei-agent.yaml"))
    assert spec["openapi"].startswith("3.1")
    validate(spec)


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_document_their_role_and_are_typed(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__doc__
    assert len(module.__doc__.split()) > 20
    assert (REPO_ROOT / package / "py.typed").exists()


def test_top_level_layout() -> None:
    for name in ["pyproject.toml", "noxfile.py", "openapi", "generator", *PACKAGES, "tests", "README.md", ".ci/run"]:
        assert (REPO_ROOT / name).exists(), name


def test_distribution_metadata_and_extras() -> None:
    meta = metadata("kei-agent-py-sdk")
    assert meta["Requires-Python"] == ">=3.11"
    extras = set(meta.get_all("Provides-Extra") or [])
    assert {"server", "postgres", "otel", "security", "docs", "dev"} <= extras
    runtime = {re.split(r"[<>=\[ ;]", r)[0].lower() for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r}
    # requests and oauthlib: installed by requests-oauthlib, httpcore by httpx; declared because they
    # are imported directly.
    assert runtime == {"httpx", "attrs", "loguru", "requests-oauthlib", "requests", "oauthlib", "httpcore"}


def test_generator_pins_match_the_dev_extra() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    dev = project["optional-dependencies"]["dev"]
    for dist, pinned in PINNED_VERSIONS.items():
        assert f"{dist}=={pinned}" in dev


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    block = re.search(r"## Run the tests.*?```bash\n(.+?)\n```", readme, re.S)
    assert block is not None
    command = block.group(1).strip()
    ci_lines = [line.strip() for line in (REPO_ROOT / ".ci" / "run").read_text().splitlines()]
    assert command in ci_lines


def test_generated_code_is_up_to_date() -> None:
    proc = run(sys.executable, "-m", "generator", "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_is_clean() -> None:
    check = run(sys.executable, "-m", "ruff", "check", ".")
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = run(sys.executable, "-m", "ruff", "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_mypy_strict_is_clean_on_hand_written_and_generated_code() -> None:
    proc = run(sys.executable, "-m", "mypy", "--strict", *PACKAGES, "generator")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_spec_has_no_accidental_yaml_keys() -> None:
    """A comma inside an unquoted flow-mapping description silently becomes a key with a null value."""
    import yaml

    spec = yaml.safe_load((REPO_ROOT / "openapi" / "kei-agent.yaml").read_text())
    found: list[str] = []

    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if value is None and "/example" not in path:
                    found.append(f"{path}/{key}")
                walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{path}[{index}]")

    walk(spec, "")
    assert found == []
