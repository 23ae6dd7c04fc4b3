"""Validation helpers shared by the configuration classes: collect every problem, never stop early."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Final, cast
from urllib.parse import urlsplit

import attrs

from .errors import ConfigurationError, FieldProblem, redact_url
from .secrets import Secret

HEADER_NAME: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
HEADER_VALUE: Final = re.compile(r"[\t\x20-\x7e]*")


def show(value: object) -> str:
    """A short ``repr`` of a (non-secret) value for messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def values_of(instance: attrs.AttrsInstance) -> dict[str, Any]:
    """Field name → value of an attrs instance (not recursive)."""
    return {field.name: getattr(instance, field.name) for field in attrs.fields(type(instance))}


def field_default(field: attrs.Attribute[Any]) -> Any:
    """The default of an attrs field (factories are called); ``attrs.NOTHING`` when required."""
    default: Any = field.default
    if isinstance(default, cast("type", attrs.Factory)):
        return cast("Any", default).factory()
    return default


def raise_if(problems: list[FieldProblem], title: str) -> None:
    """Raise one ConfigurationError listing ``problems``, if there are any."""
    if problems:
        raise ConfigurationError(problems, title=title)


class Check:
    """Collects problems for one config section; values are read from a name → value mapping.

    A name missing from ``values`` is skipped (its problem was reported while structuring input).
    """

    def __init__(self, values: Mapping[str, Any], prefix: str) -> None:
        """Check ``values``; problem paths are ``prefix + name``."""
        self.values = values
        self.prefix = prefix
        self.problems: list[FieldProblem] = []

    def add(self, name: str, message: str, hint: str | None = None) -> None:
        """Record a problem of field ``name``."""
        self.problems.append(FieldProblem(self.prefix + name, message, hint))

    def number(
        self,
        name: str,
        *,
        minimum: float | None = None,
        above: float | None = None,
        maximum: float | None = None,
        integer: bool = False,
        hint: str | None = None,
    ) -> float | None:
        """Check a finite number (``above`` = exclusive minimum); return it when valid."""
        if name not in self.values:
            return None
        value = self.values[name]
        kind = "an integer" if integer else "a number"
        if isinstance(value, bool) or not isinstance(value, int if integer else int | float):
            self.add(name, f"must be {kind}, got {show(value)}", hint)
            return None
        if not math.isfinite(value):
            self.add(name, f"must be a finite number, got {show(value)}", hint)
            return None
        if minimum is not None and value < minimum:
            self.add(name, f"must be at least {minimum:g}, got {value!r}", hint)
            return None
        if above is not None and value <= above:
            self.add(name, f"must be greater than {above:g}, got {value!r}", hint)
            return None
        if maximum is not None and value > maximum:
            self.add(name, f"must be at most {maximum:g}, got {value!r}", hint)
            return None
        return float(value)

    def flag(self, name: str) -> None:
        """Check a boolean."""
        if name in self.values and not isinstance(self.values[name], bool):
            self.add(name, f"must be true or false, got {show(self.values[name])}")

    def text(self, name: str, *, optional: bool = False, header: bool = False, hint: str | None = None) -> str | None:
        """Check a non-empty string (``header``: usable as an HTTP header value); return it when valid."""
        if name not in self.values:
            return None
        value = self.values[name]
        if value is None:
            if not optional:
                self.add(name, "is required", hint)
            return None
        if not isinstance(value, str):
            self.add(name, f"must be a string, got {type(value).__name__}", hint)
            return None
        if not value.strip():
            self.add(name, "must not be empty", hint or ("omit it" if optional else None))
            return None
        if header and not HEADER_VALUE.fullmatch(value):
            self.add(name, "must contain only printable ASCII characters (it is sent as an HTTP header)", hint)
            return None
        return value

    def secret(self, name: str, *, hint: str | None = None) -> Secret | None:
        """Check an optional secret without ever showing its value."""
        value = self.values.get(name)
        if value is None:
            return None
        if not isinstance(value, Secret):
            self.add(name, f"must be a string or Secret, got {type(value).__name__}", hint)
            return None
        if not value:
            self.add(name, "must not be empty", hint or "omit it (None) or provide the value")
            return None
        return value

    def url(self, name: str, *, optional: bool = False, hint: str | None = None) -> str | None:
        """Check an absolute http(s) URL with a host and without credentials (echoed only redacted)."""
        value = self.text(name, optional=optional, hint=hint)
        if value is None:
            return None
        shown = redact_url(value)
        try:
            parts = urlsplit(value)
            host = parts.hostname
            _ = parts.port
        except ValueError:
            self.add(name, f"is not a valid URL: {shown!r}", hint)
            return None
        if parts.scheme not in {"http", "https"}:
            self.add(name, f"must use http or https, got {parts.scheme or 'no scheme'} in {shown!r}", hint)
            return None
        if not host:
            self.add(name, f"must include a host, got {shown!r}", hint)
            return None
        if parts.username is not None or parts.password is not None:
            self.add(name, "must not contain credentials", "remove user:password@ and configure the token instead")
            return None
        if parts.query or parts.fragment:
            self.add(name, f"must not contain a query string or fragment ({shown!r} without them)", hint)
            return None
        return value
