"""What-if measurements: how much client CPU each recommended change would save.

The library is not changed: each "fix" is simulated by patching one internal of the running
process (restored afterwards), and the client CPU per call (plan_task + execute_action, minimal
server) is measured in blocks that interleave all modes, round after round, in one process.
A patch whose target no longer exists (the code moved on) is reported as skipped.

Modes: ``raw`` (reused httpx client, the floor), ``raw+headers`` (raw plus the headers the contract
asks for: User-Agent, X-Agent-ID, X-Correlation-ID, Idempotency-Key, X-Kei-Retry-Count), ``kei``
(our client, defaults), ``kei+fixes`` (every change in PATCHES at once; validation stays on)
and, with ``--each``, ``kei`` with one change at a time (small effects drown in the noise of a
shared machine: the precise per-step costs are in ``bench_parts``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import os
import random
import statistics
import types
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from bench_common import ACT_BODY, ACT_PATH, PLAN_BODY, PLAN_PATH, TOKEN, cpu, write_result

PATCHES: dict[str, str] = {
    "reuse-retry-policy": "one RetryPolicy (and random.Random) per client instead of one per call",
    "plain-lock": "PolicyLock.held() returns the threading.Lock itself (no @contextmanager generator)",
    "lazy-perf-record": "skip the per-call DEBUG performance record when DEBUG is disabled",
    "no-log-bind": "no per-call loguru bind() in _send (bind only when a retry is logged)",
    "static-bearer-header": "static bearer token as a client header instead of an httpx.Auth flow",
    "client-default-timeout": "pass the client's Timeout unless the call deadline is shorter",
}


#: The changes whose patch targets exist in the current code (``kei+fixes`` applies these).
APPLICABLE: list[str] = []


class _Skip(Exception):
    pass


def _target(module: Any, name: str) -> Any:
    if not hasattr(module, name):
        raise _Skip(f"{module.__name__}.{name} not found")
    return getattr(module, name)


_MISSING = object()


@contextlib.contextmanager
def patched(obj: Any, name: str, value: Any) -> Iterator[None]:
    """Set ``obj.name`` for the block; restore (or remove) it afterwards."""
    _target(obj, name)
    try:
        old = vars(obj).get(name, _MISSING)
    except TypeError:  # __slots__: only a class attribute could be replaced
        raise _Skip(f"{type(obj).__name__}.{name} cannot be patched") from None
    setattr(obj, name, value)
    try:
        yield
    finally:
        if old is _MISSING:
            delattr(obj, name)
        else:
            setattr(obj, name, old)


@contextlib.contextmanager
def apply(mode: str, flavour: str, client: Any) -> Iterator[None]:
    """Simulate one recommended change (or all of them) on ``client``'s flavour."""
    pipeline = importlib.import_module(f"kei_agent_{flavour}._pipeline")
    backend = importlib.import_module(f"kei_agent_{flavour}._backend")
    retry = importlib.import_module("kei_agent.policies.retry")
    names = APPLICABLE if mode == "kei+fixes" else [mode[len("kei+") :]] if mode.startswith("kei+") else []
    with contextlib.ExitStack() as stack:
        for name in names:
            if name == "reuse-retry-policy":
                stack.enter_context(patched(retry, "random", types.SimpleNamespace(Random=_shared_random)))
            elif name == "plain-lock":
                stack.enter_context(patched(backend.PolicyLock, "held", _plain_held))
            elif name == "lazy-perf-record":
                _target(_target(pipeline, "_perf"), "_performance")
                quiet = types.SimpleNamespace(_performance=lambda *a, **k: None)
                stack.enter_context(patched(pipeline, "_perf", quiet))
            elif name == "no-log-bind":
                log = _target(pipeline, "_log")
                stack.enter_context(patched(pipeline, "_log", _NoBind(log)))
            elif name == "static-bearer-header":
                options = client._pipeline.options
                import attrs

                fast = attrs.evolve(options, headers={**options.headers, "Authorization": f"Bearer {TOKEN}"})
                new = pipeline.Pipeline(client._shared, fast, None)
                stack.enter_context(patched(client, "_pipeline", new))
            elif name == "client-default-timeout":
                import httpx

                stack.enter_context(
                    patched(pipeline.Pipeline, "_attempt_timeout", lambda self, remaining: httpx.USE_CLIENT_DEFAULT)
                )
        yield


_SHARED_RANDOM = random.Random()
_NULL_CONTEXT = contextlib.nullcontext()


def _shared_random(*seed: Any) -> random.Random:
    return random.Random(*seed) if seed else _SHARED_RANDOM


def _plain_held(self: Any) -> Any:
    return getattr(self, "_lock", _NULL_CONTEXT)


class _NoBind:
    def __init__(self, log: Any) -> None:
        self._log = log

    def bind(self, **_: Any) -> Any:
        return self._log

    def __getattr__(self, name: str) -> Any:
        return getattr(self._log, name)


def contract_headers() -> dict[str, str]:
    return {
        "Authorization": f"Bearer {TOKEN}",
        "User-Agent": "kei-agent-py-sdk/0.1.0 python/3.11.7",
        "X-Agent-ID": "kei-agent",
        "X-Correlation-ID": uuid.uuid4().hex,
        "Idempotency-Key": uuid.uuid4().hex,
        "X-Kei-Retry-Count": "0",
    }


