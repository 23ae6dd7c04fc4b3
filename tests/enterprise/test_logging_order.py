"""Applications usually configure logging before they import a client flavour: records still flow.

The probe record is the pipeline's DEBUG line for a retry, written by ``kei_agent_sync._pipeline``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kei_agent.testing import Fault, run_server

CALL = """
from kei_agent import AgentClientConfig, RetryConfig
with kei_agent_sync.KeiAgentClient(AgentClientConfig(base_url={url!r}, api_token="dev-token",
        retry=RetryConfig(base_delay=0.01, max_delay=0.02))) as client:
    client.health_check()
"""


def run(program: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False)


def test_configure_logging_before_importing_a_flavour_keeps_sdk_records(tmp_path: Path) -> None:
    log_file = tmp_path / "sdk.log"
    with run_server(faults=[Fault.status(503, retry_after=0, route="getHealth", times=1)]) as server:
        program = (
            "from kei_agent.logging import configure_logging\n"
            f"configure_logging(level='DEBUG', enable_console=False, enable_file=True, file_path={str(log_file)!r})\n"
            "import kei_agent_sync\n" + CALL.format(url=server.base_url)
        )
        proc = run(program)
    assert proc.returncode == 0, proc.stderr
    assert "retrying in" in log_file.read_text()


def test_without_configure_logging_the_sdk_stays_silent() -> None:
    with run_server(faults=[Fault.status(503, retry_after=0, route="getHealth", times=1)]) as server:
        program = (
            "import sys\nfrom loguru import logger\nlogger.remove()\nlogger.add(sys.stdout, level='DEBUG')\n"
            "import kei_agent_sync\n" + CALL.format(url=server.base_url)
        )
        proc = run(program)
    assert proc.returncode == 0, proc.stderr
    assert server.stats.requests("getHealth") == 2
    assert proc.stdout == ""


def test_importing_a_client_does_not_import_loguru() -> None:
    # loguru (and the asyncio and multiprocessing it loads) is imported with the first record.
    program = (
        "import sys\nimport kei_agent_sync\nfrom kei_agent import AgentClientConfig, UnifiedKeiAgentClient\n"
        "print(sorted(name for name in ('loguru', 'multiprocessing') if name in sys.modules))"
    )
    proc = run(program)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_loguru_imported_after_the_client_finds_the_sdk_silent() -> None:
    with run_server(faults=[Fault.status(503, retry_after=0, route="getHealth", times=1)]) as server:
        program = (
            "import sys\nimport kei_agent_sync\nfrom loguru import logger\nlogger.remove()\n"
            "logger.add(sys.stdout, level='DEBUG')\n" + CALL.format(url=server.base_url)
        )
        proc = run(program)
    assert proc.returncode == 0, proc.stderr
    assert server.stats.requests("getHealth") == 2
    assert proc.stdout == ""


def test_logger_enable_after_importing_the_client_turns_its_records_on() -> None:
    with run_server(faults=[Fault.status(503, retry_after=0, route="getHealth", times=1)]) as server:
        program = (
            "import sys\nimport kei_agent_sync\nfrom loguru import logger\nlogger.remove()\n"
            "logger.add(sys.stdout, level='DEBUG')\nlogger.enable('kei_agent_sync')\n"
            + CALL.format(url=server.base_url)
        )
        proc = run(program)
    assert proc.returncode == 0, proc.stderr
    assert "retrying in" in proc.stdout
