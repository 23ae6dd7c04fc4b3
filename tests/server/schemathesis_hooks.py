"""schemathesis hooks for ``test_schemathesis.py`` (loaded with ``SCHEMATHESIS_HOOKS``).

``--checks all`` stays on everywhere. This ``filter_failure`` hook drops a failure only where the
API schema cannot express what the server checks, and only after re-checking the exchange itself:

* ``nested-schema-422``: ``executeTool`` validates parameters against the *tool's* schema and
  ``busRequest`` its payload against the carried operation's schema; the API schema cannot express
  either. Dropped only for a 422 whose every error points into ``$.parameters`` / ``$.payload``.

What earlier versions excused is fixed in the contract or the server instead: a malformed
``traceparent`` is ignored as W3C Trace Context requires (the spec declares it a plain string);
``POST /rpc/{operation}`` cannot name a fixed-path operation (``OperationName`` excludes them);
``X-Kei-Retry-Count`` is a string of digits (header values are strings, so the tool's own
exclusion of undeclared headers works); the SSE response documents each event with
``itemSchema`` (``ServerSentEvent``).

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


def excuse(failure: Any, case: Any, response: Any) -> tuple[str, str] | None:
    """(reason, detail) when the API schema cannot express the server's check; ``None``: real."""
    operation_id = _operation_id(case)
    if operation_id is None or getattr(failure, "code", "") != "ST202" or operation_id not in NESTED:
        return None
    if _request_problems(operation_id, case) or response.status_code != 422:
        return None
    errors = json.loads(response.content).get("errors") or []
    if errors and all(str(e.get("path", "")).startswith(NESTED[operation_id]) for e in errors):
        return "nested-schema-422", str(errors[0]["path"])
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
