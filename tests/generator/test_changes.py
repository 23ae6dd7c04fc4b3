"""Tests for the spec change report (``generator.changes``)."""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.changes import (
    Change,
    ChangeReportError,
    compare_specs,
    format_report,
    load_spec_at_rev,
    load_spec_file,
    run_changes,
)

Spec = dict[str, Any]
Edit = Callable[[Spec], object]  # return value ignored; lets one-line lambdas do several edits

REPO_ROOT = Path(__file__).resolve().parents[2]
REAL_SPEC = REPO_ROOT / "openapi" / "kei-agent.yaml"

PLAN = "POST /api/v1/rpc/plan (planTask)"
GET_AGENT = "GET /api/v1/agents/{agent_id} (getAgent)"
DELETE_AGENT = "DELETE /api/v1/agents/{agent_id} (deleteAgent)"
HEALTH = "GET /api/v1/health (getHealth)"
WS = "WEBSOCKET /api/v1/stream"


def _ref(name: str, kind: str = "schemas") -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


BASE: Spec = {
    "openapi": "3.1.0",
    "info": {"title": "test", "version": "1"},
    "security": [{"bearerAuth": []}],
    "x-kei-websocket": {
        "path": "/api/v1/stream",
        "subprotocol": "kei.stream.v1",
        "frames": {
            "client": {"ping": _ref("PingFrame")},
            "server": {"event": _ref("EventFrame")},
        },
    },
    "paths": {
        "/api/v1/rpc/plan": {
            "post": {
                "operationId": "planTask",
                "x-kei-idempotent": False,
                "x-kei-retry": [429, 503],
                "x-kei-protocols": ["rpc", "bus"],
                "security": [{"bearerAuth": []}, {"oauth2": ["kei:plan"]}],
                "parameters": [
                    _ref("XAgentID", "parameters"),
                    {"name": "dry_run", "in": "query", "required": False, "schema": {"type": "boolean"}},
                ],
                "requestBody": _ref("PlanBody", "requestBodies"),
                "responses": {
                    "200": {
                        "description": "The plan.",
                        "headers": {"X-Request-ID": _ref("X-Request-ID", "headers")},
                        "content": _json(_ref("PlanResponse")),
                    },
                    "400": _ref("Problem", "responses"),
                },
            }
        },
        "/api/v1/agents/{agent_id}": {
            "parameters": [_ref("AgentIdPath", "parameters")],
            "get": {
                "operationId": "getAgent",
                "parameters": [
                    {
                        "name": "view",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "enum": ["summary", "full"]},
                    },
                ],
                "responses": {"200": _ref("AgentOk", "responses")},
            },
            "delete": {
                "operationId": "deleteAgent",
                "responses": {"204": {"description": "Deleted."}},
            },
        },
        "/api/v1/health": {
            "get": {
                "operationId": "getHealth",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Alive.",
                        "content": _json({"type": "object", "properties": {"status": {"type": "string"}}}),
                    }
                },
            }
        },
    },
    "components": {
        "securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer"},
            "oauth2": {"type": "oauth2", "flows": {}},
        },
        "parameters": {
            "XAgentID": {"name": "X-Agent-ID", "in": "header", "required": False, "schema": {"type": "string"}},
            "AgentIdPath": {"name": "agent_id", "in": "path", "required": True, "schema": {"type": "string"}},
        },
        "headers": {"X-Request-ID": {"required": True, "schema": {"type": "string"}}},
        "requestBodies": {
            "PlanBody": {"required": True, "content": _json(_ref("PlanRequest"))},
        },
        "responses": {
            "AgentOk": {"description": "The agent.", "content": _json(_ref("Agent"))},
            "Problem": {
                "description": "Problem.",
                "content": {"application/problem+json": {"schema": {"type": "object"}}},
            },
        },
        "schemas": {
            "PlanRequest": {
                "type": "object",
                "required": ["objective"],
                "properties": {
                    "objective": {"type": "string"},
                    "priority": _ref("Priority"),
                    "context": {
                        "type": "object",
                        "additionalProperties": True,
                        "properties": {
                            "tags": {"type": "array", "items": {"type": "string"}},
                            "deadline": {"type": ["string", "null"], "format": "date-time"},
                        },
                    },
                    "hint": _ref("Hint"),
                    "server_note": {"type": "string", "readOnly": True},
                },
            },
            "Priority": {"type": "string", "enum": ["low", "normal", "high"]},
            "Hint": {
                "oneOf": [_ref("TextHint"), _ref("FileHint")],
                "discriminator": {"propertyName": "kind"},
            },
            "TextHint": {
                "type": "object",
                "required": ["kind", "text"],
                "properties": {"kind": {"const": "text"}, "text": {"type": "string"}},
            },
            "FileHint": {
                "type": "object",
                "required": ["kind", "uri"],
                "properties": {"kind": {"const": "file"}, "uri": {"type": "string"}},
            },
            "Resource": {
                "type": "object",
                "required": ["created_at"],
                "properties": {"created_at": {"type": "string", "format": "date-time"}},
            },
            "PlanResponse": {
                "allOf": [
                    _ref("Resource"),
                    {
                        "type": "object",
                        "required": ["plan_id", "status", "steps"],
                        "properties": {
                            "plan_id": {"type": "string"},
                            "status": _ref("PlanStatus"),
                            "steps": {"type": "array", "items": _ref("PlanStep")},
                            "note": {"type": ["string", "null"]},
                        },
                    },
                ]
            },
            "PlanStatus": {"type": "string", "enum": ["created", "running", "done"]},
            "PlanStep": {
                "type": "object",
                "required": ["step_id"],
                "properties": {
                    "step_id": {"type": "string"},
                    "children": {"type": "array", "items": _ref("PlanStep")},
                },
            },
            "Agent": {
                "type": "object",
                "required": ["agent_id", "status"],
                "properties": {
                    "agent_id": {"type": "string"},
                    "status": {"type": "string", "enum": ["ready", "busy"]},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
            "PingFrame": {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"const": "ping"}, "ts": {"type": "number"}},
            },
            "EventFrame": {
                "type": "object",
                "required": ["type", "topic"],
                "properties": {"type": {"const": "event"}, "topic": {"type": "string"}},
            },
        },
    },
}


