"""Built-in actions (``POST /rpc/act``) and custom operations (``POST /rpc/{operation}``).

Actions: ``echo`` (returns its parameters), ``sum`` (adds ``values``), ``generate_report`` (renders
a document and reports its ``file_size``), ``sleep`` (waits ``seconds``, capped). An action that
cannot work with its parameters *fails* (``status: failed`` with ``error``) rather than rejecting
the request: the request itself was well formed.

Operations: ``echo``, ``summarize``, ``word_count``, ``reverse``. Users add their own with
``server.state.actions.register_operation(name, function)``.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

ActionFunction = Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]
OperationFunction = Callable[[Mapping[str, Any]], dict[str, Any]]


class ActionFailed(Exception):
    """The action ran but could not do its job (reported as ``status: failed``)."""


_FORMATS = {"pdf": 1.35, "docx": 1.2, "html": 1.1, "md": 1.0, "txt": 1.0}


class ActionRegistry:
    """Named actions and custom operations (thread-safe registration)."""

    def __init__(self, max_sleep_seconds: float = 10.0) -> None:
        self.max_sleep_seconds = max_sleep_seconds
        self._lock = threading.Lock()
        self._actions: dict[str, ActionFunction] = {
            "echo": self._echo,
            "sum": self._sum,
            "generate_report": self._generate_report,
            "sleep": self._sleep,
        }
        self._operations: dict[str, OperationFunction] = {
            "echo": lambda data: dict(data),
            "summarize": _summarize,
            "word_count": _word_count,
            "reverse": _reverse,
        }

    # ------------------------------------------------------------ registry
    def register_action(self, name: str, function: ActionFunction) -> None:
        with self._lock:
            self._actions[name] = function

    def register_operation(self, name: str, function: OperationFunction) -> None:
        with self._lock:
            self._operations[name] = function

    def action(self, name: str) -> ActionFunction | None:
        return self._actions.get(name)

    def operation(self, name: str) -> OperationFunction | None:
        return self._operations.get(name)

    def action_names(self) -> list[str]:
        return sorted(self._actions)

    # ------------------------------------------------------------- actions
    @staticmethod
    async def _echo(parameters: Mapping[str, Any]) -> dict[str, Any]:
        return dict(parameters)

    @staticmethod
    async def _sum(parameters: Mapping[str, Any]) -> dict[str, Any]:
        values = parameters.get("values", parameters.get("numbers"))
        if values is None:
            values = [v for v in parameters.values() if isinstance(v, int | float) and not isinstance(v, bool)]
        if not isinstance(values, list):
            raise ActionFailed("`values` must be a list of numbers")
        total: int | float = 0
        for index, value in enumerate(values):
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ActionFailed(f"`values[{index}]` is not a number")
            total += value
        if isinstance(total, float) and not math.isfinite(total):
            raise ActionFailed("the sum is not a finite number")
        return {"sum": total, "count": len(values)}

    @staticmethod
    async def _generate_report(parameters: Mapping[str, Any]) -> dict[str, Any]:
        title = str(parameters.get("title") or "Report")[:500]
        fmt = str(parameters.get("format") or "pdf").lower()
        if fmt not in _FORMATS:
            raise ActionFailed(f"unsupported format {fmt!r}; one of {', '.join(_FORMATS)}")
        sections = parameters.get("sections")
        if not isinstance(sections, list) or not sections:
            sections = ["Summary", "Figures", "Outlook"]
        body = "\n\n".join(f"## {section}\n{title}: {section} ..." for section in sections)
        content = f"# {title}\n\n{body}\n".encode()
        digest = hashlib.sha256(content + fmt.encode()).hexdigest()
        file_size = int(len(content) * _FORMATS[fmt]) + 1024
        return {
            "document_id": f"doc-{digest[:12]}",
            "title": title,
            "format": fmt,
            "sections": [str(section) for section in sections],
            "file_size": file_size,
            "pages": max(1, file_size // 3000),
            "checksum": f"sha256:{digest}",
        }

    async def _sleep(self, parameters: Mapping[str, Any]) -> dict[str, Any]:
        seconds = parameters.get("seconds", 0.1)
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not math.isfinite(seconds):
            raise ActionFailed("`seconds` must be a number")
        if seconds < 0:
            raise ActionFailed("`seconds` must be >= 0")
        slept = min(float(seconds), self.max_sleep_seconds)
        await asyncio.sleep(slept)
        return {"slept_seconds": slept}


# ---------------------------------------------------------------- operations
def _text(data: Mapping[str, Any]) -> str:
    value = data.get("text", data.get("document", ""))
    return value if isinstance(value, str) else ""


def _summarize(data: Mapping[str, Any]) -> dict[str, Any]:
    text = _text(data).strip()
    first = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0] if text else ""
    summary = first if len(first) <= 200 else first[:197] + "..."
    return {"summary": summary, "characters": len(text)}


def _word_count(data: Mapping[str, Any]) -> dict[str, Any]:
    words = _text(data).split()
    return {"words": len(words), "unique_words": len({word.lower() for word in words})}


def _reverse(data: Mapping[str, Any]) -> dict[str, Any]:
    return {"text": _text(data)[::-1]}
