"""Micro-benchmarks of the steps our pipeline adds to each call (no network: precise, repeatable).

Each step is timed with ``timeit`` (best of ``--repeat``), in microseconds per call, with the
objects a real ``plan_task`` / ``execute_action`` call uses (sync flavour; the async flavour
runs the same core code). Steps whose internals changed are reported as ``n/a`` with the reason.
The numbers are the cost of the step itself; the end-to-end effect is in the what-if table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import timeit
import uuid
from collections.abc import Callable
from typing import Any

from bench_common import ACT_BODY, PLAN_BODY, TOKEN, write_result


def steps() -> dict[str, tuple[str, Callable[[], Callable[[], Any]]]]:
    """name -> (what it is, factory of the timed callable); factories may raise when internals moved."""
    import httpx

    from kei_agent import AgentClientConfig
    from kei_agent._contract.operations import OPERATIONS
    from kei_agent._generated import models
    from kei_agent.policies.retry import OperationPolicy, RetryPolicy
    from kei_agent.policies.routing import Protocol
    from kei_agent_sync import KeiAgentClient
    from kei_agent_sync import _pipeline as pipeline_module

    client = KeiAgentClient(AgentClientConfig(base_url="http://127.0.0.1:9", api_token=TOKEN))
    pipeline = client._pipeline
    shared = client._shared
    plan_spec, act_spec = OPERATIONS["planTask"], OPERATIONS["executeAction"]
    plan_module, act_module = shared.module(plan_spec), shared.module(act_spec)

    def plan_body() -> Any:
        return models.PlanRequest(
            objective=PLAN_BODY["objective"], context=models.PlanRequestContext.from_dict(dict(PLAN_BODY["context"]))
        )

    def act_body() -> Any:
        return models.ActionRequest(
            action=ACT_BODY["action"], parameters=models.ActionRequestParameters.from_dict(dict(ACT_BODY["parameters"]))
        )

    plan_request, act_request = plan_body(), act_body()
    plan_response = _canned_response("plan")

    def build_response() -> Callable[[], Any]:
        response = httpx.Response(
            200,
            content=plan_response,
            headers={"content-type": "application/json"},
            request=httpx.Request("POST", "http://127.0.0.1:9/api/v1/rpc/plan"),
        )
        response.read()
        return lambda: models.PlanResponse.from_dict(json.loads(response.content))

    def raw_json_parse() -> Callable[[], Any]:
        return lambda: json.loads(plan_response)

    def auth_flow() -> Callable[[], Any]:
        auth = client._auth
        request = httpx.Request("POST", "http://127.0.0.1:9/api/v1/rpc/plan", extensions={"kei_scopes": ()})

        def run() -> None:
            flow = auth.sync_auth_flow(request)
            next(flow)
            with contextlib.suppress(StopIteration):
                flow.send(httpx.Response(200))

        return run

    def breaker() -> Callable[[], Any]:
        b = shared.breaker(Protocol.RPC)

        def run() -> None:
            b.before_call()
            b.record_success()

        return run

    def locks() -> Callable[[], Any]:
        lock = shared.lock

        def run() -> None:
            for _ in range(3):  # _route: candidates; _send: before_call, record
                with lock.held():
                    pass

        return run

    def telemetry() -> Callable[[], Any]:
        return telemetry_of(shared.telemetry)

    def telemetry_of(telemetry: Any) -> Callable[[], Any]:
        headers: dict[str, str] = {}

        def run() -> None:
            with (
                telemetry.operation("planTask"),
                telemetry.attempt(
                    operation_id="planTask",
                    method="POST",
                    url_template=plan_spec.path,
                    url="http://127.0.0.1:9/api/v1/rpc/plan",
                    protocol="rpc",
                    retry_count=0,
                    headers=headers,
                ),
            ):
                pass

        return run

    def otel_idle() -> Callable[[], Any]:
        from kei_agent.observability._otel import OtelInstrumentation

        return telemetry_of(OtelInstrumentation())

    def correlation() -> Callable[[], Any]:
        from kei_agent._context import get_correlation_id, new_correlation_id, reset_correlation_id, set_correlation_id

        def run() -> None:
            token = set_correlation_id(get_correlation_id() or new_correlation_id())
            reset_correlation_id(token)

        return run

    return {
        "models.PlanRequest(...)": ("client.plan_task builds the request model", lambda: plan_body),
        "validate planTask": (
            "_pipeline._validate (spec schema + hardening limits)",
            lambda: lambda: pipeline_module._validate(plan_spec, plan_request.to_dict(), {"body": plan_request}),
        ),
        "validate executeAction": (
            "_pipeline._validate (spec schema + hardening limits)",
            lambda: lambda: pipeline_module._validate(act_spec, act_request.to_dict(), {"body": act_request}),
        ),
        "_get_kwargs planTask": (
            "generated request building (model.to_dict)",
            lambda: lambda: plan_module._get_kwargs(body=plan_request),
        ),
        "_get_kwargs executeAction": (
            "generated request building (model.to_dict)",
            lambda: lambda: act_module._get_kwargs(body=act_request),
        ),
        "parse planTask": ("the engine's parsing into the attrs models (json.loads + from_dict)", build_response),
        "json.loads(plan body)": ("for scale: what raw httpx .json() does", raw_json_parse),
        "_headers": (
            "Pipeline._headers (User-Agent, X-Agent-ID, X-Correlation-ID, Idempotency-Key)",
            lambda: lambda: pipeline._headers(plan_spec, "c" * 32, "k" * 32),
        ),
        "uuid4().hex x2": (
            "correlation id + Idempotency-Key",
            lambda: lambda: (uuid.uuid4().hex, uuid.uuid4().hex),
        ),
        "os.urandom(16).hex() x2": (
            "for scale: the same two 128-bit random ids without uuid.UUID objects",
            lambda: lambda: (os.urandom(16).hex(), os.urandom(16).hex()),
        ),
        "RetryPolicy(config)": (
            "built per call in _send; seeds a new random.Random from os.urandom",
            lambda: lambda: RetryPolicy(client.config.retry),
        ),
        "random.Random()": ("for scale: the seeding alone", lambda: random.Random),
        "retry.decide(Success)": (
            "the retry policy's decision after a successful attempt",
            lambda: _decide(RetryPolicy(client.config.retry), OperationPolicy(idempotent=False, retry_statuses=None)),
        ),
        "OperationPolicy(...)": (
            "built per call in _send",
            lambda: lambda: OperationPolicy(idempotent=False, retry_statuses=plan_spec.retry_statuses),
        ),
        "lock.held() x3": ("PolicyLock.held, a @contextmanager generator", locks),
        "router.candidates": (
            "ProtocolRouter.candidates",
            lambda: lambda: shared.router.candidates("planTask", None),
        ),
        "breaker admit+record": ("CircuitBreaker.before_call + record_success", breaker),
        "_attempt_timeout": (
            "a new httpx.Timeout per attempt",
            lambda: lambda: pipeline_module._attempt_timeout(httpx.Timeout(30.0, connect=10.0), 120.0),
        ),
        "httpx.Timeout(copy)": (
            "what httpx's build_request does with an explicit timeout= argument",
            lambda: (lambda base: lambda: httpx.Timeout(base))(httpx.Timeout(30.0, connect=10.0)),
        ),
        "_log.bind(...)": (
            "per-call loguru bind in _send (used only when a retry is logged)",
            lambda: lambda: pipeline_module._log.bind(operation="planTask", protocol="rpc", correlation_id="c"),
        ),
        "_perf._performance": (
            "per-call DEBUG performance record (logging not configured: the record is dropped)",
            lambda: _as_pipeline_code(
                "lambda: perf._performance('DEBUG', 'planTask', 1.234, {'protocol': 'rpc', 'outcome': 'success'})",
                perf=pipeline_module._perf,
            ),
        ),
        "telemetry scopes": ("operation + attempt scope (no OpenTelemetry)", telemetry),
        "telemetry scopes, OTel idle": (
            "the same with OpenTelemetry installed but no provider configured (the otel-idle row)",
            otel_idle,
        ),
        "correlation id scope": ("set/reset the call's correlation id (a new random id)", correlation),
        "auth flow": ("BearerAuth.sync_auth_flow: token + Authorization header (per attempt)", auth_flow),
    }


def _decide(policy: Any, op: Any) -> Callable[[], Any]:
    from kei_agent.policies.retry import Success

    return lambda: policy.decide(attempt=1, outcome=Success(200), op=op, idempotency_key_sent=True, elapsed=0.001)


def _as_pipeline_code(source: str, **names: Any) -> Callable[[], Any]:
    """A callable whose frame belongs to ``kei_agent_sync._pipeline``: loguru decides whether a
    record is enabled by the calling module's name, so the call must look like the pipeline's."""
    namespace = {"__name__": "kei_agent_sync._pipeline", **names}
    fn: Callable[[], Any] = eval(source, namespace)
    return fn


def _canned_response(kind: str) -> bytes:
    path = os.environ.get("BENCH_RESPONSES")
    if path:
        with open(path) as fh:
            return str(json.load(fh)[f"/api/v1/rpc/{kind}"]["body"]).encode()
    raise SystemExit("BENCH_RESPONSES (the recorded responses file) is not set")


class _Counting:
    """Wraps a callable and counts its calls."""

    def __init__(self, counts: dict[str, int], key: str, fn: Any, *, method: bool) -> None:
        self.counts, self.key, self.fn, self.method = counts, key, fn, method

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.counts[self.key] = self.counts.get(self.key, 0) + 1
        return self.fn(*args, **kwargs)

    def __get__(self, obj: Any, owner: Any = None) -> Any:  # behave like a function on classes
        if obj is None or not self.method:
            return self
        return lambda *args, **kwargs: self(obj, *args, **kwargs)


class _CountingLog:
    def __init__(self, counts: dict[str, int], log: Any) -> None:
        self._counts, self._log = counts, log

    def bind(self, **kwargs: Any) -> Any:
        self._counts["_log.bind(...)"] = self._counts.get("_log.bind(...)", 0) + 1
        return self._log.bind(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._log, name)


def census(pairs: int = 50) -> dict[str, Any]:
    """How often each hot-path step runs per call, in our sync client and in raw httpx.

    Calls go through ``httpx.MockTransport`` (canned responses, no network), with counting wrappers
    around the steps the recommendations are about.
    """
    import random as random_module
    import uuid as uuid_module

    import httpx
    from loguru import logger

    from kei_agent import AgentClientConfig
    from kei_agent.logging._logger import EnterpriseLogger
    from kei_agent.policies import retry as retry_module
    from kei_agent_sync import KeiAgentClient, _backend, auth
    from kei_agent_sync import _pipeline as pipeline_module

    logger.disable(__name__)  # the counting wrapper becomes the records' caller: keep them silent
    bodies = {kind: _canned_response(kind) for kind in ("plan", "act")}

    def handler(request: httpx.Request) -> httpx.Response:
        kind = request.url.path.rsplit("/", 1)[-1]
        return httpx.Response(200, content=bodies[kind], headers={"content-type": "application/json"})

    counts: dict[str, int] = {}
    targets: list[tuple[Any, str, str, bool]] = [
        (retry_module.RetryPolicy, "__init__", "RetryPolicy(config)", True),
        (random_module.Random, "seed", "random.Random()", True),
        (uuid_module, "uuid4", "uuid4().hex x2", False),
        (httpx.Timeout, "__init__", "httpx.Timeout(...)", True),
        (_backend.PolicyLock, "held", "lock.held() x3", True),
        (EnterpriseLogger, "_performance", "_perf._performance", True),
        (auth.KeiAuth, "sync_auth_flow", "auth flow", True),
        (pipeline_module, "_validate", "validate planTask", False),
    ]
    saved: list[tuple[Any, str, Any]] = []
    out: dict[str, Any] = {"missing": []}
    for owner, name, key, method in targets:
        if not hasattr(owner, name):
            out["missing"].append(key)
            continue
        original = owner.__dict__.get(name) if isinstance(owner, type) else getattr(owner, name)
        saved.append((owner, name, original))
        setattr(owner, name, _Counting(counts, key, getattr(owner, name) if not method else original, method=method))
    log = getattr(pipeline_module, "_log", None)
    if log is not None:
        pipeline_module._log = _CountingLog(counts, log)
    try:
        results: dict[str, dict[str, float]] = {}
        for variant in ("raw", "kei"):
            counts.clear()
            if variant == "raw":
                with httpx.Client(base_url="http://127.0.0.1:9", transport=httpx.MockTransport(handler)) as raw:
                    counts.clear()
                    for _ in range(pairs):
                        for kind, body in (("plan", PLAN_BODY), ("act", ACT_BODY)):
                            raw.post(
                                f"/api/v1/rpc/{kind}", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
                            ).json()
            else:
                config = AgentClientConfig(base_url="http://127.0.0.1:9", api_token=TOKEN)
                with KeiAgentClient(config, transport=httpx.MockTransport(handler)) as kei:
                    kei.plan_task(objective="warm up")  # first-call imports and lazy set-up
                    counts.clear()
                    for _ in range(pairs):
                        kei.plan_task(objective=PLAN_BODY["objective"], context=PLAN_BODY["context"])
                        kei.execute_action(ACT_BODY["action"], ACT_BODY["parameters"])
            results[variant] = {key: value / (2 * pairs) for key, value in counts.items()}
        out["per_call"] = results
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)
        if log is not None:
            pipeline_module._log = log
    return out


def measure(repeat: int) -> dict[str, Any]:
    os.environ["KEI_OTEL_DISABLED"] = "1"
    out: dict[str, Any] = {}
    for name, (what, factory) in steps().items():
        try:
            fn = factory()
            timer = timeit.Timer(fn)
            probe = timer.timeit(number=100) / 100
            number = max(100, int(0.05 / max(probe, 1e-9)))  # about 50 ms per repeat
            best = min(timer.repeat(repeat=repeat, number=number)) / number
            out[name] = {"what": what, "us": best * 1e6}
        except Exception as exc:
            out[name] = {"what": what, "us": None, "error": f"{type(exc).__name__}: {exc}"}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    # Before any client exists: the instrumentation is chosen once per process (a default install has no OTel).
    os.environ["KEI_OTEL_DISABLED"] = "1"
    try:
        counted = census()
    except Exception as exc:  # internals moved: the report then shows every recommendation
        counted = {"error": f"{type(exc).__name__}: {exc}"}
    write_result(args.out, {"steps": measure(args.repeat), "census": counted})


if __name__ == "__main__":
    main()
