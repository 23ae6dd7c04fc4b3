"""Logging: silent by default, JSON lines field by field, sinks, redaction, stdlib interop, audit,
context isolation across tasks and threads."""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import io
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from loguru import logger as loguru_logger

from kei_agent import Secret
from kei_agent.logging import (
    LogContext,
    audit,
    clear_context,
    configure_logging,
    create_correlation_id,
    get_context,
    get_logger,
    input_digest,
    log_context,
    reset_logging,
    set_context,
)
from kei_agent.testing import run_server
from tests.support.enterprise import JsonLogs
from tests.support.peers import REPO_ROOT


@pytest.fixture(autouse=True)
def _isolated_context() -> Iterator[None]:
    clear_context()
    yield
    clear_context()
    reset_logging()


def configure(**options: Any) -> JsonLogs:
    stream = io.StringIO()
    configure_logging(stream=stream, **options)
    return JsonLogs(stream)


# --------------------------------------------------------------------------- silent by default


def test_the_sdk_is_silent_by_default_even_when_the_application_adds_sinks() -> None:
    script = """
import sys
from loguru import logger
seen = []
logger.add(lambda message: seen.append(message.record["name"]), level=0)
from kei_agent import AgentClientConfig, RetryConfig
from kei_agent_sync import KeiAgentClient
from kei_agent.validation import get_input_validator
with KeiAgentClient(AgentClientConfig(base_url=sys.argv[1], api_token="t",
                                      retry=RetryConfig(max_attempts=1))) as client:
    client.plan_task(objective="Write a report")
get_input_validator().validate_agent_operation("plan", {"objective": "x\\x00"})
logger.info("the application's own line")
print(sorted(set(seen)))
"""
    with run_server(tokens=["t"]) as server:
        proc = subprocess.run(
            [sys.executable, "-W", "error", "-c", script, server.base_url],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            timeout=60,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['__main__']"


def test_configure_logging_twice_does_not_duplicate_lines() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)
    configure_logging(stream=stream)
    get_logger("app").info("once")
    assert stream.getvalue().count('"once"') == 1


def test_reset_logging_silences_the_sdk_again() -> None:
    logs = configure(level="DEBUG")
    reset_logging()
    get_logger("app").info("after reset")
    assert logs.records() == []


# --------------------------------------------------------------------------------- JSON lines


def raise_and_log(logger_name: str) -> None:
    password_value = "canary-local-value-7f3a"  # a local that diagnose=True would print
    try:
        raise RuntimeError(f"boom near {len(password_value)}")
    except RuntimeError:
        get_logger(logger_name).exception("it failed", attempt=2)


def test_json_lines_carry_every_field() -> None:
    logs = configure(level="INFO", extra_fields={"service": "svc", "version": "1.0.0"})
    correlation_id = create_correlation_id()
    set_context(
        LogContext(
            trace_id="trace-1",
            user_id="user-1",
            agent_id="agent-1",
            operation="plan_task",
            component="api",
            environment="test",
            custom_fields={"tenant": "acme"},
        )
    )
    before = dt.datetime.now(dt.UTC)
    get_logger("my-component").info("hello {world}", plan_id="plan-1", count=3, nested={"a": [1, 2]})
    raise_and_log("my-component")
    first, second = logs.records()

    stamp = dt.datetime.fromisoformat(first["timestamp"].replace("Z", "+00:00"))
    assert first["timestamp"].endswith("Z")
    assert stamp.utcoffset() == dt.timedelta(0)
    assert before - dt.timedelta(seconds=1) <= stamp <= dt.datetime.now(dt.UTC)
    assert first["level"] == "INFO"
    assert first["logger"] == "my-component"
    assert first["message"] == "hello {world}"
    assert first["module"] == __name__
    assert first["function"] == "test_json_lines_carry_every_field"
    assert isinstance(first["line"], int)
    assert first["correlation_id"] == correlation_id
    assert first["trace_id"] == "trace-1"
    assert first["user_id"] == "user-1"
    assert first["agent_id"] == "agent-1"
    assert first["operation"] == "plan_task"
    assert first["component"] == "api"
    assert first["environment"] == "test"
    assert first["tenant"] == "acme"
    assert first["plan_id"] == "plan-1"
    assert first["count"] == 3
    assert first["nested"] == {"a": [1, 2]}
    assert first["service"] == "svc"
    assert first["version"] == "1.0.0"
    assert "exception" not in first

    assert second["level"] == "ERROR"
    assert second["function"] == "raise_and_log"
    assert second["attempt"] == 2
    exception = second["exception"]
    assert exception["type"] == "RuntimeError"
    assert exception["message"] == "boom near 23"
    assert "Traceback (most recent call last)" in exception["traceback"]
    assert 'raise RuntimeError(f"boom near' in exception["traceback"]
    assert "canary-local-value-7f3a" not in json.dumps(second)


