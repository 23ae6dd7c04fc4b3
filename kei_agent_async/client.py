"""``KeiAgentClient``: the KEI agent platform's operations over one resilient pipeline."""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from kei_agent._contract.operations import BUS_OPERATIONS
from kei_agent._generated import models
from kei_agent._generated.types import UNSET, Unset
from kei_agent.config import AgentClientConfig, ProtocolConfig, RetryConfig, SecurityConfig
from kei_agent.errors import ConfigurationError, FieldProblem, KeiSDKError
from kei_agent.messaging import agent_inbox_subject
from kei_agent.policies.breaker import CircuitState
from kei_agent.policies.failures import as_protocol
from kei_agent.policies.routing import Protocol
from kei_agent.policies.transports import StreamTransport

from ._audit import AuditTrail
from ._compat import LegacyClientMixin
from ._operations import Operations
from ._pipeline import CallOptions, Pipeline, SharedState
from ._protocols import protocol_state
from ._tls import require_tls_for_credentials
from ._transport import choose_transport, open_pool
from .auth import KeiAuth, build_auth
from .bus import Subscription
from .stream import EventStream

__all__ = ["AgentPager", "KeiAgentClient"]

#: How long ``close()`` lets calls in progress finish before closing the connection pool.
DEFAULT_CLOSE_TIMEOUT = 10.0


def _unset(value: Any) -> Any:
    return UNSET if value is None else value


def _object(model: Any, value: Mapping[str, Any] | None) -> Any:
    return UNSET if value is None else model.from_dict(dict(value))


def _h2_installed() -> bool:
    """Whether HTTP/2 can be used (httpx needs the h2 package: the ``http2`` extra)."""
    try:
        import h2  # noqa: F401
    except ImportError:
        return False
    return True