def _schemas(spec: Spec) -> dict[str, Any]:
    schemas: dict[str, Any] = spec["components"]["schemas"]
    return schemas


def _plan(spec: Spec) -> dict[str, Any]:
    op: dict[str, Any] = spec["paths"]["/api/v1/rpc/plan"]["post"]
    return op


def _plan_response(spec: Spec) -> dict[str, Any]:
    part: dict[str, Any] = _schemas(spec)["PlanResponse"]["allOf"][1]
    return part


def _apply(edit: Edit, base: Spec = BASE) -> list[Change]:
    new = copy.deepcopy(base)
    edit(new)
    return compare_specs(base, new)


def _keys(changes: list[Change]) -> set[tuple[str, str, str]]:
    return {(c.severity, c.kind, c.location) for c in changes}


# --------------------------------------------------------------------------
# Edits of the synthetic spec: (id, edit, severity, kind, location)
# --------------------------------------------------------------------------


def _add_operation(s: Spec) -> None:
    s["paths"]["/api/v1/agents"] = {
        "post": {"operationId": "registerAgent", "responses": {"201": {"description": "ok"}}}
    }


def _rename_path_param(s: Spec) -> None:
    item = s["paths"].pop("/api/v1/agents/{agent_id}")
    item["parameters"] = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    s["paths"]["/api/v1/agents/{id}"] = item


def _add_union_variant(s: Spec) -> None:
    _schemas(s)["UrlHint"] = {
        "type": "object",
        "required": ["kind", "url"],
        "properties": {"kind": {"const": "url"}, "url": {"type": "string"}},
    }
    _schemas(s)["Hint"]["oneOf"].append(_ref("UrlHint"))


def _status_200_to_201(s: Spec) -> None:
    responses = _plan(s)["responses"]
    responses["201"] = responses.pop("200")


