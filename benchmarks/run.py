"""Run every benchmark and write ``BENCHMARKS.md`` and ``benchmarks/results.json``.

``nox -s bench`` runs this with the package installed (editable, ``server`` + ``otel`` extras).
It prepares two more virtualenvs under ``.nox/bench-envs/`` (never the main environment):
``clean`` (our wheel + runtime dependencies only: the import-time headline) and
``kei-agent-py-sdk-0.1.0b6`` (the earlier SDK, whose import name is also ``kei_agent``).

Every figure is measured side by side with its baseline in the same run: variants run in their
own processes, interleaved in a rotating order, round after round (``--rounds``, at least 5), and
ratios are taken per round before the median. Servers run in their own processes.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import report

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEER = "kei-agent-py-sdk==0.1.0b6"
RUNTIME_IMPORTS = {
    "httpx": "import httpx",
    "kei_agent": "import kei_agent",
    "kei_agent_async": "import kei_agent_async",
    "kei_agent_sync": "import kei_agent_sync",
    "public API": "from kei_agent import AgentClientConfig, UnifiedKeiAgentClient",
}
PEER_IMPORT = "from kei_agent import AgentClientConfig, UnifiedKeiAgentClient"
ASYNC_LAYERS = ["operations", "lowlevel", "novalidate", "log-info", "log-debug", "otel-idle", "tracing"]


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ------------------------------------------------------------------------------------ settings


class Settings:
    """Call counts; ``--quick`` shrinks them for a smoke run (figures then are not meaningful)."""

    def __init__(self, rounds: int, quick: bool) -> None:
        self.rounds = rounds
        scale = 0.2 if quick else 1.0
        self.seq_n = int(400 * scale)
        self.seq_warmup = int(50 * scale)
        self.tput_calls = int(1024 * scale)
        self.peer_n = max(10, int(60 * scale))
        self.peer_tput_calls = 32 if not quick else 16
        self.rss_calls = 10000 if not quick else 1000
        self.load_duration = 2.5 if not quick else 0.5
        self.profile_n = int(500 * scale)
        self.whatif_rounds = 10 if not quick else 2
        self.whatif_block = int(200 * scale)


# ------------------------------------------------------------------------------------ processes


def worker_env(*, bytecode: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["PYTHONUNBUFFERED"] = "1"
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_worker(
    python: str, script: str, args: list[str], *, timeout: float = 300, env: dict[str, str] | None = None
) -> Any:
    """Run a worker script (cwd: a temp dir, so the repo never shadows an installed package)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        proc = subprocess.run(
            [python, str(HERE / script), *args, "--out", str(out)],
            cwd=tmp,
            env=env or worker_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0 or not out.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
            skip = [line for line in tail if line.startswith("SKIP:")]
            return {"error": skip[-1] if skip else " | ".join(tail) or f"exit {proc.returncode}"}
        return json.loads(out.read_text())


@contextlib.contextmanager
def server_process(python: str, kind: str, *extra: str) -> Iterator[str]:
    """A benchmark server in its own process; yields its base URL; stopped with SIGTERM."""
    with tempfile.TemporaryDirectory() as tmp:
        url_file = Path(tmp) / "url"
        proc = subprocess.Popen(
            [python, str(HERE / "bench_servers.py"), kind, "--url-file", str(url_file), *extra],
            cwd=tmp,
            env=worker_env(),
            stdout=subprocess.DEVNULL,
            stderr=open(Path(tmp) / "stderr", "w"),  # noqa: SIM115 - closed with the directory
        )
        try:
            deadline = time.monotonic() + 30
            while not url_file.exists() or not url_file.read_text().strip():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{kind} server did not start: {(Path(tmp) / 'stderr').read_text()[-2000:]}")
                time.sleep(0.05)
            yield url_file.read_text().strip()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def record_responses(ref_url: str, path: Path) -> None:
    """Record one real plan and act response of the reference server for the minimal server."""
    import httpx
    from bench_common import ACT_BODY, ACT_PATH, PLAN_BODY, PLAN_PATH, TOKEN

    answers = {}
    with httpx.Client(base_url=ref_url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        for route, body in ((PLAN_PATH, PLAN_BODY), (ACT_PATH, ACT_BODY)):
            response = client.post(route, json=body)
            response.raise_for_status()
            answers[route] = {"status": response.status_code, "body": response.text}
    path.write_text(json.dumps(answers))


# ------------------------------------------------------------------------------------ virtualenvs


def venv_python(path: Path) -> str:
    return str(path / "bin" / "python")


def site_packages(python: str) -> Path:
    out = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


def pip(python: str, *args: str) -> None:
    proc = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile", *args],
        env=worker_env(),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"pip install {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")


def make_venv(path: Path) -> str:
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--clear", str(path)], check=True)
    return venv_python(path)


def prepare_clean_env(envs: Path) -> str:
    """Our wheel + its runtime dependencies, nothing else (rebuilt from the work tree every run)."""
    path = envs / "clean"
    marker = path / "bench-deps.json"
    deps = sorted(report.runtime_requirements(ROOT))
    python = venv_python(path)
    if not marker.exists() or json.loads(marker.read_text()) != deps:
        log("creating the clean virtualenv (runtime dependencies only)")
        python = make_venv(path)
        pip(python, *deps)
        marker.write_text(json.dumps(deps))
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [python, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps", "-w", tmp, str(ROOT)],
            check=True,
            env=worker_env(),
            cwd=tmp,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        pip(python, "--no-deps", "--force-reinstall", str(wheel))
    return python


def prepare_peer_env(envs: Path) -> str:
    path = envs / "kei-agent-py-sdk-0.1.0b6"
    marker = path / "bench-peer.txt"
    python = venv_python(path)
    if not marker.exists():
        log(f"creating the virtualenv of {PEER}")
        python = make_venv(path)
        pip(python, PEER)
        marker.write_text(PEER)
    return python


def remove_bytecode(root: Path) -> None:
    for cache in root.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


def compile_all(python: str, root: Path) -> None:
    subprocess.run([python, "-m", "compileall", "-q", "-j", "0", str(root)], check=False, capture_output=True)


# ------------------------------------------------------------------------------------ phases


IMPORT_PROBE = """import sys, time
sys.stderr.write('@@start\\n'); sys.stderr.flush()
n0 = len(sys.modules); t0 = time.perf_counter()
{stmt}
t1 = time.perf_counter(); n1 = len(sys.modules)
sys.stderr.write('@@end\\n'); sys.stderr.flush()
print(repr((t1 - t0, n1 - n0, 'trio' in sys.modules)))
"""


def import_once(python: str, stmt: str, *, cold: bool) -> dict[str, Any]:
    env = worker_env(bytecode=not cold)
    if cold:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [python, *(["-B"] if cold else []), "-X", "importtime", "-c", IMPORT_PROBE.format(stmt=stmt)],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:]}
    wall, modules, trio = ast.literal_eval(proc.stdout.strip().splitlines()[-1])
    section = proc.stderr.split("@@start\n", 1)[1].split("@@end\n", 1)[0]
    top = 0
    heavy: list[tuple[int, str]] = []
    children: list[tuple[int, str]] = []
    by_package: dict[str, int] = {}
    for line in section.splitlines():
        fields = line.split("|")
        if not line.startswith("import time:") or len(fields) != 3:
            continue
        self_us, cumulative, name = fields[0].removeprefix("import time:").strip(), fields[1].strip(), fields[2]
        if not self_us.isdigit():
            continue  # the header line
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        if depth == 0:
            top += int(cumulative)
        elif depth == 1:
            children.append((int(cumulative), name.strip()))
        heavy.append((int(self_us), name.strip()))
        package = name.strip().split(".")[0]
        by_package[package] = by_package.get(package, 0) + int(self_us)
    heavy.sort(reverse=True)
    children.sort(reverse=True)
    return {
        "importtime_ms": top / 1000.0,
        "wall_ms": wall * 1000.0,
        "modules": modules,
        "trio": trio,
        "heaviest_self_ms": [[name, value / 1000.0] for value, name in heavy[:12]],
        "direct_imports_ms": [[name, value / 1000.0] for value, name in children[:12]],
        "own_ms": sum(v for k, v in by_package.items() if k.startswith("kei_agent")) / 1000.0,
        "own_heaviest_ms": [[name, value / 1000.0] for value, name in heavy if name.startswith("kei_agent")][:6],
        "by_package_ms": [[k, v / 1000.0] for k, v in sorted(by_package.items(), key=lambda kv: -kv[1])[:25]],
    }


