"""``python -m generator [--check] [--changes [REV] [--fail-on-breaking]]``."""

from __future__ import annotations

import argparse
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from . import PINNED_VERSIONS, REPO_ROOT, SPEC_PATH
from .drift import diff, generate
from .postprocess import GenerationError
from .steps import all_steps


def _check_pins() -> list[str]:
    problems = []
    for dist, pinned in PINNED_VERSIONS.items():
        try:
            have = version(dist)
        except PackageNotFoundError:
            have = "not installed"
        if have != pinned:
            problems.append(f"{dist} {pinned} is required (found {have}): pip install '{dist}=={pinned}'")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Run the generator CLI; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m generator", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="fail with a diff if generated files are stale")
    mode.add_argument(
        "--changes",
        nargs="?",
        const="HEAD",
        metavar="GIT_REV",
        help="report spec changes since GIT_REV (default HEAD): breaking or compatible",
    )
    parser.add_argument("--fail-on-breaking", action="store_true", help="with --changes: exit 1 on breaking changes")
    args = parser.parse_args(argv)

    if args.changes is not None:
        from .changes import run_changes

        return run_changes(
            rev=args.changes, fail_on_breaking=args.fail_on_breaking, spec_path=SPEC_PATH, repo_root=REPO_ROOT
        )
    if args.fail_on_breaking:
        parser.error("--fail-on-breaking needs --changes")

    problems = _check_pins()
    if problems:
        for problem in problems:
            print(f"generator: {problem}", file=sys.stderr)
        return 2

    started = time.perf_counter()
    try:
        if args.check:
            drift: list[str] = []
            for step in all_steps():
                drift.extend(diff(step, REPO_ROOT))
            if drift:
                sys.stdout.writelines(drift)
                print("\nGenerated files are out of date with the spec or the generator: run `nox -s generate`.")
                return 1
            print(f"Generated files are up to date ({time.perf_counter() - started:.1f} s).")
            return 0
        for step in all_steps():
            generate(step, REPO_ROOT)
            print(f"generated {Path(step.target).as_posix()} ({step.name})")
    except GenerationError as exc:
        print(f"generator: {exc}", file=sys.stderr)
        return 2
    print(f"Done in {time.perf_counter() - started:.1f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
