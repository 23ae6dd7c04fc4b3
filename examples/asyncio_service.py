"""An asyncio service: one shared async client, concurrent requests, graceful shutdown.

Each objective on the command line is one incoming request; they are handled concurrently on one
pooled connection. SIGINT / SIGTERM stop taking new work, let the requests in progress finish
and close the client::

    KEI_API_URL=http://127.0.0.1:8080 KEI_API_TOKEN=dev-token python examples/asyncio_service.py "Report A" "Report B"
"""

from __future__ import annotations

import asyncio
import signal
import sys

from kei_agent import AgentClientConfig, KeiSDKError
from kei_agent_async import KeiAgentClient


async def handle(client: KeiAgentClient, objective: str) -> str:
    """One request: plan it and run its main action."""
    try:
        plan = await client.plan_task(objective=objective)
        result = await client.execute_action("generate_report", {"title": objective}, plan_id=plan.plan_id)
    except KeiSDKError as error:
        return f"{objective}: failed: {error}"
    return f"{objective}: {result.status} ({result['result']['document_id']})"


async def serve(objectives: list[str]) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with KeiAgentClient(AgentClientConfig.from_env()) as client:
        print(f"serving {len(objectives)} requests with {client!r}", flush=True)
        tasks = [asyncio.create_task(handle(client, objective)) for objective in objectives]
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        while stopper not in done and not all(task.done() for task in tasks):
            done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        if stopper in done:
            print("shutting down: finishing the requests in progress", flush=True)
        for line in await asyncio.gather(*tasks):
            print(line, flush=True)
        stopper.cancel()
    print("client closed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(serve(sys.argv[1:] or ["Report A", "Report B", "Report C"])))