def phase_imports(settings: Settings, clean: str, peer: str | None) -> dict[str, Any]:
    targets: list[tuple[str, str, str]] = [(name, stmt, clean) for name, stmt in RUNTIME_IMPORTS.items()]
    if peer:
        targets.append(("0.1.0b6 public API", PEER_IMPORT, peer))
    out: dict[str, Any] = {"cold": {}, "warm": {}, "dev": {}}
    pythons = {clean, *([peer] if peer else [])}
    for python in pythons:
        remove_bytecode(site_packages(python))
    for kind in ("cold", "warm"):
        if kind == "warm":
            for python in pythons:
                compile_all(python, site_packages(python))
        log(f"import time, {kind}")
        for r in range(settings.rounds):
            for name, stmt, python in rotate(targets, r):
                out[kind].setdefault(name, []).append(import_once(python, stmt, cold=kind == "cold"))
    # The bench session's own environment (editable install, server + otel extras): for contrast.
    import_once(sys.executable, RUNTIME_IMPORTS["public API"], cold=False)  # writes the bytecode
    for _ in range(settings.rounds):
        out["dev"].setdefault("public API", []).append(
            import_once(sys.executable, RUNTIME_IMPORTS["public API"], cold=False)
        )
    return out


def phase_server(settings: Settings, ref_url: str, fast_url: str) -> dict[str, Any]:
    log("reference server throughput (lean load generator in its own process)")
    out: dict[str, list[Any]] = {"reference": [], "minimal": []}
    for r in range(settings.rounds):
        for name, url in rotate([("reference", ref_url), ("minimal", fast_url)], r):
            proc = subprocess.run(
                [sys.executable, str(HERE / "bench_loadgen.py"), url, "--duration", str(settings.load_duration)],
                capture_output=True,
                text=True,
                timeout=120,
                env=worker_env(),
            )
            out[name].append(json.loads(proc.stdout) if proc.returncode == 0 else {"error": proc.stderr[-500:]})
    return out


