"""cProfile of one client variant over sequential calls (against the minimal server).

The profile's own-time ("tottime") is grouped by area (our pipeline, our core, generated models,
httpx, httpcore, h11, ...). Built-in functions (``isinstance``, ``dict.get``, ...) are charged to
their callers, proportionally. Time blocked in the kernel waiting for the server (``epoll`` in
the async flavour; ``recv`` in the sync one) is reported apart and left out of the CPU share.
cProfile adds a fixed cost per Python function call, so code with many small calls looks more
expensive than it is: use the shares to rank, and the CPU-per-call ratios for the size of effects.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import re
from collections import defaultdict
from typing import Any

from bench_clients import OPS, make_async, make_sync
from bench_common import write_result

WAITING = re.compile(r"[<{]method '(poll|select|recv|recv_into)' of '(select\.epoll|_socket\.socket)")
SOCKET_IO = re.compile(r"[<{]method '(send|sendall|sendto|recv|recv_into)' of '_socket\.socket'")

AREAS = [
    ("/kei_agent/_generated/", "kei_agent._generated (request building, models)"),
    ("/kei_agent/validation/", "kei_agent.validation"),
    ("/kei_agent/logging/", "kei_agent.logging"),
    ("/kei_agent/observability/", "kei_agent.observability"),
    ("/kei_agent/policies/", "kei_agent.policies"),
    ("/kei_agent/", "kei_agent (other core)"),
    ("/kei_agent_sync/auth", "kei_agent_*.auth"),
    ("/kei_agent_async/auth", "kei_agent_*.auth"),
    ("/kei_agent_sync/", "kei_agent_* (client, pipeline, backend)"),
    ("/kei_agent_async/", "kei_agent_* (client, pipeline, backend)"),
    ("/httpx/", "httpx"),
    ("/httpcore/", "httpcore"),
    ("/h11/", "h11"),
    ("/anyio/", "anyio/sniffio"),
    ("/sniffio/", "anyio/sniffio"),
    ("/loguru/", "loguru"),
    ("/cattrs/", "attrs/cattrs"),
    ("/attr/", "attrs/cattrs"),
    ("/opentelemetry/", "opentelemetry"),
    ("/asyncio/", "asyncio (event loop)"),
    ("/json/", "stdlib json"),
]


def area_of(filename: str) -> str:
    for marker, name in AREAS:
        if marker in filename:
            return name
    return "stdlib (other)"


def label(func: tuple[str, int, str]) -> str:
    filename, line, name = func
    if filename == "~":
        return name
    for root in ("/site-packages/", "/work/main/", "/lib/python3."):
        if root in filename:
            filename = filename.split(root, 1)[1]
            break
    return f"{filename}:{line}:{name}"


def analyse(profile: cProfile.Profile, calls: int) -> dict[str, Any]:
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    areas: dict[str, float] = defaultdict(float)
    waiting = 0.0
    total = 0.0
    for func, (_cc, _nc, tt, _ct, callers) in stats.items():
        total += tt
        filename, _line, name = func
        if filename == "~":
            if WAITING.search(name):
                waiting += tt
                continue
            if SOCKET_IO.search(name):
                areas["socket send/recv (syscalls)"] += tt
                continue
            caller_tt = sum(v[2] for v in callers.values()) or 1.0
            if not callers:
                areas["stdlib (other)"] += tt
            for caller, value in callers.items():
                areas[area_of(caller[0]) if caller[0] != "~" else "stdlib (other)"] += tt * value[2] / caller_tt
            continue
        areas[area_of(filename)] += tt
    cpu_total = total - waiting
    ours = []
    for func, (_cc, nc, tt, ct, _callers) in stats.items():
        filename = func[0]
        if ("/kei_agent" in filename) and ct / cpu_total >= 0.004:
            ours.append(
                {"function": label(func), "ncalls": nc, "cum_share": ct / cpu_total, "tot_share": tt / cpu_total}
            )
    ours.sort(key=lambda item: -item["cum_share"])
    return {
        "calls": calls,
        "profiled_cpu_us_per_call": cpu_total / calls * 1e6,
        "waiting_us_per_call": waiting / calls * 1e6,
        "areas": {name: value / cpu_total for name, value in sorted(areas.items(), key=lambda kv: -kv[1])},
        "functions": ours[:40],
    }


def profile_variant(variant: str, url: str, n: int, warmup: int) -> dict[str, Any]:
    profile = cProfile.Profile()
    if variant.endswith("async"):

        async def run() -> None:
            client, calls = make_async(variant, url, "default")
            async with client:
                for _ in range(warmup):
                    for op in OPS:
                        await calls[op]()
                profile.enable()
                for _ in range(n):
                    for op in OPS:
                        await calls[op]()
                profile.disable()

        asyncio.run(run())
    else:
        client, calls = make_sync(variant, url, "default")
        with client:
            for _ in range(warmup):
                for op in OPS:
                    calls[op]()
            profile.enable()
            for _ in range(n):
                for op in OPS:
                    calls[op]()
            profile.disable()
    return analyse(profile, n * len(OPS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("variant", choices=["raw-sync", "raw-async", "kei-sync", "kei-async"])
    parser.add_argument("--url", required=True)
    parser.add_argument("-n", type=int, default=1000, help="rounds of plan_task + execute_action")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.environ["KEI_OTEL_DISABLED"] = "1"
    result = profile_variant(args.variant, args.url, args.n, args.warmup)
    result["variant"] = args.variant
    write_result(args.out, result)


if __name__ == "__main__":
    main()
