"""Stream, bus and MCP end to end against the reference server, with fallback between protocols.

Written once for the async client; tests/clients/_sync holds the generated twin for the blocking
client. Concurrency (a consumer while publishing) uses the flavour's own primitives (tasks or
threads). Assertions count events, messages and requests; nothing is timed.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from loguru import logger

from kei_agent import (
    AgentClientConfig,
    APIConnectionError,
    CircuitBreakerOpenError,
    InternalServerError,
    ProtocolConfig,
    ProtocolError,
    RetryConfig,
    ValidationError,
    correlation_scope,
)
from kei_agent._generated import models
from kei_agent.policies import StreamTransport
from kei_agent.testing import Fault, ServerHandle, run_server
from kei_agent_async import KeiAgentClient, agent_inbox_subject
from kei_agent_async._backend import sleep, spawn

pytestmark = pytest.mark.anyio

TOKEN = "protocols-token"
FAST_RETRY = RetryConfig(max_attempts=3, base_delay=0.01, max_delay=0.05, breaker_open_seconds=0.5)
FAST_SERVER = {"ws_ping_interval": 0.5, "sse_keepalive_seconds": 0.3, "max_wait_seconds": 2.0}


@pytest.fixture
def server() -> Iterator[ServerHandle]:
    with run_server(tokens=[TOKEN], **FAST_SERVER) as handle:
        yield handle


@pytest.fixture
def warnings_logged() -> Iterator[list[str]]:
    """The SDK's WARNING records while the test runs (the package logs nothing by default)."""
    records: list[str] = []
    logger.enable("kei_agent_async")
    sink = logger.add(lambda message: records.append(message.record["message"]), level="WARNING")
    try:
        yield records
    finally:
        logger.remove(sink)
        logger.disable("kei_agent_async")


class RefusingTransport(httpx.AsyncBaseTransport):
    """Refuses connections for requests under ``prefix`` (or to exactly that path): another
    gateway that is down."""

    def __init__(self, prefix: str, *, exact: bool = False) -> None:
        self._prefix = prefix
        self._exact = exact
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == self._prefix or (not self._exact and path.startswith(self._prefix)):
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def make_client(
    server: ServerHandle,
    protocol_config: ProtocolConfig | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    **overrides: object,
) -> KeiAgentClient:
    settings: dict[str, object] = {"api_token": TOKEN, "agent_id": "protocols-agent", "retry": FAST_RETRY}
    settings.update(overrides)
    config = AgentClientConfig(base_url=server.base_url, **settings)  # type: ignore[arg-type]
    return KeiAgentClient(config, protocol_config, transport=transport)


async def take(stream, count: int) -> list[models.StreamEvent]:
    events: list[models.StreamEvent] = []
    async for event in stream:
        events.append(event)
        if len(events) == count:
            break
    return events


async def emit(client: KeiAgentClient, topic: str, count: int, start: int = 0) -> str:
    """Publish ``count`` events; returns the id *before* the first one (a ``since`` that replays them)."""
    first = ""
    for index in range(start, start + count):
        ack = await client.publish_event(topic, {"i": index})
        first = first or ack.event_id
    return str(int(first) - 1)


# --------------------------------------------------------------------------------------- stream


async def test_stream_over_websocket_carries_the_client_headers(server: ServerHandle) -> None:
    async with make_client(server, tenant_id="tenant-9") as client:
        since = await emit(client, "demo.ws", 3)
        with correlation_scope("corr-stream"):
            stream = client.stream_events(["demo.*"], since=since)
            events = await take(stream, 3)
        assert stream.transport is StreamTransport.WEBSOCKET
        assert stream.downgrades == []
        await stream.close()
        assert stream.closed
    assert [event["data"]["i"] for event in events] == [0, 1, 2]
    assert all(isinstance(event, models.StreamEvent) for event in events)
    headers = server.stats.last_headers("websocket")
    assert headers is not None
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["x-agent-id"] == "protocols-agent"
    assert headers["x-tenant-id"] == "tenant-9"
    assert headers["x-correlation-id"] == "corr-stream"
    assert headers["sec-websocket-protocol"] == "kei.stream.v1"


