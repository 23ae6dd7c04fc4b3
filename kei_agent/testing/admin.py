"""The admin endpoints (not part of the spec; mounted only with ``admin_enabled``).

* ``GET /_admin/faults`` - the active fault rules;
* ``POST /_admin/faults`` - add one (a JSON :class:`~kei_agent.testing.faults.Fault`, e.g.
  ``{"kind": "status", "status_code": 503, "retry_after": 1, "route": "planTask", "times": 2}``);
  ``{"seed": 7}`` alone reseeds the random generator;
* ``DELETE /_admin/faults`` - remove every rule; ``DELETE /_admin/faults/{id}`` - one rule;
* ``GET /_admin/stats`` - requests received per operation.

Only the dedicated admin token (``ServerSettings.admin_token``) may use them: an API token,
whatever its scopes, gets 401 (no token) or 403 (another token).
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ._util import dumps
from .context import AppContext
from .faults import Fault
from .problems import ProblemError, echo_correlation, new_request_id, problem_response
from .validation import BodyError, parse_json


def _require_admin(ctx: AppContext, authorization: str | None) -> None:
    expected = ctx.settings.admin_token
    scheme, _, presented = (authorization or "").partition(" ")
    if not presented or scheme.lower() != "bearer":
        raise ProblemError(401, "The admin endpoints need the admin token (Authorization: Bearer <admin token>).")
    if expected is None or not hmac.compare_digest(presented.strip().encode(), expected.encode()):
        raise ProblemError(403, "This token may not use the admin endpoints: only the admin token may.")


def admin_routes(ctx: AppContext) -> list[BaseRoute]:
    async def guarded(request: Request) -> Response:
        request_id = new_request_id()
        correlation_id = echo_correlation(request.headers.get("x-correlation-id"))
        ids = {"X-Request-ID": request_id}
        if correlation_id is not None:
            ids["X-Correlation-ID"] = correlation_id
        try:
            _require_admin(ctx, request.headers.get("authorization"))
            status, body = await _dispatch(ctx, request)
        except ProblemError as error:
            return problem_response(error, request_id=request_id, correlation_id=correlation_id)
        if body is None:
            return Response(status_code=status, headers=ids)
        return Response(dumps(body), status, headers=ids, media_type="application/json")

    return [
        Route("/_admin/faults", guarded, methods=["GET", "POST", "DELETE"]),
        Route("/_admin/faults/{rule_id}", guarded, methods=["DELETE"]),
        Route("/_admin/stats", guarded, methods=["GET"]),
    ]


async def _dispatch(ctx: AppContext, request: Request) -> tuple[int, object]:
    path = request.url.path
    if path == "/_admin/stats":
        return 200, {"requests": ctx.stats.counts(), "total": ctx.stats.requests()}
    rule_id = request.path_params.get("rule_id")
    if rule_id is not None:
        if not ctx.faults.remove(str(rule_id)):
            raise ProblemError(404, f"No fault rule {rule_id}.")
        return 204, None
    if request.method == "GET":
        return 200, {"faults": ctx.faults.to_list(), "seed": ctx.faults.seed}
    if request.method == "DELETE":
        ctx.faults.clear()
        return 204, None
    try:
        data = parse_json(await request.body())
    except BodyError as exc:
        raise ProblemError(400, str(exc)) from None
    if not isinstance(data, dict):
        raise ProblemError(422, "A fault is a JSON object.")
    if set(data) == {"seed"}:
        seed = data["seed"]
        if seed is not None and not isinstance(seed, int):
            raise ProblemError(422, "seed must be an integer or null.")
        ctx.faults.reseed(seed)
        return 200, {"seed": seed}
    try:
        fault = Fault.from_dict(data)
    except ValueError as exc:
        raise ProblemError(422, f"Not a valid fault: {exc}") from None
    rule_id = ctx.faults.add(fault)
    return 201, {"id": rule_id, **fault.to_dict()}
