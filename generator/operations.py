"""Step 3: ``kei_agent_async/_operations`` - every spec operation as a typed method of the clients.

Each method takes the operation's own parameters (names, types and defaults as the low-level
client's ``_get_kwargs`` declares them, read from the freshly generated ``kei_agent/_generated``),
accepts the body as the generated model or a plain mapping, plus the per-call options every
operation has (``timeout``, ``extra_headers``, ``idempotency_key``, ``protocol``), and runs the
call through the client's engine (auth, validation, retries, breaker, fallback, deadline).
Operations that answer with a stream of events (``text/event-stream``) are left to the clients'
``stream_events()``. ``with_raw_response`` gives the same methods returning a ``RawResponse`` (parsed model, status,
headers, request id, retries taken). The blocking twin is generated from it by the next step.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import yaml

from . import REPO_ROOT, SPEC_PATH
from .contract import _METHODS, _snake
from .postprocess import finish_package

#: Header parameters the engine sets on every request (not arguments of the generated methods).
ENGINE_HEADERS = frozenset(
    {"x_agent_id", "x_correlation_id", "x_tenant_id", "idempotency_key", "traceparent", "x_kei_retry_count"}
)

_HEAD = '''"""Every operation of the KEI API as a typed method: ``client.operations.<operation>(...)``.

