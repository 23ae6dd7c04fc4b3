"""Spec change report: classify differences between two OpenAPI documents.

Teams that regenerate clients whenever ``openapi/kei-agent.yaml`` changes use
this module to see, before merging, which edits break existing callers.  The
comparison is purely structural and works on the *wire contract*: operations
(identified by HTTP method and path), their parameters, request bodies, 2xx
responses, security requirements, the ``x-kei-*`` behaviour extensions and
the WebSocket frames described by the top-level ``x-kei-websocket`` extension.

Every ``$ref`` is resolved (schemas, parameters, request bodies, responses and
headers), with protection against recursive schemas.  OpenAPI 3.1 nullable
types (``type: [string, "null"]``), 3.0 ``nullable: true`` and the
``anyOf: [X, {type: "null"}]`` idiom are all normalised to "X, nullable".

Classification follows the usual producer/consumer rule: requests must keep
accepting everything old clients send, responses must keep producing only
what old clients can decode (generated clients use closed enums and unions).

Entry points:

* :func:`compare_specs` - pure comparison of two loaded documents.
* :func:`load_spec_file` / :func:`load_spec_at_rev` - load a document from the
  working tree or from a git revision.
* :func:`format_report` - render a list of changes as text.
* :func:`run_changes` - what ``python -m generator changes`` calls.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

import yaml

__all__ = [
    "Change",
    "ChangeReportError",
    "Severity",
    "compare_specs",
    "format_report",
    "load_spec_at_rev",
    "load_spec_file",
    "run_changes",
]

Severity = Literal["breaking", "compatible"]
Direction = Literal["request", "response"]

HTTP_METHODS: tuple[str, ...] = (
    "get",
    "put",
    "post",
    "delete",
    "options",
    "head",
    "patch",
    "trace",
)
"""Operation keys of a path item, in the order OpenAPI lists them."""

BEHAVIOUR_EXTENSIONS: tuple[str, ...] = (
    "x-kei-idempotent",
    "x-kei-retry",
    "x-kei-protocols",
)
"""Operation extensions whose changes are reported as ``behaviour-changed``."""

WEBSOCKET_EXTENSION = "x-kei-websocket"
"""Top-level extension describing the WebSocket channel and its frames."""

_MAX_DEPTH = 64
"""Safety net on schema nesting, on top of ``$ref`` cycle detection."""

_PATH_TEMPLATE = re.compile(r"\{([^{}]+)\}")


class ChangeReportError(Exception):
    """A spec could not be loaded (bad revision, missing file, invalid YAML)."""


@dataclass(frozen=True)
class Change:
    """One classified difference between the old and the new spec.

    Attributes:
        severity: ``"breaking"`` if existing (generated) clients can fail,
            ``"compatible"`` otherwise.
        kind: Short machine-friendly tag, e.g. ``"operation-removed"``,
            ``"parameter-added"``, ``"field-retyped"``,
            ``"enum-value-removed"``.
        location: Human-readable place of the change, e.g.
            ``"POST /api/v1/rpc/plan (planTask) request body .context.tags[]"``.
        detail: One sentence saying what changed and why it is breaking or
            compatible.
    """

    severity: Severity
    kind: str
    location: str
    detail: str


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def _canon(value: Any) -> str:
    """Return a canonical, hashable JSON rendering of ``value``."""
    return json.dumps(value, sort_keys=True, default=str)


def _show(value: Any) -> str:
    """Render a value (enum member, extension value) for a detail sentence."""
    return json.dumps(value, default=str)


def _quote(name: str) -> str:
    """Quote a name for use in a location or detail."""
    return f"'{name}'"


def _as_mapping(value: Any) -> Mapping[str, Any]:
    """Return ``value`` if it is a mapping, else an empty mapping."""
    return value if isinstance(value, Mapping) else {}


def _as_list(value: Any) -> list[Any]:
    """Return ``value`` if it is a list, else an empty list."""
    return list(value) if isinstance(value, list) else []


def _suffix(path: str) -> str:
    """Join a field path onto a location (``" .a.b"`` or ``""``)."""
    return f" {path}" if path else ""


# --------------------------------------------------------------------------
# $ref resolution
# --------------------------------------------------------------------------


class _Resolver:
    """Resolves local JSON-pointer ``$ref``s inside one OpenAPI document."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self._root = root

    def _lookup(self, ref: str) -> Any:
        """Return the node a local ``#/...`` pointer designates, or ``None``."""
        if not ref.startswith("#"):
            return None
        node: Any = self._root
        pointer = unquote(ref[1:])
        if not pointer:
            return node
        for raw in pointer.lstrip("/").split("/"):
            token = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                return None
        return node

    def resolve(self, node: Any) -> tuple[Any, Any]:
        """Follow a ``$ref`` chain.

        Returns ``(target, merged)``: ``target`` is the last object reached
        (identity is stable, used for cycle detection) and ``merged`` is the
        target with any sibling keywords of the ``$ref``s laid over it (3.1
        allows ``description`` etc. next to ``$ref``).  Unresolvable or cyclic
        references are returned as-is, keeping their ``$ref`` key.
        """
        siblings: dict[str, Any] = {}
        seen: set[str] = set()
        current = node
        while isinstance(current, Mapping) and isinstance(current.get("$ref"), str):
            ref = current["$ref"]
            extra = {k: v for k, v in current.items() if k != "$ref"}
            if ref in seen:
                break
            seen.add(ref)
            target = self._lookup(ref)
            if target is None:
                break
            siblings = {**extra, **siblings}
            current = target
        if siblings and isinstance(current, Mapping):
            merged: Any = {**current, **siblings}
        else:
            merged = current
        return current, merged

    def deref(self, node: Any) -> Any:
        """Return ``node`` with its ``$ref`` chain resolved and merged."""
        return self.resolve(node)[1]


# --------------------------------------------------------------------------
# Schema normalisation
# --------------------------------------------------------------------------


@dataclass
class _SchemaView:
    """A schema flattened into the facts the comparison cares about."""

    types: frozenset[str] = frozenset()
    type_declared: bool = False
    nullable: bool = False
    format: str | None = None
    enum: dict[str, Any] | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    items: Any = None
    has_items: bool = False
    additional: Any = None
    has_additional: bool = False
    variant_keyword: str | None = None
    variants: list[Any] = field(default_factory=list)
    discriminator: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    opaque_ref: str | None = None
    read_only: bool = False
    write_only: bool = False


