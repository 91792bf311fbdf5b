"""Circuit breaker: a pure state machine that stops a client hammering a down host.

::

    closed ──(threshold consecutive failures)──► open ──(cool-down elapsed)──► half-open
      ▲                                           ▲                              │
      └────────────(probe succeeds)───────────────┼──────────────────────────────┤
                                                  └───────(probe fails)──────────┘

``decide(now)`` returns :class:`Allow` or :class:`Reject`; the caller sends (or
not) and reports the outcome with ``record_success(now)`` / ``record_failure(now)``.
Each re-opening doubles the cool-down up to ``max_cooldown``. Time is passed in,
so every transition is unit-tested without a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from parcelflow.errors import ConfigError

__all__ = ["Allow", "BreakerDecision", "BreakerState", "CircuitBreaker", "Reject"]

BreakerState = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class Allow:
    """Send the request; ``probe`` is true when it decides whether the circuit closes."""

    probe: bool = False


@dataclass(frozen=True, slots=True)
class Reject:
    """Do not send; try again at ``until`` (same clock as ``now``)."""

    until: float
    reason: str


BreakerDecision = Allow | Reject


class CircuitBreaker:
    """Closed / open / half-open breaker for one host.

    Args:
        threshold: consecutive failures that open the circuit.
        cooldown: seconds the circuit stays open before one probe is let through.
        max_cooldown: ceiling of the cool-down, which doubles on each re-opening.
    """

    def __init__(self, threshold: int = 5, cooldown: float = 30.0, max_cooldown: float = 300.0):
        if threshold < 1 or cooldown <= 0 or max_cooldown < cooldown:
            raise ConfigError("breaker needs threshold >= 1 and 0 < cooldown <= max_cooldown")
        self.threshold = threshold
        self.base_cooldown = cooldown
        self.max_cooldown = max_cooldown
        self.state: BreakerState = "closed"
        self.failures = 0
        self.opened_count = 0
        self.open_until = 0.0
        self.last_failure = ""
        self._cooldown = cooldown
        self._probe_in_flight = False
        self._probe_started = 0.0

    def decide(self, now: float) -> BreakerDecision:
        """May a request be sent at ``now``?"""
        if self.state == "closed":
            return Allow()
        if self.state == "open" and now >= self.open_until:
            self.state = "half_open"
            self._probe_in_flight = False
        if self.state == "half_open" and not self._probe_out(now):
            self._probe_in_flight = True
            self._probe_started = now
            return Allow(probe=True)
        return Reject(self._retry_at(now), self.describe())

    def _probe_out(self, now: float) -> bool:
        # A probe whose outcome never came (its caller was cancelled) must not
        # hold the circuit half-open for ever: after a cool-down, probe again.
        return self._probe_in_flight and now < self._probe_started + self._cooldown

    def _retry_at(self, now: float) -> float:
        if self.state == "open":
            return self.open_until
        return self._probe_started + self._cooldown

    def record_success(self, now: float) -> None:
        """The host answered usefully: close the circuit and forget past failures."""
        del now  # part of the protocol; closing does not depend on the time
        self.state = "closed"
        self.failures = 0
        self._cooldown = self.base_cooldown
        self._probe_in_flight = False

    def record_failure(self, now: float, reason: str = "") -> None:
        """The host failed in a way that suggests it is down (timeout, reset, 5xx)."""
        self.failures += 1
        self.last_failure = reason or self.last_failure
        if self.state == "half_open":
            self._cooldown = min(self.max_cooldown, self._cooldown * 2)
            self._open(now)
        elif self.state == "closed" and self.failures >= self.threshold:
            self._open(now)

    def _open(self, now: float) -> None:
        self.state = "open"
        self.opened_count += 1
        self.open_until = now + self._cooldown
        self._probe_in_flight = False

    def describe(self) -> str:
        """One line for logs and error messages."""
        last = f"; last: {self.last_failure}" if self.last_failure else ""
        return f"circuit {self.state} after {self.failures} consecutive failures{last}"
