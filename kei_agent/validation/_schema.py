"""JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1) checks by jsonschema-rs, in our words.

:class:`SchemaCompiler` turns a schema of an OpenAPI document (or a tool's parameter schema) into a
:data:`Check`: a callable that appends every problem of a value, each with its JSON path
(``$.steps[0].name``) and a readable message, to a list. The validation itself is jsonschema-rs
(the ``validation`` extra, ``pip install "kei-agent-py-sdk[validation]"``): every keyword of the
dialect, ``$ref``, ``oneOf``, ``if``/``then``, ``patternProperties``, ``dependentRequired`` and
``format`` assertions included; a validator is compiled once per schema and costs well under a
microsecond on a valid body (BENCHMARKS.md, "Request validation"). This module only rewords its
errors into the SDK's messages. OpenAPI 3.0's ``nullable: true`` is honoured as ``"null"`` type.

Without the extra, :meth:`SchemaCompiler.compile` returns a check that accepts everything and logs
once that the server is left to validate (it answers 422 listing the problems).
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from types import ModuleType
from typing import Any, Final

from kei_agent.errors import FieldProblem

__all__ = [
    "VALIDATION_EXTRA",
    "Check",
    "SchemaCompiler",
    "child_path",
    "json_type",
    "schema_engine",
    "show_value",
]

#: A compiled schema: appends the problems of ``value`` (at ``path``) to ``problems``.
Check = Callable[[Any, str, list[FieldProblem]], None]

VALIDATION_EXTRA: Final = 'pip install "kei-agent-py-sdk[validation]"'

_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_SEGMENTS: dict[str, str] = {}


def _segment(text: str) -> str:
    found = _SEGMENTS.get(text)
    if found is None:
        found = f".{text}" if _IDENTIFIER.fullmatch(text) else f"[{text[:40]!r}]"
        if len(_SEGMENTS) < 10_000 and len(text) <= 64:
            _SEGMENTS[text] = found
    return found


def child_path(path: str, key: object) -> str:
    """JSON path of ``key`` below ``path``: ``$.name``, ``$['odd key']`` or ``$[3]``."""
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{path}[{key}]"
    return path + _segment(str(key))


def json_type(value: Any) -> str:
    """The JSON type name of a Python value (``"integer"`` for whole numbers only)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def show_value(value: Any) -> str:
    """A short repr for messages (long values are cut)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_engine_lock = threading.Lock()
_engine: list[ModuleType | None] = []


def schema_engine() -> ModuleType | None:
    """The ``jsonschema_rs`` module, or ``None`` (logged once) when the ``validation`` extra is missing."""
    if _engine:
        return _engine[0]
    with _engine_lock:
        if not _engine:
            try:
                module: ModuleType | None = importlib.import_module("jsonschema_rs")
            except ImportError:
                module = None
                from kei_agent.logging._logger import base_logger

                base_logger.bind(component="kei_agent.validation").warning(
                    "JSON schemas are not checked client-side without the validation extra ({extra}); "
                    "the server still validates every request",
                    extra=VALIDATION_EXTRA,
                )
            _engine.append(module)
    return _engine[0]


def _normalized(schema: Any) -> Any:
    """A copy with OpenAPI 3.0's ``nullable: true`` spelled as a ``"null"`` type (2020-12 has no ``nullable``)."""
    if isinstance(schema, Mapping):
        copy = {key: _normalized(value) for key, value in schema.items()}
        if copy.get("nullable") is True and "type" in copy:
            declared = copy["type"]
            types = [declared] if isinstance(declared, str) else list(declared)
            if "null" not in types:
                copy["type"] = [*types, "null"]
        return copy
    if isinstance(schema, list):
        return [_normalized(item) for item in schema]
    return schema


class SchemaCompiler:
    """Compiles schemas of one document (OpenAPI spec or tool schema); local ``$ref`` resolve against it."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        """``document`` is the whole spec (``#/components/...`` references point into it)."""
        self._document = document
        self._components: Any = None

    def resolve(self, ref: str) -> Mapping[str, Any]:
        """The node at a local ``$ref`` (``#/components/requestBodies/Plan``) of the document."""
        if not ref.startswith("#/"):
            raise ValueError(f"only local $ref are supported, got {ref!r}")
        node: Any = self._document
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        if not isinstance(node, Mapping):
            raise ValueError(f"$ref {ref!r} does not point to a schema")
        return node

    def compile(self, schema: Mapping[str, Any] | bool) -> Check:
        """Compile one schema (``True``/``{}`` accept anything, ``False`` nothing).

        Raises:
            ValueError: the schema is not a valid JSON Schema (or a ``$ref`` cannot be resolved).
        """
        if schema is True or (isinstance(schema, Mapping) and not schema):
            return _accept
        engine = schema_engine()
        if engine is None:
            return _accept
        root: Any = _normalized(schema)
        components = self._document.get("components")
        if isinstance(root, dict) and isinstance(components, Mapping) and "components" not in root:
            if self._components is None:
                self._components = _normalized(components)
            root["components"] = self._components
        try:
            validator = engine.validator_for(root, validate_formats=True, ignore_unknown_formats=True)
        except (ValueError, engine.ValidationError, engine.ReferencingError) as exc:
            raise ValueError(f"invalid JSON schema: {exc}") from exc
        return _Compiled(validator, root)


def _accept(value: Any, path: str, problems: list[FieldProblem]) -> None:
    return None


class _Compiled:
    """One compiled validator; rewords its errors."""

    __slots__ = ("_root", "_validator")

    def __init__(self, validator: Any, root: Any) -> None:
        self._validator = validator
        self._root = root

    def __call__(self, value: Any, path: str, problems: list[FieldProblem]) -> None:
        try:
            if self._validator.is_valid(value):
                return
            errors = list(self._validator.iter_errors(value))
        except (ValueError, TypeError, OverflowError) as exc:
            problems.append(FieldProblem(path, f"is not JSON data ({exc})"))
            return
        for error in errors:
            problems.extend(_reworded(error, value, path, self._root))


def _value_at(value: Any, location: Iterable[str | int]) -> Any:
    for part in location:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _schema_at(root: Any, location: Iterable[str | int]) -> Any:
    node = root
    for part in location:
        if isinstance(node, Mapping):
            node = node.get(str(part))
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return None
    return node


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _article(words: str) -> str:
    if words == "null":
        return words
    return f"an {words}" if words[0] in "aeiou" else f"a {words}"


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) and not isinstance(value, bool) else show_value(value)