def _is_null_schema(schema: Any) -> bool:
    """True for ``{type: "null"}`` / ``{const: null}`` / ``{enum: [null]}``."""
    if not isinstance(schema, Mapping):
        return False
    kind = schema.get("type")
    if kind == "null" or kind == ["null"]:
        return True
    if "const" in schema and schema["const"] is None:
        return True
    enum = schema.get("enum")
    return isinstance(enum, list) and enum == [None]


def _view(node: Any, resolver: _Resolver, active: frozenset[int] = frozenset()) -> _SchemaView:
    """Normalise a (possibly ``$ref``'d) schema into a :class:`_SchemaView`.

    ``active`` holds the ids of the schemas whose ``allOf``/``anyOf`` is being
    expanded, so self-referencing compositions terminate.
    """
    target, schema = resolver.resolve(node)
    view = _SchemaView()
    if id(target) in active or len(active) > _MAX_DEPTH:
        return view
    inner_active = active | {id(target)}
    if schema is True or schema is None:
        return view
    if not isinstance(schema, Mapping):
        return view
    ref = schema.get("$ref")
    if isinstance(ref, str):
        view.opaque_ref = ref

    raw_type = schema.get("type")
    if isinstance(raw_type, str):
        raw_types = [raw_type]
    elif isinstance(raw_type, list):
        raw_types = [t for t in raw_type if isinstance(t, str)]
    else:
        raw_types = []
    if raw_types:
        view.type_declared = True
        view.types = frozenset(t for t in raw_types if t != "null")
        view.nullable = "null" in raw_types
    if schema.get("nullable") is True:
        view.nullable = True
    fmt = schema.get("format")
    view.format = fmt if isinstance(fmt, str) else None

    if "const" in schema:
        values: list[Any] | None = [schema["const"]]
    elif isinstance(schema.get("enum"), list):
        values = list(schema["enum"])
    else:
        values = None
    if values is not None:
        if any(v is None for v in values):
            view.nullable = True
        view.enum = {_canon(v): v for v in values if v is not None}

    for name, prop in _as_mapping(schema.get("properties")).items():
        view.properties[str(name)] = prop
    view.required = frozenset(str(r) for r in _as_list(schema.get("required")))
    if "items" in schema:
        view.items = schema["items"]
        view.has_items = True
    if "additionalProperties" in schema:
        view.additional = schema["additionalProperties"]
        view.has_additional = True
    view.read_only = schema.get("readOnly") is True
    view.write_only = schema.get("writeOnly") is True

    for part in _as_list(schema.get("allOf")):
        _merge_all_of(view, _view(part, resolver, inner_active))

    for keyword in ("oneOf", "anyOf"):
        members = _as_list(schema.get(keyword))
        if not members:
            continue
        real = [m for m in members if not _is_null_schema(resolver.deref(m))]
        if len(real) < len(members):
            view.nullable = True
        nullable_wrapper = len(real) == 1 and len(real) < len(members)
        if nullable_wrapper and not view.properties and not view.type_declared:
            # ``anyOf: [X, {type: null}]`` is just "X, nullable".
            inner = _view(real[0], resolver, inner_active)
            inner.nullable = inner.nullable or view.nullable
            return inner
        if real:
            view.variant_keyword = keyword
            view.variants = real
            disc = _as_mapping(schema.get("discriminator"))
            prop_name = disc.get("propertyName")
            view.discriminator = prop_name if isinstance(prop_name, str) else None
            view.mapping = {str(k): v for k, v in _as_mapping(disc.get("mapping")).items() if isinstance(v, str)}
        break

    if not view.types and view.variant_keyword is None:
        if view.properties or view.has_additional or view.required:
            view.types = frozenset({"object"})
        elif view.has_items:
            view.types = frozenset({"array"})
    return view


def _merge_all_of(view: _SchemaView, part: _SchemaView) -> None:
    """Fold one ``allOf`` member into ``view`` (in place)."""
    if part.type_declared:
        if view.type_declared:
            both = view.types & part.types
            view.types = both or view.types | part.types
            view.nullable = view.nullable and part.nullable
        else:
            view.types = part.types
            view.nullable = view.nullable or part.nullable
        view.type_declared = True
    elif part.types and not view.types:
        view.types = part.types
    if view.format is None:
        view.format = part.format
    if part.enum is not None:
        if view.enum is None:
            view.enum = dict(part.enum)
        else:
            view.enum = {k: v for k, v in view.enum.items() if k in part.enum}
    for name, prop in part.properties.items():
        view.properties.setdefault(name, prop)
    view.required = view.required | part.required
    if part.has_items and not view.has_items:
        view.items, view.has_items = part.items, True
    if part.has_additional and not view.has_additional:
        view.additional, view.has_additional = part.additional, True
    if part.variant_keyword and not view.variant_keyword:
        view.variant_keyword = part.variant_keyword
        view.variants = part.variants
        view.discriminator = part.discriminator
        view.mapping = part.mapping


def _describe_type(view: _SchemaView) -> str:
    """Render a view's type for a detail sentence (``string/date-time``)."""
    if view.opaque_ref and not view.types:
        text = view.opaque_ref
    elif view.variant_keyword and not view.types:
        text = f"{view.variant_keyword}[{len(view.variants)}]"
    elif view.types:
        text = "|".join(sorted(view.types))
    else:
        text = "any"
    if view.format:
        text += f"/{view.format}"
    return text


def _variant_tag(member: Any, union: _SchemaView, resolver: _Resolver, prop: str) -> str | None:
    """Return the tag value identifying one ``oneOf`` member, if any."""
    ref = member.get("$ref") if isinstance(member, Mapping) else None
    if isinstance(ref, str):
        for tag, target in union.mapping.items():
            if target == ref or ref.endswith("/" + target):
                return tag
    view = _view(member, resolver)
    prop_schema = view.properties.get(prop)
    if prop_schema is None:
        return None
    enum = _view(prop_schema, resolver).enum
    if enum is not None and len(enum) == 1:
        return str(next(iter(enum.values())))
    return None