Generated from ``openapi/kei-agent.yaml``: an operation added to the spec appears here after
``python -m generator``. Each call goes through the client's full engine (authentication, input
validation, retries, circuit breaker, protocol fallback, one deadline, correlation ids, logging
and audit). Per call: ``timeout`` (seconds or ``httpx.Timeout`` per attempt; the call's deadline stays),
``extra_headers``, ``idempotency_key`` (sent on every attempt and fallback) and ``protocol``.
``client.operations.with_raw_response.<operation>(...)`` returns a :class:`RawResponse` with
the parsed model, the status, the headers, the ``X-Request-ID`` and the retries taken.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

from kei_agent._generated.types import UNSET, Unset
from kei_agent.policies.routing import Protocol

from kei_agent.responses import RawResponse

if TYPE_CHECKING:
    from kei_agent_async._pipeline import Pipeline
{model_imports}

__all__ = ["Operations", "RawOperations"]


class Operations:
    """The spec's operations as methods; each returns the parsed response model."""

    __slots__ = ("_pipeline",)

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    @property
    def with_raw_response(self) -> RawOperations:
        """The same operations, returning a :class:`RawResponse` (model, status, headers, ...)."""
        return RawOperations(self._pipeline)
{methods}

class RawOperations:
    """The spec's operations as methods; each returns a :class:`RawResponse`."""

    __slots__ = ("_pipeline",)

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
{raw_methods}
'''

_OPTIONS = (
    "        timeout: float | httpx.Timeout | None = None,\n"
    "        extra_headers: Mapping[str, str] | None = None,\n"
    "        idempotency_key: str | None = None,\n"
    "        protocol: str | Protocol | None = None,\n"
)

_CALL = (
    "        {target} = await self._pipeline.call(\n"
    "            {operation_id!r},\n"
    "            {{{arguments}}},\n"
    "            timeout=timeout,\n"
    "            extra_headers=extra_headers,\n"
    "            idempotency_key=idempotency_key,\n"
    "            protocol=protocol,\n"
    "            raw={raw},\n"
    "        )\n"
    "        return result\n"
)


class _Param:
    def __init__(self, name: str, annotation: str, default: str | None, positional: bool) -> None:
        self.name = name
        self.annotation = annotation
        self.default = default
        self.positional = positional


def _params(module_path: Path) -> list[_Param]:
    """The arguments of the low-level module's ``_get_kwargs`` (without the engine's headers)."""
    tree = ast.parse(module_path.read_text(encoding="utf-8"))
    func = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "_get_kwargs")
    params: list[_Param] = []
    positional = func.args.posonlyargs + func.args.args
    pos_defaults: list[ast.expr | None] = [None] * (len(positional) - len(func.args.defaults))
    pos_defaults += list(func.args.defaults)
    for arg, default in zip(positional, pos_defaults, strict=True):
        params.append(_Param(arg.arg, ast.unparse(arg.annotation) if arg.annotation else "Any", _src(default), True))
    for arg, kw_default in zip(func.args.kwonlyargs, func.args.kw_defaults, strict=True):
        if arg.arg in ENGINE_HEADERS:
            continue
        params.append(
            _Param(arg.arg, ast.unparse(arg.annotation) if arg.annotation else "Any", _src(kw_default), False)
        )
    return params


def _src(node: ast.expr | None) -> str | None:
    return None if node is None else ast.unparse(node)


def _names(annotation: str) -> set[str]:
    return {
        node.id
        for node in ast.walk(ast.parse(annotation, mode="eval"))
        if isinstance(node, ast.Name) and node.id[:1].isupper() and node.id not in {"Unset", "Any", "UNSET"}
    }


def _method(
    op_id: str, op: dict[str, Any], method: str, path: str, params: list[_Param], returns: str, raw: bool
) -> str:
    lines = [f"\n    async def {_snake(op_id)}(\n", "        self,\n"]
    positional = [p for p in params if p.positional]
    keyword = [p for p in params if not p.positional]
    for p in positional:
        default = f" = {p.default}" if p.default is not None else ""
        lines.append(f"        {p.name}: {p.annotation}{default},\n")
    lines.append("        *,\n")
    for p in sorted(keyword, key=lambda p: p.default is not None):
        annotation = f"{p.annotation} | Mapping[str, Any]" if p.name == "body" else p.annotation
        default = f" = {p.default}" if p.default is not None else ""
        lines.append(f"        {p.name}: {annotation}{default},\n")
    lines.append(_OPTIONS)
    result_type = f"RawResponse[{returns}]" if raw else returns
    lines.append(f"    ) -> {result_type}:\n")
    summary = str(op.get("summary") or op_id).strip().rstrip(".")
    lines.append(f'        """{summary}.\n\n        ``{method.upper()} {path}`` (``{op_id}``).\n        """\n')
    arguments = ", ".join(f"{p.name!r}: {p.name}" for p in params)
    target = f"result: {result_type}"
    lines.append(_CALL.format(target=target, operation_id=op_id, arguments=arguments, raw=raw))
    return "".join(lines)


def _returns(spec: dict[str, Any], op: dict[str, Any]) -> str:
    from .contract import _ref_name, _resolve

    success = next(code for code in op["responses"] if str(code).startswith("2"))
    response = _resolve(spec, op["responses"][success])
    content = (response.get("content") or {}).get("application/json")
    if content is None:
        return "None"
    return _ref_name(content.get("schema")) or "Any"


def _streams(spec: dict[str, Any], op: dict[str, Any]) -> bool:
    from .contract import _resolve

    success = next(code for code in op["responses"] if str(code).startswith("2"))
    content = _resolve(spec, op["responses"][success]).get("content") or {}
    return bool(content) and "application/json" not in content


def render_operations(
    dest: Path, spec_path: Path = SPEC_PATH, generated: Path = REPO_ROOT / "kei_agent" / "_generated"
) -> None:
    """Render ``kei_agent_async/_operations`` for ``spec_path`` into the (non-existent) ``dest``."""
    with spec_path.open(encoding="utf-8") as fh:
        spec = yaml.safe_load(fh)
    methods: list[str] = []
    raw_methods: list[str] = []
    models: set[str] = set()
    for path, item in spec["paths"].items():
        for method in _METHODS:
            if method not in item:
                continue
            op = item[method]
            op_id = op["operationId"]
            if _streams(spec, op):
                continue  # a stream of events, not one JSON answer: the clients' stream_events() reads it
            module = generated / "api" / op["tags"][0] / f"{_snake(op_id)}.py"
            params = _params(module)
            returns = _returns(spec, op)
            for p in params:
                models |= _names(p.annotation)
            if returns not in {"None", "Any"}:
                models.add(returns)
            methods.append(_method(op_id, op, method, path, params, returns, raw=False))
            raw_methods.append(_method(op_id, op, method, path, params, returns, raw=True))
    model_imports = "".join(f"    from kei_agent._generated.models import {name}\n" for name in sorted(models))
    dest.mkdir(parents=True)
    (dest / "__init__.py").write_text(
        _HEAD.format(model_imports=model_imports, methods="".join(methods), raw_methods="".join(raw_methods)),
        encoding="utf-8",
    )
    finish_package(dest)
    (dest / "py.typed").unlink()
