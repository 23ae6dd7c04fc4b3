"""Audit records: one per operation, with a digest of the input instead of the input itself.

:func:`input_sha256` hashes the canonical JSON of an operation's input (keys sorted, no
whitespace, UTF-8, generated models through their ``to_dict``), so equal inputs give equal
digests without the record ever containing the input. :func:`emit_audit` hands a record to the
logging layer's audit channel (``kei_agent.logging.audit``): a loguru record marked
``audit=True`` with the record's fields, which ``configure_logging(enable_audit_file=True)`` keeps
in a file of its own.
"""

from __future__ import annotations

import datetime as _dt
import enum
import hashlib
import importlib
import json
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs

from kei_agent._silence import lazy_logger
from kei_agent.secrets import Secret

__all__ = ["AuditRecord", "canonical_json", "emit_audit", "input_sha256"]

Outcome = Literal["success", "failure", "denied"]

_log = lazy_logger().bind(component="kei_agent.audit")


def _unset(value: Any) -> bool:
    # The generated models' UNSET marker (not imported: the core must not load the HTTP stack).
    return type(value).__name__ == "Unset"


def _jsonable(value: Any) -> Any:
    if isinstance(value, Secret):
        return str(value)  # masked: a secret is never part of a digest that could be brute-forced
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return _jsonable(value.to_dict())
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items() if not _unset(item)}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_jsonable(item) for item in value if not _unset(item)]
        return sorted(items, key=canonical_json) if isinstance(value, set | frozenset) else items
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def canonical_json(value: Any) -> bytes:
    """``value`` as canonical JSON: sorted keys, no insignificant whitespace, UTF-8."""
    return json.dumps(
        _jsonable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def input_sha256(arguments: Mapping[str, Any]) -> str:
    """Hex SHA-256 of the canonical JSON of an operation's input (unset arguments left out)."""
    return hashlib.sha256(canonical_json(arguments)).hexdigest()


@attrs.frozen(kw_only=True)
class AuditRecord:
    """What happened, by whom, with which result - never with the input itself."""

    time: str
    """When the operation finished (ISO 8601, UTC)."""
    agent_id: str
    client_id: str | None
    """The OAuth client id (OIDC), if any."""
    subject: str | None
    """The token's subject (``sub`` claim) or client-certificate identity, if known."""
    tenant_id: str | None
    operation: str
    protocol: str
    outcome: Outcome
    """``success``, ``failure`` (an error response or no response) or ``denied`` (401/403)."""
    status: int | None
    """The final HTTP status, if a response arrived."""
    correlation_id: str | None
    input_sha256: str
    error: str | None = None
    """The exception class on failure."""
    duration_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record as a plain dict (what the audit channel receives)."""
        return attrs.asdict(self)


def utc_now() -> str:
    """The current time for an audit record (ISO 8601, UTC, milliseconds)."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


def _channel() -> Callable[..., Any] | None:
    try:
        module = importlib.import_module("kei_agent.logging")
    except ImportError:
        return None
    channel = getattr(module, "audit", None)
    return channel if callable(channel) else None


def emit_audit(record: AuditRecord) -> None:
    """Send ``record`` to the logging layer's audit channel (``kei_agent.logging.audit``).

    Without that module the record goes to loguru directly, bound with ``audit=True``.
    """
    fields = record.to_dict()
    fields["actor"] = record.subject or record.client_id or record.agent_id
    channel = _channel()
    if channel is not None:
        channel(fields.pop("operation"), outcome=fields.pop("outcome"), operation=record.operation, **fields)
        return
    _log.bind(audit=True, **fields).info(
        "audit: {operation} {outcome} status={status}",
        operation=record.operation,
        outcome=record.outcome,
        status=record.status,
    )