def _variant_keys(union: _SchemaView, resolver: _Resolver) -> tuple[str | None, list[str]]:
    """Label the members of a union: by const/discriminator tag, else by index.

    Returns ``(tag_property, labels)``; ``tag_property`` is ``None`` when the
    members are labelled by position.
    """
    candidates: list[str] = []
    if union.discriminator:
        candidates.append(union.discriminator)
    views = [_view(m, resolver) for m in union.variants]
    if views:
        common = set(views[0].properties)
        for view in views[1:]:
            common &= set(view.properties)
        candidates.extend(sorted(common - set(candidates)))
    for prop in candidates:
        tags = [_variant_tag(m, union, resolver, prop) for m in union.variants]
        if all(t is not None for t in tags) and len(set(tags)) == len(tags):
            return prop, [f"{prop}={t}" for t in tags if t is not None]
    return None, [f"variant#{i}" for i in range(len(union.variants))]


# --------------------------------------------------------------------------
# Schema comparison
# --------------------------------------------------------------------------


class _SchemaDiff:
    """Compares two schemas in a request or response position."""

    def __init__(
        self,
        old: _Resolver,
        new: _Resolver,
        out: list[Change],
        location: str,
        direction: Direction,
        root_noun: str = "field",
        root_what: str | None = None,
    ) -> None:
        self.old = old
        self.new = new
        self.out = out
        self.location = location
        self.direction = direction
        self.root_noun = root_noun
        self.root_what = root_what or f"{direction} body"
        self._active: set[tuple[int, int]] = set()

    # -- output helpers ---------------------------------------------------

    def _emit(self, severity: Severity, kind: str, path: str, detail: str) -> None:
        self.out.append(Change(severity, kind, self.location + _suffix(path), detail))

    def _noun(self, path: str) -> str:
        return self.root_noun if not path else "field"

    def _what(self, path: str) -> str:
        """Name the thing at ``path`` for a detail sentence."""
        if not path:
            return self.root_what
        if self.root_noun == "field":
            return f"{self.direction} field {path}"
        return f"{self.root_what} at {path}"

    # -- comparison -------------------------------------------------------

    def compare(self, old_node: Any, new_node: Any, path: str = "", depth: int = 0) -> None:
        """Compare two schema nodes, reporting every difference under ``path``."""
        old_target, _ = self.old.resolve(old_node)
        new_target, _ = self.new.resolve(new_node)
        key = (id(old_target), id(new_target))
        if key in self._active or depth > _MAX_DEPTH:
            return
        self._active.add(key)
        try:
            self._compare_views(_view(old_node, self.old), _view(new_node, self.new), path, depth)
        finally:
            self._active.discard(key)

    def _compare_views(self, old: _SchemaView, new: _SchemaView, path: str, depth: int) -> None:
        noun = self._noun(path)
        what = self._what(path)
        request = self.direction == "request"

        structural_change = (
            old.types != new.types
            or old.format != new.format
            or (old.variant_keyword is None) != (new.variant_keyword is None)
            or (not old.types and not new.types and old.variant_keyword is None and old.opaque_ref != new.opaque_ref)
        )
        if structural_change:
            self._emit(
                "breaking",
                f"{noun}-retyped",
                path,
                f"The {what} changed type from {_describe_type(old)} to "
                f"{_describe_type(new)}; generated code and existing payloads "
                "no longer match.",
            )
            return

        if old.nullable != new.nullable:
            self._nullability(old.nullable, new.nullable, noun, what, path, request)
        self._enum(old, new, what, path, request)
        if "object" in new.types or old.properties or new.properties:
            self._properties(old, new, path, depth)
            self._additional(old, new, path, depth, request)
        if old.has_items or new.has_items:
            self.compare(old.items, new.items, path + "[]", depth + 1)
        if old.variant_keyword and new.variant_keyword:
            self._variants(old, new, path, depth, request)

    def _nullability(self, was: bool, now: bool, noun: str, what: str, path: str, request: bool) -> None:
        if now:
            kind = f"{noun}-made-nullable"
            if request:
                self._emit(
                    "compatible",
                    kind,
                    path,
                    f"The {what} now also accepts null; existing clients never send null, so they are unaffected.",
                )
            else:
                self._emit(
                    "breaking",
                    kind,
                    path,
                    f"The {what} may now be null; clients generated from the old "
                    "spec assume a value is always present.",
                )
        else:
            kind = f"{noun}-made-non-nullable"
            if request:
                self._emit(
                    "breaking",
                    kind,
                    path,
                    f"The {what} no longer accepts null; clients that send null will be rejected.",
                )
            else:
                self._emit(
                    "compatible",
                    kind,
                    path,
                    f"The {what} is no longer null; clients that handle null are unaffected.",
                )

    def _enum(self, old: _SchemaView, new: _SchemaView, what: str, path: str, request: bool) -> None:
        if old.enum is None and new.enum is None:
            return
        if old.enum is None and new.enum is not None:
            values = ", ".join(_show(v) for v in new.enum.values())
            if request:
                self._emit(
                    "breaking",
                    "enum-constraint-added",
                    path,
                    f"The {what} is now restricted to [{values}]; other values "
                    "that used to be accepted will be rejected.",
                )
            else:
                self._emit(
                    "compatible",
                    "enum-constraint-added",
                    path,
                    f"The {what} is now restricted to [{values}], a subset of what clients already accept.",
                )
            return
        if old.enum is not None and new.enum is None:
            if request:
                self._emit(
                    "compatible",
                    "enum-constraint-removed",
                    path,
                    f"The {what} is no longer restricted to a fixed set of "
                    "values; everything clients send today is still accepted.",
                )
            else:
                self._emit(
                    "breaking",
                    "enum-constraint-removed",
                    path,
                    f"The {what} is no longer restricted to a fixed set of "
                    "values; generated clients with closed enums fail on values "
                    "outside the old set.",
                )
            return
        assert old.enum is not None
        assert new.enum is not None
        for key in sorted(set(old.enum) - set(new.enum)):
            self._emit(
                "breaking",
                "enum-value-removed",
                path,
                f"Enum value {_show(old.enum[key])} was removed from the {what}; clients that use or expect it break.",
            )
        for key in sorted(set(new.enum) - set(old.enum)):
            if request:
                self._emit(
                    "compatible",
                    "enum-value-added",
                    path,
                    f"Enum value {_show(new.enum[key])} was added to the {what}; "
                    "existing clients simply never send it.",
                )
            else:
                self._emit(
                    "breaking",
                    "enum-value-added",
                    path,
                    f"Enum value {_show(new.enum[key])} was added to the {what}; "
                    "generated clients with closed enums fail to decode unknown "
                    "values.",
                )

    def _visible(self, view: _SchemaView, resolver: _Resolver) -> dict[str, Any]:
        """Properties that exist on the wire in this direction."""
        hidden_flag = "read_only" if self.direction == "request" else "write_only"
        visible: dict[str, Any] = {}
        for name, prop in view.properties.items():
            if getattr(_view(prop, resolver), hidden_flag):
                continue
            visible[name] = prop
        return visible

    def _properties(self, old: _SchemaView, new: _SchemaView, path: str, depth: int) -> None:
        request = self.direction == "request"
        old_props = self._visible(old, self.old)
        new_props = self._visible(new, self.new)
        for name in sorted(set(old_props) | set(new_props)):
            sub = f"{path}.{name}"
            old_req = name in old.required
            new_req = name in new.required
            if name not in new_props:
                self._emit(
                    "breaking",
                    "field-removed",
                    sub,
                    f"The {self.direction} field {sub} was removed; clients that "
                    + ("send" if request else "read")
                    + " it break.",
                )
                continue
            if name not in old_props:
                if request and new_req:
                    self._emit(
                        "breaking",
                        "field-added",
                        sub,
                        f"New required request field {sub}; existing clients do not send it and will be rejected.",
                    )
                elif request:
                    self._emit(
                        "compatible",
                        "field-added",
                        sub,
                        f"New optional request field {sub}; existing clients may omit it.",
                    )
                else:
                    self._emit(
                        "compatible",
                        "field-added",
                        sub,
                        f"New response field {sub}; existing clients ignore unknown fields.",
                    )
                continue
            if old_req != new_req:
                self._required_change(old_req, new_req, sub, request)
            self.compare(old_props[name], new_props[name], sub, depth + 1)

    def _required_change(self, was: bool, now: bool, sub: str, request: bool) -> None:
        if now and request:
            self._emit(
                "breaking",
                "field-made-required",
                sub,
                f"The request field {sub} became required; clients that omit it will be rejected.",
            )
        elif now:
            self._emit(
                "compatible",
                "field-made-required",
                sub,
                f"The response field {sub} is now always present; clients already handle it.",
            )
        elif request:
            self._emit(
                "compatible",
                "field-made-optional",
                sub,
                f"The request field {sub} became optional; clients that send it are unaffected.",
            )
        else:
            self._emit(
                "breaking",
                "field-made-optional",
                sub,
                f"The response field {sub} is no longer guaranteed to be present; "
                "clients generated from the old spec assume it is.",
            )

    def _additional(self, old: _SchemaView, new: _SchemaView, path: str, depth: int, request: bool) -> None:
        def mode(view: _SchemaView) -> str:
            value = view.additional
            if not view.has_additional or value is True or value == {}:
                return "any"
            if value is False:
                return "none"
            return "schema"

        old_mode, new_mode = mode(old), mode(new)
        if old_mode == "schema" and new_mode == "schema":
            self.compare(old.additional, new.additional, path + "{}", depth + 1)
            return
        if old_mode == new_mode:
            return
        rank = {"none": 0, "schema": 1, "any": 2}
        tighter = rank[new_mode] < rank[old_mode]
        where = f"{self.direction} object {path}" if path else f"{self.direction} body"
        if request and tighter:
            self._emit(
                "breaking",
                "additional-properties-restricted",
                path,
                f"The {where} no longer accepts arbitrary extra properties "
                f"({old_mode} -> {new_mode}); clients sending them will be rejected.",
            )
        elif request:
            self._emit(
                "compatible",
                "additional-properties-relaxed",
                path,
                f"The {where} now accepts more extra properties ({old_mode} -> {new_mode}).",
            )
        else:
            self._emit(
                "compatible",
                "additional-properties-changed",
                path,
                f"Extra properties of the {where} changed ({old_mode} -> "
                f"{new_mode}); clients ignore properties they do not know.",
            )

    def _variants(self, old: _SchemaView, new: _SchemaView, path: str, depth: int, request: bool) -> None:
        old_prop, old_labels = _variant_keys(old, self.old)
        new_prop, new_labels = _variant_keys(new, self.new)
        if old_prop is None or old_prop != new_prop:
            old_prop = new_prop = None
            old_labels = [f"variant#{i}" for i in range(len(old.variants))]
            new_labels = [f"variant#{i}" for i in range(len(new.variants))]
        old_map = dict(zip(old_labels, old.variants, strict=True))
        new_map = dict(zip(new_labels, new.variants, strict=True))
        for label in sorted(set(old_map) | set(new_map)):
            sub = f"{path}<{label}>"
            if label not in new_map:
                self._emit(
                    "breaking",
                    "variant-removed",
                    sub,
                    f"Union variant {label} was removed from the {self._what(path)}; "
                    + (
                        "clients sending it will be rejected."
                        if request
                        else "generated code referring to it no longer compiles."
                    ),
                )
            elif label not in old_map:
                if request:
                    self._emit(
                        "compatible",
                        "variant-added",
                        sub,
                        f"Union variant {label} was added to the {self._what(path)}; existing clients never send it.",
                    )
                else:
                    self._emit(
                        "breaking",
                        "variant-added",
                        sub,
                        f"Union variant {label} was added to the {self._what(path)}; "
                        "generated clients with closed unions fail to decode it.",
                    )
            else:
                self.compare(old_map[label], new_map[label], sub, depth + 1)


