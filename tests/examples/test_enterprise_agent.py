"""examples/enterprise_agent: the service started as its Dockerfile starts it (``python -m
enterprise_agent`` from the installed wheel, in a clean virtualenv) with the environment its
Kubernetes manifest sets, against the reference server and a real PostgreSQL, probed as the
kubelet probes it; the Dockerfile linted (hadolint) and the manifest validated (kubernetes-validate).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
import yaml

from kei_agent._version import __version__
from kei_agent.testing import Fault, ServerHandle, run_server
from kei_agent.testing.settings import TLSConfig
from tests.support.oidc import AUDIENCE, BASIC_CLIENT, run_oidc_provider
from tests.support.peers import REPO_ROOT, free_port
from tests.support.pki import make_pki
from tests.support.postgres import run_postgres
from tests.support.wheel import WheelInstall

EXAMPLE = REPO_ROOT / "examples" / "enterprise_agent"
DOCKERFILE = EXAMPLE / "Dockerfile"
MANIFEST = EXAMPLE / "kubernetes.yaml"
TOKEN = "enterprise-agent-secret-token"
POD_NAME = "enterprise-agent-5d8f7c9b4-x2k7q"
WAIT = 60.0  # upper bound for a state to be reached (never asserted as a speed)


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found is not None, f"{name} is missing: pip install -e '.[dev]'"
    return found


def manifest() -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(MANIFEST.read_text()) if doc}


def container() -> dict[str, Any]:
    (only,) = manifest()["Deployment"]["spec"]["template"]["spec"]["containers"]
    return only


def dockerfile_instruction(name: str) -> list[str]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return [line.split(None, 1)[1] for line in text.splitlines() if line.startswith(name + " ")]


def exec_form(instruction: str) -> list[str]:
    """The JSON exec form of CMD (or of HEALTHCHECK's CMD)."""
    array = instruction[instruction.index("[") :]
    command: list[str] = json.loads(array)
    return command


def manifest_env(secrets: dict[str, str], **overrides: str) -> dict[str, str]:
    """The container's environment as the kubelet builds it from the manifest."""
    env: dict[str, str] = {}
    for variable in container()["env"]:
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        elif "secretKeyRef" in variable["valueFrom"]:
            env[variable["name"]] = secrets[variable["valueFrom"]["secretKeyRef"]["key"]]
        else:
            assert variable["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
            env[variable["name"]] = POD_NAME
    env.update(overrides)
    return env


class Agent:
    """The service as a process, and the kubelet's view of it."""

    def __init__(self, wheel: WheelInstall, env: dict[str, str], log: Path) -> None:
        self.env = wheel.env(**env)
        self.port = int(env["HEALTH_PORT"])
        self.log_path = log
        self.python = wheel.python
        self._log = log.open("w")
        command = exec_form(dockerfile_instruction("CMD")[0])
        assert command[0] == "python"
        self.process = subprocess.Popen(
            [str(wheel.python), *command[1:]],
            cwd=EXAMPLE,  # the Dockerfile's WORKDIR /app holds the enterprise_agent package
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def get(self, path: str) -> httpx.Response | None:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=10)
        except httpx.TransportError:
            return None

    def wait_for(self, path: str, status: int) -> httpx.Response:
        deadline = time.monotonic() + WAIT
        last = None
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the service exited: {self.output()}"
            last = self.get(path)
            if last is not None and last.status_code == status:
                return last
            time.sleep(0.1)
        raise AssertionError(f"{path} never answered {status}; last: {last and last.text}\n{self.output()}")

    def healthcheck(self) -> int:
        """The Dockerfile's HEALTHCHECK command, run as Docker runs it inside the container."""
        command = exec_form(dockerfile_instruction("HEALTHCHECK")[0])
        proc = subprocess.run(
            [str(self.python), *command[1:]], cwd=EXAMPLE, env=self.env, capture_output=True, timeout=30, check=False
        )
        return proc.returncode

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.output().splitlines() if line.startswith("{")]

    def failed_calls(self) -> list[dict[str, Any]]:
        return [record for record in self.records() if record["message"] == "KEI call failed; retrying"]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(WAIT)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._log.close()


@contextlib.contextmanager
def start_agent(wheel: WheelInstall, env: dict[str, str], log: Path) -> Iterator[Agent]:
    agent = Agent(wheel, env, log)
    try:
        yield agent
    finally:
        agent.stop()


@pytest.fixture
def kei_server() -> Iterator[ServerHandle]:
    with run_server(tokens=[TOKEN]) as server:
        yield server


def agent_env(server: ServerHandle, database_url: str) -> dict[str, str]:
    secrets = {"api-url": server.base_url, "api-token": TOKEN, "database-url": database_url}
    # Only the port (8080 in the manifest, busy on a shared machine) and the pace differ.
    return manifest_env(secrets, HEALTH_PORT=str(free_port()), HEARTBEAT_SECONDS="0.3", DRAIN_SECONDS="1.5")


def registry_status(server: ServerHandle, agent_id: str) -> int:
    url = f"{server.base_url}/api/v1/registry/agents/{agent_id}"
    return httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).status_code


