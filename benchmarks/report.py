"""Aggregation (medians of per-round figures, ratios taken per round) and the BENCHMARKS.md text."""

from __future__ import annotations

import statistics
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

MB = 1024 * 1024
X = "\u00d7"  # multiplication sign
#: Client CPU per call over raw httpx, at most (issue 11 [engine]: 1.15; the first target, issue 8, was 1.2).
CPU_GOAL = 1.15
TO = "\u2013"  # en dash, for ranges
OPS = ("plan", "act")
LEVELS = ("1", "16", "64")
LAYER_TITLES = {
    "operations": "the generated operations surface (`client.operations.plan_task(body=...)`)",
    "lowlevel": "the low-level generated client alone (`kei_agent._generated`, no engine)",
    "novalidate": "validation off (`validate_requests=False`)",
    "log-info": "structured logging to a file, INFO (`configure_logging(level='INFO', enable_file=True)`)",
    "log-debug": "structured logging to a file, DEBUG (one performance record per call)",
    "otel-idle": "OpenTelemetry installed, no provider configured",
    "tracing": "tracing on: OTel SDK `TracerProvider` + `SimpleSpanProcessor` + exporter that drops spans",
}


def runtime_requirements(root: Path) -> list[str]:
    """The package's runtime dependencies (``[project].dependencies``)."""
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    return list(project["dependencies"])


# ------------------------------------------------------------------------------------ statistics


def agg(values: Sequence[float | None]) -> dict[str, float] | None:
    clean = [v for v in values if v is not None]
    if not clean:
        return None
    return {"median": statistics.median(clean), "min": min(clean), "max": max(clean), "n": len(clean)}


def dig(data: Any, *path: Any) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def per_round(runs: list[Any] | None, *path: Any) -> list[float | None]:
    return [dig(run, *path) for run in runs or []]


def paired(a: list[float | None], b: list[float | None], fn: Callable[[float, float], float]) -> list[float | None]:
    return [fn(x, y) if x is not None and y is not None and y != 0 else None for x, y in zip(a, b, strict=False)]


def ratio(x: float, y: float) -> float:
    return x / y


# ------------------------------------------------------------------------------------ summary


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    clients = results.get("clients", {})
    out: dict[str, Any] = {"seq": {}, "tput": {}, "ratios_raw": {}, "ratios_peer": {}, "layers": {}}
    for job, runs in clients.items():
        out["seq"][job] = {
            op: {m: agg(per_round(runs, "seq", op, m)) for m in ("median_ms", "p99_ms", "cpu_ms")} for op in OPS
        }
        if any(dig(run, "tput") for run in runs):
            out["tput"][job] = {
                level: {m: agg(per_round(runs, "tput", level, m)) for m in ("calls_per_s", "cpu_ms", "failed")}
                for level in LEVELS
            }
        out["errors"] = out.get("errors", {})
        errors = [run["error"] for run in runs if isinstance(run, dict) and "error" in run]
        if errors:
            out["errors"][job] = errors

    for flavour in ("sync", "async"):
        raw, kei = clients.get(f"raw-{flavour}"), clients.get(f"kei-{flavour}")
        ratios: dict[str, Any] = {}
        for op in OPS:
            for metric, name in (("cpu_ms", "cpu"), ("median_ms", "latency"), ("p99_ms", "p99")):
                ratios[f"{op}_{name}"] = agg(
                    paired(per_round(kei, "seq", op, metric), per_round(raw, "seq", op, metric), ratio)
                )
        for level in LEVELS:
            ratios[f"tput_{level}"] = agg(
                paired(
                    per_round(kei, "tput", level, "calls_per_s"), per_round(raw, "tput", level, "calls_per_s"), ratio
                )
            )
            ratios[f"tput_cpu_{level}"] = agg(
                paired(per_round(kei, "tput", level, "cpu_ms"), per_round(raw, "tput", level, "cpu_ms"), ratio)
            )
        out["ratios_raw"][flavour] = ratios

        peer = clients.get("b6")
        if peer:
            vs: dict[str, Any] = {}
            for metric, name in (("median_ms", "latency"), ("p99_ms", "p99"), ("cpu_ms", "cpu")):
                vs[f"act_{name}"] = agg(
                    paired(per_round(peer, "seq", "act", metric), per_round(kei, "seq", "act", metric), ratio)
                )
            if flavour == "async":
                for level in LEVELS:
                    vs[f"tput_{level}"] = agg(
                        paired(
                            per_round(kei, "tput", level, "calls_per_s"),
                            per_round(peer, "tput", level, "calls_per_s"),
                            ratio,
                        )
                    )
            out["ratios_peer"][flavour] = vs
            # For context: the same ratios for raw httpx (what any reused client would score here).
            out["ratios_peer"][f"raw-{flavour}"] = {
                f"act_{name}": agg(
                    paired(per_round(peer, "seq", "act", metric), per_round(raw, "seq", "act", metric), ratio)
                )
                for metric, name in (("median_ms", "latency"), ("p99_ms", "p99"), ("cpu_ms", "cpu"))
            } | {
                f"tput_{level}": agg(
                    paired(
                        per_round(raw, "tput", level, "calls_per_s"),
                        per_round(peer, "tput", level, "calls_per_s"),
                        ratio,
                    )
                )
                for level in LEVELS
                if flavour == "async"
            }

    for job in clients:
        if "/" not in job:
            continue
        base_job, layer = job.split("/", 1)
        base, runs = clients.get(base_job), clients[job]
        out["layers"][job] = {
            "layer": layer,
            "base": base_job,
            **{
                f"{op}_cpu": agg(
                    paired(per_round(runs, "seq", op, "cpu_ms"), per_round(base, "seq", op, "cpu_ms"), ratio)
                )
                for op in OPS
            },
            **{
                f"{op}_latency": agg(
                    paired(per_round(runs, "seq", op, "median_ms"), per_round(base, "seq", op, "median_ms"), ratio)
                )
                for op in OPS
            },
            **{
                f"{op}_cpu_raw": agg(
                    paired(
                        per_round(runs, "seq", op, "cpu_ms"),
                        per_round(clients.get(base_job.replace("kei-", "raw-")), "seq", op, "cpu_ms"),
                        ratio,
                    )
                )
                for op in OPS
            },
            "check": dig(runs[-1] if runs else None, "layer_check"),
            "error": next((run["error"] for run in runs if isinstance(run, dict) and "error" in run), None),
        }

    imports: dict[str, Any] = {}
    for kind, targets in (results.get("imports") or {}).items():
        imports[kind] = {}
        for target, runs in targets.items():
            figures = ("importtime_ms", "wall_ms", "modules", "own_ms")
            imports[kind][target] = {m: agg(per_round(runs, m)) for m in figures} | {
                "by_package_ms": dig(runs[0], "by_package_ms"),
                "own_heaviest_ms": dig(runs[0], "own_heaviest_ms"),
                "trio": any(dig(run, "trio") for run in runs),
                "direct_imports_ms": dig(runs[0], "direct_imports_ms"),
                "heaviest_self_ms": dig(runs[0], "heaviest_self_ms"),
            }
    out["imports"] = imports
    for kind in ("cold", "warm"):
        base = dig(results, "imports", kind, "httpx")
        for target in ("public API", "kei_agent_sync", "kei_agent_async"):
            runs = dig(results, "imports", kind, target)
            if runs and base:
                imports[kind][target]["vs_httpx"] = agg(
                    paired(per_round(runs, "importtime_ms"), per_round(base, "importtime_ms"), ratio)
                )

    out["rss"] = {
        variant: {
            "held_mb": agg([v / MB if v is not None else None for v in per_round(runs, "rss", "held")]),
            "growth_mb": agg([v / MB if v is not None else None for v in per_round(runs, "rss", "growth")]),
            "calls": dig(runs[0], "rss", "calls") if runs else None,
        }
        for variant, runs in (results.get("rss") or {}).items()
    }
    peer_runs = clients.get("b6")
    if peer_runs:
        out["rss"]["b6"] = {
            "held_mb": agg([v / MB if v is not None else None for v in per_round(peer_runs, "rss", "held")]),
            "growth_mb": agg([v / MB if v is not None else None for v in per_round(peer_runs, "rss", "growth")]),
            "calls": dig(peer_runs[0], "rss", "calls"),
        }
    server = results.get("server") or {}
    out["server"] = {
        name: {
            "requests_per_s": agg(per_round(runs, "requests_per_s")),
            "errors": sum(dig(run, "errors") or 0 for run in runs),
            "loadgen_cpu_share": agg(per_round(runs, "loadgen_cpu_share")),
            "connections": dig(runs[0], "connections") if runs else None,
        }
        for name, runs in server.items()
    }
    out["transports"] = summarize_transports(results)
    out["targets"] = target_rows(out, results)
    return out


