"""The client call shapes of kei-agent-py-sdk 0.1.0b6's documentation, against the reference server.

Each test re-writes (in its own words, not copied) one client snippet of the earlier SDK's docs
(``oscharko-dev/kei-agent-py-sdk``, docs/: getting-started, user-guide, api, enterprise,
troubleshooting); the docstring names the page and block. Only hosts, tokens and paths differ.
Snippets that the contract refuses (``protocol=STREAM`` for a custom operation) assert the
refusal and its message. Deprecation warnings of the old spellings are tested in
tests/compat/test_legacy_config.py; here they are ignored.

Written once for the async client; tests/clients/_sync holds the generated twin.
"""

from __future__ import annotations

from typing import Any

import pytest

from kei_agent import (
    AgentClientConfig,
    AuthType,
    ProtocolConfig,
    ProtocolType,
    SecurityConfig,
)
from kei_agent.exceptions import KeiSDKError, ProtocolError, SecurityError
from kei_agent.testing import ServerHandle
from kei_agent_async import KeiAgentClient
from kei_agent_async._backend import sleep

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

TOKEN = "scenario-token"


def legacy_config(server: ServerHandle, agent_id: str = "my-agent", **old: Any) -> AgentClientConfig:
    """The earlier docs' ``AgentClientConfig(base_url=..., api_token=..., agent_id=...)``."""
    return AgentClientConfig(base_url=server.base_url, api_token=TOKEN, agent_id=agent_id, **old)


def serve_doc_operations(server: ServerHandle) -> None:
    """The custom operations and actions the earlier docs call exist on the user's server: add them here."""
    for name in ("custom_operation", "fast_operation"):
        server.state.actions.register_operation(name, lambda data: {"received": dict(data)})
    echo = server.state.actions.action("echo")  # the server's coroutine function, in both flavours
    assert echo is not None
    server.state.actions.register_action("health_check", echo)


async def wait_for(condition: Any, rounds: int = 200) -> None:
    for _ in range(rounds):
        if condition():
            return
        await sleep(0.05)


# ------------------------------------------------------------------------- getting-started


async def test_configuration_basis_config_with_timeout_and_max_retries(server: ServerHandle) -> None:
    """getting-started/configuration.md #1 and #4 (timeout=, max_retries=)."""
    config = legacy_config(server, timeout=30, max_retries=3)
    async with KeiAgentClient(config) as client:
        plan = await client.plan_task("check the timeout")
    assert plan["plan_id"]
    assert (config.connection.timeout, config.retry.max_attempts) == (30, 4)


async def test_configuration_validate_config_reads_the_client_info(server: ServerHandle) -> None:
    """getting-started/configuration.md #5 and quickstart.md #1: ``info['agent_id']``."""
    async with KeiAgentClient(config=legacy_config(server, "test")) as client:
        info = client.get_client_info()
    assert info["agent_id"] == "test"
    assert info["initialized"] is True


async def test_quickstart_protocols_plan_then_stream_operation(server: ServerHandle) -> None:
    """getting-started/quickstart.md #3: plan over RPC, then a custom operation with protocol=STREAM
    - refused from the contract, naming the protocols that can carry it and how to ask."""
    async with KeiAgentClient(config=legacy_config(server, "protocol-agent")) as client:
        plan = await client.plan_task(objective="System-Check", context={"type": "basic"})
        with pytest.raises(ProtocolError) as caught:
            await client.execute_agent_operation("monitor_stream", {"duration": 10}, protocol=ProtocolType.STREAM)
    assert plan["plan_id"]
    message = str(caught.value)
    assert "lets rpc, bus carry it" in message
    assert "protocol=Protocol.RPC or protocol=Protocol.BUS" in message
    assert "stream_events()" in message
    assert server.stats.requests("executeOperation") == 0


async def test_quickstart_error_demo_invalid_config_is_an_sdk_error() -> None:
    """getting-started/quickstart.md #5: a bad base_url ends in ``except KeiSDKError``."""
    with pytest.raises(KeiSDKError) as caught:
        AgentClientConfig(base_url="invalid", api_token="invalid", agent_id="test")
    assert "base_url" in str(caught.value)


async def test_installation_verification_constructs_a_client(server: ServerHandle) -> None:
    """getting-started/installation.md #1 (host changed: "test" is not a URL)."""
    client = KeiAgentClient(config=legacy_config(server, "test"))
    assert client.get_client_info()["base_url"] == server.base_url
    await client.close()


# ------------------------------------------------------------------------------ user-guide


