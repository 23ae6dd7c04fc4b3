"""Per-call cost of JSON Schema validation of our request bodies, one validator per library.

No network: each library validates the request schemas of ``openapi/kei-agent.yaml`` (compiled
once, cached, as the client does) on a valid body (the hot path) and on an invalid one (every
problem collected). Microseconds per call, best of ``--repeat`` timeit rounds.
Run: ``python benchmarks/bench_validation.py`` (needs jsonschema, jsonschema-rs, fastjsonschema).
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

BODIES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "PlanRequest": (
        {"objective": "Create a quarterly report", "context": {"format": "pdf", "sections": ["summary", "numbers"]}},
        {"objective": 5, "context": []},
    ),
    "ActionRequest": (
        {"action": "generate_report", "parameters": {"title": "Q3 report", "format": "pdf"}},
        {"action": "x" * 129, "parameters": 3},
    ),
    "AgentRegistration": (
        {"agent_id": "agent-1", "name": "Reporter", "capabilities": ["plan", "act"], "version": "1.0"},
        {"agent_id": "bad id!", "name": "", "capabilities": ["plan", 7], "status": "x"},
    ),
}


def _root(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}


def candidates(spec: dict[str, Any], previous: str | None = None) -> dict[str, Callable[[str], Callable[[Any], Any]]]:
    """library -> factory(schema name) -> validate(body) returning the problems (or None).

    ``previous``: a checkout whose ``kei_agent/validation/_schema.py`` is the hand-written subset
    (``git archive <commit> kei_agent | tar -x -C DIR``), timed schema-only like the libraries.
    """

    def subset(name: str) -> Callable[[Any], Any]:
        import importlib.util

        assert previous is not None
        location = f"{previous}/kei_agent/validation/_schema.py"
        loaded = importlib.util.spec_from_file_location("previous_schema", location)
        assert loaded is not None
        assert loaded.loader is not None
        module = importlib.util.module_from_spec(loaded)
        loaded.loader.exec_module(module)
        check = module.SchemaCompiler(spec).compile({"$ref": f"#/components/schemas/{name}"})

        def run(body: Any) -> Any:
            found: list[Any] = []
            check(body, "$", found)
            return found or None

        return run

    def ours(name: str) -> Callable[[Any], Any]:
        from kei_agent.validation import validate_request

        operation = {"PlanRequest": "planTask", "ActionRequest": "executeAction", "AgentRegistration": "registerAgent"}

        def run(body: Any) -> Any:
            try:
                validate_request(operation[name], body)
            except Exception as exc:  # the ValidationError with every problem
                return exc
            return None

        return run

    def jsonschema_(name: str) -> Callable[[Any], Any]:
        import jsonschema

        validator = jsonschema.Draft202012Validator(_root(spec, name), format_checker=None)

        def run(body: Any) -> Any:
            if validator.is_valid(body):
                return None
            return [(list(error.absolute_path), error.message) for error in validator.iter_errors(body)]

        return run

    def jsonschema_rs(name: str) -> Callable[[Any], Any]:
        import jsonschema_rs

        validator = jsonschema_rs.Draft202012Validator(_root(spec, name))

        def run(body: Any) -> Any:
            if validator.is_valid(body):
                return None
            return [(list(error.instance_path), error.message) for error in validator.iter_errors(body)]

        return run

    def fastjsonschema_(name: str) -> Callable[[Any], Any]:
        import fastjsonschema

        check = fastjsonschema.compile(_root(spec, name))

        def run(body: Any) -> Any:
            try:
                check(body)
            except fastjsonschema.JsonSchemaException as exc:
                return [exc.message]  # the first problem only: it stops there
            return None

        return run

    found: dict[str, Callable[[str], Callable[[Any], Any]]] = {}
    if previous:
        found["hand-written subset (until this change; schema only)"] = subset
    return found | {
        "SDK validate_request (hardening + jsonschema-rs, reworded)": ours,
        "jsonschema 4 (Draft202012Validator, cached)": jsonschema_,
        "jsonschema-rs (cached validator)": jsonschema_rs,
        "fastjsonschema (compiled, first error only)": fastjsonschema_,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--number", type=int, default=2000)
    parser.add_argument("--previous", help="checkout holding the hand-written subset (see candidates())")
    parser.add_argument(
        "--write", action="store_true", help="write benchmarks/validation.md (BENCHMARKS.md includes it)"
    )
    args = parser.parse_args()
    from kei_agent._contract import load_spec

    spec = load_spec()
    runs: list[tuple[str, list[Callable[[], Any]]]] = []
    for library, factory in candidates(spec, args.previous).items():
        calls: list[Callable[[], Any]] = []
        for name, (good, bad) in BODIES.items():
            run = factory(name)
            assert run(good) is None, (library, name, run(good))
            assert run(bad), (library, name)
            calls.extend([lambda r=run, b=good: r(b), lambda r=run, b=bad: r(b)])
        runs.append((library, calls))
    best: dict[tuple[int, int], float] = {}
    for _ in range(args.repeat):  # rounds alternate between the libraries (a shared machine drifts)
        for row, (_library, calls) in enumerate(runs):
            for column, call in enumerate(calls):
                seconds = timeit.timeit(call, number=args.number) / args.number
                best[row, column] = min(best.get((row, column), seconds), seconds)
    rows = [
        (library, [best[row, column] * 1e6 for column in range(len(calls))])
        for row, (library, calls) in enumerate(runs)
    ]
    header = " | ".join(f"{name} {kind}" for name in BODIES for kind in ("valid", "invalid"))
    lines = [f"| validator | {header} |", "|---|" + "---|" * (2 * len(BODIES))]
    lines += [f"| {library} | " + " | ".join(f"{cell:.1f}" for cell in cells) + " |" for library, cells in rows]
    table = "\n".join(lines)
    print(table)
    if args.write:
        import os
        import platform

        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
        text = SECTION.format(table=table, python=platform.python_version(), load=load, repeat=args.repeat)
        (Path(__file__).parent / "validation.md").write_text(text, encoding="utf-8")


SECTION = """## Request validation (`benchmarks/bench_validation.py`, µs per call, best of {repeat} alternating rounds)

Our request schemas (`openapi/kei-agent.yaml`), each validator compiled once and cached; a valid body (the hot
path) and an invalid one (every problem collected, except fastjsonschema, which stops at the first).
Python {python}, load average {load} at the end (shared machine: compare rows, not runs).

{table}

Choice: **jsonschema-rs**. It is the only candidate that is both complete (draft 2020-12 with `$ref`, `oneOf`,
`if`/`then`, `patternProperties`, `dependentRequired`, `format` assertions) and lists every problem, and it is
10-25 times faster than the hand-written subset on valid bodies (what every call pays); the SDK's `validate_request`
cost is now mostly the hardening limits. `jsonschema` (pure Python, already the reference server's validator)
costs 10-40 times the old subset per call even with a cached validator; fastjsonschema is fast but reports one
problem only. jsonschema-rs is a compiled wheel and not one of the five runtime dependencies the project
allows, so it is the `validation` extra: without it schemas are not checked client-side (logged once), the
hardening limits still apply and the server validates every request (422 with each problem).
"""

if __name__ == "__main__":
    main()
