"""Canary-secret checks: a secret must not show up in logs, reprs, exceptions or SDK frame locals.

:class:`SecretWatch` captures every loguru record (our packages enabled, ``diagnose=True``) and
every stdlib ``logging`` record at DEBUG while it is active, and offers checks of SDK objects
(their ``repr`` and the ``repr`` of everything they hold, except inside a ``Secret``) and of
exceptions (message, ``repr``, ``args``, attributes, chained causes, and the locals of every SDK
frame of their tracebacks).
"""

from __future__ import annotations

import io
import logging
import traceback
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any

from loguru import logger

from kei_agent.secrets import Secret

SDK_PACKAGES = ("kei_agent", "kei_agent_async", "kei_agent_sync")
_SDK_PATH_PARTS = ("/kei_agent/", "/kei_agent_async/", "/kei_agent_sync/")
_NOT_SDK_PATH_PARTS = ("/kei_agent/testing/", "/kei_agent/_generated/")


def _is_sdk_object(value: object) -> bool:
    module = type(value).__module__ or ""
    return module.split(".")[0] in SDK_PACKAGES and not module.startswith("kei_agent.testing")


def _is_sdk_frame(filename: str) -> bool:
    return any(part in filename for part in _SDK_PATH_PARTS) and not any(p in filename for p in _NOT_SDK_PATH_PARTS)


class SecretWatch:
    """Collects log output while active; ``check_*`` methods assert that no canary leaked."""

    def __init__(self, *canaries: str | Secret | None) -> None:
        self.canaries: list[str] = []
        self.add(*canaries)
        self._buffer = io.StringIO()
        self._stdlib = _ListHandler()
        self._sink_id: int | None = None
        self._root_level = logging.WARNING
        self.findings: list[str] = []

    def add(self, *canaries: str | Secret | None) -> None:
        """Watch more secrets (e.g. access tokens issued during the test)."""
        for canary in canaries:
            if isinstance(canary, Secret):
                canary = canary.reveal()
            if canary and canary not in self.canaries:
                self.canaries.append(canary)

    def __enter__(self) -> SecretWatch:
        for package in SDK_PACKAGES:
            logger.enable(package)
        self._sink_id = logger.add(
            self._buffer,
            level=0,
            format="{time} {level} {name} {message} | {extra} | {exception}",
            diagnose=True,
            backtrace=True,
            colorize=False,
        )
        root = logging.getLogger()
        self._root_level = root.level
        root.setLevel(logging.DEBUG)
        root.addHandler(self._stdlib)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        root = logging.getLogger()
        root.removeHandler(self._stdlib)
        root.setLevel(self._root_level)
        if self._sink_id is not None:
            logger.remove(self._sink_id)
        for package in SDK_PACKAGES:
            logger.disable(package)

    # ------------------------------------------------------------------------------ checks

    def _scan(self, where: str, text: str) -> None:
        for canary in self.canaries:
            if canary in text:
                self.findings.append(f"{where}: contains a secret ({canary[:12]}...)")

    @property
    def log_text(self) -> str:
        return self._buffer.getvalue() + "\n".join(self._stdlib.lines)

    def check_logs(self) -> None:
        self._scan("loguru records", self._buffer.getvalue())
        self._scan("stdlib logging records", "\n".join(self._stdlib.lines))

    def check_objects(self, *roots: object) -> None:
        for where, text in _walk_reprs(roots):
            self._scan(where, text)

    def check_exception(self, error: BaseException) -> None:
        for index, exc in enumerate(_chain(error)):
            name = f"exception[{index}] {type(exc).__name__}"
            self._scan(f"{name} str", str(exc))
            self._scan(f"{name} repr", repr(exc))
            self._scan(f"{name} args", repr(exc.args))
            self._scan(f"{name} attributes", repr(getattr(exc, "__dict__", {})))
            self._scan(f"{name} formatted", "".join(traceback.format_exception_only(exc)))
            for frame, _ in traceback.walk_tb(exc.__traceback__):
                if _is_sdk_frame(frame.f_code.co_filename):
                    for local, value in frame.f_locals.items():
                        where = f"{name} frame {frame.f_code.co_name} local {local}"
                        self._scan(where, _safe_repr(value))
                        if _is_sdk_object(value):
                            for inner_where, text in _walk_reprs([value]):
                                self._scan(f"{where} -> {inner_where}", text)

    def assert_clean(self) -> None:
        self.check_logs()
        assert not self.findings, "secrets leaked:\n" + "\n".join(sorted(set(self.findings)))


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a broken record must not break the test
            message = repr(record.msg)
        exc_text = "".join(traceback.format_exception(*record.exc_info)) if record.exc_info else ""
        self.lines.append(f"{record.name} {record.levelname} {message} {exc_text}")


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except Exception as exc:  # repr of half-built objects may fail
        return f"<repr failed: {type(exc).__name__}>"


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        exc = pending.pop()
        if id(exc) in seen:
            continue
        seen.add(id(exc))
        yield exc
        for linked in (exc.__cause__, exc.__context__):
            if linked is not None:
                pending.append(linked)


def _attributes(value: object) -> Iterable[tuple[str, Any]]:
    names: list[str] = list(getattr(value, "__dict__", {}))
    for cls in type(value).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        names.extend([slots] if isinstance(slots, str) else list(slots))
    for name in dict.fromkeys(names):
        if name in ("__dict__", "__weakref__"):
            continue
        try:
            yield name, object.__getattribute__(value, name)
        except AttributeError:
            continue


def _walk_reprs(roots: Iterable[object]) -> Iterator[tuple[str, str]]:
    """(where, text) for every SDK object reachable from ``roots`` and everything it holds,
    without looking inside a Secret (its value is meant to be there)."""
    seen: set[int] = set()
    pending: list[tuple[str, object]] = [(type(root).__name__, root) for root in roots]
    while pending:
        path, value = pending.pop()
        if id(value) in seen or isinstance(value, Secret):
            continue
        seen.add(id(value))
        yield path, _safe_repr(value)
        if isinstance(value, str | bytes):
            continue
        if isinstance(value, dict):
            for key, item in value.items():
                pending.append((f"{path}[{key!r}]", item))
            continue
        if isinstance(value, list | tuple | set | frozenset):
            for index, item in enumerate(value):
                pending.append((f"{path}[{index}]", item))
            continue
        if _is_sdk_object(value):
            for name, item in _attributes(value):
                pending.append((f"{path}.{name}", item))
