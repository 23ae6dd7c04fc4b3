"""A small validator for the JSON Schema subset the KEI spec uses, compiled to closures.

Supported keywords: ``type`` (one or a list, ``null`` included), OpenAPI ``nullable``, ``enum``,
``const``, ``properties``, ``required``, ``additionalProperties`` (bool or schema),
``minProperties``/``maxProperties``, ``minLength``/``maxLength`` (code points), ``pattern``,
``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum``/``multipleOf``, ``items``,
``minItems``/``maxItems``/``uniqueItems``, ``oneOf``/``anyOf``/``allOf`` and local ``$ref``.
Annotations (``description``, ``examples``, ``format``, ``default``, ``discriminator``, ...) and
unknown keywords are ignored. Every problem is collected with its JSON path (``$.steps[0].name``);
nothing stops at the first one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from kei_agent.errors import FieldProblem

__all__ = ["Check", "SchemaCompiler", "child_path", "json_type", "show_value"]

#: A compiled schema: appends the problems of ``value`` (at ``path``) to ``problems``.
Check = Callable[[Any, str, list[FieldProblem]], None]

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


def _is_type(value: Any, name: str) -> bool:
    if name == "string":
        return isinstance(value, str)
    if name == "object":
        return isinstance(value, Mapping)
    if name == "array":
        return isinstance(value, list | tuple)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if isinstance(value, bool):
        return False
    if name == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if name == "number":
        return isinstance(value, int | float) and not (isinstance(value, float) and not math.isfinite(value))
    return True  # unknown type names do not constrain


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _json_equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    return bool(left == right)


class SchemaCompiler:
    """Compiles schemas of one OpenAPI document; ``$ref`` targets are compiled once and shared."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        """``document`` is the whole spec (``$ref`` are resolved against it)."""
        self._document = document
        self._refs: dict[str, Check] = {}

    # ------------------------------------------------------------------------------- refs

    def _resolve(self, ref: str) -> Mapping[str, Any]:
        if not ref.startswith("#/"):
            raise ValueError(f"only local $ref are supported, got {ref!r}")
        node: Any = self._document
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        if not isinstance(node, Mapping):
            raise ValueError(f"$ref {ref!r} does not point to a schema")
        return node

    def ref(self, ref: str) -> Check:
        """The compiled schema at ``ref`` (e.g. ``#/components/schemas/PlanRequest``)."""
        found = self._refs.get(ref)
        if found is not None:
            return found
        cell: list[Check] = []

        def deferred(value: Any, path: str, problems: list[FieldProblem]) -> None:
            cell[0](value, path, problems)

        self._refs[ref] = deferred  # recursive schemas resolve through the cell
        compiled = self.compile(self._resolve(ref))
        cell.append(compiled)
        self._refs[ref] = compiled
        return compiled

    # ---------------------------------------------------------------------------- compile

    def compile(self, schema: Mapping[str, Any] | bool) -> Check:
        """Compile one schema (``True``/``{}`` accept anything, ``False`` nothing)."""
        if schema is True or schema == {}:
            return _accept
        if schema is False:
            return _reject
        assert isinstance(schema, Mapping)
        if "$ref" in schema:
            target = self.ref(str(schema["$ref"]))
            siblings = {key: value for key, value in schema.items() if key != "$ref"}
            rest = self.compile(siblings) if _has_constraints(siblings) else None
            if rest is None:
                return target
            return _all_of([target, rest])

        checks: list[Check] = []
        types = self._types(schema)
        checks.extend(self._enum_const(schema))
        checks.extend(self._strings(schema))
        checks.extend(self._numbers(schema))
        checks.extend(self._objects(schema))
        checks.extend(self._arrays(schema))
        checks.extend(self._combinators(schema))
        return _typed(types, checks)

    @staticmethod
    def _types(schema: Mapping[str, Any]) -> tuple[str, ...] | None:
        declared = schema.get("type")
        if declared is None:
            return None
        types = (declared,) if isinstance(declared, str) else tuple(str(t) for t in declared)
        if schema.get("nullable") is True and "null" not in types:
            types = (*types, "null")
        return types

    @staticmethod
    def _enum_const(schema: Mapping[str, Any]) -> list[Check]:
        checks: list[Check] = []
        if "enum" in schema:
            allowed = list(schema["enum"])
            shown = ", ".join(show_value(item) for item in allowed[:8]) + (", ..." if len(allowed) > 8 else "")

            def enum(value: Any, path: str, problems: list[FieldProblem]) -> None:
                if not any(_json_equal(value, item) for item in allowed):
                    problems.append(FieldProblem(path, f"must be one of {shown}, got {show_value(value)}"))

            checks.append(enum)
        if "const" in schema:
            expected = schema["const"]

            def const(value: Any, path: str, problems: list[FieldProblem]) -> None:
                if not _json_equal(value, expected):
                    problems.append(FieldProblem(path, f"must be {show_value(expected)}, got {show_value(value)}"))

            checks.append(const)
        return checks

    @staticmethod
    def _strings(schema: Mapping[str, Any]) -> list[Check]:
        min_length = schema.get("minLength")
        max_length = schema.get("maxLength")
        pattern_text = schema.get("pattern")
        try:
            pattern = re.compile(pattern_text) if isinstance(pattern_text, str) else None
        except re.error:
            pattern = None  # an ECMA-only construct: not checked client-side (the server checks it)
        if min_length is None and max_length is None and pattern is None:
            return []

        def strings(value: Any, path: str, problems: list[FieldProblem]) -> None:
            if not isinstance(value, str):
                return
            size = len(value)
            if min_length is not None and size < min_length:
                if min_length == 1:
                    problems.append(FieldProblem(path, "must not be empty"))
                else:
                    problems.append(FieldProblem(path, f"must have at least {_plural(min_length, 'character')}"))
            if max_length is not None and size > max_length:
                problems.append(FieldProblem(path, f"must have at most {_plural(max_length, 'character')}, got {size}"))
            if pattern is not None and pattern.search(value) is None:
                problems.append(FieldProblem(path, f"must match the pattern {pattern.pattern}"))

        return [strings]

    @staticmethod
    def _numbers(schema: Mapping[str, Any]) -> list[Check]:
        bounds: list[tuple[str, float, Callable[[float, float], bool]]] = []
        if isinstance(schema.get("minimum"), int | float):
            bounds.append(("at least", schema["minimum"], lambda v, b: v >= b))
        if isinstance(schema.get("maximum"), int | float):
            bounds.append(("at most", schema["maximum"], lambda v, b: v <= b))
        exclusive_min = schema.get("exclusiveMinimum")
        if isinstance(exclusive_min, int | float) and not isinstance(exclusive_min, bool):
            bounds.append(("greater than", exclusive_min, lambda v, b: v > b))
        elif exclusive_min is True and "minimum" in schema:  # OpenAPI 3.0 boolean form
            bounds[0] = ("greater than", schema["minimum"], lambda v, b: v > b)
        exclusive_max = schema.get("exclusiveMaximum")
        if isinstance(exclusive_max, int | float) and not isinstance(exclusive_max, bool):
            bounds.append(("less than", exclusive_max, lambda v, b: v < b))
        elif exclusive_max is True and "maximum" in schema:
            bounds[-1] = ("less than", schema["maximum"], lambda v, b: v < b)
        multiple = schema.get("multipleOf")
        if not bounds and not isinstance(multiple, int | float):
            return []

        def numbers(value: Any, path: str, problems: list[FieldProblem]) -> None:
            if isinstance(value, bool) or not isinstance(value, int | float):
                return
            for words, bound, ok in bounds:
                if not ok(value, bound):
                    problems.append(FieldProblem(path, f"must be {words} {bound:g}, got {value:g}"))
            if isinstance(multiple, int | float) and multiple > 0:
                quotient = value / multiple
                if not math.isclose(quotient, round(quotient), abs_tol=1e-9):
                    problems.append(FieldProblem(path, f"must be a multiple of {multiple:g}"))

        return [numbers]

    def _objects(self, schema: Mapping[str, Any]) -> list[Check]:
        properties = {str(name): self.compile(sub) for name, sub in (schema.get("properties") or {}).items()}
        required = [str(name) for name in schema.get("required") or ()]
        additional = schema.get("additionalProperties", True)
        additional_check = None if additional is True or additional is False else self.compile(additional)
        closed = additional is False
        min_props = schema.get("minProperties")
        max_props = schema.get("maxProperties")
        if not (properties or required or closed or additional_check or min_props is not None or max_props is not None):
            return []

        def objects(value: Any, path: str, problems: list[FieldProblem]) -> None:
            if not isinstance(value, Mapping):
                return
            for name in required:
                if name not in value:
                    problems.append(FieldProblem(child_path(path, name), "is required"))
            for key, item in value.items():
                check = properties.get(key) if isinstance(key, str) else None
                if check is not None:
                    check(item, child_path(path, key), problems)
                elif closed:
                    allowed = ", ".join(sorted(properties)) or "none"
                    problems.append(
                        FieldProblem(child_path(path, key), f"is not an allowed property (allowed: {allowed})")
                    )
                elif additional_check is not None:
                    additional_check(item, child_path(path, key), problems)
            count = len(value)
            if min_props is not None and count < min_props:
                problems.append(FieldProblem(path, f"must have at least {_plural(min_props, 'property')}"))
            if max_props is not None and count > max_props:
                problems.append(FieldProblem(path, f"must have at most {max_props} properties, got {count}"))

        return [objects]

    def _arrays(self, schema: Mapping[str, Any]) -> list[Check]:
        items = schema.get("items")
        item_check = self.compile(items) if isinstance(items, Mapping | bool) else None
        min_items = schema.get("minItems")
        max_items = schema.get("maxItems")
        unique = schema.get("uniqueItems") is True
        if item_check is None and min_items is None and max_items is None and not unique:
            return []

        def arrays(value: Any, path: str, problems: list[FieldProblem]) -> None:
            if not isinstance(value, list | tuple):
                return
            count = len(value)
            if min_items is not None and count < min_items:
                problems.append(FieldProblem(path, f"must have at least {_plural(min_items, 'item')}"))
            if max_items is not None and count > max_items:
                problems.append(FieldProblem(path, f"must have at most {_plural(max_items, 'item')}, got {count}"))
            if unique:
                seen: list[Any] = []
                for item in value:
                    if any(_json_equal(item, other) for other in seen):
                        problems.append(FieldProblem(path, "must not contain duplicate items"))
                        break
                    seen.append(item)
            if item_check is not None:
                for index, item in enumerate(value):
                    item_check(item, child_path(path, index), problems)

        return [arrays]

    def _combinators(self, schema: Mapping[str, Any]) -> list[Check]:
        checks: list[Check] = []
        if isinstance(schema.get("allOf"), Sequence):
            checks.append(_all_of([self.compile(sub) for sub in schema["allOf"]]))
        for keyword in ("anyOf", "oneOf"):
            if isinstance(schema.get(keyword), Sequence):
                checks.append(_alternatives(keyword, [self.compile(sub) for sub in schema[keyword]]))
        return checks


def _accept(value: Any, path: str, problems: list[FieldProblem]) -> None:
    return None


def _reject(value: Any, path: str, problems: list[FieldProblem]) -> None:
    problems.append(FieldProblem(path, "is not allowed here"))


_ANNOTATIONS = frozenset(
    {"description", "title", "examples", "example", "default", "format", "deprecated", "readOnly", "writeOnly"}
)


def _has_constraints(schema: Mapping[str, Any]) -> bool:
    return any(key not in _ANNOTATIONS and not key.startswith("x-") for key in schema)


def _all_of(checks: list[Check]) -> Check:
    def all_of(value: Any, path: str, problems: list[FieldProblem]) -> None:
        for check in checks:
            check(value, path, problems)

    return all_of


def _alternatives(keyword: str, branches: list[Check]) -> Check:
    def alternatives(value: Any, path: str, problems: list[FieldProblem]) -> None:
        outcomes: list[list[FieldProblem]] = []
        for branch in branches:
            found: list[FieldProblem] = []
            branch(value, path, found)
            outcomes.append(found)
        matches = sum(1 for found in outcomes if not found)
        if keyword == "anyOf" and matches >= 1:
            return
        if keyword == "oneOf" and matches == 1:
            return
        if matches > 1:
            problems.append(FieldProblem(path, f"matches {matches} of the allowed shapes, but must match exactly one"))
            return
        closest = min(outcomes, key=len) if outcomes else []
        detail = f" (closest: {closest[0]})" if closest else ""
        problems.append(FieldProblem(path, f"does not match any of the {len(branches)} allowed shapes{detail}"))

    return alternatives


def _typed(types: tuple[str, ...] | None, checks: list[Check]) -> Check:
    if types is None:
        if not checks:
            return _accept
        if len(checks) == 1:
            return checks[0]
        return _all_of(checks)
    expected = " or ".join("null" if name == "null" else name for name in types)

    def typed(value: Any, path: str, problems: list[FieldProblem]) -> None:
        if not any(_is_type(value, name) for name in types):
            problems.append(FieldProblem(path, f"must be {_article(expected)}, got {json_type(value)}"))
            return
        for check in checks:
            check(value, path, problems)

    return typed


def _article(words: str) -> str:
    if words in ("null",):
        return words
    return f"an {words}" if words[0] in "aeiou" else f"a {words}"
