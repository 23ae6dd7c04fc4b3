"""The generation steps, in order. Each step renders one committed directory from the spec.

A step is a target directory (relative to the repository root) and a function that renders it
into a fresh directory. ``python -m generator`` runs them all; ``--check`` compares them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .contract import render_contract
from .lowlevel import render_lowlevel
from .operations import render_operations
from .sync_twin import render_sync_tests, render_sync_twin


@dataclass(frozen=True)
class Step:
    """One generated directory: ``render(dest)`` writes its complete contents into ``dest``."""

    name: str
    target: Path
    render: Callable[[Path], None]


def all_steps() -> list[Step]:
    """Every step of ``python -m generator``, in the order they run."""
    return [
        Step("low-level clients (openapi-python-client)", Path("kei_agent/_generated"), render_lowlevel),
        Step("contract data (spec.json, operation table)", Path("kei_agent/_contract"), render_contract),
        Step("operations surface (every operation, typed)", Path("kei_agent_async/_operations"), render_operations),
        Step("sync twin of kei_agent_async (unasync)", Path("kei_agent_sync"), render_sync_twin),
        Step("sync twin of the async client scenarios", Path("tests/clients/_sync"), render_sync_tests),
    ]
