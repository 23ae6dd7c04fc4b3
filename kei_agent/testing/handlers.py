"""The operations: one coroutine per operationId, from a validated :class:`Call` to a :class:`Reply`.

Handlers see only validated input (parameters and body match the spec) and build spec-shaped
JSON with plain dicts; they never use the generated client models (the server is an independent
implementation of the contract).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from kei_agent._contract.operations import BUS_OPERATIONS as CONTRACT_BUS_OPERATIONS
from kei_agent._contract.operations import OPERATIONS

from ._util import canonical, format_time, utc_now
from .actions import ActionFailed
from .bus import SubscriptionNotFound
from .context import AppContext, Call, Reply
from .idempotency import KeyConflict
from .mcp import PROMPTS, RESOURCES, ToolError
from .planner import make_steps
from .problems import ProblemError, retry_after_problem
from .registry import AgentExists, AgentNotFound
from .stream import poll_events, publish_once, sse_response

Handler = Callable[[AppContext, Call], Awaitable[Reply]]

#: Operations that handle their Idempotency-Key themselves (the pipeline's generic replay skips them).
SELF_DEDUPLICATING = frozenset({"publishEvent"})
#: Operations whose replayed answer says ``duplicate: true``.
DUPLICATE_FLAG = frozenset({"publishMessage"})

#: busRequest operation name → (handler operationId, request schema), from the spec's ``x-kei-bus``.
BUS_OPERATIONS: dict[str, tuple[str, str]] = {
    name: (op_id, OPERATIONS[op_id].request_schema or "") for name, op_id in CONTRACT_BUS_OPERATIONS.items()
}
_RPC_PATHS = {spec.operation_id: spec.path for spec in OPERATIONS.values()}


def _event(ctx: AppContext, call: Call, topic: str, data: Mapping[str, Any], type_: str | None = None) -> None:
    ctx.state.events.publish(
        topic, data, type_=type_, source_agent_id=call.agent_id, correlation_id=call.correlation_id
    )


# ------------------------------------------------------------------------ rpc
async def plan_task(ctx: AppContext, call: Call) -> Reply:
    body = call.body
    plan_id = ctx.state.ids.next("plan")
    context = body.get("context")
    plan: dict[str, Any] = {
        "plan_id": plan_id,
        "objective": body["objective"],
        "status": "created",
        "steps": make_steps(plan_id, body["objective"], context),
        "created_at": utc_now(),
    }
    if context is not None:
        plan["context"] = context
    ctx.state.plans.put(plan_id, plan)
    ctx.state.plan_progress.put(plan_id, {})
    _event(ctx, call, "plan.created", {"plan_id": plan_id, "objective": plan["objective"], "steps": len(plan["steps"])})
    return Reply(200, plan)


def _step_ids(plan: Mapping[str, Any]) -> list[str]:
    return [str(step["step_id"]) for step in plan["steps"]]


def _check_plan_step(ctx: AppContext, plan_id: str | None, step_id: str | None) -> None:
    if plan_id is None:
        if step_id is not None:
            raise ProblemError(404, f"No plan has the step {step_id} (give its plan_id).")
        return
    plan = ctx.state.plans.get(plan_id)
    if plan is None:
        raise ProblemError(404, f"No plan with id {plan_id}.")
    if step_id is not None and step_id not in _step_ids(plan):
        raise ProblemError(404, f"Plan {plan_id} has no step {step_id}.")


def _record_progress(ctx: AppContext, plan_id: str, step_id: str | None, outcome: str) -> None:
    plan = ctx.state.plans.get(plan_id)
    progress = ctx.state.plan_progress.get(plan_id)
    if plan is None or progress is None:
        return
    if step_id is not None:
        progress[step_id] = outcome
    if "failed" in progress.values():
        status = "failed"
    elif all(progress.get(step) == "completed" for step in _step_ids(plan)):
        status = "completed"
    else:
        status = "in_progress"
    if status != plan["status"]:
        ctx.state.plans.put(plan_id, {**plan, "status": status})


async def execute_action(ctx: AppContext, call: Call) -> Reply:
    body = call.body
    name = body["action"]
    plan_id, step_id = body.get("plan_id"), body.get("step_id")
    function = ctx.state.actions.action(name)
    if function is None:
        known = ", ".join(ctx.state.actions.action_names())
        raise ProblemError(404, f"No action named {name!r}; built-in actions: {known}.")
    _check_plan_step(ctx, plan_id, step_id)
    started = time.time()
    clock = time.perf_counter()
    error: str | None = None
    try:
        result = await function(body.get("parameters") or {})
        status = "completed"
    except ActionFailed as exc:
        result, status, error = {}, "failed", str(exc)
    duration_ms = (time.perf_counter() - clock) * 1000.0
    action_id = ctx.state.ids.next("act")
    doc: dict[str, Any] = {
        "action_id": action_id,
        "action": name,
        "status": status,
        "result": result,
        "started_at": format_time(started),
        "completed_at": utc_now(),
        "duration_ms": round(duration_ms, 3),
    }
    if error is not None:
        doc["error"] = error
    if plan_id is not None:
        doc["plan_id"] = plan_id
        _record_progress(ctx, plan_id, step_id, status)
    if step_id is not None:
        doc["step_id"] = step_id
    ctx.state.action_results.put(action_id, doc)
    event: dict[str, Any] = {
        key: doc[key] for key in ("action_id", "action", "status", "plan_id", "step_id") if key in doc
    }
    _event(ctx, call, f"action.{status}", event)
    return Reply(200, doc)


async def observe_environment(ctx: AppContext, call: Call) -> Reply:
    body = call.body
    observation_id = ctx.state.ids.next("obs")
    doc = {
        "observation_id": observation_id,
        "observation_type": body["observation_type"],
        "data": body.get("data") or {},
        "recorded_at": utc_now(),
    }
    ctx.state.observations.put(observation_id, doc)
    _event(
        ctx,
        call,
        "observation.recorded",
        {"observation_id": observation_id, "observation_type": doc["observation_type"]},
    )
    return Reply(200, doc)


async def explain_reasoning(ctx: AppContext, call: Call) -> Reply:
    body = call.body
    context = body.get("context") or {}
    state = ctx.state
    references: list[dict[str, str]] = []
    sentences: list[str] = []
    confidence = 0.3
    requested_plan = context.get("plan_id")
    plan = state.plans.get(str(requested_plan)) if requested_plan is not None else state.plans.latest()
    if plan is not None:
        plan_id = plan["plan_id"]
        steps = plan["steps"]
        order = "; ".join(f"step {step['step_id']} ({step['description']})" for step in steps[:10])
        sentences.append(
            f"Plan {plan_id} for {plan['objective']!r} has {len(steps)} steps, in dependency order: {order}."
        )
        progress = state.plan_progress.get(plan_id) or {}
        done = [step for step, outcome in progress.items() if outcome == "completed"]
        sentences.append(f"Its status is {plan['status']}; {len(done)} of {len(steps)} steps completed.")
        references.append({"plan_id": plan_id})
        references.extend({"plan_id": plan_id, "step_id": step["step_id"]} for step in steps)
        confidence = 0.9
    elif requested_plan is not None:
        sentences.append(f"No plan with id {requested_plan} is known, so the answer cannot rely on one.")
        confidence = 0.1
    else:
        sentences.append("No plan was created yet; the answer relies on the question alone.")
    for key, store, label in (
        ("action_id", state.action_results, "action"),
        ("observation_id", state.observations, "observation"),
    ):
        record_id = context.get(key)
        record = store.get(str(record_id)) if record_id is not None else None
        if record is not None:
            references.append({key: str(record_id)})
            sentences.append(f"The {label} {record_id} is taken into account.")
    explanation_id = state.ids.next("exp")
    doc = {
        "explanation_id": explanation_id,
        "query": body["query"],
        "explanation": " ".join(sentences),
        "references": references,
        "confidence": confidence,
        "created_at": utc_now(),
    }
    state.explanations.put(explanation_id, doc)
    _event(ctx, call, "explanation.created", {"explanation_id": explanation_id, "references": len(references)})
    return Reply(200, doc)


async def execute_operation(ctx: AppContext, call: Call) -> Reply:
    name = call.params["operation"]
    function = ctx.state.actions.operation(name)
    if function is None:
        raise ProblemError(404, f"No operation named {name!r}.")
    data = (call.body or {}).get("data") or {}
    doc: dict[str, Any] = {"operation_id": ctx.state.ids.next("op"), "operation": name}
    try:
        doc.update(status="completed", result=function(data))
    except Exception as exc:  # a user-registered operation failed: report, do not crash
        doc.update(status="failed", result={}, error=f"{type(exc).__name__}: {exc}")
    doc["completed_at"] = utc_now()
    _event(ctx, call, f"operation.{doc['status']}", {"operation_id": doc["operation_id"], "operation": name})
    return Reply(200, doc)


# ------------------------------------------------------------------- registry
async def register_agent(ctx: AppContext, call: Call) -> Reply:
    try:
        agent = ctx.state.agents.register(call.body, call.tenant_id)
    except AgentExists:
        raise ProblemError(409, f"An agent with id {call.body['agent_id']} exists.") from None
    _event(ctx, call, "agent.registered", {"agent_id": agent["agent_id"]})
    return Reply(201, agent)


async def list_agents(ctx: AppContext, call: Call) -> Reply:
    params = call.params
    page = ctx.state.agents.page(
        params.get("cursor"), int(params.get("limit", 50)), params.get("capability"), params.get("status")
    )
    return Reply(200, page)


def _agent_not_found(agent_id: str) -> ProblemError:
    return ProblemError(404, f"No agent with id {agent_id}.")


async def get_agent(ctx: AppContext, call: Call) -> Reply:
    agent_id = call.params["agent_id"]
    try:
        return Reply(200, ctx.state.agents.get(agent_id))
    except AgentNotFound:
        raise _agent_not_found(agent_id) from None


async def update_agent(ctx: AppContext, call: Call) -> Reply:
    agent_id = call.params["agent_id"]
    try:
        agent = ctx.state.agents.update(agent_id, call.body)
    except AgentNotFound:
        raise _agent_not_found(agent_id) from None
    _event(ctx, call, "agent.updated", {"agent_id": agent_id, "fields": sorted(call.body)})
    return Reply(200, agent)


async def delete_agent(ctx: AppContext, call: Call) -> Reply:
    agent_id = call.params["agent_id"]
    try:
        ctx.state.agents.delete(agent_id)
    except AgentNotFound:
        raise _agent_not_found(agent_id) from None
    _event(ctx, call, "agent.deleted", {"agent_id": agent_id})
    return Reply(204)


async def agent_heartbeat(ctx: AppContext, call: Call) -> Reply:
    agent_id = call.params["agent_id"]
    try:
        ack = ctx.state.agents.heartbeat(agent_id, call.body or {})
    except AgentNotFound:
        raise _agent_not_found(agent_id) from None
    _event(ctx, call, "agent.heartbeat", {"agent_id": agent_id, "status": ack["status"], "ready": ack["ready"]})
    return Reply(200, ack)


# ------------------------------------------------------------------------ bus
async def publish_message(ctx: AppContext, call: Call) -> Reply:
    body = call.body
    message = ctx.state.bus.publish(
        body["subject"],
        body["payload"],
        type_=body.get("type", "message"),
        key=body.get("key"),
        headers=body.get("headers"),
        sender_agent_id=call.agent_id,
    )
    _event(
        ctx,
        call,
        f"bus.{message.subject}",
        {
            "message_id": message.message_id,
            "subject": message.subject,
            "type": message.type,
            "payload": body["payload"],
        },
        type_="bus.message",
    )
    ack = {"message_id": message.message_id, "subject": message.subject, "duplicate": False}
    return Reply(202, {**ack, "published_at": message.published_at})


async def _carried_once(ctx: AppContext, inner: Call, key: Any, path: str) -> Reply:
    """Run an operation the bus carries; under an Idempotency-Key it shares the operation's own
    replay store, so a request already executed over RPC (its answer lost) is not executed again."""
    handler = HANDLERS[inner.operation_id]
    if key is None:
        return await handler(ctx, inner)
    store = ctx.state.idempotency
    agent = inner.agent_id or (inner.principal.subject if inner.principal else "")
    store_key = (inner.operation_id, agent, str(key))
    fingerprint = canonical({"path": path, "body": inner.body})
    try:
        stored = store.begin(store_key, fingerprint)
    except KeyConflict as exc:
        raise ProblemError(409, str(exc)) from None
    if stored is not None:
        return Reply(stored.status, stored.body)
    try:
        reply = await handler(ctx, inner)
    except BaseException:
        store.abandon(store_key)
        raise
    if 200 <= reply.status < 300 and reply.response is None:
        store.finish(store_key, fingerprint, reply.status, reply.body)
    else:
        store.abandon(store_key)
    return reply


async def bus_request(ctx: AppContext, call: Call) -> Reply:
    body = call.body
    operation = body["operation"]
    payload = body["payload"]
    params: dict[str, Any] = {}
    mapped = BUS_OPERATIONS.get(operation)
    if mapped is not None:
        operation_id, schema = mapped
        errors = ctx.validators.check(schema, payload, ("payload",))
        if errors:
            raise ProblemError(
                422, f"{len(errors)} problem(s) in the {operation} payload.", errors=[e.to_dict() for e in errors]
            )
        inner_body: Any = payload
    else:
        operation_id = "executeOperation"
        params["operation"] = operation
        inner_body = {"data": payload}
    inner = Call(operation_id, params, inner_body, call.principal, call.agent_id, call.tenant_id, call.correlation_id)
    timeout = float(body.get("timeout_seconds", 10))
    key = call.params.get("Idempotency-Key")
    path = f"/api/v1/rpc/{operation}" if mapped is None else _RPC_PATHS[operation_id]
    try:
        reply = await asyncio.wait_for(_carried_once(ctx, inner, key, path), timeout)
    except TimeoutError:
        raise retry_after_problem(503, f"No reply to {operation!r} within {timeout:g} s.", 1) from None
    return Reply(
        200,
        {
            "request_id": ctx.state.ids.next("req"),
            "operation": operation,
            "result": reply.body,
            "replied_at": utc_now(),
        },
    )


async def create_subscription(ctx: AppContext, call: Call) -> Reply:
    body = call.body
    subscription = ctx.state.bus.subscribe(
        body["subject"],
        queue=body.get("queue"),
        durable=bool(body.get("durable", False)),
        visibility_timeout=float(body.get("visibility_timeout_seconds", 30)),
    )
    return Reply(201, subscription.to_json())


def _subscription_not_found(subscription_id: str) -> ProblemError:
    return ProblemError(404, f"No subscription with id {subscription_id}.")


async def delete_subscription(ctx: AppContext, call: Call) -> Reply:
    subscription_id = call.params["subscription_id"]
    try:
        ctx.state.bus.unsubscribe(subscription_id)
    except SubscriptionNotFound:
        raise _subscription_not_found(subscription_id) from None
    return Reply(204)


async def poll_subscription(ctx: AppContext, call: Call) -> Reply:
    subscription_id = call.params["subscription_id"]
    body = call.body or {}
    wait = min(float(body.get("wait_seconds", 0)), ctx.settings.max_wait_seconds)
    try:
        messages = await ctx.state.bus.poll(subscription_id, int(body.get("max_messages", 10)), wait, ctx.shutdown)
    except SubscriptionNotFound:
        raise _subscription_not_found(subscription_id) from None
    return Reply(200, {"subscription_id": subscription_id, "messages": messages})


async def ack_messages(ctx: AppContext, call: Call) -> Reply:
    subscription_id = call.params["subscription_id"]
    try:
        return Reply(200, ctx.state.bus.ack(subscription_id, call.body["delivery_ids"]))
    except SubscriptionNotFound:
        raise _subscription_not_found(subscription_id) from None


# ------------------------------------------------------------------------ mcp
async def list_tools(ctx: AppContext, call: Call) -> Reply:
    return Reply(200, {"tools": ctx.state.tools.list(call.params.get("category"))})


def _run_tool(tool: Any, parameters: Any, doc: dict[str, Any]) -> None:
    try:
        doc.update(status="success", result=tool.function(parameters))
    except ToolError as exc:
        doc.update(status="error", error=str(exc))
    except Exception as exc:  # a user-registered tool failed: report, do not crash
        doc.update(status="error", error=f"{type(exc).__name__}: {exc}")


async def execute_tool(ctx: AppContext, call: Call) -> Reply:
    name = call.params["tool_name"]
    tool = ctx.state.tools.get(name)
    if tool is None:
        raise ProblemError(404, f"No tool named {name!r}.")
    parameters = (call.body or {}).get("parameters", {})
    clock = time.perf_counter()
    doc: dict[str, Any] = {"execution_id": ctx.state.ids.next("tool"), "tool_name": name}
    errors = tool.check(parameters)
    if errors:  # MCP: invalid tool input is a tool error (the caller can correct it), not a protocol error
        doc.update(
            status="error",
            error=f"{len(errors)} problem(s) in the parameters of {name}.",
            errors=[e.to_dict() for e in errors],
        )
    else:
        _run_tool(tool, parameters, doc)
    doc["duration_ms"] = round((time.perf_counter() - clock) * 1000.0, 3)
    _event(
        ctx, call, "tool.executed", {"execution_id": doc["execution_id"], "tool_name": name, "status": doc["status"]}
    )
    return Reply(200, doc)


async def list_resources(ctx: AppContext, call: Call) -> Reply:
    return Reply(200, {"resources": [dict(resource) for resource in RESOURCES]})


async def list_prompts(ctx: AppContext, call: Call) -> Reply:
    return Reply(200, {"prompts": [dict(prompt) for prompt in PROMPTS]})


# --------------------------------------------------------------------- stream
async def stream_events(ctx: AppContext, call: Call) -> Reply:
    return Reply(200, response=sse_response(ctx, call))


async def publish_event(ctx: AppContext, call: Call) -> Reply:
    """Deduplicated by Idempotency-Key together with WebSocket ``publish`` frames (same store)."""
    body = call.body
    agent = call.agent_id or (call.principal.subject if call.principal else "")
    try:
        event_id, duplicate = publish_once(
            ctx,
            topic=body["topic"],
            data=body["data"],
            type_=body.get("type"),
            key=call.params.get("Idempotency-Key"),
            agent=agent,
            correlation_id=call.correlation_id,
        )
    except KeyConflict as exc:
        raise ProblemError(409, str(exc)) from None
    return Reply(202, {"event_id": event_id, "topic": body["topic"], "duplicate": duplicate})


async def poll_events_handler(ctx: AppContext, call: Call) -> Reply:
    return Reply(200, await poll_events(ctx, call))


# --------------------------------------------------------------------- health
def _checks(ctx: AppContext) -> dict[str, dict[str, Any]]:
    state = ctx.state
    bus = state.bus.stats()
    return {
        "bus": {"status": "healthy", "message": f"{bus['subscriptions']} subscriptions", "details": bus},
        "registry": {"status": "healthy", "message": f"{len(state.agents)} agents"},
        "stream": {"status": "healthy", "message": f"{len(state.events)} events retained"},
    }


async def get_health(ctx: AppContext, call: Call) -> Reply:
    return Reply(
        200,
        {
            "status": "healthy",
            "version": ctx.settings.server_version,
            "uptime_seconds": round(max(0.0, time.time() - ctx.state.started_at), 3),
            "timestamp": utc_now(),
            "checks": _checks(ctx),
        },
    )


async def get_readiness(ctx: AppContext, call: Call) -> Reply:
    return Reply(200, {"ready": True, "status": "healthy", "timestamp": utc_now(), "checks": _checks(ctx)})


HANDLERS: dict[str, Handler] = {
    "planTask": plan_task,
    "executeAction": execute_action,
    "observeEnvironment": observe_environment,
    "explainReasoning": explain_reasoning,
    "executeOperation": execute_operation,
    "registerAgent": register_agent,
    "listAgents": list_agents,
    "getAgent": get_agent,
    "updateAgent": update_agent,
    "deleteAgent": delete_agent,
    "agentHeartbeat": agent_heartbeat,
    "publishMessage": publish_message,
    "busRequest": bus_request,
    "createSubscription": create_subscription,
    "deleteSubscription": delete_subscription,
    "pollSubscription": poll_subscription,
    "ackMessages": ack_messages,
    "listTools": list_tools,
    "executeTool": execute_tool,
    "listResources": list_resources,
    "listPrompts": list_prompts,
    "streamEvents": stream_events,
    "publishEvent": publish_event,
    "pollEvents": poll_events_handler,
    "getHealth": get_health,
    "getReadiness": get_readiness,
    # The same reports at the root (`/health`, `/ready`), where health checkers look by default.
    "getRootHealth": get_health,
    "getRootReadiness": get_readiness,
}
