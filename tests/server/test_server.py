"""The server as a whole: request/correlation ids, validation, lifecycle, restart, stats, plugin, CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import anyio
import httpx
import pytest

from kei_agent.testing import ServerHandle, run_server, run_server_async

from .conftest import AUTH

PLAN = "/api/v1/rpc/plan"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("POST", PLAN, {"json": {"objective": "x"}}, 200),
        ("GET", "/api/v1/health", {}, 200),
        ("DELETE", "/api/v1/registry/agents/nobody", {}, 404),
        ("POST", PLAN, {"json": {}}, 422),
        ("POST", PLAN, {"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 400),
        ("POST", PLAN, {"content": b'{"objective": "x"}', "headers": {"Content-Type": "text/plain"}}, 415),
        ("GET", PLAN, {}, 405),
        ("GET", "/api/v1/nowhere", {}, 404),
        ("POST", PLAN, {"json": {"objective": "x"}, "headers": {"Authorization": "Bearer nope"}}, 401),
    ],
)
def test_every_answer_has_request_id_and_echoes_correlation_id(
    http: httpx.Client, method: str, path: str, kwargs: dict, status: int
) -> None:
    headers = {"X-Correlation-ID": "corr-42", **kwargs.pop("headers", {})}
    first = http.request(method, path, headers=headers, **kwargs)
    second = http.request(method, path, headers=headers, **kwargs)
    assert first.status_code == status
    assert first.headers["x-request-id"].startswith("req-")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert first.headers["x-correlation-id"] == "corr-42"
    if status >= 400:
        assert first.headers["content-type"] == "application/problem+json"
        problem = first.json()
        assert problem["status"] == status
        assert problem["request_id"] == first.headers["x-request-id"]
        assert problem["correlation_id"] == "corr-42"
        assert problem["type"].startswith("https://kei.dev/problems/")
    if status == 405:
        assert first.headers["allow"] == "POST"


def test_validation_lists_every_problem(http: httpx.Client) -> None:
    response = http.post(
        PLAN,
        json={"objective": "", "context": []},
        headers={"X-Agent-ID": "bad agent", "X-Kei-Retry-Count": "x", "traceparent": "00-zz"},
    )
    assert response.status_code == 422
    paths = [error["path"] for error in response.json()["errors"]]
    assert paths == ["header:X-Agent-ID", "header:X-Kei-Retry-Count", "$.context", "$.objective"]
    assert response.json()["detail"] == "4 problem(s) in the request."


def test_invalid_header_on_health_is_400(http: httpx.Client) -> None:
    response = http.get("/api/v1/health", headers={"X-Correlation-ID": "not valid!"})
    assert response.status_code == 400  # 422 is not documented for health
    assert response.json()["errors"][0]["path"] == "header:X-Correlation-ID"


@pytest.mark.parametrize("traceparent", ["nope", "00-zz", "00-" + "0" * 32 + "-" + "0" * 16 + "-01", "ff-xyz-1-2", ""])
def test_a_malformed_traceparent_is_ignored_as_w3c_trace_context_requires(http: httpx.Client, traceparent: str) -> None:
    """W3C Trace Context: a receiver that cannot parse ``traceparent`` starts a new trace; it never
    rejects the request for it."""
    health = http.get("/api/v1/health", headers={"traceparent": traceparent})
    plan = http.post(PLAN, json={"objective": "traced"}, headers={"traceparent": traceparent})
    assert (health.status_code, plan.status_code) == (200, 200)


def test_stats_count_attempts_and_record_headers(server: ServerHandle, http: httpx.Client) -> None:
    before = server.stats.requests("observeEnvironment")
    http.post("/api/v1/rpc/observe", json={"observation_type": "a"}, headers={"Idempotency-Key": "ik-1"})
    http.post("/api/v1/rpc/observe", json={}, headers={"X-Agent-ID": "agent-9"})
    assert server.stats.requests("observeEnvironment") == before + 2
    last = server.stats.last_headers("observeEnvironment")
    assert last is not None
    assert last["x-agent-id"] == "agent-9"
    assert last["X-Agent-ID"] == "agent-9"
    assert server.stats.all_headers("observeEnvironment")[-2]["idempotency-key"] == "ik-1"
    assert server.stats.last_headers("neverCalled") is None
    assert server.stats.requests() >= 2


def test_restart_keeps_state_and_port(fresh_server: ServerHandle) -> None:
    with httpx.Client(base_url=fresh_server.base_url, headers=AUTH) as http:
        plan = http.post(PLAN, json={"objective": "survive"}).json()
        http.post("/api/v1/registry/agents", json={"agent_id": "survivor", "name": "S"})
        subscription = http.post("/api/v1/bus/subscriptions", json={"subject": "keep.me"}).json()["subscription_id"]
        http.post("/api/v1/bus/publish", json={"subject": "keep.me", "payload": {"n": 1}})
    url = fresh_server.base_url
    fresh_server.restart()
    assert fresh_server.base_url == url
    with httpx.Client(base_url=fresh_server.base_url, headers=AUTH) as http:
        assert http.get("/api/v1/registry/agents/survivor").status_code == 200
        explanation = http.post("/api/v1/rpc/explain", json={"query": "?", "context": {"plan_id": plan["plan_id"]}})
        assert explanation.json()["references"][0] == {"plan_id": plan["plan_id"]}
        messages = http.post(f"/api/v1/bus/subscriptions/{subscription}/poll", json={}).json()["messages"]
        assert [m["payload"] for m in messages] == [{"n": 1}]
        assert http.post(PLAN, json={"objective": "after"}).json()["plan_id"] != plan["plan_id"]


def test_stop_while_a_long_poll_and_a_stream_are_open() -> None:
    import threading

    with run_server() as server:
        auth = {"Authorization": "Bearer dev-token"}
        sub = httpx.post(f"{server.base_url}/api/v1/bus/subscriptions", json={"subject": "a"}, headers=auth).json()
        outcome: dict[str, object] = {}

        def long_poll() -> None:
            try:
                url = f"{server.base_url}/api/v1/bus/subscriptions/{sub['subscription_id']}/poll"
                outcome["poll"] = httpx.post(url, json={"wait_seconds": 20}, headers=auth, timeout=30).status_code
            except httpx.HTTPError as exc:
                outcome["poll"] = type(exc).__name__

        def stream() -> None:
            try:
                with httpx.stream("GET", f"{server.base_url}/api/v1/stream/events", headers=auth, timeout=30) as r:
                    outcome["stream"] = r.read()[:11]
            except httpx.HTTPError as exc:
                outcome["stream"] = type(exc).__name__

        threads = [threading.Thread(target=long_poll), threading.Thread(target=stream)]
        for thread in threads:
            thread.start()
        time.sleep(0.3)
        started = time.monotonic()
    for thread in threads:
        thread.join(10)
    assert time.monotonic() - started < 5
    assert outcome == {"poll": 200, "stream": b": connected"}


def test_run_server_async() -> None:
    async def main() -> tuple[int, str]:
        async with (
            run_server_async(tokens=["async-token"]) as server,
            httpx.AsyncClient(base_url=server.base_url) as client,
        ):
            response = await client.post(PLAN, json={"objective": "x"}, headers={"Authorization": "Bearer async-token"})
            return response.status_code, repr(server)

    status, text = anyio.run(main)
    assert status == 200
    assert "running" in text


def test_handle_without_context_manager() -> None:
    handle = ServerHandle.__new__(ServerHandle)
    from kei_agent.testing import ServerSettings

    handle.__init__(ServerSettings(), port=0)  # type: ignore[misc]
    handle.start()
    handle.start()  # idempotent
    try:
        assert httpx.get(f"{handle.base_url}/api/v1/ready").json()["ready"] is True
    finally:
        handle.stop()
        handle.stop()
    assert not handle.running
    assert "stopped" in repr(handle)


def test_kei_server_fixture_from_the_plugin(kei_server: ServerHandle) -> None:
    response = httpx.get(f"{kei_server.base_url}/api/v1/mcp/tools", headers={"Authorization": "Bearer dev-token"})
    assert response.status_code == 200
    assert kei_server.stats.requests("listTools") == 1


def test_kei_server_session_fixture(kei_server_session: ServerHandle) -> None:
    assert httpx.get(f"{kei_server_session.base_url}/api/v1/health").status_code == 200


# ------------------------------------------------------------------------ CLI
def test_cli_serve_runs_the_server_in_the_foreground() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "kei_agent.testing.cli", "serve", "--port", "0", "--token", "cli-token=kei:plan"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("KEI reference server on http://127.0.0.1:"), line
        url = line.split()[4]
        deadline = time.monotonic() + 10
        while True:
            try:
                response = httpx.post(
                    f"{url}{PLAN}", json={"objective": "x"}, headers={"Authorization": "Bearer cli-token"}
                )
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert response.status_code == 200
        tools = httpx.get(f"{url}/api/v1/mcp/tools", headers={"Authorization": "Bearer cli-token"})
        assert tools.status_code == 403
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


CLI = [sys.executable, "-m", "kei_agent.testing.cli"]


def test_cli_serve_admin_accepts_only_its_admin_token() -> None:
    """``--admin`` with ``--admin-token``: faults need that token; the API token cannot inject them."""
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", "0", "--token", "cli-token", "--admin", "--admin-token", "cli-admin-secret"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[4]
        assert "admin token: cli-admin-secret" in proc.stdout.readline()
        fault = {"kind": "status", "status_code": 503}
        deadline = time.monotonic() + 10
        while True:
            try:
                by_api_token = httpx.post(
                    f"{url}/_admin/faults", json=fault, headers={"Authorization": "Bearer cli-token"}
                )
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        by_admin = httpx.get(f"{url}/_admin/faults", headers={"Authorization": "Bearer cli-admin-secret"})
        assert (by_api_token.status_code, by_admin.status_code) == (403, 200)
        assert by_admin.json()["faults"] == []
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_cli_serve_bind_error_is_one_line() -> None:
    code = "import sys; from kei_agent.testing.cli import main; sys.exit(main(['serve', '--host', '256.0.0.1']))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("kei-agent serve: cannot serve on 256.0.0.1:8080")
    assert proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--tls-cert", "c.pem"], "--tls-cert and --tls-key go together"),
        (["serve", "--require-client-cert"], "need --tls-cert"),
        (["serve", "--token", "=kei:plan"], "the token is empty"),
    ],
)
def test_cli_usage_errors_are_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    from kei_agent.testing.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_cli_imports_are_light() -> None:
    heavy = "('starlette', 'uvicorn', 'jsonschema', 'jwt')"
    code = f"import sys, kei_agent.testing.cli; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30).stdout
    assert out.strip() == "[]"
