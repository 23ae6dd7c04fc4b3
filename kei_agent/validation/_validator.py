"""``InputValidator``: the spec's request schemas plus hardening limits, per operation.

The rules come from the spec shipped with the package (``kei_agent/_contract/spec.json``,
generated from ``openapi/kei-agent.yaml``): the request body schema of each operation and the
schemas of its path and query parameters. They are compiled on first use of an operation, so
importing this module costs nothing.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Mapping
from typing import Any, Final

import attrs

from kei_agent._contract.operations import BUS_OPERATIONS, OPERATIONS
from kei_agent.errors import FieldProblem, SecurityError, ValidationError

from ._hardening import HardeningLimits, Inspection, inspect
from ._schema import Check, SchemaCompiler

__all__ = [
    "OPERATION_ALIASES",
    "InputSecurityError",
    "InputValidator",
    "ValidationResult",
    "get_input_validator",
    "set_input_validator",
    "validate_request",
]

#: Names the documentation and the client use for operations, mapped to the spec's operationId:
#: every operation's snake_case name and bus name come from the contract; three curated client
#: methods are named differently from their operation.
OPERATION_ALIASES: Final = {
    **{spec.python_name: op_id for op_id, spec in OPERATIONS.items()},
    **BUS_OPERATIONS,
    "heartbeat": "agentHeartbeat",
    "publish": "publishMessage",
    "use_tool": "executeTool",
}
_CUSTOM_OPERATION = "executeOperation"


class InputSecurityError(SecurityError):
    """Request input violates a hardening limit; :attr:`problems` lists each violation with its path.

    The messages never contain the offending values.
    """

    problems: list[FieldProblem]

    def __init__(self, problems: list[FieldProblem], *, operation_id: str | None = None) -> None:
        """List ``problems`` (at least one)."""
        self.problems = list(problems)
        self.operation_id = operation_id
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        where = f"{operation_id}: " if operation_id else ""
        lines = "".join(f"\n  - {problem}" for problem in self.problems)
        super().__init__(f"{where}request input rejected by the hardening limits ({count} {noun}):{lines}")


@attrs.frozen
class ValidationResult:
    """The outcome of :meth:`InputValidator.validate_agent_operation`.

    ``valid`` is False when the input breaks the spec's schema or a hardening limit; ``errors``
    lists those problems as readable ``"<path>: <message>"`` strings. ``warnings`` lists what
    ``sanitized_value`` changed (control characters removed). ``sanitized_value`` is a copy of the
    input that is safe to send (``None`` when the input is invalid).
    """

    valid: bool
    errors: list[str]
    warnings: list[str]
    sanitized_value: Any
    operation_id: str | None = None
    problems: tuple[FieldProblem, ...] = ()
    security_problems: tuple[FieldProblem, ...] = ()

    def __bool__(self) -> bool:
        return self.valid

    def raise_for_errors(self) -> None:
        """Raise ``InputSecurityError`` (a ``SecurityError``) or ``ValidationError`` when invalid."""
        if self.security_problems:
            raise InputSecurityError(list(self.security_problems), operation_id=self.operation_id)
        if self.problems:
            where = f"Invalid input for {self.operation_id}" if self.operation_id else "Invalid input"
            raise ValidationError(list(self.problems), title=where)


@attrs.frozen
class _Parameter:
    python_name: str
    spec_name: str
    location: str
    required: bool
    check: Check


@attrs.frozen
class _Rules:
    operation_id: str
    body: Check | None
    body_required: bool
    parameters: tuple[_Parameter, ...]


class _RuleBook:
    """Compiles the rules of an operation on first use (thread-safe, then lock-free)."""

    def __init__(self) -> None:
        self._compiler: SchemaCompiler | None = None
        self._rules: dict[str, _Rules] = {}
        self._lock = threading.Lock()

    def rules(self, operation_id: str) -> _Rules:
        found = self._rules.get(operation_id)
        if found is not None:
            return found
        with self._lock:
            found = self._rules.get(operation_id)
            if found is None:
                found = self._build(operation_id)
                self._rules[operation_id] = found
        return found

    def _build(self, operation_id: str) -> _Rules:
        from kei_agent._contract import load_spec
        from kei_agent._contract.operations import OPERATIONS

        spec = load_spec()
        if self._compiler is None:
            self._compiler = SchemaCompiler(spec)
        compiler = self._compiler
        operation = OPERATIONS[operation_id]
        path_item = spec["paths"][operation.path]
        definition = path_item[operation.method.lower()]
        body: Check | None = None
        body_required = False
        request_body = definition.get("requestBody")
        if isinstance(request_body, Mapping):
            if "$ref" in request_body:
                request_body = compiler.resolve(str(request_body["$ref"]))
            schema = (request_body.get("content", {}).get("application/json") or {}).get("schema")
            if schema is not None:
                body = compiler.compile(schema)
                body_required = bool(request_body.get("required"))
        parameters = []
        for raw in [*path_item.get("parameters", ()), *definition.get("parameters", ())]:
            parameter = compiler.resolve(str(raw["$ref"])) if "$ref" in raw else raw
            if parameter.get("in") not in ("path", "query"):
                continue  # headers are set by the client itself
            name = str(parameter["name"])
            parameters.append(
                _Parameter(
                    python_name=name.replace("-", "_").lower(),
                    spec_name=name,
                    location=str(parameter["in"]),
                    required=bool(parameter.get("required")),
                    check=compiler.compile(parameter.get("schema") or {}),
                )
            )
        return _Rules(operation_id, body, body_required, tuple(parameters))


_rulebook = _RuleBook()


def resolve_operation(operation: str) -> tuple[str, bool]:
    """``(operationId, is_custom)`` for an operationId, a documented alias or a custom operation name."""
    from kei_agent._contract.operations import OPERATIONS

    if operation in OPERATIONS:
        return operation, False
    alias = OPERATION_ALIASES.get(operation)
    if alias is not None:
        return alias, False
    return _CUSTOM_OPERATION, True


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _is_unset(value: Any) -> bool:
    return value is None or type(value).__name__ == "Unset"


class InputValidator:
    """Validates operation input against the spec and the hardening limits.

    Get the process-wide one with :func:`get_input_validator`; build one with other
    :class:`HardeningLimits` for special needs and install it with :func:`set_input_validator`.
    """

    def __init__(self, limits: HardeningLimits | None = None) -> None:
        """Use ``limits`` (default: :class:`HardeningLimits` defaults)."""
        self._limits = limits or HardeningLimits()

    @property
    def limits(self) -> HardeningLimits:
        """The hardening limits in force."""
        return self._limits

    def __repr__(self) -> str:
        return f"InputValidator(limits={self._limits!r})"

    # ------------------------------------------------------------------------------ checks

    def _check(
        self,
        operation_id: str,
        body: Any,
        parameters: Mapping[str, Any] | None,
        *,
        sanitize: bool,
        body_present: bool,
        require_parameters: bool,
    ) -> tuple[list[FieldProblem], Inspection]:
        rules = _rulebook.rules(operation_id)
        problems: list[FieldProblem] = []
        inspection = inspect(body, self._limits, sanitize=sanitize) if body_present else Inspection()
        if rules.body is not None:
            if body_present:
                if not inspection.security and not inspection.problems:  # non-JSON values: listed below
                    rules.body(body, "$", problems)
            elif rules.body_required:
                problems.append(FieldProblem("$", "a request body is required"))
        problems.extend(inspection.problems)
        given = parameters or {}
        for parameter in rules.parameters:
            value = given.get(parameter.python_name)
            if _is_unset(value):
                if parameter.required and require_parameters:
                    problems.append(FieldProblem(f"{parameter.location}.{parameter.spec_name}", "is required"))
                continue
            where = f"{parameter.location}.{parameter.spec_name}"
            found = inspect(_plain(value), self._limits, path=where)
            inspection.security.extend(found.security)
            inspection.control_characters.extend(found.control_characters)
            if not found.security:
                parameter.check(_plain(value), where, problems)
        return problems, inspection

    def _report(self, operation_id: str, inspection: Inspection, *, strict: bool) -> None:
        from kei_agent.logging import get_logger

        security = get_logger("kei_agent.security")
        if inspection.security or (strict and inspection.control_characters):
            found = [*inspection.security, *(inspection.control_characters if strict else ())]
            security.log_security_event(
                "input_rejected",
                "medium",
                f"{operation_id}: request input violates the hardening limits",
                operation=operation_id,
                problems=[str(problem) for problem in found],
            )
        elif inspection.control_characters:
            security.log_security_event(
                "control_characters_removed",
                "low",
                f"{operation_id}: control characters removed from the input",
                operation=operation_id,
                problems=[str(problem) for problem in inspection.control_characters],
            )

    def validate_agent_operation(
        self, operation: str, data: Any, *, parameters: Mapping[str, Any] | None = None
    ) -> ValidationResult:
        """Validate ``data`` as the input of ``operation``; never raises for bad input.

        ``operation`` is a spec operationId (``planTask``), a documented name (``plan``, ``act``,
        ``observe``, ``explain``, ``plan_task``, ...) or the name of a custom operation, whose
        ``data`` is sent as ``{"data": data}``. ``data`` is the request body (``{"objective": ...}``
        for ``plan``); ``parameters`` are path/query parameters such as ``agent_id``.
        """
        operation_id, custom = resolve_operation(operation)
        if custom:
            body: Any = {"data": data}
            parameters = {**(parameters or {}), "operation": operation}
        else:
            body = data
        problems, inspection = self._check(
            operation_id,
            body,
            parameters,
            sanitize=True,
            body_present=data is not None or not custom,
            require_parameters=False,
        )
        self._report(operation_id, inspection, strict=False)
        security = inspection.security
        valid = not problems and not security
        sanitized = inspection.sanitized
        if custom and isinstance(sanitized, Mapping):
            sanitized = sanitized.get("data")
        return ValidationResult(
            valid=valid,
            errors=[str(problem) for problem in [*security, *problems]],
            warnings=[f"{problem.path}: control characters removed" for problem in inspection.control_characters],
            sanitized_value=sanitized if valid else None,
            operation_id=operation_id,
            problems=tuple(problems),
            security_problems=tuple(security),
        )

    def validate_request(
        self,
        operation_id: str,
        body: Mapping[str, Any] | None,
        *,
        parameters: Mapping[str, Any] | None = None,
    ) -> None:
        """Strict check of one request (what the client runs before sending).

        Raises:
            InputSecurityError: (a ``SecurityError``) a hardening limit is violated, including
                control characters; a security event is logged.
            ValidationError: the input does not match the spec; every problem with its path.
        """
        problems, inspection = self._check(
            operation_id, body, parameters, sanitize=False, body_present=body is not None, require_parameters=True
        )
        if inspection.security or inspection.control_characters:
            self._report(operation_id, inspection, strict=True)
            raise InputSecurityError([*inspection.security, *inspection.control_characters], operation_id=operation_id)
        if problems:
            raise ValidationError(problems, title=f"Invalid input for {operation_id}")


_validator = InputValidator()


def get_input_validator() -> InputValidator:
    """The process-wide :class:`InputValidator` (the clients use it before every request)."""
    return _validator


def set_input_validator(validator: InputValidator) -> None:
    """Replace the process-wide validator, e.g. ``InputValidator(HardeningLimits(max_depth=8))``."""
    global _validator
    _validator = validator


def validate_request(
    operation_id: str,
    body: Mapping[str, Any] | None,
    *,
    parameters: Mapping[str, Any] | None = None,
) -> None:
    """Validate one request with the process-wide validator (see :meth:`InputValidator.validate_request`)."""
    _validator.validate_request(operation_id, body, parameters=parameters)
