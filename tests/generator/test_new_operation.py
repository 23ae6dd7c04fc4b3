"""A team adds an operation to the spec, regenerates, and calls it through both clients' engines.

Zero hand edits: copy the repository, add ``summarizeDocument`` to the spec copy, run
``python -m generator`` there, serve the changed spec with Prism (which validates each request),
and call ``client.operations.summarize_document(...)`` from both flavours in a subprocess that
imports the regenerated copy. A recording proxy in front of Prism injects one 503 and shows what
went over the wire: the bearer token, one correlation id and one Idempotency-Key for the call,
the retry count.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.peers import REPO_ROOT, run_prism

NEW_PATH = "/api/v1/documents/summarize"
NEW_OPERATION = {
    "post": {
        "operationId": "summarizeDocument",
        "tags": ["rpc"],
        "summary": "Summarize a document",
        "x-kei-idempotent": False,
        "x-kei-retry": [429, 503],
        "x-kei-protocols": ["rpc"],
        "security": [{"bearerAuth": []}],
        "parameters": [
            {"$ref": "#/components/parameters/XAgentID"},
            {"$ref": "#/components/parameters/XCorrelationID"},
            {"$ref": "#/components/parameters/IdempotencyKey"},
            {"$ref": "#/components/parameters/XKeiRetryCount"},
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SummarizeRequest"}}},
        },
        "responses": {
            "200": {
                "description": "The summary.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SummarizeResult"}}},
            },
            "401": {"$ref": "#/components/responses/Unauthorized"},
            "422": {"$ref": "#/components/responses/UnprocessableEntity"},
            "503": {"$ref": "#/components/responses/ServiceUnavailable"},
        },
    }
}
NEW_SCHEMAS = {
    "SummarizeRequest": {
        "type": "object",
        "required": ["text"],
        "properties": {"text": {"type": "string", "minLength": 1, "maxLength": 10000}},
    },
    "SummarizeResult": {
        "type": "object",
        "required": ["summary"],
        "properties": {"summary": {"type": "string", "example": "A short summary."}},
    },
}

CALLER = textwrap.dedent(
    """
    import json, sys
    import kei_agent
    from kei_agent import AgentClientConfig, RetryConfig
    flavour, base_url, root = sys.argv[1], sys.argv[2], sys.argv[3]
    assert kei_agent.__file__.startswith(root), kei_agent.__file__
    config = AgentClientConfig(
        base_url=base_url, api_token="new-op-token", agent_id="regen-agent",
        retry=RetryConfig(max_attempts=3, base_delay=0.01, max_delay=0.02),
    )
    if flavour == "sync":
        from kei_agent_sync import KeiAgentClient
        with KeiAgentClient(config) as client:
            raw = client.operations.with_raw_response.summarize_document(body={"text": "Long text."})
    else:
        import asyncio
        from kei_agent_async import KeiAgentClient
        async def main():
            async with KeiAgentClient(config) as client:
                return await client.operations.with_raw_response.summarize_document(body={"text": "Long text."})
        raw = asyncio.run(main())
    print(json.dumps({"model": type(raw.parsed).__name__, "summary": raw.parsed.summary,
                      "status": raw.status_code, "retries": raw.retries}))
    """
)


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("regen")
    ignore = shutil.ignore_patterns("__pycache__", "node_modules", ".venv", ".git", ".mypy_cache", ".ruff_cache")
    for name in ("openapi", "generator", "kei_agent", "kei_agent_async", "kei_agent_sync", "tests", "pyproject.toml"):
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=ignore)
        else:
            shutil.copy2(source, root / name)
    spec_path = root / "openapi" / "kei-agent.yaml"
    spec = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    spec["paths"][NEW_PATH] = NEW_OPERATION
    spec["components"]["schemas"].update(NEW_SCHEMAS)
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "generator"], cwd=root, capture_output=True, text=True, check=False, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root


class _Recorder:
    """A proxy in front of Prism: records every request's headers, answers the first call 503."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.seen: list[dict[str, str]] = []
        self.failures_left = 1
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                recorder.seen.append({k.lower(): v for k, v in self.headers.items()})
                if recorder.failures_left > 0:
                    recorder.failures_left -= 1
                    payload = b'{"type":"about:blank","title":"Service Unavailable","status":503}'
                    self.send_response(503)
                    self.send_header("Content-Type", "application/problem+json")
                    self.send_header("Retry-After", "0")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                forwarded = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                answer = httpx.post(f"{recorder.upstream}{self.path}", content=body, headers=forwarded, timeout=30)
                self.send_response(answer.status_code)
                for key in ("Content-Type",):
                    if key in answer.headers:
                        self.send_header(key, answer.headers[key])
                self.send_header("X-Request-ID", "prism-request")
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def prism_of_the_changed_spec(regenerated: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("prism") / "prism.log"
    with run_prism(log, spec=regenerated / "openapi" / "kei-agent.yaml") as url:
        yield url


def test_the_new_operation_is_generated_into_the_contract_and_both_surfaces(regenerated: Path) -> None:
    operations = (regenerated / "kei_agent" / "_contract" / "operations.py").read_text(encoding="utf-8")
    assert '"summarizeDocument": OperationSpec(' in operations
    for flavour in ("kei_agent_async", "kei_agent_sync"):
        surface = (regenerated / flavour / "_operations" / "__init__.py").read_text(encoding="utf-8")
        assert "def summarize_document(" in surface
        assert "body: SummarizeRequest | Mapping[str, Any]" in surface


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_the_new_operation_runs_through_the_engine_of_both_clients(
    regenerated: Path, prism_of_the_changed_spec: str, flavour: str
) -> None:
    recorder = _Recorder(prism_of_the_changed_spec)
    try:
        env = {**os.environ, "PYTHONPATH": str(regenerated)}
        proc = subprocess.run(
            [sys.executable, "-c", CALLER, flavour, recorder.base_url, str(regenerated)],
            capture_output=True,
            text=True,
            env=env,
            cwd=regenerated,
            check=False,
            timeout=120,
        )
    finally:
        recorder.close()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"model": "SummarizeResult", "summary": "A short summary.", "status": 200, "retries": 1}
    assert len(recorder.seen) == 2  # the injected 503, then the retry Prism answered
    first, second = recorder.seen
    assert first["authorization"] == second["authorization"] == "Bearer new-op-token"
    assert first["idempotency-key"] == second["idempotency-key"]
    assert first["x-correlation-id"] == second["x-correlation-id"]
    assert (first["x-kei-retry-count"], second["x-kei-retry-count"]) == ("0", "1")
    assert first["x-agent-id"] == "regen-agent"
