"""loguru on first use, and the SDK silent by default.

Importing loguru costs more than a third of the client's import (it loads ``asyncio`` and
``multiprocessing``), and the SDK is silent unless the application opts in, so most processes
never need it. Hence:

* :class:`LazyLogger` stands for loguru's logger, or one derived from it with ``bind``, ``opt``
  or ``patch``; the first other attribute (``warning``, ``log``, ``add``, ...) imports loguru and
  builds the real logger, once.
* :func:`silence` disables a package's records: at once when loguru is loaded, otherwise the
  moment anyone imports it (a one-shot import hook), before that importer can call
  ``logger.enable("kei_agent")`` - so an application's opt-in, with ``configure_logging`` or
  loguru's own ``enable``, always comes after the SDK's ``disable`` and wins.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType

    from loguru import Logger

__all__ = ["LazyLogger", "loguru_loaded", "loguru_logger", "set_sdk_logs_enabled", "silence"]

_sdk_logs_enabled = False
_pending: list[str] = []
_lock = threading.Lock()


class LazyLogger:
    """loguru's logger (or one derived with ``bind``/``opt``/``patch``), imported on first use."""

    __slots__ = ("_real", "_steps")

    def __init__(self, steps: tuple[tuple[str, tuple[Any, ...], dict[str, Any]], ...] = ()) -> None:
        self._steps = steps
        self._real: Any = None

    def _derive(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> LazyLogger:
        if self._real is not None:
            return cast(LazyLogger, getattr(self._real, method)(*args, **kwargs))
        return LazyLogger((*self._steps, (method, args, kwargs)))

    def bind(self, **kwargs: Any) -> LazyLogger:
        """``logger.bind(**kwargs)``, deferred until the logger is used."""
        return self._derive("bind", (), kwargs)

    def opt(self, **kwargs: Any) -> LazyLogger:
        """``logger.opt(**kwargs)``, deferred until the logger is used."""
        return self._derive("opt", (), kwargs)

    def patch(self, patcher: Any) -> LazyLogger:
        """``logger.patch(patcher)``, deferred until the logger is used."""
        return self._derive("patch", (patcher,), {})

    def __getattr__(self, name: str) -> Any:
        real = self._real
        if real is None:
            real = loguru_logger()
            for method, args, kwargs in self._steps:
                real = getattr(real, method)(*args, **kwargs)
            self._real = real
        return getattr(real, name)

    def __repr__(self) -> str:
        return "<loguru logger (not imported yet)>" if self._real is None else repr(self._real)


def loguru_loaded() -> bool:
    """Whether loguru was imported. Before that no sink exists and nobody enabled the SDK's
    records, so a record of the SDK can be skipped without being built."""
    return "loguru" in sys.modules


def loguru_logger() -> Logger:
    """loguru's logger (importing loguru applies every pending :func:`silence`)."""
    from loguru import logger

    return logger


def lazy_logger() -> Logger:
    """loguru's logger as a :class:`LazyLogger`, typed as loguru's ``Logger``."""
    return cast("Logger", LazyLogger())


def _apply_pending(logger: Logger) -> None:
    with _lock:
        packages, _pending[:] = list(_pending), []
        if not _sdk_logs_enabled:
            for package in packages:
                logger.disable(package)


class _SilencingLoader:
    """loguru's own loader; once loguru is executed, the pending packages are disabled.

    (The import protocol is duck-typed: no ``importlib.abc`` base, whose import alone costs more
    than this whole module saves on small machines.)
    """

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        create = getattr(self._loader, "create_module", None)
        return None if create is None else cast("ModuleType | None", create(spec))

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        _apply_pending(module.logger)

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, ...
        return getattr(self._loader, name)


class _LoguruImportHook:
    """Finds loguru with the other finders and wraps its loader (removes itself when used)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != "loguru":
            return None
        _unhook()
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            spec = None if find is None else find(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _SilencingLoader(spec.loader)
                return cast("ModuleSpec", spec)
        return None


_hook = _LoguruImportHook()


def _unhook() -> None:
    with _lock:
        if _hook in sys.meta_path:
            sys.meta_path.remove(_hook)


def silence(package: str) -> None:
    """Disable ``package``'s records (now, or when loguru gets imported), unless the application
    enabled the SDK's logs."""
    loaded = sys.modules.get("loguru")
    if loaded is not None:
        _apply_pending(loaded.logger)  # a hook that never fired (loguru was imported otherwise)
        if not _sdk_logs_enabled:
            loaded.logger.disable(package)
        return
    with _lock:
        _pending.append(package)
        if _hook not in sys.meta_path:
            sys.meta_path.insert(0, _hook)


def set_sdk_logs_enabled(enabled: bool) -> None:
    """Remember the application's choice (called by ``configure_logging`` / ``reset_logging``)."""
    global _sdk_logs_enabled
    _sdk_logs_enabled = enabled
