"""The SDK as a user installs it: sdist + wheel built from the repository, the wheel installed
(not editable) into a clean virtualenv that sees none of the test environment's packages.

Fast on purpose: the build runs without isolation when hatchling is importable (the ``dev`` extra
has it), the virtualenv is created without pip (the host's pip installs into it with
``--python``), and pip's cache serves the dependencies after the first run.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from tests.support.peers import REPO_ROOT

# The extras the installed wheel needs here: the demo (server) and the enterprise agent (postgres).
EXTRAS = "server,postgres"


@attrs.frozen
class WheelInstall:
    """A built distribution and a clean virtualenv with its wheel installed."""

    sdist: Path
    wheel: Path
    venv: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def script(self, name: str) -> Path:
        return self.venv / "bin" / name

    def env(self, **extra: str) -> dict[str, str]:
        """An environment with nothing of the test run: no PYTHONPATH, no KEI_* variables."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("KEI_", "PYTHON", "VIRTUAL_ENV"))}
        base["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{base.get('PATH', '')}"
        base.update(extra)
        return base


def _run(command: list[str], timeout: float) -> None:
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        output = proc.stdout[-3000:] + proc.stderr[-3000:]
        raise RuntimeError(f"{' '.join(command)} failed ({proc.returncode}):\n{output}")


def build_distributions(outdir: Path) -> tuple[Path, Path]:
    """``python -m build`` (sdist, then the wheel from the sdist) into ``outdir``."""
    command = [sys.executable, "-m", "build", "--outdir", str(outdir)]
    if importlib.util.find_spec("hatchling") is not None:
        command.append("--no-isolation")
    _run([*command, str(REPO_ROOT)], timeout=600)
    (sdist,) = outdir.glob("*.tar.gz")
    (wheel,) = outdir.glob("*.whl")
    return sdist, wheel


def install_wheel(wheel: Path, venv: Path, extras: str = EXTRAS) -> None:
    """A clean virtualenv (no system site-packages) with ``wheel[extras]`` installed, not editable."""
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], timeout=120)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "--disable-pip-version-check"]
    _run([*pip, "install", "-q", f"{wheel}[{extras}]"], timeout=900)


@pytest.fixture(scope="session")
def wheel_install(tmp_path_factory: pytest.TempPathFactory) -> WheelInstall:
    """Build once per session and install the wheel into a clean virtualenv."""
    root = tmp_path_factory.mktemp("wheel")
    sdist, wheel = build_distributions(root / "dist")
    install_wheel(wheel, root / "venv")
    return WheelInstall(sdist=sdist, wheel=wheel, venv=root / "venv")
