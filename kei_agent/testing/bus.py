"""The message bus: subjects with wildcards, subscriptions, queue groups, leases and redelivery.

* A subscription's subject may use ``*`` (exactly one token) and a final ``>`` (one or more
  tokens). A message goes to every matching consumer: each plain subscription is a consumer; the
  subscriptions sharing a ``queue`` name on the same subject form one consumer (a queue group) and
  share its messages.
* :meth:`Bus.poll` leases up to ``max_messages`` messages (long-polling up to ``wait_seconds``). A
  lease is invisible to other polls until it is acknowledged by ``delivery_id`` or its visibility
  timeout expires; then the message is delivered again with ``delivery_count`` + 1.
* A durable subscription keeps up to ``queue_limit`` undelivered messages, a non-durable one up to
  1,000 (the oldest are dropped beyond that).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ._util import format_time
from .notify import Notifier, wait_for_change

NON_DURABLE_LIMIT = 1_000


@lru_cache(maxsize=4096)
def _tokens(pattern: str) -> tuple[str, ...]:
    return tuple(pattern.split("."))


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS-style matching: ``*`` matches one token, a final ``>`` one or more."""
    if pattern == subject or pattern == ">":
        return True
    wanted = _tokens(pattern)
    given = _tokens(subject)
    for index, token in enumerate(wanted):
        if token == ">":
            return index == len(wanted) - 1 and len(given) > index
        if index >= len(given):
            return False
        if token != "*" and token != given[index]:
            return False
    return len(given) == len(wanted)


def any_matches(patterns: Sequence[str] | None, subject: str) -> bool:
    return patterns is None or any(subject_matches(pattern, subject) for pattern in patterns)


