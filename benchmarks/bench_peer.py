"""Benchmark worker for the earlier public SDK, ``kei-agent-py-sdk==0.1.0b6`` (own virtualenv).

What 0.1.0b6 can do against our server: ``UnifiedKeiAgentClient.execute_action(action, parameters,
protocol=ProtocolType.RPC)`` after ``initialize()`` (``async with``). Each call goes through its
``execute_agent_operation`` → retry manager / circuit breaker → ``KEIRPCclient.__aenter__``, which
constructs a new ``httpx.AsyncClient`` (with a new SSL context) → ``POST /api/v1/rpc/act`` with
``Authorization: Bearer dev-token`` on a new TCP connection → ``raise_for_status()`` → ``.json()``
→ ``aclose()``. Its ``plan_task`` cannot succeed: 0.1.0b6 posts to ``/api/v1/rpc/plat`` (a typo in
the released package; our server answers 404, which it retries 3 times), and it has no blocking
client. So the comparison is on execute_action only, with its async client.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from bench_common import ACT_BODY, TOKEN, cpu, latency_summary, settled_rss, write_result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from kei_agent.protocol_types import Protocoltypee

    from kei_agent import AgentClientConfig, ProtocolConfig, UnifiedKeiAgentClient

    rpc = Protocoltypee.RPC

    def config(url: str) -> AgentClientConfig:
        return AgentClientConfig(base_url=url, api_token=TOKEN, agent_id="bench")

    # Only RPC enabled: the other protocol clients would try WebSocket / bus endpoints on initialize().
    protocols = ProtocolConfig(stream_enabled=False, bus_enabled=False, mcp_enabled=False)
    result: dict[str, Any] = {"variant": "b6"}
    params = ACT_BODY["parameters"]
    action = ACT_BODY["action"]
    async with UnifiedKeiAgentClient(config(args.ref_url), protocol_config=protocols) as client:
        for _ in range(args.warmup):
            await client.execute_action(action, params, protocol=rpc)
        held = settled_rss()
        latencies = []
        cpu0 = cpu()
        for _ in range(args.n):
            t0 = time.perf_counter()
            answer = await client.execute_action(action, params, protocol=rpc)
            latencies.append(time.perf_counter() - t0)
        used = cpu() - cpu0
        assert answer["status"] == "completed", answer
        result["seq"] = {"act": latency_summary(latencies, used)}
        after = settled_rss()
        result["rss"] = {"held": held, "after": after, "growth": after - held, "calls": args.n}
    if args.levels:
        tput: dict[str, Any] = {}
        async with UnifiedKeiAgentClient(config(args.fast_url), protocol_config=protocols) as client:
            for level in [int(x) for x in args.levels.split(",")]:
                per_task = max(1, args.tput_calls // level)

                failures: list[str] = []

                async def worker(count: int, failures: list[str] = failures) -> None:
                    for _ in range(count):
                        try:
                            await client.execute_action(action, params, protocol=rpc)
                        except Exception as exc:  # 0.1.0b6 is not safe for concurrent calls
                            failures.append(type(exc).__name__)

                await asyncio.gather(*(worker(1) for _ in range(level)))
                failures.clear()
                cpu0, wall0 = cpu(), time.perf_counter()
                await asyncio.gather(*(worker(per_task) for _ in range(level)))
                wall, used = time.perf_counter() - wall0, cpu() - cpu0
                calls = per_task * level
                ok = calls - len(failures)
                tput[str(level)] = {
                    "calls": calls,
                    "failed": len(failures),
                    "failure_types": sorted(set(failures)),
                    "calls_per_s": ok / wall,
                    "cpu_ms": used / calls * 1000.0,
                }
        result["tput"] = tput
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ref-url", required=True)
    parser.add_argument("--fast-url", required=True)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("-n", type=int, default=100)
    parser.add_argument("--levels", default="1,16,64")
    parser.add_argument("--tput-calls", type=int, default=64)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    result["python"] = sys.version.split()[0]
    write_result(args.out, result)


if __name__ == "__main__":
    main()
