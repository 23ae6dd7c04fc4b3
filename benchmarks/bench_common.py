"""Helpers shared by the benchmark workers (stdlib only: they also run in the 0.1.0b6 virtualenv)."""

from __future__ import annotations

import gc
import json
import math
import os
import resource
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TOKEN = "dev-token"
PLAN_BODY = {"objective": "Write a quarterly report", "context": {"quarter": "Q3"}}
ACT_BODY = {"action": "echo", "parameters": {"message": "hello"}}
PLAN_PATH = "/api/v1/rpc/plan"
ACT_PATH = "/api/v1/rpc/act"


def rss_bytes() -> int:
    """Resident set size of this process (VmRSS from /proc, else the peak from getrusage)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # pragma: no cover - not Linux


def settled_rss() -> int:
    """RSS after a full garbage collection."""
    gc.collect()
    return rss_bytes()


def cpu() -> float:
    """Process CPU time (user + system, every thread), seconds."""
    return time.process_time()


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def latency_summary(latencies: Sequence[float], cpu_seconds: float) -> dict[str, float]:
    """Per-call figures of one measured loop, in milliseconds."""
    return {
        "calls": len(latencies),
        "median_ms": statistics.median(latencies) * 1000.0,
        "p99_ms": percentile(latencies, 99) * 1000.0,
        "mean_ms": statistics.fmean(latencies) * 1000.0,
        "cpu_ms": cpu_seconds / len(latencies) * 1000.0,
    }


def write_result(path: str, result: dict[str, Any]) -> None:
    """Write a worker's result as JSON (atomically)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        json.dump(result, fh)
    os.replace(tmp, path)
