"""A string that never shows itself: tokens, client secrets and passphrases.

:class:`Secret` masks its value in ``repr()``, ``str()`` and ``format()`` so that a secret
can travel through configuration objects, log records and exception messages without leaking.
The value is read only through the explicit :meth:`Secret.reveal`.
"""

from __future__ import annotations

import hmac
from typing import Any, Final

__all__ = ["Secret"]

_MASK: Final = "********"


class Secret:
    """A secret string with a masked representation.

    >>> token = Secret("s3cr3t")
    >>> token
    Secret('********')
    >>> f"token={token}"
    'token=********'
    >>> token.reveal()
    's3cr3t'

    Equality with another :class:`Secret` is constant-time (:func:`hmac.compare_digest`); a
    secret never equals a plain ``str`` (compare ``secret.reveal() == value`` explicitly).
    Secrets are hashable, immutable, and truthy when non-empty. Pickling keeps working (the
    value travels in the pickle, as it must to be usable after unpickling).
    """

    __slots__ = ("_value",)

    _value: str

    def __init__(self, value: str) -> None:
        """Wrap ``value``.

        Raises:
            TypeError: ``value`` is not a ``str`` (the message never contains the value).
        """
        if not isinstance(value, str):
            raise TypeError(f"Secret() takes a str, not {type(value).__name__}")
        object.__setattr__(self, "_value", value)

    @classmethod
    def coerce(cls, value: str | Secret | None) -> Secret | None:
        """Return ``value`` as a :class:`Secret`: ``None`` stays ``None``, a secret is returned as is.

        Raises:
            TypeError: ``value`` is neither ``str``, :class:`Secret` nor ``None``.
        """
        if value is None or isinstance(value, Secret):
            return value
        return cls(value)

    def reveal(self) -> str:
        """Return the clear-text value. Call it only where the value is sent or used."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{_MASK}')"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, format_spec: str) -> str:
        return format(_MASK, format_spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode("utf-8"), other._value.encode("utf-8"))

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Secret is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Secret is immutable")

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        return (Secret, (self._value,))


class MaskedHeaderValue(str):
    """A header value that holds a credential: a ``str`` for httpx, masked in ``repr``.

    Used where a constant ``Authorization`` value is precomputed once (a static bearer token), so
    that containers holding it (header dicts, frame locals in tracebacks) never show the token.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        scheme = self.split(" ", 1)[0] if " " in self else ""
        return f"'{scheme} ********'" if scheme else "'********'"
