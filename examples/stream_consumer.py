"""An event-stream consumer: print events as they arrive, resume after the last one seen.

The stream connects over WebSocket, else Server-Sent Events, else long polling (WebSocket and SSE
need ``pip install "kei-agent-py-sdk[stream]"``); a lost connection is re-opened and resumed
without gap or duplicate. ``--since ID`` replays from an event id a previous run printed;
``--limit N`` stops after N events::

    KEI_API_URL=http://127.0.0.1:8080 KEI_API_TOKEN=dev-token python examples/stream_consumer.py --limit 2
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from kei_agent import AgentClientConfig
from kei_agent_async import KeiAgentClient


async def consume(topics: list[str], since: str | None, limit: int | None) -> int:
    seen = 0
    client = KeiAgentClient(AgentClientConfig.from_env())
    async with client, client.stream_events(topics, since=since) as stream:
        transport = stream.transport.value if stream.transport else "connecting"
        print(f"ready: {transport} {topics}", flush=True)
        async for event in stream:
            seen += 1
            print(f"event {event.id} {event.topic}: {event.data}", flush=True)
            if limit is not None and seen >= limit:
                break
        print(f"resume with --since {stream.last_event_id}", flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("topics", nargs="*", default=["reports.*"])
    parser.add_argument("--since", default=None, help="replay the events after this id")
    parser.add_argument("--limit", type=int, default=None, help="stop after this many events")
    args = parser.parse_args()
    try:
        return asyncio.run(consume(args.topics, args.since, args.limit))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
