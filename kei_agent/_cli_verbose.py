"""``kei-agent -v``: the SDK's own records (retries, fallbacks, waits, token fetches) on stderr.

Uses the SDK's loguru logging (:func:`kei_agent.logging.configure_logging`) as an application
would: text lines, secrets and personal data redacted. ``-v`` shows the SDK's records from DEBUG up
(each retry with its reason and wait, each protocol fallback, each breaker transition); ``-vv``
adds httpx's own request lines.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kei_agent import AgentClientConfig


def enable_verbose_logging(verbosity: int) -> None:
    """Log the SDK's records to stderr (``verbosity`` 1: the SDK, 2+: httpx's request lines too)."""
    from kei_agent.logging import configure_logging

    configure_logging(
        level="DEBUG",
        enable_structured=False,
        stream=sys.stderr,
        intercept_stdlib=["httpx"] if verbosity > 1 else False,
    )


def announce(command: str, config: AgentClientConfig) -> None:
    """Say what the command is about to do and how long it may wait at most."""
    from kei_agent.logging import get_logger

    retry, connection = config.retry, config.connection
    get_logger("kei_agent.cli").info(
        f"{command}: calling {config.base_url} - up to {retry.max_attempts} attempt(s) of at most "
        f"{connection.timeout:g} s each, {retry.deadline:g} s in all (--timeout, --deadline)"
    )


NOTICE_AFTER_SECONDS = 5.0


def still_waiting_notice(command: str, config: AgentClientConfig) -> threading.Timer | None:
    """Without ``-v``: one line on stderr when a call takes longer than a few seconds, so a hung
    server never keeps the command silent (started here; cancel it when the call returns)."""
    if config.retry.deadline <= NOTICE_AFTER_SECONDS:
        return None

    def notice() -> None:
        print(
            f"kei-agent {command}: still waiting for {config.base_url} after {NOTICE_AFTER_SECONDS:g} s "
            f"(up to {config.retry.deadline:g} s in all; -v shows each attempt, --timeout / --deadline bound the wait)",
            file=sys.stderr,
            flush=True,
        )

    timer = threading.Timer(NOTICE_AFTER_SECONDS, notice)
    timer.daemon = True
    timer.start()
    return timer