async def test_stream_without_since_starts_live(server: ServerHandle) -> None:
    async with make_client(server) as client:
        await emit(client, "demo.old", 2)
        stream = client.stream_events("demo.*", transport="polling", poll_wait=0.2)
        collected: list[models.StreamEvent] = []

        async def consume() -> None:
            collected.extend(await take(stream, 2))

        worker = spawn(consume, "test-stream-consumer")
        while stream.last_event_id is None:
            await sleep(0.01)
        await emit(client, "demo.new", 2, start=10)
        await worker.join()
        await stream.close()
    assert [event["data"]["i"] for event in collected] == [10, 11]


async def test_keepalive_pings_keep_an_idle_websocket_open(server: ServerHandle) -> None:
    async with make_client(server) as client:
        since = await emit(client, "demo.idle", 1)
        stream = client.stream_events(["demo.idle"], since=since, keepalive=0.5)
        first = await take(stream, 1)
        collected: list[models.StreamEvent] = []

        async def consume() -> None:
            collected.extend(await take(stream, 1))

        worker = spawn(consume, "test-stream-consumer")
        await sleep(1.6)  # several keep-alive intervals (client pings, server ping frames)
        await emit(client, "demo.idle", 1, start=1)
        await worker.join()
        assert stream.reconnects == 0
        assert stream.transport is StreamTransport.WEBSOCKET
        await stream.close()
    assert [event["data"]["i"] for event in first + collected] == [0, 1]


@pytest.mark.parametrize("transport", ["websocket", "sse", "polling"])
async def test_stream_resumes_after_a_restart_without_gap_or_duplicate(server: ServerHandle, transport: str) -> None:
    async with make_client(server) as client:
        since = await emit(client, "demo.resume", 5)
        stream = client.stream_events(["demo.resume"], since=since, transport=transport, poll_wait=0.2)
        before = await take(stream, 5)
        server.restart()
        await emit(client, "demo.resume", 5, start=5)
        after = await take(stream, 5)
        reconnects = stream.reconnects
        await stream.close()
    ids = [int(event.id) for event in before + after]
    assert [event["data"]["i"] for event in before + after] == list(range(10))
    assert ids == list(range(ids[0], ids[0] + 10))
    if transport != "polling":
        assert reconnects >= 1


@pytest.mark.parametrize(
    "refusal",
    [Fault.status(503, route="websocket"), Fault.status(404, route="websocket")],
    ids=["503", "route-disabled"],
)
async def test_websocket_refused_falls_back_to_sse_logged_once(
    server: ServerHandle, refusal: Fault, warnings_logged: list[str]
) -> None:
    server.faults.add(refusal)
    async with make_client(server) as client:
        since = await emit(client, "demo.sse", 3)
        for _ in range(2):
            stream = client.stream_events(["demo.sse"], since=since)
            events = await take(stream, 3)
            assert stream.transport is StreamTransport.SSE
            await stream.close()
        assert StreamTransport.WEBSOCKET in client.stream_downgrades
    assert [event["data"]["i"] for event in events] == [0, 1, 2]
    assert server.stats.requests("websocket") == 1  # the second stream skips it (cool-down)
    downgrades = [record for record in warnings_logged if "falling back to sse" in record]
    assert len(downgrades) == 1


async def test_websocket_connection_refused_falls_back_to_sse(server: ServerHandle) -> None:
    async with make_client(server, transport=RefusingTransport("/api/v1/stream", exact=True)) as client:
        since = await emit(client, "demo.refused", 2)
        stream = client.stream_events(["demo.refused"], since=since)
        events = await take(stream, 2)
        downgrades = stream.downgrades
        await stream.close()
    assert [event["data"]["i"] for event in events] == [0, 1]
    assert [(old, new) for old, new, _ in downgrades] == [(StreamTransport.WEBSOCKET, StreamTransport.SSE)]
    assert "refused" in downgrades[0][2]
    assert server.stats.requests("websocket") == 0