class SubscriptionNotFound(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Message:
    message_id: str
    subject: str
    type: str
    key: str | None
    payload: Mapping[str, Any]
    headers: Mapping[str, str]
    sender_agent_id: str | None
    published_at: str


@dataclass(slots=True)
class Lease:
    delivery_id: str
    message: Message
    delivery_count: int
    subscription_id: str
    expires_at: float


@dataclass(slots=True)
class Consumer:
    """One delivery target: a plain subscription, or a queue group of subscriptions."""

    subject: str
    limit: int
    members: set[str] = field(default_factory=set)
    pending: deque[tuple[Message, int]] = field(default_factory=deque)
    leases: dict[str, Lease] = field(default_factory=dict)
    notifier: Notifier = field(default_factory=Notifier)

    def enqueue(self, message: Message) -> None:
        if len(self.pending) >= self.limit:
            self.pending.popleft()
        self.pending.append((message, 0))


@dataclass(frozen=True, slots=True)
class Subscription:
    subscription_id: str
    subject: str
    queue: str | None
    durable: bool
    visibility_timeout: float
    created_at: str
    consumer_key: tuple[str, str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "subscription_id": self.subscription_id,
            "subject": self.subject,
            "queue": self.queue,
            "durable": self.durable,
            "visibility_timeout_seconds": self.visibility_timeout,
            "created_at": self.created_at,
        }


class Bus:
    """Subjects, subscriptions and deliveries (thread-safe; polls wait asynchronously)."""

    def __init__(self, queue_limit: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.queue_limit = queue_limit
        self._clock = clock
        self._lock = threading.Lock()
        self._subscriptions: dict[str, Subscription] = {}
        self._consumers: dict[tuple[str, str, str], Consumer] = {}
        self._message_seq = itertools.count(1)
        self._delivery_seq = itertools.count(1)
        self._subscription_seq = itertools.count(1)
        self.published = 0

    @property
    def subscription_count(self) -> int:
        return len(self._subscriptions)

    # -------------------------------------------------------------- publish
    def publish(
        self,
        subject: str,
        payload: Mapping[str, Any],
        *,
        type_: str = "message",
        key: str | None = None,
        headers: Mapping[str, str] | None = None,
        sender_agent_id: str | None = None,
    ) -> Message:
        with self._lock:
            message = Message(
                message_id=f"msg-{next(self._message_seq):06d}",
                subject=subject,
                type=type_,
                key=key,
                payload=dict(payload),
                headers=dict(headers or {}),
                sender_agent_id=sender_agent_id,
                published_at=format_time(time.time()),
            )
            self.published += 1
            targets = [c for c in self._consumers.values() if subject_matches(c.subject, subject)]
            for consumer in targets:
                consumer.enqueue(message)
        for consumer in targets:
            consumer.notifier.notify()
        return message

    # --------------------------------------------------------- subscriptions
    def subscribe(
        self, subject: str, *, queue: str | None = None, durable: bool = False, visibility_timeout: float = 30.0
    ) -> Subscription:
        with self._lock:
            subscription_id = f"sub-{next(self._subscription_seq):06d}"
            key = ("queue", queue, subject) if queue else ("sub", subscription_id, subject)
            consumer = self._consumers.get(key)
            if consumer is None:
                limit = self.queue_limit if durable else min(self.queue_limit, NON_DURABLE_LIMIT)
                consumer = self._consumers[key] = Consumer(subject=subject, limit=limit)
            consumer.members.add(subscription_id)
            subscription = Subscription(
                subscription_id, subject, queue, durable, visibility_timeout, format_time(time.time()), key
            )
            self._subscriptions[subscription_id] = subscription
            return subscription

    def get(self, subscription_id: str) -> Subscription:
        subscription = self._subscriptions.get(subscription_id)
        if subscription is None:
            raise SubscriptionNotFound(subscription_id)
        return subscription

    def unsubscribe(self, subscription_id: str) -> None:
        """Delete; leased messages of a queue group member go back to the group."""
        with self._lock:
            subscription = self._subscriptions.pop(subscription_id, None)
            if subscription is None:
                raise SubscriptionNotFound(subscription_id)
            consumer = self._consumers[subscription.consumer_key]
            consumer.members.discard(subscription_id)
            if not consumer.members:
                del self._consumers[subscription.consumer_key]
                return
            returned = [lease for lease in consumer.leases.values() if lease.subscription_id == subscription_id]
            for lease in sorted(returned, key=lambda lease: lease.message.message_id, reverse=True):
                del consumer.leases[lease.delivery_id]
                consumer.pending.appendleft((lease.message, lease.delivery_count))
        consumer.notifier.notify()

    # -------------------------------------------------------------- delivery
    def _expire(self, consumer: Consumer, now: float) -> None:
        expired = [lease for lease in consumer.leases.values() if lease.expires_at <= now]
        for lease in sorted(expired, key=lambda lease: lease.message.message_id, reverse=True):
            del consumer.leases[lease.delivery_id]
            consumer.pending.appendleft((lease.message, lease.delivery_count))

    def _take(self, subscription: Subscription, consumer: Consumer, max_messages: int, now: float) -> list[Lease]:
        batch: list[Lease] = []
        while consumer.pending and len(batch) < max_messages:
            message, delivered = consumer.pending.popleft()
            count = delivered + 1
            lease = Lease(
                delivery_id=f"dlv-{next(self._delivery_seq):06d}-{count}",
                message=message,
                delivery_count=count,
                subscription_id=subscription.subscription_id,
                expires_at=now + subscription.visibility_timeout,
            )
            consumer.leases[lease.delivery_id] = lease
            batch.append(lease)
        return batch

    async def poll(
        self, subscription_id: str, max_messages: int, wait_seconds: float, stop: Notifier | None = None
    ) -> list[dict[str, Any]]:
        """Lease up to ``max_messages``, waiting up to ``wait_seconds`` for the first one."""
        deadline = self._clock() + max(0.0, wait_seconds)
        while True:
            now = self._clock()
            with self._lock:
                subscription = self.get(subscription_id)
                consumer = self._consumers[subscription.consumer_key]
                version = consumer.notifier.version
                self._expire(consumer, now)
                batch = self._take(subscription, consumer, max_messages, now)
                next_expiry = min((lease.expires_at for lease in consumer.leases.values()), default=None)
            if batch or now >= deadline or (stop is not None and stop.closed):
                return [_delivery_json(lease) for lease in batch]
            timeout = deadline - now
            if next_expiry is not None:
                timeout = min(timeout, max(0.0, next_expiry - now) + 0.001)
            watch = [(consumer.notifier, version)]
            if stop is not None:
                watch.append((stop, stop.version))
            await wait_for_change(watch, timeout)

    def ack(self, subscription_id: str, delivery_ids: Sequence[str]) -> dict[str, list[str]]:
        acked: list[str] = []
        unknown: list[str] = []
        now = self._clock()
        with self._lock:
            subscription = self.get(subscription_id)
            consumer = self._consumers[subscription.consumer_key]
            self._expire(consumer, now)
            for delivery_id in delivery_ids:
                if consumer.leases.pop(delivery_id, None) is not None:
                    acked.append(delivery_id)
                elif delivery_id not in acked:
                    unknown.append(delivery_id)
        return {"acked": acked, "unknown": unknown}

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "subscriptions": len(self._subscriptions),
                "pending": sum(len(c.pending) for c in self._consumers.values()),
                "leased": sum(len(c.leases) for c in self._consumers.values()),
                "published": self.published,
            }


def _delivery_json(lease: Lease) -> dict[str, Any]:
    message = lease.message
    return {
        "message_id": message.message_id,
        "delivery_id": lease.delivery_id,
        "subject": message.subject,
        "type": message.type,
        "key": message.key,
        "payload": dict(message.payload),
        "headers": dict(message.headers),
        "sender_agent_id": message.sender_agent_id,
        "published_at": message.published_at,
        "delivery_count": lease.delivery_count,
    }
