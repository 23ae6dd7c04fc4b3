"""Render steps into temporary directories, then swap them into place or diff them (drift check)."""

from __future__ import annotations

import difflib
import tempfile
from pathlib import Path

from .steps import Step

_IGNORED_PARTS = {"__pycache__", ".mypy_cache", ".ruff_cache"}


def _files(root: Path) -> dict[str, Path]:
    if not root.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): p
        for p in sorted(root.rglob("*"))
        if p.is_file() and not _IGNORED_PARTS.intersection(p.relative_to(root).parts)
    }


def generate(step: Step, repo_root: Path) -> None:
    """Render ``step`` next to its target, then swap it in (no stale files survive)."""
    target = repo_root / step.target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{target.name}-", dir=target.parent) as tmp:
        fresh = Path(tmp) / "new"
        step.render(fresh)
        old = Path(tmp) / "old"
        if target.exists():
            target.rename(old)
        fresh.rename(target)


def diff(step: Step, repo_root: Path) -> list[str]:
    """Unified diff lines between the committed target and a fresh rendering (empty: no drift)."""
    target = repo_root / step.target
    with tempfile.TemporaryDirectory(prefix="kei-check-") as tmp:
        fresh = Path(tmp) / "new"
        step.render(fresh)
        have, want = _files(target), _files(fresh)
        lines: list[str] = []
        for rel in sorted(have.keys() | want.keys()):
            a = have[rel].read_text(encoding="utf-8").splitlines(keepends=True) if rel in have else []
            b = want[rel].read_text(encoding="utf-8").splitlines(keepends=True) if rel in want else []
            if a != b or (rel in have) != (rel in want):
                name = f"{step.target.as_posix()}/{rel}"
                from_name = name if rel in have else "/dev/null"
                to_name = name if rel in want else "/dev/null"
                chunk = list(difflib.unified_diff(a, b, f"a/{from_name}", f"b/{to_name}"))
                lines.extend(chunk or [f"--- a/{from_name}\n", f"+++ b/{to_name}\n"])
        return lines
