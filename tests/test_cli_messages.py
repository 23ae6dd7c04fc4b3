"""``kei-agent``: every failure one line with the problem and the fix; empty results said; ``act``
shows its result; ``--version``; ``--timeout`` / ``--deadline``; ``--help`` lists the ``KEI_*``
variables; ``-v`` shows retries, fallbacks and waits (real subprocesses, real servers)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from kei_agent._version import __version__
from kei_agent.testing import Fault, ServerHandle, run_server

TOKEN = "cli-messages-token"


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


def assert_one_line_failure(proc: subprocess.CompletedProcess[str], code: int, *parts: str) -> str:
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for part in parts:
        assert part in lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    with run_server(tokens=[TOKEN]) as handle:
        yield handle


@pytest.fixture
def flags(server: ServerHandle) -> list[str]:
    server.faults.clear()
    return ["--url", server.base_url, "--token", TOKEN]


# ------------------------------------------------------------------ validation and results
def test_plan_with_empty_objective_lists_the_problem(flags: list[str], server: ServerHandle) -> None:
    before = server.stats.requests("planTask")
    proc = kei_agent("plan", "", *flags)
    assert_one_line_failure(proc, 2, "invalid input (1 problem)", "OBJECTIVE: must not be empty")
    assert server.stats.requests("planTask") == before  # nothing was sent


def test_act_with_invalid_parameters_lists_every_problem(flags: list[str]) -> None:
    proc = kei_agent("act", "", "--parameters", "{}", *flags)
    assert_one_line_failure(proc, 2, "invalid input", "ACTION")


def test_empty_agent_list_is_said(flags: list[str]) -> None:
    with run_server(tokens=[TOKEN]) as empty:
        proc = kei_agent("agents", "--url", empty.base_url, "--token", TOKEN)
        with_capability = kei_agent("agents", "--capability", "nope", "--url", empty.base_url, "--token", TOKEN)
        as_json = kei_agent("agents", "--json", "--url", empty.base_url, "--token", TOKEN)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "no agents registered"
    assert with_capability.stdout.strip() == "no agents with capability 'nope'"
    assert as_json.stdout.strip() == "[]"


def test_registered_agents_are_listed(flags: list[str], server: ServerHandle) -> None:
    from kei_agent import AgentClientConfig
    from kei_agent_sync import KeiAgentClient

    with KeiAgentClient(AgentClientConfig(base_url=server.base_url, api_token=TOKEN)) as client:
        client.register_agent("cli listed agent", agent_id="cli-listed-agent", capabilities=["plan"])
    proc = kei_agent("agents", "--capability", "plan", *flags)
    assert proc.returncode == 0, proc.stderr
    assert "agent_id=cli-listed-agent" in proc.stdout


def test_tools_of_an_unknown_category_are_said_to_be_none(flags: list[str]) -> None:
    proc = kei_agent("tools", "--category", "nope", *flags)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith("no tools in category 'nope'")
    listed = kei_agent("tools", *flags)
    assert "name=calculator" in listed.stdout


def test_act_shows_its_result(flags: list[str]) -> None:
    proc = kei_agent("act", "echo", "--parameters", '{"message": "hello from the CLI"}', *flags)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("action echo completed (act-")
    assert '  message: "hello from the CLI"' in lines


# ------------------------------------------------------------------ version and help
def test_version() -> None:
    proc = kei_agent("--version")
    assert proc.returncode == 0
    assert proc.stdout.startswith(f"kei-agent {__version__} (kei-agent-py-sdk, Python ")


@pytest.mark.parametrize("argv", [["--help"], ["plan", "--help"], ["health", "--help"]])
def test_help_lists_the_environment_variables(argv: list[str]) -> None:
    proc = kei_agent(*argv)
    assert proc.returncode == 0, proc.stderr
    for variable in ("KEI_API_URL", "KEI_API_TOKEN", "KEI_AGENT_ID", "KEI_TIMEOUT", "KEI_DEADLINE", "KEI_OIDC_ISSUER"):
        assert variable in proc.stdout
    if argv != ["--help"]:
        assert "--timeout" in proc.stdout
        assert "--deadline" in proc.stdout


def test_usage_errors_are_one_line() -> None:
    assert_one_line_failure(kei_agent("nope"), 2, "invalid choice", "kei-agent --help")
    assert_one_line_failure(kei_agent("plan"), 2, "objective", "kei-agent plan --help")


# ------------------------------------------------------------------ serve: port and TLS files
@pytest.mark.parametrize(
    ("port", "message"),
    [("99999", "99999 is out of range; use 1-65535, or 0 for a free one"), ("http", "'http' is not a port number")],
)
def test_serve_port_out_of_range(port: str, message: str) -> None:
    proc = kei_agent("serve", "--port", port)
    assert_one_line_failure(proc, 2, message)
    assert proc.stdout == ""


def test_serve_on_a_busy_port_names_it_and_the_fix() -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        proc = kei_agent("serve", "--port", str(port))
    problem = f"cannot serve on 127.0.0.1:{port}: Address already in use"
    assert_one_line_failure(proc, 1, problem, "choose another --port (0 picks a free one)")
    assert proc.stdout == ""


@pytest.fixture(scope="module")
def pem_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    other = trustme.CA().issue_cert("127.0.0.1")
    folder = tmp_path_factory.mktemp("pem")
    files = {
        "cert": folder / "cert.pem",
        "key": folder / "key.pem",
        "other_key": folder / "other-key.pem",
        "ca": folder / "ca.pem",
        "garbage": folder / "garbage.pem",
    }
    cert.cert_chain_pems[0].write_to_path(str(files["cert"]))
    cert.private_key_pem.write_to_path(str(files["key"]))
    other.private_key_pem.write_to_path(str(files["other_key"]))
    ca.cert_pem.write_to_path(str(files["ca"]))
    files["garbage"].write_text("not a certificate\n")
    return files


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"cert": "/missing/cert.pem", "key": "key"}, "--tls-cert /missing/cert.pem: No such file or directory"),
        ({"cert": "cert", "key": "/missing/key.pem"}, "--tls-key /missing/key.pem: No such file or directory"),
        ({"cert": "cert", "key": "other_key"}, "not a matching PEM certificate and key"),
        ({"cert": "cert", "key": "key", "ca": "garbage"}, "not a PEM CA certificate"),
    ],
)
def test_serve_names_a_bad_tls_file_before_claiming_to_serve(
    pem_files: dict[str, Path], files: dict[str, str], message: str
) -> None:
    def path(name: str) -> str:
        return str(pem_files[name]) if name in pem_files else name

    argv = ["serve", "--port", "0", "--tls-cert", path(files["cert"]), "--tls-key", path(files["key"])]
    if "ca" in files:
        argv += ["--tls-ca", path(files["ca"])]
    proc = kei_agent(*argv)
    assert_one_line_failure(proc, 2, message, " - pass ")
    assert proc.stdout == ""  # nothing claimed to serve


# ------------------------------------------------------------------ connection, timeouts, deadline
@pytest.fixture
def hung_server() -> Iterator[tuple[str, list[socket.socket]]]:
    """Accepts connections and never answers (what a hung server looks like to a client)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        listener.close()


