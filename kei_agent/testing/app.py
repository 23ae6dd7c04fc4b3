"""``create_app(settings)``: the Starlette application, with one route per path of the spec."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from kei_agent._contract import load_spec
from kei_agent._contract.operations import OPERATIONS

from .admin import admin_routes
from .context import AppContext
from .faults import FaultPlan
from .handlers import HANDLERS
from .notify import Notifier
from .pipeline import OperationEndpoint
from .problems import ProblemError, echo_correlation, new_request_id, problem_response
from .security import Authenticator, PeerCertificates
from .settings import ServerSettings
from .state import ServerState
from .stats import ServerStats
from .stream import WEBSOCKET_PATH, websocket_endpoint
from .validation import SpecValidators

logger = logging.getLogger("kei_agent.testing")

Endpoint = Callable[[Request], Awaitable[Response]]


def build_context(
    settings: ServerSettings | None = None,
    *,
    state: ServerState | None = None,
    faults: FaultPlan | None = None,
    stats: ServerStats | None = None,
    peers: PeerCertificates | None = None,
) -> AppContext:
    """Everything an app instance shares; ``state``/``faults``/``stats`` survive a restart."""
    settings = settings or ServerSettings()
    missing = set(OPERATIONS) - set(HANDLERS)
    if missing:  # pragma: no cover - guarded by the tests
        raise RuntimeError(f"operations without a handler: {sorted(missing)}")
    return AppContext(
        settings=settings,
        state=state or ServerState(settings),
        faults=faults or FaultPlan(seed=settings.seed),
        stats=stats or ServerStats(),
        validators=SpecValidators(load_spec()),
        authenticator=Authenticator(settings, peers),
        shutdown=Notifier(),
    )


def _dispatcher(endpoints: dict[str, OperationEndpoint]) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        method = request.method
        target = endpoints.get("GET" if method == "HEAD" else method)
        if target is None:  # pragma: no cover - the route's method list excludes it
            raise HTTPException(405, headers={"Allow": ", ".join(sorted(endpoints))})
        return await target(request)

    return endpoint


def _routes(ctx: AppContext) -> list[BaseRoute]:
    by_path: dict[str, dict[str, OperationEndpoint]] = {}
    for operation_id, operation in OPERATIONS.items():
        validator = ctx.validators.operations[operation_id]
        endpoint = OperationEndpoint(ctx, operation, validator, HANDLERS[operation_id])
        by_path.setdefault(operation.path, {})[operation.method.upper()] = endpoint
    # Fixed paths first: /api/v1/rpc/plan must win over /api/v1/rpc/{operation}.
    ordered = sorted(by_path, key=lambda path: "{" in path)
    routes: list[BaseRoute] = [
        Route(path, _dispatcher(by_path[path]), methods=sorted(by_path[path])) for path in ordered
    ]

    async def stream(websocket: WebSocket) -> None:
        await websocket_endpoint(ctx, websocket)

    routes.append(WebSocketRoute(WEBSOCKET_PATH, stream))
    if ctx.settings.admin_enabled:
        routes.extend(admin_routes(ctx))
    return routes


def _http_error(request: Request, exc: Exception) -> Response:
    request_id = new_request_id()
    correlation_id = echo_correlation(request.headers.get("x-correlation-id"))
    if isinstance(exc, HTTPException):
        status = exc.status_code
        detail = {404: f"No route for {request.url.path}.", 405: f"{request.method} is not allowed here."}.get(
            status, str(exc.detail)
        )
        error = ProblemError(status, detail)
        headers = dict(exc.headers or {})
    else:
        logger.error("unhandled error (request %s)", request_id, exc_info=exc)
        error = ProblemError(500, f"An unexpected error occurred (request {request_id}).")
        headers = {}
    return problem_response(error, request_id=request_id, correlation_id=correlation_id, headers=headers)


def create_app(
    settings: ServerSettings | None = None,
    *,
    context: AppContext | None = None,
) -> Starlette:
    """The reference server as an ASGI app (serve it with any ASGI server).

    ``context`` (from :func:`build_context`) lets a caller keep state, faults and stats across app
    instances; otherwise fresh ones are made from ``settings``.
    """
    ctx = context or build_context(settings)
    app = Starlette(
        routes=_routes(ctx),
        exception_handlers={HTTPException: _http_error, Exception: _http_error},
    )
    app.router.redirect_slashes = False
    app.state.kei = ctx
    return app
