"""Per-operation facts live only in the spec and what is generated from it: the hand-written
client code restates none of them (no operation path, no bus-name table), and the generated
contract agrees with the spec on each fact the engine reads."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from kei_agent._contract.operations import OPERATIONS, WEBSOCKET_PATH
from kei_agent.policies.retry import OperationPolicy
from tests.support.peers import REPO_ROOT, SPEC_PATH

HAND_WRITTEN = [
    path
    for package in ("kei_agent", "kei_agent_async")
    for path in sorted((REPO_ROOT / package).rglob("*.py"))
    # testing: the reference server; health: the application's own Kubernetes probe server,
    # which serves /health and /ready itself (the same names as the KEI API's root probes).
    if not {"_generated", "_contract", "_operations", "testing", "health", "__pycache__"} & set(path.parts)
]


def _spec() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


def _strings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def test_no_hand_written_module_restates_an_operation_path() -> None:
    paths = {spec.path for spec in OPERATIONS.values()} | {WEBSOCKET_PATH}
    found = [
        f"{path.relative_to(REPO_ROOT)}:{line}: {value!r}"
        for path in HAND_WRITTEN
        for line, value in _strings(path)
        if value in paths or value.startswith("/api/v1/")
    ]
    assert found == []


def test_no_hand_written_module_maps_bus_names_to_operations() -> None:
    bus_names = {spec.bus_operation for spec in OPERATIONS.values() if spec.bus_operation}
    found = []
    for path in HAND_WRITTEN:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Dict):
                keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
                values = {v.value for v in node.values if isinstance(v, ast.Constant)}
                if keys & bus_names and values & set(OPERATIONS):
                    found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    assert found == []


def test_the_generated_routes_agree_with_the_spec() -> None:
    spec = _spec()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if not isinstance(op, dict) or "operationId" not in op:
                continue
            route = OPERATIONS[op["operationId"]]
            policy = OperationPolicy.from_spec(bool(op.get("x-kei-idempotent")), op.get("x-kei-retry"))
            assert (route.method, route.path) == (method.upper(), path)
            assert route.idempotent == policy.idempotent
            assert route.retry_statuses == policy.retry_statuses
            assert route.protocols == tuple(op.get("x-kei-protocols", ["rpc"]))
            bus = op.get("x-kei-bus") or {}
            assert (route.bus_operation, route.bus_payload) == (bus.get("operation"), bus.get("payload"))
            assert ("bus" in route.protocols[1:]) == (route.bus_operation is not None), op["operationId"]


def test_execute_operation_may_be_carried_by_the_bus() -> None:
    route = OPERATIONS["executeOperation"]
    assert route.bus_operation == "{operation}"
    assert route.bus_payload == "data"
