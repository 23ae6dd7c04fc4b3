"""The per-request path of every spec operation, in this order:

request id → record stats → faults (latency, status) → authentication → scope → parameters and
body validation → Idempotency-Key replay → handler → response (``X-Request-ID``, echoed
``X-Correlation-ID``; problems for errors) → faults applied to the answer (drop, malformed).

Everything per operation (validators, scopes, handler) is looked up once when the app is built.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from kei_agent._contract.operations import OperationSpec

from ._util import canonical, dumps
from .context import AppContext, Call, Reply
from .faults import FaultDecision
from .handlers import DUPLICATE_FLAG, SELF_DEDUPLICATING, Handler
from .idempotency import KeyConflict
from .problems import ProblemError, echo_correlation, fault_problem, new_request_id, problem_response
from .security import require_scope
from .validation import BodyError, FieldError, OperationValidator, parse_json

logger = logging.getLogger("kei_agent.testing")

JSON = "application/json"


class DroppedResponse(Response):
    """Sends the status line and headers (and, with ``after="body"``, half the body), then stops:
    the server closes the connection and the client sees an incomplete response."""

    def __init__(self, original: Response, after: str) -> None:
        body = bytes(original.body) if getattr(original, "body", None) else b""
        self.partial = body[: max(1, len(body) // 2)] if after == "body" and body else b""
        declared = len(body) if body else 64
        self.status_code = (
            200 if original.status_code in (204, 304) or original.status_code < 200 else original.status_code
        )
        self.raw_headers = [(k, v) for k, v in original.raw_headers if k != b"content-length"]
        self.raw_headers.append((b"content-length", str(declared).encode()))
        self.background = None
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if self.partial:
            await send({"type": "http.response.body", "body": self.partial, "more_body": True})


class OperationEndpoint:
    """One operation of the spec, bound to its validator and handler."""

    def __init__(
        self, ctx: AppContext, operation: OperationSpec, validator: OperationValidator, handler: Handler
    ) -> None:
        self.ctx = ctx
        self.operation = operation
        self.operation_id = operation.operation_id
        self.validator = validator
        self.handler = handler
        self.has_body = validator.body is not None
        self.keyed = any(p.name == "Idempotency-Key" for p in validator.params) and (
            operation.operation_id not in SELF_DEDUPLICATING
        )
        self.response_schema = operation.response_schema

    async def __call__(self, request: Request) -> Response:
        ctx = self.ctx
        headers = request.headers
        request_id = new_request_id()
        correlation_id = echo_correlation(headers.get("x-correlation-id"))
        ctx.stats.record(self.operation_id, request.scope["headers"])
        decision: FaultDecision | None = None
        try:
            decision = ctx.faults.decide(self.operation_id, self.operation.path, request.url.path)
            if decision is not None:
                if decision.delay:
                    await asyncio.sleep(decision.delay)
                if decision.action == "status":
                    raise fault_problem(decision)
            reply = await self._serve(request, correlation_id)
            response = self._respond(reply, request_id, correlation_id)
        except ProblemError as error:
            response = self._problem(error, request_id, correlation_id)
        except Exception:
            logger.exception("%s failed (request %s)", self.operation_id, request_id)
            internal = ProblemError(500, f"An unexpected error occurred (request {request_id}).")
            response = problem_response(internal, request_id=request_id, correlation_id=correlation_id)
        if decision is not None and decision.action == "drop":
            return DroppedResponse(response, decision.drop_after)
        if decision is not None and decision.action == "malformed":
            return Response(decision.body, 200, headers=_ids(request_id, correlation_id), media_type=JSON)
        return response

    async def _serve(self, request: Request, correlation_id: str | None) -> Reply:
        ctx = self.ctx
        operation = self.operation
        headers = request.headers
        principal = None
        if operation.auth_required:
            client = request.scope.get("client")
            peer = (str(client[0]), int(client[1])) if client else None
            principal = await ctx.authenticator.authenticate(headers.get("authorization"), peer)
            require_scope(principal, operation.scopes)
        params, errors = ctx.validators.check_params(self.validator, headers, request.query_params, request.path_params)
        body: Any = None
        if self.has_body:
            raw = await _bounded_body(request, ctx.settings.max_body_bytes)
            if raw.strip():
                _require_json(headers.get("content-type"))
                try:
                    body = parse_json(raw)
                except BodyError as exc:
                    raise ProblemError(400, str(exc)) from None
                errors.extend(ctx.validators.check_body(self.validator, body))
            elif self.validator.body_required:
                errors.append(FieldError("$", "a JSON request body is required"))
        if errors:
            raise ProblemError(
                self.validator.error_status,
                f"{len(errors)} problem(s) in the request.",
                errors=[error.to_dict() for error in errors],
            )
        call = Call(
            self.operation_id,
            params,
            body,
            principal,
            params.get("X-Agent-ID"),
            params.get("X-Tenant-ID"),
            correlation_id,
        )
        key = params.get("Idempotency-Key") if self.keyed else None
        if key is None:
            return await self.handler(ctx, call)
        return await self._idempotent(call, str(key), request.url.path)

    async def _idempotent(self, call: Call, key: str, path: str) -> Reply:
        store = self.ctx.state.idempotency
        agent = call.agent_id or (call.principal.subject if call.principal else "")
        store_key = (self.operation_id, agent, key)
        fingerprint = canonical({"path": path, "body": call.body})
        try:
            stored = store.begin(store_key, fingerprint)
        except KeyConflict as exc:
            raise ProblemError(409, str(exc)) from None
        if stored is not None:
            body = stored.body
            if self.operation_id in DUPLICATE_FLAG and isinstance(body, dict):
                body = {**body, "duplicate": True}
            return Reply(stored.status, body)
        try:
            reply = await self.handler(self.ctx, call)
        except BaseException:
            store.abandon(store_key)
            raise
        if 200 <= reply.status < 300 and reply.response is None:
            store.finish(store_key, fingerprint, reply.status, reply.body)
        else:
            store.abandon(store_key)
        return reply

    def _respond(self, reply: Reply, request_id: str, correlation_id: str | None) -> Response:
        ids = _ids(request_id, correlation_id)
        if reply.response is not None:
            reply.response.headers.update(ids)
            return reply.response
        if reply.body is None:
            return Response(status_code=reply.status, headers=ids)
        if self.ctx.settings.validate_responses and self.response_schema is not None:
            problems = self.ctx.validators.check(self.response_schema, reply.body)
            if problems:
                logger.error("%s answered off-contract: %s", self.operation_id, problems)
                raise ProblemError(500, "The response does not match the spec.", errors=[p.to_dict() for p in problems])
        return Response(dumps(reply.body), reply.status, headers=ids, media_type=JSON)

    def _problem(self, error: ProblemError, request_id: str, correlation_id: str | None) -> Response:
        return problem_response(error, request_id=request_id, correlation_id=correlation_id)


async def _bounded_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 once it exceeds ``limit`` bytes (declared or received)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ProblemError(413, f"The request body ({declared} bytes) exceeds the limit of {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ProblemError(413, f"The request body exceeds the limit of {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def _require_json(content_type: str | None) -> None:
    """A JSON body must be declared as JSON (``application/json`` or ``application/*+json``): 415 otherwise."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == JSON or (media.startswith("application/") and media.endswith("+json")):
        return
    shown = media or "none"
    raise ProblemError(415, f"The request body must be JSON (Content-Type: application/json), not {shown}.")


def _ids(request_id: str, correlation_id: str | None) -> dict[str, str]:
    ids = {"X-Request-ID": request_id}
    if correlation_id is not None:
        ids["X-Correlation-ID"] = correlation_id
    return ids
