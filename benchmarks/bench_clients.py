"""Benchmark worker for raw httpx and our clients: one variant per process, results as JSON.

Variants: ``raw-sync`` / ``raw-async`` (a reused ``httpx.Client`` / ``httpx.AsyncClient``: POST the
JSON body with the bearer header, ``raise_for_status()``, ``.json()``) and ``kei-sync`` /
``kei-async`` (``kei_agent_sync`` / ``kei_agent_async.KeiAgentClient`` with default settings),
optionally with one layer switched on or off (``--layer``): ``novalidate``
(``validate_requests=False``), ``log-info`` / ``log-debug`` (``configure_logging`` to a JSON file
at that level), ``otel-idle`` (OpenTelemetry installed, no provider configured), ``tracing``
(OpenTelemetry SDK ``TracerProvider`` + ``SimpleSpanProcessor`` + an exporter that drops spans).
Unless the layer is an OpenTelemetry one, ``KEI_OTEL_DISABLED=1`` is set: the default install
(runtime dependencies only) has no OpenTelemetry.

Tasks: ``seq`` (sequential keep-alive calls of plan_task and execute_action: per-call wall
latency and process CPU), ``tput`` (async only: ``--tput-op`` at 1/16/64 concurrent calls),
``rss`` (RSS holding one client, and after ``--rss-calls`` more calls).

Async transport (``--transport``): ``httpx`` (httpx's own transport, httpcore; the default, also for
our client, whatever its ``transport="auto"`` would choose) or ``aiohttp`` (raw: ``httpx.AsyncClient``
over httpx-aiohttp's ``AiohttpTransport``; ours: ``ConnectionConfig(transport="aiohttp")``).
``--pool N`` sets both pool limits (connections, kept alive) to N; without it the defaults apply.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench_common import (
    ACT_BODY,
    ACT_PATH,
    PLAN_BODY,
    PLAN_PATH,
    TOKEN,
    cpu,
    latency_summary,
    rss_bytes,
    settled_rss,
    write_result,
)

OPS = ("plan", "act")


def setup_layer(layer: str, workdir: str) -> dict[str, Any]:
    """Switch the optional layer on (before any client exists); returns a description."""
    if layer in ("otel-idle", "tracing"):
        os.environ.pop("KEI_OTEL_DISABLED", None)
    else:
        os.environ["KEI_OTEL_DISABLED"] = "1"
    if layer in ("log-info", "log-debug"):
        try:
            from kei_agent.logging import configure_logging
        except ImportError as exc:  # pragma: no cover - the logging layer is not built yet
            raise SystemExit(f"SKIP: kei_agent.logging.configure_logging is missing ({exc})") from exc
        # Import both flavours first: a flavour package imported after configure_logging() disables
        # its own records again (loguru is per package name), and the file would stay empty.
        import kei_agent_async  # noqa: F401
        import kei_agent_sync  # noqa: F401

        path = os.path.join(workdir, "kei-agent.log")
        configure_logging(
            level="INFO" if layer == "log-info" else "DEBUG",
            enable_structured=True,
            enable_console=False,
            enable_file=True,
            file_path=path,
        )
        return {"log_file": path}
    if layer == "tracing":
        try:
            from opentelemetry import trace
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
        except ImportError as exc:  # pragma: no cover
            raise SystemExit(f"SKIP: OpenTelemetry SDK not installed ({exc})") from exc

        class DropExporter(SpanExporter):
            exported = 0

            def export(self, spans: Any) -> SpanExportResult:
                DropExporter.exported += len(spans)
                return SpanExportResult.SUCCESS

        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(DropExporter()))
        trace.set_tracer_provider(provider)
        return {"exporter": DropExporter}
    return {}


def layer_check(layer: str, info: dict[str, Any]) -> dict[str, Any]:
    """Evidence that the layer was really on (spans exported, log lines written)."""
    if layer == "tracing":
        return {"spans_exported": info["exporter"].exported}
    if "log_file" in info:
        from loguru import logger

        logger.complete()
        try:
            with open(info["log_file"], "rb") as fh:
                return {"log_lines": sum(1 for _ in fh)}
        except FileNotFoundError:
            return {"log_lines": 0}
    return {}


# --------------------------------------------------------------------------- client factories


def make_sync(variant: str, base_url: str, layer: str) -> tuple[Any, dict[str, Callable[[], Any]]]:
    if variant == "raw-sync":
        import httpx

        client = httpx.Client(base_url=base_url)
        headers = {"Authorization": f"Bearer {TOKEN}"}

        def raw(path: str, body: dict[str, Any]) -> Callable[[], Any]:
            def call() -> Any:
                response = client.post(path, json=body, headers=headers)
                response.raise_for_status()
                return response.json()

            return call

        return client, {"plan": raw(PLAN_PATH, PLAN_BODY), "act": raw(ACT_PATH, ACT_BODY)}
    if layer == "lowlevel":
        from kei_agent._generated.api.rpc import execute_action, plan_task
        from kei_agent._generated.client import AuthenticatedClient
        from kei_agent._generated.models import ActionRequest, PlanRequest

        low = AuthenticatedClient(base_url=base_url, token=TOKEN)
        return low, {
            "plan": lambda: plan_task.sync(client=low, body=PlanRequest.from_dict(PLAN_BODY)),
            "act": lambda: execute_action.sync(client=low, body=ActionRequest.from_dict(ACT_BODY)),
        }
    from kei_agent import AgentClientConfig
    from kei_agent_sync import KeiAgentClient

    config = AgentClientConfig(base_url=base_url, api_token=TOKEN, validate_requests=layer != "novalidate")
    kei = KeiAgentClient(config)
    if layer == "operations":
        ops = kei.operations
        return kei, {"plan": lambda: ops.plan_task(body=PLAN_BODY), "act": lambda: ops.execute_action(body=ACT_BODY)}
    return kei, {
        "plan": lambda: kei.plan_task(objective=PLAN_BODY["objective"], context=PLAN_BODY["context"]),
        "act": lambda: kei.execute_action(ACT_BODY["action"], ACT_BODY["parameters"]),
    }


def make_async(
    variant: str, base_url: str, layer: str, transport: str = "httpx", pool: int | None = None
) -> tuple[Any, dict[str, Callable[[], Awaitable[Any]]]]:
    if variant == "raw-async":
        import httpx

        limits = (
            httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
            if pool
            else httpx.Limits(max_connections=100, max_keepalive_connections=20)
        )
        if transport == "aiohttp":
            from httpx_aiohttp import AiohttpTransport

            client = httpx.AsyncClient(base_url=base_url, transport=AiohttpTransport(limits=limits))
        else:
            client = httpx.AsyncClient(base_url=base_url, limits=limits)
        headers = {"Authorization": f"Bearer {TOKEN}"}

        def raw(path: str, body: dict[str, Any]) -> Callable[[], Awaitable[Any]]:
            async def call() -> Any:
                response = await client.post(path, json=body, headers=headers)
                response.raise_for_status()
                return response.json()

            return call

        return client, {"plan": raw(PLAN_PATH, PLAN_BODY), "act": raw(ACT_PATH, ACT_BODY)}
    if layer == "lowlevel":
        from kei_agent._generated.api.rpc import execute_action, plan_task
        from kei_agent._generated.client import AuthenticatedClient
        from kei_agent._generated.models import ActionRequest, PlanRequest

        low = AuthenticatedClient(base_url=base_url, token=TOKEN)
        return low, {
            "plan": lambda: plan_task.asyncio(client=low, body=PlanRequest.from_dict(PLAN_BODY)),
            "act": lambda: execute_action.asyncio(client=low, body=ActionRequest.from_dict(ACT_BODY)),
        }
    from kei_agent import AgentClientConfig, ConnectionConfig
    from kei_agent_async import KeiAgentClient

    sizes = {"max_connections": pool, "max_keepalive_connections": pool} if pool else {}
    config = AgentClientConfig(
        base_url=base_url,
        api_token=TOKEN,
        validate_requests=layer != "novalidate",
        connection=ConnectionConfig(transport=transport, **sizes),
    )
    kei = KeiAgentClient(config)
    if layer == "operations":
        ops = kei.operations
        return kei, {"plan": lambda: ops.plan_task(body=PLAN_BODY), "act": lambda: ops.execute_action(body=ACT_BODY)}
    return kei, {
        "plan": lambda: kei.plan_task(objective=PLAN_BODY["objective"], context=PLAN_BODY["context"]),
        "act": lambda: kei.execute_action(ACT_BODY["action"], ACT_BODY["parameters"]),
    }


# --------------------------------------------------------------------------- tasks


def seq_sync(calls: dict[str, Callable[[], Any]], warmup: int, n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for op in OPS:
        call = calls[op]
        for _ in range(warmup):
            call()
        latencies = []
        perf = time.perf_counter
        cpu0 = cpu()
        for _ in range(n):
            t0 = perf()
            call()
            latencies.append(perf() - t0)
        out[op] = latency_summary(latencies, cpu() - cpu0)
    return out


async def seq_async(calls: dict[str, Callable[[], Awaitable[Any]]], warmup: int, n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for op in OPS:
        call = calls[op]
        for _ in range(warmup):
            await call()
        latencies = []
        perf = time.perf_counter
        cpu0 = cpu()
        for _ in range(n):
            t0 = perf()
            await call()
            latencies.append(perf() - t0)
        out[op] = latency_summary(latencies, cpu() - cpu0)
    return out


async def throughput(call: Callable[[], Awaitable[Any]], levels: list[int], total: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for level in levels:
        per_task = max(1, total // level)

        async def worker(count: int) -> None:
            for _ in range(count):
                await call()

        await asyncio.gather(*(worker(3) for _ in range(level)))  # open the connections, warm up
        cpu0, wall0 = cpu(), time.perf_counter()
        await asyncio.gather(*(worker(per_task) for _ in range(level)))
        wall, used = time.perf_counter() - wall0, cpu() - cpu0
        calls = per_task * level
        out[str(level)] = {"calls": calls, "calls_per_s": calls / wall, "cpu_ms": used / calls * 1000.0}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("variant", choices=["raw-sync", "raw-async", "kei-sync", "kei-async"])
    parser.add_argument("--layer", default="default")
    parser.add_argument("--tasks", default="seq")
    parser.add_argument("--ref-url", help="server for seq (the reference server)")
    parser.add_argument("--fast-url", help="server for tput and rss (the minimal server)")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("-n", type=int, default=500)
    parser.add_argument("--levels", default="1,16,64")
    parser.add_argument("--tput-calls", type=int, default=1280)
    parser.add_argument("--rss-calls", type=int, default=10000)
    parser.add_argument("--transport", choices=["httpx", "aiohttp"], default="httpx", help="async transport")
    parser.add_argument("--pool", type=int, default=None, help="pool limits (connections = kept alive)")
    parser.add_argument("--tput-op", choices=list(OPS), default="act", help="the call of the tput task")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    tasks = args.tasks.split(",")
    levels = [int(x) for x in args.levels.split(",")]
    is_async = args.variant.endswith("async")
    result: dict[str, Any] = {
        "variant": args.variant,
        "layer": args.layer,
        "python": sys.version.split()[0],
        "transport": args.transport,
    }

    with tempfile.TemporaryDirectory() as workdir:
        info = setup_layer(args.layer, workdir)
        if "rss" in tasks:
            # Import everything the client needs first, so "holding one client" is client + imports.
            result["rss_start"] = rss_bytes()
        if is_async:
            result.update(asyncio.run(_run_async(args, tasks, levels)))
        else:
            result.update(_run_sync(args, tasks))
        result["layer_check"] = layer_check(args.layer, info)
    write_result(args.out, result)


def _run_sync(args: argparse.Namespace, tasks: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if "seq" in tasks:
        client, calls = make_sync(args.variant, args.ref_url, args.layer)
        with client:
            result["seq"] = seq_sync(calls, args.warmup, args.n)
    if "rss" in tasks:
        client, calls = make_sync(args.variant, args.fast_url, args.layer)
        with client:
            for _ in range(50):
                calls["plan"]()
                calls["act"]()
            held = settled_rss()
            for i in range(args.rss_calls):
                calls[OPS[i % 2]]()
            after = settled_rss()
        result["rss"] = {"held": held, "after": after, "growth": after - held, "calls": args.rss_calls}
    return result


async def _run_async(args: argparse.Namespace, tasks: list[str], levels: list[int]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    transport = {"transport": args.transport, "pool": args.pool}
    if "seq" in tasks:
        client, calls = make_async(args.variant, args.ref_url, args.layer, **transport)
        async with client:
            result["seq"] = await seq_async(calls, args.warmup, args.n)
    if "tput" in tasks:
        client, calls = make_async(args.variant, args.fast_url, args.layer, **transport)
        async with client:
            result["tput"] = await throughput(calls[args.tput_op], levels, args.tput_calls)
    if "rss" in tasks:
        client, calls = make_async(args.variant, args.fast_url, args.layer, **transport)
        async with client:
            for _ in range(50):
                await calls["plan"]()
                await calls["act"]()
            held = settled_rss()
            for i in range(args.rss_calls):
                await calls[OPS[i % 2]]()
            after = settled_rss()
        result["rss"] = {"held": held, "after": after, "growth": after - held, "calls": args.rss_calls}
    return result


if __name__ == "__main__":
    main()
