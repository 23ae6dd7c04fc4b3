"""Which client snippets of kei-agent-py-sdk 0.1.0b6's documentation run on this SDK.

:data:`CATALOG` lists every Python block of the earlier docs (getting-started, user-guide, api,
enterprise, troubleshooting) that uses the SDK - signature listings, dataclass definitions and
third-party code (FastAPI, Prometheus, pydantic, Redis, SQLAlchemy, click) left out - with the
tests that run our re-written equivalent against the reference server. Blocks are numbered per
page in order of their Python fences (quickstart.md and concepts.md have unclosed fences: their
blocks are named). ``runs`` means the re-written snippet runs to its end; ``refused`` means it
stops at an error this SDK raises on purpose (the test asserts that error and its message).
"""

from __future__ import annotations

import importlib

import pytest

CLIENT = "tests.clients._async.test_legacy_docs"
CORE = "tests.compat.test_legacy_docs_core"

RUNS = "runs"
REFUSED = "refused"
UNSUPPORTED = "unsupported"

#: (page, block, status, [(module, test function), ...])
CATALOG: list[tuple[str, str, str, list[tuple[str, str]]]] = [
    (
        "getting-started/configuration.md",
        "1",
        RUNS,
        [(CLIENT, "test_configuration_basis_config_with_timeout_and_max_retries")],
    ),
    ("getting-started/configuration.md", "2", RUNS, [(CORE, "test_configuration_protocol_config")]),
    ("getting-started/configuration.md", "3", RUNS, [(CORE, "test_configuration_bearer_security_config")]),
    ("getting-started/configuration.md", "4", RUNS, [(CORE, "test_configuration_environments_dev_and_prod")]),
    (
        "getting-started/configuration.md",
        "5",
        RUNS,
        [(CLIENT, "test_configuration_validate_config_reads_the_client_info")],
    ),
    (
        "getting-started/installation.md",
        "1",
        RUNS,
        [
            (CLIENT, "test_installation_verification_constructs_a_client"),
            (CORE, "test_api_index_imports_and_installation_version"),
        ],
    ),
    (
        "getting-started/quickstart.md",
        "first agent",
        RUNS,
        [(CLIENT, "test_configuration_validate_config_reads_the_client_info")],
    ),
    ("getting-started/quickstart.md", "tool integration", UNSUPPORTED, []),  # CapabilityManager(client._legacy_client)
    (
        "getting-started/quickstart.md",
        "protocols",
        REFUSED,
        [(CLIENT, "test_quickstart_protocols_plan_then_stream_operation")],
    ),
    (
        "getting-started/quickstart.md",
        "enterprise features",
        RUNS,
        [(CORE, "test_quickstart_enterprise_features_and_validation")],
    ),
    (
        "getting-started/quickstart.md",
        "error handling",
        RUNS,
        [(CLIENT, "test_quickstart_error_demo_invalid_config_is_an_sdk_error")],
    ),
    ("user-guide/authentication.md", "1", RUNS, [(CORE, "test_authentication_bearer_on_the_agent_config")]),
    (
        "user-guide/authentication.md",
        "2",
        REFUSED,
        [(CORE, "test_authentication_oidc_without_client_secret_is_refused_by_name")],
    ),
    ("user-guide/authentication.md", "3", RUNS, [(CORE, "test_security_oidc_and_mtls_configs")]),
    ("user-guide/client-usage.md", "1", RUNS, [(CLIENT, "test_client_usage_basic_plan")]),
    ("user-guide/client-usage.md", "2", RUNS, [(CLIENT, "test_client_usage_subscribe_on_the_stream")]),
    ("user-guide/client-usage.md", "3", RUNS, [(CORE, "test_health_checks_api_and_memory")]),
    ("user-guide/concepts.md", "RPC", RUNS, [(CLIENT, "test_client_usage_basic_plan")]),
    ("user-guide/concepts.md", "Stream", RUNS, [(CLIENT, "test_concepts_streaming_session_with_a_callback")]),
    ("user-guide/concepts.md", "Bus", RUNS, [(CLIENT, "test_concepts_bus_message_to_another_agent")]),
    ("user-guide/concepts.md", "MCP", RUNS, [(CLIENT, "test_concepts_mcp_tools_and_calculator")]),
    ("user-guide/concepts.md", "security", RUNS, [(CORE, "test_configuration_bearer_security_config")]),
    ("user-guide/concepts.md", "async", RUNS, [(CLIENT, "test_concepts_parallel_plans")]),
    ("user-guide/concepts.md", "monitoring", RUNS, [(CORE, "test_health_checks_api_and_memory")]),
    ("user-guide/error-handling.md", "1", RUNS, [(CLIENT, "test_error_handling_a_refused_token_is_a_security_error")]),
    ("user-guide/index.md", "1", RUNS, [(CLIENT, "test_client_usage_basic_plan")]),
    ("user-guide/protocols.md", "1", RUNS, [(CLIENT, "test_client_usage_basic_plan")]),
    ("user-guide/protocols.md", "2", REFUSED, [(CLIENT, "test_quickstart_protocols_plan_then_stream_operation")]),
    ("user-guide/protocols.md", "3", RUNS, [(CLIENT, "test_concepts_bus_message_to_another_agent")]),
    ("user-guide/protocols.md", "4", RUNS, [(CLIENT, "test_concepts_mcp_tools_and_calculator")]),
    ("user-guide/protocols.md", "5", RUNS, [(CORE, "test_configuration_protocol_config")]),
    ("api/index.md", "1", RUNS, [(CORE, "test_api_index_imports_and_installation_version")]),
    ("api/index.md", "2", RUNS, [(CLIENT, "test_api_index_basic_usage")]),
    ("api/index.md", "3", RUNS, [(CLIENT, "test_client_usage_basic_plan")]),
    ("api/index.md", "4", RUNS, [(CORE, "test_quickstart_enterprise_features_and_validation")]),
    ("api/index.md", "6", RUNS, [(CLIENT, "test_error_handling_a_refused_token_is_a_security_error")]),
    (
        "api/unified-client.md",
        "2",
        RUNS,
        [(CLIENT, "test_unified_client_constructor_with_protocol_and_security_config")],
    ),
    ("api/unified-client.md", "3", RUNS, [(CLIENT, "test_client_usage_basic_plan")]),
    ("api/unified-client.md", "4", RUNS, [(CLIENT, "test_unified_client_manual_lifecycle_with_initialize")]),
    ("api/unified-client.md", "6", RUNS, [(CLIENT, "test_unified_client_rpc_operations_read_like_the_old_dicts")]),
    ("api/unified-client.md", "8", RUNS, [(CLIENT, "test_unified_client_rpc_operations_read_like_the_old_dicts")]),
    ("api/unified-client.md", "10", RUNS, [(CLIENT, "test_unified_client_rpc_operations_read_like_the_old_dicts")]),
    ("api/unified-client.md", "12", RUNS, [(CLIENT, "test_unified_client_rpc_operations_read_like_the_old_dicts")]),
    ("api/unified-client.md", "14", RUNS, [(CLIENT, "test_concepts_bus_message_to_another_agent")]),
    ("api/unified-client.md", "16", RUNS, [(CLIENT, "test_concepts_streaming_session_with_a_callback")]),
    ("api/unified-client.md", "18", RUNS, [(CLIENT, "test_unified_client_discover_tools_by_category")]),
    ("api/unified-client.md", "20", RUNS, [(CLIENT, "test_concepts_mcp_tools_and_calculator")]),
    ("api/unified-client.md", "22", RUNS, [(CLIENT, "test_unified_client_health_check_reads_status_and_uptime")]),
    ("api/unified-client.md", "24", RUNS, [(CLIENT, "test_unified_client_register_agent_positionally_and_by_keyword")]),
    ("api/unified-client.md", "26", RUNS, [(CLIENT, "test_unified_client_information_methods")]),
    ("api/unified-client.md", "28", RUNS, [(CLIENT, "test_unified_client_information_methods")]),
    ("api/unified-client.md", "30", RUNS, [(CLIENT, "test_unified_client_information_methods")]),
    ("api/unified-client.md", "32", REFUSED, [(CLIENT, "test_unified_client_low_level_operations")]),
    ("api/unified-client.md", "33", RUNS, [(CLIENT, "test_error_handling_a_refused_token_is_a_security_error")]),
    ("api/unified-client.md", "34", RUNS, [(CLIENT, "test_unified_client_manual_lifecycle_with_initialize")]),
    ("api/unified-client.md", "35", RUNS, [(CLIENT, "test_unified_client_low_level_operations")]),
    (
        "api/unified-client.md",
        "36",
        RUNS,
        [(CLIENT, "test_unified_client_constructor_with_protocol_and_security_config")],
    ),
    ("api/unified-client.md", "37", RUNS, [(CLIENT, "test_unified_client_low_level_operations")]),
    ("enterprise/health-checks.md", "1", RUNS, [(CORE, "test_health_checks_api_and_memory")]),
    ("enterprise/health-checks.md", "2", RUNS, [(CORE, "test_health_custom_check_subclass")]),
    ("enterprise/index.md", "1", RUNS, [(CLIENT, "test_enterprise_index_client_with_security_config")]),
    ("enterprise/index.md", "2", RUNS, [(CORE, "test_health_checks_api_and_memory")]),
    (
        "enterprise/index.md",
        "3",
        REFUSED,
        [(CORE, "test_authentication_oidc_without_client_secret_is_refused_by_name")],
    ),
    ("enterprise/logging.md", "1", RUNS, [(CORE, "test_logging_logger_with_context")]),
    (
        "enterprise/logging.md",
        "2",
        RUNS,
        [(CORE, "test_logging_operation_timing_security_and_audit_events"), (CLIENT, "test_client_usage_basic_plan")],
    ),
    ("enterprise/logging.md", "3", RUNS, [(CORE, "test_logging_operation_timing_security_and_audit_events")]),
    ("enterprise/logging.md", "4", RUNS, [(CORE, "test_logging_configure_to_a_file")]),
    (
        "enterprise/security.md",
        "1",
        RUNS,
        [(CORE, "test_configuration_bearer_security_config"), (CORE, "test_security_oidc_and_mtls_configs")],
    ),
    ("enterprise/security.md", "2", RUNS, [(CORE, "test_security_and_debugging_loggers_with_fields")]),
    ("enterprise/security.md", "3", RUNS, [(CORE, "test_quickstart_enterprise_features_and_validation")]),
    ("troubleshooting/index.md", "3", RUNS, [(CLIENT, "test_unified_client_manual_lifecycle_with_initialize")]),
    ("troubleshooting/index.md", "5", RUNS, [(CORE, "test_troubleshooting_config_from_environment_variables")]),
    ("troubleshooting/index.md", "10", RUNS, [(CORE, "test_security_oidc_and_mtls_configs")]),
    ("troubleshooting/index.md", "13", RUNS, [(CLIENT, "test_unified_client_information_methods")]),
    ("troubleshooting/index.md", "14", RUNS, [(CLIENT, "test_troubleshooting_stream_enabled_explicitly")]),
    ("troubleshooting/index.md", "17", RUNS, [(CLIENT, "test_api_index_basic_usage")]),
    ("troubleshooting/index.md", "18", RUNS, [(CORE, "test_troubleshooting_longer_timeout")]),
    ("troubleshooting/index.md", "20", RUNS, [(CLIENT, "test_unified_client_low_level_operations")]),
    ("troubleshooting/index.md", "22", RUNS, [(CLIENT, "test_client_usage_basic_plan")]),
    ("troubleshooting/index.md", "23", RUNS, [(CLIENT, "test_unified_client_manual_lifecycle_with_initialize")]),
    ("troubleshooting/index.md", "24", RUNS, [(CORE, "test_troubleshooting_debug_logging_with_a_stdlib_level")]),
    ("troubleshooting/index.md", "26", RUNS, [(CORE, "test_health_checks_api_and_memory")]),
    ("troubleshooting/index.md", "28", RUNS, [(CORE, "test_troubleshooting_diagnostics_script")]),
    ("troubleshooting/index.md", "29", RUNS, [(CLIENT, "test_client_usage_basic_plan")]),
    ("troubleshooting/debugging.md", "1", RUNS, [(CORE, "test_security_and_debugging_loggers_with_fields")]),
    ("troubleshooting/debugging.md", "4", RUNS, [(CORE, "test_security_and_debugging_loggers_with_fields")]),
]


def test_the_count_of_earlier_snippets_that_run() -> None:
    statuses = [status for _, _, status, _ in CATALOG]
    assert len(CATALOG) == 86
    assert statuses.count(RUNS) == 80
    assert statuses.count(REFUSED) == 5  # protocol=STREAM for custom operations (3), OIDC without secret (2)
    assert statuses.count(UNSUPPORTED) == 1  # CapabilityManager(client._legacy_client): a private attribute


@pytest.mark.parametrize(
    ("page", "block", "status", "tests"), CATALOG, ids=lambda v: str(v) if isinstance(v, str) else ""
)
def test_every_listed_snippet_has_its_test(page: str, block: str, status: str, tests: list[tuple[str, str]]) -> None:
    if status == UNSUPPORTED:
        assert tests == []
        return
    assert tests, f"{page} {block}: no test"
    for module, name in tests:
        assert callable(getattr(importlib.import_module(module), name)), f"{module}.{name}"
