"""Audit records of a client: one per operation (``SecurityConfig.audit_enabled``).

The pipeline wraps every operation in :meth:`AuditTrail.call`; the connection pool's event hooks
note what each attempt sent and received (protocol, final status, correlation id), so the record
describes the call as it ended - after retries, 401 replays and protocol fallback. Records carry
the SHA-256 of the canonical JSON input, never the input (see :mod:`kei_agent.auth.audit`).

Written once for both flavours: the blocking twin of this module is generated from it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

import attrs
import httpx

from kei_agent._context import get_correlation_id
from kei_agent._contract.operations import OPERATIONS
from kei_agent.auth.audit import AuditRecord, Outcome, emit_audit, input_sha256, utc_now
from kei_agent.config import AgentClientConfig
from kei_agent.errors import AuthenticationError, KeiSDKError, PermissionDeniedError
from kei_agent.policies.routing import Protocol

from .auth import KeiAuth

__all__ = ["AuditTrail"]


@attrs.define
class _CallTrace:
    protocol: str
    status: int | None = None
    correlation_id: str | None = None


_current: ContextVar[_CallTrace | None] = ContextVar("kei_audit_call", default=None)


class AuditTrail:
    """Emits the audit records of one client (and the clients derived from it)."""

    def __init__(self, config: AgentClientConfig, auth: KeiAuth | None) -> None:
        """Describe the actor: ``config.agent_id`` and, when known, the OAuth client and token subject."""
        self._config = config
        self._auth = auth

    def __repr__(self) -> str:
        return f"AuditTrail(agent_id={self._config.agent_id!r})"

    async def on_request(self, request: httpx.Request) -> None:
        """Event hook: an attempt is being sent."""
        trace = _current.get()
        if trace is not None:
            trace.protocol = str(request.extensions.get("kei_protocol", trace.protocol))
            trace.correlation_id = request.headers.get("X-Correlation-ID", trace.correlation_id)

    async def on_response(self, response: httpx.Response) -> None:
        """Event hook: an attempt got a response (the last one is the call's status)."""
        trace = _current.get()
        if trace is not None:
            trace.status = response.status_code

    @contextlib.contextmanager
    def call(self, operation_id: str, arguments: Mapping[str, Any], protocol: Protocol | None) -> Iterator[None]:
        """Audit the operation run inside the block (it ends with the block, or its exception)."""
        spec = OPERATIONS[operation_id]
        requested = protocol.value if protocol is not None else None
        trace = _CallTrace(protocol=requested or (spec.protocols[0] if spec.protocols else "rpc"))
        try:
            digest = input_sha256(arguments)
        except (ValueError, TypeError, RecursionError):  # NaN, cyclic or too deep: the call fails as invalid input
            digest = "unavailable: the input is not JSON"
        token = _current.set(trace)
        started = time.monotonic()
        error: BaseException | None = None
        try:
            yield
        except BaseException as exc:
            error = exc
            raise
        finally:
            _current.reset(token)
            self._emit(operation_id, trace, digest, started, error)

    def _emit(
        self, operation_id: str, trace: _CallTrace, digest: str, started: float, error: BaseException | None
    ) -> None:
        outcome: Outcome = "success"
        if isinstance(error, AuthenticationError | PermissionDeniedError):
            outcome = "denied"
        elif error is not None:
            outcome = "failure"
        correlation_id = trace.correlation_id
        if correlation_id is None and isinstance(error, KeiSDKError):
            correlation_id = getattr(error, "correlation_id", None)
        auth = self._auth
        emit_audit(
            AuditRecord(
                time=utc_now(),
                agent_id=self._config.agent_id,
                client_id=auth.client_id if auth is not None else None,
                subject=auth.subject if auth is not None else None,
                tenant_id=self._config.tenant_id,
                operation=operation_id,
                protocol=trace.protocol,
                outcome=outcome,
                status=trace.status,
                correlation_id=correlation_id or get_correlation_id(),
                input_sha256=digest,
                error=type(error).__name__ if error is not None else None,
                duration_ms=round((time.monotonic() - started) * 1000.0, 3),
            )
        )
