"""Read ``openapi/kei-agent.yaml`` for spec-driven tests: operations, examples, expected models."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType
from typing import Any

import yaml

from .peers import SPEC_PATH

METHODS = ("get", "put", "post", "delete", "patch")


@cache
def load_spec() -> dict[str, Any]:
    with SPEC_PATH.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)  # type: ignore[no-any-return]


def snake(name: str) -> str:
    """camelCase / header names -> the generated Python names."""
    name = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower()


def resolve(node: Any) -> Any:
    spec = load_spec()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        target: Any = spec
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node


def ref_name(node: dict[str, Any]) -> str | None:
    ref = node.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


@dataclass
class Operation:
    operation_id: str
    method: str
    path: str
    tag: str
    raw: dict[str, Any]
    parameters: list[dict[str, Any]] = field(default_factory=list)

    @property
    def module(self) -> ModuleType:
        return importlib.import_module(f"kei_agent._generated.api.{self.tag}.{snake(self.operation_id)}")

    @property
    def body(self) -> dict[str, Any] | None:
        body = resolve(self.raw.get("requestBody"))
        return body if isinstance(body, dict) else None

    def success(self) -> tuple[int, str | None, dict[str, Any] | None]:
        """(status, content type, schema) of the documented 2xx response."""
        for code, resp in self.raw["responses"].items():
            if str(code).startswith("2"):
                content = resolve(resp).get("content") or {}
                for ctype, media in content.items():
                    return int(code), ctype, media.get("schema")
                return int(code), None, None
        raise AssertionError(f"{self.operation_id} documents no 2xx response")

    @property
    def scopes(self) -> list[str]:
        for requirement in self.raw.get("security", load_spec().get("security", [])):
            if "oauth2" in requirement:
                return list(requirement["oauth2"])
        return []


def operations() -> list[Operation]:
    result = []
    for path, item in load_spec()["paths"].items():
        shared = [resolve(p) for p in item.get("parameters", [])]
        for method in METHODS:
            if method not in item:
                continue
            op = item[method]
            params = shared + [resolve(p) for p in op.get("parameters", [])]
            result.append(Operation(op["operationId"], method, path, op["tags"][0], op, params))
    return result