def client_jobs(
    settings: Settings, ref_url: str, fast_url: str, peer: str | None
) -> list[tuple[str, str, str, list[str]]]:
    """(job name, python, script, args) of one round."""
    seq = [
        "--ref-url",
        ref_url,
        "--fast-url",
        fast_url,
        "-n",
        str(settings.seq_n),
        "--warmup",
        str(settings.seq_warmup),
    ]
    tput = ["--tasks", "seq,tput", "--tput-calls", str(settings.tput_calls)]
    py = sys.executable
    jobs = [
        ("raw-sync", py, "bench_clients.py", ["raw-sync", *seq]),
        ("kei-sync", py, "bench_clients.py", ["kei-sync", *seq]),
        ("kei-sync/novalidate", py, "bench_clients.py", ["kei-sync", "--layer", "novalidate", *seq]),
        ("kei-sync/operations", py, "bench_clients.py", ["kei-sync", "--layer", "operations", *seq]),
        ("kei-sync/lowlevel", py, "bench_clients.py", ["kei-sync", "--layer", "lowlevel", *seq]),
        ("raw-async", py, "bench_clients.py", ["raw-async", *seq, *tput]),
        ("kei-async", py, "bench_clients.py", ["kei-async", *seq, *tput]),
    ]
    for layer in ASYNC_LAYERS:
        jobs.append((f"kei-async/{layer}", py, "bench_clients.py", ["kei-async", "--layer", layer, *seq]))
    if peer:
        jobs.append(
            (
                "b6",
                peer,
                "bench_peer.py",
                [
                    "--ref-url",
                    ref_url,
                    "--fast-url",
                    fast_url,
                    "-n",
                    str(settings.peer_n),
                    "--warmup",
                    "5",
                    "--tput-calls",
                    str(settings.peer_tput_calls),
                ],
            )
        )
    return jobs


