"""Structuring configuration from mappings and environment variables (imported lazily).

Each field is coerced by the hook of its type (strings to numbers, booleans, secrets, enums); the
sections are walked here so that one pass reports everything at once: unknown keys, values of the
wrong type, and the configuration classes' own rules (cross-field ones included) on every value
that could be coerced, even when a neighbouring field or another section is broken too.

This used to be a cattrs ``Converter`` whose every hook was ours; cattrs added a runtime dependency
and ~0.1 s of import time without doing any of the work. Its class structuring cannot replace the
walk: with detailed validation it collects the type errors of a section but then never builds the
section, so the section's own rules (``max_keepalive_connections <= max_connections``, the auth
variants' required settings) on the fields that were fine would go unreported - the all-at-once
report and its messages and order are the contract (tests/unit/test_config.py).
"""

from __future__ import annotations

import difflib
import functools
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Final, NoReturn, TypeVar, cast

import attrs

from ._config_checks import field_default, raise_if, show
from .auth.providers import TokenProvider
from .config import _CONFIG_CLASSES, AuthType, _env_fields, _type_hints
from .errors import FieldProblem
from .secrets import Secret

_C = TypeVar("_C")

_TRUE: Final = frozenset({"1", "true", "yes", "on", "y", "t"})
_FALSE: Final = frozenset({"0", "false", "no", "off", "n", "f"})
_INTEGER: Final = re.compile(r"[+-]?\d+")


def _fail(message: str) -> NoReturn:
    raise ValueError(message)


