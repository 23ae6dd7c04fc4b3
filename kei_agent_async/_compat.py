"""The client API of kei-agent-py-sdk 0.1.0b6, on top of this SDK's real behaviour.

:class:`LegacyClientMixin` is a base class of ``KeiAgentClient`` (both flavours). It adds the
methods the earlier SDK documented - ``initialize()``, ``get_client_info()``,
``get_available_protocols()``, ``is_protocol_available()``, ``start_streaming_session()`` - and
the stream operations of ``execute_agent_operation(..., protocol=Protocol.STREAM)``. None of them
is a stub: each maps onto what the client does (see ``docs/migration.md``).

Written once for both flavours: the blocking twin of this module is generated from it.
"""

from __future__ import annotations

import enum
import platform
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, cast

import attrs
import httpx

from kei_agent._contract import load_spec
from kei_agent._contract.operations import BUS_OPERATIONS, OPERATIONS
from kei_agent._generated import models
from kei_agent._version import __version__
from kei_agent.errors import FieldProblem, KeiSDKError, ProtocolError, ValidationError, redact_url
from kei_agent.logging._logger import base_logger
from kei_agent.policies.routing import Protocol
from kei_agent.secrets import Secret

from ._backend import Worker, call_handler, spawn
from ._stream_base import locate

if TYPE_CHECKING:
    from .client import KeiAgentClient
    from .stream import EventStream

__all__ = ["LegacyClientMixin", "StreamingSession", "stream_refusal"]

_log = base_logger.bind(component="kei_agent.stream")

#: ``execute_agent_operation`` names → the operation of the contract that runs them (``x-kei-bus``).
_OPERATION_IDS: Final = BUS_OPERATIONS
#: What ``execute_agent_operation(name, data, protocol=Protocol.STREAM)`` can run, with the
#: contract operation that carries it (``x-kei-protocols`` lists ``stream`` for both).
STREAM_OPERATIONS: Final = {"subscribe": "streamEvents", "publish": "publishEvent"}

StreamCallback = Callable[[models.StreamEvent], Any]


def stream_refusal(operation: str) -> ProtocolError:
    """Why the stream protocol cannot run ``operation``, which protocols can, and how to ask."""
    operation_id = _OPERATION_IDS.get(operation, "executeOperation")
    allowed = OPERATIONS[operation_id].protocols
    carried = ", ".join(f"{name} ({operation_id})" for name, operation_id in STREAM_OPERATIONS.items())
    ask = " or ".join(f"protocol=Protocol.{name.upper()}" for name in allowed)
    return ProtocolError(
        f"execute_agent_operation({operation!r}) cannot be carried by the stream protocol: the API contract "
        f"(x-kei-protocols of {operation_id}) lets {', '.join(allowed)} carry it. Ask for it with {ask}, or leave "
        f"protocol out and the client chooses. The stream carries {carried}; for live events use "
        "client.stream_events() or client.start_streaming_session(callback=...)",
        operation_id=operation_id,
    )


def _plain(value: Any) -> Any:
    """A configuration value as plain data, secrets masked."""
    if isinstance(value, Secret):
        return "***"
    if isinstance(value, enum.Enum):
        return value.value
    if attrs.has(type(value)):
        return _settings(value)
    if isinstance(value, Mapping):
        return dict.fromkeys(value, "***")  # extra headers may carry credentials
    if callable(value) or hasattr(value, "fetch_token"):
        return type(value).__name__
    return value


def _settings(config: Any) -> dict[str, Any]:
    return {field.name: _plain(getattr(config, field.name)) for field in attrs.fields(type(config))}


class StreamingSession:
    """Events of the stream protocol delivered to a callback (``start_streaming_session``).

    The session is connected when ``start_streaming_session`` returns, so events published from
    then on reach it. With a ``callback`` a background worker calls it with each ``StreamEvent``
    (a coroutine function is awaited); a callback that raises is logged and counted in
    :attr:`failed`, and the session goes on. Without one, iterate the session yourself.
    ``close()`` (or leaving its ``with`` block, or closing the client) ends it.
    """

    def __init__(self, stream: EventStream, callback: StreamCallback | None) -> None:
        """Wrap ``stream``; ``open()`` connects and starts the worker."""
        self.stream = stream
        self.callback = callback
        self.delivered = 0
        self.failed = 0
        self.error: KeiSDKError | None = None
        self._worker: Worker | None = None

    async def open(self) -> None:
        """Connect the stream and start delivering to the callback (if any).

        The stream's start is pinned to the server's current position first, so an event
        published as soon as this returns is delivered even if the subscription is still on its
        way to the server (the stream then replays it).
        """
        await locate(self.stream)
        await self.stream.__aenter__()
        if self.callback is not None:
            self._worker = spawn(self._deliver, "kei-streaming-session")

    async def _deliver(self) -> None:
        callback = self.callback
        assert callback is not None
        try:
            async for event in self.stream:
                try:
                    await call_handler(callback, event)
                except Exception as exc:  # a failing callback must not end the session
                    self.failed += 1
                    _log.warning(
                        "streaming session: the callback failed on event {event_id}: {error}",
                        event_id=event.id,
                        error=type(exc).__name__,
                    )
                else:
                    self.delivered += 1
        except KeiSDKError as exc:
            self.error = exc
            _log.warning("streaming session ended: {error}", error=str(exc))

    @property
    def running(self) -> bool:
        """Whether the session still receives events."""
        return not self.stream.closed

    async def close(self) -> None:
        """Stop the session and wait for the callback worker; idempotent."""
        await self.stream.close()
        worker, self._worker = self._worker, None
        if worker is not None:
            await worker.join()

    def __aiter__(self) -> EventStream:
        if self.callback is not None:
            raise KeiSDKError("this streaming session delivers to its callback: it cannot be iterated as well")
        return self.stream.__aiter__()

    async def __aenter__(self) -> StreamingSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"StreamingSession(topics={self.stream.topics!r}, delivered={self.delivered}, running={self.running})"


