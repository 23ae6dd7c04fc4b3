"""Request (and optionally response) validation against the spec's own schemas.

Validators are compiled once, when the app is built: one per parameter and one per request body
of every operation (JSON Schema Draft 2020-12, ``$ref`` resolved through a ``referencing``
registry holding the whole spec). A request is checked completely and every problem is reported
with its location: ``$.objective`` for the body, ``header:X-Agent-ID``, ``query:limit``,
``path:agent_id`` for parameters.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from kei_agent._contract.operations import OPERATIONS, OperationSpec

SPEC_URI = "urn:kei-agent:openapi"
Location = Literal["header", "query", "path"]

_INT = re.compile(r"^-?[0-9]+$")
_DATE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

FORMAT_CHECKER = FormatChecker()


@FORMAT_CHECKER.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE_TIME.match(value):
        return False
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem: where (JSON path or ``location:name``) and what."""

    path: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class BodyError(Exception):
    """The body is not JSON at all (a 400, not a 422)."""


@dataclass(frozen=True, slots=True)
class ParamRule:
    name: str
    location: Location
    required: bool
    kind: str
    validator: Draft202012Validator


@dataclass(frozen=True, slots=True)
class OperationValidator:
    operation: OperationSpec
    params: tuple[ParamRule, ...]
    body: Draft202012Validator | None
    body_required: bool
    #: 422 where the operation documents it, else 400.
    error_status: int


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes) -> Any:
    """Parse a request body; :class:`BodyError` when it is not UTF-8 JSON."""
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BodyError(f"The body is not valid JSON: {exc}") from None


def json_path(parts: Iterable[str | int]) -> str:
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.match(part):
            out += f".{part}"
        else:
            out += "[" + json.dumps(part) + "]"
    return out


def _errors(validator: Draft202012Validator, instance: Any, prefix: tuple[str | int, ...] = ()) -> list[FieldError]:
    found: list[FieldError] = []
    for error in validator.iter_errors(instance):
        found.extend(_describe(error, prefix))
    unique = {(e.path, e.message): e for e in found}
    return sorted(unique.values(), key=lambda e: (e.path, e.message))


def _describe(error: ValidationError, prefix: tuple[str | int, ...]) -> list[FieldError]:
    base = (*prefix, *error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        required = error.validator_value if isinstance(error.validator_value, list) else []
        missing = [name for name in required if isinstance(name, str) and name not in error.instance]
        return [FieldError(json_path((*base, name)), "is required") for name in missing]
    return [FieldError(json_path(base), error.message)]


class SpecValidators:
    """Every validator the server needs, compiled from the spec once."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self._spec = spec
        resource: Resource[Any] = DRAFT202012.create_resource(dict(spec))
        self._registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
        self._schemas: dict[str, Draft202012Validator] = {}
        self.operations: dict[str, OperationValidator] = {
            op_id: self._compile_operation(op) for op_id, op in OPERATIONS.items()
        }

    # --------------------------------------------------------------- compile
    def _validator(self, schema: Mapping[str, Any]) -> Draft202012Validator:
        return Draft202012Validator(dict(schema), registry=self._registry, format_checker=FORMAT_CHECKER)

    def schema(self, name: str) -> Draft202012Validator:
        """The validator of ``components/schemas/<name>`` (compiled on first use, then kept)."""
        validator = self._schemas.get(name)
        if validator is None:
            if name not in self._spec["components"]["schemas"]:
                raise KeyError(name)
            validator = self._validator({"$ref": f"{SPEC_URI}#/components/schemas/{name}"})
            self._schemas[name] = validator
        return validator

    def _resolve(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in node:
            target: Any = self._spec
            for part in str(node["$ref"]).removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def _compile_operation(self, op: OperationSpec) -> OperationValidator:
        item = self._spec["paths"][op.path]
        raw_op = item[op.method.lower()]
        params: list[ParamRule] = []
        for raw in [*item.get("parameters", []), *raw_op.get("parameters", [])]:
            param = self._resolve(raw)
            schema = dict(param.get("schema", {}))
            kind = str(self._resolve(schema).get("type", "string"))
            params.append(
                ParamRule(
                    name=str(param["name"]),
                    location=param["in"],
                    required=bool(param.get("required", False)),
                    kind=kind,
                    validator=self._validator(self._absolute(schema)),
                )
            )
        body: Draft202012Validator | None = None
        body_required = False
        if "requestBody" in raw_op:
            request_body = self._resolve(raw_op["requestBody"])
            body_required = bool(request_body.get("required", False))
            schema = request_body["content"]["application/json"]["schema"]
            body = self._validator(self._absolute(schema))
        error_status = 422 if "422" in raw_op.get("responses", {}) else 400
        return OperationValidator(op, tuple(params), body, body_required, error_status)

    def _absolute(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """Rewrite local ``#/...`` references to the registry's URI (the schema lives outside it)."""

        def rewrite(node: Any) -> Any:
            if isinstance(node, dict):
                return {
                    key: (
                        f"{SPEC_URI}{value}"
                        if key == "$ref" and isinstance(value, str) and value.startswith("#")
                        else rewrite(value)
                    )
                    for key, value in node.items()
                }
            if isinstance(node, list):
                return [rewrite(value) for value in node]
            return node

        result: dict[str, Any] = rewrite(dict(schema))
        return result

    # -------------------------------------------------------------- validate
    def check_params(
        self,
        validator: OperationValidator,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        path_params: Mapping[str, Any],
    ) -> tuple[dict[str, Any], list[FieldError]]:
        """Coerce and check every declared parameter; returns (values by name, problems)."""
        values: dict[str, Any] = {}
        errors: list[FieldError] = []
        for rule in validator.params:
            source: Mapping[str, Any]
            if rule.location == "header":
                source = headers
            elif rule.location == "query":
                source = query
            else:
                source = path_params
            raw = source.get(rule.name)
            where = f"{rule.location}:{rule.name}"
            if raw is None:
                if rule.required:
                    errors.append(FieldError(where, "is required"))
                continue
            value, problem = _coerce(str(raw), rule.kind)
            if problem is not None:
                errors.append(FieldError(where, problem))
                continue
            found = [FieldError(where, e.message) for e in validator_errors(rule.validator, value)]
            if found:
                errors.extend(found)
            else:
                values[rule.name] = value
        return values, errors

    def check_body(self, validator: OperationValidator, body: Any) -> list[FieldError]:
        if validator.body is None:
            return []
        return _errors(validator.body, body)

    def check(self, schema_name: str, instance: Any, prefix: tuple[str | int, ...] = ()) -> list[FieldError]:
        """Problems of ``instance`` against ``components/schemas/<schema_name>``."""
        return _errors(self.schema(schema_name), instance, prefix)


def validator_errors(validator: Draft202012Validator, instance: Any) -> list[FieldError]:
    return _errors(validator, instance)


def _coerce(raw: str, kind: str) -> tuple[Any, str | None]:
    if kind == "integer":
        if not _INT.match(raw):
            return None, "must be an integer"
        return int(raw), None
    if kind == "number":
        try:
            number = float(raw)
        except ValueError:
            return None, "must be a number"
        if not math.isfinite(number):
            return None, "must be a finite number"
        return (int(number) if _INT.match(raw) else number), None
    if kind == "boolean":
        if raw not in ("true", "false"):
            return None, "must be true or false"
        return raw == "true", None
    return raw, None