def test_fields_never_overwrite_the_record_keys() -> None:
    logs = configure()
    get_logger("app").info("real message", level="fake", timestamp="fake", message="fake")
    (record,) = logs.records()
    assert record["message"] == "real message"
    assert record["level"] == "INFO"
    assert record["extra"] == {"level": "fake", "timestamp": "fake", "message": "fake"}


def test_text_format_when_not_structured() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream, enable_structured=False)
    get_logger("app").warning("careful", disk="95%")
    line = stream.getvalue()
    assert " | WARNING  | app | careful | " in line
    assert 'disk="95%"' in line


def test_levels_filter_records() -> None:
    logs = configure(level="WARNING")
    log = get_logger("app")
    log.info("hidden")
    log.warning("shown")
    assert [r["message"] for r in logs.records()] == ["shown"]


def test_file_sink_rotates_and_keeps_only_the_retained_files(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "agent.log"
    configure_logging(enable_console=False, enable_file=True, file_path=path, rotation="2 KB", retention=2)
    log = get_logger("app")
    for index in range(200):
        log.info("line", index=index, padding="x" * 40)
    reset_logging()
    files = sorted(p.name for p in path.parent.iterdir())
    assert "agent.log" in files
    assert 2 <= len(files) <= 3  # the current file plus at most 2 rotated ones
    last = [json.loads(line) for line in path.read_text().splitlines()][-1]
    assert last["index"] == 199


def test_every_sink_we_create_has_diagnose_off(tmp_path: Path) -> None:
    configure_logging(
        stream=io.StringIO(),
        enable_file=True,
        file_path=tmp_path / "a.log",
        enable_audit_file=True,
        audit_file_path=tmp_path / "audit.log",
        propagate_to_stdlib=True,
    )
    handlers = loguru_logger._core.handlers  # type: ignore[attr-defined]
    ours = [handler for handler in handlers.values() if handler._name != "<stderr>"]
    assert len(ours) == 4
    assert all(handler._exception_formatter._diagnose is False for handler in ours)


# --------------------------------------------------------------------------------- redaction


def test_secrets_are_redacted_in_every_sink_and_record(tmp_path: Path) -> None:
    canary = "canary-token-9c2e4b71"
    logs = configure(enable_file=True, file_path=tmp_path / "a.log", redact_keys=["x_session"])
    log = get_logger("app")
    log.info("calling", token=Secret(canary), headers={"Authorization": f"Bearer {canary}"}, x_session=canary)
    log.info(f"Authorization: Bearer {canary}")
    log.info("url", client_secret=canary, nested=[{"api_token": canary}], note=f"sent Bearer {canary}")
    loguru_logger.info("app's own loguru line with Bearer {}", canary)
    logging.getLogger("unrelated").warning("not intercepted")
    text = logs.stream.getvalue() + (tmp_path / "a.log").read_text()
    assert canary not in text
    assert text.count("[REDACTED]") >= 7
    first = logs.records()[0]
    assert first["token"] == "[REDACTED]"
    assert first["headers"] == {"Authorization": "[REDACTED]"}
    assert first["x_session"] == "[REDACTED]"


def test_redaction_applies_to_sinks_the_application_adds_itself() -> None:
    canary = "canary-app-sink-5511"
    seen: list[str] = []
    configure_logging(enable_console=False)
    handler = loguru_logger.add(lambda message: seen.append(str(message) + repr(message.record["extra"])))
    try:
        get_logger("app").info("x", password=canary, email="ann@example.com")
        loguru_logger.info(f"plain Bearer {canary}")
    finally:
        loguru_logger.remove(handler)
    assert seen
    assert all(canary not in line and "ann@example.com" not in line for line in seen)


def test_personal_data_is_redacted_in_records_by_default_and_can_be_turned_off() -> None:
    logs = configure()
    log = get_logger("crm")
    log.info("mail ann@example.com about card 4111 1111 1111 1111", customer={"phone": "+49 30 1234567"})
    record = logs.records()[0]
    assert record["message"] == "mail [REDACTED:email] about card [REDACTED:card]"
    assert record["customer"] == {"phone": "[REDACTED]"}
    logs = configure(redact_pii=False)
    log.info("mail ann@example.com", note="Bearer abcdefgh123")
    record = logs.records()[0]
    assert record["message"] == "mail ann@example.com"
    assert record["note"] == "Bearer [REDACTED]"  # secrets always


# ----------------------------------------------------------------------------- stdlib interop


def test_stdlib_records_are_routed_into_the_same_sinks_with_context() -> None:
    logs = configure(intercept_stdlib=["myapp"])
    correlation_id = create_correlation_id()
    logging.getLogger("myapp.db").warning("slow query %s ms with Bearer abcdefgh12345", 812)
    (record,) = logs.records()
    assert record["logger"] == "myapp.db"
    assert record["level"] == "WARNING"
    assert record["message"] == "slow query 812 ms with Bearer [REDACTED]"
    assert record["correlation_id"] == correlation_id
    assert record["function"] == "test_stdlib_records_are_routed_into_the_same_sinks_with_context"


def test_our_records_can_be_propagated_to_stdlib_without_loops(caplog: pytest.LogCaptureFixture) -> None:
    logs = configure(propagate_to_stdlib=True, intercept_stdlib=True)
    with caplog.at_level(logging.INFO):
        get_logger("kei_agent.demo").info("to both", password="hunter2")
    assert len(logs.records()) == 1  # not echoed back by the root intercept handler
    (record,) = [r for r in caplog.records if r.getMessage() == "to both"]
    assert record.name == "kei_agent.demo"
    assert record.kei_fields["password"] == "[REDACTED]"  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------ audit


def test_audit_records_are_kept_apart_in_their_own_file(tmp_path: Path) -> None:
    path = tmp_path / "audit" / "audit.jsonl"
    logs = configure(level="WARNING", enable_audit_file=True, audit_file_path=path)
    correlation_id = create_correlation_id()
    set_context(LogContext(agent_id="agent-9", user_id="user-9"))
    audit("plan_task", outcome="success", actor="agent-9", status=200, input_sha256=input_digest({"b": 1, "a": 2}))
    get_logger("app").warning("ordinary")
    get_logger("app").log_audit_event("agent_task_execution", resource="agent-456", result="denied")
    reset_logging()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["action"] for r in records] == ["plan_task", "agent_task_execution"]
    first = records[0]
    assert first["audit"] is True
    assert first["outcome"] == "success"
    assert first["status"] == 200
    assert first["correlation_id"] == correlation_id
    assert first["agent_id"] == "agent-9"
    assert first["logger"] == "kei_agent.audit"
    assert first["input_sha256"] == input_digest({"a": 2, "b": 1})
    assert records[1]["outcome"] == "denied"
    assert records[1]["resource"] == "agent-456"
    assert [r["message"] for r in logs.records()] == ["ordinary"]


