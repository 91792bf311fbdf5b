"""Retry policy: full-jitter exponential backoff, decided without a clock.

``RetryPolicy.decide(error, attempt, now)`` returns a decision; the caller acts
on it (the ledger stores the next attempt time, an HTTP client sleeps).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from parcelflow.errors import TransientError, WorkerCrashed

__all__ = ["GiveUp", "RetryAt", "RetryDecision", "RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryAt:
    """Try again at ``at`` (epoch seconds)."""

    at: float
    delay: float


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Stop trying; ``code`` says why (``retries_exhausted``, ``poison``, or the error's)."""

    code: str
    message: str


RetryDecision = RetryAt | GiveUp


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Full-jitter exponential backoff (AWS Architecture Blog, "Exponential Backoff And Jitter").

    ``delay = uniform(0, min(cap, base * 2 ** (attempt - 1)))``, raised to the
    server's ``Retry-After`` when the error carries one.

    Attributes:
        max_attempts: attempts in all, the first included, before a transient job is dead.
        base: seconds; the ceiling of the first delay.
        cap: seconds; no delay's ceiling grows beyond it.
        max_crashes: how many times a job may kill its worker before it is poison.
    """

    max_attempts: int = 5
    base: float = 0.5
    cap: float = 60.0
    max_crashes: int = 3
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def ceiling(self, attempt: int) -> float:
        """Upper bound of the delay after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.cap, self.base * 2 ** max(0, attempt - 1)))

    def decide(
        self, error: BaseException, attempt: int, now: float, crashes: int = 0
    ) -> RetryDecision:
        """Decide what follows failed attempt number ``attempt`` of a job.

        Args:
            error: what the attempt raised.
            attempt: 1 for the first attempt.
            now: the current time, epoch seconds.
            crashes: how many attempts so far ended with the worker process dying.
        """
        if not isinstance(error, TransientError):
            code = getattr(error, "code", "invalid")
            return GiveUp(code, str(error))
        if isinstance(error, WorkerCrashed) and crashes >= self.max_crashes:
            return GiveUp("poison", f"killed its worker {crashes} times: {error}")
        if attempt >= self.max_attempts:
            return GiveUp("retries_exhausted", f"gave up after {attempt} attempts: {error}")
        delay = self.rng.uniform(0.0, self.ceiling(attempt))
        if error.retry_after is not None:
            delay = max(delay, error.retry_after)
        return RetryAt(at=now + delay, delay=delay)