async def test_client_usage_basic_plan(server: ServerHandle) -> None:
    """user-guide/client-usage.md #1, index.md #1, concepts.md #1, protocols.md #1."""
    async with KeiAgentClient(config=legacy_config(server, "your-agent-id")) as client:
        plan = await client.plan_task("Ihre Aufgabe")
    assert str(plan["objective"]) == "Ihre Aufgabe"


async def test_client_usage_subscribe_on_the_stream(server: ServerHandle) -> None:
    """user-guide/client-usage.md #2: ``execute_agent_operation("subscribe", {"topic": ...}, STREAM)``."""
    async with KeiAgentClient(config=legacy_config(server)) as client:
        session = await client.execute_agent_operation(
            "subscribe", {"topic": "agent_events"}, protocol=ProtocolType.STREAM
        )
        await client.execute_agent_operation(
            "publish", {"topic": "agent_events", "data": {"n": 1}}, protocol=ProtocolType.STREAM
        )
        events = []
        async for event in session:
            events.append(event)
            break
        await session.close()
    assert events[0]["topic"] == "agent_events"
    assert events[0]["data"]["n"] == 1


async def test_concepts_streaming_session_with_a_callback(server: ServerHandle) -> None:
    """user-guide/concepts.md #2 and api/unified-client.md (start_streaming_session)."""
    received: list[Any] = []

    async def on_event(message: Any) -> None:
        received.append(message)

    async with KeiAgentClient(config=legacy_config(server)) as client:
        session = await client.start_streaming_session(callback=on_event)
        await client.publish_event("agent_events", {"hello": "world"})
        await wait_for(lambda: received)
        await session.close()
    assert [event["data"]["hello"] for event in received] == ["world"]
    assert session.delivered == 1
    assert not session.running


async def test_concepts_bus_message_to_another_agent(server: ServerHandle) -> None:
    """user-guide/concepts.md #3, protocols.md #3, api/unified-client.md (send_agent_message)."""
    data = {"task": "analyze_sales_data", "priority": "high"}
    async with KeiAgentClient(config=legacy_config(server)) as client:
        response = await client.send_agent_message("data-processor-agent", "task_request", data)
    assert response["message_id"]


async def test_concepts_mcp_tools_and_calculator(server: ServerHandle) -> None:
    """user-guide/concepts.md #4, protocols.md #4, api/unified-client.md (use_tool)."""
    async with KeiAgentClient(config=legacy_config(server)) as client:
        tools = await client.discover_available_tools()
        result = await client.use_tool("calculator", expression="(100 * 1.08) - 50")
    assert "calculator" in [tool["name"] for tool in tools]
    assert f"Ergebnis: {result['result']}" == "Ergebnis: {'value': 58.0}"


async def test_concepts_parallel_plans(server: ServerHandle) -> None:
    """user-guide/concepts.md #6: several plan_task calls (gathered in the async original)."""
    async with KeiAgentClient(legacy_config(server)) as client:
        results = [await client.plan_task("Task 1"), await client.plan_task("Task 2")]
    assert len({plan["plan_id"] for plan in results}) == 2


async def test_error_handling_a_refused_token_is_a_security_error(server: ServerHandle) -> None:
    """user-guide/error-handling.md #1, api/unified-client.md exceptions: ``except SecurityError``."""
    config = AgentClientConfig(base_url=server.base_url, api_token="wrong-token", agent_id="my-agent")
    with pytest.raises(SecurityError):
        async with KeiAgentClient(config=config) as client:
            await client.plan_task("task")


# ------------------------------------------------------------------------------------- api


async def test_unified_client_constructor_with_protocol_and_security_config(server: ServerHandle) -> None:
    """api/unified-client.md constructor example (also api/index.md configuration pattern)."""
    protocol_config = ProtocolConfig(auto_protocol_selection=True, protocol_fallback_enabled=True)
    security_config = SecurityConfig(auth_type=AuthType.BEARER, rbac_enabled=True, audit_enabled=True)
    client = KeiAgentClient(
        config=legacy_config(server), protocol_config=protocol_config, security_config=security_config
    )
    async with client:
        plan = await client.plan_task("Create report")
    assert plan["plan_id"]


async def test_unified_client_manual_lifecycle_with_initialize(server: ServerHandle) -> None:
    """api/unified-client.md manual management; troubleshooting/index.md #3, #23."""
    client = KeiAgentClient(config=legacy_config(server))
    try:
        await client.initialize()
        result = await client.plan_task("Create report")
    finally:
        await client.close()
    assert result["plan_id"]
    with pytest.raises(KeiSDKError, match="closed"):
        await client.initialize()


