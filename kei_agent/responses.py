"""What a call returns besides its model: :class:`RawResponse` (``with_raw_response``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Generic, TypeVar

import attrs

__all__ = ["RawResponse"]

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
