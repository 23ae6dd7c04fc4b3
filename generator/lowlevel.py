"""Step 1: the low-level clients (both flavours, one copy of the models) via openapi-python-client."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import SPEC_PATH
from .postprocess import GenerationError, finish_package

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
CONFIG = HERE / "config.yaml"


def render_lowlevel(dest: Path, spec: Path = SPEC_PATH) -> None:
    """Render ``kei_agent/_generated`` for ``spec`` into the (non-existent) directory ``dest``."""
    with tempfile.TemporaryDirectory(prefix="kei-gen-") as tmp:
        out = Path(tmp) / "_generated"
        cmd = [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(spec),
            "--meta",
            "none",
            "--config",
            str(CONFIG),
            "--custom-template-path",
            str(TEMPLATES),
            "--output-path",
            str(out),
            "--fail-on-warning",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not (out / "__init__.py").exists():
            raise GenerationError(f"openapi-python-client failed:\n{proc.stdout}{proc.stderr}")
        finish_package(out)
        shutil.copytree(out, dest)
