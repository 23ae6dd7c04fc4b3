"""A reference-server action that counts how often the server really ran it (both flavours use it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kei_agent.testing import ServerHandle


def counting_action(server: ServerHandle, name: str = "count_me") -> list[Mapping[str, Any]]:
    """Register action ``name`` on ``server``; the returned list grows by one per execution."""
    runs: list[Mapping[str, Any]] = []

    async def run(parameters: Mapping[str, Any]) -> dict[str, Any]:
        runs.append(dict(parameters))
        return {"runs": len(runs)}

    server.state.actions.register_action(name, run)
    return runs
