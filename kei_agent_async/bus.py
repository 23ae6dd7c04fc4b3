"""Bus subscriptions: long-poll delivery, acknowledgements, redelivery and a concurrent consumer.

:class:`Subscription` (from ``client.subscribe(...)``) leases messages with ``poll()``
(``POST /api/v1/bus/subscriptions/{id}/poll``, a long poll). A leased message is invisible to
other consumers until it is acknowledged (``ack()``) or its visibility timeout expires; then the
server delivers it again with a higher ``delivery_count`` and the same ``message_id``, so
duplicates are detectable by message id.

:meth:`Subscription.consume` runs a handler on ``concurrency`` workers: it acknowledges each
message whose handler returned, leaves failed ones for redelivery, and skips (and acknowledges)
redeliveries of messages it already processed - ``processed_ids`` remembers the latest message ids
(``dedupe_capacity``). Polls and acknowledgements go through the client's pipeline (retries,
breaker); a consumer outlives transport failures by backing off and polling again.

Written once for both flavours: the blocking twin of this module is generated from it.
"""

from __future__ import annotations

import contextlib
import functools
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import attrs

from kei_agent._generated import models
from kei_agent.errors import APIConnectionError, APIStatusError, CircuitBreakerOpenError, NotFoundError
from kei_agent.logging._logger import base_logger
from kei_agent.messaging import SeenIds

from ._backend import InFlight, PolicyLock, Signal, WorkQueue, call_handler, interruptible, spawn
from ._protocols import protocol_state
from ._retrying import Retrying

if TYPE_CHECKING:
    from .client import KeiAgentClient

__all__ = ["ConsumeResult", "MessageHandler", "Subscription"]

_log = base_logger.bind(component="kei_agent.bus")

#: A consumer's handler: called with each message; returning means "processed" (it is acknowledged),
#: raising means "failed" (it is left for redelivery).
MessageHandler = Callable[[models.BusMessage], Any]

#: The largest acknowledgement the spec allows (``AckRequest.delivery_ids.maxItems``).
MAX_ACK_BATCH = 1000
#: How long ``close()`` waits for running consumers to stop.
DEFAULT_STOP_TIMEOUT = 10.0


@attrs.frozen(slots=False)
class ConsumeResult:
    """What one ``Subscription.consume`` run did."""

    processed: int = attrs.field(metadata={"doc": "Messages whose handler returned (and were acknowledged)."})
    failed: int = attrs.field(metadata={"doc": "Handler calls that raised (left for redelivery)."})
    duplicates: int = attrs.field(metadata={"doc": "Redeliveries of processed messages, skipped."})


class _Run:
    """The shared state of one ``consume`` run (counters, acknowledgements to send)."""

    def __init__(self, limit: int | None) -> None:
        self.lock = PolicyLock()
        self.limit = limit
        self.processed = 0
        self.failed = 0
        self.duplicates = 0
        self.active: set[str] = set()
        self.acks: list[str] = []

    @property
    def finished(self) -> bool:
        return self.limit is not None and self.processed >= self.limit

    def result(self) -> ConsumeResult:
        return ConsumeResult(processed=self.processed, failed=self.failed, duplicates=self.duplicates)


def _delivery_id(item: models.BusMessage | str) -> str:
    return item if isinstance(item, str) else item.delivery_id