# --------------------------------------------------------------------------
# Operation comparison
# --------------------------------------------------------------------------


@dataclass
class _Operation:
    """An operation with its path-level context."""

    method: str
    path: str
    node: Mapping[str, Any]
    path_item: Mapping[str, Any]

    @property
    def operation_id(self) -> str | None:
        value = self.node.get("operationId")
        return value if isinstance(value, str) else None

    @property
    def label(self) -> str:
        text = f"{self.method.upper()} {self.path}"
        return f"{text} ({self.operation_id})" if self.operation_id else text


def _normalise_path(path: str) -> str:
    """Replace path-template names so ``/a/{x}`` and ``/a/{y}`` match."""
    return _PATH_TEMPLATE.sub("{}", path)


def _operations(spec: Mapping[str, Any], resolver: _Resolver) -> dict[tuple[str, str], _Operation]:
    """Index a spec's operations by ``(METHOD, normalised path)``."""
    found: list[_Operation] = []
    for path, raw_item in _as_mapping(spec.get("paths")).items():
        item = _as_mapping(resolver.deref(raw_item))
        for method in HTTP_METHODS:
            op = item.get(method)
            if isinstance(op, Mapping):
                found.append(_Operation(method, str(path), op, item))
    counts: dict[tuple[str, str], int] = {}
    for op in found:
        key = (op.method, _normalise_path(op.path))
        counts[key] = counts.get(key, 0) + 1
    result: dict[tuple[str, str], _Operation] = {}
    for op in found:
        key = (op.method, _normalise_path(op.path))
        if counts[key] > 1:
            key = (op.method, op.path)
        result[key] = op
    return result