def phase_clients(settings: Settings, ref_url: str, fast_url: str, peer: str | None) -> dict[str, list[Any]]:
    jobs = client_jobs(settings, ref_url, fast_url, peer)
    out: dict[str, list[Any]] = {name: [] for name, *_ in jobs}
    for r in range(settings.rounds):
        log(f"clients: round {r + 1}/{settings.rounds} ({len(jobs)} processes)")
        for name, python, script, args in rotate(jobs, r):
            out[name].append(run_worker(python, script, args))
    return out


#: The transport table: (job, variant, transport); our plan_task next to raw httpx, on each transport.
TRANSPORT_JOBS = [
    ("raw-async/httpx", "raw-async", "httpx"),
    ("raw-async/aiohttp", "raw-async", "aiohttp"),
    ("kei-async/httpx", "kei-async", "httpx"),
    ("kei-async/aiohttp", "kei-async", "aiohttp"),
]
TRANSPORT_POOL = 64  # pool limits = the highest concurrency: no connection is re-opened at any level


def phase_transports(settings: Settings, fast_url: str) -> dict[str, list[Any]]:
    """plan_task at 1/16/64 in flight: raw httpx and our async client, on httpcore and on aiohttp."""
    out: dict[str, list[Any]] = {name: [] for name, *_ in TRANSPORT_JOBS}
    for r in range(settings.rounds):
        log(f"transports: round {r + 1}/{settings.rounds} ({len(TRANSPORT_JOBS)} processes)")
        for name, variant, transport in rotate(TRANSPORT_JOBS, r):
            args = [variant, "--tasks", "tput", "--fast-url", fast_url, "--tput-calls", str(settings.tput_calls)]
            args += ["--tput-op", "plan", "--transport", transport, "--pool", str(TRANSPORT_POOL)]
            out[name].append(run_worker(sys.executable, "bench_clients.py", args))
    return out


def phase_rss(settings: Settings, fast_url: str) -> dict[str, list[Any]]:
    """RSS holding one client and after --rss-calls calls; two processes at a time (memory only)."""
    log(f"RSS growth over {settings.rss_calls} calls (minimal server)")
    variants = ["raw-sync", "kei-sync", "raw-async", "kei-async"]
    tasks = [(v, r) for r in range(settings.rounds) for v in rotate(variants, r)]
    args = ["--tasks", "rss", "--fast-url", fast_url, "--rss-calls", str(settings.rss_calls)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [
            (v, pool.submit(run_worker, sys.executable, "bench_clients.py", [v, *args], timeout=600)) for v, _ in tasks
        ]
        out: dict[str, list[Any]] = {v: [] for v in variants}
        for variant, future in futures:
            out[variant].append(future.result())
    return out


def phase_profile(settings: Settings, fast_url: str, responses: Path) -> dict[str, Any]:
    log("profiles, per-step costs and what-if measurements")
    out: dict[str, Any] = {"profile": {}, "whatif": {}}
    for variant in ("raw-sync", "kei-sync", "raw-async", "kei-async"):
        out["profile"][variant] = run_worker(
            sys.executable, "bench_profile.py", [variant, "--url", fast_url, "-n", str(settings.profile_n)]
        )
    env = worker_env()
    env["BENCH_RESPONSES"] = str(responses)
    out["parts"] = run_worker(sys.executable, "bench_parts.py", [], env=env)
    out["log_order"] = run_worker(sys.executable, "bench_logorder.py", ["--url", fast_url])
    for flavour in ("sync", "async"):
        out["whatif"][flavour] = run_worker(
            sys.executable,
            "bench_whatif.py",
            [
                flavour,
                "--url",
                fast_url,
                "--rounds",
                str(settings.whatif_rounds),
                "--block",
                str(settings.whatif_block),
            ],
        )
    return out


def rotate(items: list[Any], r: int) -> list[Any]:
    if not items:
        return items
    k = r % len(items)
    return items[k:] + items[:k]


# ------------------------------------------------------------------------------------ machine


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        memory = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
    )
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_bytes": memory,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "loadavg_start": os.getloadavg(),
        "git_commit": commit.stdout.strip(),
        "git_dirty": bool(dirty.stdout.strip()),
        "purelib": sysconfig.get_paths()["purelib"],
    }