SYNTHETIC_EDITS: list[tuple[str, Edit, str, str, str]] = [
    # operations
    (
        "operation-removed",
        lambda s: s["paths"]["/api/v1/agents/{agent_id}"].pop("delete"),
        "breaking",
        "operation-removed",
        DELETE_AGENT,
    ),
    ("operation-added", _add_operation, "compatible", "operation-added", "POST /api/v1/agents (registerAgent)"),
    (
        "operation-id-changed",
        lambda s: _plan(s).__setitem__("operationId", "createPlan"),
        "breaking",
        "operation-id-changed",
        "POST /api/v1/rpc/plan (createPlan)",
    ),
    (
        "path-param-renamed",
        _rename_path_param,
        "compatible",
        "parameter-renamed",
        "GET /api/v1/agents/{id} (getAgent) path parameter 'id'",
    ),
    # parameters
    (
        "param-added-required",
        lambda s: _plan(s)["parameters"].append(
            {"name": "tenant", "in": "query", "required": True, "schema": {"type": "string"}}
        ),
        "breaking",
        "parameter-added",
        f"{PLAN} query parameter 'tenant'",
    ),
    (
        "param-added-optional",
        lambda s: _plan(s)["parameters"].append({"name": "verbose", "in": "query", "schema": {"type": "boolean"}}),
        "compatible",
        "parameter-added",
        f"{PLAN} query parameter 'verbose'",
    ),
    (
        "param-removed",
        lambda s: _plan(s)["parameters"].pop(1),
        "breaking",
        "parameter-removed",
        f"{PLAN} query parameter 'dry_run'",
    ),
    (
        "param-retyped",
        lambda s: _plan(s)["parameters"][1].__setitem__("schema", {"type": "string"}),
        "breaking",
        "parameter-retyped",
        f"{PLAN} query parameter 'dry_run'",
    ),
    (
        "param-made-required",
        lambda s: _plan(s)["parameters"][1].__setitem__("required", True),
        "breaking",
        "parameter-made-required",
        f"{PLAN} query parameter 'dry_run'",
    ),
    (
        "shared-header-param-made-required",
        lambda s: s["components"]["parameters"]["XAgentID"].__setitem__("required", True),
        "breaking",
        "parameter-made-required",
        f"{PLAN} header parameter 'X-Agent-ID'",
    ),
    (
        "param-made-optional",
        lambda s: s["paths"]["/api/v1/agents/{agent_id}"]["get"]["parameters"][0].__setitem__("required", False),
        "compatible",
        "parameter-made-optional",
        f"{GET_AGENT} query parameter 'view'",
    ),
    (
        "param-enum-value-removed",
        lambda s: s["paths"]["/api/v1/agents/{agent_id}"]["get"]["parameters"][0]["schema"]["enum"].remove("full"),
        "breaking",
        "enum-value-removed",
        f"{GET_AGENT} query parameter 'view'",
    ),
    (
        "path-param-retyped",
        lambda s: s["components"]["parameters"]["AgentIdPath"].__setitem__("schema", {"type": "integer"}),
        "breaking",
        "parameter-retyped",
        f"{DELETE_AGENT} path parameter 'agent_id'",
    ),
    # request bodies
    (
        "request-field-added-required",
        lambda s: (
            _schemas(s)["PlanRequest"]["properties"].__setitem__("owner", {"type": "string"}),
            _schemas(s)["PlanRequest"]["required"].append("owner"),
        ),
        "breaking",
        "field-added",
        f"{PLAN} request body .owner",
    ),
    (
        "request-field-added-optional",
        lambda s: _schemas(s)["PlanRequest"]["properties"].__setitem__("owner", {"type": "string"}),
        "compatible",
        "field-added",
        f"{PLAN} request body .owner",
    ),
    (
        "request-field-removed",
        lambda s: _schemas(s)["PlanRequest"]["properties"].pop("priority"),
        "breaking",
        "field-removed",
        f"{PLAN} request body .priority",
    ),
    (
        "request-field-retyped",
        lambda s: _schemas(s)["PlanRequest"]["properties"].__setitem__("objective", {"type": "integer"}),
        "breaking",
        "field-retyped",
        f"{PLAN} request body .objective",
    ),
    (
        "request-array-item-retyped",
        lambda s: _schemas(s)["PlanRequest"]["properties"]["context"]["properties"]["tags"].__setitem__(
            "items", {"type": "integer"}
        ),
        "breaking",
        "field-retyped",
        f"{PLAN} request body .context.tags[]",
    ),
    (
        "request-format-changed",
        lambda s: _schemas(s)["PlanRequest"]["properties"]["context"]["properties"]["deadline"].__setitem__(
            "format", "date"
        ),
        "breaking",
        "field-retyped",
        f"{PLAN} request body .context.deadline",
    ),
    (
        "request-field-made-required",
        lambda s: _schemas(s)["PlanRequest"]["required"].append("context"),
        "breaking",
        "field-made-required",
        f"{PLAN} request body .context",
    ),
    (
        "request-field-made-optional",
        lambda s: _schemas(s)["PlanRequest"].__setitem__("required", []),
        "compatible",
        "field-made-optional",
        f"{PLAN} request body .objective",
    ),
    (
        "request-enum-value-removed",
        lambda s: _schemas(s)["Priority"]["enum"].remove("low"),
        "breaking",
        "enum-value-removed",
        f"{PLAN} request body .priority",
    ),
    (
        "request-enum-value-added",
        lambda s: _schemas(s)["Priority"]["enum"].append("urgent"),
        "compatible",
        "enum-value-added",
        f"{PLAN} request body .priority",
    ),
    (
        "request-field-made-nullable",
        lambda s: _schemas(s)["PlanRequest"]["properties"]["objective"].__setitem__("type", ["string", "null"]),
        "compatible",
        "field-made-nullable",
        f"{PLAN} request body .objective",
    ),
    (
        "request-field-made-non-nullable",
        lambda s: _schemas(s)["PlanRequest"]["properties"]["context"]["properties"]["deadline"].__setitem__(
            "type", "string"
        ),
        "breaking",
        "field-made-non-nullable",
        f"{PLAN} request body .context.deadline",
    ),
    (
        "request-additional-properties-closed",
        lambda s: _schemas(s)["PlanRequest"]["properties"]["context"].__setitem__("additionalProperties", False),
        "breaking",
        "additional-properties-restricted",
        f"{PLAN} request body .context",
    ),
    (
        "request-body-added-required",
        lambda s: s["paths"]["/api/v1/agents/{agent_id}"]["delete"].__setitem__(
            "requestBody", {"required": True, "content": _json({"type": "object"})}
        ),
        "breaking",
        "request-body-added",
        f"{DELETE_AGENT} request body",
    ),
    (
        "request-body-added-optional",
        lambda s: s["paths"]["/api/v1/agents/{agent_id}"]["delete"].__setitem__(
            "requestBody", {"content": _json({"type": "object"})}
        ),
        "compatible",
        "request-body-added",
        f"{DELETE_AGENT} request body",
    ),
    (
        "request-body-made-optional",
        lambda s: s["components"]["requestBodies"]["PlanBody"].__setitem__("required", False),
        "compatible",
        "request-body-made-optional",
        f"{PLAN} request body",
    ),
    (
        "request-read-only-field-ignored-but-other-reported",
        lambda s: (
            _schemas(s)["PlanRequest"]["properties"].pop("server_note"),
            _schemas(s)["PlanRequest"]["properties"].pop("hint"),
        ),
        "breaking",
        "field-removed",
        f"{PLAN} request body .hint",
    ),
    (
        "request-variant-added",
        _add_union_variant,
        "compatible",
        "variant-added",
        f"{PLAN} request body .hint<kind=url>",
    ),
    (
        "request-variant-removed",
        lambda s: _schemas(s)["Hint"]["oneOf"].pop(),
        "breaking",
        "variant-removed",
        f"{PLAN} request body .hint<kind=file>",
    ),
    (
        "request-variants-reordered-field-retyped",
        lambda s: (
            _schemas(s)["Hint"]["oneOf"].reverse(),
            _schemas(s)["TextHint"]["properties"].__setitem__("text", {"type": "integer"}),
        ),
        "breaking",
        "field-retyped",
        f"{PLAN} request body .hint<kind=text>.text",
    ),
    # responses
    (
        "response-field-added",
        lambda s: _plan_response(s)["properties"].__setitem__("eta", {"type": "integer"}),
        "compatible",
        "field-added",
        f"{PLAN} response 200 .eta",
    ),
    (
        "response-field-removed",
        lambda s: _plan_response(s)["properties"].pop("note"),
        "breaking",
        "field-removed",
        f"{PLAN} response 200 .note",
    ),
    (
        "response-allof-base-field-removed",
        lambda s: (
            _schemas(s)["Resource"]["properties"].pop("created_at"),
            _schemas(s)["Resource"].__setitem__("required", []),
        ),
        "breaking",
        "field-removed",
        f"{PLAN} response 200 .created_at",
    ),
    (
        "response-field-retyped",
        lambda s: _plan_response(s)["properties"].__setitem__("plan_id", {"type": "integer"}),
        "breaking",
        "field-retyped",
        f"{PLAN} response 200 .plan_id",
    ),
    (
        "response-field-made-optional",
        lambda s: _plan_response(s)["required"].remove("plan_id"),
        "breaking",
        "field-made-optional",
        f"{PLAN} response 200 .plan_id",
    ),
    (
        "response-field-made-required",
        lambda s: _plan_response(s)["required"].append("note"),
        "compatible",
        "field-made-required",
        f"{PLAN} response 200 .note",
    ),
    (
        "response-field-made-nullable",
        lambda s: _plan_response(s)["properties"]["plan_id"].__setitem__("type", ["string", "null"]),
        "breaking",
        "field-made-nullable",
        f"{PLAN} response 200 .plan_id",
    ),
    (
        "response-field-made-non-nullable",
        lambda s: _plan_response(s)["properties"]["note"].__setitem__("type", "string"),
        "compatible",
        "field-made-non-nullable",
        f"{PLAN} response 200 .note",
    ),
    (
        "response-enum-value-added",
        lambda s: _schemas(s)["PlanStatus"]["enum"].append("cancelled"),
        "breaking",
        "enum-value-added",
        f"{PLAN} response 200 .status",
    ),
    (
        "response-enum-value-removed",
        lambda s: _schemas(s)["PlanStatus"]["enum"].remove("running"),
        "breaking",
        "enum-value-removed",
        f"{PLAN} response 200 .status",
    ),
    (
        "response-recursive-schema-field-retyped",
        lambda s: _schemas(s)["PlanStep"]["properties"].__setitem__("step_id", {"type": "integer"}),
        "breaking",
        "field-retyped",
        f"{PLAN} response 200 .steps[].step_id",
    ),
    (
        "response-map-value-retyped",
        lambda s: _schemas(s)["Agent"]["properties"]["labels"].__setitem__("additionalProperties", {"type": "integer"}),
        "breaking",
        "field-retyped",
        f"{GET_AGENT} response 200 .labels{{}}",
    ),
    ("response-status-removed", _status_200_to_201, "breaking", "response-removed", f"{PLAN} response 200"),
    ("response-status-added", _status_200_to_201, "compatible", "response-added", f"{PLAN} response 201"),
    (
        "response-media-type-removed",
        lambda s: _plan(s)["responses"]["200"].__setitem__(
            "content", {"application/xml": {"schema": {"type": "object"}}}
        ),
        "breaking",
        "response-media-type-removed",
        f"{PLAN} response 200",
    ),
    (
        "response-header-removed",
        lambda s: _plan(s)["responses"]["200"].pop("headers"),
        "breaking",
        "response-header-removed",
        f"{PLAN} response 200 header 'X-Request-ID'",
    ),
    (
        "response-header-made-optional",
        lambda s: s["components"]["headers"]["X-Request-ID"].__setitem__("required", False),
        "breaking",
        "header-made-optional",
        f"{PLAN} response 200 header 'X-Request-ID'",
    ),
    # security
    (
        "security-scopes-added",
        lambda s: _plan(s)["security"][1]["oauth2"].append("kei:admin"),
        "breaking",
        "security-scopes-added",
        PLAN,
    ),
    (
        "security-added-to-anonymous-operation",
        lambda s: s["paths"]["/api/v1/health"]["get"].pop("security"),
        "breaking",
        "security-added",
        HEALTH,
    ),
    (
        "security-relaxed",
        lambda s: _plan(s)["security"][1].__setitem__("oauth2", []),
        "compatible",
        "security-relaxed",
        PLAN,
    ),
    (
        "security-global-scheme-replaced",
        lambda s: s.__setitem__("security", [{"apiKey": []}]),
        "breaking",
        "security-changed",
        GET_AGENT,
    ),
    # behaviour extensions
    ("retry-changed", lambda s: _plan(s).__setitem__("x-kei-retry", [429]), "compatible", "behaviour-changed", PLAN),
    (
        "idempotent-changed",
        lambda s: _plan(s).__setitem__("x-kei-idempotent", True),
        "compatible",
        "behaviour-changed",
        PLAN,
    ),
    (
        "protocols-changed",
        lambda s: _plan(s).__setitem__("x-kei-protocols", ["bus", "rpc"]),
        "compatible",
        "behaviour-changed",
        PLAN,
    ),
    # WebSocket frames
    (
        "ws-server-frame-added",
        lambda s: s["x-kei-websocket"]["frames"]["server"].__setitem__("pong", _ref("PingFrame")),
        "breaking",
        "frame-added",
        f"{WS} server frame 'pong'",
    ),
    (
        "ws-client-frame-required-field-added",
        lambda s: (
            _schemas(s)["PingFrame"]["properties"].__setitem__("nonce", {"type": "string"}),
            _schemas(s)["PingFrame"]["required"].append("nonce"),
        ),
        "breaking",
        "field-added",
        f"{WS} client frame 'ping' .nonce",
    ),
    (
        "ws-server-frame-field-added",
        lambda s: _schemas(s)["EventFrame"]["properties"].__setitem__("seq", {"type": "integer"}),
        "compatible",
        "field-added",
        f"{WS} server frame 'event' .seq",
    ),
]


