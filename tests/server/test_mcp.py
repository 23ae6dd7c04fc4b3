"""MCP: tool discovery, validated execution, 404, the safe calculator, resources and prompts."""

from __future__ import annotations

import httpx
import pytest

from kei_agent.testing import ServerHandle
from kei_agent.testing.mcp import Tool, ToolError, calculate

MCP = "/api/v1/mcp"


def test_list_tools_with_schemas_and_category_filter(http: httpx.Client) -> None:
    tools = http.get(f"{MCP}/tools").json()["tools"]
    names = [tool["name"] for tool in tools]
    assert {"calculator", "echo", "word_count"} <= set(names)
    calculator = next(tool for tool in tools if tool["name"] == "calculator")
    assert calculator["parameters"]["required"] == ["expression"]
    math = http.get(f"{MCP}/tools", params={"category": "math"}).json()["tools"]
    assert [tool["name"] for tool in math] == ["calculator"]
    assert http.get(f"{MCP}/tools", params={"category": "nothing"}).json() == {"tools": []}


def test_execute_calculator(http: httpx.Client) -> None:
    response = http.post(f"{MCP}/tools/calculator/execute", json={"parameters": {"expression": "6 * 7"}})
    assert response.status_code == 200
    result = response.json()
    assert result["status"] == "success"
    assert result["result"] == {"value": 42}
    assert result["tool_name"] == "calculator"


def test_tool_errors_are_reported(http: httpx.Client) -> None:
    body = {"parameters": {"expression": "1 / 0"}}
    result = http.post(f"{MCP}/tools/calculator/execute", json=body).json()
    assert result["status"] == "error"
    assert result["error"] == "division by zero"


def test_parameters_are_validated_against_the_tool_schema(http: httpx.Client) -> None:
    """As MCP reports invalid tool input: a tool result with status error and every problem, not a 422."""
    body = {"parameters": {"expression": 42, "extra": True}}
    response = http.post(f"{MCP}/tools/calculator/execute", json=body)
    assert response.status_code == 200
    assert response.json()["status"] == "error"
    errors = response.json()["errors"]
    assert {"path": "$.parameters.expression", "message": "42 is not of type 'string'"} in errors
    assert any(e["path"] == "$.parameters" and "extra" in e["message"] for e in errors)
    missing = http.post(f"{MCP}/tools/word_count/execute", json={})
    assert missing.json()["errors"] == [{"path": "$.parameters.text", "message": "is required"}]
    assert "result" not in missing.json()


def test_unknown_tool_is_404(http: httpx.Client) -> None:
    response = http.post(f"{MCP}/tools/teleporter/execute", json={"parameters": {}})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_user_registered_tool(http: httpx.Client, server: ServerHandle) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    server.state.tools.register(Tool("square", "Squares n.", schema, lambda p: {"value": p["n"] ** 2}, category="math"))
    assert http.post(f"{MCP}/tools/square/execute", json={"parameters": {"n": 9}}).json()["result"] == {"value": 81}
    assert http.post(f"{MCP}/tools/square/execute", json={"parameters": {"n": "9"}}).json()["status"] == "error"


@pytest.mark.parametrize(
    ("expression", "value"),
    [("6 * 7", 42), ("(1 + 2) ** 3", 27), ("7 // 2 + 7 % 2", 4), ("-2.5 * 2", -5.0), ("2 ** -1", 0.5)],
)
def test_calculator_arithmetic(expression: str, value: float) -> None:
    assert calculate(expression) == value


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('true')",
        "open('x')",
        "a + 1",
        "[1, 2]",
        "9 ** 9 ** 9",
        "(10 ** 1000) ** 1000",
        "1 +",
        "True + 1",
    ],
)
def test_calculator_refuses_anything_but_arithmetic(expression: str) -> None:
    with pytest.raises(ToolError):
        calculate(expression)


def test_resources_and_prompts(http: httpx.Client) -> None:
    resources = http.get(f"{MCP}/resources").json()["resources"]
    assert {"uri": "kei://reports/latest", "name": "Latest report"}.items() <= resources[0].items()
    prompts = http.get(f"{MCP}/prompts").json()["prompts"]
    summarize = next(p for p in prompts if p["name"] == "summarize")
    assert summarize["arguments"] == [{"name": "document", "description": "The text to summarize.", "required": True}]
