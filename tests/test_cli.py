"""``kei-agent``: the demo, the client commands, and one-line errors (real subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from kei_agent.testing import ServerHandle, run_server

TOKEN = "cli-token"


def kei_agent(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KEI_")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "kei_agent.cli", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    with run_server(tokens=[TOKEN]) as handle:
        yield handle


def test_demo_runs_every_step_with_both_clients() -> None:
    proc = kei_agent("demo")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for flavour in ("async", "sync "):
        for step in (
            "plan_task",
            "execute_action",
            "observe_environment",
            "explain_reasoning",
            "publish",
            "subscribe → poll → ack",
            "discover_available_tools",
            "use_tool",
            "stream_events",
            "health_check",
        ):
            assert f"[{flavour}] {step}" in proc.stdout
    assert "3 messages consumed and acknowledged" in proc.stdout
    assert "6 * 7 = 42" in proc.stdout
    assert "All steps succeeded" in proc.stdout
    assert proc.stderr == ""


def test_plan_json_from_environment(server: ServerHandle) -> None:
    env = {"KEI_API_URL": server.base_url, "KEI_API_TOKEN": TOKEN, "KEI_AGENT_ID": "cli-agent"}
    proc = kei_agent("plan", "Write a report", "--context", '{"quarter": "Q3"}', "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["objective"] == "Write a report"
    assert plan["steps"]
    headers = server.stats.last_headers("planTask")
    assert headers is not None
    assert headers["x-agent-id"] == "cli-agent"


def test_client_commands_with_flags(server: ServerHandle) -> None:
    flags = ["--url", server.base_url, "--token", TOKEN]
    health = kei_agent("health", *flags)
    act = kei_agent("act", "echo", "--parameters", '{"message": "hi"}', "--json", *flags)
    tools = kei_agent("tools", "--json", *flags)
    agents = kei_agent("agents", *flags)
    assert health.returncode == 0, health.stderr
    assert "status=healthy" in health.stdout
    assert json.loads(act.stdout)["result"]["message"] == "hi"
    assert "calculator" in {tool["name"] for tool in json.loads(tools.stdout)}
    assert agents.returncode == 0, agents.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["health"], 2, "no server - pass --url or set KEI_API_URL"),
        (["plan", "x", "--url", "{url}", "--token", "wrong-token"], 1, "401"),
        (["plan", "x", "--url", "{url}", "--token", TOKEN, "--context", "[1]"], 2, "--context must be a JSON object"),
        (["act", "no_such_action", "--url", "{url}", "--token", TOKEN], 1, "404"),
        (["health", "--url", "http://127.0.0.1:9", "--token", TOKEN], 1, "failed"),
        (["health", "--url", "ftp://example"], 2, "base_url"),
    ],
)
def test_expected_errors_print_one_line(server: ServerHandle, args: list[str], code: int, message: str) -> None:
    proc = kei_agent(*[arg.replace("{url}", server.base_url) for arg in args])
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr
    assert "wrong-token" not in proc.stderr


def test_plugin_fixtures_give_working_clients(kei_client: object, kei_server: ServerHandle) -> None:
    health = kei_client.health_check()  # type: ignore[attr-defined]
    assert health["status"] == "healthy"
    assert kei_server.stats.requests("getHealth") == 1


@pytest.mark.anyio
async def test_plugin_async_client_fixture(kei_async_client: object, kei_server: ServerHandle) -> None:
    plan = await kei_async_client.plan_task(objective="from the fixture")  # type: ignore[attr-defined]
    assert plan["objective"] == "from the fixture"
    assert kei_server.stats.requests("planTask") == 1