def versions(python: str, names: list[str]) -> dict[str, str | None]:
    code = (
        "import json, importlib.metadata as m\n"
        "out = {}\n"
        f"for n in {names!r}:\n"
        "    try:\n        out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError:\n        out[n] = None\n"
        "print(json.dumps(out))"
    )
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=tempfile.gettempdir())
    return json.loads(proc.stdout) if proc.returncode == 0 else {}


# ------------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="rounds per figure (at least 5 for a report)")
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke test of the harness")
    parser.add_argument("--envs", type=Path, default=ROOT / ".nox" / "bench-envs")
    parser.add_argument("--json", type=Path, default=HERE / "results.json")
    parser.add_argument("--md", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-peer", action="store_true", help=f"skip {PEER}")
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from the JSON file")
    parser.add_argument(
        "--only-transports", action="store_true", help="run only the transport table (report: that section)"
    )
    args = parser.parse_args()
    if args.report_only:
        results = json.loads(args.json.read_text())
        write_outputs(results, args.json, args.md)
        return
    settings = Settings(args.rounds, args.quick)
    started = time.monotonic()
    results: dict[str, Any] = {"machine": machine(), "settings": vars(settings), "quick": args.quick}
    if args.only_transports:
        results["versions"] = {"bench": versions(sys.executable, ["httpx", "httpcore", "aiohttp", "httpx-aiohttp"])}
        with tempfile.TemporaryDirectory() as tmp, server_process(sys.executable, "ref") as ref_url:
            responses = Path(tmp) / "responses.json"
            record_responses(ref_url, responses)
            with server_process(sys.executable, "fast", "--responses", str(responses)) as fast_url:
                results["transports"] = phase_transports(settings, fast_url)
        print(report.transport_section(report.summarize_transports(results)))
        return
    args.envs.mkdir(parents=True, exist_ok=True)

    clean = prepare_clean_env(args.envs)
    peer = None
    if not args.no_peer:
        try:
            peer = prepare_peer_env(args.envs)
        except (SystemExit, subprocess.CalledProcessError) as exc:  # e.g. no package index: report without it
            log(f"{PEER} unavailable, its rows are skipped: {exc}")
            results["peer_error"] = str(exc)[-2000:]
    packages = ["kei-agent-py-sdk", "httpx", "httpcore", "h11", "anyio", "attrs", "cattrs", "loguru"]
    packages += ["aiohttp", "httpx-aiohttp"]
    server_packages = ["uvicorn", "httptools", "starlette", "opentelemetry-api", "opentelemetry-sdk", "trio", "uvloop"]
    results["versions"] = {
        "bench": versions(sys.executable, packages + server_packages),
        "clean": versions(clean, [*packages, "requests-oauthlib", "trio"]),
        "peer": versions(peer, ["kei-agent-py-sdk", "httpx", "pydantic", "opentelemetry-sdk"]) if peer else {},
    }

    with tempfile.TemporaryDirectory() as tmp, server_process(sys.executable, "ref") as ref_url:
        responses = Path(tmp) / "responses.json"
        record_responses(ref_url, responses)
        with server_process(sys.executable, "fast", "--responses", str(responses)) as fast_url:
            log(f"reference server {ref_url}, minimal server {fast_url}")
            results["imports"] = phase_imports(settings, clean, peer)
            results["server"] = phase_server(settings, ref_url, fast_url)
            results["clients"] = phase_clients(settings, ref_url, fast_url, peer)
            results["transports"] = phase_transports(settings, fast_url)
            results["rss"] = phase_rss(settings, fast_url)
            results.update(phase_profile(settings, fast_url, responses))

    results["machine"]["loadavg_end"] = os.getloadavg()
    results["machine"]["runtime_s"] = time.monotonic() - started
    args.json.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")  # raw figures first
    write_outputs(results, args.json, args.md)
    log(f"wrote {args.md} and {args.json} in {results['machine']['runtime_s']:.0f} s")


def write_outputs(results: dict[str, Any], json_path: Path, md_path: Path) -> None:
    results["summary"] = report.summarize(results)
    json_path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    md_path.write_text(report.markdown(results))
    print(report.console_summary(results))


if __name__ == "__main__":
    main()
