"""The service: quick setup, health monitoring, registry membership, probes and a graceful drain.

Lifecycle::

    start    logging → settings → probe endpoints up (liveness answers at once)
    ready    KEI API /health, database and memory checks pass and the agent is registered
    work     a heartbeat every HEARTBEAT_SECONDS (a failed call is logged, then retried)
    SIGTERM  readiness turns 503 ("draining"), the current call finishes, the agent deregisters,
             the probes stay up DRAIN_SECONDS in all, then the process exits 0
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from typing import Any

from kei_agent import (
    APIHealthCheck,
    ConfigurationError,
    ConflictError,
    CustomHealthCheck,
    DatabaseHealthCheck,
    HealthStatus,
    KeiSDKError,
    LogContext,
    MemoryHealthCheck,
    NotFoundError,
    UnifiedKeiAgentClient,
    configure_logging,
    get_health_manager,
    get_logger,
)

from . import __version__
from .settings import Settings, SettingsError, load

SERVICE = "enterprise-agent"
logger = get_logger(SERVICE)


class AgentState:
    """What readiness needs beyond the health checks: registered, not draining."""

    def __init__(self) -> None:
        self.registered = False
        self.draining = False
        self.last_error: str | None = None

    def check(self) -> tuple[HealthStatus, str]:
        if self.draining:
            return HealthStatus.UNHEALTHY, "draining: shutting down after SIGTERM"
        if not self.registered:
            reason = f" ({self.last_error})" if self.last_error else ""
            return HealthStatus.UNHEALTHY, f"not registered with the KEI registry yet{reason}"
        return HealthStatus.HEALTHY, "registered"


def register_checks(settings: Settings, state: AgentState) -> Any:
    """The seed's health monitoring: KEI API, database, memory, plus the agent's own state."""
    health = get_health_manager()
    base_url = settings.agent.base_url.rstrip("/")
    health.register_check(
        APIHealthCheck(
            name="kei_api",
            url=f"{base_url}/health",
            timeout_seconds=5,
            verify=settings.agent.connection.verify,  # KEI_VERIFY: a private CA bundle, like the client's
        )
    )
    health.register_check(
        DatabaseHealthCheck(
            name="database",
            connection_string=settings.database_url,
            critical=True,
            query="SELECT 1",
            timeout_seconds=5,
        )
    )
    # Liveness runs only this one: a database or KEI outage makes the pod unready, not restarted.
    health.register_check(
        MemoryHealthCheck(name="system_memory", warning_threshold=0.8, critical_threshold=0.95, liveness=True)
    )
    health.register_check(CustomHealthCheck(name="agent", check=state.check, critical=True, timeout_seconds=1))
    return health


async def work(client: UnifiedKeiAgentClient, settings: Settings, state: AgentState, stop: asyncio.Event) -> None:
    """Register, then heartbeat until ``stop``; failures are logged and retried next round."""
    agent_id = settings.agent_id
    while not stop.is_set():
        try:
            if not state.registered:
                try:
                    await client.register_agent(
                        name=f"Enterprise agent {agent_id}",
                        agent_id=agent_id,
                        capabilities=["plan", "act", "observe", "explain"],
                        version=__version__,
                    )
                except ConflictError:
                    logger.info("agent already registered; taking over its entry", agent_id=agent_id)
                state.registered, state.last_error = True, None
                logger.info("agent registered", agent_id=agent_id)
            else:
                ack = await client.heartbeat(agent_id, status="ready", load=0.0)
                logger.info("heartbeat sent", agent_id=agent_id, agent_status=str(ack.status))
        except NotFoundError:
            state.registered = False  # the registry forgot us (restart): register again
            logger.warning("agent unknown to the registry; registering again", agent_id=agent_id)
            continue
        except KeiSDKError as exc:
            state.last_error = str(exc).splitlines()[0]
            logger.warning("KEI call failed; retrying", error=state.last_error, retry_in_s=settings.heartbeat_seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.heartbeat_seconds)


async def run(settings: Settings) -> int:
    # The client first: it checks the credentials settings (a token, or the OIDC client) at once.
    client = UnifiedKeiAgentClient(config=settings.agent, security_config=settings.security)
    state = AgentState()
    health = register_checks(settings, state)
    async with client:
        probes = await health.serve(host=settings.health_host, port=settings.health_port)
        logger.info("probe endpoints up", url=probes.url, liveness="/health", readiness="/ready")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        try:
            worker = asyncio.create_task(work(client, settings, state, stop))
            await stop.wait()
            stopping_since = time.monotonic()
            state.draining = True
            logger.info("SIGTERM: draining", drain_seconds=settings.drain_seconds)
            await asyncio.wait_for(worker, timeout=max(settings.drain_seconds, 1.0))
            if state.registered:
                with contextlib.suppress(KeiSDKError):
                    await client.delete_agent(settings.agent_id)
                    logger.info("agent deregistered", agent_id=settings.agent_id)
            # Keep answering "not ready" until the load balancers have noticed.
            await asyncio.sleep(max(0.0, settings.drain_seconds - (time.monotonic() - stopping_since)))
        finally:
            await probes.close()
    logger.info("stopped")
    return 0


def main() -> int:
    try:
        settings = load()
    except (SettingsError, ConfigurationError) as exc:
        print(f"enterprise_agent: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    configure_logging(
        level=settings.log_level,
        enable_structured=True,  # one JSON object per line, for the cluster's log collector
        stream=sys.stdout,
        extra_fields={"service": SERVICE, "environment": settings.environment, "version": __version__},
    )
    logger.set_context(LogContext(agent_id=settings.agent_id, component=SERVICE, environment=settings.environment))
    logger.info("starting", kei_api=settings.agent.base_url, auth=settings.security.auth_type.value)
    try:
        return asyncio.run(run(settings))
    except ConfigurationError as exc:  # e.g. bearer without KEI_API_TOKEN, OIDC without a client id
        print(f"enterprise_agent: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
