"""MCP tool catalogue: the discovered tools and client-side validation of their parameters.

``client.discover_available_tools()`` fills the catalogue; ``client.use_tool(name, **parameters)``
checks the parameters against the tool's JSON schema (draft 2020-12, checked by jsonschema-rs -
the ``validation`` extra; without it the server alone validates) before sending, and raises ``ValidationError``
listing every problem with its JSON path (``$.parameters.expression``). A tool the catalogue does
not know is looked up once more; if the server does not list it either, the call is sent as is
and the server decides (404 for an unknown tool).

Written once for both flavours: the blocking twin of this module is generated from it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from kei_agent._generated import models
from kei_agent.errors import FieldProblem, ValidationError
from kei_agent.validation._schema import Check, SchemaCompiler

__all__ = ["ToolCatalog"]


class ToolCatalog:
    """Discovered tool descriptors by name, with their compiled parameter schemas."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tools: dict[str, models.ToolDescriptor] = {}
        self._checks: dict[str, Check] = {}

    def update(self, tools: Iterable[models.ToolDescriptor]) -> None:
        """Remember (or replace) these descriptors."""
        with self._lock:
            for tool in tools:
                self._tools[tool.name] = tool
                self._checks.pop(tool.name, None)

    def get(self, name: str) -> models.ToolDescriptor | None:
        """The descriptor of ``name``, if discovered."""
        with self._lock:
            return self._tools.get(name)

    def validate(self, name: str, parameters: Mapping[str, Any]) -> None:
        """Check ``parameters`` against the schema of tool ``name`` (a no-op for unknown tools).

        Raises:
            ValidationError: every problem, with its JSON path under ``$.parameters``.
        """
        with self._lock:
            tool = self._tools.get(name)
            if tool is None:
                return
            check = self._checks.get(name)
            if check is None:
                schema = tool.parameters.to_dict()
                try:
                    check = SchemaCompiler(schema).compile(schema)
                except (ValueError, KeyError, TypeError, AttributeError) as exc:
                    raise ValidationError(
                        [FieldProblem("$.parameters", f"the tool's parameter schema cannot be used: {exc}")],
                        title=f"Cannot validate the parameters of tool {name!r}",
                    ) from exc
                self._checks[name] = check
        problems: list[FieldProblem] = []
        check(dict(parameters), "$.parameters", problems)
        if problems:
            raise ValidationError(problems, title=f"Invalid parameters for tool {name!r}")