def test_timeout_and_deadline_bound_a_hung_server(hung_server: tuple[str, list[socket.socket]]) -> None:
    url, accepted = hung_server
    proc = kei_agent("health", "--url", url, "--token", TOKEN, "--timeout", "0.3", "--deadline", "1.5", "-v")
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert "health: calling " + url in lines[0]
    assert "at most 0.3 s each, 1.5 s in all" in lines[0]
    assert any("failed (timeout error); retrying in" in line for line in lines)
    assert lines[-1].startswith("kei-agent health: GET /api/v1/health (getHealth) failed after")
    assert "raise --timeout / --deadline" in lines[-1]
    assert len(accepted) >= 2  # the retries really happened
    assert "Traceback" not in proc.stderr


def test_a_hung_server_does_not_keep_the_command_silent(hung_server: tuple[str, list[socket.socket]]) -> None:
    url, _ = hung_server
    proc = kei_agent("health", "--url", url, "--token", TOKEN, "--timeout", "2", "--deadline", "6.5")
    assert proc.returncode == 1
    notice, failure = proc.stderr.strip().splitlines()
    assert notice == (
        f"kei-agent health: still waiting for {url} after 5 s "
        "(up to 6.5 s in all; -v shows each attempt, --timeout / --deadline bound the wait)"
    )
    assert "raise --timeout / --deadline" in failure


