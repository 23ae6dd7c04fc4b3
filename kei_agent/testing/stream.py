"""Stream transports over the event log: WebSocket ``/api/v1/stream``, SSE and polling.

* WebSocket: the frames of the spec's ``x-kei-websocket`` (client: ``subscribe``, ``publish``,
  ``ack``, ``ping``, ``pong``; server: ``subscribed``, ``event``, ``published``, ``error``,
  ``ping``, ``pong``). ``subscribe`` with ``since`` replays the retained events after that id,
  then continues live; without ``since`` it starts live. The server pings when idle.
* SSE (``GET /api/v1/stream/events``): ``id:``/``event:``/``data:`` records, resume with
  ``Last-Event-ID`` (or ``since``), ``: keep-alive`` comments when idle.
* Polling (``GET /api/v1/stream/poll``): events after ``since`` (from the oldest retained when
  omitted), waiting up to ``wait_seconds`` for the first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from starlette.responses import StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from ._util import canonical, dumps
from .context import AppContext, Call
from .events import Event
from .idempotency import KeyConflict
from .notify import wait_for_change
from .problems import ProblemError, echo_correlation, fault_problem, new_request_id, problem_response
from .security import Principal, require_scope
from .validation import FieldError

WEBSOCKET_PATH = "/api/v1/stream"
WEBSOCKET_ROUTE = "websocket"
SUBPROTOCOL = "kei.stream.v1"
STREAM_SCOPE = "kei:stream"
BATCH = 500
CLIENT_FRAMES = {
    "subscribe": "SubscribeFrame",
    "publish": "PublishFrame",
    "ack": "AckFrame",
    "ping": "PingFrame",
    "pong": "PongFrame",
}


def parse_topics(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    topics = [topic.strip() for topic in raw.split(",") if topic.strip()]
    return topics or None


def _since(raw: Any) -> int | None:
    return int(raw) if raw is not None else None


# ------------------------------------------------------------------------ SSE
def format_sse(event: Event) -> str:
    return f"id: {event.id}\nevent: {event.type}\ndata: {json.dumps(event.to_json(), separators=(',', ':'))}\n\n"


def sse_response(ctx: AppContext, call: Call) -> StreamingResponse:
    last = call.params.get("Last-Event-ID", call.params.get("since"))
    since = _since(last) if last is not None else ctx.state.events.last_id
    topics = parse_topics(call.params.get("topics"))
    return StreamingResponse(
        _sse_stream(ctx, since, topics),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _sse_stream(ctx: AppContext, since: int | None, topics: Sequence[str] | None) -> AsyncIterator[str]:
    log = ctx.state.events
    settings = ctx.settings
    started = time.monotonic()
    deadline = None if settings.sse_max_duration is None else started + settings.sse_max_duration
    last_sent = started
    yield ": connected\n\n"
    while True:
        version, stop_version = log.notifier.version, ctx.shutdown.version
        events, resume = log.after(since, topics, BATCH)
        since = resume
        if events:
            yield "".join(format_sse(event) for event in events)
            last_sent = time.monotonic()
            continue
        now = time.monotonic()
        if ctx.shutdown.closed or (deadline is not None and now >= deadline):
            return
        if now - last_sent >= settings.sse_keepalive_seconds:
            yield ": keep-alive\n\n"
            last_sent = now
        timeout = settings.sse_keepalive_seconds - (now - last_sent)
        if deadline is not None:
            timeout = min(timeout, deadline - now)
        await wait_for_change([(log.notifier, version), (ctx.shutdown, stop_version)], max(timeout, 0.0))


# -------------------------------------------------------------------- polling
async def poll_events(ctx: AppContext, call: Call) -> dict[str, Any]:
    params = call.params
    since = _since(params.get("since"))
    topics = parse_topics(params.get("topics"))
    limit = int(params.get("limit", 100))
    wait = min(float(params.get("wait_seconds", 0)), ctx.settings.max_wait_seconds)
    log = ctx.state.events
    deadline = time.monotonic() + wait
    while True:
        version, stop_version = log.notifier.version, ctx.shutdown.version
        events, resume = log.after(since, topics, limit)
        now = time.monotonic()
        if events or now >= deadline or ctx.shutdown.closed:
            return {
                "events": [event.to_json() for event in events],
                "last_event_id": None if resume is None else str(resume),
            }
        since = resume
        await wait_for_change([(log.notifier, version), (ctx.shutdown, stop_version)], deadline - now)


# ------------------------------------------------------------------ WebSocket
def publish_once(
    ctx: AppContext,
    *,
    topic: str,
    data: Any,
    type_: str | None,
    key: str | None,
    agent: str,
    correlation_id: str | None,
) -> tuple[str, bool]:
    """Publish an event, deduplicated by ``key`` together with ``POST /stream/events``."""
    state = ctx.state
    store_key = ("publishEvent", agent, key) if key else None
    fingerprint = canonical({"topic": topic, "data": data, "type": type_})
    if store_key is not None:
        stored = state.idempotency.begin(store_key, fingerprint)
        if stored is not None:
            return str(stored.body["event_id"]), True
    event = state.events.publish(topic, data, type_=type_, source_agent_id=agent or None, correlation_id=correlation_id)
    if store_key is not None:
        body = {"event_id": str(event.id), "topic": topic, "duplicate": False}
        state.idempotency.finish(store_key, fingerprint, 202, body)
    return str(event.id), False


class WebSocketSession:
    """One accepted WebSocket: its subscription cursor and frame handling."""

    def __init__(self, ctx: AppContext, websocket: WebSocket, principal: Principal) -> None:
        self.ctx = ctx
        self.websocket = websocket
        self.principal = principal
        headers = websocket.headers
        self.agent_id = headers.get("x-agent-id")
        self.correlation_id = headers.get("x-correlation-id")
        self.topics: list[str] | None = None
        self.subscribed = False
        self.cursor: int | None = None
        self.acked: int | None = None
        self.last_activity = time.monotonic()

    async def send(self, frame: dict[str, Any]) -> None:
        await self.websocket.send_text(dumps(frame).decode("utf-8"))
        self.last_activity = time.monotonic()

    async def error(self, error: ProblemError, frame_id: Any = None) -> None:
        frame: dict[str, Any] = {"type": "error", "problem": error.document()}
        if isinstance(frame_id, str):
            frame["id"] = frame_id
        await self.send(frame)

    async def subscribe(self, topics: list[str] | None, since: int | None, frame_id: str | None) -> None:
        self.topics = topics
        self.subscribed = True
        self.cursor = since if since is not None else self.ctx.state.events.last_id
        frame: dict[str, Any] = {
            "type": "subscribed",
            "topics": topics or [],
            "last_event_id": None if self.cursor is None else str(self.cursor),
        }
        if frame_id is not None:
            frame["id"] = frame_id
        await self.send(frame)

    async def deliver(self, client_left: Callable[[], bool]) -> bool:
        """Send the events after the cursor; ``True`` when some were sent.

        Stops early when ``client_left()`` (a frame or a close arrived): writing on to a closed
        connection only fills logs, and the remaining events are sent on the next round.
        """
        if not self.subscribed:
            return False
        events, resume = self.ctx.state.events.after(self.cursor, self.topics, BATCH)
        for index, event in enumerate(events):
            await self.send({"type": "event", "event": event.to_json()})
            self.cursor = event.id
            await asyncio.sleep(0)
            if client_left() and index + 1 < len(events):
                return True
        self.cursor = resume
        return bool(events)

    async def handle(self, text: str) -> None:
        try:
            frame = json.loads(text)
        except ValueError:
            await self.error(ProblemError(400, "A frame must be one JSON object."))
            return
        kind = frame.get("type") if isinstance(frame, dict) else None
        schema = CLIENT_FRAMES.get(kind) if isinstance(kind, str) else None
        if schema is None:
            await self.error(
                ProblemError(422, f"Unknown frame type {kind!r}; one of {', '.join(CLIENT_FRAMES)}."),
                frame.get("id") if isinstance(frame, dict) else None,
            )
            return
        errors: list[FieldError] = self.ctx.validators.check(schema, frame)
        if errors:
            problem = ProblemError(422, f"{len(errors)} problem(s) in the frame.", errors=[e.to_dict() for e in errors])
            await self.error(problem, frame.get("id"))
            return
        if kind == "subscribe":
            topics = [str(topic) for topic in frame["topics"]] or None
            await self.subscribe(topics, _since(frame.get("since")), frame.get("id"))
        elif kind == "publish":
            await self._publish(frame)
        elif kind == "ack":
            event_id = int(frame["event_id"])
            self.acked = event_id if self.acked is None else max(self.acked, event_id)
        elif kind == "ping":
            pong: dict[str, Any] = {"type": "pong"}
            if "ts" in frame:
                pong["ts"] = frame["ts"]
            await self.send(pong)

    async def _publish(self, frame: dict[str, Any]) -> None:
        frame_id = frame.get("id")
        try:
            event_id, duplicate = publish_once(
                self.ctx,
                topic=frame["topic"],
                data=frame["data"],
                type_=frame.get("event_type"),
                key=frame_id,
                agent=self.agent_id or self.principal.subject,
                correlation_id=self.correlation_id,
            )
        except KeyConflict as exc:
            await self.error(ProblemError(409, str(exc)), frame_id)
            return
        published: dict[str, Any] = {"type": "published", "event_id": event_id, "duplicate": duplicate}
        if frame_id is not None:
            published["id"] = frame_id
        await self.send(published)

    async def run(self) -> None:
        ctx = self.ctx
        log = ctx.state.events
        receiver: asyncio.Task[str] = asyncio.ensure_future(self.websocket.receive_text())
        try:
            while True:
                version, stop_version = log.notifier.version, ctx.shutdown.version
                # Frames first: a client that left (WebSocketDisconnect) must not be written to.
                if receiver.done():
                    text = receiver.result()  # raises WebSocketDisconnect when the client left
                    receiver = asyncio.ensure_future(self.websocket.receive_text())
                    await self.handle(text)
                    continue
                if await self.deliver(receiver.done):
                    continue
                if ctx.shutdown.closed:
                    await self.websocket.close(code=1001)
                    return
                idle = time.monotonic() - self.last_activity
                if idle >= ctx.settings.ws_ping_interval:
                    await self.send({"type": "ping", "ts": time.time()})
                    continue
                change = asyncio.ensure_future(
                    wait_for_change(
                        [(log.notifier, version), (ctx.shutdown, stop_version)], ctx.settings.ws_ping_interval - idle
                    )
                )
                await asyncio.wait({receiver, change}, return_when=asyncio.FIRST_COMPLETED)
                if not change.done():
                    change.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await change
        except WebSocketDisconnect:
            return
        finally:
            if not receiver.done():
                receiver.cancel()
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
                    await receiver


async def websocket_endpoint(ctx: AppContext, websocket: WebSocket) -> None:
    """Authenticate the upgrade (401/403 as an HTTP denial), then run the session."""
    request_id = new_request_id()
    headers = websocket.headers
    correlation_id = echo_correlation(headers.get("x-correlation-id"))
    ctx.stats.record(WEBSOCKET_ROUTE, websocket.scope["headers"])
    try:
        decision = ctx.faults.decide(WEBSOCKET_ROUTE, WEBSOCKET_PATH, websocket.url.path)
        if decision is not None and decision.delay:
            await asyncio.sleep(decision.delay)
        if decision is not None and decision.action == "status":
            raise fault_problem(decision)
        if decision is not None and decision.action == "drop":
            await websocket.close(code=1011)
            return
        client = websocket.scope.get("client")
        peer = (str(client[0]), int(client[1])) if client else None
        principal = await ctx.authenticator.authenticate(headers.get("authorization"), peer)
        require_scope(principal, (STREAM_SCOPE,))
        topics = parse_topics(websocket.query_params.get("topics"))
        since_raw = websocket.query_params.get("since")
        if since_raw is not None and not since_raw.isdigit():
            raise ProblemError(
                400,
                "The query parameter `since` must be an event id.",
                errors=[{"path": "query:since", "message": "must be digits"}],
            )
    except ProblemError as error:
        await websocket.send_denial_response(
            problem_response(error, request_id=request_id, correlation_id=correlation_id)
        )
        return
    offered = websocket.scope.get("subprotocols") or []
    accept_headers = [(b"x-request-id", request_id.encode())]
    if correlation_id is not None:
        accept_headers.append((b"x-correlation-id", correlation_id.encode("latin-1")))
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None, headers=accept_headers)
    session = WebSocketSession(ctx, websocket, principal)
    try:
        if decision is not None and decision.action == "malformed":
            await websocket.send_text(decision.body.decode("latin-1"))
        if topics is not None or since_raw is not None:
            await session.subscribe(topics, _since(since_raw), None)
        await session.run()
    except WebSocketDisconnect:
        return
