"""schemathesis hooks for ``test_schemathesis.py`` (loaded with ``SCHEMATHESIS_HOOKS``).

``--checks all`` stays on everywhere. This ``filter_failure`` hook drops a failure only where the
tool and the OpenAPI 3.1 contract disagree, and only after re-checking the exchange itself:

* ``positive-not-valid``: schemathesis 4.32.5's coverage phase draws header values from letters
  and digits only, so for ``traceparent`` (whose pattern requires ``-``) it sends an invalid value
  in a case it labels *positive*; the server rightly rejects it. Dropped only when the request
  really violates the spec (re-validated here with jsonschema).
  The same holds for ``POST /rpc/{operation}`` with ``plan``/``act``/``observe``/``explain``,
  which the spec routes to the fixed-path operations: re-validated against *their* schemas.
* ``nested-schema-422``: ``executeTool`` validates parameters against the *tool's* schema and
  ``busRequest`` its payload against the carried operation's schema; the API schema cannot express
  either. Dropped only for a 422 whose every error points into ``$.parameters`` / ``$.payload``.
* ``undeclared-header-ignored``: a negative case whose only negation is an undeclared header
  (``x-schemathesis-unknown-property``); HTTP servers ignore unknown headers. The tool's own
  exclusion for this misfires because it re-validates the wire string ``"0"`` of the integer
  header ``X-Kei-Retry-Count`` without coercion. Dropped only when every declared parameter and
  the body re-validate here (with header coercion).
* ``sse-event-shape``: the spec declares ``text/event-stream`` with ``schema: {type: string}``
  (3.1 has no per-event ``itemSchema``) and the tool validates each parsed event object against
  it. Dropped only when every event is re-validated here: ``id`` digits, ``event`` = the data's
  type, ``data`` a ``StreamEvent`` with the same id.

Every dropped failure is appended to the file named by ``KEI_SCHEMATHESIS_EXCUSED`` (JSON lines),
so the test reports what was excused.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import unquote

import schemathesis

from kei_agent._contract import load_spec
from kei_agent._contract.operations import OPERATIONS
from kei_agent.testing.validation import SpecValidators

VALIDATORS = SpecValidators(load_spec())
BY_ROUTE = {(op.method.upper(), op.path): op_id for op_id, op in OPERATIONS.items()}
NESTED = {"executeTool": "$.parameters", "busRequest": "$.payload"}
#: ``POST /rpc/{operation}`` with these names reaches the fixed-path operation (the spec says so).
SHADOWED = {"plan": "planTask", "act": "executeAction", "observe": "observeEnvironment", "explain": "explainReasoning"}


def _operation_id(case: Any) -> str | None:
    return BY_ROUTE.get((str(case.operation.method).upper(), str(case.operation.path)))


def _request_problems(operation_id: str, case: Any) -> list[Any]:
    validator = VALIDATORS.operations[operation_id]
    headers = {str(k): str(v) for k, v in (case.headers or {}).items()}
    query = {str(k): str(v) for k, v in (case.query or {}).items()}
    path = {str(k): unquote(str(v)) for k, v in (case.path_parameters or {}).items()}  # sent percent-encoded
    _, problems = VALIDATORS.check_params(validator, headers, query, path)
    body = case.body
    if validator.body is not None and body is not None and not isinstance(body, bytes | str):
        problems.extend(VALIDATORS.check_body(validator, body))
    return problems


def _sse_events_valid(content: bytes) -> bool:
    blocks = [block for block in content.decode("utf-8").split("\n\n") if block.strip()]
    checked = 0
    for block in blocks:
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        if not fields:
            continue
        if set(fields) != {"id", "event", "data"} or not fields["id"].isdigit():
            return False
        data = json.loads(fields["data"])
        if VALIDATORS.check("StreamEvent", data) or data["id"] != fields["id"] or data["type"] != fields["event"]:
            return False
        checked += 1
    return checked > 0


def excuse(failure: Any, case: Any, response: Any) -> tuple[str, str] | None:
    """(reason, detail) when this failure is the tool's or the 3.1 spec's limit; ``None``: real."""
    operation_id = _operation_id(case)
    if operation_id is None:
        return None
    code = getattr(failure, "code", "")
    if operation_id == "executeOperation":
        operation_id = SHADOWED.get(str((case.path_parameters or {}).get("operation")), operation_id)
    if code == "ST202":
        problems = _request_problems(operation_id, case)
        if problems:
            return "positive-not-valid", f"{problems[0].path}: {problems[0].message[:80]}"
        if response.status_code == 422 and operation_id in NESTED:
            errors = json.loads(response.content).get("errors") or []
            if errors and all(str(e.get("path", "")).startswith(NESTED[operation_id]) for e in errors):
                return "nested-schema-422", str(errors[0]["path"])
    message = str(getattr(failure, "message", ""))
    if code == "ST201" and "unexpected properties" in message and not _request_problems(operation_id, case):
        return "undeclared-header-ignored", ""
    title = getattr(failure, "title", "")
    if operation_id == "streamEvents" and title == "SSE event violates schema" and _sse_events_valid(response.content):
        return "sse-event-shape", ""
    return None


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    excused = excuse(failure, case, response)
    if excused is None:
        return True
    target = os.environ.get("KEI_SCHEMATHESIS_EXCUSED")
    if target:
        with open(target, "a", encoding="utf-8") as fh:
            reason, detail = excused
            code = getattr(failure, "code", "")
            record = {"reason": reason, "detail": detail, "code": code, "operation": case.operation.label}
            fh.write(json.dumps(record) + "\n")
    return False
