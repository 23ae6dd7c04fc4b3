"""Fault injection: what the server does wrong on purpose, decided by pure, seeded logic.

A :class:`FaultPlan` holds rules (:class:`Fault`), each global or bound to one route (an
operationId such as ``"planTask"``, a spec path template or a concrete request path). For every
request the pipeline asks :meth:`FaultPlan.decide`; the answer is a :class:`FaultDecision`:
an added delay and at most one terminal action (a status code, a dropped connection or a
malformed body). Rules apply in the order they were added: latencies add up, the first terminal
rule that fires wins.

* ``times`` - the rule fires that many times, then expires (``None``: forever);
* ``probability`` - each matching request fires the rule with that probability, drawn from one
  ``random.Random(seed)``: the same seed and the same request sequence give the same faults;
* ``rate_limit`` - a token bucket (``rate`` tokens per second, ``burst`` capacity); a request
  finding it empty is answered 429 with ``Retry-After``;
* ``down`` - 503 with ``Retry-After`` for the next N requests, then recovery.

Drops and malformed bodies are applied *after* the operation ran (its effect is stored, the
client just never sees a valid answer), like a connection lost on the way back.

The WebSocket upgrade of ``/api/v1/stream`` is the route ``"websocket"``: a status fault refuses
the handshake with that status, a drop closes it before accepting, a malformed fault sends one
non-JSON text frame first.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

FaultKind = Literal["status", "latency", "drop", "malformed", "rate_limit", "down"]
DropPoint = Literal["headers", "body"]
TerminalAction = Literal["status", "drop", "malformed"]

FAULT_KINDS: tuple[str, ...] = ("status", "latency", "drop", "malformed", "rate_limit", "down")
DEFAULT_MALFORMED_BODY = b'{"truncated": ['


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault rule. Build it with the class methods (:meth:`status`, :meth:`latency`, ...)."""

    kind: FaultKind
    route: str | None = None
    times: int | None = None
    probability: float = 1.0
    status_code: int = 0
    retry_after: int | float | str | None = None
    detail: str | None = None
    delay: float = 0.0
    drop_after: DropPoint = "headers"
    rate: float = 0.0
    burst: int = 1
    body: bytes = DEFAULT_MALFORMED_BODY

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(FAULT_KINDS)}")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be >= 1 (or None for forever)")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")
        if self.kind == "status" and not 100 <= self.status_code <= 599:
            raise ValueError("status_code must be within 100..599")
        if self.kind == "latency" and self.delay < 0:
            raise ValueError("delay must be >= 0")
        if self.kind == "rate_limit" and (self.rate <= 0 or self.burst < 1):
            raise ValueError("rate_limit needs rate > 0 and burst >= 1")
        if self.drop_after not in ("headers", "body"):
            raise ValueError("drop_after must be 'headers' or 'body'")

    # ------------------------------------------------------------ builders
    @classmethod
    def status(
        cls,
        status_code: int,
        *,
        retry_after: int | float | str | None = None,
        detail: str | None = None,
        route: str | None = None,
        times: int | None = None,
        probability: float = 1.0,
    ) -> Fault:
        """Answer ``status_code`` with a problem document (429/503 carry ``Retry-After``, 1 s by default)."""
        return cls("status", route, times, probability, status_code=status_code, retry_after=retry_after, detail=detail)

    @classmethod
    def latency(
        cls, seconds: float, *, route: str | None = None, times: int | None = None, probability: float = 1.0
    ) -> Fault:
        """Wait ``seconds`` before handling the request."""
        return cls("latency", route, times, probability, delay=seconds)

    @classmethod
    def drop(
        cls,
        *,
        after: DropPoint = "headers",
        route: str | None = None,
        times: int | None = None,
        probability: float = 1.0,
    ) -> Fault:
        """Close the connection mid-response: after the headers, or after part of the body.

        The client sees ``httpx.RemoteProtocolError``; the operation itself did run."""
        return cls("drop", route, times, probability, drop_after=after)

    @classmethod
    def malformed(
        cls,
        *,
        body: bytes = DEFAULT_MALFORMED_BODY,
        route: str | None = None,
        times: int | None = None,
        probability: float = 1.0,
    ) -> Fault:
        """Answer 200 ``application/json`` with a body that is not JSON (the operation did run)."""
        return cls("malformed", route, times, probability, body=body)

    @classmethod
    def rate_limit(
        cls,
        rate: float,
        *,
        burst: int = 1,
        route: str | None = None,
        times: int | None = None,
        probability: float = 1.0,
    ) -> Fault:
        """A token bucket: ``rate`` requests per second, ``burst`` at once; beyond that 429 + Retry-After."""
        return cls("rate_limit", route, times, probability, rate=rate, burst=burst)

    @classmethod
    def down(cls, requests: int, *, retry_after: int | float | str = 1, route: str | None = None) -> Fault:
        """503 with ``Retry-After`` for the next ``requests`` requests, then recovery."""
        return cls("down", route, requests, 1.0, status_code=503, retry_after=retry_after)

    # --------------------------------------------------------- (de)serialise
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["body"] = self.body.decode("latin-1")
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        """Build from JSON (the admin endpoint); unknown keys are an error."""
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        values = dict(data)
        if "kind" not in values:
            raise ValueError("a fault needs a kind")
        if isinstance(values.get("body"), str):
            values["body"] = values["body"].encode("latin-1")
        if values["kind"] == "down":
            values.setdefault("status_code", 503)
            values.setdefault("retry_after", 1)
        try:
            return cls(**values)
        except TypeError as exc:
            raise ValueError(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What to do with one request: wait ``delay`` seconds, then ``action`` (``None``: serve it)."""

    delay: float = 0.0
    action: TerminalAction | None = None
    status_code: int = 0
    retry_after: int | float | str | None = None
    detail: str | None = None
    drop_after: DropPoint = "headers"
    body: bytes = DEFAULT_MALFORMED_BODY
    rule_ids: tuple[str, ...] = ()


@dataclass(slots=True)
class _Rule:
    rule_id: str
    fault: Fault
    remaining: int | None
    tokens: float = 0.0
    refilled_at: float = 0.0
    applied: int = 0

    def matches(self, operation_id: str | None, template: str | None, path: str) -> bool:
        route = self.fault.route
        return route is None or route in (operation_id, template, path)


@dataclass(slots=True)
class _Counter:
    value: int = 0


@dataclass
class FaultPlan:
    """The active fault rules of a server (thread-safe; the test thread edits, the server reads)."""

    seed: int | None = None
    clock: Callable[[], float] = time.monotonic
    _rules: list[_Rule] = field(default_factory=list, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _ids: _Counter = field(default_factory=_Counter, init=False, repr=False)
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @classmethod
    def of(cls, faults: FaultPlan | Iterable[Fault] | Fault | None, *, seed: int | None = None) -> FaultPlan:
        """A plan from what ``run_server(faults=...)`` accepts."""
        if isinstance(faults, FaultPlan):
            return faults
        plan = cls(seed=seed)
        if isinstance(faults, Fault):
            plan.add(faults)
        elif faults is not None:
            plan.extend(faults)
        return plan

    # ------------------------------------------------------------- editing
    def add(self, fault: Fault) -> str:
        """Activate ``fault``; returns its rule id (for :meth:`remove` and :meth:`applied`)."""
        with self._lock:
            self._ids.value += 1
            rule_id = f"fault-{self._ids.value}"
            rule = _Rule(rule_id, fault, fault.times)
            if fault.kind == "rate_limit":
                rule.tokens = float(fault.burst)
                rule.refilled_at = self.clock()
            self._rules.append(rule)
            return rule_id

    def extend(self, faults: Iterable[Fault]) -> list[str]:
        return [self.add(fault) for fault in faults]

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [rule for rule in self._rules if rule.rule_id != rule_id]
            return len(self._rules) != before

    def clear(self) -> None:
        """Remove every rule (the random generator keeps its state; see :meth:`reseed`)."""
        with self._lock:
            self._rules = []

    def reseed(self, seed: int | None) -> None:
        with self._lock:
            self.seed = seed
            self._rng = random.Random(seed)

    @property
    def active(self) -> bool:
        return bool(self._rules)

    def rules(self) -> list[tuple[str, Fault, int | None]]:
        """(rule id, fault, remaining applications) of every active rule."""
        with self._lock:
            return [(rule.rule_id, rule.fault, rule.remaining) for rule in self._rules]

    def applied(self, rule_id: str) -> int:
        """How often the rule fired (0 for an unknown or expired-and-removed rule)."""
        with self._lock:
            return next((rule.applied for rule in self._rules if rule.rule_id == rule_id), 0)

    def to_list(self) -> list[dict[str, Any]]:
        return [
            {"id": rule_id, "remaining": remaining, **fault.to_dict()} for rule_id, fault, remaining in self.rules()
        ]

    # ------------------------------------------------------------ deciding
    def decide(self, operation_id: str | None, template: str | None, path: str) -> FaultDecision | None:
        """The faults for one request (``None``: none). Consumes ``times`` and randomness."""
        if not self._rules:
            return None
        with self._lock:
            delay = 0.0
            decision: FaultDecision | None = None
            fired: list[str] = []
            for rule in self._rules:
                if rule.remaining == 0 or not rule.matches(operation_id, template, path):
                    continue
                fault = rule.fault
                if fault.kind == "latency":
                    if self._fires(fault):
                        delay += fault.delay
                        self._consume(rule, fired)
                    continue
                if decision is not None:
                    continue
                if fault.kind == "rate_limit":
                    wait = self._take_token(rule)
                    if wait is not None and self._fires(fault):
                        decision = FaultDecision(action="status", status_code=429, retry_after=wait)
                        self._consume(rule, fired)
                    continue
                if not self._fires(fault):
                    continue
                self._consume(rule, fired)
                if fault.kind in ("status", "down"):
                    retry_after = fault.retry_after
                    if retry_after is None and fault.status_code in (429, 503):
                        retry_after = 1
                    decision = FaultDecision(
                        action="status", status_code=fault.status_code, retry_after=retry_after, detail=fault.detail
                    )
                elif fault.kind == "drop":
                    decision = FaultDecision(action="drop", drop_after=fault.drop_after)
                else:
                    decision = FaultDecision(action="malformed", body=fault.body)
            self._rules = [rule for rule in self._rules if rule.remaining != 0]
            if decision is None and delay == 0.0:
                return None
            return replace(decision or FaultDecision(), delay=delay, rule_ids=tuple(fired))

    def _fires(self, fault: Fault) -> bool:
        return fault.probability >= 1.0 or self._rng.random() < fault.probability

    @staticmethod
    def _consume(rule: _Rule, fired: list[str]) -> None:
        rule.applied += 1
        fired.append(rule.rule_id)
        if rule.remaining is not None:
            rule.remaining -= 1

    def _take_token(self, rule: _Rule) -> int | None:
        """Take one token; ``None`` when taken, else the whole seconds until one is available."""
        fault = rule.fault
        now = self.clock()
        rule.tokens = min(float(fault.burst), rule.tokens + (now - rule.refilled_at) * fault.rate)
        rule.refilled_at = now
        if rule.tokens >= 1.0:
            rule.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - rule.tokens) / fault.rate))
