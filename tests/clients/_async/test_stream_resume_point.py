"""``EventStream.last_event_id`` is the last event handed out, not the last one received: a
consumer that stops early (events still buffered) and resumes from it misses nothing.

Written once for the async client; tests/clients/_sync holds the generated twin.
"""

from __future__ import annotations

import pytest

from kei_agent import AgentClientConfig
from kei_agent.testing import ServerHandle
from kei_agent_async import KeiAgentClient

pytestmark = pytest.mark.anyio

TOKEN = "scenario-token"


async def test_stopping_early_and_resuming_misses_no_buffered_event(server: ServerHandle) -> None:
    config = AgentClientConfig(base_url=server.base_url, api_token=TOKEN)
    async with KeiAgentClient(config) as client:
        acks = [await client.publish_event("resume.test", {"n": n}) for n in range(3)]
        since = str(int(acks[0].event_id) - 1)
        async with client.stream_events(["resume.*"], since=since) as stream:
            assert stream.last_event_id == since
            first = []
            async for event in stream:
                first.append(event.id)
                break
            # The replay of all three events arrived together; only the first was handed out.
            assert first == [acks[0].event_id]
            assert stream.last_event_id == acks[0].event_id
            assert f"last_event_id={acks[0].event_id!r}" in repr(stream)
            resume = stream.last_event_id
        seen = []
        async with client.stream_events(["resume.*"], since=resume) as again:
            async for event in again:
                seen.append(event["data"]["n"])
                if len(seen) == 2:
                    break
            assert again.last_event_id == acks[2].event_id
    assert seen == [1, 2]