# ---------------------------------------------------------------------------- the service
def test_ready_when_checks_pass_heartbeats_and_drains_on_sigterm(
    wheel_install: WheelInstall, kei_server: ServerHandle, postgres_url: str, tmp_path: Path
) -> None:
    with start_agent(wheel_install, agent_env(kei_server, postgres_url), tmp_path / "agent.log") as agent:
        live = agent.wait_for("/health", 200)
        assert set(live.json()["checks"]) == {"system_memory"}  # liveness: no dependency can restart the pod
        ready = agent.wait_for("/ready", 200).json()
        assert ready["status"] in ("healthy", "degraded")
        assert {name: check["status"] for name, check in ready["checks"].items()} == {
            "kei_api": "healthy",
            "database": "healthy",
            "system_memory": ready["checks"]["system_memory"]["status"],
            "agent": "healthy",
        }
        assert set(ready["checks"]["database"]) == {"status"}  # no internals (hosts, texts) on the probe
        assert kei_server.stats.requests("getRootHealth") >= 1  # the seed's check: <server>/health
        assert registry_status(kei_server, POD_NAME) == 200  # KEI_AGENT_ID from the pod name
        deadline = time.monotonic() + WAIT
        while kei_server.stats.requests("agentHeartbeat") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert kei_server.stats.requests("agentHeartbeat") >= 2
        headers = kei_server.stats.last_headers("agentHeartbeat")
        assert headers is not None
        assert headers["x-agent-id"] == POD_NAME
        assert agent.healthcheck() == 0

        agent.process.send_signal(signal.SIGTERM)
        draining = agent.wait_for("/ready", 503).json()
        assert draining["checks"]["agent"]["status"] == "unhealthy"
        assert agent.process.wait(WAIT) == 0
        assert registry_status(kei_server, POD_NAME) == 404  # deregistered on the way out
        messages = [record["message"] for record in agent.records()]
        assert messages.index("SIGTERM: draining") < messages.index("agent deregistered") < messages.index("stopped")
        first = agent.records()[0]
        assert first["service"] == "enterprise-agent"
        assert first["environment"] == "production"
        assert first["auth"] == "bearer"
        assert TOKEN not in agent.output()
        assert "Traceback" not in agent.output()


def test_readiness_503_when_the_database_stops(
    wheel_install: WheelInstall, kei_server: ServerHandle, tmp_path: Path
) -> None:
    with contextlib.ExitStack() as database:
        database_url = database.enter_context(run_postgres())  # a cluster of its own, to stop
        with start_agent(wheel_install, agent_env(kei_server, database_url), tmp_path / "agent.log") as agent:
            agent.wait_for("/ready", 200)
            database.close()  # PostgreSQL stops (pg_ctl stop) and its data directory is removed
            down = agent.wait_for("/ready", 503).json()
            assert down["status"] == "unhealthy"
            assert down["checks"]["database"]["status"] == "unhealthy"
            assert "error" not in down["checks"]["database"]  # the reason goes to the log, not to anyone asking
            assert down["checks"]["kei_api"]["status"] == "healthy"
            assert "kei-test-password" not in json.dumps(down)  # the URL's password stays out
            live = agent.get("/health")
            assert live is not None
            assert live.status_code == 200  # a database outage makes the pod unready, not restarted
            assert agent.healthcheck() == 0
            assert agent.stop() == 0


