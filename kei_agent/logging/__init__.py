"""Structured, context-aware, redacted logging on loguru - silent until the application opts in.

* :func:`configure_logging` - the application's opt-in: JSON or text to the console, a rotating
  file, a separate audit file, stdlib ``logging`` interop; returns an :class:`EnterpriseLogger`.
* :func:`get_logger` - an :class:`EnterpriseLogger` (``info(message, **fields)``,
  ``log_operation_start/end``, ``log_performance``, ``log_security_event``, ...).
* :class:`LogContext` - correlation id, trace id, user, agent, operation, ... in contextvars
  (per asyncio task / thread). Its ``correlation_id`` is the ``X-Correlation-ID`` the client sends.
* :func:`sanitize_for_logging` - GDPR-safe copies of data (e-mail, phone, card, IBAN, ... redacted).
* :func:`audit` - the audit channel (``configure_logging(enable_audit_file=True)`` keeps it apart).

Every record - the SDK's, the application's, intercepted stdlib records - is redacted before
any sink sees it: :class:`~kei_agent.secrets.Secret` values, ``Authorization`` values, secret-like
and configured field names, and personal data.
"""

from __future__ import annotations

from ._audit import audit, input_digest
from ._context import LogContext, clear_context, create_correlation_id, get_context, log_context, set_context
from ._logger import EnterpriseLogger, get_logger
from ._redact import DEFAULT_PII_KEYS, REDACTED, SECRET_KEYS, Redactor, redact_text, sanitize_for_logging
from ._setup import SDK_PACKAGES, configure_logging, reset_logging
from ._stdlib import InterceptHandler, propagate_sink

__all__ = [
    "DEFAULT_PII_KEYS",
    "REDACTED",
    "SDK_PACKAGES",
    "SECRET_KEYS",
    "EnterpriseLogger",
    "InterceptHandler",
    "LogContext",
    "Redactor",
    "audit",
    "clear_context",
    "configure_logging",
    "create_correlation_id",
    "get_context",
    "get_logger",
    "input_digest",
    "log_context",
    "propagate_sink",
    "redact_text",
    "reset_logging",
    "sanitize_for_logging",
    "set_context",
]