async def test_sse_refused_falls_back_to_polling(server: ServerHandle, warnings_logged: list[str]) -> None:
    server.faults.add(Fault.status(503, route="websocket"))
    server.faults.add(Fault.status(503, route="streamEvents"))
    async with make_client(server, retry=RetryConfig(max_attempts=1)) as client:
        since = await emit(client, "demo.poll", 3)
        stream = client.stream_events(["demo.poll"], since=since, poll_wait=0.2)
        events = await take(stream, 3)
        downgrades = [(old, new) for old, new, _ in stream.downgrades]
        transport = stream.transport
        await stream.close()
    assert transport is StreamTransport.POLLING
    assert downgrades == [
        (StreamTransport.WEBSOCKET, StreamTransport.SSE),
        (StreamTransport.SSE, StreamTransport.POLLING),
    ]
    assert [event["data"]["i"] for event in events] == [0, 1, 2]
    assert sum("falling back to polling" in record for record in warnings_logged) == 1


async def test_forced_transport_does_not_fall_back(server: ServerHandle) -> None:
    server.faults.add(Fault.status(503, route="websocket"))
    async with make_client(server) as client:
        stream = client.stream_events(transport=StreamTransport.WEBSOCKET)
        with pytest.raises(ProtocolError, match="no fallback"):
            await take(stream, 1)
        await stream.close()


async def test_stream_disabled_is_a_protocol_error(server: ServerHandle) -> None:
    async with make_client(server, ProtocolConfig(stream_enabled=False)) as client:
        stream = client.stream_events()
        with pytest.raises(ProtocolError, match="stream"):
            await take(stream, 1)


# ------------------------------------------------------------------------------ RPC -> bus


@pytest.mark.parametrize("failure", ["503", "dropped", "connection-refused"])
async def test_plan_task_falls_back_from_rpc_to_the_bus(
    server: ServerHandle, failure: str, warnings_logged: list[str]
) -> None:
    transport = None
    if failure == "503":
        server.faults.add(Fault.status(503, retry_after=0, route="planTask"))
    elif failure == "dropped":
        server.faults.add(Fault.drop(route="planTask"))
    else:
        transport = RefusingTransport("/api/v1/rpc/")
    async with make_client(server, transport=transport, retry=RetryConfig(max_attempts=1)) as client:
        plans = [await client.plan_task(objective=f"carried by the bus {index}") for index in range(2)]
        downgrades = client.protocol_downgrades
    assert [plan["objective"] for plan in plans] == ["carried by the bus 0", "carried by the bus 1"]
    assert "rpc" in [protocol.value for protocol in downgrades]
    assert server.stats.requests("busRequest") == 2
    assert sum("falling back to bus" in record for record in warnings_logged) == 1


# ------------------------------------------------------------------------------------ bus


async def test_publish_sends_one_idempotency_key_on_every_retry(server: ServerHandle) -> None:
    server.faults.add(Fault.drop(route="publishMessage", times=1))
    async with make_client(server) as client:
        subscription = await client.subscribe("orders.*", wait=0.2)
        ack = await client.publish("orders.created", {"order": 1}, type="order.created", key="o-1")
        messages = await subscription.poll(wait=0.5)
        await subscription.close()
    keys = {headers["idempotency-key"] for headers in server.stats.all_headers("publishMessage")}
    assert server.stats.requests("publishMessage") == 2
    assert len(keys) == 1
    assert ack.duplicate is True  # the retry found the first publish
    assert [message.message_id for message in messages] == [ack.message_id]
    assert messages[0].type_ == "order.created"
    assert messages[0].key == "o-1"


