"""Every program in examples/ runs as a user would run it: its own process, the configuration
from ``KEI_*`` variables, against the reference server; the notebook through a Jupyter kernel."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from kei_agent import AgentClientConfig
from kei_agent.testing import ServerHandle, run_server
from kei_agent_sync import KeiAgentClient
from tests.support.peers import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples"
TOKEN = "examples-token"


@pytest.fixture
def server() -> Iterator[ServerHandle]:
    with run_server(tokens=[TOKEN]) as handle:
        yield handle


def environment(server: ServerHandle) -> dict[str, str]:
    return {**os.environ, "KEI_API_URL": server.base_url, "KEI_API_TOKEN": TOKEN, "KEI_AGENT_ID": "example-agent"}


def run_example(name: str, server: ServerHandle, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / name), *args],
        env=environment(server),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def start_example(name: str, server: ServerHandle, *args: str) -> subprocess.Popen[str]:
    """Start a long-running example and wait for its ``ready`` line."""
    proc = subprocess.Popen(
        [sys.executable, "-W", "error", "-u", str(EXAMPLES / name), *args],
        env=environment(server),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith("ready"), first + (proc.stderr.read() if proc.stderr else "")
    return proc


def finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        stdout, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        raise AssertionError(f"the example did not finish in 60 s:\n{stdout}\n{stderr}") from None
    assert proc.returncode == 0, stderr
    return stdout, stderr


def test_examples_folder_holds_what_the_docs_list() -> None:
    names = sorted(path.name for path in EXAMPLES.iterdir() if path.suffix in {".py", ".ipynb"})
    assert names == ["asyncio_service.py", "bus_worker.py", "quickstart.ipynb", "stream_consumer.py", "sync_script.py"]
    page = (REPO_ROOT / "docs" / "examples.md").read_text()
    for name in names:
        assert f"`{name}`" in page


def test_sync_script(server: ServerHandle) -> None:
    proc = run_example("sync_script.py", server, "Write a report")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("plan plan-")
    steps = int(lines[0].split(": ")[1].split()[0])
    assert len([line for line in lines if line.startswith("  step ")]) == steps
    assert all(line.endswith(": completed") for line in lines if line.startswith("  step "))
    assert lines[-1].startswith("explanation: Plan plan-")
    assert server.stats.requests("executeAction") == steps
    headers = server.stats.last_headers("planTask")
    assert headers is not None
    assert headers["x-agent-id"] == "example-agent"


def test_sync_script_reports_a_failure_in_one_line(server: ServerHandle) -> None:
    env = {"KEI_API_TOKEN": "wrong-token"}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "sync_script.py")],
        env={**environment(server), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: POST /api/v1/rpc/plan failed with 401 Unauthorized")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "wrong-token" not in proc.stderr


def test_asyncio_service_handles_requests_concurrently(server: ServerHandle) -> None:
    proc = run_example("asyncio_service.py", server, "Report A", "Report B", "Report C")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("serving 3 requests with KeiAgentClient(base_url=")
    assert [line.split(":")[0] for line in lines[1:4]] == ["Report A", "Report B", "Report C"]
    assert all(": completed (doc-" in line for line in lines[1:4])
    assert lines[-1] == "client closed"
    assert server.stats.requests("planTask") == 3


def test_asyncio_service_finishes_work_in_progress_on_sigterm(server: ServerHandle) -> None:
    from kei_agent.testing import Fault

    server.faults.add(Fault.latency(1.0, route="planTask"))
    proc = subprocess.Popen(
        [sys.executable, "-u", str(EXAMPLES / "asyncio_service.py"), "Slow report"],
        env=environment(server),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("serving 1 requests")
    proc.send_signal(signal.SIGTERM)
    stdout, _ = finish(proc)
    lines = stdout.splitlines()
    assert lines[0] == "shutting down: finishing the requests in progress"
    assert lines[1].startswith("Slow report: completed")
    assert lines[-1] == "client closed"


def test_bus_worker_handles_and_acks_each_message(server: ServerHandle) -> None:
    worker = start_example("bus_worker.py", server, "--limit", "3")
    config = AgentClientConfig(base_url=server.base_url, api_token=TOKEN)
    with KeiAgentClient(config) as client:
        for order in (1, 2, 3):
            client.publish("orders.created", {"order_id": order})
    stdout, _ = finish(worker)
    billed = [line for line in stdout.splitlines() if line.startswith("billed order")]
    assert sorted(billed) == [f"billed order {n} (orders.created, delivery 1)" for n in (1, 2, 3)]
    assert stdout.splitlines()[-1] == "done: ConsumeResult(processed=3, failed=0, duplicates=0)"
    assert server.stats.requests("ackMessages") >= 1


def test_stream_consumer_prints_events_and_resumes(server: ServerHandle) -> None:
    consumer = start_example("stream_consumer.py", server, "--limit", "2")
    config = AgentClientConfig(base_url=server.base_url, api_token=TOKEN)
    with KeiAgentClient(config) as client:
        first = client.publish_event("reports.ready", {"document_id": "doc-1"})
        client.publish_event("reports.ready", {"document_id": "doc-2"})
        client.publish_event("reports.ready", {"document_id": "doc-3"})
    stdout, _ = finish(consumer)
    lines = stdout.splitlines()
    assert lines[0] == f"event {first.event_id} reports.ready: {{'document_id': 'doc-1'}}"
    assert lines[1].endswith("reports.ready: {'document_id': 'doc-2'}")
    resume = lines[2].removeprefix("resume with --since ")
    replay = start_example("stream_consumer.py", server, "--since", resume, "--limit", "1")
    stdout, _ = finish(replay)
    assert stdout.splitlines()[0].endswith("reports.ready: {'document_id': 'doc-3'}")


def outputs(cell: Any) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            parts.append(output["text"])
        elif "data" in output:
            parts.append(output["data"].get("text/plain", ""))
        elif output["output_type"] == "error":
            parts.append("\n".join(output["traceback"]))
    return "\n".join(parts)


def test_notebook_runs_with_top_level_await(
    server: ServerHandle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key, value in environment(server).items():
        monkeypatch.setenv(key, value)
    # The kernel's own directories, apart from whatever else runs IPython on this machine.
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    notebook = nbformat.read(EXAMPLES / "quickstart.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(EXAMPLES)}}
    ).execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert "asyncio.run" not in "".join(cell.source for cell in code)
    assert outputs(code[0]) == f"KeiAgentClient(base_url='{server.base_url}', agent_id='notebook')"
    plan = outputs(code[1]).splitlines()
    assert plan[0] == "PlanResponse("
    assert plan[1].startswith("    plan_id='plan-")
    assert "    status='created'," in plan
    assert "    context=PlanResponseContext(quarter='Q3')" in plan
    assert "Unset" not in outputs(code[1])
    assert outputs(code[2]).startswith("ActionResultResult(")
    assert "title='Q3'" in outputs(code[2])
    errors = outputs(code[3]).splitlines()
    assert errors[0] == "Invalid input for registerAgent (2 problems):"
    assert outputs(code[4]) == "True"
    assert server.stats.requests("planTask") == 1
    assert server.stats.requests("registerAgent") == 0