@dataclass
class _Param:
    """A resolved parameter of one operation."""

    location: str
    name: str
    required: bool
    schema: Any
    style: str
    explode: bool

    @property
    def label(self) -> str:
        return f"{self.location} parameter {_quote(self.name)}"


def _parameters(op: _Operation, resolver: _Resolver) -> dict[tuple[str, str], _Param]:
    """Return an operation's effective parameters keyed for matching.

    Operation-level parameters override path-level ones.  Path parameters are
    keyed by their position in the URL template (so renaming one is detected
    as a rename), header names case-insensitively.
    """
    template = _PATH_TEMPLATE.findall(op.path)
    merged: dict[tuple[str, str], Mapping[str, Any]] = {}
    for source in (op.path_item.get("parameters"), op.node.get("parameters")):
        for raw in _as_list(source):
            param = _as_mapping(resolver.deref(raw))
            where, name = param.get("in"), param.get("name")
            if isinstance(where, str) and isinstance(name, str):
                merged[(where, name)] = param
    result: dict[tuple[str, str], _Param] = {}
    for (where, name), param in merged.items():
        schema: Any = param.get("schema")
        if schema is None:
            for media in _as_mapping(param.get("content")).values():
                schema = _as_mapping(media).get("schema")
                break
        style = param.get("style")
        default_style = "form" if where in ("query", "cookie") else "simple"
        style = style if isinstance(style, str) else default_style
        explode = param.get("explode")
        explode = explode if isinstance(explode, bool) else style == "form"
        entry = _Param(
            location=where,
            name=name,
            required=where == "path" or param.get("required") is True,
            schema=schema,
            style=style,
            explode=explode,
        )
        if where == "path" and name in template:
            key = ("path", f"#{template.index(name)}")
        elif where == "header":
            key = ("header", name.lower())
        else:
            key = (where, name)
        result[key] = entry
    return result


def _media_label(prefix: str, media_type: str) -> str:
    """``"request body"`` or ``"request body (text/plain)"``."""
    if media_type == "application/json":
        return prefix
    return f"{prefix} ({media_type})"


def _security_alternatives(requirements: Any) -> list[dict[str, frozenset[str]]]:
    """Normalise a security requirement list to ``[{scheme: scopes}]``."""
    alternatives: list[dict[str, frozenset[str]]] = []
    for requirement in _as_list(requirements):
        alt = {
            str(name): frozenset(str(s) for s in _as_list(scopes)) for name, scopes in _as_mapping(requirement).items()
        }
        alternatives.append(alt)
    return alternatives


def _satisfies(client: Mapping[str, frozenset[str]], needed: Mapping[str, frozenset[str]]) -> bool:
    """Can a client holding ``client`` credentials meet requirement ``needed``?"""
    return all(name in client and scopes <= client[name] for name, scopes in needed.items())


def _render_security(alternatives: Sequence[Mapping[str, frozenset[str]]]) -> str:
    """Render security alternatives for a detail sentence."""
    if not alternatives:
        return "none"
    parts = []
    for alt in alternatives:
        if not alt:
            parts.append("anonymous")
            continue
        parts.append(
            " + ".join(
                f"{name}[{', '.join(sorted(scopes))}]" if scopes else name for name, scopes in sorted(alt.items())
            )
        )
    return " or ".join(parts)