async def test_unacknowledged_messages_are_redelivered_with_the_same_message_id(server: ServerHandle) -> None:
    async with make_client(server) as client:
        subscription = await client.subscribe("jobs.>", visibility_timeout=0.3, wait=0.1)
        await client.publish("jobs.a.b", {"job": 1})
        first = await subscription.poll(wait=1.0)
        again = await subscription.poll(wait=2.0)
        result = await subscription.ack(*again)
        assert await subscription.poll(wait=0.5) == []
        await subscription.close()
    assert [message.delivery_count for message in first + again] == [1, 2]
    assert first[0].message_id == again[0].message_id
    assert first[0].delivery_id != again[0].delivery_id
    assert result.acked == [again[0].delivery_id]


async def test_consume_acks_successes_and_leaves_failures_for_redelivery(server: ServerHandle) -> None:
    calls: list[tuple[int, int]] = []

    async def handler(message: models.BusMessage) -> None:
        calls.append((message.payload["n"], message.delivery_count))
        if message.payload["n"] == 3 and message.delivery_count == 1:
            raise RuntimeError("transient failure")

    async with make_client(server) as client:
        subscription = await client.subscribe("work.items", visibility_timeout=0.3, wait=0.2)
        for n in range(6):
            await client.publish("work.items", {"n": n})
        result = await subscription.consume(handler, concurrency=3, limit=6)
        leftovers = await subscription.poll(wait=0.5)
        await subscription.close()
    assert result.processed == 6
    assert result.failed == 1
    assert sorted(n for n, _ in calls) == [0, 1, 2, 3, 3, 4, 5]
    assert (3, 2) in calls
    assert leftovers == []


async def test_consume_skips_redeliveries_of_processed_messages(server: ServerHandle) -> None:
    seen: list[str] = []
    server.faults.add(Fault.status(503, route="ackMessages", times=3))  # the first acknowledgement is lost
    async with make_client(server) as client:
        subscription = await client.subscribe("dedupe.test", visibility_timeout=0.3, wait=0.2)
        await client.publish("dedupe.test", {"x": 1})
        result = await subscription.consume(lambda message: seen.append(message.message_id), idle_timeout=1.5)
        await subscription.close()
    assert len(seen) == 1
    assert result.processed == 1
    assert result.duplicates >= 1


async def test_agent_messages_reach_the_target_inbox(server: ServerHandle) -> None:
    async with make_client(server, agent_id="receiver.v2") as receiver, make_client(server) as sender:
        inbox = await receiver.subscribe_agent_messages(durable=False, wait=0.2)
        assert inbox.subject == agent_inbox_subject("receiver.v2")
        await sender.send_agent_message("receiver.v2", "greeting", {"text": "hello"})
        messages = await inbox.poll(wait=1.0)
        await inbox.ack(*messages)
        await inbox.close()
    assert [(m.type_, m.payload["text"], m.sender_agent_id) for m in messages] == [
        ("greeting", "hello", "protocols-agent")
    ]


async def test_iterating_a_subscription_yields_leased_messages(server: ServerHandle) -> None:
    async with make_client(server) as client, await client.subscribe("iter.test", wait=0.2) as subscription:
        for n in range(3):
            await client.publish("iter.test", {"n": n})
        received = []
        async for message in subscription:
            received.append(message.payload["n"])
            await subscription.ack(message)
            if len(received) == 3:
                break
    assert received == [0, 1, 2]
    assert server.stats.requests("deleteSubscription") == 1


# ------------------------------------------------------------------------------------- MCP


async def test_tools_resources_and_prompts(server: ServerHandle) -> None:
    async with make_client(server) as client:
        tools = await client.discover_available_tools()
        math_tools = await client.discover_available_tools(category="math")
        result = await client.use_tool("calculator", expression="6 * 7")
        resources = await client.list_resources()
        prompts = await client.list_prompts()
    calculator = next(tool for tool in tools if tool.name == "calculator")
    assert calculator.parameters["required"] == ["expression"]
    assert [tool.name for tool in math_tools] == ["calculator"]
    assert result.status == models.ToolStatus.SUCCESS
    assert result["result"]["value"] == 42
    assert resources
    assert all(isinstance(resource, models.Resource) for resource in resources)
    assert prompts[0].name


