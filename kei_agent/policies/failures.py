"""What a failed attempt means, decided without I/O: the engine asks these pure functions.

* :func:`transport_outcome` - an httpx transport error as a retry-policy outcome (may the request
  have reached the server?);
* :func:`tls_failure` - the certificate-verification error behind a connection error, if any (a
  failure no retry and no other protocol can fix);
* :func:`header_problems` / :func:`check_headers` - header names and values that cannot be sent
  (never echoing the value: it may be a secret);
* :func:`problem_document` - an error body as an RFC 9457 problem document, if it is one;
* :func:`not_json` - the ``ValidationError`` of input that cannot be sent as JSON;
* :func:`as_protocol` - a protocol given by name.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from typing import Any

import httpx

from kei_agent.errors import FieldProblem, ProtocolError, ValidationError
from kei_agent.policies.retry import TransportFailure
from kei_agent.policies.routing import Protocol

__all__ = [
    "as_protocol",
    "check_headers",
    "header_problems",
    "not_json",
    "problem_document",
    "tls_failure",
    "transport_outcome",
]


def as_protocol(value: str | Protocol | None) -> Protocol | None:
    """``value`` as a :class:`Protocol` (``None`` stays ``None``); unknown names raise ``ProtocolError``."""
    if value is None or isinstance(value, Protocol):
        return value
    if isinstance(value, str) and value.strip().lower() == "auto":  # 0.1.0b6's ProtocolType.AUTO
        return None
    try:
        return Protocol(str(value).strip().lower())
    except ValueError:
        allowed = ", ".join(p.value for p in Protocol)
        raise ProtocolError(f"unknown protocol {value!r}: use one of {allowed}") from None


def transport_outcome(exc: httpx.TransportError) -> TransportFailure:
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return TransportFailure("timeout", sent=False)
    if isinstance(exc, httpx.TimeoutException):
        return TransportFailure("timeout", sent=True)
    if isinstance(exc, httpx.ConnectError):
        return TransportFailure("connect", sent=False)
    if isinstance(exc, httpx.WriteError):
        return TransportFailure("write", sent=True)
    if isinstance(exc, httpx.RemoteProtocolError | httpx.LocalProtocolError):
        return TransportFailure("protocol", sent=True)
    if isinstance(exc, httpx.CloseError):
        return TransportFailure("closed", sent=True)
    return TransportFailure("read", sent=True)


def tls_failure(exc: BaseException) -> ssl.SSLError | None:
    """The TLS verification error behind ``exc``, if the handshake failed on the certificate."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        if isinstance(seen, ssl.SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def problem_document(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def header_problems(headers: Mapping[str, str], where: str) -> list[FieldProblem]:
    """Header names and values that cannot be sent (never echoing the value: it may be a secret)."""
    problems = []
    for name, value in headers.items():
        if not isinstance(name, str) or not name or not name.isascii() or not all(33 <= ord(c) < 127 for c in name):
            problems.append(FieldProblem(f"{where}[{name!r}]", "is not a valid header name", "use ASCII letters"))
        elif not isinstance(value, str) or not value.isascii() or any(ord(c) < 32 and c != "\t" for c in value):
            problems.append(
                FieldProblem(
                    f"{where}[{name!r}]",
                    "has a value that cannot be sent in an HTTP header (control or non-ASCII characters; value hidden)",
                    "send printable ASCII only (encode other data, e.g. as base64 or percent-encoding)",
                )
            )
    return problems


def check_headers(headers: Mapping[str, str], where: str) -> None:
    """Raise ``ValidationError`` for header names or values that cannot be sent (values never shown)."""
    problems = header_problems(headers, where)
    if problems:
        raise ValidationError(problems, title="Invalid header")


def not_json(operation_id: str, reason: str) -> ValidationError:
    return ValidationError(
        [
            FieldProblem(
                "body",
                f"cannot be sent as JSON: {reason}",
                "pass finite numbers (no NaN or Infinity) and plain nested data without cycles",
            )
        ],
        title=f"Invalid input for {operation_id}",
    )