def _structure_int(value: object, _: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    _fail(f"must be an integer, got {show(value)}")


def _structure_float(value: object, _: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    _fail(f"must be a number, got {show(value)}")


def _structure_bool(value: object, _: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    _fail(f"must be true or false, got {show(value)}")


def _structure_str(value: object, _: object) -> str:
    if isinstance(value, str):
        return value
    _fail(f"must be a string, got {type(value).__name__}")


def _structure_secret(value: object, _: object) -> Secret:
    if isinstance(value, Secret):
        return value
    if isinstance(value, str):
        return Secret(value)
    _fail(f"must be a string or Secret, got {type(value).__name__}")  # never the value itself


def _structure_verify(value: object, _: object) -> bool | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE | _FALSE:
            return lowered in _TRUE
        return value
    _fail(f"must be true, false, 'system' or a CA bundle path, got {show(value)}")


def _structure_auth_type(value: object, _: object) -> AuthType:
    if isinstance(value, AuthType):
        return value
    if isinstance(value, str):
        try:
            return AuthType(value.strip().lower())
        except ValueError:
            pass
    choices = ", ".join(member.value for member in AuthType)
    _fail(f"must be one of {choices}, got {show(value)}")


def _structure_headers(value: object, _: object) -> Mapping[str, str]:
    if isinstance(value, Mapping):
        return dict(value)  # names and values are checked by AgentClientConfig's rules
    _fail(f"must be a mapping of header names to values, got {type(value).__name__}")


#: The coercion of each field type; ``X | None`` accepts ``None`` and coerces the rest as ``X``.
_HOOKS: Final[dict[Any, Callable[[object, object], Any]]] = {
    int: _structure_int,
    float: _structure_float,
    bool: _structure_bool,
    str: _structure_str,
    Secret: _structure_secret,
    AuthType: _structure_auth_type,
    bool | str: _structure_verify,
    Mapping[str, str]: _structure_headers,
}


def _is_token_provider(hint: Any) -> bool:
    # Custom credential strategies are objects, not data: SecurityConfig's rules check them.
    return bool(hint == (TokenProvider | None))


@functools.cache
def _hook(hint: Any) -> Callable[[object, object], Any]:
    if _is_token_provider(hint):
        return lambda value, _: value
    found = _HOOKS.get(hint)
    if found is not None:
        return found
    members = typing.get_args(hint)
    if isinstance(hint, types.UnionType) and type(None) in members and len(members) == 2:
        inner = _hook(next(member for member in members if member is not type(None)))
        return lambda value, target: None if value is None else inner(value, target)
    raise TypeError(f"no coercion for configuration fields of type {hint!r}")


def _coerce(value: object, hint: Any) -> Any:
    return _hook(hint)(value, hint)


def _error_text(error: BaseException, secret: bool) -> str:
    if isinstance(error, ValueError) and error.args and isinstance(error.args[0], str):
        return error.args[0]
    return "has an invalid value" if secret else f"has an invalid value ({type(error).__name__})"


def _structure(cls: type, data: object, prefix: str) -> tuple[dict[str, Any], list[FieldProblem]]:
    """Structure ``data`` into field values for ``cls``; collect every problem (never raise)."""
    if not isinstance(data, Mapping):
        return {}, [FieldProblem(prefix.rstrip(".") or cls.__name__, f"must be a mapping, got {type(data).__name__}")]
    fields = attrs.fields_dict(cls)
    hints = _type_hints(cls)
    values: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    failed: set[str] = set()
    for key, raw in data.items():
        field = fields.get(key) if isinstance(key, str) else None
        if field is None:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"valid settings: {', '.join(fields)}"
            problems.append(FieldProblem(f"{prefix}{key}", "unknown setting", hint))
            continue
        hint_type = hints[key]
        if hint_type in _CONFIG_CLASSES:
            if isinstance(raw, hint_type):
                values[key] = raw
                continue
            sub_values, sub_problems = _structure(hint_type, raw, f"{prefix}{key}.")
            if sub_problems:
                problems.extend(sub_problems)
                failed.add(key)
            else:
                values[key] = hint_type(**sub_values)
            continue
        try:
            values[key] = _coerce(raw, hint_type)
        except Exception as error:
            failed.add(key)
            problems.append(FieldProblem(f"{prefix}{key}", _error_text(error, bool(field.metadata.get("secret")))))
    for name, field in fields.items():
        if field.default is attrs.NOTHING and name not in data:
            problems.append(FieldProblem(f"{prefix}{name}", "is required", f"add {name!r}"))
            failed.add(name)
    # The classes' own rules, on every value that could be structured (defaults for the rest).
    checked = {name: values[name] if name in values else field_default(field) for name, field in fields.items()}
    for name in failed:
        checked.pop(name, None)
    for name, field in fields.items():
        if name in checked and field.converter is not None:
            checked[name] = cast("Any", field.converter)(checked[name])
    for problem in cast("Any", cls)._problems(checked, prefix):
        if _field_of(problem, prefix) not in failed:
            problems.append(problem)
    order = {name: index for index, name in enumerate(fields)}
    problems.sort(key=lambda problem: order.get(_field_of(problem, prefix), len(order)))
    return values, problems


def _field_of(problem: FieldProblem, prefix: str) -> str:
    return problem.path.removeprefix(prefix).split("[")[0].split(".")[0]


def from_mapping(cls: type[_C], data: Mapping[str, Any], *, env_prefix: str | None = None) -> _C:
    """Build ``cls`` from ``data``; raise one ConfigurationError listing every problem.

    With ``env_prefix`` the data came from the environment: problems name the variable.
    """
    values, problems = _structure(cls, data, "")
    if env_prefix is not None:
        problems = [_env_problem(cls, problem, env_prefix) for problem in problems]
    if problems:
        del data, values  # keep raw values out of traceback locals
        raise_if(problems, f"Invalid {cls.__name__}")
    return cls(**values)


def read_env(cls: type, environ: Mapping[str, str], prefix: str) -> dict[str, Any]:
    """Collect the variables ``cls`` reads into nested data; empty variables count as unset."""
    data: dict[str, Any] = {}
    for suffix, path, secret in _env_fields(cls):
        raw = environ.get(prefix + suffix)
        if raw is None or not raw.strip():
            continue
        target = data
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = Secret(raw.strip()) if secret else raw.strip()
    return data


def _env_problem(cls: type, problem: FieldProblem, prefix: str) -> FieldProblem:
    for suffix, path, _ in _env_fields(cls):
        dotted = ".".join(path)
        if problem.path == dotted:
            variable = prefix + suffix
            hint = f"set {variable}" if problem.message == "is required" else problem.hint
            return FieldProblem(variable, f"{problem.message} ({dotted})", hint)
    return problem