class KeiAgentClient(LegacyClientMixin):
    """Client of the KEI agent platform API.

    One pooled HTTP connection pool per client, created once; every operation goes through one
    pipeline (auth, headers, retries with backoff, circuit breaker, protocol fallback). Use it as a
    context manager, or call ``close()``::

        async with KeiAgentClient(AgentClientConfig(base_url=..., api_token=...)) as client:
            plan = await client.plan_task(objective="Write a report")
            print(plan["plan_id"])

    Results are the spec's models: typed attributes that also read like mappings.
    """

    def __init__(
        self,
        config: AgentClientConfig,
        protocol_config: ProtocolConfig | None = None,
        security_config: SecurityConfig | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """Create a client; invalid configuration raises ``ConfigurationError`` here, not at first call.

        ``transport`` replaces the network transport (for tests of transport edge cases).
        """
        protocol_config = protocol_config or ProtocolConfig()
        security_config = security_config or SecurityConfig()
        auth = build_auth(config, security_config)
        if auth is not None:
            require_tls_for_credentials(config.base_url, "credentials")
        audit = AuditTrail(config, auth) if security_config.audit_enabled else None
        connection = config.connection
        if connection.http2 and not _h2_installed():
            raise ConfigurationError(
                [FieldProblem("connection.http2", "HTTP/2 needs the h2 package: pip install 'httpx[http2]'")]
            )
        kind = choose_transport(connection)
        http, direct = open_pool(
            config.base_url,
            connection,
            security_config,
            kind=kind,
            transport=transport,
            event_hooks={"request": [audit.on_request], "response": [audit.on_response]} if audit else None,
        )
        self._config = config
        self._transport_kind = kind
        self._protocol_config = protocol_config
        self._security_config = security_config
        self._shared = SharedState(config=config, protocol_config=protocol_config, http=http, direct=direct)
        self._shared.audit = audit
        options = CallOptions(timeout=http.timeout, retry=config.retry)
        self._pipeline = Pipeline(self._shared, options, auth)
        self._auth: KeiAuth | None = auth
        self._owner = True
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    @property
    def config(self) -> AgentClientConfig:
        """The client's configuration."""
        return self._config

    @property
    def transport(self) -> str:
        """Which connection pool carries the calls: ``"httpx"`` (httpcore) or ``"aiohttp"``.

        ``ConnectionConfig.transport`` (or ``KEI_TRANSPORT``) chooses it when the client is created;
        the sync client always reports ``"httpx"``. A ``transport=`` given to the constructor (for
        tests of transport edge cases) replaces the network but not this configured choice.
        """
        return self._transport_kind

    def with_options(
        self,
        *,
        timeout: float | httpx.Timeout | None = None,
        retry: RetryConfig | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> KeiAgentClient:
        """A client with other call settings that shares this client's connection pool and breakers.

        Closing the derived client leaves the pool open; closing the original closes it.
        """
        options = self._pipeline.options
        if timeout is not None:
            new_timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(float(timeout))
        else:
            new_timeout = options.timeout
        derived = object.__new__(type(self))
        derived._config = self._config
        derived._transport_kind = self._transport_kind
        derived._protocol_config = self._protocol_config
        derived._security_config = self._security_config
        derived._shared = self._shared
        derived._auth = self._auth
        derived._pipeline = Pipeline(
            self._shared,
            CallOptions(
                timeout=new_timeout,
                retry=retry or options.retry,
                headers={**options.headers, **(headers or {})},
            ),
            self._auth,
        )
        derived._owner = False
        derived._closed = False
        return derived

    async def close(self, timeout: float = DEFAULT_CLOSE_TIMEOUT) -> None:
        """Close the client; idempotent.

        Calls in progress may finish for up to ``timeout`` seconds; then the connection pool is
        closed and whatever is still running fails with ``APIConnectionError``.
        """
        if self._closed:
            return
        self._closed = True
        if not self._owner:
            return
        await self._close_protocols(timeout)  # streams and subscriptions first (they still call)
        self._shared.closed = True
        await self._shared.inflight.wait_idle(timeout)
        if self._auth is not None:
            self._auth.close()
        await self._shared.http.aclose()

    @property
    def operations(self) -> Operations:
        """Every operation of the spec as a typed method, through this client's full engine.

        ``client.operations.plan_task(body={"objective": "..."})``; per call ``timeout=``,
        ``extra_headers=``, ``idempotency_key=`` and ``protocol=``;
        ``client.operations.with_raw_response.<operation>(...)`` adds status, headers, request id
        and retries to the parsed model. Operations added to the spec appear here after
        ``python -m generator``.
        """
        return Operations(self._pipeline)

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._closed

    async def __aenter__(self) -> KeiAgentClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"KeiAgentClient(base_url={self._config.base_url!r}, agent_id={self._config.agent_id!r})"

    def circuit_state(self, protocol: str | Protocol = Protocol.RPC) -> CircuitState:
        """State of the circuit breaker for (this base URL, ``protocol``)."""
        return self._shared.circuit_state(as_protocol(protocol) or Protocol.RPC)

    @property
    def protocol_downgrades(self) -> Mapping[Protocol, float]:
        """Protocols currently downgraded by fallback, with the monotonic time they are retried again."""
        return dict(self._shared.router.downgrades)

    async def _call(
        self,
        operation_id: str,
        arguments: Mapping[str, Any],
        *,
        protocol: str | Protocol | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        if self._closed:
            raise KeiSDKError("the client is closed: create a new KeiAgentClient")
        return await self._pipeline.call(operation_id, arguments, protocol=protocol, idempotency_key=idempotency_key)

    # ---------------------------------------------------------------- operations

    async def plan_task(
        self,
        objective: str,
        context: Mapping[str, Any] | None = None,
        protocol: str | Protocol | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> models.PlanResponse:
        """Create a plan for ``objective``; the plan's steps can be executed with ``execute_action``."""
        body = models.PlanRequest(objective=objective, context=_object(models.PlanRequestContext, context))
        result: models.PlanResponse = await self._call(
            "planTask", {"body": body}, protocol=protocol, idempotency_key=idempotency_key
        )
        return result

    async def execute_action(
        self,
        action: str,
        parameters: Mapping[str, Any] | None = None,
        protocol: str | Protocol | None = None,
        *,
        plan_id: str | None = None,
        step_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> models.ActionResult:
        """Execute ``action`` with ``parameters``, optionally as a step of a plan."""
        body = models.ActionRequest(
            action=action,
            parameters=_object(models.ActionRequestParameters, parameters),
            plan_id=_unset(plan_id),
            step_id=_unset(step_id),
        )
        result: models.ActionResult = await self._call(
            "executeAction", {"body": body}, protocol=protocol, idempotency_key=idempotency_key
        )
        return result

    async def observe_environment(
        self,
        observation_type: str,
        data: Mapping[str, Any] | None = None,
        protocol: str | Protocol | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> models.Observation:
        """Record an observation of the environment."""
        body = models.ObserveRequest(observation_type=observation_type, data=_object(models.ObserveRequestData, data))
        result: models.Observation = await self._call(
            "observeEnvironment", {"body": body}, protocol=protocol, idempotency_key=idempotency_key
        )
        return result

    async def explain_reasoning(
        self,
        query: str,
        context: Mapping[str, Any] | None = None,
        protocol: str | Protocol | None = None,
    ) -> models.Explanation:
        """Ask why the agent did something; the explanation references plan and step ids."""
        body = models.ExplainRequest(query=query, context=_object(models.ExplainRequestContext, context))
        result: models.Explanation = await self._call("explainReasoning", {"body": body}, protocol=protocol)
        return result

    async def execute_agent_operation(
        self,
        operation: str,
        data: Mapping[str, Any] | None = None,
        protocol: str | Protocol | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Any:
        """Run an operation by name.

        ``plan``, ``act``, ``observe`` and ``explain`` take the fields of ``plan_task``,
        ``execute_action``, ``observe_environment`` and ``explain_reasoning`` in ``data``; any other
        name runs a custom operation with ``data`` as its input and returns an ``OperationResult``.
        With ``protocol=Protocol.STREAM``, ``subscribe`` and ``publish`` run on the event stream;
        other operations are refused with the protocols the contract allows for them.
        """
        data = dict(data or {})
        if as_protocol(protocol) is Protocol.STREAM:
            return await self._execute_on_stream(operation, data)
        operation_id = BUS_OPERATIONS.get(operation)
        if operation_id is not None:  # plan, act, observe, explain: the spec's x-kei-bus names
            return await self._call(operation_id, {"body": data}, protocol=protocol, idempotency_key=idempotency_key)
        body = models.OperationRequest(data=models.OperationRequestData.from_dict(data))
        return await self._call(
            "executeOperation",
            {"operation": operation, "body": body},
            protocol=protocol,
            idempotency_key=idempotency_key,
        )

    async def health_check(self) -> models.HealthReport:
        """The server's liveness and component health (no authentication needed)."""
        result: models.HealthReport = await self._call("getHealth", {})
        return result

    async def readiness_check(self) -> models.ReadinessReport:
        """Whether the server is ready for traffic (no authentication needed)."""
        result: models.ReadinessReport = await self._call("getReadiness", {})
        return result

    async def register_agent(
        self,
        name: str,
        version: str | None = None,
        description: str | None = None,
        capabilities: Sequence[str] | None = (),
        *,
        agent_id: str | None = None,
        endpoint: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> models.Agent:
        """Register an agent (by default this client's ``agent_id``); an existing id raises ``ConflictError``."""
        body = models.AgentRegistration(
            agent_id=self._config.agent_id if agent_id is None else agent_id,
            name=name,
            description=_unset(description),
            capabilities=list(capabilities or ()),
            version=_unset(version),
            endpoint=_unset(endpoint),
            metadata=_object(models.AgentRegistrationMetadata, metadata),
        )
        result: models.Agent = await self._call("registerAgent", {"body": body}, idempotency_key=idempotency_key)
        return result

    async def get_agent(self, agent_id: str) -> models.Agent:
        """One agent by id; an unknown id raises ``NotFoundError``."""
        result: models.Agent = await self._call("getAgent", {"agent_id": agent_id})
        return result

    def list_agents(
        self,
        *,
        capability: str | None = None,
        status: str | models.AgentStatus | None = None,
        page_size: int = 50,
    ) -> AgentPager:
        """Every agent (optionally filtered), fetched page by page as you iterate."""
        return AgentPager(self, capability=capability, status=status, page_size=page_size)

    async def update_agent(
        self,
        agent_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        capabilities: Sequence[str] | None = None,
        version: str | None = None,
        endpoint: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> models.Agent:
        """Change the given fields of an agent's registration; the others keep their value."""
        body = models.AgentUpdate(
            name=_unset(name),
            description=_unset(description),
            capabilities=UNSET if capabilities is None else list(capabilities),
            version=_unset(version),
            endpoint=_unset(endpoint),
            metadata=_object(models.AgentUpdateMetadata, metadata),
        )
        result: models.Agent = await self._call("updateAgent", {"agent_id": agent_id, "body": body})
        return result

    async def delete_agent(self, agent_id: str) -> None:
        """Delete an agent; an unknown id raises ``NotFoundError``."""
        await self._call("deleteAgent", {"agent_id": agent_id})

    async def heartbeat(
        self,
        agent_id: str | None = None,
        *,
        status: str | models.HeartbeatStatus | None = None,
        load: float | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> models.HeartbeatAck:
        """Report liveness and readiness of an agent (by default this client's ``agent_id``)."""
        body = models.Heartbeat(
            status=UNSET if status is None else models.HeartbeatStatus(status),
            load=_unset(load),
            metrics=_object(models.HeartbeatMetrics, metrics),
        )
        result: models.HeartbeatAck = await self._call(
            "agentHeartbeat", {"agent_id": self._config.agent_id if agent_id is None else agent_id, "body": body}
        )
        return result

    # ============================================================ bus, MCP and stream (protocols)
    # Thin methods over bus.py, mcp.py and stream.py; every HTTP call goes through the pipeline.

    async def publish(
        self,
        subject: str,
        payload: Mapping[str, Any],
        *,
        type: str = "message",
        key: str | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> models.PublishAck:
        """Publish a message to a bus ``subject``; returns its ``message_id``.

        One ``Idempotency-Key`` (``idempotency_key``, else a new one) is sent on every retry, so a
        retried publish is never delivered twice (the repeat answers ``duplicate=True``).
        """
        body = models.PublishRequest(
            subject=subject,
            payload=models.PublishRequestPayload.from_dict(dict(payload)),
            type_=type,
            key=_unset(key),
            headers=_object(models.PublishRequestHeaders, headers),
        )
        result: models.PublishAck = await self._call(
            "publishMessage", {"body": body}, idempotency_key=idempotency_key or uuid.uuid4().hex
        )
        return result

    async def send_agent_message(
        self,
        target_agent: str,
        message_type: str,
        payload: Mapping[str, Any],
        *,
        key: str | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> models.PublishAck:
        """Send a message to another agent's inbox (the bus subject ``agent_inbox_subject(target_agent)``).

        The receiver reads it with ``subscribe_agent_messages()``; the sender is its ``sender_agent_id``.
        """
        return await self.publish(
            agent_inbox_subject(target_agent),
            payload,
            type=message_type,
            key=key,
            headers={"kei-target-agent": target_agent, **(headers or {})},
            idempotency_key=idempotency_key,
        )

    async def subscribe(
        self,
        subject: str,
        queue: str | None = None,
        durable: bool = False,
        *,
        visibility_timeout: float = 30.0,
        wait: float = 5.0,
        max_messages: int = 10,
    ) -> Subscription:
        """Subscribe to a bus subject (``*`` matches one token, a final ``>`` the rest).

        Subscriptions sharing a ``queue`` name share its messages; a ``durable`` one keeps them
        while nobody polls and outlives ``close()``. A leased message not acknowledged within
        ``visibility_timeout`` seconds is delivered again. ``wait`` is the long-poll wait and
        ``max_messages`` the batch size of ``poll()``, iteration and ``consume()``.
        """
        body = models.SubscriptionRequest(
            subject=subject, queue=_unset(queue), durable=durable, visibility_timeout_seconds=visibility_timeout
        )
        info: models.Subscription = await self._call("createSubscription", {"body": body})
        subscription = Subscription(self, info, wait=wait, max_messages=max_messages)
        protocol_state(self._shared).add(subscription)
        return subscription

    async def subscribe_agent_messages(
        self,
        *,
        queue: str | None = None,
        durable: bool = True,
        visibility_timeout: float = 30.0,
        wait: float = 5.0,
        max_messages: int = 10,
    ) -> Subscription:
        """Subscribe to this client's agent inbox (what ``send_agent_message`` sends to it)."""
        return await self.subscribe(
            agent_inbox_subject(self._config.agent_id),
            queue,
            durable,
            visibility_timeout=visibility_timeout,
            wait=wait,
            max_messages=max_messages,
        )

    async def discover_available_tools(self, category: str | None = None) -> list[models.ToolDescriptor]:
        """The MCP tools (optionally of one ``category``) with their JSON-schema ``parameters``."""
        tools: models.ToolList = await self._call("listTools", {"category": _unset(category)})
        protocol_state(self._shared).tools.update(tools.tools)
        return list(tools.tools)

    async def use_tool(self, tool_name: str, /, **parameters: Any) -> models.ToolResult:
        """Run an MCP tool; ``parameters`` are checked against its schema first (``ValidationError``).

        The tool's schema comes from ``discover_available_tools`` (looked up once when unknown).
        A tool that fails reports ``status="error"`` with its ``error``.
        """
        catalog = protocol_state(self._shared).tools
        if catalog.get(tool_name) is None:
            await self.discover_available_tools()
        catalog.validate(tool_name, parameters)
        body = models.ToolExecutionRequest(parameters=models.ToolExecutionRequestParameters.from_dict(parameters))
        result: models.ToolResult = await self._call("executeTool", {"tool_name": tool_name, "body": body})
        return result

    async def list_resources(self) -> list[models.Resource]:
        """The MCP resources."""
        resources: models.ResourceList = await self._call("listResources", {})
        return list(resources.resources)

    async def list_prompts(self) -> list[models.Prompt]:
        """The MCP prompts with their arguments."""
        prompts: models.PromptList = await self._call("listPrompts", {})
        return list(prompts.prompts)

    def stream_events(
        self,
        topics: Sequence[str] | str | None = None,
        since: str | None = None,
        *,
        transport: StreamTransport | str | None = None,
        keepalive: float = 20.0,
        poll_wait: float = 10.0,
    ) -> EventStream:
        """The events of ``topics`` (none: every event this agent may see) after event ``since``
        (none: from now on), as an iterator of ``StreamEvent`` models.

        WebSocket first, then Server-Sent Events, then polling (``transport`` forces one); a lost
        connection is re-opened and resumed after the last event, without gap or duplicate.
        ``keepalive`` is the idle time before a WebSocket ping, ``poll_wait`` the long-poll wait.
        """
        if self._closed:
            raise KeiSDKError("the client is closed: create a new KeiAgentClient")
        return EventStream(
            self,
            [topics] if isinstance(topics, str) else topics,
            since,
            transport=transport,
            keepalive=keepalive,
            poll_wait=poll_wait,
        )

    async def publish_event(
        self,
        topic: str,
        data: Mapping[str, Any],
        *,
        type: str | None = None,
        idempotency_key: str | None = None,
    ) -> models.EventPublishAck:
        """Publish an event to a stream ``topic`` (the same key on every retry: never published twice)."""
        body = models.EventPublishRequest(
            topic=topic, data=models.EventPublishRequestData.from_dict(dict(data)), type_=_unset(type)
        )
        result: models.EventPublishAck = await self._call(
            "publishEvent", {"body": body}, idempotency_key=idempotency_key or uuid.uuid4().hex
        )
        return result

    @property
    def stream_downgrades(self) -> Mapping[StreamTransport, float]:
        """Event-stream transports currently downgraded (WebSocket → SSE → polling), with the
        monotonic time they are tried first again."""
        return protocol_state(self._shared).ladder.downgrades

    async def _close_protocols(self, timeout: float) -> None:
        """Stop consumers and delete non-durable subscriptions, close event streams (client close)."""
        for resource in protocol_state(self._shared).take_all():
            await resource.close()


class AgentPager:
    """Iterates over every agent, fetching pages of ``page_size`` with the server's cursor."""

    def __init__(
        self,
        client: KeiAgentClient,
        *,
        capability: str | None,
        status: str | models.AgentStatus | None,
        page_size: int,
    ) -> None:
        self._client = client
        self._arguments: dict[str, Any] = {"limit": page_size}
        if capability is not None:
            self._arguments["capability"] = capability
        if status is not None:
            self._arguments["status"] = models.AgentStatus(status)
        self._buffer: deque[models.Agent] = deque()
        self._cursor: str | Unset = UNSET
        self._done = False
        self.pages_fetched = 0

    def __repr__(self) -> str:
        """The query and the progress, e.g. ``AgentPager(limit=50, pages_fetched=0)`` (iterate to fetch)."""
        query = [f"{key}={getattr(value, 'value', value)!r}" for key, value in self._arguments.items()]
        return f"{type(self).__name__}({', '.join([*query, f'pages_fetched={self.pages_fetched}'])})"

    def __aiter__(self) -> AgentPager:
        return self

    async def __anext__(self) -> models.Agent:
        while not self._buffer:
            if self._done:
                raise StopAsyncIteration
            page: models.AgentPage = await self._client._call("listAgents", {**self._arguments, "cursor": self._cursor})
            self.pages_fetched += 1
            self._buffer.extend(page.items)
            if isinstance(page.next_cursor, str) and page.next_cursor:
                self._cursor = page.next_cursor
            else:
                self._done = True
        return self._buffer.popleft()