class Subscription:
    """A subscription to a bus subject; iterate over it, ``poll()``/``ack()``, or ``consume(handler)``.

    ::

        async with await client.subscribe("reports.*", queue="writers") as subscription:
            result = await subscription.consume(handle_report, concurrency=4, idle_timeout=30)

    Iterating yields leased messages (long poll) that you acknowledge with ``ack(message)``.
    ``close()`` (or leaving the async with block, or closing the client) stops consumers and deletes the
    subscription unless it is durable.
    """

    def __init__(
        self,
        client: KeiAgentClient,
        info: models.Subscription,
        *,
        wait: float = 5.0,
        max_messages: int = 10,
        dedupe_capacity: int = 100_000,
    ) -> None:
        """Wrap the server's subscription ``info``; see ``KeiAgentClient.subscribe``."""
        self._client = client
        self.info = info
        self.wait = wait
        self.max_messages = max_messages
        self.processed_ids = SeenIds(dedupe_capacity)
        self._buffer: deque[models.BusMessage] = deque()
        self._stop = Signal()
        self._running = InFlight()
        self._deleted = False

    # ------------------------------------------------------------------ state

    @property
    def subscription_id(self) -> str:
        """The server's id of the subscription."""
        return self.info.subscription_id

    @property
    def subject(self) -> str:
        """The subject (or wildcard pattern) subscribed to."""
        return self.info.subject

    @property
    def durable(self) -> bool:
        """Whether the subscription outlives ``close()`` (and keeps messages while nobody polls)."""
        return self.info.durable

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._stop.is_set()

    def __repr__(self) -> str:
        return f"Subscription(subscription_id={self.subscription_id!r}, subject={self.subject!r})"

    # ------------------------------------------------------------- operations

    async def poll(self, max_messages: int | None = None, wait: float | None = None) -> list[models.BusMessage]:
        """Lease up to ``max_messages`` messages, waiting up to ``wait`` seconds for the first one."""
        body = models.PollRequest(
            max_messages=max_messages or self.max_messages, wait_seconds=self.wait if wait is None else wait
        )
        batch: models.MessageBatch = await self._client._pipeline.call(
            "pollSubscription", {"subscription_id": self.subscription_id, "body": body}
        )
        return list(batch.messages)

    async def ack(self, *messages: models.BusMessage | str) -> models.AckResult:
        """Acknowledge deliveries (messages or delivery ids); acknowledged messages are never delivered again.

        Deliveries whose lease expired are reported in ``unknown``: they will be delivered again.
        """
        delivery_ids = [_delivery_id(message) for message in messages]
        if not delivery_ids:
            return models.AckResult(acked=[], unknown=[])
        acked: list[str] = []
        unknown: list[str] = []
        for start in range(0, len(delivery_ids), MAX_ACK_BATCH):
            body = models.AckRequest(delivery_ids=delivery_ids[start : start + MAX_ACK_BATCH])
            result: models.AckResult = await self._client._pipeline.call(
                "ackMessages", {"subscription_id": self.subscription_id, "body": body}
            )
            acked.extend(result.acked)
            unknown.extend(result.unknown)
        return models.AckResult(acked=acked, unknown=unknown)

    async def consume(
        self,
        handler: MessageHandler,
        *,
        concurrency: int = 1,
        limit: int | None = None,
        idle_timeout: float | None = None,
    ) -> ConsumeResult:
        """Run ``handler`` on each message with ``concurrency`` workers until stopped.

        A message is acknowledged after its handler returned; a handler that raises leaves it for
        redelivery after the visibility timeout. A redelivery of a message already processed (same
        ``message_id``) is acknowledged without calling the handler again. Returns after ``limit``
        processed messages, after ``idle_timeout`` seconds without a message, or when the
        subscription (or the client) is closed.
        """
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        run = _Run(limit)
        queue: WorkQueue[models.BusMessage | None] = WorkQueue(concurrency)

        async def worker() -> None:
            while True:
                message = await queue.get()
                if message is None:
                    return
                await self._process(handler, message, run)
                if queue.empty() or len(run.acks) >= self.max_messages:
                    await self._flush(run)

        self._running.enter()
        workers = [spawn(worker, f"kei-consumer-{self.subscription_id}-{index}") for index in range(concurrency)]
        try:
            await self._feed(queue, run, idle_timeout)
        finally:
            for _ in workers:
                await queue.put(None)
            for running in workers:
                await running.join()
            await self._flush(run)
            self._running.exit()
        return run.result()

    async def _feed(self, queue: WorkQueue[models.BusMessage | None], run: _Run, idle_timeout: float | None) -> None:
        clock = self._client._shared.clock
        idle_since = clock()
        failures = 0
        retrying = Retrying.of(self._client.config.retry, clock=clock)
        while not (self._stop.is_set() or run.finished):
            wait = self.wait if idle_timeout is None else max(0.0, min(self.wait, idle_since + idle_timeout - clock()))
            try:
                size = min(self.max_messages, max(1, queue.free()))
                batch = await interruptible(functools.partial(self.poll, size, wait), self._stop)
            except (APIConnectionError, CircuitBreakerOpenError, APIStatusError) as exc:
                if isinstance(exc, APIStatusError) and exc.status_code < 500 and exc.status_code not in (408, 429):
                    raise
                failures += 1
                retry_after = exc.retry_after if isinstance(exc, CircuitBreakerOpenError) else None
                delay = retrying.reconnect_delay(failures, retry_after)
                _log.warning(
                    "consumer of {subscription}: poll failed ({error}); retrying in {delay:.2f}s",
                    subscription=self.subscription_id,
                    error=f"{type(exc).__name__}: {exc}",
                    delay=delay,
                )
                await self._stop.wait(delay)
                continue
            if batch is None:
                return
            failures = 0
            if not batch:
                await self._flush(run)
                if idle_timeout is not None and clock() - idle_since >= idle_timeout:
                    return
                continue
            idle_since = clock()
            for message in batch:
                await queue.put(message)

    async def _process(self, handler: MessageHandler, message: models.BusMessage, run: _Run) -> None:
        message_id = message.message_id
        with run.lock.held():
            if message_id in self.processed_ids:
                run.duplicates += 1
                run.acks.append(message.delivery_id)
                return
            if message_id in run.active or run.finished or self._stop.is_set():
                return  # in progress elsewhere, or not wanted any more: left for redelivery
            run.active.add(message_id)
        try:
            await call_handler(handler, message)
        except Exception as exc:
            with run.lock.held():
                run.failed += 1
                run.active.discard(message_id)
            _log.warning(
                "consumer of {subscription}: handler failed on {message_id} (delivery {count}): {error}",
                subscription=self.subscription_id,
                message_id=message_id,
                count=message.delivery_count,
                error=f"{type(exc).__name__}: {exc}",
            )
            return
        with run.lock.held():
            self.processed_ids.add(message_id)
            run.active.discard(message_id)
            run.processed += 1
            run.acks.append(message.delivery_id)

    async def _flush(self, run: _Run) -> None:
        with run.lock.held():
            delivery_ids, run.acks = run.acks, []
        if not delivery_ids:
            return
        try:
            await self.ack(*delivery_ids)
        except (APIConnectionError, APIStatusError, CircuitBreakerOpenError) as exc:
            # The messages come back after their visibility timeout and are recognised then.
            _log.warning(
                "consumer of {subscription}: acknowledging {count} deliveries failed ({error}); "
                "they will be redelivered and skipped",
                subscription=self.subscription_id,
                count=len(delivery_ids),
                error=f"{type(exc).__name__}: {exc}",
            )

    # ------------------------------------------------------------- iterate

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> models.BusMessage:
        while not self._buffer:
            if self._stop.is_set():
                raise StopAsyncIteration
            batch = await interruptible(self.poll, self._stop)
            if batch is None:
                raise StopAsyncIteration
            self._buffer.extend(batch)
        return self._buffer.popleft()

    # ------------------------------------------------------------- lifecycle

    async def stop(self) -> None:
        """Stop consumers and iteration (a long poll in progress ends first); the subscription stays."""
        self._stop.set()

    async def delete(self) -> None:
        """Delete the subscription on the server (unacknowledged leases go back to its queue group)."""
        self._stop.set()
        if self._deleted:
            return
        self._deleted = True
        protocol_state(self._client._shared).discard(self)
        with contextlib.suppress(NotFoundError):  # already gone
            await self._client._pipeline.call("deleteSubscription", {"subscription_id": self.subscription_id})

    async def close(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
        """Stop consumers (waiting up to ``timeout`` seconds for them), then delete the subscription
        unless it is durable. Idempotent."""
        self._stop.set()
        protocol_state(self._client._shared).discard(self)
        await self._running.wait_idle(timeout)
        if self.durable or self._deleted:
            return
        try:
            await self.delete()
        except (APIConnectionError, APIStatusError, CircuitBreakerOpenError) as exc:
            _log.warning(
                "could not delete subscription {subscription}: {error}",
                subscription=self.subscription_id,
                error=f"{type(exc).__name__}: {exc}",
            )

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