def _reworded(error: Any, instance: Any, base: str, root: Any) -> list[FieldProblem]:
    """Our problems for one jsonschema-rs error (message wording as the SDK always had it)."""
    location = list(error.instance_path)
    path = base
    for part in location:
        path = child_path(path, part)
    value = _value_at(instance, location)
    kind = error.kind
    name = kind.name
    details: dict[str, Any] = kind.as_dict()
    limit: Any = details.get("limit")
    message: str
    if name == "required":
        return [FieldProblem(child_path(path, details["property"]), "is required")]
    if name == "additionalProperties":
        schema = _schema_at(_schema_at(root, error.schema_path[:-1]) or {}, ["properties"])
        allowed = ", ".join(sorted(schema)) if isinstance(schema, Mapping) and schema else "none"
        return [
            FieldProblem(child_path(path, key), f"is not an allowed property (allowed: {allowed})")
            for key in details.get("unexpected", ())
        ]
    if name == "type":
        declared = [str(t) for t in details.get("types", ())]
        ordered = [t for t in declared if t != "null"] + [t for t in declared if t == "null"]
        declared_schema = _schema_at(root, error.schema_path)
        if isinstance(declared_schema, list):
            ordered = [str(t) for t in declared_schema]
        message = f"must be {_article(' or '.join(ordered))}, got {json_type(value)}"
    elif name == "minLength":
        message = "must not be empty" if limit == 1 else f"must have at least {_plural(limit, 'character')}"
    elif name == "maxLength":
        size = len(value) if isinstance(value, str) else 0
        message = f"must have at most {_plural(limit, 'character')}, got {size}"
    elif name == "pattern":
        message = f"must match the pattern {details.get('pattern')}"
    elif name == "enum":
        allowed_values = list(details.get("options") or ())
        shown = ", ".join(show_value(item) for item in allowed_values[:8]) + (
            ", ..." if len(allowed_values) > 8 else ""
        )
        message = f"must be one of {shown}, got {show_value(value)}"
    elif name == "const":
        message = f"must be {show_value(details.get('expected_value'))}, got {show_value(value)}"
    elif name in _BOUNDS:
        message = f"must be {_BOUNDS[name]} {_number(limit)}, got {_number(value)}"
    elif name == "multipleOf":
        message = f"must be a multiple of {_number(details.get('multiple_of'))}"
    elif name == "minItems":
        message = f"must have at least {_plural(limit, 'item')}"
    elif name == "maxItems":
        count = len(value) if isinstance(value, list | tuple) else 0
        message = f"must have at most {_plural(limit, 'item')}, got {count}"
    elif name == "uniqueItems":
        message = "must not contain duplicate items"
    elif name == "minProperties":
        message = f"must have at least {_plural(limit, 'property')}"
    elif name == "maxProperties":
        count = len(value) if isinstance(value, Mapping) else 0
        message = f"must have at most {limit} properties, got {count}"
    elif name in ("oneOf", "anyOf"):
        branches: list[list[Any]] = list(details.get("context") or ())
        matches = sum(1 for found in branches if not found)
        if matches > 1:
            message = f"matches {matches} of the allowed shapes, but must match exactly one"
        else:
            closest = min((found for found in branches if found), key=len, default=[])
            detail = ""
            if closest:
                first = _reworded(closest[0], instance, base, root)
                detail = f" (closest: {first[0]})" if first else ""
            message = f"does not match any of the {len(branches)} allowed shapes{detail}"
    elif name == "falseSchema":
        message = "is not allowed here"
    elif name == "not":
        message = "must not match the excluded shape"
    elif name == "format":
        message = f"must be a valid {details.get('format')}, got {show_value(value)}"
    elif name == "propertyNames":
        inner = details.get("error")
        reworded = _reworded(inner, instance, base, root) if inner is not None else []
        message = f"has a property name that is not allowed ({reworded[0].message if reworded else 'by the schema'})"
    else:
        message = str(error.message)
    return [FieldProblem(path, message)]


_BOUNDS: Final = {
    "minimum": "at least",
    "maximum": "at most",
    "exclusiveMinimum": "greater than",
    "exclusiveMaximum": "less than",
}
