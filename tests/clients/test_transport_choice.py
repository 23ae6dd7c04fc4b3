"""The transport choice (``ConnectionConfig.transport``, ``KEI_TRANSPORT``) and the aiohttp pool's
life cycle: rules that differ by flavour or need their own process (warnings at interpreter exit)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import kei_agent_async
import kei_agent_sync
from kei_agent import AgentClientConfig, ConfigurationError, ConnectionConfig
from kei_agent.testing import ServerHandle
from kei_agent_async._transport import choose_transport
from kei_agent_sync._transport import choose_transport as choose_sync_transport
from tests.clients.conftest import TOKEN


@pytest.mark.parametrize(
    ("setting", "environ", "http2", "expected"),
    [
        ("auto", {}, False, "aiohttp"),  # the extra is installed here (dev): the faster pool
        ("auto", {}, True, "httpx"),  # aiohttp has no HTTP/2
        ("auto", {"KEI_TRANSPORT": " HTTPX "}, False, "httpx"),
        ("auto", {"KEI_TRANSPORT": "aiohttp"}, False, "aiohttp"),
        ("httpx", {"KEI_TRANSPORT": "aiohttp"}, False, "httpx"),  # an explicit setting wins
        ("aiohttp", {"KEI_TRANSPORT": "httpx"}, False, "aiohttp"),
    ],
)
def test_async_transport_choice(setting: str, environ: dict[str, str], http2: bool, expected: str) -> None:
    connection = ConnectionConfig(transport=setting, http2=http2)
    assert choose_transport(connection, environ) == expected


@pytest.mark.parametrize("setting", ["auto", "httpx", "aiohttp"])
def test_the_sync_client_always_uses_httpx(setting: str) -> None:
    connection = ConnectionConfig(transport=setting)
    assert choose_sync_transport(connection, {"KEI_TRANSPORT": "aiohttp"}) == "httpx"
    assert choose_sync_transport(connection, {"KEI_TRANSPORT": "bogus"}) == "httpx"


def test_unknown_transport_setting_names_the_field() -> None:
    with pytest.raises(ConfigurationError, match=r"connection\.transport.*auto, httpx or aiohttp") as caught:
        AgentClientConfig.from_dict({"base_url": "http://127.0.0.1:1", "connection": {"transport": "curl"}})
    assert "pip install" in str(caught.value)


def test_unknown_kei_transport_names_the_variable(server: ServerHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEI_TRANSPORT", "curl")
    config = AgentClientConfig(base_url=server.base_url, api_token=TOKEN)
    with pytest.raises(ConfigurationError, match=r"KEI_TRANSPORT.*auto, httpx, aiohttp"):
        kei_agent_async.KeiAgentClient(config)
    with kei_agent_sync.KeiAgentClient(config) as client:  # ignored by the sync client
        assert client.health_check()["status"]


def test_aiohttp_with_http2_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=r"HTTP/1\.1 only.*transport='httpx'"):
        choose_transport(ConnectionConfig(transport="aiohttp", http2=True), {})


WITHOUT_EXTRA = """
import sys

sys.modules["httpx_aiohttp"] = None  # as if the extra were not installed: the import fails
from kei_agent import AgentClientConfig, ConfigurationError, ConnectionConfig
from kei_agent_async import KeiAgentClient

url = "http://127.0.0.1:9"
client = KeiAgentClient(AgentClientConfig(base_url=url, api_token="t"))
print("auto:", client.transport)
try:
    KeiAgentClient(AgentClientConfig(base_url=url, api_token="t", connection=ConnectionConfig(transport="aiohttp")))
except ConfigurationError as exc:
    print("aiohttp:", exc)
"""


def test_without_the_extra_auto_is_httpx_and_aiohttp_says_how_to_install_it(tmp_path: Path) -> None:
    script = tmp_path / "without_extra.py"
    script.write_text(WITHOUT_EXTRA, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True)
    assert "auto: httpx" in done.stdout
    assert "connection.transport" in done.stdout
    assert "pip install 'kei-agent-py-sdk[aiohttp]'" in done.stdout


LIFECYCLE = """
import asyncio, gc, sys
from kei_agent import AgentClientConfig, ConnectionConfig
from kei_agent_async import KeiAgentClient

http_url, https_url, ca_file, close = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "close"

async def main():
    clients = []
    for url in (http_url, https_url):
        connection = ConnectionConfig(transport="aiohttp", verify=ca_file)
        client = KeiAgentClient(AgentClientConfig(base_url=url, api_token="%(token)s", connection=connection))
        clients.append(client)
        await asyncio.gather(*(client.plan_task(objective=str(i)) for i in range(8)))
        ack = await client.publish_event("life.cycle", {"i": 1})
        for transport in ("websocket", "sse", "polling"):
            stream = client.stream_events("life.*", since=str(int(ack.event_id) - 1), transport=transport)
            async for event in stream:
                assert event["data"]["i"] == 1
                break
            await stream.close()
    if close:
        for client in clients:
            await client.close()
    print("calls done")

asyncio.run(main())
gc.collect()
"""


@pytest.mark.parametrize("close", [True, False])
def test_aiohttp_pool_leaves_no_unclosed_resources_once_closed(
    server: ServerHandle, tls_server: tuple[ServerHandle, Path], tmp_path: Path, close: bool
) -> None:
    """Calls, WebSocket, SSE and polling streams over http and https, then close: nothing unclosed.

    The same run without ``close()`` is the control: aiohttp reports its session as unclosed."""
    script = tmp_path / "lifecycle.py"
    script.write_text(LIFECYCLE % {"token": TOKEN}, encoding="utf-8")
    tls, ca_file = tls_server
    arguments = [server.base_url, tls.base_url, str(ca_file), "close" if close else "leak"]
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error::ResourceWarning", str(script), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "calls done" in done.stdout, done.stderr
    if close:
        assert done.returncode == 0, done.stderr
        assert "Unclosed" not in done.stderr
        assert "ResourceWarning" not in done.stderr
    else:
        assert "Unclosed client session" in done.stderr
