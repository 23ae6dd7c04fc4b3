"""The distribution a user installs: ``python -m build`` → ``twine check`` → the wheel (not
editable) in a clean virtualenv → ``kei-agent demo`` from it (what README's install section says)."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile

from kei_agent._version import __version__
from tests.support.peers import REPO_ROOT
from tests.support.wheel import WheelInstall


def test_sdist_and_wheel_pass_twine_check(wheel_install: WheelInstall) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(wheel_install.sdist), str(wheel_install.wheel)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("PASSED") == 2


def test_distributions_hold_the_packages_and_the_spec(wheel_install: WheelInstall) -> None:
    assert wheel_install.wheel.name == f"kei_agent_py_sdk-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel_install.wheel) as wheel:
        names = set(wheel.namelist())
    for package in ("kei_agent", "kei_agent_async", "kei_agent_sync"):
        assert f"{package}/__init__.py" in names
        assert f"{package}/py.typed" in names
    assert "kei_agent/_contract/spec.json" in names
    assert not any(name.startswith(("tests/", ".venv/")) for name in names)
    with zipfile.ZipFile(wheel_install.wheel) as wheel:
        metadata = wheel.read(f"kei_agent_py_sdk-{__version__}.dist-info/METADATA").decode()
    extras = {line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Provides-Extra:")}
    # The original documentation's install line, `pip install "kei_agent_py_sdk[security,docs]"`, resolves.
    assert {"security", "docs", "server", "postgres"} <= extras
    with tarfile.open(wheel_install.sdist) as sdist:
        members = {member.name.split("/", 1)[1] for member in sdist.getmembers() if "/" in member.name}
    assert "openapi/kei-agent.yaml" in members
    assert "README.md" in members


def test_installed_wheel_runs_the_demo_from_a_clean_venv(wheel_install: WheelInstall, tmp_path: object) -> None:
    where = subprocess.run(
        [str(wheel_install.python), "-c", "import kei_agent, kei_agent_sync; print(kei_agent.__file__)"],
        capture_output=True,
        text=True,
        env=wheel_install.env(),
        cwd=str(tmp_path),
        timeout=60,
        check=True,
    )
    assert where.stdout.strip().startswith(str(wheel_install.venv))  # the wheel, not the checkout
    version = subprocess.run(
        [str(wheel_install.script("kei-agent")), "--version"],
        capture_output=True,
        text=True,
        env=wheel_install.env(),
        cwd=str(tmp_path),
        timeout=60,
        check=True,
    )
    assert version.stdout.startswith(f"kei-agent {__version__} ")
    demo = subprocess.run(
        [str(wheel_install.script("kei-agent")), "demo"],
        capture_output=True,
        text=True,
        env=wheel_install.env(),
        cwd=str(tmp_path),
        timeout=300,
        check=False,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "All steps succeeded with both clients" in demo.stdout
    assert demo.stderr == ""


def test_readme_install_section_names_the_wheel_ci_builds(wheel_install: WheelInstall) -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    install = readme[readme.index("## Install") : readme.index("## Quick start")]
    assert f'python -m pip install "dist/{wheel_install.wheel.name}[server]"' in install
    assert "0.1.0b6" in install  # says plainly what the PyPI name holds today
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert ".ci/package" in ci.splitlines()
