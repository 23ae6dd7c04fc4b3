"""A deterministic planner: the same objective and context always give the same steps.

The objective is split into clauses (``then``, ``;``, ``, and``, sentences); each clause becomes a
step whose action is one of the built-in actions, chosen by keywords (a report → ``generate_report``,
numbers to add → ``sum``, waiting → ``sleep``, anything else → ``echo``). A non-empty context adds
a first step that gathers it; every plan ends with a review step. Steps are numbered from 1 and
have ids ``<plan_id>.<n>``; each depends on the previous one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MAX_CLAUSES = 8
_SPLIT = re.compile(r"\s*(?:;|,?\s*\band then\b|,?\s*\bthen\b|\.\s+|,\s*and\b)\s*", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_REPORT = ("report", "document", "draft", "write", "summar", "presentation", "memo")
_SUM = ("sum", "total", "add", "calculate", "compute", "count")
_SLEEP = ("wait", "pause", "sleep", "delay")


def clauses(objective: str) -> list[str]:
    """The objective's clauses, in order (at most 8; the last one keeps the remainder)."""
    parts = [part.strip(" .,") for part in _SPLIT.split(objective.strip())]
    parts = [part for part in parts if part]
    if not parts:
        return [objective.strip() or objective]
    if len(parts) > MAX_CLAUSES:
        parts = [*parts[: MAX_CLAUSES - 1], " ".join(parts[MAX_CLAUSES - 1 :])]
    return parts


def _numbers(text: str) -> list[int | float]:
    values: list[int | float] = []
    for match in _NUMBER.findall(text):
        number = float(match)
        values.append(int(number) if number.is_integer() and "." not in match else number)
    return values


def _step_for(clause: str, context: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(description, action, parameters) for one clause."""
    lowered = clause.lower()
    numbers = _numbers(clause)
    if any(word in lowered for word in _SLEEP):
        seconds = min(float(numbers[0]), 1.0) if numbers else 0.1
        return f"Wait: {clause}", "sleep", {"seconds": max(seconds, 0.0)}
    if any(word in lowered for word in _SUM) and numbers:
        return f"Calculate: {clause}", "sum", {"values": numbers}
    if any(word in lowered for word in _REPORT):
        parameters: dict[str, Any] = {"title": clause[:200], "format": "pdf"}
        for key in ("audience", "quarter", "format"):
            if isinstance(context.get(key), str | int | float):
                parameters[key] = context[key]
        return f"Draft the document: {clause}", "generate_report", parameters
    return f"Carry out: {clause}", "echo", {"message": clause}


def make_steps(plan_id: str, objective: str, context: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The plan's steps as spec ``PlanStep`` objects."""
    context = context or {}
    drafts: list[tuple[str, str, dict[str, Any]]] = []
    if context:
        keys = ", ".join(sorted(str(key) for key in context)[:10])
        drafts.append((f"Gather the context ({keys})", "echo", {"message": f"context: {keys}"}))
    drafts.extend(_step_for(clause, context) for clause in clauses(objective))
    drafts.append((f"Review the result against the objective: {objective[:200]}", "echo", {"message": "review"}))
    steps: list[dict[str, Any]] = []
    for index, (description, action, parameters) in enumerate(drafts, start=1):
        step: dict[str, Any] = {
            "step_id": f"{plan_id}.{index}",
            "index": index,
            "description": description,
            "action": action,
            "parameters": parameters,
            "depends_on": [f"{plan_id}.{index - 1}"] if index > 1 else [],
        }
        steps.append(step)
    return steps