def test_input_digest_is_canonical() -> None:
    assert input_digest({"a": 1, "b": [1, "ü"]}) == input_digest({"b": [1, "ü"], "a": 1})
    assert input_digest({"a": 1}) != input_digest({"a": 2})
    assert input_digest({}).startswith("sha256:")


# ------------------------------------------------------------------ EnterpriseLogger helpers


def test_operation_start_end_and_performance_records() -> None:
    logs = configure(level="DEBUG")
    log = get_logger("jobs")
    start = time.time() - 0.25
    operation_id = log.log_operation_start("import", source="s3")
    duration = log.log_operation_end("import", operation_id, start, success=True, rows=10)
    failed_id = log.log_operation_start("export")
    log.log_operation_end("export", failed_id, success=False)
    log.log_performance("query", 12.5, rows=3)
    started, ended, _, failed, performance = logs.records()
    assert started["event"] == "operation_start"
    assert started["operation_id"] == operation_id
    assert started["source"] == "s3"
    assert ended["event"] == "operation_end"
    assert ended["success"] is True
    assert ended["rows"] == 10
    assert 250 <= ended["duration_ms"] < 5000
    assert duration == pytest.approx(ended["duration_ms"], abs=0.01)
    assert failed["level"] == "ERROR"
    assert failed["success"] is False
    assert performance["event"] == "performance"
    assert performance["duration_ms"] == 12.5
    assert performance["rows"] == 3
    assert performance["function"] == "test_operation_start_end_and_performance_records"


