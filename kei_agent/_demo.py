"""``kei-agent demo``: the documented flow with the async and the sync client, readable output."""

from __future__ import annotations

import asyncio
import time

from .errors import KeiSDKError


def _report(flavour: str) -> object:
    def report(step: str, elapsed_ms: float, summary: str) -> None:
        print(f"  [{flavour:5}] {step:<26} {elapsed_ms:7.1f} ms  {summary}", flush=True)

    return report


def run_demo(base_url: str, token: str) -> int:
    """Run the flow with both clients against ``base_url``; returns the exit code."""
    from kei_agent_async._demo import run_flow as run_async
    from kei_agent_sync._demo import run_flow as run_sync

    started = time.perf_counter()
    try:
        print("Async client (kei_agent_async.KeiAgentClient, also kei_agent.UnifiedKeiAgentClient):")
        asyncio.run(run_async(base_url, token, "demo-async", _report("async")))  # type: ignore[arg-type]
        print("\nSync client (kei_agent_sync.KeiAgentClient), the same flow without an event loop:")
        run_sync(base_url, token, "demo-sync", _report("sync"))  # type: ignore[arg-type]
    except KeiSDKError as exc:
        print(f"\ndemo failed: {exc}")
        return 1
    print(f"\nAll steps succeeded with both clients in {time.perf_counter() - started:.2f} s.")
    return 0
