"""Redaction of secrets and personal data, applied to every record before any sink sees it.

Two layers:

* **Secrets** (always): :class:`~kei_agent.secrets.Secret` values, values of secret-looking keys
  (``authorization``, ``api_token``, ``client_secret``, ``password``, ... and the names configured
  with ``configure_logging(redact_keys=...)``) and credentials after ``Bearer`` / ``Basic`` in text.
* **Personal data** (on by default, :func:`sanitize_for_logging`): values of configured field names
  (default ``email``, ``phone``, ``ssn``, ``credit_card``, ``iban``, ``password``, ``token``) and
  value patterns: e-mail addresses, card numbers that pass the Luhn check, IBANs that pass the
  mod-97 check and phone numbers - at any depth of mappings and sequences.

A key matches a configured name when the name is a run of its ``_``-separated words, so
``user_email`` and ``Phone-Number`` match ``email`` and ``phone``.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from kei_agent.secrets import Secret

__all__ = [
    "DEFAULT_PII_KEYS",
    "REDACTED",
    "SECRET_KEYS",
    "Redactor",
    "redact_text",
    "sanitize_for_logging",
]

REDACTED: Final = "[REDACTED]"
_SECRET_MASK: Final = "********"

#: Keys whose values are secrets (always redacted, in every record).
SECRET_KEYS: Final = frozenset(
    {
        "authorization",
        "proxy_authorization",
        "cookie",
        "set_cookie",
        "api_token",
        "api_key",
        "x_api_key",
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "secret",
        "password",
        "passphrase",
        "private_key",
        "key_password",
    }
)
#: Field names treated as personal data by default.
DEFAULT_PII_KEYS: Final = ("email", "phone", "ssn", "credit_card", "iban", "password", "token")


class _Patterns:
    """The value patterns, compiled on first use (importing the SDK compiles no regex)."""

    def __init__(self) -> None:
        self.auth_scheme = re.compile(r"\b(Bearer|BEARER|bearer|Basic|BASIC)(\s+)([A-Za-z0-9\-._~+/]{8,}=*)")
        self.auth_header = re.compile(r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?)([^\"',\r\n]+)")
        self.email = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?!\w)")
        self.card = re.compile(r"(?<![\w-])[2-6](?:[ -]?\d){12,18}(?![\w-])")
        self.iban = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
        self.phone = re.compile(
            r"(?<![\w+])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,5}){1,4}"
            r"|\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4})(?![\w])"
        )
        self.non_digit = re.compile(r"\D")
        self.word_separator = re.compile(r"[_\-\s.]+")


@functools.cache
def _patterns() -> _Patterns:
    return _Patterns()


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _iban_ok(text: str) -> bool:
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    return int(number) % 97 == 1


def _card(match: re.Match[str]) -> str:
    digits = _patterns().non_digit.sub("", match.group(0))
    return "[REDACTED:card]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else match.group(0)


def _iban(match: re.Match[str]) -> str:
    return "[REDACTED:iban]" if _iban_ok(match.group(0)) else match.group(0)


def _phone(match: re.Match[str]) -> str:
    digits = sum(char.isdigit() for char in match.group(0))
    return "[REDACTED:phone]" if 8 <= digits <= 15 else match.group(0)


def _words(key: str) -> tuple[str, ...]:
    return tuple(word for word in _patterns().word_separator.split(key.strip().lower()) if word)


def _contains_run(words: tuple[str, ...], name: tuple[str, ...]) -> bool:
    size = len(name)
    return any(words[index : index + size] == name for index in range(len(words) - size + 1))


def _basic_credential(text: str) -> bool:
    if any(char.isdigit() or char in "+/=" for char in text):
        return True
    try:
        return b":" in base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except ValueError:
        return False


def _credential(match: re.Match[str]) -> str:
    scheme, space, credential = match.groups()
    if scheme.lower() == "basic" and not _basic_credential(credential):
        return match.group(0)  # "Basic configuration ..." is prose, not a credential
    return f"{scheme}{space}{REDACTED}"


def redact_text(text: str, *, pii: bool = True) -> str:
    """``text`` with credentials (``Authorization: ...``, ``Bearer ...``) and, with ``pii``, personal
    data replaced."""
    patterns = _patterns()
    text = patterns.auth_header.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    text = patterns.auth_scheme.sub(_credential, text)
    if not pii:
        return text
    if "@" in text:
        text = patterns.email.sub("[REDACTED:email]", text)
    if any(char.isdigit() for char in text):
        text = patterns.card.sub(_card, text)
        text = patterns.iban.sub(_iban, text)
        text = patterns.phone.sub(_phone, text)
    return text


class Redactor:
    """Redacts secrets and (optionally) personal data in values of any depth.

    ``secret_keys`` and ``pii_keys`` are field names (matched as described in the module docs);
    ``pii`` turns the personal-data layer on or off.
    """

    __slots__ = ("_cache", "_pii_names", "_secret_names", "pii")

    def __init__(
        self,
        *,
        secret_keys: Iterable[str] = (),
        pii_keys: Iterable[str] = DEFAULT_PII_KEYS,
        pii: bool = True,
    ) -> None:
        """Build a redactor; the built-in :data:`SECRET_KEYS` are always included."""
        self._secret_names = frozenset(SECRET_KEYS | {"_".join(_words(key)) for key in secret_keys})
        self._pii_names = tuple(_words(key) for key in pii_keys if _words(key))
        self.pii = pii
        self._cache: dict[str, bool] = {}

    def sensitive_key(self, key: object) -> bool:
        """Whether values under ``key`` are redacted as a whole."""
        if not isinstance(key, str):
            return False
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        words = _words(key)
        joined = "_".join(words)
        result = joined in self._secret_names or joined.endswith(("_token", "_secret", "_password"))
        if not result and self.pii:
            result = any(_contains_run(words, name) for name in self._pii_names)
        if len(self._cache) < 4096:
            self._cache[key] = result
        return result

    def text(self, value: str) -> str:
        """Redact one string."""
        return redact_text(value, pii=self.pii)

    def value(self, value: Any, *, _depth: int = 0) -> Any:
        """A redacted copy of ``value`` (mappings become dicts, lists and tuples become lists)."""
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, Secret):
            return _SECRET_MASK
        if _depth > 32:
            return "[TRUNCATED]"
        if isinstance(value, Mapping):
            return {
                key: (REDACTED if self.sensitive_key(key) else self.value(item, _depth=_depth + 1))
                for key, item in value.items()
            }
        if isinstance(value, list | tuple | set | frozenset):
            return [self.value(item, _depth=_depth + 1) for item in value]
        if isinstance(value, bytes | bytearray):
            return f"<{len(value)} bytes>"
        return value


_DEFAULT_SANITIZER = Redactor()


def sanitize_for_logging(data: Any, *, keys: Iterable[str] | None = None) -> Any:
    """A copy of ``data`` that is safe to log: personal data and secrets redacted at any depth.

    Field names (default :data:`DEFAULT_PII_KEYS`, or ``keys``) have their whole value replaced by
    ``"[REDACTED]"``; e-mail addresses, Luhn-valid card numbers, IBANs and phone numbers inside
    strings are replaced by ``"[REDACTED:email]"``, ``"[REDACTED:card]"``, ... ; secrets
    (:class:`~kei_agent.secrets.Secret`, ``Authorization`` values) are always masked.

    >>> sanitize_for_logging({"user": {"email": "ann@example.com", "note": "call +49 30 1234567"}})
    {'user': {'email': '[REDACTED]', 'note': 'call [REDACTED:phone]'}}
    """
    redactor = _DEFAULT_SANITIZER if keys is None else Redactor(pii_keys=keys)
    return redactor.value(data)
