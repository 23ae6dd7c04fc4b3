"""Task runner. ``nox -l`` lists the sessions; ``nox -s tests`` runs the suite in a fresh venv."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["lint", "check_generated", "tests"]

PYTHON = "3.11"
PACKAGES = ["kei_agent", "kei_agent_async", "kei_agent_sync", "generator"]


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole test suite (Prism contract tests included; needs Node.js >= 20)."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "pytest", *session.posargs)


#: The httpx versions the dependency range (``httpx>=0.27,<1`` in pyproject.toml) must be proven on.
HTTPX_RANGE = {"lowest": "httpx==0.27.0", "newest": "httpx>=0.27,<1"}


@nox.session(python=PYTHON)
@nox.parametrize("bound", list(HTTPX_RANGE))
def httpx_range(session: nox.Session, bound: str) -> None:
    """The client and unit tests on the lowest and on the newest httpx the dependency range allows."""
    session.install("-e", ".[dev]")
    session.install("--upgrade", HTTPX_RANGE[bound])
    session.run("python", "-c", "import httpx; print('httpx', httpx.__version__)")
    targets = session.posargs or ["tests/clients", "tests/unit"]
    session.run("python", "-m", "pytest", "-p", "no:cacheprovider", *targets)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff, and mypy --strict on hand-written and generated code; the spec's validity."""
    session.install("-e", ".[dev]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "--strict", *PACKAGES)
    session.run("openapi-spec-validator", "openapi/kei-agent.yaml")


@nox.session(python=PYTHON)
def generate(session: nox.Session) -> None:
    """Regenerate everything derived from openapi/kei-agent.yaml."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "generator")


@nox.session(python=PYTHON)
def check_generated(session: nox.Session) -> None:
    """Fail with a diff when generated files differ from a fresh generation."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "generator", "--check")


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Start the reference server and run the documented flow with both clients."""
    session.install("-e", ".[server]")
    session.run("kei-agent", "demo")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks (not part of the test suite): writes BENCHMARKS.md and benchmarks/results.json (~10 min).

    Also creates .nox/bench-envs/ (a clean venv with the runtime dependencies only, and one with
    kei-agent-py-sdk 0.1.0b6, whose import name is also kei_agent). ``nox -s bench -- --quick``: smoke test;
    ``nox -s bench -- --only-transports``: only the transport table (httpcore vs aiohttp, ~3 min).
    """
    session.install("-e", ".[server,otel,aiohttp]", "opentelemetry-sdk>=1.27")  # the SDK: the tracing row
    session.run("python", "benchmarks/run.py", *session.posargs)
