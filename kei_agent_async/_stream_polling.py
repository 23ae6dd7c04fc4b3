"""The polling transport of event streams: long polls of ``pollEvents`` through the pipeline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kei_agent.messaging import topics_param

from ._stream_base import locate

if TYPE_CHECKING:
    from ._stream_reconnect import StreamMachine

__all__ = ["PollingConnection"]


class PollingConnection:
    """Long-polls ``GET /api/v1/stream/poll`` through the pipeline (retries, breaker, headers)."""

    def __init__(self, stream: StreamMachine) -> None:
        self._stream = stream

    @classmethod
    async def open(cls, stream: StreamMachine) -> PollingConnection:
        await locate(stream)
        return cls(stream)

    async def receive(self) -> list[Mapping[str, Any]]:
        """The events of one long poll (possibly none)."""
        stream = self._stream
        arguments: dict[str, Any] = {"limit": 100, "wait_seconds": stream.poll_wait}
        topics = topics_param(stream.topics)
        if topics is not None:
            arguments["topics"] = topics
        if stream.cursor.value is not None:
            arguments["since"] = stream.cursor.value
        page = await stream.poll_page(arguments)
        frames: list[Mapping[str, Any]] = [{"type": "event", "event": event.to_dict()} for event in page.events]
        if isinstance(page.last_event_id, str):
            frames.append({"type": "position", "last_event_id": page.last_event_id})
        return frames

    async def close(self) -> None:
        """Nothing to close: each poll is one pipeline call."""

    async def abort(self) -> None:
        """Nothing to cut: the stop signal interrupts a poll in progress."""
