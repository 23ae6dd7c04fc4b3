"""``python -m enterprise_agent.probe [/health|/ready]``: exit 0 when the running service answers
200 on its probe endpoint, else 1 (the Dockerfile's HEALTHCHECK; standard library only)."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main(argv: list[str]) -> int:
    path = argv[0] if argv else "/health"
    port = os.environ.get("HEALTH_PORT", "8080").strip() or "8080"
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"probe {path} on port {port}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