async def test_use_tool_validates_parameters_before_sending(server: ServerHandle) -> None:
    async with make_client(server) as client:
        with pytest.raises(ValidationError) as caught:
            await client.use_tool("calculator", expr="6 * 7")
        failed = await client.use_tool("calculator", expression="1 / 0")
    paths = sorted(problem.path for problem in caught.value.problems)
    assert paths == ["$.parameters.expr", "$.parameters.expression"]
    assert server.stats.requests("executeTool") == 1  # only the valid call was sent
    assert failed.status == models.ToolStatus.ERROR
    assert "division by zero" in failed.error


# -------------------------------------------------------------------------------- shutdown


async def test_close_drains_publishes_and_closes_streams_and_subscriptions(server: ServerHandle) -> None:
    server.faults.add(Fault.latency(0.3, route="publishMessage"))
    client = make_client(server)
    durable = await client.subscribe("shutdown.durable", durable=True, wait=0.2)
    plain = await client.subscribe("shutdown.plain", wait=0.2)
    since = await emit(client, "shutdown.events", 1)
    stream = client.stream_events(["shutdown.events"], since=since)
    await take(stream, 1)
    acks: list[models.PublishAck] = []

    async def publish() -> None:
        acks.append(await client.publish("shutdown.durable", {"pending": True}))

    publisher = spawn(publish, "test-publisher")
    while server.stats.requests("publishMessage") == 0:
        await sleep(0.01)
    await client.close()
    await publisher.join()
    assert len(acks) == 1  # the publish in flight was drained
    assert stream.closed
    assert await take(stream, 1) == []
    assert plain.closed
    assert durable.closed
    assert server.stats.requests("deleteSubscription") == 1  # the non-durable one
    assert server.state.bus.stats()["subscriptions"] == 1
    with pytest.raises(Exception, match="closed"):
        await client.publish("shutdown.durable", {"late": True})


# ----------------------------------------------------------------------------- reliability


async def test_one_thousand_messages_under_faults_none_lost_none_processed_twice() -> None:
    total = 1000
    faults = [
        Fault.status(503, retry_after=0, route="publishMessage", probability=0.1),
        Fault.drop(route="publishMessage", probability=0.03),
        Fault.drop(route="pollSubscription", probability=0.03),
        Fault.drop(route="ackMessages", probability=0.03),
    ]
    with run_server(tokens=[TOKEN], faults=faults, seed=7, **FAST_SERVER) as server:
        async with make_client(server) as client:
            subscription = await client.subscribe("reliability.>", visibility_timeout=1.0, wait=0.5, max_messages=50)
            processed: dict[str, int] = {}
            published: set[str] = set()

            def handler(message: models.BusMessage) -> None:
                processed[message.message_id] = processed.get(message.message_id, 0) + 1

            async def consume() -> None:
                await subscription.consume(handler, concurrency=4, limit=total)

            consumer = spawn(consume, "test-consumer")
            for index in range(total):
                if index == total // 2:
                    server.restart()
                while True:
                    try:
                        ack = await client.publish("reliability.msg", {"n": index}, idempotency_key=f"msg-{index}")
                    except (APIConnectionError, InternalServerError, CircuitBreakerOpenError):
                        await sleep(0.05)  # the same key again: never published twice
                        continue
                    published.add(ack.message_id)
                    break
            await consumer.join()
            await subscription.close()
    lost = published - set(processed)
    twice = [message_id for message_id, count in processed.items() if count > 1]
    print(f"\n1,000-message reliability: published={len(published)} lost={len(lost)} processed_twice={len(twice)}")
    assert len(published) == total
    assert lost == set()
    assert twice == []
