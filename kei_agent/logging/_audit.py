"""The audit channel: one record per audited action, kept apart from the other logs on request.

Audit records are ordinary loguru records marked ``audit=True``; ``configure_logging(
enable_audit_file=True, audit_file_path=...)`` writes them (as JSON lines) to their own file and
keeps them out of the other sinks. They carry the action, the outcome, the current context
(correlation id, agent, user, ...) and the given fields - redacted like every record. Inputs are
referenced by :func:`input_digest` (SHA-256 of their canonical JSON), never logged themselves.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ._logger import get_logger

__all__ = ["AUDIT_LOGGER", "audit", "audit_fields", "input_digest"]

#: The ``logger`` name of audit records.
AUDIT_LOGGER = "kei_agent.audit"


def input_digest(data: Any) -> str:
    """``sha256:<hex>`` of the canonical JSON of ``data`` (sorted keys, no whitespace, UTF-8).

    The same canonical form as the client's audit trail: ``input_digest(x) == "sha256:" +
    kei_agent.auth.input_sha256(x)`` (models, secrets and unset values are handled alike).
    """
    from kei_agent.auth.audit import canonical_json

    return "sha256:" + hashlib.sha256(canonical_json(data)).hexdigest()


def audit_fields(action: str, *, outcome: str = "success", **fields: Any) -> dict[str, Any]:
    """The fields of an audit record (``audit=True`` routes it to the audit channel)."""
    return {
        **{key: value for key, value in fields.items() if value is not None},
        "event": "audit",
        "audit": True,
        "action": action,
        "outcome": outcome,
    }


def audit(action: str, *, outcome: str = "success", **fields: Any) -> None:
    """Write one audit record: ``audit("plan_task", outcome="success", actor="agent-1", status=200)``.

    Typical fields: ``actor``, ``operation``, ``protocol``, ``status``, ``input_sha256``
    (:func:`input_digest`). The correlation id and the rest of the current ``LogContext`` are added
    automatically.
    """
    logger = get_logger(AUDIT_LOGGER)
    logger._emit("INFO", f"audit: {action}", audit_fields(action, outcome=outcome, **fields))