@pytest.mark.parametrize(
    ("edit", "severity", "kind", "location"),
    [pytest.param(*case[1:], id=case[0]) for case in SYNTHETIC_EDITS],
)
def test_synthetic_edit_is_classified(edit: Edit, severity: str, kind: str, location: str) -> None:
    changes = _apply(edit)
    assert (severity, kind, location) in _keys(changes), format_report(changes, "old", "new")
    # Every change carries a readable sentence.
    assert all(c.detail.endswith(".") and len(c.detail) > 20 for c in changes)


def test_synthetic_edit_table_is_large_and_covers_both_severities() -> None:
    assert len(SYNTHETIC_EDITS) >= 20
    assert {case[2] for case in SYNTHETIC_EDITS} == {"breaking", "compatible"}


def test_no_change_yields_empty_list() -> None:
    assert compare_specs(BASE, copy.deepcopy(BASE)) == []
    assert compare_specs(BASE, BASE) == []


def test_no_change_after_yaml_round_trip() -> None:
    assert compare_specs(BASE, yaml.safe_load(yaml.safe_dump(BASE))) == []


def _nullable_as_any_of(s: Spec) -> None:
    _plan_response(s)["properties"]["note"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}


def _nullable_30_style(s: Spec) -> None:
    _plan_response(s)["properties"]["note"] = {"type": "string", "nullable": True}


