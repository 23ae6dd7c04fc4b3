"""docs/transports.md runs as written (its Python snippets, against the reference server over TLS)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from kei_agent.testing import ServerHandle
from tests.support.peers import REPO_ROOT

DOC = REPO_ROOT / "docs" / "transports.md"
DOC_URL = "http://127.0.0.1:8080"
SNIPPETS = re.findall(r"```python\n(.+?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_page_has_snippets() -> None:
    assert SNIPPETS


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_snippet_runs(index: int, tls_server: tuple[ServerHandle, Path], tmp_path: Path) -> None:
    server, ca_file = tls_server
    code = SNIPPETS[index]
    assert DOC_URL in code
    script = tmp_path / "snippet.py"
    script.write_text(code.replace(DOC_URL, server.base_url).replace("dev-token", "scenario-token"))
    env = {"SSL_CERT_FILE": str(ca_file), "PATH": "/usr/bin:/bin", "KEI_TRANSPORT": ""}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert "httpx 32 plans" in done.stdout
    assert "aiohttp 32 plans" in done.stdout
