"""The WebSocket transport of event streams (httpx-ws) when the network path goes silent.

A TCP relay in front of the reference server drops every byte of the open connections without
closing them (a dead path, no FIN, no RST). Written once for the async client; tests/clients/_sync
holds the generated twin.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kei_agent import AgentClientConfig, ConnectionConfig, ProtocolError, RetryConfig
from kei_agent._generated import models
from kei_agent.policies import StreamTransport
from kei_agent.testing import ServerHandle, run_server
from kei_agent_async import EventStream, KeiAgentClient
from kei_agent_async._backend import Signal, sleep, spawn
from tests.support.connections import ConnectionCounter, count_connections

pytestmark = pytest.mark.anyio

TOKEN = "websocket-token"


@pytest.fixture
def server() -> Iterator[ServerHandle]:
    with run_server(tokens=[TOKEN], ws_ping_interval=30.0) as handle:
        yield handle


@pytest.fixture
def relay(server: ServerHandle) -> Iterator[ConnectionCounter]:
    with count_connections(server.base_url) as counter:
        yield counter


def make_client(url: str) -> KeiAgentClient:
    retry = RetryConfig(max_attempts=3, base_delay=0.01, max_delay=0.05)
    return KeiAgentClient(AgentClientConfig(base_url=url, api_token=TOKEN, agent_id="ws-agent", retry=retry))


async def test_a_silent_peer_is_detected_by_keepalive_and_the_stream_resumes(
    server: ServerHandle, relay: ConnectionCounter
) -> None:
    async with make_client(server.base_url) as publisher, make_client(relay.url) as client:
        first = await publisher.publish_event("demo.silent", {"i": 0})
        stream = client.stream_events(["demo.silent"], since=str(int(first.event_id) - 1), keepalive=0.3)
        events: list[models.StreamEvent] = []
        async for event in stream:
            events.append(event)
            break
        assert stream.transport is StreamTransport.WEBSOCKET
        relay.freeze()  # the open connection goes silent
        await publisher.publish_event("demo.silent", {"i": 1})
        async for event in stream:  # no pong within keepalive: lost, re-opened, resumed
            events.append(event)
            break
        assert stream.reconnects >= 1
        assert stream.transport is StreamTransport.WEBSOCKET
        await stream.close()
    assert [event["data"]["i"] for event in events] == [0, 1]


async def test_closing_a_stream_whose_peer_went_silent_returns(server: ServerHandle, relay: ConnectionCounter) -> None:
    async with make_client(server.base_url) as publisher, make_client(relay.url) as client:
        first = await publisher.publish_event("demo.close", {"i": 0})
        stream = client.stream_events(["demo.close"], since=str(int(first.event_id) - 1), keepalive=30.0)
        async for _ in stream:
            break
        relay.freeze()  # the close frame will never be answered
        closed = Signal()

        async def close() -> None:
            await stream.close()
            closed.set()

        worker = spawn(close, "test-stream-close")
        assert await closed.wait(10.0)  # bounded: close does not wait for an answer that never comes
        await worker.join()
        assert stream.closed


async def test_closing_a_stream_while_its_reader_waits_for_a_frame_ends_the_reader(server: ServerHandle) -> None:
    # The reader waits in the WebSocket session for a frame that never comes; closing the stream
    # from elsewhere must end that wait (in the sync client the session's queue is never closed,
    # so a wait without a bound hung forever in about one close out of two).
    async with make_client(server.base_url) as client:
        for round_ in range(12):
            stream = client.stream_events([f"demo.idle.{round_}"], keepalive=30.0)
            await stream.__aenter__()
            assert stream.transport is StreamTransport.WEBSOCKET
            finished = Signal()
            received: list[object] = []

            async def read(
                stream: EventStream = stream, finished: Signal = finished, received: list[object] = received
            ) -> None:
                async for event in stream:
                    received.append(event)
                finished.set()

            reader = spawn(read, "test-idle-reader")
            await sleep(0.1)  # the reader is now waiting for a frame
            await stream.close()
            assert await finished.wait(10.0), f"round {round_}: the reader still waits after close()"
            await reader.join()
            assert received == []
            assert stream.closed


async def test_websocket_over_tls_uses_the_clients_tls_settings(tls_server: tuple[ServerHandle, Path]) -> None:
    server, ca_file = tls_server
    retry = RetryConfig(max_attempts=1)
    verify = ConnectionConfig(verify=str(ca_file))
    trusted = AgentClientConfig(base_url=server.base_url, api_token="scenario-token", retry=retry, connection=verify)
    async with KeiAgentClient(trusted) as client:
        first = await client.publish_event("demo.tls", {"i": 0})
        stream = client.stream_events(["demo.tls"], since=str(int(first.event_id) - 1), transport="websocket")
        async for event in stream:
            assert event["data"]["i"] == 0
            break
        assert stream.transport is StreamTransport.WEBSOCKET
        await stream.close()
    untrusted = AgentClientConfig(base_url=server.base_url, api_token="scenario-token", retry=retry)
    async with KeiAgentClient(untrusted) as client:
        stream = client.stream_events(["demo.tls"], transport="websocket")
        with pytest.raises(ProtocolError, match="CERTIFICATE_VERIFY_FAILED"):
            await stream.__aenter__()  # connects
        await stream.close()