def _inline_the_ref(s: Spec) -> None:
    _schemas(s)["PlanRequest"]["properties"]["priority"] = copy.deepcopy(_schemas(s)["Priority"])


def _reorder_enum_and_properties(s: Spec) -> None:
    _schemas(s)["Priority"]["enum"].reverse()
    props = _schemas(s)["PlanRequest"]["properties"]
    _schemas(s)["PlanRequest"]["properties"] = dict(reversed(list(props.items())))


def _header_case(s: Spec) -> None:
    s["components"]["parameters"]["XAgentID"]["name"] = "x-agent-id"


def _implicit_object_type(s: Spec) -> None:
    del _schemas(s)["Agent"]["type"]


def _type_as_single_item_list(s: Spec) -> None:
    _schemas(s)["PlanRequest"]["properties"]["objective"]["type"] = ["string"]


def _docs_only(s: Spec) -> None:
    _plan(s)["description"] = "Now with docs."
    _schemas(s)["PlanRequest"]["properties"]["objective"]["description"] = "What to achieve."
    _plan(s)["responses"]["400"] = {"description": "Some other error shape."}


def _explicit_default_serialization(s: Spec) -> None:
    _plan(s)["parameters"][1].update({"style": "form", "explode": True})


def _integer_status_keys(s: Spec) -> None:
    responses = _plan(s)["responses"]
    responses[200] = responses.pop("200")


