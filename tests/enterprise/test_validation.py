"""Input validation: rules from the spec, hardening limits, corpora of ordinary and hostile input,
hypothesis for crash-freedom."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kei_agent import SecurityError, ValidationError
from kei_agent._contract import load_spec
from kei_agent._contract.operations import OPERATIONS
from kei_agent.errors import FieldProblem
from kei_agent.logging import configure_logging, reset_logging
from kei_agent.validation import (
    HardeningLimits,
    InputSecurityError,
    InputValidator,
    ValidationResult,
    get_input_validator,
    validate_request,
)
from kei_agent.validation._schema import SchemaCompiler
from tests.support.enterprise import JsonLogs
from tests.support.peers import REPO_ROOT

DATA = Path(__file__).parent / "data"
validator = get_input_validator()


def problems_of(schema: dict[str, Any], value: Any, document: dict[str, Any] | None = None) -> list[str]:
    found: list[FieldProblem] = []
    SchemaCompiler(document or {}).compile(schema)(value, "$", found)
    return [str(problem) for problem in found]


# ----------------------------------------------------------------------- rules from the spec


def request_examples() -> Iterator[tuple[str, Any]]:
    schemas = load_spec()["components"]["schemas"]
    for operation in OPERATIONS.values():
        if operation.request_schema is None:
            continue
        for index, example in enumerate(schemas[operation.request_schema].get("examples", [])):
            yield pytest.param(operation.operation_id, example, id=f"{operation.operation_id}-{index}")


@pytest.mark.parametrize(("operation_id", "example"), list(request_examples()))
def test_the_specs_own_examples_are_valid(operation_id: str, example: Any) -> None:
    result = validator.validate_agent_operation(operation_id, example)
    assert result.valid, result.errors
    assert result.sanitized_value == example


def test_every_operation_with_a_body_has_rules() -> None:
    bodies = [op for op in OPERATIONS.values() if op.request_schema]
    assert len(bodies) >= 14
    for operation in bodies:
        result = validator.validate_agent_operation(operation.operation_id, ["not", "an", "object"])
        assert not result.valid
        assert result.errors[0] == "$: must be an object, got array"


def test_every_problem_is_listed_with_its_json_path() -> None:
    result = validator.validate_agent_operation(
        "register_agent",
        {
            "agent_id": "bad id!",
            "name": "",
            "capabilities": ["plan", 7, "", "x" * 129],
            "metadata": [],
            "status": "active",
            "version": "v" * 65,
        },
    )
    assert not result.valid
    assert result.sanitized_value is None
    assert sorted(result.errors) == sorted(
        [
            "$.agent_id: must match the pattern ^[A-Za-z0-9][A-Za-z0-9._:-]*$",
            "$.name: must not be empty",
            "$.capabilities[1]: must be a string, got integer",
            "$.capabilities[2]: must not be empty",
            "$.capabilities[3]: must have at most 128 characters, got 129",
            "$.metadata: must be an object, got array",
            "$.status: is not an allowed property (allowed: agent_id, capabilities, description, endpoint, "
            "metadata, name, version)",
            "$.version: must have at most 64 characters, got 65",
        ]
    )
    assert [problem.path for problem in result.problems][:2] == ["$.agent_id", "$.name"]


@pytest.mark.parametrize(
    ("operation", "data", "error"),
    [
        ("plan", {}, "$.objective: is required"),
        ("plan", {"objective": 5}, "$.objective: must be a string, got integer"),
        ("act", {"action": "x" * 129}, "$.action: must have at most 128 characters, got 129"),
        ("heartbeat", {"status": "asleep"}, "$.status: must be one of 'ready', 'busy', 'draining', 'unhealthy'"),
        ("heartbeat", {"load": 1.5}, "$.load: must be at most 1, got 1.5"),
        ("heartbeat", {"load": True}, "$.load: must be a number, got boolean"),
        ("publishMessage", {"subject": "a..b", "payload": {}}, "$.subject: must match the pattern"),
        ("publishMessage", {"subject": "a.b", "payload": {}, "headers": {"k": 1}}, "$.headers.k: must be a string"),
        ("busRequest", {"operation": "plan", "payload": {}, "timeout_seconds": 0}, "must be greater than 0, got 0"),
        ("pollSubscription", {"max_messages": 2.5}, "$.max_messages: must be an integer, got number"),
        ("ackMessages", {"delivery_ids": []}, "$.delivery_ids: must have at least 1 item"),
        ("summarize-notes", {"text": "x"}, None),
        ("Bad Name", {"text": "x"}, "path.operation: must match the pattern ^[a-z][a-z0-9_.-]*$"),
        ("summarize", "text", "$.data: must be an object, got string"),
    ],
)
def test_rules_per_operation(operation: str, data: Any, error: str | None) -> None:
    result = validator.validate_agent_operation(operation, data)
    if error is None:
        assert result.valid, result.errors
    else:
        assert not result.valid
        assert any(message.startswith(error) or error in message for message in result.errors), result.errors


def test_parameters_are_validated_too() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_request("getAgent", None, parameters={"agent_id": "no spaces allowed"})
    assert caught.value.problems[0].path == "path.agent_id"
    with pytest.raises(ValidationError, match=r"query\.limit: must be at most 200, got 500"):
        validate_request("listAgents", None, parameters={"limit": 500})
    with pytest.raises(ValidationError, match=r"path\.agent_id: is required"):
        validate_request("getAgent", None, parameters={})
    validate_request("listAgents", None, parameters={"limit": 10, "cursor": None})


def test_a_required_body_must_be_present() -> None:
    with pytest.raises(ValidationError, match=r"\$: a request body is required"):
        validate_request("planTask", None)


def test_schema_keywords_in_the_sdks_words() -> None:
    document = {
        "components": {
            "schemas": {
                "Node": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string"},
                        "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                    },
                }
            }
        }
    }
    node = {"$ref": "#/components/schemas/Node"}
    assert problems_of(node, {"name": "a", "children": [{"name": "b", "children": [{}]}]}, document) == [
        "$.children[0].children[0].name: is required"
    ]
    assert problems_of({"type": ["string", "null"]}, None) == []
    assert problems_of({"type": "string", "nullable": True}, None) == []
    assert problems_of({"type": "string"}, None) == ["$: must be a string, got null"]
    assert problems_of({"const": "x"}, "y") == ["$: must be 'x', got 'y'"]
    assert problems_of({"enum": [1, 2]}, True) == ["$: must be one of 1, 2, got True"]
    assert problems_of({"type": "integer"}, 2.0) == []
    assert problems_of({"type": "number", "exclusiveMaximum": 1}, 1) == ["$: must be less than 1, got 1"]
    assert problems_of({"type": "number", "multipleOf": 0.5}, 1.25) == ["$: must be a multiple of 0.5"]
    assert problems_of({"type": "number"}, math.nan) == ["$: must be a number, got number"]
    assert problems_of({"type": "string", "minLength": 2}, "ü") == ["$: must have at least 2 characters"]
    assert problems_of({"type": "string", "maxLength": 1}, "ü") == []
    assert problems_of({"type": "array", "uniqueItems": True}, [1, 1]) == ["$: must not contain duplicate items"]
    assert problems_of({"type": "object", "minProperties": 1}, {}) == ["$: must have at least 1 property"]
    assert problems_of({"additionalProperties": {"type": "integer"}}, {"a": 1, "b": "x"}) == [
        "$.b: must be an integer, got string"
    ]
    assert problems_of({"additionalProperties": False, "properties": {"a": {}}}, {"odd key": 1}) == [
        "$['odd key']: is not an allowed property (allowed: a)"
    ]
    one_of = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
    assert problems_of(one_of, "x") == []
    assert problems_of(one_of, 1.5)[0].startswith("$: does not match any of the 2 allowed shapes")
    assert problems_of({"oneOf": [{"type": "number"}, {"type": "integer"}]}, 1) == [
        "$: matches 2 of the allowed shapes, but must match exactly one"
    ]
    assert problems_of({"anyOf": [{"type": "number"}, {"type": "integer"}]}, 1) == []
    assert problems_of({"allOf": [{"minimum": 1}, {"maximum": 3}]}, 5) == ["$: must be at most 3, got 5"]
    assert problems_of({"type": "string", "description": "x", "examples": ["a"], "x-kei": 1}, "ok") == []


# ------------------------------------------------------------------------------- hardening


def test_hardening_limits() -> None:
    strict = InputValidator(
        HardeningLimits(max_payload_bytes=2000, max_depth=4, max_string_length=100, max_collection_size=50)
    )
    deep: Any = {"v": 1}
    for _ in range(6):
        deep = {"n": deep}
    cases = {
        "string": {"objective": "x" * 101},
        "depth": {"objective": "x", "context": deep},
        "collection": {"objective": "x", "context": {"items": list(range(51))}},
        "payload": {"objective": "x", "context": {f"k{i}": "y" * 90 for i in range(25)}},
        "key": {"objective": "x", "context": {"k" * 101: 1}},
    }
    messages = {
        "string": "$.objective: string of 101 characters exceeds the limit of 100",
        "depth": "nesting exceeds the limit of 4",
        "collection": "$.context.items: 51 entries exceed the limit of 50",
        "payload": "payload of about",
        "key": "key of 101 characters exceeds the limit of 100",
    }
    for name, data in cases.items():
        result = strict.validate_agent_operation("plan", data)
        assert not result.valid, name
        assert any(messages[name] in error for error in result.errors), (name, result.errors)
        assert result.security_problems, name
        with pytest.raises(InputSecurityError) as caught:
            strict.validate_request("planTask", data)
        assert isinstance(caught.value, SecurityError)
        assert "y" * 90 not in str(caught.value)
        assert "x" * 101 not in str(caught.value)


def test_control_characters_are_removed_from_the_sanitized_value_and_rejected_when_sending() -> None:
    data = {"observation_type": "terminal\x1b[31m", "data": {"out\x00put": "done\x07\tok\n", "n": 1}}
    result = validator.validate_agent_operation("observe", data)
    assert result.valid
    assert result.sanitized_value == {"observation_type": "terminal[31m", "data": {"output": "done\tok\n", "n": 1}}
    assert sorted(result.warnings) == [
        "$.data['out\\x00put']: control characters removed",
        "$.data['out\\x00put']: control characters removed",
        "$.observation_type: control characters removed",
    ]
    with pytest.raises(InputSecurityError) as caught:
        validate_request("observeEnvironment", data)
    assert "control character" in str(caught.value)
    assert "\x00" not in str(caught.value)
    lenient = InputValidator(HardeningLimits(allow_control_characters=True))
    lenient.validate_request("observeEnvironment", data)


def test_values_that_are_not_json_are_schema_problems() -> None:
    import datetime as dt

    result = validator.validate_agent_operation(
        "plan", {"objective": "x", "context": {"when": dt.date(2026, 1, 1), "ratio": math.inf, 3: "int key"}}
    )
    assert not result.valid
    assert "$.context.when: is a date, not a JSON value (fix: convert it to a string, number or dict)" in result.errors
    assert "$.context.ratio: must be a finite number (JSON has no NaN/Infinity)" in result.errors
    assert "$.context[3]: key must be a string, got integer" in result.errors


def test_hardening_violations_emit_a_security_event() -> None:
    stream = io.StringIO()
    configure_logging(level="DEBUG", stream=stream)
    try:
        with pytest.raises(SecurityError):
            validate_request("planTask", {"objective": "ok\x00"})
        validator.validate_agent_operation("plan", {"objective": "ok\x00"})
    finally:
        reset_logging()
    events = [r for r in JsonLogs(stream).records() if r.get("event") == "security"]
    assert [(e["security_event"], e["level"]) for e in events] == [
        ("input_rejected", "WARNING"),
        ("control_characters_removed", "INFO"),
    ]
    assert events[0]["operation"] == "planTask"
    assert events[0]["problems"] == [
        "$.objective: string contains 1 control character(s) (fix: remove them or send text only)"
    ]


# ---------------------------------------------------------------------------------- corpora


def ordinary_corpus() -> list[str]:
    lines = [
        line.rstrip("\n")
        for line in (DATA / "ordinary_text.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("# ")
    ]

    # Plus every description in the spec and every line of the documentation: real prose.
    def descriptions(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("description", "summary") and isinstance(value, str):
                    yield from value.splitlines()
                else:
                    yield from descriptions(value)
        elif isinstance(node, list):
            for item in node:
                yield from descriptions(item)

    lines.extend(descriptions(load_spec()))
    for doc in (REPO_ROOT / "README.md", REPO_ROOT / "docs" / "enterprise.md"):
        lines.extend(doc.read_text(encoding="utf-8").splitlines())
    return [line for line in dict.fromkeys(lines) if line.strip()]


def false_positives(texts: list[str]) -> list[tuple[str, str, list[str]]]:
    failures = []
    for text in texts:
        short = text[:128]
        cases = {
            "plan.objective": ("plan", {"objective": text, "context": {"note": text, "tags": [text]}}),
            "explain.query": ("explain", {"query": text}),
            "act": ("act", {"action": short.strip() or "x", "parameters": {"text": text}}),
            "observe": ("observe", {"observation_type": short.strip() or "x", "data": {"line": text}}),
            "custom": ("summarize", {"text": text}),
            "agent.description": ("update_agent", {"description": text[:2000], "name": short.strip() or "x"}),
        }
        for slot, (operation, data) in cases.items():
            result = validator.validate_agent_operation(operation, data)
            if not result.valid or result.warnings:
                failures.append((slot, text, result.errors + result.warnings))
            elif result.sanitized_value != data:
                failures.append((slot, text, ["sanitized value differs"]))
    return failures


def test_ordinary_text_corpus_has_zero_false_positives() -> None:
    corpus = ordinary_corpus()
    assert len(corpus) > 400
    failures = false_positives(corpus)
    assert failures == [], f"{len(failures)} false positives, e.g. {failures[:3]}"


HOSTILE_BUT_TEXT = [
    "'; DROP TABLE users; --",
    "1' OR '1'='1",
    "admin'--",
    '" OR ""="',
    "UNION SELECT password FROM users",
    "<script>alert('xss')</script>",
    "<img src=x onerror=alert(1)>",
    "javascript:alert(document.cookie)",
    "../../../../etc/passwd",
    "{{7*7}} ${7*7} #{7*7}",
    "$(rm -rf /)",
    "`cat /etc/shadow`",
    "__proto__",
    "constructor.prototype",
    "%00%0d%0a",
    "\u202eevil\u202c",  # bidi override: a format character, not a control character
    "\uff53\uff45\uff4c\uff45\uff43\uff54",  # fullwidth "select"
    "A" * 10_000,
]


@pytest.mark.parametrize("text", HOSTILE_BUT_TEXT, ids=range(len(HOSTILE_BUT_TEXT)))
def test_injection_strings_are_text_passed_on_unchanged(text: str) -> None:
    # The client does not guess at intent: the server escapes what it renders or queries.
    result = validator.validate_agent_operation("plan", {"objective": text})
    assert result.valid, result.errors
    assert result.sanitized_value == {"objective": text}


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


HOSTILE_STRUCTURE = [
    ("nul byte", {"objective": "report\x00.pdf"}),
    ("ansi escape", {"objective": "\x1b[2J\x1b[Hcleared"}),
    ("c1 control", {"objective": "next\x85line"}),
    ("deep nesting", {"objective": "x", "context": {"a": _nested(5000)}}),
    ("huge string", {"objective": "x", "context": {"blob": "A" * (2 * 1024 * 1024)}}),
    ("huge payload", {"objective": "x", "context": {f"k{i}": "B" * 1000 for i in range(5000)}}),
    ("wide object", {"objective": "x", "context": {str(i): i for i in range(20_000)}}),
    ("wide array", {"objective": "x", "context": {"list": list(range(20_000))}}),
    ("control in key", {"objective": "x", "context": {"a\x00b": 1}}),
]


@pytest.mark.parametrize(("name", "data"), HOSTILE_STRUCTURE, ids=[name for name, _ in HOSTILE_STRUCTURE])
def test_hostile_structures_raise_security_error_without_echoing_the_value(name: str, data: Any) -> None:
    with pytest.raises(InputSecurityError) as caught:
        validate_request("planTask", data)
    message = str(caught.value)
    assert len(message) < 2000
    assert "AAAA" not in message
    assert "\x00" not in message
    assert "\x1b" not in message


# ------------------------------------------------------------------------ crash-freedom


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(max_size=10), children, max_size=5)
        | st.tuples(children, children)
    ),
    max_leaves=40,
)
odd_values = json_values | st.builds(object) | st.binary(max_size=10) | st.sets(st.integers(), max_size=3)
operations = st.sampled_from([*OPERATIONS, "plan", "act", "observe", "explain", "heartbeat", "my-op", "Bad Op", ""])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operation=operations, data=odd_values | st.dictionaries(st.text(max_size=12), odd_values, max_size=6))
def test_validate_agent_operation_never_crashes(operation: str, data: Any) -> None:
    result = validator.validate_agent_operation(operation, data)
    assert isinstance(result, ValidationResult)
    assert all(isinstance(error, str) and ": " in error for error in result.errors)
    assert result.valid == (not result.errors)
    if result.valid:
        json.dumps(result.sanitized_value)


@settings(max_examples=200, deadline=None)
@given(
    operation=st.sampled_from([op for op, spec in OPERATIONS.items() if spec.request_schema]),
    data=st.dictionaries(st.text(max_size=12), json_values, max_size=6),
)
def test_validate_request_raises_only_documented_errors(operation: str, data: dict[str, Any]) -> None:
    error: Exception | None = None
    try:
        validate_request(operation, data)
    except (ValidationError, SecurityError) as exc:
        error = exc
    assert error is None or str(error)


# -------------------------------------------------------------------------------- laziness


def test_importing_the_validator_loads_no_rules() -> None:
    script = (
        "import sys, kei_agent.validation as v\n"
        "from kei_agent._contract import load_spec\n"
        "assert load_spec.cache_info().currsize == 0\n"
        "assert 'jsonschema' not in sys.modules\n"
        "v.validate_request('planTask', {'objective': 'x'})\n"
        "assert load_spec.cache_info().currsize == 1\n"
        "assert 'jsonschema' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr


# ------------------------------------------------------------- keywords beyond the old subset

OPENAPI_DOCUMENT: dict[str, Any] = {
    "components": {
        "schemas": {
            "Money": {
                "type": "object",
                "required": ["amount", "currency"],
                "properties": {"amount": {"type": "number", "minimum": 0}, "currency": {"enum": ["EUR", "USD"]}},
            },
            "Order": {
                "type": "object",
                "required": ["id", "total"],
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "total": {"$ref": "#/components/schemas/Money"},
                    "delivery": {"oneOf": [{"const": "pickup"}, {"type": "object", "required": ["address"]}]},
                    "gift": {"type": "boolean"},
                    "message": {"type": "string"},
                    "placed_at": {"type": "string", "format": "date-time"},
                },
                "patternProperties": {"^meta_": {"type": "integer"}},
                "if": {"properties": {"gift": {"const": True}}, "required": ["gift"]},
                "then": {"required": ["message"]},
                "dependentRequired": {"message": ["gift"]},
            },
        }
    }
}


def test_request_schemas_use_the_whole_dialect() -> None:
    order = {"$ref": "#/components/schemas/Order"}
    valid = {
        "id": "0b0f5a8e-6f0c-4a6e-9a53-3c8f5f0f9d11",
        "total": {"amount": 3, "currency": "EUR"},
        "delivery": "pickup",
        "gift": True,
        "message": "Happy birthday",
        "placed_at": "2026-12-02T07:00:00Z",
        "meta_rank": 2,
    }
    assert problems_of(order, valid, OPENAPI_DOCUMENT) == []
    invalid = {
        "id": "42",
        "total": {"amount": -1, "currency": "GBP"},
        "delivery": {"street": "x"},
        "gift": True,
        "placed_at": "yesterday",
        "meta_rank": "high",
    }
    assert sorted(problems_of(order, invalid, OPENAPI_DOCUMENT)) == sorted(
        [
            "$.id: must be a valid uuid, got '42'",
            "$.total.amount: must be at least 0, got -1",
            "$.total.currency: must be one of 'EUR', 'USD', got 'GBP'",
            "$.delivery: does not match any of the 2 allowed shapes (closest: $.delivery: must be 'pickup', "
            "got {'street': 'x'})",
            "$.placed_at: must be a valid date-time, got 'yesterday'",
            "$.meta_rank: must be an integer, got string",
            "$.message: is required",
        ]
    )
    assert problems_of(order, {**valid, "gift": False, "message": "hi"}, OPENAPI_DOCUMENT) == []
    assert problems_of(order, {key: value for key, value in valid.items() if key != "gift"}, OPENAPI_DOCUMENT) == [
        "$.gift: is required"
    ]


def test_without_the_validation_extra_the_server_is_left_to_check_the_schema() -> None:
    script = (
        "import sys\n"
        "sys.modules['jsonschema_rs'] = None  # as if the validation extra were not installed\n"
        "from loguru import logger\n"
        "from kei_agent.validation import validate_request, InputSecurityError\n"
        "logger.enable('kei_agent')\n"
        "logger.remove()\n"
        "logger.add(sys.stdout, format='{message}')\n"
        "validate_request('planTask', {'objective': 5})  # not checked client-side\n"
        "try:\n"
        "    validate_request('planTask', {'objective': 'x\\x00'})\n"
        "except InputSecurityError:\n"
        "    print('hardening still applies')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "JSON schemas are not checked client-side without the validation extra" in proc.stdout
    assert 'pip install "kei-agent-py-sdk[validation]"' in proc.stdout
    assert "hardening still applies" in proc.stdout