def test_not_ready_until_registered(
    wheel_install: WheelInstall, kei_server: ServerHandle, postgres_url: str, tmp_path: Path
) -> None:
    kei_server.faults.add(Fault.status(503, route="registerAgent"))
    with start_agent(wheel_install, agent_env(kei_server, postgres_url), tmp_path / "agent.log") as agent:
        agent.wait_for("/health", 200)
        deadline = time.monotonic() + WAIT
        while not agent.failed_calls() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert agent.failed_calls(), agent.output()
        not_ready = agent.get("/ready")
        assert not_ready is not None
        assert not_ready.status_code == 503
        agent_check = not_ready.json()["checks"]["agent"]
        assert agent_check == {"status": "unhealthy"}
        assert not_ready.json()["checks"]["database"]["status"] == "healthy"
        kei_server.faults.clear()
        agent.wait_for("/ready", 200)
        assert registry_status(kei_server, POD_NAME) == 200
        assert agent.stop() == 0


def test_openid_connect_credentials_from_the_environment(
    wheel_install: WheelInstall, postgres_url: str, tmp_path: Path
) -> None:
    """The manifest's documented OIDC variant: KEI_AUTH_TYPE=oidc and the client from the Secret."""
    pki = make_pki(tmp_path / "pki", trustme.CA())
    (tmp_path / "oidc").mkdir()
    with (
        run_oidc_provider(tmp_path / "oidc", pki.server_cert, pki.server_key, pki.ca_file) as oidc,
        run_server(
            tls=TLSConfig(certfile=pki.server_cert, keyfile=pki.server_key),
            oidc_issuer=oidc.issuer,
            audience=AUDIENCE,
            oidc_ca_file=pki.ca_file,
        ) as server,
    ):
        env = agent_env(server, postgres_url)
        del env["KEI_API_TOKEN"]
        secret = oidc.secrets[BASIC_CLIENT]
        env.update(
            KEI_AUTH_TYPE="oidc",
            KEI_OIDC_ISSUER=oidc.issuer,
            KEI_OIDC_CLIENT_ID=BASIC_CLIENT,
            KEI_OIDC_CLIENT_SECRET=secret,
            KEI_OIDC_AUDIENCE=AUDIENCE,
            KEI_OIDC_SCOPE="kei:registry",
            KEI_VERIFY=str(pki.ca_file),
        )
        with start_agent(wheel_install, env, tmp_path / "agent.log") as agent:
            ready = agent.wait_for("/ready", 200).json()
            assert ready["checks"]["kei_api"]["status"] == "healthy"  # https, verified with KEI_VERIFY
            assert oidc.issued(BASIC_CLIENT) >= 1
            headers = server.stats.last_headers("registerAgent")
            assert headers is not None
            assert headers["x-agent-id"] == POD_NAME
            assert agent.stop() == 0
        assert agent.records()[0]["auth"] == "oidc"
        assert secret not in agent.output()


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        ("DATABASE_URL", "enterprise_agent: DATABASE_URL is not set; set it to postgresql://"),
        ("KEI_API_TOKEN", "api_token: bearer authentication needs a token"),
    ],
)
def test_missing_settings_fail_in_one_line(
    wheel_install: WheelInstall, kei_server: ServerHandle, postgres_url: str, drop: str, message: str
) -> None:
    env = agent_env(kei_server, postgres_url)
    del env[drop]
    command = exec_form(dockerfile_instruction("CMD")[0])
    proc = subprocess.run(
        [str(wheel_install.python), *command[1:]],
        cwd=EXAMPLE,
        env=wheel_install.env(**env),
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "probe endpoints up" not in proc.stdout  # failed before serving anything
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert message in proc.stderr
    assert TOKEN not in proc.stderr


# ---------------------------------------------------------------------------- Dockerfile
def test_dockerfile_passes_hadolint() -> None:
    proc = subprocess.run([_tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_rejects_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN cd /app && pip install kei-agent-py-sdk\n")
    proc = subprocess.run([_tool("hadolint"), str(bad)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0
    assert "DL3006" in proc.stdout  # untagged base image


def test_dockerfile_has_the_seed_shape_and_installs_the_wheel_ci_builds(wheel_install: WheelInstall) -> None:
    (version_arg,) = dockerfile_instruction("ARG")
    assert version_arg == f"KEI_SDK_VERSION={__version__}"
    (copy_wheel,) = [line for line in dockerfile_instruction("COPY") if ".whl" in line]
    source = copy_wheel.split()[0].replace("${KEI_SDK_VERSION}", __version__)
    assert source == f"dist/{wheel_install.wheel.name}"  # what `python -m build` writes
    (install,) = [line for line in dockerfile_instruction("RUN") if "pip install" in line]
    extras = re.search(r"\.whl\[([a-z,]+)\]", install)
    assert extras is not None
    assert set(extras.group(1).split(",")) == {"security", "postgres"}
    assert dockerfile_instruction("EXPOSE") == ["8080"]
    (healthcheck,) = dockerfile_instruction("HEALTHCHECK")
    assert healthcheck.startswith("--interval=30s --timeout=10s --start-period=5s --retries=3")
    assert exec_form(healthcheck)[1:] == ["-m", "enterprise_agent.probe", "/health"]
    assert exec_form(dockerfile_instruction("CMD")[0]) == ["python", "-m", "enterprise_agent"]


# ---------------------------------------------------------------------------- Kubernetes manifest
def test_manifest_is_valid_for_kubernetes() -> None:
    command = [_tool("kubernetes-validate"), "--strict", str(MANIFEST)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "passed for resource deployment/enterprise-agent" in proc.stdout
    assert "passed for resource service/enterprise-agent" in proc.stdout


def test_kubernetes_validate_rejects_a_broken_manifest(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(MANIFEST.read_text().replace("containerPort: 8080", "containerPort: http-port"))
    command = [_tool("kubernetes-validate"), "--strict", str(broken)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode != 0
    assert "containerPort" in proc.stdout + proc.stderr


def test_manifest_has_the_seed_shape() -> None:
    docs = manifest()
    assert set(docs) == {"Deployment", "Service"}
    spec = container()
    env = {variable["name"]: variable for variable in spec["env"]}
    for name in ("KEI_API_URL", "KEI_API_TOKEN", "DATABASE_URL"):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "kei-agent-secrets"
    assert "KEI_AGENT_ID" in env
    assert env["HEALTH_PORT"]["value"] == "8080"
    assert spec["ports"] == [{"name": "http", "containerPort": 8080}]
    assert spec["livenessProbe"]["httpGet"] == {"path": "/health", "port": 8080}
    assert spec["readinessProbe"]["httpGet"] == {"path": "/ready", "port": 8080}
    assert set(spec["resources"]) == {"requests", "limits"}
    assert spec["image"].startswith("enterprise-agent:")
    service = docs["Service"]["spec"]
    assert service["selector"] == docs["Deployment"]["spec"]["selector"]["matchLabels"]
    assert service["ports"][0]["targetPort"] == "http"
    grace = docs["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert float(env["DRAIN_SECONDS"]["value"]) < grace  # the drain ends before the kubelet kills


def test_the_example_is_mypy_strict_clean() -> None:
    cache = REPO_ROOT / ".mypy_cache"  # shared with the repository's own mypy run
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(cache), "enterprise_agent"],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