@pytest.mark.parametrize(
    "edit",
    [
        _nullable_as_any_of,
        _nullable_30_style,
        _inline_the_ref,
        _reorder_enum_and_properties,
        _header_case,
        _implicit_object_type,
        _type_as_single_item_list,
        _docs_only,
        _explicit_default_serialization,
        _integer_status_keys,
    ],
)
def test_equivalent_spellings_are_not_changes(edit: Edit) -> None:
    assert _apply(edit) == []


def test_path_param_rename_is_not_an_operation_removal() -> None:
    changes = _apply(_rename_path_param)
    kinds = {c.kind for c in changes}
    assert "operation-removed" not in kinds
    assert "operation-added" not in kinds
    assert {c.severity for c in changes} == {"compatible"}


def test_read_only_request_field_removal_is_not_reported() -> None:
    changes = _apply(lambda s: _schemas(s)["PlanRequest"]["properties"].pop("server_note"))
    assert changes == []


def test_response_enum_value_added_detail_mentions_closed_enums() -> None:
    changes = _apply(lambda s: _schemas(s)["PlanStatus"]["enum"].append("cancelled"))
    [change] = [c for c in changes if c.kind == "enum-value-added"]
    assert change.severity == "breaking"
    assert "closed enum" in change.detail
    assert '"cancelled"' in change.detail


def test_enum_value_added_to_shared_schema_differs_by_direction() -> None:
    def edit(s: Spec) -> None:
        _schemas(s)["Agent"]["properties"]["status"] = _ref("AgentStatus")
        _schemas(s)["AgentStatus"] = {"type": "string", "enum": ["ready", "busy"]}
        s["paths"]["/api/v1/agents/{agent_id}"]["get"]["parameters"].append(
            {"name": "status", "in": "query", "schema": _ref("AgentStatus")}
        )

    base = copy.deepcopy(BASE)
    edit(base)
    new = copy.deepcopy(base)
    _schemas(new)["AgentStatus"]["enum"].append("offline")
    keys = _keys(compare_specs(base, new))
    assert ("compatible", "enum-value-added", f"{GET_AGENT} query parameter 'status'") in keys
    assert ("breaking", "enum-value-added", f"{GET_AGENT} response 200 .status") in keys


def test_recursive_schemas_terminate() -> None:
    base = copy.deepcopy(BASE)
    _schemas(base)["Node"] = {"allOf": [_ref("Node"), {"properties": {"next": _ref("Node"), "v": {"type": "string"}}}]}
    _schemas(base)["Loop"] = {"$ref": "#/components/schemas/Loop"}
    _plan_response(base)["properties"]["node"] = _ref("Node")
    _plan_response(base)["properties"]["loop"] = _ref("Loop")
    assert compare_specs(base, copy.deepcopy(base)) == []
    new = copy.deepcopy(base)
    _schemas(new)["Node"]["allOf"][1]["properties"]["v"] = {"type": "integer"}
    keys = _keys(compare_specs(base, new))
    assert ("breaking", "field-retyped", f"{PLAN} response 200 .node.v") in keys


def test_result_is_sorted_and_deterministic() -> None:
    def many(s: Spec) -> None:
        s["paths"]["/api/v1/agents/{agent_id}"].pop("delete")
        _schemas(s)["PlanStatus"]["enum"].append("cancelled")
        _plan(s)["parameters"].pop(1)
        _add_operation(s)

    first = _apply(many)
    assert len(first) >= 4
    assert first == sorted(first, key=lambda c: (c.location, c.kind))
    assert first == _apply(many)


def test_change_is_frozen() -> None:
    change = Change("breaking", "operation-removed", "GET /x", "Gone.")
    with pytest.raises(AttributeError):
        change.kind = "other"  # type: ignore[misc]


# --------------------------------------------------------------------------
# format_report
# --------------------------------------------------------------------------


