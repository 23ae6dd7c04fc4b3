"""What a call returns besides its model: :class:`RawResponse` (``with_raw_response``), built from
the engine's one :class:`CallOutcome` per call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

import attrs

__all__ = ["CallOutcome", "RawResponse"]

T = TypeVar("T")


@attrs.frozen(repr=False)
class RawResponse(Generic[T]):
    """The parsed model of a call together with what came over the wire.

    Attributes:
        parsed: the response model (as the non-raw method returns it).
        status_code: the HTTP status of the final response.
        headers: the final response's headers (case-insensitive mapping).
        request_id: the server's ``X-Request-ID`` (``None`` if absent).
        correlation_id: the call's ``X-Correlation-ID``.
        retries: how many attempts were repeated (0: the first attempt answered).
        protocol: the protocol that carried the call (``rpc``, ``bus``, ...).
        protocols_tried: every protocol tried, in order (more than one after a fallback).
        elapsed: seconds the whole call took (attempts, waits and fallbacks).
    """

    parsed: T
    status_code: int
    headers: Mapping[str, str]
    request_id: str | None
    correlation_id: str
    retries: int
    protocol: str
    protocols_tried: tuple[str, ...]
    elapsed: float

    def __repr__(self) -> str:
        return (
            f"RawResponse(status_code={self.status_code}, request_id={self.request_id!r}, retries={self.retries}, "
            f"protocol={self.protocol!r}, parsed={self.parsed!r})"
        )


class CallOutcome:
    """What happened during one call: handed to the raw response, telemetry and the performance record."""

    __slots__ = (
        "attempts",
        "correlation_id",
        "elapsed",
        "headers",
        "protocol",
        "protocols_tried",
        "request_id",
        "status_code",
    )

    def __init__(self, correlation_id: str) -> None:
        self.correlation_id = correlation_id
        self.attempts = 0
        self.protocol = ""
        self.protocols_tried: list[str] = []
        self.status_code = 0
        self.headers: Mapping[str, str] = {}
        self.request_id: str | None = None
        self.elapsed = 0.0

    def raw(self, parsed: Any) -> RawResponse[Any]:
        """The :class:`RawResponse` of a successful call."""
        return RawResponse(
            parsed=parsed,
            status_code=self.status_code,
            headers=self.headers,
            request_id=self.request_id,
            correlation_id=self.correlation_id,
            retries=max(self.attempts - len(self.protocols_tried), 0),
            protocol=self.protocol,
            protocols_tried=tuple(self.protocols_tried),
            elapsed=self.elapsed,
        )