class LegacyClientMixin:
    """The methods of kei-agent-py-sdk 0.1.0b6's ``UnifiedKeiAgentClient`` (see the module docstring)."""

    async def initialize(self) -> None:
        """Does nothing: the client is ready when it is constructed (0.1.0b6 needed this call).

        Kept so that code written for the earlier SDK runs unchanged; it raises only when the
        client was closed, like every other call.
        """
        client = cast("KeiAgentClient", self)
        if client.closed:
            raise KeiSDKError("the client is closed: create a new KeiAgentClient")

    def get_available_protocols(self) -> list[Protocol]:
        """The protocols this client may use: those enabled in its ``ProtocolConfig`` (none once closed)."""
        client = cast("KeiAgentClient", self)
        if client.closed:
            return []
        return [protocol for protocol in Protocol if client._shared.router.enabled(protocol)]

    def is_protocol_available(self, protocol: str | Protocol) -> bool:
        """Whether ``protocol`` is enabled for this client (an unknown name raises ``ProtocolError``)."""
        try:
            wanted = Protocol(str(protocol).strip().lower())
        except ValueError:
            choices = ", ".join(member.value for member in Protocol)
            raise ProtocolError(f"unknown protocol {protocol!r}: use one of {choices}") from None
        return wanted in self.get_available_protocols()

    def get_client_info(self) -> dict[str, Any]:
        """The client's effective configuration, protocols and versions (secrets masked as ``***``).

        Keys: ``agent_id``, ``base_url``, ``tenant_id``, ``user_agent``, ``initialized`` (always
        ``True`` until closed: there is no separate initialisation), ``closed``,
        ``available_protocols``, ``config`` (connection and retry settings), ``protocol_config``,
        ``security_config``, ``features`` and ``versions`` (SDK, API contract, Python, httpx).
        """
        client = cast("KeiAgentClient", self)
        config = client.config
        security = client._security_config
        protocols = client._protocol_config
        return {
            "agent_id": config.agent_id,
            "base_url": redact_url(config.base_url),
            "tenant_id": config.tenant_id,
            "user_agent": config.effective_user_agent,
            "initialized": not client.closed,
            "closed": client.closed,
            "available_protocols": self.get_available_protocols(),
            "config": _settings(config),
            "protocol_config": _settings(protocols),
            "security_config": _settings(security),
            "features": {
                "retry": config.retry.max_attempts > 1,
                "circuit_breaker": True,
                "protocol_fallback": protocols.protocol_fallback_enabled,
                "request_validation": config.validate_requests,
                "rbac": security.rbac_enabled,
                "audit": security.audit_enabled,
                "token_refresh": security.token_refresh_enabled,
            },
            "versions": {
                "sdk": __version__,
                "api": str(load_spec()["info"]["version"]),
                "python": platform.python_version(),
                "httpx": httpx.__version__,
            },
        }

    async def start_streaming_session(
        self,
        callback: StreamCallback | None = None,
        *,
        topics: Sequence[str] | str | None = None,
        since: str | None = None,
    ) -> StreamingSession:
        """Open the event stream and deliver each event to ``callback`` in the background.

        ``topics`` (none: every event this agent may see) and ``since`` are those of
        ``stream_events``; the session reconnects and resumes like any event stream. Close it
        with ``close()`` (closing the client closes it too). ``ProtocolError`` when the stream
        protocol is disabled.
        """
        client = cast("KeiAgentClient", self)
        if not client._shared.router.enabled(Protocol.STREAM):
            raise ProtocolError(
                "the stream protocol is disabled (ProtocolConfig.stream_enabled=False): enable it to start a "
                "streaming session"
            )
        session = StreamingSession(client.stream_events(topics, since), callback)
        await session.open()
        return session

    async def _execute_on_stream(self, operation: str, data: Mapping[str, Any]) -> Any:
        """``execute_agent_operation(operation, data, protocol=Protocol.STREAM)``.

        ``subscribe`` (``topic``/``topics``, optional ``callback``) opens a :class:`StreamingSession`;
        ``publish`` (``topic``, ``data``, optional ``type``) publishes an event. Anything else is
        refused with the protocols the contract allows for it.
        """
        client = cast("KeiAgentClient", self)
        if operation == "subscribe":
            topics = data.get("topics", data.get("topic", data.get("stream_id")))
            return await self.start_streaming_session(data.get("callback"), topics=topics)
        if operation == "publish":
            topic = data.get("topic")
            if not isinstance(topic, str) or not topic:
                raise ValidationError(
                    [FieldProblem("$.topic", "is required for publish on the stream protocol", "add 'topic': '...'")],
                    title="publish: invalid input",
                )
            return await client.publish_event(topic, data.get("data", {}), type=data.get("type"))
        raise stream_refusal(operation)
