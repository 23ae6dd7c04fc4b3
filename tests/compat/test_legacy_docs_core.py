"""The non-client snippets of kei-agent-py-sdk 0.1.0b6's documentation: configuration, security
settings, logging, health checks and input validation (re-written in our own words; only hosts,
tokens and paths differ). Each test's docstring names the page and block of the earlier docs.

Two earlier snippets cannot run and are asserted as refused with a clear error: an OIDC
``SecurityConfig`` without a client secret (client credentials need one) - see the tests below.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import kei_agent
from kei_agent import (
    AgentClientConfig,
    APIHealthCheck,
    AuthType,
    BaseHealthCheck,
    ConfigurationError,
    ConnectionConfig,
    HealthStatus,
    LogContext,
    MemoryHealthCheck,
    ProtocolConfig,
    SecurityConfig,
    UnifiedKeiAgentClient,
    configure_logging,
    get_health_manager,
    get_input_validator,
    get_logger,
)
from kei_agent.logging import reset_logging
from kei_agent.testing import ServerHandle, run_server

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    with run_server(tokens=["doc-token"]) as handle:
        yield handle


@pytest.fixture(autouse=True)
def _restore_health_manager() -> Iterator[None]:
    """The earlier docs register checks on the process-wide manager: remove them afterwards."""
    before = {check.name for check in get_health_manager().checks}
    yield
    for check in get_health_manager().checks:
        if check.name not in before:
            get_health_manager().unregister_check(check.name)


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(level="DEBUG", stream=stream)
    yield stream
    reset_logging()


@pytest.fixture
def pem_files(tmp_path: Path) -> tuple[str, str, str]:
    paths = []
    for name in ("client.crt", "client.key", "ca.crt"):
        path = tmp_path / name
        path.write_text("-----BEGIN PLACEHOLDER-----\n")
        path.chmod(0o600)
        paths.append(str(path))
    return paths[0], paths[1], paths[2]


# ----------------------------------------------------------------------------- configuration


def test_configuration_protocol_config() -> None:
    """getting-started/configuration.md #2, user-guide/protocols.md #5."""
    config = ProtocolConfig(
        rpc_enabled=True, stream_enabled=True, bus_enabled=True, mcp_enabled=True, auto_protocol_selection=True
    )
    assert config.auto_protocol_selection


def test_configuration_bearer_security_config() -> None:
    """getting-started/configuration.md #3, user-guide/concepts.md #5, enterprise/security.md #1 (bearer)."""
    config = SecurityConfig(auth_type=AuthType.BEARER, api_token="your-token", rbac_enabled=True, audit_enabled=True)
    assert config.auth_type is AuthType.BEARER
    assert "your-token" not in repr(config)


def test_configuration_environments_dev_and_prod() -> None:
    """getting-started/configuration.md #4 (timeout=, max_retries=5)."""
    dev = AgentClientConfig(base_url="http://localhost:8000", api_token="t", agent_id="dev-agent", timeout=10)
    prod = AgentClientConfig(
        base_url="https://api.kei-framework.com", api_token="t", agent_id="prod-agent", timeout=30, max_retries=5
    )
    assert (dev.connection.timeout, prod.connection.timeout, prod.retry.max_attempts) == (10, 30, 6)


def test_authentication_bearer_on_the_agent_config(server: ServerHandle) -> None:
    """user-guide/authentication.md #1 (base_url added: the earlier snippet had none)."""
    config = AgentClientConfig(base_url=server.base_url, api_token="doc-token", auth_type=AuthType.BEARER)
    assert config.api_token is not None


def test_authentication_oidc_without_client_secret_is_refused_by_name() -> None:
    """user-guide/authentication.md #2, enterprise/index.md #3: refused - client credentials need a secret."""
    with pytest.raises(ConfigurationError) as caught:
        SecurityConfig(auth_type=AuthType.OIDC, oidc_issuer="https://auth.company.com", oidc_client_id="kei-agent")
    assert [problem.path for problem in caught.value.problems] == ["oidc_client_secret"]


