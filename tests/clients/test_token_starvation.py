"""Async flavour only: hanging token fetches must not starve the application's default executor.

Blocking token requests run on the SDK's own daemon workers; ``asyncio.to_thread`` in the
application keeps working while many clients wait for a token endpoint that never answers, and
every call still ends at its deadline.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import trustme

from kei_agent import AgentClientConfig, APITimeoutError, AuthType, ConnectionConfig, RetryConfig, SecurityConfig
from kei_agent.testing import ServerHandle
from kei_agent_async import KeiAgentClient
from tests.support.hostile_peers import run_hostile, stall

DEADLINE = 2.0


def test_stalled_token_fetches_leave_the_default_executor_to_the_application(
    tls_server: tuple[ServerHandle, Path], tls_ca: trustme.CA
) -> None:
    server, ca_file = tls_server
    default_workers = min(32, (os.cpu_count() or 1) + 4)  # asyncio's default executor size
    clients = default_workers + 2

    async def main(token_url: str) -> tuple[bool, list[BaseException | object], float]:
        config = AgentClientConfig(
            server.base_url,
            retry=RetryConfig(max_attempts=3, base_delay=0.01, max_delay=0.05, deadline=DEADLINE),
            connection=ConnectionConfig(verify=str(ca_file), timeout=30.0, connect_timeout=5.0),
        )
        security = SecurityConfig(
            auth_type=AuthType.OIDC,
            oidc_token_url=token_url,
            oidc_client_id="kei-stalled",
            oidc_client_secret="canary-stalled-secret",
        )
        instances = [KeiAgentClient(config, security_config=security) for _ in range(clients)]
        started = time.monotonic()
        calls = [asyncio.ensure_future(client.plan_task(objective="never sent")) for client in instances]
        await asyncio.sleep(0.5)  # every client is now waiting for its token
        await asyncio.gather(*(asyncio.to_thread(lambda: None) for _ in range(default_workers * 2)))
        calls_pending_when_app_threads_ran = not any(call.done() for call in calls)
        results = await asyncio.gather(*calls, return_exceptions=True)
        elapsed = time.monotonic() - started
        for client in instances:
            await client.close()
        return calls_pending_when_app_threads_ran, results, elapsed

    with run_hostile(stall(trickle=False), ca=tls_ca) as endpoint:
        pending, results, elapsed = asyncio.run(main(f"{endpoint.origin}/token"))
    assert pending, "the application's to_thread calls waited for the token fetches"
    assert all(isinstance(result, APITimeoutError) for result in results), results
    assert elapsed < DEADLINE + 1.0, f"the calls took {elapsed:.2f}s against a {DEADLINE}s deadline"
    assert endpoint.connections >= clients
    assert server.stats.requests() == 0
