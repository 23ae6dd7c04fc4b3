"""MCP: built-in tools with JSON Schema parameters, resources and prompts.

Tools: ``calculator`` (safe arithmetic: numbers, ``+ - * / // % **``, parentheses; no ``eval``),
``echo``, ``word_count``, ``text_stats``. Parameters are validated against the tool's schema
(Draft 2020-12): every problem is reported (a result with status error). Users add tools with
``server.state.tools.register(Tool(...))``.
"""

from __future__ import annotations

import ast
import math
import operator
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

from .validation import FieldError, validator_errors

ToolFunction = Callable[[Mapping[str, Any]], dict[str, Any]]


class ToolError(Exception):
    """The tool ran and failed (reported as ``status: error``)."""


@dataclass(slots=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    function: ToolFunction
    category: str = "general"
    version: str = "1.0.0"
    validator: Draft202012Validator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        Draft202012Validator.check_schema(self.parameters)
        self.validator = Draft202012Validator(self.parameters)

    def check(self, parameters: Any) -> list[FieldError]:
        return [
            FieldError("$.parameters" + error.path.removeprefix("$"), error.message)
            for error in validator_errors(self.validator, parameters)
        ]

    def descriptor(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "category": self.category,
            "version": self.version,
            "parameters": self.parameters,
        }


# ------------------------------------------------------------------ calculator
_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
MAX_EXPONENT = 1000
MAX_BITS = 8192
MAX_NODES = 200


def calculate(expression: str) -> int | float:
    """Evaluate arithmetic safely; :class:`ToolError` for anything else."""
    try:
        tree = ast.parse(expression, mode="eval")
    except (SyntaxError, ValueError) as exc:
        raise ToolError(f"not an arithmetic expression: {exc.msg if isinstance(exc, SyntaxError) else exc}") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ToolError("expression too long")

    def visit(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return visit(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = visit(node.left), visit(node.right)
            if isinstance(node.op, ast.Pow) and (
                abs(right) > MAX_EXPONENT or (isinstance(left, int) and abs(left).bit_length() * abs(right) > MAX_BITS)
            ):
                raise ToolError("the power is too large")
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](visit(node.operand))
        raise ToolError(f"unsupported element: {type(node).__name__}")

    try:
        value = visit(tree)
    except ZeroDivisionError:
        raise ToolError("division by zero") from None
    except (OverflowError, ValueError, TypeError) as exc:
        raise ToolError(f"cannot evaluate: {exc}") from None
    if isinstance(value, complex) or (isinstance(value, float) and not math.isfinite(value)):
        raise ToolError("the result is not a finite real number")
    if isinstance(value, int) and abs(value) > 10**300:
        raise ToolError("the result is too large")
    result: int | float = value
    return result


def _calculator(parameters: Mapping[str, Any]) -> dict[str, Any]:
    return {"value": calculate(str(parameters["expression"]))}


def _echo(parameters: Mapping[str, Any]) -> dict[str, Any]:
    return {"text": parameters["text"]}


def _word_count(parameters: Mapping[str, Any]) -> dict[str, Any]:
    words = str(parameters["text"]).split()
    return {"words": len(words), "unique_words": len({word.lower() for word in words})}


def _text_stats(parameters: Mapping[str, Any]) -> dict[str, Any]:
    text = str(parameters["text"])
    return {"characters": len(text), "lines": len(text.splitlines()) or (1 if text else 0)}


def builtin_tools() -> list[Tool]:
    text_schema = {
        "type": "object",
        "properties": {"text": {"type": "string", "maxLength": 100_000}},
        "required": ["text"],
        "additionalProperties": False,
    }
    return [
        Tool(
            "calculator",
            "Evaluates an arithmetic expression (+ - * / // % ** and parentheses).",
            {
                "type": "object",
                "properties": {"expression": {"type": "string", "minLength": 1, "maxLength": 1000}},
                "required": ["expression"],
                "additionalProperties": False,
            },
            _calculator,
            category="math",
        ),
        Tool("echo", "Returns the text it is given.", dict(text_schema), _echo, category="text"),
        Tool("word_count", "Counts the words of a text.", dict(text_schema), _word_count, category="text"),
        Tool("text_stats", "Counts characters and lines of a text.", dict(text_schema), _text_stats, category="text"),
    ]


RESOURCES: list[dict[str, Any]] = [
    {
        "uri": "kei://reports/latest",
        "name": "Latest report",
        "description": "The most recent report.",
        "mime_type": "application/pdf",
    },
    {
        "uri": "kei://plans",
        "name": "Plans",
        "description": "The plans created on this server.",
        "mime_type": "application/json",
    },
    {
        "uri": "kei://agents",
        "name": "Agents",
        "description": "The registered agents.",
        "mime_type": "application/json",
    },
]

PROMPTS: list[dict[str, Any]] = [
    {
        "name": "summarize",
        "description": "Summarize a document.",
        "arguments": [{"name": "document", "description": "The text to summarize.", "required": True}],
    },
    {
        "name": "plan_review",
        "description": "Review a plan before it runs.",
        "arguments": [
            {"name": "plan_id", "description": "The plan to review.", "required": True},
            {"name": "focus", "description": "What to look at first.", "required": False},
        ],
    },
]


class ToolRegistry:
    """Tools by name (thread-safe registration)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tools: dict[str, Tool] = {tool.name: tool for tool in builtin_tools()}

    def register(self, tool: Tool) -> None:
        with self._lock:
            self._tools[tool.name] = tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def list(self, category: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            tools = sorted(self._tools.values(), key=lambda tool: tool.name)
        return [tool.descriptor() for tool in tools if category is None or tool.category == category]