def test_security_oidc_and_mtls_configs(pem_files: tuple[str, str, str]) -> None:
    """enterprise/security.md #1 (OIDC, mTLS), user-guide/authentication.md #3, troubleshooting/index.md #10."""
    cert, key, ca = pem_files
    oidc = SecurityConfig(
        auth_type=AuthType.OIDC,
        oidc_issuer="https://auth.example.com",
        oidc_client_id="valid-client-id",
        oidc_client_secret="valid-client-secret",
        oidc_scope="openid profile kei-agent",
    )
    mtls = SecurityConfig(auth_type=AuthType.MTLS, mtls_cert_path=cert, mtls_key_path=key, mtls_ca_path=ca)
    assert "valid-client-secret" not in repr(oidc)
    assert mtls.mtls_ca_path == ca


def test_troubleshooting_config_from_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """troubleshooting/index.md #5: AgentClientConfig from os.getenv(...)."""
    monkeypatch.setenv("KEI_API_URL", "https://api.kei-framework.com")
    monkeypatch.setenv("KEI_API_TOKEN", "your-api-token")
    monkeypatch.setenv("KEI_AGENT_ID", "unique-agent-id")
    config = AgentClientConfig(
        base_url=os.environ["KEI_API_URL"], api_token=os.getenv("KEI_API_TOKEN"), agent_id=os.environ["KEI_AGENT_ID"]
    )
    assert config.agent_id == "unique-agent-id"


def test_troubleshooting_longer_timeout() -> None:
    """troubleshooting/index.md #18: connection=ConnectionConfig(timeout=60.0)."""
    config = AgentClientConfig(
        base_url="https://api.kei-framework.com",
        api_token="your-token",
        agent_id="agent",
        connection=ConnectionConfig(timeout=60.0),
    )
    assert config.connection.timeout == 60.0


def test_api_index_imports_and_installation_version() -> None:
    """api/index.md #1 (the names it imports), getting-started/installation.md #1 (``__version__``)."""
    for name in (
        "UnifiedKeiAgentClient",
        "AgentClientConfig",
        "ProtocolConfig",
        "SecurityConfig",
        "ProtocolType",
        "AuthType",
        "get_logger",
        "get_health_manager",
        "get_input_validator",
    ):
        assert getattr(kei_agent, name) is not None
    assert kei_agent.__version__


def test_troubleshooting_diagnostics_script() -> None:
    """troubleshooting/index.md #28: config, client, get_client_info, health manager, logger (no calls)."""
    config = AgentClientConfig(base_url="https://httpbin.org", api_token="test-token", agent_id="diagnostic-agent")

    async def diagnose() -> str:
        client = UnifiedKeiAgentClient(config=config)
        info = client.get_client_info()
        get_health_manager()
        get_logger("diagnostic").info("Diagnostic test message")
        await client.close()
        return str(info["agent_id"])

    assert asyncio.run(diagnose()) == "diagnostic-agent"


# ---------------------------------------------------------------------------------- logging


def test_logging_logger_with_context(logs: io.StringIO) -> None:
    """enterprise/logging.md #1."""
    logger = get_logger("my-component")
    correlation_id = logger.create_correlation_id()
    logger.set_context(LogContext(user_id="user-123", agent_id="my-agent", operation="plan_task"))
    logger.info("Operation gestartet")
    logger.error("Fehler aufgetreten", error="Connection failed")
    assert correlation_id in logs.getvalue()
    assert '"Fehler aufgetreten"' in logs.getvalue()


def test_logging_operation_timing_security_and_audit_events(logs: io.StringIO) -> None:
    """enterprise/logging.md #2 and #3."""
    logger = get_logger("my-component")
    operation_id = logger.log_operation_start("plan_creation")
    logger.log_operation_end("plan_creation", operation_id, time.time(), success=True)
    logger.log_security_event(
        event_type="authentication_failure",
        severity="high",
        description="Invalid login attempt",
        user_id="user-123",
        ip_address="192.168.1.100",
    )
    logger.log_audit_event(action="agent_task_execution", resource="agent-456", user_id="user-123", result="success")
    text = logs.getvalue()
    assert "plan_creation" in text
    assert "authentication_failure" in text
    assert "agent_task_execution" in text


