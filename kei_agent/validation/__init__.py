"""Input validation derived from the spec, plus hardening limits - no keyword blacklists.

* :func:`get_input_validator` → :class:`InputValidator`;
  ``validate_agent_operation(operation, data) -> ValidationResult(valid, errors, warnings,
  sanitized_value)``. The rules of each operation are the request schemas of
  ``openapi/kei-agent.yaml`` (one source of truth), compiled on first use by jsonschema-rs (the
  ``validation`` extra; without it only the hardening limits are checked client-side).
* :func:`validate_request` - the strict check the clients run before sending each request
  (``AgentClientConfig.validate_requests``, on by default): ``ValidationError`` listing every
  problem with its JSON path, or :class:`InputSecurityError` (a ``SecurityError``, with a security
  event in the logs) when a :class:`HardeningLimits` limit is violated.

Ordinary text is valid: "Summarize Bob's notes", "Count #tags", "Create a report and select the
best option", "DROP the old draft -- it's obsolete". Only sizes, nesting, control characters and
non-JSON values are refused beyond the schema.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._hardening import CONTROL_CHARACTERS, HardeningLimits
    from ._validator import (
        OPERATION_ALIASES,
        InputSecurityError,
        InputValidator,
        ValidationResult,
        get_input_validator,
        set_input_validator,
        validate_request,
    )

__all__ = [
    "CONTROL_CHARACTERS",
    "OPERATION_ALIASES",
    "HardeningLimits",
    "InputSecurityError",
    "InputValidator",
    "ValidationResult",
    "get_input_validator",
    "set_input_validator",
    "validate_request",
]

_LOCATIONS = {"CONTROL_CHARACTERS": "._hardening", "HardeningLimits": "._hardening"}


def __getattr__(name: str) -> Any:
    # Loaded on first use: importing ``kei_agent.validation._schema`` alone stays light.
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LOCATIONS.get(name, "._validator"), __name__), name)
    globals()[name] = value
    return value
