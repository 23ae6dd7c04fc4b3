"""JSON Schema checks before sending: request bodies (the spec's schemas) and MCP tool parameters
(schemas the server supplies), with keywords beyond a simple subset: ``$ref``/``$defs``, ``oneOf``,
``if``/``then``, ``patternProperties``, ``dependentRequired`` and ``format``.

Written once for the async client; tests/clients/_sync holds the generated twin. Each test counts
the requests the server received, so "rejected before sending" is proven, not assumed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from kei_agent import AgentClientConfig, ValidationError
from kei_agent._generated import models
from kei_agent.testing import ServerHandle, run_server
from kei_agent.testing.mcp import Tool
from kei_agent_async import KeiAgentClient

pytestmark = pytest.mark.anyio

TOKEN = "schema-token"

TRIP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "$defs": {"airport": {"type": "string", "pattern": "^[A-Z]{3}$"}},
    "properties": {
        "origin": {"$ref": "#/$defs/airport"},
        "destination": {"$ref": "#/$defs/airport"},
        "date": {"type": "string", "format": "date"},
        "contact": {"type": "string", "format": "email"},
        "payment": {
            "oneOf": [
                {
                    "type": "object",
                    "properties": {"kind": {"const": "card"}, "number": {"type": "string"}},
                    "required": ["kind", "number"],
                },
                {
                    "type": "object",
                    "properties": {"kind": {"const": "invoice"}, "vat_id": {"type": "string"}},
                    "required": ["kind", "vat_id"],
                },
            ]
        },
        "return_trip": {"type": "boolean"},
        "return_date": {"type": "string", "format": "date"},
        "seat": {"type": "string"},
        "seat_class": {"enum": ["economy", "business"]},
    },
    "required": ["origin", "destination", "date"],
    "patternProperties": {"^x-": {"type": "string"}},
    "additionalProperties": False,
    "if": {"properties": {"return_trip": {"const": True}}, "required": ["return_trip"]},
    "then": {"required": ["return_date"]},
    "dependentRequired": {"seat": ["seat_class"]},
}


def _book(parameters: Mapping[str, Any]) -> dict[str, Any]:
    return {"booked": f"{parameters['origin']}-{parameters['destination']}"}


@pytest.fixture
def server() -> Iterator[ServerHandle]:
    with run_server(tokens=[TOKEN]) as handle:
        handle.state.tools.register(Tool("book_trip", "Books a trip.", TRIP_SCHEMA, _book, category="travel"))
        yield handle


def make_client(server: ServerHandle) -> KeiAgentClient:
    return KeiAgentClient(AgentClientConfig(base_url=server.base_url, api_token=TOKEN, agent_id="schema-agent"))


async def test_tool_parameters_valid_under_every_keyword_are_sent(server: ServerHandle) -> None:
    async with make_client(server) as client:
        result = await client.use_tool(
            "book_trip",
            origin="BER",
            destination="MUC",
            date="2026-12-24",
            contact="ops@example.com",
            payment={"kind": "invoice", "vat_id": "DE123"},
            return_trip=True,
            return_date="2026-12-27",
            seat="12A",
            seat_class="economy",
            **{"x-note": "window"},
        )
    assert result.status == models.ToolStatus.SUCCESS
    assert result["result"]["booked"] == "BER-MUC"
    assert server.stats.requests("executeTool") == 1


async def test_tool_parameters_list_every_problem_of_every_keyword_and_send_nothing(server: ServerHandle) -> None:
    async with make_client(server) as client:
        with pytest.raises(ValidationError) as caught:
            await client.use_tool(
                "book_trip",
                origin="ber",
                destination="MUC",
                date="2026-13-45",
                contact="not an address",
                payment={"kind": "cash"},
                return_trip=True,
                seat="12A",
                unknown=1,
                **{"x-note": 5},
            )
    problems = {(problem.path, problem.message) for problem in caught.value.problems}
    allowed = "contact, date, destination, origin, payment, return_date, return_trip, seat, seat_class"
    assert problems == {
        ("$.parameters.origin", "must match the pattern ^[A-Z]{3}$"),  # $ref into $defs
        ("$.parameters.date", "must be a valid date, got '2026-13-45'"),  # format
        ("$.parameters.contact", "must be a valid email, got 'not an address'"),  # format
        (
            "$.parameters.payment",
            "does not match any of the 2 allowed shapes (closest: $.parameters.payment.number: is required)",
        ),  # oneOf
        ("$.parameters.x-note", "must be a string, got integer"),  # patternProperties
        ("$.parameters.unknown", f"is not an allowed property (allowed: {allowed})"),
        ("$.parameters.return_date", "is required"),  # if/then
        ("$.parameters.seat_class", "is required"),  # dependentRequired
    }
    assert "Invalid parameters for tool 'book_trip'" in str(caught.value)
    assert server.stats.requests("executeTool") == 0


async def test_a_tool_schema_that_is_not_json_schema_is_a_validation_error(server: ServerHandle) -> None:
    broken = {"type": "object", "properties": {"n": {"type": "integer", "minimum": "zero"}}}
    server.state.tools.register(Tool("broken", "A schema the server accepts but is wrong.", {"type": "object"}, _book))
    async with make_client(server) as client:
        await client.discover_available_tools()
        server.state.tools.get("broken").parameters = broken  # type: ignore[union-attr]
        catalog_tools = await client.discover_available_tools()
        assert any(tool.name == "broken" for tool in catalog_tools)
        with pytest.raises(ValidationError, match=r"the tool's parameter schema cannot be used: invalid JSON schema"):
            await client.use_tool("broken", n=1)
    assert server.stats.requests("executeTool") == 0


async def test_request_bodies_are_checked_against_the_specs_referenced_schemas(server: ServerHandle) -> None:
    async with make_client(server) as client:
        with pytest.raises(ValidationError) as caught:
            await client.register_agent("", agent_id="bad id!", capabilities=["plan", 7])  # type: ignore[list-item]
    problems = {(problem.path, problem.message) for problem in caught.value.problems}
    assert problems == {
        ("$.agent_id", "must match the pattern ^[A-Za-z0-9][A-Za-z0-9._:-]*$"),
        ("$.name", "must not be empty"),
        ("$.capabilities[1]", "must be a string, got integer"),
    }
    assert server.stats.requests("registerAgent") == 0