def test_logging_configure_to_a_file(tmp_path: Path) -> None:
    """enterprise/logging.md #4 (file path changed)."""
    path = tmp_path / "kei-agent.log"
    logger = configure_logging(
        level="INFO",
        enable_structured=True,
        enable_file=True,
        file_path=str(path),
        extra_fields={"service": "kei-agent", "environment": "production", "version": "1.0.0"},
        enable_console=False,
    )
    logger.info("written")
    reset_logging()
    assert '"service": "kei-agent"' in path.read_text()


def test_troubleshooting_debug_logging_with_a_stdlib_level() -> None:
    """troubleshooting/index.md #24: configure_logging(level=logging.DEBUG, ...) - was an AttributeError."""
    stream = io.StringIO()
    configure_logging(level=logging.DEBUG, enable_structured=True, enable_console=True, stream=stream)
    logging.getLogger("kei_agent").setLevel(logging.DEBUG)
    get_logger("debug").debug("visible at debug")
    reset_logging()
    assert '"visible at debug"' in stream.getvalue()


def test_security_and_debugging_loggers_with_fields(logs: io.StringIO) -> None:
    """enterprise/security.md #2, troubleshooting/debugging.md #1 and #4."""
    get_logger("security").warning("authentication_failure", user_id="user123", reason="invalid_password")
    get_logger("audit").info("agent_task_execution", user_id="user123", resource_id="agent_456")
    get_logger("debug").info("Agent-Task gestartet", agent_id="agent-123", task_id="task-456")
    text = logs.getvalue()
    assert '"reason": "invalid_password"' in text
    assert '"task_id": "task-456"' in text


# ------------------------------------------------------------------------ health, validation


def test_health_checks_api_and_memory(server: ServerHandle) -> None:
    """enterprise/health-checks.md #1, enterprise/index.md #2, user-guide/client-usage.md #3,
    concepts.md #7, troubleshooting/index.md #26 (summary and check fields)."""

    async def run() -> list[str]:
        health = get_health_manager()
        health.register_check(APIHealthCheck(name="kei_api", url=server.base_url + "/api/v1/health"))
        health.register_check(MemoryHealthCheck(name="system_memory", warning_threshold=0.8, critical_threshold=0.95))
        summary = await health.run_all_checks()
        lines = [f"{summary.overall_status.value} {summary.total_checks}"]
        lines += [
            f"{c.name}: {c.status} {c.message} {c.duration_ms >= 0} {c.error} {c.details}" for c in summary.checks
        ]
        return lines

    lines = asyncio.run(run())
    assert any(line.startswith("kei_api: healthy") for line in lines)


def test_health_custom_check_subclass() -> None:
    """enterprise/health-checks.md #2: a BaseHealthCheck subclass returning a HealthStatus."""

    class DatabaseCheck(BaseHealthCheck):
        def __init__(self, connection_string: str) -> None:
            super().__init__("database")
            self.connection_string = connection_string

        async def check(self) -> HealthStatus:  # type: ignore[override]
            return HealthStatus.HEALTHY

    async def run() -> str:
        health = get_health_manager()
        health.register_check(DatabaseCheck("postgresql://..."))
        summary = await health.run_all_checks()
        return str({check.name: check.status for check in summary.checks}["database"])

    assert asyncio.run(run()) == str(HealthStatus.HEALTHY)


def test_quickstart_enterprise_features_and_validation() -> None:
    """getting-started/quickstart.md #4, enterprise/security.md #3, api/index.md #4 (factories)."""
    get_logger("my_agent").info("Operation gestartet")
    validator = get_input_validator()
    good = validator.validate_agent_operation("plan", {"objective": "Test"})
    bad = validator.validate_agent_operation("plan", {"objective": ""})
    assert good.valid
    assert good.sanitized_value == {"objective": "Test"}
    assert not bad.valid
    assert bad.errors