def test_refused_connection_names_the_url_and_the_fix() -> None:
    with socket.create_server(("127.0.0.1", 0)) as unused:
        url = f"http://127.0.0.1:{unused.getsockname()[1]}"
    proc = kei_agent("health", "--url", url, "--token", TOKEN, "--deadline", "1")
    assert_one_line_failure(proc, 1, f"is a KEI server running at {url}? check --url or KEI_API_URL")


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--timeout", "0"], {}, "--timeout: '0': use a positive, finite number of seconds"),
        (["--deadline", "soon"], {}, "--deadline: 'soon' is not a number of seconds"),
        ([], {"KEI_TIMEOUT": "-1"}, "KEI_TIMEOUT"),
        ([], {"KEI_MAX_ATTEMPTS": "many"}, "KEI_MAX_ATTEMPTS"),
    ],
)
def test_bad_timeouts_are_one_line(flags: list[str], args: list[str], env: dict[str, str], message: str) -> None:
    proc = kei_agent("health", *args, *flags, env=env)
    assert_one_line_failure(proc, 2, message)


def test_wrong_token_names_the_fix_and_not_the_token(flags: list[str], server: ServerHandle) -> None:
    proc = kei_agent("plan", "x", "--url", server.base_url, "--token", "wrong-secret-token")
    line = assert_one_line_failure(proc, 1, "401", "check the token (--token or KEI_API_TOKEN)")
    assert "wrong-secret-token" not in line


def test_unknown_action_names_the_fix(flags: list[str]) -> None:
    assert_one_line_failure(kei_agent("act", "no_such_action", *flags), 1, "404", "check the name or id you passed")


# ------------------------------------------------------------------ -v: retries, fallbacks, waits
def test_verbose_shows_retries_and_waits(flags: list[str], server: ServerHandle) -> None:
    server.faults.add(Fault.status(503, retry_after=0.2, times=2, route="/api/v1/health"))
    proc = kei_agent("health", "-v", *flags)
    assert proc.returncode == 0, proc.stderr
    assert "status=healthy" in proc.stdout
    assert "attempt 1 failed (status 503); retrying in 0.200s" in proc.stderr
    assert "attempt 2 failed (status 503); retrying in 0.200s" in proc.stderr
    assert TOKEN not in proc.stderr


def test_verbose_shows_a_protocol_fallback(flags: list[str], server: ServerHandle) -> None:
    server.faults.add(Fault.status(503, retry_after=0.1, route="/api/v1/rpc/plan"))
    proc = kei_agent("plan", "Fall back", *flags, "-v")
    assert proc.returncode == 0, proc.stderr
    assert "plan plan-" in proc.stdout
    assert "planTask: protocol rpc unavailable, falling back to bus" in proc.stderr


def test_quiet_without_verbose(flags: list[str], server: ServerHandle) -> None:
    server.faults.add(Fault.status(503, retry_after=0.1, times=1, route="/api/v1/health"))
    proc = kei_agent("health", *flags)
    assert proc.returncode == 0
    assert proc.stderr == ""


def test_without_a_token_health_works_and_other_commands_say_what_is_missing(server: ServerHandle) -> None:
    health = kei_agent("health", "--url", server.base_url)
    assert health.returncode == 0, health.stderr
    assert "status=healthy" in health.stdout
    plan = kei_agent("plan", "x", "--url", server.base_url)
    assert_one_line_failure(plan, 1, "401", "check the token (--token or KEI_API_TOKEN)")