async def test_unified_client_rpc_operations_read_like_the_old_dicts(server: ServerHandle) -> None:
    """api/unified-client.md plan_task / execute_action / observe_environment / explain_reasoning."""
    async with KeiAgentClient(config=legacy_config(server)) as client:
        plan = await client.plan_task(
            objective="Erstelle einen Quartalsbericht",
            context={"format": "pdf", "quarter": "Q4-2024", "sections": ["summary", "financials"]},
        )
        result = await client.execute_action(
            action="generate_report", parameters={"template": "quarterly_template", "output_format": "pdf"}
        )
        observation = await client.observe_environment(
            observation_type="system_metrics", data={"interval": 60, "metrics": ["cpu", "memory"]}
        )
        explanation = await client.explain_reasoning(
            query="Warum wurde diese Vorlage gewählt?", context={"action_id": result["action_id"]}
        )
    assert plan["plan_id"]
    assert result["action_id"]
    assert observation["observation_id"]
    assert explanation["explanation"]


async def test_unified_client_protocol_as_third_positional_argument(server: ServerHandle) -> None:
    """api/unified-client.md signatures: ``plan_task(objective, context, protocol)`` and friends."""
    async with KeiAgentClient(config=legacy_config(server)) as client:
        await client.plan_task("positional", {"a": 1}, ProtocolType.RPC)
        await client.execute_action("echo", {}, ProtocolType.RPC)
        await client.observe_environment("metrics", {}, ProtocolType.RPC)
        await client.explain_reasoning("why", {}, "auto")
    assert server.stats.requests("planTask") == 1
    assert server.stats.requests("explainReasoning") == 1


async def test_unified_client_discover_tools_by_category(server: ServerHandle) -> None:
    """api/unified-client.md discover_available_tools("math"): ``tool['name']``, ``tool['description']``."""
    async with KeiAgentClient(config=legacy_config(server)) as client:
        tools = await client.discover_available_tools("math")
    assert [tool["name"] for tool in tools] == ["calculator"]
    assert tools[0]["description"]


async def test_unified_client_health_check_reads_status_and_uptime(server: ServerHandle) -> None:
    """api/unified-client.md health_check(): ``health['status']``, ``health.get('uptime', 'unknown')``."""
    async with KeiAgentClient(config=legacy_config(server)) as client:
        health = await client.health_check()
    assert str(health["status"]) == "healthy"
    assert health.get("uptime", "unknown") == health.uptime_seconds


async def test_unified_client_register_agent_positionally_and_by_keyword(server: ServerHandle) -> None:
    """api/unified-client.md register_agent(name, version, description, capabilities)."""
    async with KeiAgentClient(config=legacy_config(server, "report-generator")) as client:
        registration = await client.register_agent(
            name="Report Generator",
            version="1.0.0",
            description="Automated report generation agent",
            capabilities=["pdf_generation", "data_analysis"],
        )
        await client.delete_agent("report-generator")
        again = await client.register_agent("Report Generator", "1.0.1")
    assert registration["agent_id"] == "report-generator"
    assert again["version"] == "1.0.1"


async def test_unified_client_information_methods(server: ServerHandle) -> None:
    """api/unified-client.md get_client_info / get_available_protocols / is_protocol_available;
    troubleshooting/index.md #13 (``info['protocol_config']``)."""
    config = legacy_config(server)
    client = KeiAgentClient(config=config, protocol_config=ProtocolConfig(bus_enabled=False))
    info = client.get_client_info()
    protocols = client.get_available_protocols()
    assert info["agent_id"] == "my-agent"
    assert info["initialized"] is True
    assert info["available_protocols"] == protocols == [ProtocolType.RPC, ProtocolType.STREAM, ProtocolType.MCP]
    assert info["features"]["retry"] is True
    assert info["protocol_config"]["bus_enabled"] is False
    assert info["config"]["api_token"] == "***"
    assert TOKEN not in repr(info)
    assert client.is_protocol_available(ProtocolType.STREAM)
    assert not client.is_protocol_available("bus")
    with pytest.raises(ProtocolError, match="unknown protocol"):
        client.is_protocol_available("carrier-pigeon")
    await client.close()
    assert client.get_available_protocols() == []
    assert client.get_client_info()["closed"] is True


