"""What the event-stream transports share: their outcomes, the refusal rules, the resume probe."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol

import httpx

from kei_agent._contract.operations import OPERATIONS
from kei_agent._contract.operations import WEBSOCKET_PATH as _WEBSOCKET_PATH
from kei_agent.errors import status_error
from kei_agent.policies.transports import StreamTransport

if TYPE_CHECKING:
    from ._stream_reconnect import StreamMachine

__all__ = [
    "SSE_PATH",
    "STREAM_EXTRA",
    "SUBPROTOCOL",
    "WEBSOCKET_PATH",
    "Connection",
    "Disconnected",
    "Unavailable",
    "locate",
    "missing_transports",
    "refusal",
]

WEBSOCKET_PATH: Final = _WEBSOCKET_PATH
SSE_PATH: Final = OPERATIONS["streamEvents"].path
SUBPROTOCOL: Final = "kei.stream.v1"
STREAM_EXTRA: Final = 'pip install "kei-agent-py-sdk[stream]"'
#: A topic no event has: a poll for it answers at once with the server's newest event id.
_POSITION_PROBE: Final = "kei-sdk.position-probe"
_FATAL_STATUSES: Final = frozenset({400, 401, 403, 422})


class Connection(Protocol):
    """One open transport of an event stream."""

    async def receive(self) -> list[Mapping[str, Any]]:
        """The next frames; ``Disconnected`` when the connection is gone."""
        ...

    async def close(self) -> None:
        """Close politely."""
        ...

    async def abort(self) -> None:
        """Cut the connection (from another task or thread)."""
        ...


def missing_transports() -> frozenset[StreamTransport]:
    """Transports whose optional package (the ``stream`` extra) is not installed."""
    missing = set()
    if importlib.util.find_spec("httpx_ws") is None or importlib.util.find_spec("wsproto") is None:
        missing.add(StreamTransport.WEBSOCKET)
    if importlib.util.find_spec("httpx_sse") is None:
        missing.add(StreamTransport.SSE)
    return frozenset(missing)


class Unavailable(Exception):
    """The transport is not offered here (refused upgrade, not an event stream, refused connection)."""

    def __init__(self, reason: str, *, connection_refused: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.connection_refused = connection_refused


class Disconnected(Exception):
    """An open connection was lost (or could not be re-opened for a transient reason)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def problem_of(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


async def refusal(response: httpx.Response, method: str, url: str) -> Exception:
    """What a non-successful answer to a stream request means: fatal, transient or unavailable."""
    try:
        body = await response.aread()
    except httpx.HTTPError:
        body = b""
    finally:
        await response.aclose()
    status = response.status_code
    retry_after = None
    raw = response.headers.get("Retry-After", "")
    if raw.isdigit():
        retry_after = float(raw)
    if status in _FATAL_STATUSES:
        return status_error(
            status,
            method=method,
            url=url,
            request_id=response.headers.get("X-Request-ID"),
            correlation_id=response.headers.get("X-Correlation-ID"),
            problem=problem_of(body),
            body=body,
            retry_after=retry_after,
        )
    if status in (408, 429):
        return Disconnected(f"{method} {url} answered {status}", retry_after)
    return Unavailable(f"{method} {url} answered {status}")


async def locate(stream: StreamMachine) -> None:
    """Give a stream without a resume point the server's position, so it starts live and a later
    reconnect resumes from there (a poll of a topic without events answers with the newest id)."""
    if stream.cursor.value is not None:
        return
    page = await stream.poll_page({"topics": _POSITION_PROBE, "limit": 1, "wait_seconds": 0.0})
    last = page.last_event_id if isinstance(page.last_event_id, str) else None
    stream.cursor.position(last or "0")
