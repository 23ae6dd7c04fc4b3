"""The spellings of kei-agent-py-sdk 0.1.0b6 map onto this SDK's settings, warn once with the new
spelling, and refuse (naming the keyword and the fix) what cannot be mapped faithfully."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import kei_agent
from kei_agent import (
    AgentClientConfig,
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    AuthType,
    ConfigurationError,
    ConnectionConfig,
    NotFoundError,
    PermissionDeniedError,
    Protocol,
    RetryConfig,
    SecurityError,
)
from kei_agent._compat_config import _reset_warnings
from kei_agent._generated import models
from kei_agent._generated import types as generated_types

URL = "https://kei.example.com"
CANARY = "canary-compat-9c1f-token"


@pytest.fixture(autouse=True)
def _fresh_warnings() -> Iterator[None]:
    _reset_warnings()
    generated_types._LEGACY_WARNED.clear()
    yield
    _reset_warnings()


def deprecations(record: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, DeprecationWarning)]


def test_timeout_and_max_retries_map_onto_connection_and_retry() -> None:
    with pytest.warns(DeprecationWarning, match="is deprecated") as record:
        config = AgentClientConfig(base_url=URL, api_token=CANARY, agent_id="a", timeout=12, max_retries=2)
    assert config.connection.timeout == 12
    assert config.retry.max_attempts == 3  # two retries after the first attempt
    messages = deprecations(record)
    assert "use AgentClientConfig(connection=ConnectionConfig(timeout=12))" in messages[0]
    assert "0.1.0b6 ignored it" in messages[0]
    assert "use AgentClientConfig(retry=RetryConfig(max_attempts=3))" in messages[1]
    assert all(CANARY not in message for message in messages)
    assert record[0].filename == __file__  # the warning points at the caller's line


def test_each_deprecation_warns_once_per_process() -> None:
    with pytest.warns(DeprecationWarning, match=r"timeout=5\)\)"):
        AgentClientConfig(base_url=URL, timeout=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config = AgentClientConfig(base_url=URL, timeout=6)  # no second warning
    assert config.connection.timeout == 6


def test_old_keywords_keep_the_other_settings_of_given_sections() -> None:
    with pytest.warns(DeprecationWarning, match="is deprecated"):
        config = AgentClientConfig(
            base_url=URL,
            connection=ConnectionConfig(max_connections=7, max_keepalive_connections=7),
            retry=RetryConfig(base_delay=0.1),
            timeout=9,
            max_retries=0,
        )
    assert (config.connection.max_connections, config.connection.timeout) == (7, 9)
    assert (config.retry.base_delay, config.retry.max_attempts) == (0.1, 1)


def test_contradicting_old_and_new_spellings_are_refused_by_name() -> None:
    with pytest.raises(ConfigurationError) as caught:
        AgentClientConfig(
            base_url=URL,
            api_token=CANARY,
            connection=ConnectionConfig(timeout=20),
            timeout=5,
            retry=RetryConfig(max_attempts=2),
            max_retries=4,
        )
    assert [problem.path for problem in caught.value.problems] == ["timeout", "max_retries"]
    assert CANARY not in str(caught.value)


@pytest.mark.parametrize("value", [-1, 1.5, "3", True])
def test_bad_max_retries_is_named(value: object) -> None:
    with pytest.raises(ConfigurationError) as caught:
        AgentClientConfig(base_url=URL, max_retries=value)
    assert caught.value.problems[0].path == "max_retries"


def test_bad_old_timeout_is_named() -> None:
    with pytest.raises(ConfigurationError) as caught:
        AgentClientConfig(base_url=URL, timeout=-1)
    assert caught.value.problems[0].path == "timeout"


def test_bearer_auth_type_on_the_agent_config_is_accepted_and_deprecated() -> None:
    with pytest.warns(DeprecationWarning, match=r"security_config=SecurityConfig\(auth_type=\.\.\.\)"):
        config = AgentClientConfig(base_url=URL, api_token=CANARY, auth_type=AuthType.BEARER)
    assert config.api_token is not None


@pytest.mark.parametrize("value", [AuthType.OIDC, "mtls", "kerberos"])
def test_other_auth_types_on_the_agent_config_name_the_fix(value: object) -> None:
    with pytest.raises(ConfigurationError) as caught:
        AgentClientConfig(base_url=URL, auth_type=value)
    problem = caught.value.problems[0]
    assert problem.path == "auth_type"
    assert problem.hint is not None
    assert "security_config=SecurityConfig(auth_type=" in problem.hint


def test_renamed_connection_and_retry_fields() -> None:
    with pytest.warns(DeprecationWarning, match="ConnectionConfig") as record:
        connection = ConnectionConfig(ssl_verify=False, enable_http2=False, keepalive_timeout=5)
    with pytest.warns(DeprecationWarning, match="RetryConfig"):
        retry = RetryConfig(failure_threshold=9, recovery_timeout=12, half_open_max_calls=2)
    assert (connection.verify, connection.http2, connection.keepalive_expiry) == (False, False, 5)
    assert (retry.breaker_failure_threshold, retry.breaker_open_seconds, retry.breaker_half_open_probes) == (9, 12, 2)
    assert "ConnectionConfig(ssl_verify=...) is deprecated: use ConnectionConfig(verify=...)" in deprecations(record)


def test_old_and_new_name_together_are_refused() -> None:
    with pytest.raises(ConfigurationError) as caught:
        ConnectionConfig(ssl_verify=False, verify=True)
    assert caught.value.problems[0].path == "ssl_verify"


@pytest.mark.parametrize(
    ("cls", "keyword", "fix"),
    [
        (RetryConfig, "circuit_breaker_enabled", "breaker_failure_threshold"),
        (RetryConfig, "strategy", "base_delay"),
        (ConnectionConfig, "max_connections_per_host", "max_connections"),
    ],
)
def test_settings_without_counterpart_name_the_fix(cls: type, keyword: str, fix: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        cls(**{keyword: 1})
    problem = caught.value.problems[0]
    assert problem.path == keyword
    assert problem.hint is not None
    assert fix in problem.hint


def test_protocol_type_is_the_protocol_enum() -> None:
    assert kei_agent.ProtocolType is Protocol
    assert kei_agent.ProtocolType("stream") is Protocol.STREAM


def test_exceptions_module_exports_the_error_classes() -> None:
    from kei_agent.exceptions import KeiSDKError, ProtocolError, SecurityError, ValidationError

    assert (KeiSDKError, ProtocolError, SecurityError, ValidationError) == (
        kei_agent.KeiSDKError,
        kei_agent.ProtocolError,
        kei_agent.SecurityError,
        kei_agent.ValidationError,
    )


def test_renamed_exceptions_resolve_with_a_warning() -> None:
    import kei_agent.exceptions as exceptions

    with pytest.warns(DeprecationWarning, match="catch kei_agent.NotFoundError"):
        assert exceptions.AgentNotFoundError is NotFoundError
    with pytest.warns(DeprecationWarning, match="catch kei_agent.APIConnectionError"):
        assert exceptions.CommunicationError is APIConnectionError
    with pytest.warns(DeprecationWarning, match="catch kei_agent.APITimeoutError"):
        assert exceptions.TimeoutError is APITimeoutError
    with pytest.raises(AttributeError, match="error of the last attempt is raised"):
        _ = exceptions.RetryExhaustedError
    with pytest.raises(AttributeError, match="has no attribute"):
        _ = exceptions.NoSuchError


def test_refused_credentials_are_security_errors_as_documented() -> None:
    assert issubclass(AuthenticationError, SecurityError)
    assert issubclass(PermissionDeniedError, SecurityError)


def test_legacy_field_names_read_through_the_mapping_facade() -> None:
    report = models.HealthReport.from_dict(
        {"status": "healthy", "version": "1", "uptime_seconds": 42.5, "timestamp": "2026-01-01T00:00:00Z", "checks": {}}
    )
    with pytest.warns(DeprecationWarning, match=r"HealthReport\['uptime'\] is deprecated: read 'uptime_seconds'"):
        assert report["uptime"] == 42.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per name
        assert report.get("uptime", "unknown") == 42.5
        assert "uptime" in report
    assert "uptime" not in list(report)
    assert dict(report)["uptime_seconds"] == 42.5


def test_a_tool_result_value_prints_as_its_data() -> None:
    result = models.ToolResult.from_dict(
        {"execution_id": "e1", "tool_name": "calculator", "status": "success", "duration_ms": 1, "result": {"value": 4}}
    )
    assert f"{result['result']}" == "{'value': 4}"
    assert result["result"]["value"] == 4


def test_what_the_stream_runs_is_what_the_contract_lets_it_carry() -> None:
    from kei_agent._contract.operations import OPERATIONS
    from kei_agent_async._compat import STREAM_OPERATIONS, stream_refusal

    for operation_id in STREAM_OPERATIONS.values():
        assert "stream" in OPERATIONS[operation_id].protocols
    for name, operation_id in [("plan", "planTask"), ("act", "executeAction"), ("my_custom_op", "executeOperation")]:
        allowed = OPERATIONS[operation_id].protocols
        assert "stream" not in allowed
        error = stream_refusal(name)
        assert error.operation_id == operation_id
        assert f"lets {', '.join(allowed)} carry it" in str(error)


def test_security_and_protocol_config_keywords_of_0_1_0b6(tmp_path: Path) -> None:
    from kei_agent import ProtocolConfig, SecurityConfig

    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    with pytest.warns(DeprecationWarning, match=r"use SecurityConfig\(mtls_ca_path=\.\.\.\)"):
        config = SecurityConfig(tls_ca_bundle=str(ca))
    assert config.mtls_ca_path == str(ca)
    with pytest.raises(ConfigurationError) as caught:
        SecurityConfig(tls_verify=False, token_cache_ttl=60, oidc_client_secret=CANARY)
    assert [problem.path for problem in caught.value.problems] == ["tls_verify", "token_cache_ttl"]
    assert CANARY not in str(caught.value)
    with pytest.raises(ConfigurationError, match="the paths come from the API contract"):
        ProtocolConfig(rpc_endpoint="/api/v1/rpc")


def test_removed_top_level_names_say_what_to_use() -> None:
    with pytest.raises(ImportError, match=r"kei_agent.CapabilityManager \(kei-agent-py-sdk 0.1.0b6\).*use_tool\(\)"):
        from kei_agent import CapabilityManager  # noqa: F401
    assert not hasattr(kei_agent, "SomethingElse")


def test_renamed_top_level_names_resolve_with_a_warning() -> None:
    from kei_agent_async.health import HealthManager

    with pytest.warns(DeprecationWarning, match="use kei_agent_async.health.HealthManager"):
        assert kei_agent.HealthCheckManager is HealthManager


def test_client_info_masks_every_secret() -> None:
    from kei_agent import SecurityConfig
    from kei_agent_sync import KeiAgentClient

    config = AgentClientConfig(base_url=URL, api_token=CANARY, headers={"X-Extra": CANARY + "-header"})
    security = SecurityConfig(
        auth_type=AuthType.OIDC,
        oidc_token_url="https://idp.example.com/token",
        oidc_client_id="client",
        oidc_client_secret=CANARY + "-secret",
    )
    with KeiAgentClient(config, security_config=security) as client:
        info = client.get_client_info()
    text = repr(info)
    assert CANARY not in text
    assert info["security_config"]["oidc_client_secret"] == "***"
    assert info["config"]["headers"] == {"X-Extra": "***"}
    assert info["security_config"]["auth_type"] == "oidc"
    assert info["versions"]["sdk"] == kei_agent.__version__
