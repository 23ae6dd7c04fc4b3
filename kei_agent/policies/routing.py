"""Protocol routing and fallback: which protocol carries an operation, and when to move on.

Pure: time comes from the injected monotonic ``clock``. The table comes from the spec's
``x-kei-protocols`` (operation id → protocols in preference order).

* :meth:`ProtocolRouter.candidates` lists the protocols to try, in order: the operation's
  enabled protocols (``ProtocolConfig.*_enabled``); a protocol downgraded less than
  ``fallback_cooldown_seconds`` ago moves behind the others (sticky), and is preferred again
  after the cool-down. With ``auto_protocol_selection`` off the operation's first listed protocol
  must be enabled (the client does not pick another one by itself). With
  ``protocol_fallback_enabled`` off only the first candidate is returned.
* :meth:`ProtocolRouter.should_fall_back` allows moving to the next candidate only on a
  transport-level failure: a transport error, 502/503/504, or an open circuit breaker; never on
  4xx or 500.
* :meth:`ProtocolRouter.record_downgrade` marks a protocol as failed over; ``on_downgrade`` is
  called once per cool-down (the client logs the downgrade through it).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from kei_agent.config import ProtocolConfig
from kei_agent.errors import APIConnectionError, APIStatusError, CircuitBreakerOpenError, ProtocolError

from .retry import StatusFailure, TransportFailure

__all__ = ["FALLBACK_STATUSES", "Protocol", "ProtocolRouter"]

FALLBACK_STATUSES: Final = frozenset({502, 503, 504})
"""Error statuses that mean "this way to the service is broken", not "the request is wrong"."""


class Protocol(enum.StrEnum):
    """A protocol that can carry KEI operations (values as in ``x-kei-protocols``)."""

    RPC = "rpc"
    BUS = "bus"
    STREAM = "stream"
    MCP = "mcp"


_SWITCHES: Final = {
    Protocol.RPC: "rpc_enabled",
    Protocol.BUS: "bus_enabled",
    Protocol.STREAM: "stream_enabled",
    Protocol.MCP: "mcp_enabled",
}


def _protocol(value: str, operation_id: str) -> Protocol:
    try:
        return Protocol(value.strip().lower())
    except ValueError:
        choices = ", ".join(protocol.value for protocol in Protocol)
        raise ProtocolError(
            f"operation {operation_id!r} lists unknown protocol {value!r} (known: {choices})",
            operation_id=operation_id,
        ) from None


class ProtocolRouter:
    """Choose protocols per operation and remember recent downgrades (see the module docstring)."""

    def __init__(
        self,
        config: ProtocolConfig,
        table: Mapping[str, Sequence[str]],
        clock: Callable[[], float] = time.monotonic,
        on_downgrade: Callable[[str, Protocol, Protocol], None] | None = None,
    ) -> None:
        """Route with ``config`` over ``table`` (operation id → protocol names, preferred first).

        Raises:
            ProtocolError: the table names an unknown protocol or lists none for an operation.
        """
        self.config = config
        self._clock = clock
        self._on_downgrade = on_downgrade
        self._table: dict[str, tuple[Protocol, ...]] = {}
        for operation_id, names in table.items():
            protocols = tuple(dict.fromkeys(_protocol(name, operation_id) for name in names))
            if not protocols:
                raise ProtocolError(f"operation {operation_id!r} lists no protocol", operation_id=operation_id)
            self._table[operation_id] = protocols
        self._downgraded_until: dict[Protocol, float] = {}

    def enabled(self, protocol: Protocol) -> bool:
        """Whether ``ProtocolConfig`` enables ``protocol``."""
        return bool(getattr(self.config, _SWITCHES[protocol]))

    def allowed(self, operation_id: str) -> tuple[Protocol, ...]:
        """The protocols that may carry the operation, preferred first (enabled or not).

        Raises:
            ProtocolError: the operation is not in the table.
        """
        try:
            return self._table[operation_id]
        except KeyError:
            raise ProtocolError(f"unknown operation {operation_id!r}", operation_id=operation_id) from None

    def candidates(self, operation_id: str, requested: Protocol | None = None) -> list[Protocol]:
        """The protocols to try for one call, in order.

        ``requested`` forces one protocol (no fallback). Raises :class:`ProtocolError` when the
        requested protocol may not carry the operation or is disabled, or when no allowed protocol
        is enabled (the message names the operation and the disabled protocols).
        """
        allowed = self.allowed(operation_id)
        if requested is not None:
            requested = Protocol(requested)
            if requested not in allowed:
                names = ", ".join(allowed)
                ask = " or ".join(f"protocol=Protocol.{protocol.name}" for protocol in allowed)
                raise ProtocolError(
                    f"operation {operation_id!r} cannot be carried by {requested.value} (allowed: {names}); "
                    f"ask for it with {ask}, or leave protocol out and the client chooses",
                    operation_id=operation_id,
                )
            if not self.enabled(requested):
                raise ProtocolError(
                    f"operation {operation_id!r} requested {requested.value}, which is disabled "
                    f"(ProtocolConfig.{_SWITCHES[requested]}=False)",
                    operation_id=operation_id,
                )
            return [requested]
        enabled = [protocol for protocol in allowed if self.enabled(protocol)]
        if not enabled:
            disabled = ", ".join(f"{protocol.value} ({_SWITCHES[protocol]}=False)" for protocol in allowed)
            raise ProtocolError(
                f"operation {operation_id!r} has no enabled protocol: {disabled}", operation_id=operation_id
            )
        if not self.config.auto_protocol_selection and enabled[0] is not allowed[0]:
            raise ProtocolError(
                f"operation {operation_id!r} uses {allowed[0].value}, which is disabled "
                f"(ProtocolConfig.{_SWITCHES[allowed[0]]}=False), and auto_protocol_selection is off; "
                f"enable it, enable auto_protocol_selection, or request one of: "
                f"{', '.join(protocol.value for protocol in enabled)}",
                operation_id=operation_id,
            )
        downgrades = self.downgrades
        ordered = [p for p in enabled if p not in downgrades] + [p for p in enabled if p in downgrades]
        return ordered if self.config.protocol_fallback_enabled else ordered[:1]

    def should_fall_back(self, failure: object) -> bool:
        """Whether a call that failed with ``failure`` may move to the next protocol.

        ``failure`` is a retry-policy outcome (:class:`TransportFailure`, :class:`StatusFailure`)
        or an SDK exception (:class:`APIConnectionError`, :class:`APIStatusError`,
        :class:`CircuitBreakerOpenError`). Only transport-level failures qualify, and only when
        ``protocol_fallback_enabled``.
        """
        if not self.config.protocol_fallback_enabled:
            return False
        if isinstance(failure, TransportFailure | APIConnectionError | CircuitBreakerOpenError):
            return True
        if isinstance(failure, StatusFailure | APIStatusError):
            status = failure.status if isinstance(failure, StatusFailure) else failure.status_code
            return status in FALLBACK_STATUSES
        return False

    def record_downgrade(self, operation_id: str, from_protocol: Protocol, to_protocol: Protocol) -> None:
        """Note that a call of ``operation_id`` moved from ``from_protocol`` to ``to_protocol``.

        ``from_protocol`` is avoided for ``fallback_cooldown_seconds``; ``on_downgrade`` is called
        only when it was not already downgraded (once per cool-down).
        """
        now = self._clock()
        until = self._downgraded_until.get(from_protocol)
        if until is not None and now < until:
            return
        self._downgraded_until[from_protocol] = now + self.config.fallback_cooldown_seconds
        if self._on_downgrade is not None:
            self._on_downgrade(operation_id, from_protocol, to_protocol)

    @property
    def downgrades(self) -> dict[Protocol, float]:
        """Protocols currently downgraded → monotonic time when their cool-down ends."""
        now = self._clock()
        for protocol, until in list(self._downgraded_until.items()):
            if now >= until:
                del self._downgraded_until[protocol]
        return dict(self._downgraded_until)
