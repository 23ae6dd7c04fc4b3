"""Step 2: ``kei_agent/_contract`` - the spec as shipped data plus a typed operation table.

The SDK reads the contract at run time without YAML or a parser: ``spec.json`` is the spec as
JSON (for spec-derived validation and the reference server) and ``operations.py`` is a table of
each operation's method, path, generated module, success status, scopes and the ``x-kei-*``
extensions (idempotency, retryable statuses, protocols).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

# The SDK's own rule decides what x-kei-retry means (one implementation for generator and client).
from kei_agent.policies.retry import OperationPolicy

from . import SPEC_PATH
from .postprocess import finish_package

_METHODS = ("get", "put", "post", "delete", "patch")

_INIT = '''"""The wire contract as data, generated from ``openapi/kei-agent.yaml``.

* :data:`kei_agent._contract.operations.OPERATIONS` - one :class:`OperationSpec` per operation.
* :func:`load_spec` - the whole spec (a JSON copy shipped with the package), parsed once.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any


@cache
def load_spec() -> dict[str, Any]:
    """The OpenAPI document as a dict (parsed on first use, then cached)."""
    text = files(__name__).joinpath("spec.json").read_text(encoding="utf-8")
    spec: dict[str, Any] = json.loads(text)
    return spec
'''

_OPERATIONS_HEAD = '''"""Every operation of the KEI API with what the client needs to route, retry and authorise it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class OperationSpec:
    """One operation of the spec.

    ``retry_statuses`` is ``None`` when the spec says ``x-kei-retry: never`` (empty: the default
    statuses only). ``scopes`` lists the OAuth2 scopes the operation requires (empty: no
    authentication). ``path_params`` are the path template's parameters in order (spec names).
    ``bus_operation`` / ``bus_payload`` say how the bus carries the operation (``x-kei-bus``):
    the ``busRequest`` operation name (``{param}``: that path parameter's value) and ``"body"``
    or the name of the body property sent as the payload; ``None`` when the bus cannot carry it.
    """

    operation_id: str
    python_name: str
    method: str
    path: str
    path_params: tuple[str, ...]
    tag: str
    module: str
    success_status: int
    idempotent: bool
    retry_statuses: frozenset[int] | None
    protocols: tuple[str, ...]
    scopes: tuple[str, ...]
    auth_required: bool
    request_schema: str | None
    response_schema: str | None
    summary: str
    bus_operation: str | None
    bus_payload: str | None


'''


def _snake(name: str) -> str:
    name = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower()


def _ref_name(node: Any) -> str | None:
    if isinstance(node, dict) and isinstance(node.get("$ref"), str):
        return str(node["$ref"]).rsplit("/", 1)[-1]
    return None


def _resolve(spec: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec
        for part in str(node["$ref"])[2:].split("/"):
            target = target[part]
        node = target
    return node


def _operation_entries(spec: dict[str, Any]) -> list[str]:
    entries = []
    for path, item in spec["paths"].items():
        for method in _METHODS:
            if method not in item:
                continue
            op = item[method]
            op_id = op["operationId"]
            tag = op["tags"][0]
            success = next(code for code in op["responses"] if str(code).startswith("2"))
            content = (_resolve(spec, op["responses"][success]).get("content") or {}).get("application/json")
            body = _resolve(spec, op.get("requestBody")) or {}
            body_schema = (body.get("content") or {}).get("application/json", {}).get("schema")
            policy = OperationPolicy.from_spec(bool(op.get("x-kei-idempotent", False)), op.get("x-kei-retry"))
            statuses = policy.retry_statuses
            retry_repr = "None" if statuses is None else f"frozenset({sorted(statuses)!r})"
            bus = op.get("x-kei-bus") or {}
            path_params = tuple(re.findall(r"{([^}]+)}", path))
            security = op.get("security", spec.get("security", []))
            scopes: list[str] = []
            for requirement in security:
                scopes = list(requirement.get("oauth2", scopes))
            entries.append(
                f"    {op_id!r}: OperationSpec(\n"
                f"        operation_id={op_id!r},\n"
                f"        python_name={_snake(op_id)!r},\n"
                f"        method={method.upper()!r},\n"
                f"        path={path!r},\n"
                f"        path_params={path_params!r},\n"
                f"        tag={tag!r},\n"
                f"        module={f'kei_agent._generated.api.{tag}.{_snake(op_id)}'!r},\n"
                f"        success_status={int(success)},\n"
                f"        idempotent={bool(op.get('x-kei-idempotent', False))},\n"
                f"        retry_statuses={retry_repr},\n"
                f"        protocols={tuple(op.get('x-kei-protocols', ['rpc']))!r},\n"
                f"        scopes={tuple(scopes)!r},\n"
                f"        auth_required={bool(security)},\n"
                f"        request_schema={_ref_name(body_schema)!r},\n"
                f"        response_schema={_ref_name((content or {}).get('schema'))!r},\n"
                f"        summary={op.get('summary', '')!r},\n"
                f"        bus_operation={bus.get('operation')!r},\n"
                f"        bus_payload={bus.get('payload')!r},\n"
                f"    ),\n"
            )
    return entries


def _bus_names(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """(bus operation name, operationId) of the operations with a fixed ``x-kei-bus`` name."""
    names = []
    for item in spec["paths"].values():
        for method in _METHODS:
            bus = (item.get(method) or {}).get("x-kei-bus") or {}
            name = bus.get("operation")
            if isinstance(name, str) and not name.startswith("{"):
                names.append((name, item[method]["operationId"]))
    return names


def render_contract(dest: Path, spec_path: Path = SPEC_PATH) -> None:
    """Render ``kei_agent/_contract`` for ``spec_path`` into the (non-existent) directory ``dest``."""
    with spec_path.open(encoding="utf-8") as fh:
        spec = yaml.safe_load(fh)
    dest.mkdir(parents=True)
    (dest / "spec.json").write_text(json.dumps(spec, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (dest / "__init__.py").write_text(_INIT, encoding="utf-8")
    body = "".join(_operation_entries(spec))
    (dest / "operations.py").write_text(
        _OPERATIONS_HEAD
        + "OPERATIONS: Final[Mapping[str, OperationSpec]] = {\n"
        + body
        + "}\n\n"
        + "#: The bus operation names of the operations the bus carries (``x-kei-bus``) -> operationId.\n"
        + "BUS_OPERATIONS: Final[Mapping[str, str]] = {\n"
        + "".join(f"    {name!r}: {op_id!r},\n" for name, op_id in _bus_names(spec))
        + "}\n\n"
        + "#: The WebSocket endpoint of the event stream (``x-kei-websocket``; not an HTTP operation).\n"
        + f"WEBSOCKET_PATH: Final = {spec['x-kei-websocket']['path']!r}\n",
        encoding="utf-8",
    )
    finish_package(dest)