@pytest.mark.parametrize(
    ("severity", "level"), [("low", "INFO"), ("medium", "WARNING"), ("high", "ERROR"), ("critical", "CRITICAL")]
)
def test_security_events(severity: str, level: str) -> None:
    logs = configure(level="DEBUG")
    get_logger("security").log_security_event("authentication_failure", severity, "bad login", ip_address="10.0.0.1")
    (record,) = logs.records()
    assert record["level"] == level
    assert record["security_event"] == "authentication_failure"
    assert record["severity"] == severity
    assert record["ip_address"] == "10.0.0.1"


# ------------------------------------------------------------------------------------ context


def test_context_helpers() -> None:
    assert get_context() == LogContext()
    cid = create_correlation_id()
    set_context(LogContext(user_id="u"))
    assert get_context().correlation_id == cid
    assert get_context().user_id == "u"
    with log_context(operation="op", tenant="t") as inner:
        assert inner.operation == "op"
        assert inner.custom_fields == {"tenant": "t"}
        assert get_context().correlation_id == cid
        with log_context(LogContext(correlation_id="other")):
            assert get_context().correlation_id == "other"
        assert get_context().correlation_id == cid
    assert get_context().operation is None
    clear_context()
    assert get_context() == LogContext()


def test_context_is_isolated_between_concurrent_tasks() -> None:
    logs = configure()

    async def worker(index: int) -> str:
        log = get_logger("worker")
        cid = log.create_correlation_id()
        log.set_context(LogContext(user_id=f"user-{index}"))
        for step in range(3):
            await asyncio.sleep(0.001 * ((index + step) % 3))
            log.info("step", step=step, index=index)
        return cid

    async def main() -> list[str]:
        return await asyncio.gather(*(worker(index) for index in range(20)))

    ids = asyncio.run(main())
    assert len(set(ids)) == 20
    records = logs.records()
    assert len(records) == 60
    for record in records:
        assert record["user_id"] == f"user-{record['index']}"
        assert record["correlation_id"] == ids[record["index"]]
    assert get_context() == LogContext()  # the tasks' contexts never leaked into the caller


def test_context_follows_threads_started_with_context() -> None:
    logs = configure()
    set_context(LogContext(correlation_id="parent", user_id="u-1"))
    results: list[LogContext] = []

    def work() -> None:
        get_logger("thread").info("in thread")
        results.append(get_context())

    thread = threading.Thread(target=contextvars.copy_context().run, args=(work,))
    thread.start()
    thread.join()
    plain = threading.Thread(target=lambda: results.append(get_context()))
    plain.start()
    plain.join()
    assert results[0].correlation_id == "parent"
    assert results[0].user_id == "u-1"
    assert results[1] == LogContext()
    assert logs.records()[0]["correlation_id"] == "parent"


def test_reset_logging_restores_the_stdlib_loggers() -> None:
    root, app = logging.getLogger(), logging.getLogger("myapp")
    before = (root.level, list(root.handlers), app.level, app.propagate, list(app.handlers))
    configure(intercept_stdlib=True)
    configure(intercept_stdlib=["myapp"], level="DEBUG")
    assert app.propagate is False
    reset_logging()
    assert (root.level, list(root.handlers), app.level, app.propagate, list(app.handlers)) == before


def test_input_digest_matches_the_client_audit_hash() -> None:
    from kei_agent.auth import input_sha256
    from kei_agent.logging import input_digest

    data = {"objective": "Summarize Bob's notes", "context": {"b": [1, 2], "a": None}}
    assert input_digest(data) == "sha256:" + input_sha256(data)
    assert input_digest({"x": 1}) != input_digest({"x": 2})