async def test_unified_client_low_level_operations(server: ServerHandle) -> None:
    """api/unified-client.md execute_agent_operation (automatic, then explicit STREAM); best
    practices #2 and #4 (``execute_agent_operation("plan", ..., protocol=ProtocolType.RPC)``);
    troubleshooting/index.md #20 (``protocol=ProtocolType.RPC``)."""
    serve_doc_operations(server)
    async with KeiAgentClient(config=legacy_config(server)) as client:
        custom = await client.execute_agent_operation("custom_operation", {"param1": "value1"})
        fast = await client.execute_agent_operation("fast_operation", {"x": 1}, protocol=ProtocolType.RPC)
        plan = await client.execute_agent_operation("plan", {"objective": "objective"}, protocol=ProtocolType.RPC)
        with pytest.raises(ProtocolError, match="cannot be carried by the stream protocol"):
            await client.execute_agent_operation("stream_operation", {"data": "real-time"}, protocol="stream")
    assert custom["operation"] == "custom_operation"
    assert fast["operation"] == "fast_operation"
    assert plan["plan_id"]


async def test_api_index_basic_usage(server: ServerHandle) -> None:
    """api/index.md basis usage: plan_task, execute_action("health_check", ...), health_check()."""
    serve_doc_operations(server)
    async with KeiAgentClient(config=legacy_config(server)) as client:
        plan = await client.plan_task(objective="System-Status prüfen", context={"scope": "basic"})
        result = await client.execute_action(action="health_check", parameters={"include_metrics": True})
        health = await client.health_check()
    assert plan["plan_id"]
    assert result["action_id"]
    assert str(health["status"]) == "healthy"


async def test_plan_task_with_stream_protocol_names_the_allowed_ones(server: ServerHandle) -> None:
    """Any operation asked for on a protocol the contract does not allow says which ones can."""
    async with KeiAgentClient(config=legacy_config(server)) as client:
        with pytest.raises(ProtocolError) as caught:
            await client.plan_task("x", None, ProtocolType.STREAM)
    assert "allowed: rpc, bus" in str(caught.value)
    assert "protocol=Protocol.RPC or protocol=Protocol.BUS" in str(caught.value)


# ----------------------------------------------------------------- enterprise, troubleshooting


async def test_enterprise_index_client_with_security_config(server: ServerHandle) -> None:
    """enterprise/index.md #1: SecurityConfig (bearer, audit) + AgentClientConfig(timeout, max_retries=5)."""
    security_config = SecurityConfig(auth_type=AuthType.BEARER, api_token=TOKEN, audit_enabled=True)
    agent_config = legacy_config(server, "enterprise-agent-001", timeout=30, max_retries=5)
    async with KeiAgentClient(config=agent_config, security_config=security_config) as client:
        plan = await client.plan_task(objective="Enterprise-System-Check", context={"scope": "production"})
    assert plan["plan_id"]
    assert agent_config.retry.max_attempts == 6


async def test_troubleshooting_stream_enabled_explicitly(server: ServerHandle) -> None:
    """troubleshooting/index.md #14: ProtocolConfig(stream_enabled=True, auto_protocol_selection=True)."""
    protocol_config = ProtocolConfig(stream_enabled=True, auto_protocol_selection=True)
    client = KeiAgentClient(config=legacy_config(server), protocol_config=protocol_config)
    assert client.is_protocol_available(ProtocolType.STREAM)
    await client.close()


async def test_streaming_session_refused_when_the_stream_is_disabled(server: ServerHandle) -> None:
    """troubleshooting/index.md: "Stream-Protokoll nicht verfügbar" - and the fix is named."""
    client = KeiAgentClient(config=legacy_config(server), protocol_config=ProtocolConfig(stream_enabled=False))
    with pytest.raises(ProtocolError, match="stream_enabled=False"):
        await client.start_streaming_session(callback=print)
    await client.close()


async def test_streaming_session_survives_a_failing_callback_and_ends_with_the_client(server: ServerHandle) -> None:
    """A callback that raises is counted and the session goes on; closing the client ends it."""
    seen: list[Any] = []

    def fragile(event: Any) -> None:
        seen.append(event)
        if event["data"]["n"] == 0:
            raise RuntimeError("callback bug")

    client = KeiAgentClient(config=legacy_config(server))
    session = await client.start_streaming_session(fragile, topics="jobs.*")
    await client.publish_event("jobs.a", {"n": 0})
    await client.publish_event("jobs.b", {"n": 1})
    await client.publish_event("other", {"n": 2})
    await wait_for(lambda: len(seen) == 2)
    await client.close()
    await wait_for(lambda: not session.running)
    assert [event["data"]["n"] for event in seen] == [0, 1]
    assert (session.failed, session.delivered) == (1, 1)
    assert not session.running
    await session.close()  # idempotent after the client closed it