def test_format_report_sections() -> None:
    changes = [
        Change("breaking", "operation-removed", "GET /a (a)", "Removed."),
        Change("compatible", "operation-added", "GET /b (b)", "Added."),
        Change("compatible", "field-added", "GET /c (c) response 200 .x", "New field."),
    ]
    text = format_report(changes, "spec@HEAD", "spec (working tree)")
    lines = text.splitlines()
    assert "spec@HEAD" in lines[0]
    assert "spec (working tree)" in lines[0]
    assert "Breaking changes (1)" in lines
    assert "Compatible changes (2)" in lines
    assert "- [operation-removed] GET /a (a): Removed." in lines
    assert lines.index("Breaking changes (1)") < lines.index("- [operation-removed] GET /a (a): Removed.")
    assert lines.index("Compatible changes (2)") < lines.index("- [operation-added] GET /b (b): Added.")
    assert "No changes to the wire contract." not in text


def test_format_report_empty() -> None:
    text = format_report([], "old", "new")
    assert "No changes to the wire contract." in text
    assert "Breaking changes" not in text


# --------------------------------------------------------------------------
# Loading and run_changes against a temporary git repository
# --------------------------------------------------------------------------


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "openapi").mkdir()
    (tmp_path / "openapi" / "spec.yaml").write_text(yaml.safe_dump(BASE), encoding="utf-8")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "openapi/spec.yaml")
    _git(tmp_path, "commit", "-q", "-m", "spec")
    return tmp_path


def _write_edited(repo: Path, edit: Edit) -> None:
    new = copy.deepcopy(BASE)
    edit(new)
    (repo / "openapi" / "spec.yaml").write_text(yaml.safe_dump(new), encoding="utf-8")


SPEC = Path("openapi/spec.yaml")


def test_load_spec_at_rev_reads_committed_version(repo: Path) -> None:
    _write_edited(repo, lambda s: s["paths"].clear())
    assert load_spec_at_rev("HEAD", SPEC, repo) == BASE
    assert load_spec_at_rev("HEAD", repo / SPEC, repo) == BASE
    assert load_spec_file(repo / SPEC)["paths"] == {}


@pytest.mark.parametrize(
    ("rev", "path", "message"),
    [
        ("no-such-rev", SPEC, "unknown git revision"),
        ("--output=x", SPEC, "invalid git revision"),
        ("HEAD", Path("openapi/missing.yaml"), "does not exist at revision"),
    ],
)
def test_load_spec_at_rev_errors(repo: Path, rev: str, path: Path, message: str) -> None:
    with pytest.raises(ChangeReportError, match=message):
        load_spec_at_rev(rev, path, repo)