def run_sync(url: str, modes: list[str], rounds: int, block: int) -> dict[str, list[float]]:
    import httpx

    from kei_agent import AgentClientConfig
    from kei_agent_sync import KeiAgentClient

    raw = httpx.Client(base_url=url)
    kei = KeiAgentClient(AgentClientConfig(base_url=url, api_token=TOKEN))

    def raw_calls(with_headers: bool) -> None:
        for path, body in ((PLAN_PATH, PLAN_BODY), (ACT_PATH, ACT_BODY)):
            headers = contract_headers() if with_headers else {"Authorization": f"Bearer {TOKEN}"}
            response = raw.post(path, json=body, headers=headers)
            response.raise_for_status()
            response.json()

    def kei_calls() -> None:
        kei.plan_task(objective=PLAN_BODY["objective"], context=PLAN_BODY["context"])
        kei.execute_action(ACT_BODY["action"], ACT_BODY["parameters"])

    out: dict[str, list[float]] = {mode: [] for mode in modes}
    with raw, kei:
        for r in range(rounds + 1):  # round 0 warms up every mode
            order = modes[r % len(modes) :] + modes[: r % len(modes)]
            for mode in order:
                if mode.startswith("raw"):
                    fn: Callable[[], None] = lambda m=mode: raw_calls(m == "raw+headers")  # noqa: E731
                    ctx: Any = contextlib.nullcontext()
                else:
                    fn, ctx = kei_calls, apply(mode, "sync", kei)
                with ctx:
                    cpu0 = cpu()
                    for _ in range(block):
                        fn()
                    used = cpu() - cpu0
                if r:
                    out[mode].append(used / (2 * block) * 1000.0)
    return out


async def run_async(url: str, modes: list[str], rounds: int, block: int) -> dict[str, list[float]]:
    import httpx

    from kei_agent import AgentClientConfig
    from kei_agent_async import KeiAgentClient

    raw = httpx.AsyncClient(base_url=url)
    kei = KeiAgentClient(AgentClientConfig(base_url=url, api_token=TOKEN))

    async def raw_calls(with_headers: bool) -> None:
        for path, body in ((PLAN_PATH, PLAN_BODY), (ACT_PATH, ACT_BODY)):
            headers = contract_headers() if with_headers else {"Authorization": f"Bearer {TOKEN}"}
            response = await raw.post(path, json=body, headers=headers)
            response.raise_for_status()
            response.json()

    async def kei_calls() -> None:
        await kei.plan_task(objective=PLAN_BODY["objective"], context=PLAN_BODY["context"])
        await kei.execute_action(ACT_BODY["action"], ACT_BODY["parameters"])

    out: dict[str, list[float]] = {mode: [] for mode in modes}
    async with raw, kei:
        for r in range(rounds + 1):
            order = modes[r % len(modes) :] + modes[: r % len(modes)]
            for mode in order:
                if mode.startswith("raw"):
                    fn: Callable[[], Awaitable[None]] = lambda m=mode: raw_calls(m == "raw+headers")  # noqa: E731
                    ctx: Any = contextlib.nullcontext()
                else:
                    fn, ctx = kei_calls, apply(mode, "async", kei)
                with ctx:
                    cpu0 = cpu()
                    for _ in range(block):
                        await fn()
                    used = cpu() - cpu0
                if r:
                    out[mode].append(used / (2 * block) * 1000.0)
    return out


def usable_modes(flavour: str, each: bool) -> tuple[list[str], dict[str, str]]:
    """The modes to measure (``each``: one per change too); changes whose targets are gone, with why."""
    from kei_agent import AgentClientConfig

    client_module = importlib.import_module(f"kei_agent_{flavour}")
    client = client_module.KeiAgentClient(AgentClientConfig(base_url="http://127.0.0.1:9", api_token=TOKEN))
    modes, skipped = ["raw", "raw+headers", "kei"], {}
    try:
        for name in PATCHES:
            try:
                with apply(f"kei+{name}", flavour, client):
                    pass
                APPLICABLE.append(name)
                if each:
                    modes.append(f"kei+{name}")
            except (_Skip, AttributeError, TypeError) as exc:
                skipped[name] = str(exc)
        if APPLICABLE:
            modes.append("kei+fixes")
    finally:
        closing = client.close()
        if asyncio.iscoroutine(closing):
            asyncio.run(closing)
    return modes, skipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("flavour", choices=["sync", "async"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--block", type=int, default=150, help="plan_task + execute_action pairs per block")
    parser.add_argument("--each", action="store_true", help="also measure each change on its own")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.environ["KEI_OTEL_DISABLED"] = "1"
    modes, skipped = usable_modes(args.flavour, args.each)
    if args.flavour == "sync":
        samples = run_sync(args.url, modes, args.rounds, args.block)
    else:
        samples = asyncio.run(run_async(args.url, modes, args.rounds, args.block))
    kei = samples["kei"]
    result: dict[str, Any] = {
        "flavour": args.flavour,
        "applied": APPLICABLE,
        "skipped": skipped,
        "descriptions": PATCHES,
        "modes": {},
    }
    for mode, values in samples.items():
        saving = [k - v for k, v in zip(kei, values, strict=True)]
        result["modes"][mode] = {
            "cpu_ms": values,
            "cpu_ms_median": statistics.median(values),
            # Best of the rounds, like timeit: other processes on a shared machine only ever add time.
            "cpu_ms_best": min(values),
            "saving_ms_median": statistics.median(saving),
            "vs_raw": statistics.median([v / r for v, r in zip(values, samples["raw"], strict=True)]),
            "vs_raw_best": min(values) / min(samples["raw"]),
        }
    write_result(args.out, result)


if __name__ == "__main__":
    main()
