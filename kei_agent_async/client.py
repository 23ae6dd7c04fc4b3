"""``KeiAgentClient``: the KEI agent platform's operations over one resilient pipeline."""

from __future__ import annotations

import importlib.util
import ssl
from collections import deque
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from kei_agent._generated import models
from kei_agent._generated.types import UNSET, Unset
from kei_agent.config import AgentClientConfig, AuthType, ProtocolConfig, RetryConfig, SecurityConfig
from kei_agent.errors import ConfigurationError, FieldProblem, KeiSDKError, ProtocolError
from kei_agent.policies.breaker import CircuitState
from kei_agent.policies.routing import Protocol
from kei_agent.secrets import Secret

from ._pipeline import CallOptions, Pipeline, SharedState

__all__ = ["AgentPager", "KeiAgentClient"]

#: How long ``close()`` lets calls in progress finish before closing the connection pool.
DEFAULT_CLOSE_TIMEOUT = 10.0


class _BearerAuth(httpx.Auth):
    """Adds ``Authorization: Bearer <token>``; the token never appears in a repr."""

    def __init__(self, token: Secret) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Any:
        request.headers["Authorization"] = f"Bearer {self._token.reveal()}"
        yield request

    def __repr__(self) -> str:
        return "_BearerAuth(token=********)"


def _unset(value: Any) -> Any:
    return UNSET if value is None else value


def _object(model: Any, value: Mapping[str, Any] | None) -> Any:
    return UNSET if value is None else model.from_dict(dict(value))


def _protocol(value: str | Protocol | None) -> Protocol | None:
    if value is None or isinstance(value, Protocol):
        return value
    try:
        return Protocol(value)
    except ValueError:
        allowed = ", ".join(p.value for p in Protocol)
        raise ProtocolError(f"unknown protocol {value!r}: use one of {allowed}") from None


def _ssl_context(config: AgentClientConfig, security: SecurityConfig) -> ssl.SSLContext | bool | str:
    verify = config.connection.verify
    if security.auth_type is not AuthType.MTLS:
        return verify
    problems = []
    if not security.mtls_cert_path:
        problems.append(FieldProblem("security.mtls_cert_path", "required for auth_type mtls"))
    if not security.mtls_key_path:
        problems.append(FieldProblem("security.mtls_key_path", "required for auth_type mtls"))
    if problems:
        raise ConfigurationError(problems)
    cafile = security.mtls_ca_path or (verify if isinstance(verify, str) else None)
    context = ssl.create_default_context(cafile=cafile)
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(str(security.mtls_cert_path), str(security.mtls_key_path))
    return context


def _auth(config: AgentClientConfig, security: SecurityConfig) -> httpx.Auth | None:
    if security.auth_type is AuthType.NONE:
        return None
    token = security.api_token or config.api_token
    if security.auth_type is AuthType.OIDC:
        raise ConfigurationError(
            [FieldProblem("security.auth_type", "oidc is not available in this release: use bearer or mtls")]
        )
    if token is None:
        if security.auth_type is AuthType.MTLS:
            return None
        raise ConfigurationError(
            [FieldProblem("api_token", "bearer authentication needs a token: set api_token or KEI_API_TOKEN")]
        )
    return _BearerAuth(token)


class KeiAgentClient:
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
        auth = _auth(config, security_config)
        verify = _ssl_context(config, security_config)
        connection = config.connection
        if connection.http2 and importlib.util.find_spec("h2") is None:
            raise ConfigurationError(
                [FieldProblem("connection.http2", "HTTP/2 needs the h2 package: pip install 'httpx[http2]'")]
            )
        http = httpx.AsyncClient(
            base_url=config.base_url,
            timeout=httpx.Timeout(connection.timeout, connect=connection.connect_timeout),
            limits=httpx.Limits(
                max_connections=connection.max_connections,
                max_keepalive_connections=connection.max_keepalive_connections,
                keepalive_expiry=connection.keepalive_expiry,
            ),
            http2=connection.http2,
            verify=verify,
            follow_redirects=False,
            transport=transport,
        )
        self._config = config
        self._protocol_config = protocol_config
        self._security_config = security_config
        self._shared = SharedState(config=config, protocol_config=protocol_config, http=http)
        options = CallOptions(timeout=http.timeout, retry=config.retry)
        self._pipeline = Pipeline(self._shared, options, auth)
        self._auth = auth
        self._owner = True
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    @property
    def config(self) -> AgentClientConfig:
        """The client's configuration."""
        return self._config

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
        self._shared.closed = True
        await self._shared.inflight.wait_idle(timeout)
        await self._shared.http.aclose()

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
        return self._shared.circuit_state(_protocol(protocol) or Protocol.RPC)

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
        return await self._pipeline.call(
            operation_id, arguments, protocol=_protocol(protocol), idempotency_key=idempotency_key
        )

    # ---------------------------------------------------------------- operations

    async def plan_task(
        self,
        objective: str,
        context: Mapping[str, Any] | None = None,
        *,
        protocol: str | Protocol | None = None,
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
        *,
        plan_id: str | None = None,
        step_id: str | None = None,
        protocol: str | Protocol | None = None,
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
        *,
        protocol: str | Protocol | None = None,
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
        *,
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
        """
        data = dict(data or {})
        if operation == "plan":
            return await self.plan_task(
                data.pop("objective", ""), data.pop("context", None), protocol=protocol, idempotency_key=idempotency_key
            )
        if operation == "act":
            return await self.execute_action(
                data.pop("action", ""),
                data.pop("parameters", None),
                plan_id=data.pop("plan_id", None),
                step_id=data.pop("step_id", None),
                protocol=protocol,
                idempotency_key=idempotency_key,
            )
        if operation == "observe":
            return await self.observe_environment(
                data.pop("observation_type", ""),
                data.pop("data", None),
                protocol=protocol,
                idempotency_key=idempotency_key,
            )
        if operation == "explain":
            return await self.explain_reasoning(data.pop("query", ""), data.pop("context", None), protocol=protocol)
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
        *,
        agent_id: str | None = None,
        description: str | None = None,
        capabilities: Sequence[str] = (),
        version: str | None = None,
        endpoint: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> models.Agent:
        """Register an agent (by default this client's ``agent_id``); an existing id raises ``ConflictError``."""
        body = models.AgentRegistration(
            agent_id=agent_id or self._config.agent_id,
            name=name,
            description=_unset(description),
            capabilities=list(capabilities),
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
            "agentHeartbeat", {"agent_id": agent_id or self._config.agent_id, "body": body}
        )
        return result


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
