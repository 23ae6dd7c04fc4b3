"""Does ``configure_logging()`` called *before* importing a client flavour capture the SDK's records?

Applications usually configure logging first. loguru enables and disables by package name, and each
flavour package disables itself when imported; this probe makes one call (DEBUG: one performance
record per call is expected) with logging configured before ``import kei_agent_sync``, and one with
logging configured after it, and counts the lines in the log file.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

from bench_common import TOKEN, write_result

PROBE = """
import os, sys
first = sys.argv[1] == 'client-first'
if first:
    import kei_agent_sync
from kei_agent.logging import configure_logging
configure_logging(level='DEBUG', enable_console=False, enable_file=True, file_path=sys.argv[3])
import kei_agent_sync
from kei_agent import AgentClientConfig
with kei_agent_sync.KeiAgentClient(AgentClientConfig(base_url=sys.argv[2], api_token=sys.argv[4])) as client:
    client.execute_action('echo', {'message': 'hello'})
from loguru import logger
logger.complete()
print(sum(1 for _ in open(sys.argv[3])) if os.path.exists(sys.argv[3]) else 0)
"""


def lines_written(order: str, url: str) -> int | None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "kei-agent.log")
        env = {**os.environ, "KEI_OTEL_DISABLED": "1"}
        proc = subprocess.run(
            [sys.executable, "-c", PROBE, order, url, path, TOKEN], capture_output=True, text=True, cwd=tmp, env=env
        )
        if proc.returncode != 0:
            return None
        return int(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    write_result(
        args.out,
        {
            "configure_then_import": lines_written("configure-first", args.url),
            "import_then_configure": lines_written("client-first", args.url),
        },
    )


if __name__ == "__main__":
    main()
