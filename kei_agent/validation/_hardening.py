"""Hardening limits on request input: size, nesting depth, string length, collection size,
control characters - and values that are not JSON at all.

No keyword or pattern blacklists: text is data. Apostrophes, ``#``, ``--``, ``SELECT`` and
``<script>`` are ordinary characters for this client (the server must escape what it renders or
queries); what is rejected is input no honest caller produces - control characters, absurd
sizes and nesting that exist to exhaust parsers.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from typing import Any, Final

import attrs

from kei_agent.errors import FieldProblem

from ._schema import child_path, json_type

__all__ = ["CONTROL_CHARACTERS", "HardeningLimits", "Inspection", "inspect"]

#: C0 controls except TAB, LF and CR; DEL; C1 controls.
CONTROL_CHARACTERS: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be a positive integer, got {value!r}")


@attrs.frozen(kw_only=True)
class HardeningLimits:
    """Limits applied to every request body before it is sent (and by ``validate_agent_operation``).

    ``max_payload_bytes`` bounds the JSON size of the body, ``max_depth`` the nesting of objects
    and arrays, ``max_string_length`` any one string (keys included, in characters) and
    ``max_collection_size`` the entries of any one object or array. ``allow_control_characters``
    lets C0/C1 control characters (other than TAB, LF, CR) through.
    """

    max_payload_bytes: int = attrs.field(default=4 * 1024 * 1024, validator=_positive)
    max_depth: int = attrs.field(default=32, validator=_positive)
    max_string_length: int = attrs.field(default=1024 * 1024, validator=_positive)
    max_collection_size: int = attrs.field(default=10_000, validator=_positive)
    allow_control_characters: bool = False


@attrs.define
class Inspection:
    """What :func:`inspect` found: hardening violations, non-JSON values, a sanitized copy."""

    security: list[FieldProblem] = attrs.field(factory=list)
    problems: list[FieldProblem] = attrs.field(factory=list)
    control_characters: list[FieldProblem] = attrs.field(factory=list)
    size: int = 0
    sanitized: Any = None


#: A path while walking: the root's name, or (parent path, key); rendered only for problems.
_Path = Any


def _render(path: _Path) -> str:
    keys: list[Any] = []
    while isinstance(path, tuple):
        path, key = path
        keys.append(key)
    text = str(path)
    for key in reversed(keys):
        text = child_path(text, key)
    return text


class _Walker:
    __slots__ = ("deep_reported", "limits", "result", "sanitize", "size")

    def __init__(self, limits: HardeningLimits, sanitize: bool) -> None:
        self.limits = limits
        self.sanitize = sanitize
        self.result = Inspection()
        self.deep_reported = False
        self.size = 0

    def text(self, value: str, path: _Path, what: str) -> str:
        limits = self.limits
        self.size += len(value) + 2
        if len(value) > limits.max_string_length:
            self.result.security.append(
                FieldProblem(
                    _render(path), f"{what} of {len(value)} characters exceeds the limit of {limits.max_string_length}"
                )
            )
        if not limits.allow_control_characters and CONTROL_CHARACTERS.search(value) is not None:
            count = len(CONTROL_CHARACTERS.findall(value))
            self.result.control_characters.append(
                FieldProblem(
                    _render(path), f"{what} contains {count} control character(s)", "remove them or send text only"
                )
            )
            if self.sanitize:
                return CONTROL_CHARACTERS.sub("", value)
        return value

    def walk(self, value: Any, path: _Path, depth: int) -> Any:
        kind = type(value)
        if kind is str:
            return self.text(value, path, "string")
        if kind is dict or kind is list:
            return self.container(value, path, depth + 1)
        if value is None or kind is bool or kind is int:
            self.size += 5
            return value
        if isinstance(value, str):
            return self.text(value, path, "string")
        if isinstance(value, float):
            self.size += 8
            if value != value or value in (float("inf"), float("-inf")):
                self.result.problems.append(
                    FieldProblem(_render(path), "must be a finite number (JSON has no NaN/Infinity)")
                )
            return value
        if isinstance(value, bool | int):
            self.size += 5
            return value
        if isinstance(value, Mapping | list | tuple):
            return self.container(value, path, depth + 1)
        self.result.problems.append(
            FieldProblem(
                _render(path), f"is a {json_type(value)}, not a JSON value", "convert it to a string, number or dict"
            )
        )
        return value

    def container(self, value: Mapping[Any, Any] | list[Any] | tuple[Any, ...], path: _Path, depth: int) -> Any:
        limits = self.limits
        if depth > limits.max_depth:
            if not self.deep_reported:
                self.result.security.append(
                    FieldProblem(_render(path), f"nesting exceeds the limit of {limits.max_depth}")
                )
                self.deep_reported = True
            return None
        if len(value) > limits.max_collection_size:
            self.result.security.append(
                FieldProblem(_render(path), f"{len(value)} entries exceed the limit of {limits.max_collection_size}")
            )
            return None
        self.size += 2
        sanitize = self.sanitize
        if isinstance(value, Mapping):
            copy: dict[str, Any] = {}
            for key, item in value.items():
                item_path = (path, key)
                if type(key) is not str and not isinstance(key, str):
                    self.result.problems.append(
                        FieldProblem(_render(item_path), f"key must be a string, got {json_type(key)}")
                    )
                    continue
                clean_key = self.text(key, item_path, "key")
                walked = self.walk(item, item_path, depth)
                if sanitize:
                    copy[clean_key] = walked
            return copy if sanitize else value
        items = [self.walk(item, (path, index), depth) for index, item in enumerate(value)]
        return items if sanitize else value


def inspect(value: Any, limits: HardeningLimits, *, sanitize: bool = False, path: str = "$") -> Inspection:
    """Check ``value`` against ``limits``; with ``sanitize`` also build a copy without control characters."""
    walker = _Walker(limits, sanitize)
    sanitized = walker.walk(value, path, 0)
    result = walker.result
    result.size = walker.size
    if result.size > limits.max_payload_bytes // 2 and not result.problems and not result.security:
        # The running size is an estimate (characters, not bytes): measure exactly near the limit.
        with contextlib.suppress(TypeError, ValueError, RecursionError):
            result.size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if result.size > limits.max_payload_bytes:
        result.security.append(
            FieldProblem(path, f"payload of about {result.size} bytes exceeds the limit of {limits.max_payload_bytes}")
        )
    if sanitize:
        result.sanitized = sanitized
    return result
