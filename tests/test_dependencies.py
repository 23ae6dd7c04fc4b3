"""Every distribution our packages import is declared in pyproject.toml, where it belongs.

The imports are read from the source (``import x``, ``from x import y``, and the literal module
names given to ``importlib.import_module`` / ``importlib.util.find_spec``, lazy ones included),
each module is mapped to the distribution that installs it (through the installed files, so the
``opentelemetry`` namespace resolves to ``opentelemetry-api`` or ``-sdk`` exactly), and compared
with the requirements: the client packages may use the runtime dependencies and the extras
(never ``server`` or ``dev``); the reference server (``kei_agent.testing``) the runtime
dependencies and the ``server`` extra.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import importlib.util
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.peers import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
OURS = ("kei_agent", "kei_agent_async", "kei_agent_sync")
#: The only runtime dependencies the project allows (the guide; cattrs is allowed but not needed).
ALLOWED_RUNTIME = {"httpx", "attrs", "cattrs", "loguru", "requests-oauthlib"}
#: Installed with requests-oauthlib and imported directly by the OIDC flow: declared so the
#: import does not rely on a transitive dependency, at no extra install cost.
RUNTIME_VIA_REQUESTS_OAUTHLIB = {"requests", "oauthlib"}
#: Installed with httpx and imported directly by the sync client's transport (its httpcore pool).
RUNTIME_VIA_HTTPX = {"httpcore"}
#: Imported by a module only pytest itself loads (the plugin entry point): pytest is there by definition.
LOADED_BY = {("kei_agent/testing/plugin.py", "pytest")}


def _declared(requirements: list[str]) -> set[str]:
    """Names of ``requirements`` plus the distributions their ``[extras]`` pull in (one level)."""
    names: set[str] = set()
    for text in requirements:
        requirement = Requirement(text)
        names.add(canonicalize_name(requirement.name))
        for extra in requirement.extras:
            for dependency in importlib.metadata.requires(requirement.name) or []:
                inner = Requirement(dependency)
                if inner.marker is not None and inner.marker.evaluate({"extra": extra}):
                    names.add(canonicalize_name(inner.name))
    return names


RUNTIME = _declared(PYPROJECT["dependencies"])
EXTRAS = {name: _declared(requirements) for name, requirements in PYPROJECT["optional-dependencies"].items()}


@functools.cache
def _top_level_owners() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


@functools.cache
def _files_of(distribution: str) -> frozenset[Path]:
    found = importlib.metadata.distribution(distribution)
    return frozenset(Path(str(found.locate_file(file))).resolve() for file in found.files or ())


@functools.cache
def distribution_of(module: str) -> str | None:
    """The distribution that installs ``module`` (``None`` when it is not installed)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return None
    candidates = _top_level_owners().get(module.split(".")[0], [])
    if len(candidates) == 1:
        return canonicalize_name(candidates[0])
    # A namespace package (opentelemetry): the distribution whose files hold the module.
    locations = [spec.origin] if spec.origin not in (None, "namespace", "built-in", "frozen") else []
    for location in locations:
        path = Path(str(location)).resolve()
        for candidate in candidates:
            if path in _files_of(candidate):
                return canonicalize_name(candidate)
    return None


def _imported(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:  # `from opentelemetry import trace` imports opentelemetry.trace
                yield f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = getattr(node.func, "attr", getattr(node.func, "id", None))
            value = node.args[0].value
            if name in ("import_module", "find_spec") and isinstance(value, str) and not value.startswith("."):
                yield value


def _resolve(module: str) -> str | None:
    """The distribution of ``module`` or of its nearest importable parent."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        found = distribution_of(".".join(parts[:end]))
        if found is not None:
            return found
    return None


@functools.cache
def third_party_imports() -> list[tuple[str, str, str | None]]:
    """(source file, imported module, distribution) for every import outside the stdlib and our packages."""
    found = []
    for package in OURS:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            relative = path.relative_to(REPO_ROOT).as_posix()
            if "/_generated/" in relative:
                continue  # generated clients import only httpx, attrs and dateutil-free stdlib
            for module in _imported(ast.parse(path.read_text(encoding="utf-8"))):
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in OURS or top == "__future__":
                    continue
                found.append((relative, module, _resolve(module)))
    return found


def test_every_import_is_declared_where_it_belongs() -> None:
    client_allowed = RUNTIME.union(*(names for extra, names in EXTRAS.items() if extra not in ("server", "dev")))
    server_allowed = RUNTIME | EXTRAS["server"]
    problems = []
    seen = 0
    for source, module, distribution in third_party_imports():
        seen += 1
        if distribution is None:
            problems.append(f"{source}: imports {module}, which no installed distribution provides")
            continue
        testing = source.startswith("kei_agent/testing/")
        allowed = server_allowed if testing else client_allowed
        if distribution not in allowed and (source, distribution) not in LOADED_BY:
            where = (
                "the runtime dependencies or the server extra" if testing else "the runtime dependencies or an extra"
            )
            problems.append(f"{source}: imports {module} from {distribution}, which is not declared in {where}")
    assert seen > 50  # the walk found our imports
    assert problems == []


def test_a_module_importing_an_undeclared_distribution_is_found() -> None:
    """The check above can fail: a module importing jsonschema (server-only) is reported."""
    tree = ast.parse(
        "import httpx\nfrom jsonschema import Draft202012Validator\nimport importlib\nimportlib.import_module('yaml')\n"
    )
    found = {module: _resolve(module) for module in _imported(tree)}
    assert found["jsonschema.Draft202012Validator"] == "jsonschema"
    assert found["yaml"] == "pyyaml"
    client_allowed = RUNTIME.union(*(names for extra, names in EXTRAS.items() if extra not in ("server", "dev")))
    assert "jsonschema" not in client_allowed
    assert "pyyaml" not in client_allowed
    assert "httpx" in client_allowed


def test_runtime_dependencies_are_the_allowed_ones_and_each_is_used() -> None:
    declared = {canonicalize_name(Requirement(text).name) for text in PYPROJECT["dependencies"]}
    assert declared <= ALLOWED_RUNTIME | RUNTIME_VIA_REQUESTS_OAUTHLIB | RUNTIME_VIA_HTTPX
    for name in RUNTIME_VIA_REQUESTS_OAUTHLIB:  # really installed by requests-oauthlib anyway
        assert name in _declared(importlib.metadata.requires("requests-oauthlib") or [])
    for name in RUNTIME_VIA_HTTPX:  # really installed by httpx anyway
        assert name in _declared(importlib.metadata.requires("httpx") or [])
    used = {
        distribution for source, _, distribution in third_party_imports() if not source.startswith("kei_agent/testing/")
    }
    assert RUNTIME - used == set()


def test_the_otel_extra_is_the_api_only() -> None:
    assert EXTRAS["otel"] == {"opentelemetry-api"}
    assert "opentelemetry-sdk" in EXTRAS["dev"]  # tests export spans with the SDK