class _SpecDiff:
    """Compares two whole specs."""

    def __init__(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        self.old_spec = old
        self.new_spec = new
        self.old = _Resolver(old)
        self.new = _Resolver(new)
        self.out: list[Change] = []

    def _emit(self, severity: Severity, kind: str, location: str, detail: str) -> None:
        self.out.append(Change(severity, kind, location, detail))

    def _schemas(
        self,
        location: str,
        direction: Direction,
        root_noun: str = "field",
        root_what: str | None = None,
    ) -> _SchemaDiff:
        return _SchemaDiff(self.old, self.new, self.out, location, direction, root_noun, root_what)

    def run(self) -> list[Change]:
        old_ops = _operations(self.old_spec, self.old)
        new_ops = _operations(self.new_spec, self.new)
        for key in sorted(set(old_ops) | set(new_ops)):
            if key not in new_ops:
                op = old_ops[key]
                self._emit(
                    "breaking",
                    "operation-removed",
                    op.label,
                    "The operation was removed; clients calling it will fail.",
                )
            elif key not in old_ops:
                self._emit(
                    "compatible",
                    "operation-added",
                    new_ops[key].label,
                    "New operation; existing clients are unaffected.",
                )
            else:
                self._operation(old_ops[key], new_ops[key])
        self._websocket()
        unique = dict.fromkeys(self.out)
        return sorted(unique, key=lambda c: (c.location, c.kind, c.severity, c.detail))

    # -- one operation ----------------------------------------------------

    def _operation(self, old: _Operation, new: _Operation) -> None:
        label = new.label
        if old.operation_id != new.operation_id:
            self._emit(
                "breaking",
                "operation-id-changed",
                label,
                f"operationId changed from {old.operation_id!r} to "
                f"{new.operation_id!r}; the generated method is renamed, so "
                "calling code must change.",
            )
        if old.path != new.path:
            self._emit(
                "compatible",
                "path-template-changed",
                label,
                f"Path template changed from {old.path} to {new.path} with the "
                "same URL shape; the wire format is unchanged.",
            )
        if not old.node.get("deprecated") and new.node.get("deprecated") is True:
            self._emit(
                "compatible",
                "operation-deprecated",
                label,
                "The operation is now deprecated; it still works but callers should migrate.",
            )
        self._parameters(old, new, label)
        self._request_body(old, new, label)
        self._responses(old, new, label)
        self._security(old, new, label)
        self._behaviour(old, new, label)

    def _parameters(self, old: _Operation, new: _Operation, label: str) -> None:
        old_params = _parameters(old, self.old)
        new_params = _parameters(new, self.new)
        for key in sorted(set(old_params) | set(new_params)):
            if key not in new_params:
                param = old_params[key]
                self._emit(
                    "breaking",
                    "parameter-removed",
                    f"{label} {param.label}",
                    f"The {param.label} was removed; clients that send it may be "
                    "rejected and generated call signatures change.",
                )
                continue
            param = new_params[key]
            loc = f"{label} {param.label}"
            if key not in old_params:
                if param.required:
                    self._emit(
                        "breaking",
                        "parameter-added",
                        loc,
                        f"New required {param.label}; existing clients do not send it and will be rejected.",
                    )
                else:
                    self._emit(
                        "compatible",
                        "parameter-added",
                        loc,
                        f"New optional {param.label}; existing clients may omit it.",
                    )
                continue
            before = old_params[key]
            if param.location == "path" and before.name != param.name:
                self._emit(
                    "compatible",
                    "parameter-renamed",
                    loc,
                    f"The path parameter {_quote(before.name)} was renamed to "
                    f"{_quote(param.name)}; the URL is unchanged but generated "
                    "argument names may change.",
                )
            if before.required != param.required:
                if param.required:
                    self._emit(
                        "breaking",
                        "parameter-made-required",
                        loc,
                        f"The {param.label} became required; clients that omit it will be rejected.",
                    )
                else:
                    self._emit(
                        "compatible",
                        "parameter-made-optional",
                        loc,
                        f"The {param.label} became optional; clients that send it are unaffected.",
                    )
            if (before.style, before.explode) != (param.style, param.explode):
                self._emit(
                    "breaking",
                    "parameter-serialization-changed",
                    loc,
                    f"The {param.label} serialization changed from "
                    f"style={before.style}, explode={before.explode} to "
                    f"style={param.style}, explode={param.explode}; clients encode "
                    "it differently.",
                )
            self._schemas(loc, "request", "parameter", param.label).compare(before.schema, param.schema)

    def _request_body(self, old: _Operation, new: _Operation, label: str) -> None:
        old_body = _as_mapping(self.old.deref(old.node.get("requestBody")))
        new_body = _as_mapping(self.new.deref(new.node.get("requestBody")))
        where = f"{label} request body"
        if not old_body and not new_body:
            return
        if not new_body:
            self._emit(
                "breaking",
                "request-body-removed",
                where,
                "The request body was removed; clients that send one may be rejected.",
            )
            return
        new_required = new_body.get("required") is True
        if not old_body:
            if new_required:
                self._emit(
                    "breaking",
                    "request-body-added",
                    where,
                    "A required request body was added; existing clients send none and will be rejected.",
                )
            else:
                self._emit(
                    "compatible",
                    "request-body-added",
                    where,
                    "An optional request body was added; existing clients may omit it.",
                )
            return
        old_required = old_body.get("required") is True
        if old_required != new_required:
            if new_required:
                self._emit(
                    "breaking",
                    "request-body-made-required",
                    where,
                    "The request body became required; clients that omit it will be rejected.",
                )
            else:
                self._emit(
                    "compatible",
                    "request-body-made-optional",
                    where,
                    "The request body became optional; clients that send it are unaffected.",
                )
        self._content(
            _as_mapping(old_body.get("content")),
            _as_mapping(new_body.get("content")),
            f"{label} request body",
            "request",
        )

    def _content(
        self,
        old_content: Mapping[str, Any],
        new_content: Mapping[str, Any],
        prefix: str,
        direction: Direction,
    ) -> None:
        for media_type in sorted(set(old_content) | set(new_content)):
            loc = _media_label(prefix, str(media_type))
            if media_type not in new_content:
                self._emit(
                    "breaking",
                    f"{direction}-media-type-removed",
                    loc,
                    f"Media type {media_type} is no longer "
                    + ("accepted" if direction == "request" else "produced")
                    + "; clients relying on it break.",
                )
            elif media_type not in old_content:
                self._emit(
                    "compatible",
                    f"{direction}-media-type-added",
                    loc,
                    f"Media type {media_type} is now "
                    + ("accepted" if direction == "request" else "also produced")
                    + "; existing clients are unaffected.",
                )
            else:
                old_schema = _as_mapping(old_content[media_type]).get("schema")
                new_schema = _as_mapping(new_content[media_type]).get("schema")
                self._schemas(loc, direction).compare(old_schema, new_schema)

    def _responses(self, old: _Operation, new: _Operation, label: str) -> None:
        def success(op: _Operation, resolver: _Resolver) -> dict[str, Mapping[str, Any]]:
            found: dict[str, Mapping[str, Any]] = {}
            for status, response in _as_mapping(op.node.get("responses")).items():
                code = str(status).upper()
                if code.startswith("2"):
                    found[code] = _as_mapping(resolver.deref(response))
            return found

        old_responses = success(old, self.old)
        new_responses = success(new, self.new)
        for status in sorted(set(old_responses) | set(new_responses)):
            where = f"{label} response {status}"
            if status not in new_responses:
                self._emit(
                    "breaking",
                    "response-removed",
                    where,
                    f"Success response {status} is no longer returned; clients that handle it break.",
                )
                continue
            if status not in old_responses:
                self._emit(
                    "compatible",
                    "response-added",
                    where,
                    f"New success response {status}; generated clients accept additional 2xx statuses.",
                )
                continue
            old_response, new_response = old_responses[status], new_responses[status]
            self._content(
                _as_mapping(old_response.get("content")),
                _as_mapping(new_response.get("content")),
                where,
                "response",
            )
            self._response_headers(old_response, new_response, where)

    def _response_headers(self, old: Mapping[str, Any], new: Mapping[str, Any], where: str) -> None:
        def headers(response: Mapping[str, Any], resolver: _Resolver) -> dict[str, tuple[str, Mapping[str, Any]]]:
            return {
                str(name).lower(): (str(name), _as_mapping(resolver.deref(header)))
                for name, header in _as_mapping(response.get("headers")).items()
            }

        old_headers = headers(old, self.old)
        new_headers = headers(new, self.new)
        for key in sorted(set(old_headers) | set(new_headers)):
            if key not in new_headers:
                name = old_headers[key][0]
                self._emit(
                    "breaking",
                    "response-header-removed",
                    f"{where} header {_quote(name)}",
                    f"Response header {_quote(name)} is no longer sent; clients reading it break.",
                )
                continue
            name, header = new_headers[key]
            loc = f"{where} header {_quote(name)}"
            if key not in old_headers:
                self._emit(
                    "compatible",
                    "response-header-added",
                    loc,
                    f"New response header {_quote(name)}; existing clients ignore it.",
                )
                continue
            before = old_headers[key][1]
            was_required = before.get("required") is True
            now_required = header.get("required") is True
            if was_required and not now_required:
                self._emit(
                    "breaking",
                    "header-made-optional",
                    loc,
                    f"Response header {_quote(name)} is no longer guaranteed; "
                    "clients generated from the old spec assume it is present.",
                )
            elif now_required and not was_required:
                self._emit(
                    "compatible",
                    "header-made-required",
                    loc,
                    f"Response header {_quote(name)} is now always sent.",
                )
            self._schemas(loc, "response", "header", f"response header {_quote(name)}").compare(
                before.get("schema"), header.get("schema")
            )

    def _security(self, old: _Operation, new: _Operation, label: str) -> None:
        def effective(op: _Operation, spec: Mapping[str, Any]) -> list[dict[str, frozenset[str]]]:
            raw = op.node.get("security") if "security" in op.node else spec.get("security")
            # An empty (or missing) requirement list means anonymous access.
            return _security_alternatives(raw) or [{}]

        def canon(alts: list[dict[str, frozenset[str]]]) -> list[str]:
            return sorted({_canon({k: sorted(v) for k, v in a.items()}) for a in alts})

        before = effective(old, self.old_spec)
        after = effective(new, self.new_spec)
        if canon(before) == canon(after):
            return
        old_alts, new_alts = before, after
        broken = [a for a in old_alts if not any(_satisfies(a, b) for b in new_alts)]
        if not broken:
            self._emit(
                "compatible",
                "security-relaxed",
                label,
                f"Security changed from {_render_security(before)} to "
                f"{_render_security(after)}; every old way to authenticate still works.",
            )
            return
        if any(not a for a in broken):
            self._emit(
                "breaking",
                "security-added",
                label,
                f"The operation now requires authentication "
                f"({_render_security(after)}); anonymous clients will be rejected.",
            )
            return
        for alt in broken:
            same = [b for b in new_alts if set(b) == set(alt)]
            added = sorted({s for b in same for name in b for s in b[name] - alt[name]})
            if same and added:
                self._emit(
                    "breaking",
                    "security-scopes-added",
                    label,
                    f"Additional scopes are now required ({', '.join(added)}); "
                    "tokens issued for the old requirement "
                    f"({_render_security([alt])}) will be rejected.",
                )
            else:
                self._emit(
                    "breaking",
                    "security-changed",
                    label,
                    f"Security changed from {_render_security(before)} to "
                    f"{_render_security(after)}; clients authenticating with "
                    f"{_render_security([alt])} will be rejected.",
                )

    def _behaviour(self, old: _Operation, new: _Operation, label: str) -> None:
        for ext in BEHAVIOUR_EXTENSIONS:
            missing = object()
            before = old.node.get(ext, missing)
            after = new.node.get(ext, missing)
            if before is missing and after is missing:
                continue
            if before is not missing and after is not missing and _canon(before) == _canon(after):
                continue
            old_text = "unset" if before is missing else _show(before)
            new_text = "unset" if after is missing else _show(after)
            self._emit(
                "compatible",
                "behaviour-changed",
                label,
                f"{ext} changed from {old_text} to {new_text}; the wire contract is "
                "the same but client runtime behaviour (retries, idempotency, "
                "transports) may differ.",
            )

    # -- WebSocket frames (x-kei-websocket) --------------------------------

    def _websocket(self) -> None:
        """Compare the ``x-kei-websocket`` channel and its frame schemas.

        Client frames are compared like request bodies, server frames like
        responses; the catch-all ``any`` union is skipped because every
        frame is already compared on its own.
        """
        old_ws = _as_mapping(self.old_spec.get(WEBSOCKET_EXTENSION))
        new_ws = _as_mapping(self.new_spec.get(WEBSOCKET_EXTENSION))
        if not old_ws and not new_ws:
            return
        old_path = str(old_ws.get("path", "")) or "(unspecified path)"
        new_path = str(new_ws.get("path", "")) or "(unspecified path)"
        if not new_ws:
            self._emit(
                "breaking",
                "websocket-removed",
                f"WEBSOCKET {old_path}",
                "The WebSocket channel was removed; clients streaming over it break.",
            )
            return
        label = f"WEBSOCKET {new_path}"
        if not old_ws:
            self._emit(
                "compatible",
                "websocket-added",
                label,
                "A WebSocket channel was added; existing clients are unaffected.",
            )
            return
        if old_path != new_path:
            self._emit(
                "breaking",
                "websocket-path-changed",
                label,
                f"The WebSocket path changed from {old_path} to {new_path}; clients connect to the old URL.",
            )
        if _canon(old_ws.get("subprotocol")) != _canon(new_ws.get("subprotocol")):
            self._emit(
                "breaking",
                "websocket-subprotocol-changed",
                label,
                f"The WebSocket subprotocol changed from {_show(old_ws.get('subprotocol'))} "
                f"to {_show(new_ws.get('subprotocol'))}; the upgrade handshake of "
                "existing clients fails.",
            )
        old_frames = _as_mapping(old_ws.get("frames"))
        new_frames = _as_mapping(new_ws.get("frames"))
        sides: tuple[tuple[str, Direction], ...] = (("client", "request"), ("server", "response"))
        for side, direction in sides:
            before = _as_mapping(old_frames.get(side))
            after = _as_mapping(new_frames.get(side))
            for name in sorted(set(before) | set(after), key=str):
                what = f"{side} frame {_quote(str(name))}"
                loc = f"{label} {what}"
                if name not in after:
                    self._emit(
                        "breaking",
                        "frame-removed",
                        loc,
                        f"The {what} was removed; clients that "
                        + ("send" if side == "client" else "handle")
                        + " it break.",
                    )
                elif name not in before:
                    if side == "client":
                        self._emit(
                            "compatible",
                            "frame-added",
                            loc,
                            f"New {what}; existing clients never send it.",
                        )
                    else:
                        self._emit(
                            "breaking",
                            "frame-added",
                            loc,
                            f"New {what}; generated clients with a closed frame union fail to decode it.",
                        )
                else:
                    self._schemas(loc, direction, "frame", what).compare(before[name], after[name])


def compare_specs(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Classify every contract difference between two OpenAPI documents.

    Args:
        old: The baseline document (e.g. the spec at ``HEAD``).
        new: The candidate document (e.g. the working copy).

    Returns:
        The changes, sorted by location then kind (deterministic).  An empty
        list means the wire contract is unchanged.
    """
    return _SpecDiff(old, new).run()


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


def _parse(text: str, source: str) -> dict[str, Any]:
    """Parse YAML/JSON text into a mapping or raise :class:`ChangeReportError`."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ChangeReportError(f"{source} is not valid YAML: {first}") from exc
    if not isinstance(data, dict):
        raise ChangeReportError(f"{source} does not contain an OpenAPI document (mapping)")
    return data


def load_spec_file(path: Path) -> dict[str, Any]:
    """Load an OpenAPI document (YAML or JSON) from disk.

    Raises:
        ChangeReportError: if the file is missing, unreadable or not a mapping.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ChangeReportError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return _parse(text, str(path))


def _git(repo_root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run git in ``repo_root`` and capture its output."""
    try:
        return subprocess.run(
            ["git", "-C", str(repo_root), *args],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise ChangeReportError(f"cannot run git: {exc}") from exc


def _first_line(text: str) -> str:
    """First non-empty line of ``text`` (git error output)."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return "unknown git error"


def _relative_spec_path(spec_path: Path, repo_root: Path) -> str:
    """``spec_path`` relative to ``repo_root``, POSIX style, for ``git show``."""
    if spec_path.is_absolute():
        try:
            return spec_path.resolve().relative_to(repo_root.resolve()).as_posix()
        except ValueError as exc:
            raise ChangeReportError(f"{spec_path} is not inside {repo_root}") from exc
    return spec_path.as_posix()


def load_spec_at_rev(rev: str, spec_path: Path, repo_root: Path) -> dict[str, Any]:
    """Load the spec as it was at git revision ``rev``.

    Uses ``git show REV:./PATH`` run inside ``repo_root``; a relative
    ``spec_path`` is taken relative to ``repo_root``.

    Raises:
        ChangeReportError: if ``repo_root`` is not a git work tree, ``rev``
            does not name a commit, or the file does not exist at ``rev``.
    """
    if not rev or rev.startswith("-"):
        raise ChangeReportError(f"invalid git revision {rev!r}")
    relative = _relative_spec_path(spec_path, repo_root)
    check = _git(repo_root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if check.returncode != 0:
        probe = _git(repo_root, "rev-parse", "--git-dir")
        if probe.returncode != 0:
            raise ChangeReportError(f"{repo_root} is not a git repository: {_first_line(probe.stderr)}")
        raise ChangeReportError(f"unknown git revision {rev!r}")
    shown = _git(repo_root, "show", f"{rev}:./{relative}")
    if shown.returncode != 0:
        raise ChangeReportError(f"{relative} does not exist at revision {rev!r}: {_first_line(shown.stderr)}")
    return _parse(shown.stdout, f"{relative}@{rev}")


# --------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------


def format_report(changes: Sequence[Change], old_label: str, new_label: str) -> str:
    """Render changes as a plain-text report.

    The report has a header naming both sides, then a ``Breaking changes (N)``
    and a ``Compatible changes (N)`` section with one ``- [kind] location:
    detail`` line per change.  With no changes it says so instead.
    """
    title = f"OpenAPI change report: {old_label} -> {new_label}"
    lines = [title, "=" * len(title), ""]
    if not changes:
        lines.append("No changes to the wire contract.")
        return "\n".join(lines) + "\n"
    breaking = [c for c in changes if c.severity == "breaking"]
    compatible = [c for c in changes if c.severity != "breaking"]
    for heading, group in (("Breaking changes", breaking), ("Compatible changes", compatible)):
        lines.append(f"{heading} ({len(group)})")
        if not group:
            lines.append("  (none)")
        lines.extend(f"- [{c.kind}] {c.location}: {c.detail}" for c in group)
        lines.append("")
    lines.append(f"Summary: {len(breaking)} breaking, {len(compatible)} compatible.")
    return "\n".join(lines) + "\n"


def _iter_lines(message: str) -> Iterator[str]:
    """Yield the non-empty lines of ``message``."""
    return (line for line in message.splitlines() if line.strip())


def run_changes(rev: str, fail_on_breaking: bool, spec_path: Path, repo_root: Path) -> int:
    """Compare the spec at ``rev`` with the working copy and print a report.

    Args:
        rev: Git revision of the baseline (e.g. ``"HEAD"``, ``"origin/main"``).
        fail_on_breaking: Return 1 when any breaking change is found.
        spec_path: The spec file; relative paths are taken relative to
            ``repo_root``.
        repo_root: A directory inside the git work tree.

    Returns:
        0 on success, 1 if ``fail_on_breaking`` and a breaking change exists,
        2 if a spec could not be loaded (one-line message on stderr).
    """
    spec_path = Path(spec_path)
    repo_root = Path(repo_root)
    try:
        relative = _relative_spec_path(spec_path, repo_root)
        old = load_spec_at_rev(rev, spec_path, repo_root)
        current = spec_path if spec_path.is_absolute() else repo_root / spec_path
        new = load_spec_file(current)
    except ChangeReportError as exc:
        message = " ".join(_iter_lines(str(exc))) or type(exc).__name__
        print(f"error: {message}", file=sys.stderr)
        return 2
    changes = compare_specs(old, new)
    sys.stdout.write(format_report(changes, f"{relative}@{rev}", f"{relative} (working tree)"))
    if fail_on_breaking and any(c.severity == "breaking" for c in changes):
        return 1
    return 0