TRANSPORT_TITLES = {
    "raw-async/httpx": "raw `httpx.AsyncClient` (httpcore)",
    "raw-async/aiohttp": "raw `httpx.AsyncClient` + httpx-aiohttp transport",
    "kei-async/httpx": 'ours, `transport="httpx"` (httpcore)',
    "kei-async/aiohttp": 'ours, `transport="aiohttp"`',
}


def summarize_transports(results: dict[str, Any]) -> dict[str, Any]:
    """The transport table: calls/s and CPU per call per job and level; ratios taken per round."""
    runs = results.get("transports") or {}
    out: dict[str, Any] = {"jobs": {}, "ratios": {}, "errors": {}}
    for job, job_runs in runs.items():
        out["jobs"][job] = {
            level: {m: agg(per_round(job_runs, "tput", level, m)) for m in ("calls_per_s", "cpu_ms")}
            for level in LEVELS
        }
        errors = [run["error"] for run in job_runs if isinstance(run, dict) and "error" in run]
        if errors:
            out["errors"][job] = errors

    def calls(job: str, level: str) -> list[float | None]:
        return per_round(runs.get(job), "tput", level, "calls_per_s")

    for level in LEVELS:
        out["ratios"][f"ours_vs_raw_aiohttp_{level}"] = agg(
            paired(calls("kei-async/aiohttp", level), calls("raw-async/aiohttp", level), ratio)
        )
        out["ratios"][f"ours_vs_raw_httpx_{level}"] = agg(
            paired(calls("kei-async/httpx", level), calls("raw-async/httpx", level), ratio)
        )
        out["ratios"][f"aiohttp_vs_httpx_ours_{level}"] = agg(
            paired(calls("kei-async/aiohttp", level), calls("kei-async/httpx", level), ratio)
        )
    return out


def transport_section(t: dict[str, Any]) -> str:
    """The transport table of BENCHMARKS.md (also printed by ``run.py --only-transports``)."""
    if not t.get("jobs"):
        return ""
    rows = []
    for job, title in TRANSPORT_TITLES.items():
        fig = t["jobs"].get(job)
        if not fig:
            continue
        for level in LEVELS:
            rows.append([title, level, fmt_int(fig[level]["calls_per_s"]), fmt(fig[level]["cpu_ms"], 3)])
    text = "## Async transports (minimal server; plan_task)\n\n"
    text += table(["client", "in flight", "calls/s", "client CPU per call, ms"], rows) + "\n\n"
    ratio_rows = [
        [
            level,
            fmt(t["ratios"][f"ours_vs_raw_aiohttp_{level}"]),
            fmt(t["ratios"][f"ours_vs_raw_httpx_{level}"]),
            fmt(t["ratios"][f"aiohttp_vs_httpx_ours_{level}"], 1),
        ]
        for level in LEVELS
    ]
    text += (
        table(
            ["in flight", "ours ÷ raw, both on aiohttp", "ours ÷ raw, both on httpcore", "ours: aiohttp ÷ httpcore"],
            ratio_rows,
        )
        + "\n\n"
    )
    text += (
        "Calls/s ratios, taken per round. Every variant runs in its own process per round (rotating order), "
        "with pool limits = 64 (connections and kept alive) so no level re-opens connections; each level: a "
        f"warm-up, then the calls spread over N tasks on one event loop. Targets: ours ≥ 0.85{X} raw on aiohttp "
        f"at 1/16/64, and ours on aiohttp ≥ 5{X} ours on httpcore at 64.\n"
    )
    if t.get("errors"):
        text += "\nErrors: " + "; ".join(f"{job}: {errs[0]}" for job, errs in t["errors"].items()) + "\n"
    return text


def med(a: dict[str, float] | None) -> float | None:
    return None if a is None else a["median"]


