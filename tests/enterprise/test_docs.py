"""Every Python snippet of docs/enterprise.md runs, as written apart from URLs, tokens and paths,
against the reference server and a real PostgreSQL - each in its own interpreter, because the
snippets configure process-wide things (loguru sinks, OpenTelemetry providers)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kei_agent.testing import ServerHandle, run_server
from tests.support.peers import REPO_ROOT, free_port

DOC = REPO_ROOT / "docs" / "enterprise.md"
TOKEN = "production-token"
DOC_URL = "https://api.kei-framework.com"
DOC_DATABASE = "postgresql://kei:secret@db.internal:5432/kei"
DOC_LOG_DIR = "/var/log/kei-agent/"


@dataclass
class Snippet:
    heading: str
    index: int
    line: int
    code: str

    @property
    def key(self) -> str:
        return f"{self.heading} #{self.index}"


def snippets() -> list[Snippet]:
    found: list[Snippet] = []
    heading = ""
    counts: dict[str, int] = {}
    lines = DOC.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.strip() == "```python":
            start = index + 1
            end = lines.index("```", start)
            counts[heading] = counts.get(heading, 0) + 1
            found.append(Snippet(heading, counts[heading], start + 1, "\n".join(lines[start:end]) + "\n"))
            index = end
        index += 1
    return found


@dataclass
class Run:
    stdout: str
    stderr: str
    logs: Path
    server: ServerHandle

    def json_lines(self, text: str | None = None) -> list[dict[str, object]]:
        source = self.stderr if text is None else text
        return [json.loads(line) for line in source.splitlines() if line.startswith("{")]


def _quick_setup(run: Run) -> None:
    match = re.search(r"plan (plan-\S+) with (\d+) steps, correlation id (\w+)", run.stdout)
    assert match, run.stdout
    records = run.json_lines((run.logs / "agent.log").read_text())
    created = [r for r in records if r["message"] == "plan created"]
    assert created[0]["service"] == "report-agent"
    assert created[0]["correlation_id"] == match.group(3)
    assert created[0]["agent_id"] == "enterprise-agent-001"
    headers = run.server.stats.last_headers("planTask")
    assert headers is not None
    assert headers["x-correlation-id"] == match.group(3)


def _health(run: Run) -> None:
    assert re.search(r"overall: (healthy|degraded) \(\d/4 healthy\)", run.stdout), run.stdout
    for name in ("kei_api", "database", "kei_server"):
        assert f"  {name}: healthy" in run.stdout


def _health_sync(run: Run) -> None:
    assert run.stdout.startswith("healthy postgresql "), run.stdout


def _custom_check(run: Run) -> None:
    assert run.stdout.strip() == "job_queue healthy 12 jobs waiting"


def _probes(run: Run) -> None:
    assert "liveness: 200 healthy" in run.stdout
    assert "readiness: 200 healthy ['database', 'memory']" in run.stdout


def _validator(run: Run) -> None:
    lines = run.stdout.splitlines()
    assert lines[0] == "True []"
    assert lines[1] == "False"
    errors = "\n".join(lines[2:6])
    assert "$.agent_id: must match the pattern" in errors
    assert "$.name: must not be empty" in errors
    assert "$.capabilities[1]: must be a string, got integer" in errors
    assert "$.status: is not an allowed property" in errors
    assert lines[6] == (
        "['$.data.output: control characters removed'] "
        "{'observation_type': 'terminal', 'data': {'output': 'build done'}}"
    )


def _client_validation(run: Run) -> None:
    assert "$.agent_id: must match the pattern" in run.stdout
    assert "$.name: must not be empty" in run.stdout
    assert "$.capabilities[1]: must not be empty" in run.stdout
    assert "rejected: planTask: request input rejected" in run.stdout
    assert "accepted: Summarize Bob's notes and count #tags" in run.stdout
    assert run.server.stats.requests("registerAgent") == 0
    assert run.server.stats.requests("planTask") == 1


def _log_context(run: Run) -> None:
    records = run.json_lines()
    ready = {r["user_id"]: r for r in records if r["message"] == "plan ready"}
    assert set(ready) == {"user-1", "user-2"}
    ids = {user: record["correlation_id"] for user, record in ready.items()}
    assert ids["user-1"] != ids["user-2"]
    sent = {h["x-correlation-id"] for h in run.server.stats.all_headers("planTask")}
    assert sent == set(ids.values())
    httpx_lines = [r for r in records if r["logger"] == "httpx"]
    assert {r["correlation_id"] for r in httpx_lines} == set(ids.values())
    assert all(r["component"] == "api" for r in [*ready.values(), *httpx_lines])


def _performance(run: Run) -> None:
    assert re.search(r"nightly report: \d+ steps in \d+ ms", run.stdout), run.stdout
    records = run.json_lines()
    sdk = [r for r in records if r.get("event") == "performance" and r.get("operation") == "planTask"]
    assert sdk
    assert sdk[0]["level"] == "DEBUG"
    assert sdk[0]["outcome"] == "success"
    assert float(sdk[0]["duration_ms"]) > 0
    steps = [r for r in records if r.get("event") == "performance" and r.get("operation") == "plan_step"]
    assert steps
    end = [r for r in records if r.get("event") == "operation_end"]
    assert end[0]["success"] is True


def _otel(run: Run) -> None:
    assert "kei_agent.planTask" in run.stdout
    assert "POST /api/v1/rpc/plan 200" in run.stdout
    assert "nightly-job" in run.stdout
    assert "kei_agent.client.operation.duration" in run.stdout
    assert "kei_agent.client.attempts" in run.stdout
    headers = run.server.stats.last_headers("planTask")
    assert headers is not None
    version, trace_id, span_id, flags = headers["traceparent"].split("-")
    assert (version, len(trace_id), len(span_id)) == ("00", 32, 16)
    assert int(flags, 16) & 1  # sampled


def _audit(run: Run) -> None:
    match = re.search(r"^generate_report completed (\w+)$", run.stdout, re.M)
    assert match, run.stdout
    records = run.json_lines((run.logs / "audit.jsonl").read_text())
    assert all(record["audit"] is True for record in records)
    mine = [r for r in records if r["action"] == "generate_report"]
    assert mine[0]["input_sha256"].startswith("sha256:")
    assert mine[0]["actor"] == "enterprise-agent-001"
    assert {r["correlation_id"] for r in records} == {match.group(1)}
    assert '"audit": true' not in run.stderr


def _gdpr(run: Run) -> None:
    printed = run.stdout
    assert "'email': '[REDACTED]'" in printed
    assert "call [REDACTED:phone] or mail [REDACTED:email]" in printed
    assert "'iban': '[REDACTED]'" in printed
    assert "'card': '[REDACTED:card]'" in printed
    assert "'amount': 120.5" in printed
    assert "Order 4711 for Bob's team, ticket #42" in printed
    line = run.stderr
    assert "customer updated" in line
    for secret in ("ann@example.com", "4111", "DE89", "1234567"):
        assert secret not in line
        assert secret not in printed


EXPECTATIONS: dict[str, Callable[[Run], None]] = {
    "Enterprise quick setup #1": _quick_setup,
    "Health monitoring #1": _health,
    "Health monitoring #2": _health_sync,
    "Health monitoring #3": _custom_check,
    "Kubernetes probes #1": _probes,
    "Input validation #1": _validator,
    "Input validation #2": _client_validation,
    "Structured logging with `LogContext` #1": _log_context,
    "Performance monitoring #1": _performance,
    "Tracing and metrics (OpenTelemetry) #1": _otel,
    "Audit-logged operation #1": _audit,
    "GDPR-safe logging #1": _gdpr,
}


def test_every_snippet_has_expectations() -> None:
    keys = [snippet.key for snippet in snippets()]
    assert sorted(keys) == sorted(EXPECTATIONS)


@pytest.fixture(scope="module")
def doc_server() -> Iterator[ServerHandle]:
    with run_server(tokens=[TOKEN]) as server:
        yield server


@pytest.mark.parametrize("snippet", snippets(), ids=lambda snippet: snippet.key)
def test_snippet_runs(snippet: Snippet, doc_server: ServerHandle, postgres_url: str, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    port = free_port()
    code = (
        snippet.code.replace(DOC_URL, doc_server.base_url)
        .replace(DOC_DATABASE, postgres_url)
        .replace(DOC_LOG_DIR, f"{logs}/")
        .replace('host="0.0.0.0"', 'host="127.0.0.1"')
        .replace("port=8080", f"port={port}")
        .replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    )
    assert DOC_URL not in code
    logs.mkdir()
    script = tmp_path / "snippet.py"
    script.write_text(code, encoding="utf-8")
    doc_server.stats.reset()
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    where = f"docs/enterprise.md:{snippet.line} ({snippet.key})"
    assert proc.returncode == 0, f"{where} failed:\n{proc.stdout}\n{proc.stderr}"
    EXPECTATIONS[snippet.key](Run(proc.stdout, proc.stderr, logs, doc_server))


def test_ci_installs_postgresql() -> None:
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    install = ci.index("apt-get install -y postgresql")
    tests = ci.index("python -m pytest")
    assert install < tests
