"""Bus soak test (not part of the test suite): N messages through faults and server restarts.

Publishes ``--messages`` messages (``--publishers`` concurrent publishers, each message with its own
idempotency key, re-sent with the same key until acknowledged) to the reference server while it
injects random 503s and dropped connections on publish, poll and ack, and restarts ``--restarts``
times; one subscription consumes them with ``consume(handler, concurrency=N)``. Reports messages
published, lost (acknowledged by the server, never processed), processed twice, and the duration.

    python scripts/soak_bus.py                    # 100,000 messages, async client
    python scripts/soak_bus.py --flavour sync --messages 20000

Exit status 1 when a message was lost or processed twice.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from collections import Counter
from typing import Any

from kei_agent import AgentClientConfig, APIConnectionError, CircuitBreakerOpenError, InternalServerError, RetryConfig
from kei_agent.testing import Fault, ServerHandle, run_server

TOKEN = "soak-token"
SUBJECT = "soak.messages"


def faults(rate: float) -> list[Fault]:
    return [
        Fault.status(503, retry_after=0, route="publishMessage", probability=rate),
        Fault.drop(route="publishMessage", probability=rate / 3),
        Fault.drop(route="pollSubscription", probability=rate / 3),
        Fault.drop(route="ackMessages", probability=rate / 3),
    ]


def config(server: ServerHandle) -> AgentClientConfig:
    retry = RetryConfig(max_attempts=3, base_delay=0.01, max_delay=0.1, breaker_open_seconds=0.5)
    return AgentClientConfig(base_url=server.base_url, api_token=TOKEN, agent_id="soak", retry=retry)


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.published: set[str] = set()
        self.processed: Counter[str] = Counter()
        self.republished = 0

    def handler(self, message: Any) -> None:
        with self.lock:
            self.processed[message.message_id] += 1


def restart_points(total: int, restarts: int) -> set[int]:
    return {total * (index + 1) // (restarts + 1) for index in range(restarts)}


async def run_async(server: ServerHandle, args: argparse.Namespace, tally: Tally) -> None:
    from kei_agent_async import KeiAgentClient

    async with KeiAgentClient(config(server)) as client:
        subscription = await client.subscribe(SUBJECT, durable=True, visibility_timeout=2.0, wait=1.0, max_messages=100)
        consumer = asyncio.ensure_future(
            subscription.consume(tally.handler, concurrency=args.concurrency, limit=args.messages)
        )
        numbers = iter(range(args.messages))
        restarts = restart_points(args.messages, args.restarts)

        async def publisher() -> None:
            for index in numbers:
                if index in restarts:
                    await asyncio.to_thread(server.restart)
                while True:
                    try:
                        ack = await client.publish(SUBJECT, {"n": index}, idempotency_key=f"soak-{index}")
                    except (APIConnectionError, InternalServerError, CircuitBreakerOpenError):
                        tally.republished += 1
                        await asyncio.sleep(0.05)
                        continue
                    tally.published.add(ack.message_id)
                    break

        await asyncio.gather(*(publisher() for _ in range(args.publishers)))
        result = await consumer
        print(f"consumer: {result}")
        await subscription.delete()


def run_sync(server: ServerHandle, args: argparse.Namespace, tally: Tally) -> None:
    from kei_agent_sync import KeiAgentClient

    with KeiAgentClient(config(server)) as client:
        subscription = client.subscribe(SUBJECT, durable=True, visibility_timeout=2.0, wait=1.0, max_messages=100)
        results: list[Any] = []
        consumer = threading.Thread(
            target=lambda: results.append(
                subscription.consume(tally.handler, concurrency=args.concurrency, limit=args.messages)
            )
        )
        consumer.start()
        numbers = iter(range(args.messages))
        lock = threading.Lock()
        restarts = restart_points(args.messages, args.restarts)

        def publisher() -> None:
            while True:
                with lock:
                    index = next(numbers, None)
                if index is None:
                    return
                if index in restarts:
                    server.restart()
                while True:
                    try:
                        ack = client.publish(SUBJECT, {"n": index}, idempotency_key=f"soak-{index}")
                    except (APIConnectionError, InternalServerError, CircuitBreakerOpenError):
                        with tally.lock:
                            tally.republished += 1
                        time.sleep(0.05)
                        continue
                    with tally.lock:
                        tally.published.add(ack.message_id)
                    break

        publishers = [threading.Thread(target=publisher) for _ in range(args.publishers)]
        for thread in publishers:
            thread.start()
        for thread in publishers:
            thread.join()
        consumer.join()
        print(f"consumer: {results[0] if results else None}")
        subscription.delete()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--flavour", choices=["async", "sync"], default="async")
    parser.add_argument("--publishers", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=8, help="consumer workers")
    parser.add_argument("--fault-rate", type=float, default=0.1, help="503 probability on publish (drops: a third)")
    parser.add_argument("--restarts", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    tally = Tally()
    started = time.perf_counter()
    with run_server(
        tokens=[TOKEN], faults=faults(args.fault_rate), seed=args.seed, bus_queue_limit=args.messages + 1000
    ) as server:
        if args.flavour == "async":
            asyncio.run(run_async(server, args, tally))
        else:
            run_sync(server, args, tally)
        requests = server.stats.counts()
    duration = time.perf_counter() - started
    lost = tally.published - set(tally.processed)
    twice = sum(1 for count in tally.processed.values() if count > 1)
    print(
        f"flavour={args.flavour} messages={args.messages} published={len(tally.published)} "
        f"lost={len(lost)} processed_twice={twice} re-sent_after_errors={tally.republished} "
        f"restarts={args.restarts} duration={duration:.1f}s rate={args.messages / duration:.0f} msg/s"
    )
    print(f"server requests: {dict(sorted(requests.items()))}")
    return 1 if lost or twice or len(tally.published) != args.messages else 0


if __name__ == "__main__":
    raise SystemExit(main())