def target_rows(s: dict[str, Any], results: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def add(name: str, goal: str, value: float | None, ok: bool | None, shown: str) -> None:
        verdict = "n/a" if value is None or ok is None else ("met" if ok else "MISSED")
        rows.append({"target": name, "goal": goal, "value": value, "shown": shown, "verdict": verdict})

    for flavour in ("sync", "async"):
        values = [med(dig(s, "ratios_raw", flavour, f"{op}_cpu")) for op in OPS]
        worst = max((v for v in values if v is not None), default=None)
        shown = " / ".join(f"{op} {v:.2f}{X}" for op, v in zip(OPS, values, strict=True) if v is not None)
        add(
            f"client CPU per call vs raw httpx ({flavour})",
            f"≤ {CPU_GOAL}{X}",
            worst,
            worst is not None and worst <= CPU_GOAL,
            shown,
        )
    t64 = med(dig(s, "ratios_raw", "async", "tput_64"))
    add("async throughput at 64 concurrent vs raw httpx", f"≥ 0.9{X}", t64, t64 is not None and t64 >= 0.9, _x(t64))
    aio = [med(dig(s, "transports", "ratios", f"ours_vs_raw_aiohttp_{level}")) for level in LEVELS]
    worst = min((v for v in aio if v is not None), default=None)
    add(
        "async plan_task calls/s on aiohttp vs raw httpx on aiohttp (1/16/64 in flight)",
        f"≥ 0.85{X}",
        worst,
        worst is not None and None not in aio and worst >= 0.85,
        " / ".join(_x(v) for v in aio),
    )
    gain = med(dig(s, "transports", "ratios", "aiohttp_vs_httpx_ours_64"))
    add(
        "async plan_task calls/s at 64 in flight: aiohttp vs our httpcore figure",
        f"≥ 5{X}",
        gain,
        gain is not None and gain >= 5,
        _x(gain, 1),
    )
    for flavour in ("async", "sync"):
        speed = med(dig(s, "ratios_peer", flavour, "act_latency"))
        add(
            f"faster per call than 0.1.0b6 (execute_action, {flavour})",
            f"≥ 20{X}",
            speed,
            speed is not None and speed >= 20,
            _x(speed, 1),
        )
    for target, label in (
        ("public API", "public API import"),
        ("kei_agent_sync", "import kei_agent_sync"),
        ("kei_agent_async", "import kei_agent_async"),
    ):
        value = med(dig(s, "imports", "warm", target, "importtime_ms"))
        cold = med(dig(s, "imports", "cold", target, "importtime_ms"))
        shown = f"{value:.0f} ms warm" if value is not None else "n/a"
        if cold is not None:
            shown += f" ({cold:.0f} ms cold, no .pyc)"
        add(f"{label} (clean venv)", "≤ 125 ms", value, value is not None and value <= 125, shown)
    for flavour in ("sync", "async"):
        growth = med(dig(s, "rss", f"kei-{flavour}", "growth_mb"))
        calls = dig(s, "rss", f"kei-{flavour}", "calls")
        add(
            f"RSS growth after {calls or '?'} calls ({flavour})",
            "< 5 MB",
            growth,
            growth is not None and growth < 5 and calls is not None and calls >= 10000,
            f"{growth:.2f} MB" if growth is not None else "n/a",
        )
    rps = med(dig(s, "server", "reference", "requests_per_s"))
    add(
        "reference server plan requests/s, one uvicorn worker (issue 3)",
        "≥ 1,500/s",
        rps,
        rps is not None and rps >= 1500,
        f"{rps:,.0f}/s" if rps is not None else "n/a",
    )
    return rows


# ------------------------------------------------------------------------------------ formatting


def _x(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{X}"


def fmt(a: dict[str, float] | None, digits: int = 2, unit: str = "") -> str:
    if a is None:
        return "n/a"
    return f"{a['median']:.{digits}f}{unit} ({a['min']:.{digits}f}{TO}{a['max']:.{digits}f})"


def fmt_int(a: dict[str, float] | None) -> str:
    if a is None:
        return "n/a"
    return f"{a['median']:,.0f} ({a['min']:,.0f}{TO}{a['max']:,.0f})"


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    s = results["summary"]
    m = results["machine"]
    v = results.get("versions", {})
    bench, clean, peer = v.get("bench", {}), v.get("clean", {}), v.get("peer", {})
    settings = results["settings"]
    parts: list[str] = []
    add = parts.append
    add("# Benchmarks\n")
    add(
        "Generated by `nox -s bench` (`benchmarks/run.py`); raw figures in `benchmarks/results.json`. "
        "Do not edit by hand: run the session again.\n"
    )
    if results.get("quick"):
        add("> **Smoke run (`--quick`)**: counts are reduced; the figures below are not meaningful.\n")
    add("## Run\n")
    add(
        table(
            ["", ""],
            [
                ["date", m["date"]],
                [
                    "machine",
                    f"{m['cpu']}, {m['cores']} cores, {(m.get('memory_bytes') or 0) / 2**30:.0f} GiB; {m['platform']}",
                ],
                [
                    "load average (start → end)",
                    f"{_load(m.get('loadavg_start'))} → {_load(m.get('loadavg_end'))} (shared machine)",
                ],
                ["Python", f"{m['implementation']} {m['python']}"],
                [
                    "kei-agent-py-sdk (this repo)",
                    f"{bench.get('kei-agent-py-sdk')} at {m['git_commit']}"
                    + (" + uncommitted changes" if m["git_dirty"] else ""),
                ],
                [
                    "httpx / httpcore / h11 / anyio",
                    " / ".join(str(bench.get(k)) for k in ("httpx", "httpcore", "h11", "anyio")),
                ],
                ["attrs / cattrs / loguru", " / ".join(str(bench.get(k)) for k in ("attrs", "cattrs", "loguru"))],
                [
                    "server side",
                    f"uvicorn {bench.get('uvicorn')}, httptools {bench.get('httptools')}, "
                    f"starlette {bench.get('starlette')}, uvloop {bench.get('uvloop') or 'not installed'}",
                ],
                [
                    "OpenTelemetry (tracing rows)",
                    f"api {bench.get('opentelemetry-api')}, sdk {bench.get('opentelemetry-sdk')}",
                ],
                [
                    "peer",
                    f"kei-agent-py-sdk {peer.get('kei-agent-py-sdk')} "
                    f"(own venv; httpx {peer.get('httpx')}, pydantic {peer.get('pydantic')})"
                    if peer
                    else "skipped",
                ],
                [
                    "rounds",
                    f"{settings['rounds']} per figure; medians with (min{TO}max) over the rounds; "
                    "ratios taken per round",
                ],
                ["runtime", f"{m.get('runtime_s', 0):.0f} s"],
            ],
        )
        + "\n"
    )
    add(METHOD.format(**settings) + "\n")

    add("## Targets\n")
    add(
        table(
            ["target", "goal", "measured (median)", "verdict"],
            [[r["target"], r["goal"], r["shown"], r["verdict"]] for r in s["targets"]],
        )
        + "\n"
    )

    add("## Ratios against raw httpx (same flavour, same run)\n")
    add("Ours ÷ raw httpx; CPU and latency: lower is better (1.00 = the floor); throughput: higher is better.\n")
    rows = []
    labels = [
        ("plan_cpu", "plan_task: client CPU per call"),
        ("act_cpu", "execute_action: client CPU per call"),
        ("plan_latency", "plan_task: median latency"),
        ("act_latency", "execute_action: median latency"),
        ("plan_p99", "plan_task: p99 latency"),
        ("act_p99", "execute_action: p99 latency"),
        ("tput_1", "throughput, 1 concurrent (execute_action)"),
        ("tput_16", "throughput, 16 concurrent"),
        ("tput_64", "throughput, 64 concurrent"),
        ("tput_cpu_64", "client CPU per call at 64 concurrent"),
    ]
    for key, label in labels:
        sync_value = dig(s, "ratios_raw", "sync", key)
        rows.append(
            [label, "—" if key.startswith("tput") else fmt(sync_value), fmt(dig(s, "ratios_raw", "async", key))]
        )
    add(table(["figure", "kei_agent_sync ÷ httpx.Client", "kei_agent_async ÷ httpx.AsyncClient"], rows) + "\n")

    if s["ratios_peer"]:
        add("## Ratios against kei-agent-py-sdk 0.1.0b6\n")
        add(
            "0.1.0b6 ÷ ours for latency and CPU (how many times faster / cheaper we are); "
            "ours ÷ 0.1.0b6 for throughput.\n"
        )
        columns = ("sync", "async", "raw-sync", "raw-async")
        rows = []
        for key, label in (
            ("act_latency", "execute_action: median latency"),
            ("act_p99", "execute_action: p99 latency"),
            ("act_cpu", "execute_action: client CPU per call"),
        ):
            rows.append([label, *(fmt(dig(s, "ratios_peer", c, key), 1) for c in columns)])
        for level in LEVELS:
            rows.append(
                [
                    f"throughput, {level} concurrent",
                    "—",
                    fmt(dig(s, "ratios_peer", "async", f"tput_{level}"), 1),
                    "—",
                    fmt(dig(s, "ratios_peer", "raw-async", f"tput_{level}"), 1),
                ]
            )
        headers = ["figure", "vs kei_agent_sync", "vs kei_agent_async", "context: vs raw httpx.Client"]
        add(table([*headers, "context: vs raw httpx.AsyncClient"], rows) + "\n")
        add(PEER_NOTE + "\n")

    add("## Sequential calls (reference server, keep-alive, one call at a time)\n")
    rows = []
    for job, title in JOB_TITLES.items():
        for op in OPS:
            fig = dig(s, "seq", job, op)
            if not fig or fig["median_ms"] is None:
                continue
            rows.append([title, op, fmt(fig["median_ms"], 3), fmt(fig["p99_ms"], 3), fmt(fig["cpu_ms"], 3)])
    add(table(["client", "call", "median latency, ms", "p99 latency, ms", "client CPU per call, ms"], rows) + "\n")

    add("## Async throughput (minimal server; execute_action)\n")
    rows = []
    for job in ("raw-async", "kei-async", "b6"):
        fig = s["tput"].get(job)
        if not fig:
            continue
        for level in LEVELS:
            failed = med(fig[level]["failed"])
            rows.append(
                [
                    JOB_TITLES[job],
                    level,
                    fmt_int(fig[level]["calls_per_s"]),
                    fmt(fig[level]["cpu_ms"], 3),
                    "" if not failed else f"{failed:.0f} calls failed (median)",
                ]
            )
    add(table(["client", "concurrent", "calls/s", "client CPU per call, ms", "note"], rows) + "\n")
    add(
        f"Each level: {settings['tput_calls']} calls (0.1.0b6: {settings['peer_tput_calls']}) spread over N "
        "tasks on one event loop, after a "
        "warm-up that opens the connections. Both clients use httpx's default pool limits "
        "(100 connections, 20 kept alive), so at 64 concurrent some connections are re-opened.\n"
    )

    transports = transport_section(s.get("transports") or {})
    if transports:
        add(transports)

    add("## Optional layers (async client unless noted; CPU per call relative to the defaults)\n")
    rows = []
    for fig in s["layers"].values():
        title = LAYER_TITLES.get(fig["layer"], fig["layer"])
        if fig["base"] == "kei-sync":
            title += " — sync client"
        if fig.get("error") and fig["plan_cpu"] is None:
            rows.append([title, "skipped", "", fig["error"]])
            continue
        rows.append(
            [
                title,
                fmt(fig["plan_cpu"]),
                fmt(fig["act_cpu"]),
                fmt(fig.get("plan_cpu_raw")),
                fmt(fig.get("act_cpu_raw")),
                _check(fig.get("check")),
            ]
        )
    add(
        table(
            ["layer on", "plan_task CPU x", "execute_action CPU x", "plan x raw httpx", "act x raw httpx", "evidence"],
            rows,
        )
        + "\n"
    )
    add(
        "Defaults: validation on, no logging configured (the SDK is silent), `KEI_OTEL_DISABLED=1` (a default "
        "install has no OpenTelemetry). Reference server, sequential calls.\n"
    )

    add("## Import time (`python -X importtime`, sum of the top-level imports)\n")
    rows = []
    for target in ("httpx", "kei_agent", "kei_agent_async", "kei_agent_sync", "public API", "0.1.0b6 public API"):
        warm, cold = dig(s, "imports", "warm", target), dig(s, "imports", "cold", target)
        if not warm:
            continue
        rows.append(
            [
                f"`{STATEMENTS.get(target, target)}`" + (" (0.1.0b6 venv)" if target.startswith("0.1.0b6") else ""),
                fmt(warm["importtime_ms"], 0),
                fmt(cold["importtime_ms"], 0) if cold else "n/a",
                fmt(warm.get("vs_httpx"), 2) if warm.get("vs_httpx") else "",
                f"{med(warm['modules']):.0f}" if warm["modules"] else "n/a",
            ]
        )
    add(table(["import", "warm, ms", "cold (no .pyc), ms", "÷ `import httpx` (warm)", "modules loaded"], rows) + "\n")
    dev = dig(s, "imports", "dev", "public API")
    trio_clean = dig(s, "imports", "warm", "public API", "trio")
    add(
        f"Clean venv: our wheel + runtime dependencies only ({', '.join(f'{k} {v}' for k, v in clean.items() if v)}); "
        f"trio imported: {'yes' if trio_clean else 'no'}. Cold: every `__pycache__` of the venv removed and "
        "`PYTHONDONTWRITEBYTECODE=1` (everything compiled from source on each run); warm: after "
        "`python -m compileall` of the venv, with the variable unset."
    )
    if dev:
        add(
            f" For contrast, the bench session's own venv (editable install + server/otel extras; trio imported: "
            f"{'yes' if dev['trio'] else 'no'}): public API {fmt(dev['importtime_ms'], 0)} ms warm.\n"
        )
    by_package = dig(s, "imports", "warm", "public API", "by_package_ms")
    own = dig(s, "imports", "warm", "public API", "own_ms")
    if by_package:
        add(
            "\nWhere the public API import spends its time (clean venv, warm; `-X importtime` self time summed by "
            f"top-level package, one run). Our own modules (`kei_agent*`, generated code included): {fmt(own, 1)} ms "
            "over the rounds; the rest is dependencies and the standard library:\n"
        )
        add(table(["package", "ms"], [[f"`{name}`", f"{value:.1f}"] for name, value in by_package[:12]]) + "\n")

    add("## Memory (RSS)\n")
    rows = []
    for variant in ("raw-sync", "kei-sync", "raw-async", "kei-async", "b6"):
        fig = s["rss"].get(variant)
        if not fig:
            continue
        rows.append([JOB_TITLES[variant], fmt(fig["held_mb"], 1), f"{fig['calls'] or '?'}", fmt(fig["growth_mb"], 2)])
    add(table(["client", "RSS holding one client, MB", "calls", "RSS growth, MB"], rows) + "\n")
    add(
        "RSS from `/proc/self/status` after `gc.collect()`: the process (interpreter + imports + one client) after 100 "
        "warm-up calls, and its growth over the following calls (plan_task and execute_action alternating, minimal "
        "server). 0.1.0b6: after its warm-up, growth over its sequential execute_action calls against the reference "
        "server (fewer calls: each takes ~25 ms).\n"
    )

    add("## Reference server throughput\n")
    rows = []
    for name, title in (
        ("reference", "reference server (`kei_agent.testing.run_server`, one uvicorn worker, access log off)"),
        ("minimal", "minimal raw-ASGI app (load generator ceiling check)"),
    ):
        fig = s["server"].get(name)
        if not fig:
            continue
        rows.append([title, fmt_int(fig["requests_per_s"]), str(fig["errors"]), fmt(fig["loadgen_cpu_share"], 2)])
    add(table(["server", "plan requests/s", "errors", "load generator CPU share"], rows) + "\n")
    add(
        f"`benchmarks/bench_loadgen.py`: {dig(s, 'server', 'reference', 'connections') or 32} keep-alive connections "
        "from raw asyncio protocols with pre-built `POST /api/v1/rpc/plan` requests (bearer token, JSON body), "
        f"{settings['load_duration']} s per round after 0.5 s warm-up, in its own process; the server in another. "
        "The load generator's CPU share stays well below one core, and it drives the minimal app much faster, so "
        "the reference figure is the server's.\n"
    )

    add(profile_section(results))
    add(recommendations(results))
    validation = Path(__file__).parent / "validation.md"  # written by bench_validation.py --write
    if validation.exists():
        add(validation.read_text(encoding="utf-8"))
    add(SERVERS_NOTE + "\n")
    return "\n".join(parts).rstrip() + "\n"


def _load(value: Any) -> str:
    return "n/a" if not value else " ".join(f"{x:.2f}" for x in value)


def _check(check: dict[str, Any] | None) -> str:
    if not check:
        return ""
    return ", ".join(f"{k.replace('_', ' ')}: {v:,}" for k, v in check.items())


def parts_us(results: dict[str, Any], step: str) -> float | None:
    return dig(results, "parts", "steps", step, "us")


def kei_cpu_us(results: dict[str, Any], flavour: str = "sync") -> float | None:
    values = [med(dig(results, "summary", "seq", f"kei-{flavour}", op, "cpu_ms")) for op in OPS]
    clean = [x for x in values if x is not None]
    return statistics.fmean(clean) * 1000.0 if clean else None


def profile_section(results: dict[str, Any]) -> str:
    out: list[str] = ["## Where the client CPU goes\n"]
    prof = results.get("profile") or {}
    for flavour in ("sync", "async"):
        raw, kei = prof.get(f"raw-{flavour}"), prof.get(f"kei-{flavour}")
        if not raw or not kei or "areas" not in kei or "areas" not in raw:
            continue
        names = list(dict.fromkeys([*kei["areas"], *raw["areas"]]))
        rows = []
        for name in names:
            k = kei["areas"].get(name, 0.0) * kei["profiled_cpu_us_per_call"]
            r = raw["areas"].get(name, 0.0) * raw["profiled_cpu_us_per_call"]
            if max(k, r) < 1.0:
                continue
            rows.append([name, f"{r:.0f}", f"{k:.0f}", f"{kei['areas'].get(name, 0.0) * 100:.1f}%", f"{k - r:+.0f}"])
        rows.append(
            [
                "**total (profiled)**",
                f"{raw['profiled_cpu_us_per_call']:.0f}",
                f"{kei['profiled_cpu_us_per_call']:.0f}",
                "100%",
                f"{kei['profiled_cpu_us_per_call'] - raw['profiled_cpu_us_per_call']:+.0f}",
            ]
        )
        out.append(f"### cProfile by area, {flavour} flavour (µs per call under the profiler)\n")
        out.append(
            table(["area", f"raw httpx ({flavour})", f"kei_agent_{flavour}", "share of ours", "difference"], rows)
            + "\n"
        )
        if flavour == "sync":
            funcs = kei.get("functions") or []
            rows = [
                [f"`{f['function']}`", f"{f['cum_share'] * 100:.1f}%", f"{f['tot_share'] * 100:.1f}%", str(f["ncalls"])]
                for f in funcs
                if f["cum_share"] < 0.3
            ][:20]
            out.append(
                "Our functions (sync flavour), cumulative share of the profiled client CPU (the operation and "
                "pipeline frames that wrap the whole call, above 30%, are left out):\n"
            )
            out.append(table(["file:function", "cumulative", "own", "calls"], rows) + "\n")
    out.append(
        f"cProfile over {results['settings']['profile_n']} {X} (plan_task + execute_action) against the minimal "
        "server; built-ins are charged to their callers; time blocked waiting for the server is left out. cProfile "
        "inflates code with many small calls: use it to rank, and the step costs and what-if runs below for sizes.\n"
    )
    steps = dig(results, "parts", "steps") or {}
    base = kei_cpu_us(results)
    if steps:
        rows = []
        for name, step in steps.items():
            us = step.get("us")
            share = f"{us / base * 100:.1f}%" if us is not None and base else ""
            rows.append(
                [f"`{name}`", step["what"], "n/a (" + step.get("error", "") + ")" if us is None else f"{us:.2f}", share]
            )
        out.append("### Steps our pipeline adds, timed alone (`benchmarks/bench_parts.py`, best of 5, no network)\n")
        out.append(
            table(
                [
                    "step",
                    "what",
                    "µs per call",
                    "of kei_agent_sync CPU per call" + (f" ({base:.0f} µs)" if base else ""),
                ],
                rows,
            )
            + "\n"
        )
    whatif = results.get("whatif") or {}
    if any(isinstance(w, dict) and "modes" in w for w in whatif.values()):
        out.append("### What-if: the recommended changes simulated in-process (`benchmarks/bench_whatif.py`)\n")
        rows = []
        for flavour in ("sync", "async"):
            w = whatif.get(flavour) or {}
            for mode, fig in (w.get("modes") or {}).items():
                best = fig.get("cpu_ms_best", fig["cpu_ms_median"])
                rows.append(
                    [
                        flavour,
                        WHATIF_TITLES.get(mode, mode),
                        f"{best * 1000:.0f}",
                        f"{fig.get('vs_raw_best', fig['vs_raw']):.2f}{X}",
                        f"{fig['cpu_ms_median'] * 1000:.0f}",
                        f"{fig['vs_raw']:.2f}{X}",
                    ]
                )
        headers = ["flavour", "mode", "CPU per call, µs (best round)", "÷ raw (best)", "µs (median round)"]
        out.append(table([*headers, "÷ raw (median of per-round ratios)"], rows) + "\n")
        applied = dig(whatif, "sync", "applied") or []
        descriptions = dig(whatif, "sync", "descriptions") or {}
        skipped = {**(dig(whatif, "sync", "skipped") or {}), **(dig(whatif, "async", "skipped") or {})}
        effective = [name for name in applied if census_says_present(results, [PATCH_CENSUS.get(name, "")])]
        no_ops = [name for name in applied if name not in effective]
        out.append(
            "`kei+fixes` patches these internals in the benchmark process only (the library is unchanged): "
            + "; ".join(f"{descriptions.get(name, name)}" for name in effective)
            + ". Validation stays on. "
            + (f"Also applied, but already the case at this commit: {', '.join(no_ops)}. " if no_ops else "")
            + (f"Not applied (code changed): {', '.join(skipped)}. " if skipped else "")
            + f"{results['settings']['whatif_rounds']} rounds of interleaved blocks of "
            f"{results['settings']['whatif_block']} "
            "call pairs in one process, minimal server.\n"
        )
    return "\n".join(out)


def recommendations(results: dict[str, Any]) -> str:
    base = kei_cpu_us(results) or 0.0

    def cost(step: str) -> str:
        us = parts_us(results, step)
        if us is None:
            return "n/a"
        share = f", {us / base * 100:.1f}% of the sync client's CPU per call" if base else ""
        return f"{us:.1f} µs per call{share}"

    s = results["summary"]
    hdr, hdr_async, fixes, fixes_async = (
        dig(results, "whatif", flavour, "modes", mode, "vs_raw_best")
        for mode, flavour in (
            ("raw+headers", "sync"),
            ("raw+headers", "async"),
            ("kei+fixes", "sync"),
            ("kei+fixes", "async"),
        )
    )
    lines = ["## Findings and recommendations (library code is not changed by the benchmarks)\n"]
    lines.append(
        f"**The contract's own headers use much of the {CPU_GOAL}{X} budget.** Raw httpx sending the same headers our "
        "client must send (User-Agent, X-Agent-ID, X-Correlation-ID, Idempotency-Key, X-Kei-Retry-Count) already "
        f"costs {_x(hdr)} (sync) / {_x(hdr_async)} (async) of bare raw httpx (what-if run, best rounds): "
        "httpx keeps headers in lists and "
        "h11 validates each one, several times per request. With every change below simulated together "
        f"(`kei+fixes`), the client would be at {_x(fixes)} (sync) / {_x(fixes_async)} (async). Recommendations, "
        "by size (owners: the pipeline and auth engineers):\n"
    )
    recs: list[tuple[list[str], str, str]] = [
        (
            ["RetryPolicy(config)"],
            "one `RetryPolicy` (and `random.Random`, seeded from `os.urandom`) per call",
            "`kei_agent_async/_pipeline.py:Pipeline._send` builds `RetryPolicy(self._options.retry)` on every call, "
            "and `kei_agent/policies/retry.py:RetryPolicy.__init__` seeds a new `random.Random()` from `os.urandom` "
            f"({cost('RetryPolicy(config)')}). Build the policy once per `Pipeline` (its options are frozen) or give "
            "it one shared RNG; the jitter stays random.",
        ),
        (
            ["auth flow"],
            "the `httpx.Auth` flow for a static bearer token",
            f"`kei_agent_async/auth.py:KeiAuth.auth_flow` runs as an `httpx.Auth` generator on every attempt "
            f"({census_text(results, 'auth flow')}) even for a static bearer token without RBAC "
            f"({cost('auth flow')}, plus httpx's auth-flow driver in `Client._send_handling_auth`). For `BearerAuth` "
            "with a static token and `rbac_enabled=False` (the default), put `Authorization` into "
            "`Pipeline._headers` (precomputed, still a `Secret` until then) and keep the flow for refreshable tokens "
            "and 401 replays (a static token is never replayed anyway).",
        ),
        (
            ["_perf._performance"],
            "the DEBUG performance record built while DEBUG is off",
            "`Pipeline.call` builds the DEBUG performance record on every call while the SDK is silent "
            "(`kei_agent/logging/_logger.py:EnterpriseLogger._performance`, "
            f"{census_text(results, '_perf._performance')}, {cost('_perf._performance')}). "
            "Check once whether DEBUG is enabled for the pipeline (a flag that "
            "`configure_logging` flips, or loguru's minimum level) before building the record.",
        ),
        (
            ["_log.bind(...)"],
            "`_log.bind(...)` on every call",
            f"`_send` does `_log.bind(...)` on every call ({cost('_log.bind(...)')}) though it is used only when a "
            "retry is logged: bind inside the retry branch.",
        ),
        (
            ["lock.held() x3"],
            "`PolicyLock.held()` generators",
            "`kei_agent_*/_backend.py:PolicyLock.held` is entered "
            f"{census_text(results, 'lock.held() x3')} ({cost('lock.held() x3')} for three); in the async flavour "
            "it guards nothing. Return the `threading.Lock` itself (sync) and one shared `contextlib.nullcontext()` "
            "(async).",
        ),
        (
            ["uuid4().hex x2"],
            "`uuid.uuid4()` ids",
            f"`uuid.uuid4().hex` ids ({census_text(results, 'uuid4().hex x2')}; {cost('uuid4().hex x2')} for two): "
            f"`os.urandom(16).hex()` gives the same 128 random bits for {cost('os.urandom(16).hex() x2')} "
            "(`kei_agent/_context.py:new_correlation_id`, `Pipeline._send`).",
        ),
    ]
    idle, plain = parts_us(results, "telemetry scopes, OTel idle"), parts_us(results, "telemetry scopes")
    if idle is not None and plain is not None and idle - plain > 2.0:
        recs.append(
            (
                [],
                "",
                "With OpenTelemetry installed but no provider configured (common: other libraries pull the API in), "
                f"the operation + attempt scopes cost {idle:.1f} µs per call instead of {plain:.1f}: "
                "`kei_agent/observability/_otel.py:OtelInstrumentation._configured` asks "
                "`trace.get_tracer_provider()` and `metrics.get_meter_provider()` on every scope. Cache a positive "
                "answer, and re-check a negative one at most every few seconds.",
            )
        )
    present, fixed = [], []
    for keys, short, text in recs:
        costs = [scaled(results, key) for key in keys]
        cheap = bool(keys) and all(c is not None and c < 1.0 for c in costs)
        (present if census_says_present(results, keys) and not cheap else fixed).append((short, text))
    lines += [f"{i}. {text}" for i, (_short, text) in enumerate(present, 1)]
    lines.append(
        f"{len(present) + 1}. Not worth changing: input validation ({cost('validate planTask')}; opt-out exists), "
        f"parsing into the typed models (`_parse`, {cost('parse planTask')} against "
        f"{cost('json.loads(plan body)')} for `json.loads` alone: the price of typed results), routing, breaker, "
        "header building (about 1 µs each) and the `httpx.Timeout` copy httpx makes of our explicit `timeout=` "
        f"({cost('httpx.Timeout(copy)')})."
    )
    if fixed:
        lines.append(
            "\nAlready gone from the hot path at this commit (0 per call in the census of "
            "`benchmarks/bench_parts.py`, or under 1 µs per call now): " + "; ".join(short for short, _ in fixed) + "."
        )
    lines.append(residual(results))
    order = results.get("log_order") or {}
    before, after = order.get("configure_then_import"), order.get("import_then_configure")
    if before is not None and after is not None and before < after:
        lines.append(
            f"\n**Logging bug (owner: logging)**: with `configure_logging(level='DEBUG', enable_file=True)` called "
            f"*before* `import kei_agent_sync`, one call wrote {before} line(s) to the file; called after the import, "
            f"{after}. Each flavour package runs `logger.disable('kei_agent_sync' / 'kei_agent_async')` when it is "
            "imported, undoing `configure_logging`'s enable for applications that configure logging first (the usual "
            "order). Fix: let the flavour packages check a flag set by `configure_logging` (or have "
            "`configure_logging` enable them again on import). The logging rows above import the clients first, so "
            "they measure the records actually written."
        )
    elif before is not None and after is not None:
        lines.append(
            f"\nLogging configured before or after importing a client flavour keeps the SDK's records (checked: "
            f"{before} and {after} line(s) for one DEBUG call)."
        )
    peer_async = med(dig(s, "ratios_peer", "async", "act_latency"))
    peer_raw_async = med(dig(s, "ratios_peer", "raw-async", "act_latency"))
    peer_sync = med(dig(s, "ratios_peer", "sync", "act_latency"))
    peer_cpu = med(dig(s, "seq", "b6", "act", "cpu_ms"))
    tput1 = med(dig(s, "ratios_peer", "async", "tput_1"))
    if peer_async is not None and peer_raw_async is not None and peer_async < 20:
        if peer_raw_async >= 20:
            reach = (
                f"so our async client may be at most {(peer_raw_async / 20 - 1) * 100:.0f}% slower per call than raw "
                f"httpx.AsyncClient to reach 20{X} here (it is {(peer_raw_async / peer_async - 1) * 100:.0f}% slower)."
            )
        else:
            reach = f"so on this measurement 20{X} is out of reach for any client built on a reused httpx.AsyncClient."
        lines.append(
            f"\n**Against 0.1.0b6**: it spends {peer_cpu or 0:.1f} ms of CPU per call (a new `httpx.AsyncClient` "
            "with a new SSL context and a new TCP connection per call), so every reused client is far ahead: "
            f"our blocking client {_x(peer_sync, 1)}, our async client {_x(peer_async, 1)} (sequential calls against "
            f"the reference server, whose own time is part of every call). The async figure misses 20{X} because an "
            "asyncio round trip costs more than a blocking one: raw `httpx.AsyncClient` itself is "
            f"{_x(peer_raw_async, 1)} faster than 0.1.0b6 on this machine and server, {reach} Against the minimal "
            f"server (one call at a time, the throughput table) our async client is {_x(tput1, 1)} 0.1.0b6's rate.\n"
        )
    t64 = med(dig(s, "ratios_raw", "async", "tput_64"))
    lines.append(
        "\n**Async throughput at 64 concurrent** "
        f"({_x(t64)} of raw httpx): the same per-call CPU, paid on one event loop; the gap closes with the "
        "CPU items above. Both clients fall well below their 1-concurrent rate at 16 and 64 because httpcore's "
        "pool does per-request bookkeeping over all connections and, with the default "
        "`max_keepalive_connections=20`, re-opens connections above 20; applications with high concurrency "
        "should raise `ConnectionConfig.max_keepalive_connections` to their concurrency (worth a README note).\n"
    )
    warm = med(dig(s, "imports", "warm", "public API", "importtime_ms"))
    httpx_ms = med(dig(s, "imports", "warm", "httpx", "importtime_ms"))
    own = med(dig(s, "imports", "warm", "public API", "own_ms"))
    packages = dict(dig(s, "imports", "warm", "public API", "by_package_ms") or [])
    if warm is not None and httpx_ms is not None:
        attrs_ms = packages.get("attr", 0) + packages.get("attrs", 0) + packages.get("cattrs", 0)
        own_heavy = dig(s, "imports", "warm", "public API", "own_heaviest_ms") or []
        heaviest = ", ".join(f"`{name}` {value:.1f} ms" for name, value in own_heavy[:4])
        lines.append(
            f"**Import time** ({warm:.0f} ms warm for the public API; `import httpx` alone {httpx_ms:.0f} ms): our "
            f"own modules take {own or 0:.0f} ms; the rest are dependencies. loguru is imported by "
            "`kei_agent/__init__.py` (to disable the SDK's records) and by the pipeline's logger, and loguru itself "
            f"imports `asyncio` ({packages.get('asyncio', 0):.0f} ms self time here) and `multiprocessing` "
            f"({packages.get('multiprocessing', 0):.1f} ms): a sync-only script pays for both. attrs/cattrs "
            f"({attrs_ms:.0f} ms) are needed by the configuration. To get under 125 ms: import loguru on first use "
            "(a small proxy in `kei_agent.logging` that records `disable()`/`bind()` until loguru is loaded; the SDK "
            "is silent by default, so most processes never need it), and keep what `client.py` imports only for "
            "types (`stream`, `bus`) behind `TYPE_CHECKING`."
            + (
                f" Our heaviest modules (self time): {heaviest}; attrs builds each class's methods with `exec` at "
                "import, so many small attrs classes in the core cost milliseconds."
                if heaviest
                else ""
            )
            + "\n"
        )
    return "\n".join(lines) + "\n"


#: Steps of bench_parts that every plan_task call runs once (the contract's two uuid4 are in raw+headers).
PER_CALL_STEPS = [
    "models.PlanRequest(...)",
    "validate planTask",
    "_get_kwargs planTask",
    "parse planTask",
    "_headers",
    "RetryPolicy(config)",
    "retry.decide(Success)",
    "OperationPolicy(...)",
    "lock.held() x3",
    "router.candidates",
    "breaker admit+record",
    "_attempt_timeout",
    "_log.bind(...)",
    "_perf._performance",
    "telemetry scopes",
    "correlation id scope",
    "auth flow",
]


#: What-if patch -> the census key of the step it removes.
PATCH_CENSUS = {
    "reuse-retry-policy": "RetryPolicy(config)",
    "plain-lock": "lock.held() x3",
    "lazy-perf-record": "_perf._performance",
    "no-log-bind": "_log.bind(...)",
    "static-bearer-header": "auth flow",
    "client-default-timeout": "httpx.Timeout(...)",
}


def census_count(results: dict[str, Any], key: str, variant: str = "kei") -> float | None:
    per_call = dig(results, "parts", "census", "per_call")
    if not isinstance(per_call, dict):
        return None
    return float((per_call.get(variant) or {}).get(key, 0.0))


def census_text(results: dict[str, Any], key: str, variant: str = "kei") -> str:
    count = census_count(results, key, variant)
    return "count n/a" if count is None else f"{count:g}{X} per call"


def census_says_present(results: dict[str, Any], keys: list[str]) -> bool:
    """True unless the census ran and counted none of ``keys`` beyond what raw httpx does."""
    counts = [census_count(results, key) for key in keys]
    if not keys or any(c is None for c in counts):
        return True
    return any((census_count(results, key) or 0) > (census_count(results, key, "raw") or 0) for key in keys)


#: Steps whose per-call count the census measures: (census key, times the timed step runs it).
CENSUS_KEYS = {
    "RetryPolicy(config)": ("RetryPolicy(config)", 1),
    "lock.held() x3": ("lock.held() x3", 3),
    "auth flow": ("auth flow", 1),
    "_log.bind(...)": ("_log.bind(...)", 1),
    "_perf._performance": ("_perf._performance", 1),
    "validate planTask": ("validate planTask", 1),
}


def scaled(results: dict[str, Any], step: str) -> float | None:
    """A step's cost per call: its timed cost times how often the census saw it run per call."""
    us = parts_us(results, step)
    if us is None or step not in CENSUS_KEYS:
        return us
    key, nominal = CENSUS_KEYS[step]
    count = census_count(results, key)
    return us if count is None else us * count / nominal


def residual(results: dict[str, Any]) -> str:
    """How much of our overhead the timed steps explain, and what the rest is."""
    modes = dig(results, "whatif", "sync", "modes") or {}
    kei, hdr, raw = (best_value(modes.get(m)) for m in ("kei", "raw+headers", "raw"))
    steps = [scaled(results, name) for name in PER_CALL_STEPS]
    if kei is None or hdr is None or raw is None or any(v is None for v in steps):
        return ""
    json_us = parts_us(results, "json.loads(plan body)") or 0.0
    uuid_us = (parts_us(results, "uuid4().hex x2") or 0.0) / 2
    timed = sum(v for v in steps if v is not None) - json_us - uuid_us  # raw parses JSON and makes ids too
    gap = kei - hdr
    budget = CPU_GOAL * raw - hdr
    rest = gap - timed
    if rest > 0:
        rest_text = (
            f"The other {rest:.0f} µs is in no single step: cProfile puts it in the own time of the pipeline "
            "functions and the stdlib calls they make: the engine's frames (`Pipeline.call` → `_run` → `_attempts` "
            "→ `_exchange` → `_read` / `_parse`), the per-call header dict and extensions dict, try/finally and "
            "context managers around each stage."
        )
    else:
        rest_text = "Within the noise of this run, the timed steps explain all of it."
    if budget > 0:
        budget_text = (
            f"The {CPU_GOAL}{X} target leaves {budget:.0f} µs per call above raw httpx + headers on this machine, "
            "so the sync client needs, besides the items above,"
        )
    else:
        budget_text = (
            f"In this run the contract's headers alone use the whole {CPU_GOAL}{X} budget of the sync client "
            f"(raw + headers = {hdr / raw:.2f}{X}), so it needs, besides the items above,"
        )
    return (
        f"\n**What the steps explain, and what is left** (sync flavour, what-if run, best rounds): ours costs "
        f"{gap:.0f} µs per call more than raw httpx sending the same headers; the steps timed above account for "
        f"{timed:.0f} µs of it (validation and typed parsing included). {rest_text} {budget_text} "
        "(a) a per-(client, operation) cache of everything that is constant (OperationPolicy, the generated module, "
        "the extensions dict, the header template with User-Agent / X-Agent-ID / X-Tenant-ID / config headers, the "
        "breaker object, the routing result while no downgrade is active), built once on first use; (b) one flat "
        "fast path for the first attempt on the native protocol (the common case), entering `_route`/fallback only "
        "after a failure.\n"
    )


def best_value(fig: dict[str, Any] | None) -> float | None:
    return None if not fig else fig.get("cpu_ms_best", fig["cpu_ms_median"]) * 1000.0


def console_summary(results: dict[str, Any]) -> str:
    s = results["summary"]
    lines = ["", "Targets:"]
    lines += [f"  {r['verdict']:>6}  {r['target']}: {r['shown']} (goal {r['goal']})" for r in s["targets"]]
    if s.get("errors"):
        lines.append("Errors:")
        lines += [f"  {job}: {errs[0]}" for job, errs in s["errors"].items()]
    return "\n".join(lines)


JOB_TITLES = {
    "raw-sync": "raw `httpx.Client`",
    "kei-sync": "`kei_agent_sync.KeiAgentClient`",
    "kei-sync/novalidate": "`kei_agent_sync` (validation off)",
    "raw-async": "raw `httpx.AsyncClient`",
    "kei-async": "`kei_agent_async.KeiAgentClient`",
    "kei-async/novalidate": "`kei_agent_async` (validation off)",
    "kei-async/log-info": "`kei_agent_async` + logging INFO → file",
    "kei-async/log-debug": "`kei_agent_async` + logging DEBUG → file",
    "kei-async/otel-idle": "`kei_agent_async` + OTel installed, idle",
    "kei-async/tracing": "`kei_agent_async` + tracing",
    "b6": "kei-agent-py-sdk 0.1.0b6 (async)",
}
STATEMENTS = {
    "httpx": "import httpx",
    "kei_agent": "import kei_agent",
    "kei_agent_async": "import kei_agent_async",
    "kei_agent_sync": "import kei_agent_sync",
    "public API": "from kei_agent import AgentClientConfig, UnifiedKeiAgentClient",
    "0.1.0b6 public API": "from kei_agent import AgentClientConfig, UnifiedKeiAgentClient",
}
WHATIF_TITLES = {
    "raw": "raw httpx",
    "raw+headers": "raw httpx + the contract's headers",
    "kei": "kei_agent client (defaults)",
    "kei+fixes": "kei_agent client + all recommended changes (simulated)",
}
METHOD = """### Method

- **Processes**: every client variant runs in its own process, started fresh per round; the order of the
  variants rotates from round to round; ratios (ours ÷ raw httpx, 0.1.0b6 ÷ ours) are computed within a round,
  then the median and range over the rounds are reported.
- **Sequential calls**: against the **reference server** in its own process (one uvicorn worker, httptools,
  access log off): {seq_warmup} warm-up calls, then {seq_n} timed calls each of `plan_task` (objective + context)
  and `execute_action("echo", ...)`, one at a time on a kept-alive connection. Latency = wall time per call;
  client CPU = `time.process_time()` of the client process over the timed calls ÷ calls (the server's CPU is
  not included).
- **Raw httpx** does what a hand-written client would: a reused `httpx.Client` / `httpx.AsyncClient`, `post(path,
  json=body, headers={{Authorization: Bearer ...}})`, `raise_for_status()`, `.json()`. Our clients add validation,
  headers, retry/breaker/routing, typed models.
- **Throughput and memory**: against a **minimal raw-ASGI app** on uvicorn + httptools (one worker, its own process)
  that answers with a response recorded from the reference server, because at 16-64 concurrent calls the
  reference server's own cost would dominate.
"""
PEER_NOTE = """What 0.1.0b6 does per call (it is what is measured): `UnifiedKeiAgentClient.execute_action(action,
parameters, protocol=RPC)` → `execute_agent_operation` → its retry manager → `KEIRPCclient.__aenter__`, which
builds a new `httpx.AsyncClient` (and SSL context) → `POST /api/v1/rpc/act` on a new TCP connection →
`raise_for_status()` → `.json()` → `aclose()`. The request and response match our contract, so these calls
succeed against our server with `base_url` and the `dev-token`. Its `plan_task` cannot: 0.1.0b6 posts to
`/api/v1/rpc/plat` (a typo in the released package), which our server answers with 404 (retried 3x), so the
comparison uses execute_action only. It has no blocking client; the "vs kei_agent_sync" column compares our
blocking client with its async one. Concurrent calls share one `KEIRPCclient` whose `__aexit__` closes the
most recently created httpx client, so some concurrent calls fail (counted in the throughput table)."""
SERVERS_NOTE = """## Servers used

- **Reference server** (`kei_agent.testing.run_server` in its own process: one uvicorn worker, httptools,
  access log off): sequential latency and CPU per call, the optional layers, 0.1.0b6's sequential calls.
- **Minimal raw-ASGI app** (uvicorn + httptools, its own process, one worker, replaying a recorded
  reference-server response): async throughput at 1/16/64, RSS growth, cProfile, what-if.
- **Reference server throughput**: the reference server, driven by `benchmarks/bench_loadgen.py` in another process.
- **Import time**: no server (a fresh interpreter per run).

Reproduce: `nox -s bench` (about 8 to 10 minutes; it creates `.nox/bench-envs/` for the clean and 0.1.0b6
virtualenvs). `python benchmarks/run.py --quick` is a smoke test of the harness."""