def test_load_spec_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ChangeReportError, match="cannot read"):
        load_spec_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("paths: [unclosed\n", encoding="utf-8")
    with pytest.raises(ChangeReportError, match="not valid YAML"):
        load_spec_file(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n", encoding="utf-8")
    with pytest.raises(ChangeReportError, match="mapping"):
        load_spec_file(scalar)


def test_run_changes_breaking(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_edited(repo, lambda s: s["paths"]["/api/v1/agents/{agent_id}"].pop("delete"))

    assert run_changes(rev="HEAD", fail_on_breaking=True, spec_path=SPEC, repo_root=repo) == 1
    out, err = capsys.readouterr()
    assert "Breaking changes (1)" in out
    assert f"- [operation-removed] {DELETE_AGENT}:" in out
    assert "openapi/spec.yaml@HEAD" in out
    assert err == ""

    assert run_changes(rev="HEAD", fail_on_breaking=False, spec_path=SPEC, repo_root=repo) == 0
    out, _ = capsys.readouterr()
    assert "Breaking changes (1)" in out


def test_run_changes_with_absolute_paths_like_the_cli(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_edited(repo, lambda s: _schemas(s)["PlanStatus"]["enum"].append("cancelled"))
    code = run_changes(rev="HEAD", fail_on_breaking=True, spec_path=repo.resolve() / SPEC, repo_root=repo.resolve())
    assert code == 1
    out = capsys.readouterr().out
    assert f"- [enum-value-added] {PLAN} response 200 .status:" in out
    assert "openapi/spec.yaml@HEAD" in out


def test_run_changes_compatible_only_passes_gate(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_edited(repo, _add_operation)
    assert run_changes(rev="HEAD", fail_on_breaking=True, spec_path=SPEC, repo_root=repo) == 0
    out, _ = capsys.readouterr()
    assert "Breaking changes (0)" in out
    assert "Compatible changes (1)" in out


def test_run_changes_unchanged(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_changes(rev="HEAD", fail_on_breaking=True, spec_path=SPEC, repo_root=repo) == 0
    assert "No changes to the wire contract." in capsys.readouterr().out


def test_run_changes_unknown_rev(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_changes(rev="nope", fail_on_breaking=False, spec_path=SPEC, repo_root=repo) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "nope" in err


def test_run_changes_not_a_repo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "spec.yaml").write_text("openapi: 3.1.0\n", encoding="utf-8")
    code = run_changes(rev="HEAD", fail_on_breaking=False, spec_path=Path("spec.yaml"), repo_root=tmp_path)
    assert code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_run_changes_invalid_working_copy(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / SPEC).write_text("paths: [unclosed\n", encoding="utf-8")
    assert run_changes(rev="HEAD", fail_on_breaking=False, spec_path=SPEC, repo_root=repo) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "not valid YAML" in err


# --------------------------------------------------------------------------
# The real spec
# --------------------------------------------------------------------------

REAL_PLAN = "POST /api/v1/rpc/plan (planTask)"
REAL_LIST_AGENTS = "GET /api/v1/registry/agents (listAgents)"


@pytest.fixture(scope="module")
def real_spec() -> Spec:
    return load_spec_file(REAL_SPEC)


def _real_schemas(s: Spec) -> dict[str, Any]:
    schemas: dict[str, Any] = s["components"]["schemas"]
    return schemas


def _real_add_required_plan_field(s: Spec) -> None:
    plan_request = _real_schemas(s)["PlanRequest"]
    plan_request["properties"]["deadline"] = {"type": "string", "format": "date-time"}
    plan_request["required"] = [*plan_request["required"], "deadline"]


def _real_add_query_param(s: Spec) -> None:
    op = s["paths"]["/api/v1/registry/agents"]["get"]
    # Replace the list: YAML anchors make parameter lists shared between operations.
    op["parameters"] = [
        *op["parameters"],
        {"name": "sort", "in": "query", "required": False, "schema": {"type": "string"}},
    ]


def _real_remove_enum_value(s: Spec) -> None:
    status = _real_schemas(s)["PlanStatus"]
    status["enum"] = [v for v in status["enum"] if v != "failed"]


def _real_add_response_field(s: Spec) -> None:
    _real_schemas(s)["PlanResponse"]["properties"]["model"] = {"type": "string"}


def _real_add_scope(s: Spec) -> None:
    plan = s["paths"]["/api/v1/rpc/plan"]["post"]
    plan["security"] = [{"oauth2": ["kei:plan", "kei:admin"]} if "oauth2" in alt else alt for alt in plan["security"]]


def _real_add_agent_status(s: Spec) -> None:
    status = _real_schemas(s)["AgentStatus"]
    status["enum"] = [*status["enum"], "retired"]


def _real_remove_server_frame(s: Spec) -> None:
    s["x-kei-websocket"]["frames"]["server"].pop("published")


REAL_EDITS: list[tuple[str, Edit, str, str, str]] = [
    (
        "remove-operation",
        lambda s: s["paths"]["/api/v1/registry/agents/{agent_id}"].pop("get"),
        "breaking",
        "operation-removed",
        "GET /api/v1/registry/agents/{agent_id} (getAgent)",
    ),
    (
        "add-required-plan-request-field",
        _real_add_required_plan_field,
        "breaking",
        "field-added",
        f"{REAL_PLAN} request body .deadline",
    ),
    (
        "remove-enum-value",
        _real_remove_enum_value,
        "breaking",
        "enum-value-removed",
        f"{REAL_PLAN} response 200 .status",
    ),
    (
        "add-optional-query-param",
        _real_add_query_param,
        "compatible",
        "parameter-added",
        f"{REAL_LIST_AGENTS} query parameter 'sort'",
    ),
    ("add-response-field", _real_add_response_field, "compatible", "field-added", f"{REAL_PLAN} response 200 .model"),
    ("add-scope", _real_add_scope, "breaking", "security-scopes-added", REAL_PLAN),
    (
        "add-agent-status-response",
        _real_add_agent_status,
        "breaking",
        "enum-value-added",
        f"{REAL_LIST_AGENTS} response 200 .items[].status",
    ),
    (
        "add-agent-status-query",
        _real_add_agent_status,
        "compatible",
        "enum-value-added",
        f"{REAL_LIST_AGENTS} query parameter 'status'",
    ),
    (
        "remove-server-frame",
        _real_remove_server_frame,
        "breaking",
        "frame-removed",
        "WEBSOCKET /api/v1/stream server frame 'published'",
    ),
]


def test_real_spec_compared_to_itself_has_no_changes(real_spec: Spec) -> None:
    assert compare_specs(real_spec, real_spec) == []
    assert compare_specs(real_spec, copy.deepcopy(real_spec)) == []


@pytest.mark.parametrize(
    ("edit", "severity", "kind", "location"),
    [pytest.param(*case[1:], id=case[0]) for case in REAL_EDITS],
)
def test_real_spec_edit_is_classified(real_spec: Spec, edit: Edit, severity: str, kind: str, location: str) -> None:
    changes = _apply(edit, real_spec)
    assert (severity, kind, location) in _keys(changes), format_report(changes, "old", "new")


def test_real_spec_single_operation_edit_stays_local(real_spec: Spec) -> None:
    changes = _apply(_real_add_query_param, real_spec)
    assert [(c.severity, c.kind, c.location) for c in changes] == [
        ("compatible", "parameter-added", f"{REAL_LIST_AGENTS} query parameter 'sort'")
    ]
