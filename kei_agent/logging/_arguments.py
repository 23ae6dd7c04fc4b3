"""Checks of every ``configure_logging`` argument, done before any sink is touched.

A bad call raises one :class:`~kei_agent.errors.ConfigurationError` listing each bad argument by
name with a fix, and the previous logging configuration stays in place. Levels are accepted as
loguru or stdlib names (``"warn"``, ``"FATAL"`` and ``"NOTSET"`` too) or as numbers
(``logging.DEBUG``).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, cast

from kei_agent.errors import ConfigurationError, FieldProblem

from ._redact import Redactor

__all__ = ["Plan", "level_number", "sink_error", "validate_arguments"]

#: stdlib spellings loguru does not know → loguru's level name.
_STDLIB_ALIASES: Final = {"WARN": "WARNING", "FATAL": "CRITICAL"}
_LEVEL_HINT: Final = (
    "use DEBUG, INFO, WARNING, ERROR or CRITICAL (or TRACE, SUCCESS), or a number such as logging.DEBUG"
)


@dataclass(frozen=True)
class Plan:
    """What the checked arguments resolve to."""

    level_no: int
    redactor: Redactor


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def level_number(level: object) -> int:
    """The numeric level of ``level`` (a name or a number); ``ConfigurationError`` naming ``level``."""
    if isinstance(level, int) and not isinstance(level, bool):
        if level < 0:
            raise ConfigurationError([FieldProblem("level", f"must not be negative, got {level}", _LEVEL_HINT)])
        return level
    if isinstance(level, str):
        name = level.strip().upper()
        if name.isdigit():
            return int(name)
        if name == "NOTSET":
            return logging.NOTSET
        name = _STDLIB_ALIASES.get(name, name)
        try:
            from loguru import logger

            return int(logger.level(name).no)
        except ValueError:
            pass
        raise ConfigurationError([FieldProblem("level", f"is not a known level: {_show(level)}", _LEVEL_HINT)])
    raise ConfigurationError(
        [FieldProblem("level", f"must be a level name or number, got {type(level).__name__}", _LEVEL_HINT)]
    )


def _strings(problems: list[FieldProblem], name: str, value: object) -> None:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        problems.append(FieldProblem(name, f"must be a list of names, got {_show(value)}", f"use e.g. {name}=['x']"))
        return
    bad = [item for item in value if not isinstance(item, str)]
    if bad:
        problems.append(FieldProblem(name, f"must contain names (strings), got {_show(bad[0])}"))


def _path(problems: list[FieldProblem], name: str, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str | os.PathLike) or not os.fspath(value):
        problems.append(FieldProblem(name, f"must be a file path, got {_show(value)}"))
        return
    path = os.fspath(value)
    if os.path.isdir(path):
        problems.append(FieldProblem(name, f"{path} is a directory", "use the path of a log file"))
        return
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):  # the nearest existing ancestor must let us create the rest
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        problems.append(FieldProblem(name, f"{parent} is not a directory", "use a path inside a directory"))
    elif not os.access(parent, os.W_OK | os.X_OK):
        problems.append(FieldProblem(name, f"{parent} is not writable by this process", "choose a writable path"))


def _schedule(problems: list[FieldProblem], name: str, value: object, kinds: tuple[type, ...]) -> None:
    if value is None or callable(value) or (isinstance(value, kinds) and not isinstance(value, bool)):
        return
    problems.append(
        FieldProblem(name, f"must be a size or duration such as '10 MB' or '7 days', or a count, got {_show(value)}")
    )


def validate_arguments(
    *,
    level: object,
    flags: Mapping[str, object],
    paths: Mapping[str, object],
    extra_fields: object,
    rotation: object,
    retention: object,
    redact_keys: object,
    pii_keys: object,
    intercept_stdlib: object,
    stream: object,
) -> Plan:
    """Check every argument of ``configure_logging``; all problems are reported at once."""
    problems: list[FieldProblem] = []
    level_no = 0
    try:
        level_no = level_number(level)
    except ConfigurationError as exc:
        problems.extend(exc.problems)
    for name, value in flags.items():
        if not isinstance(value, bool):
            problems.append(FieldProblem(name, f"must be True or False, got {_show(value)}"))
    for name, value in paths.items():
        _path(problems, name, value)
    if extra_fields is not None:
        if not isinstance(extra_fields, Mapping):
            problems.append(FieldProblem("extra_fields", f"must be a mapping, got {type(extra_fields).__name__}"))
        elif any(not isinstance(key, str) for key in extra_fields):
            problems.append(FieldProblem("extra_fields", "keys must be strings"))
    _schedule(problems, "rotation", rotation, (str, int, float, dt.time, dt.timedelta))
    _schedule(problems, "retention", retention, (str, int, dt.timedelta))
    _strings(problems, "redact_keys", redact_keys)
    _strings(problems, "pii_keys", pii_keys)
    if not isinstance(intercept_stdlib, bool):
        _strings(problems, "intercept_stdlib", intercept_stdlib)
    if stream is not None and not callable(getattr(stream, "write", None)):
        problems.append(FieldProblem("stream", f"must be a text stream with write(), got {type(stream).__name__}"))
    if problems:
        raise ConfigurationError(problems, title="Invalid configure_logging arguments")
    redactor = Redactor(
        secret_keys=list(cast("Iterable[str]", redact_keys)),
        pii_keys=list(cast("Iterable[str]", pii_keys)),
        pii=bool(flags["redact_pii"]),
    )
    return Plan(level_no=level_no, redactor=redactor)


def sink_error(exc: Exception, argument: str, schedules: Mapping[str, object]) -> ConfigurationError:
    """A sink could not be created while adding the sink of ``argument``: name the argument at fault.

    loguru parses ``rotation`` and ``retention`` only when it adds a file sink; its message quotes
    the part it could not parse, which tells the two apart (``schedules``: name → value).
    """
    text = str(exc)
    if not isinstance(exc, OSError) and argument != "stream":
        quoted = re.findall(r"'([^']+)'", text)
        names = [
            name
            for name, value in schedules.items()
            if value is not None and (not quoted or any(part in str(value) for part in quoted))
        ]
        if names:
            hint = "use e.g. '10 MB', '1 day' or a number"
            return ConfigurationError([FieldProblem(name, f"cannot be used: {text}", hint) for name in names])
    return ConfigurationError([FieldProblem(argument, f"{type(exc).__name__}: {text}")])
