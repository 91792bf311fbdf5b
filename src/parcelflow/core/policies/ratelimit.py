"""Rate limits: a token bucket that decides, and a per-host async limiter that acts.

:class:`TokenBucket` is a pure decision object: ``acquire(now)`` reserves a token
and returns how many seconds the caller must wait before using it. The clock is
passed in, so the policy is unit-tested without sleeping. :class:`HostLimiter`
is the thin async shell that sleeps for those decisions and caps the requests
in flight per host.

Rates are written as the CLI takes them (``--rate 5/s``): see :func:`parse_rate`.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from parcelflow.errors import ConfigError

__all__ = ["HostLimiter", "TokenBucket", "parse_rate"]

_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0}
_UNITS |= {"h": 3600.0, "hour": 3600.0}
_RATE = re.compile(r"^\s*(?P<count>\d+(?:\.\d+)?)\s*(?:/\s*(?P<unit>[a-z]+))?\s*$")


def parse_rate(text: str) -> float:
    """Requests per second from ``"5/s"``, ``"300/min"``, ``"2/h"`` or a bare ``"5"``.

    ``"0"`` and ``"inf"`` both mean "no limit" and return ``math.inf``.

    Raises:
        ConfigError: the text is not a rate.
    """
    if text.strip().lower() in {"0", "inf", "none", "unlimited"}:
        return math.inf
    match = _RATE.match(text.lower())
    unit = (match.group("unit") or "s") if match else ""
    if match is None or unit not in _UNITS or float(match.group("count")) <= 0:
        raise ConfigError(f"bad rate {text!r}: write COUNT/UNIT, e.g. 5/s, 300/min or 2/h")
    return float(match.group("count")) / _UNITS[unit]


@dataclass(slots=True)
class TokenBucket:
    """A token bucket refilled at ``rate`` tokens per second, holding at most ``burst``.

    ``acquire`` always reserves: the bucket may go negative, and the returned
    wait is the time until the reservation is covered. Concurrent callers that
    each sleep their own wait are therefore spaced ``1 / rate`` apart, in order.

    Attributes:
        rate: tokens per second; ``math.inf`` disables the limit.
        burst: bucket capacity, the number of calls allowed back to back.
    """

    rate: float
    burst: float = 1.0
    _tokens: float = field(init=False)
    _last: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            message = f"rate {self.rate}, burst {self.burst}"
            raise ConfigError(f"token bucket needs rate > 0 and burst >= 1, got {message}")
        self._tokens = self.burst

    def acquire(self, now: float, tokens: float = 1.0) -> float:
        """Reserve ``tokens`` at time ``now``; return the seconds to wait (0 when free)."""
        if math.isinf(self.rate):
            return 0.0
        self._refill(now)
        self._tokens -= tokens
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def _refill(self, now: float) -> None:
        if self._last is not None and now > self._last:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now if self._last is None else max(self._last, now)


@dataclass(slots=True)
class _HostSlot:
    bucket: TokenBucket
    in_flight: asyncio.Semaphore


class HostLimiter:
    """Per-host request rate and in-flight cap for one event loop.

    Usage::

        async with limiter.slot("gis.example.org"):
            await send()

    The in-flight slot is taken first and the token second, so a token is never
    reserved by a caller still queued behind the in-flight cap.

    Args:
        rate: requests per second per host (``math.inf`` for no limit).
        burst: requests a host may receive back to back.
        max_in_flight: concurrent requests per host.
        clock: monotonic seconds; injectable for tests.
        sleep: the coroutine that waits; injectable for tests.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float = 1.0,
        max_in_flight: int = 4,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_in_flight < 1:
            raise ConfigError(f"max in flight must be at least 1, got {max_in_flight}")
        self.rate = rate
        self.burst = burst
        self.max_in_flight = max_in_flight
        self._clock = clock
        self._sleep = sleep
        self._hosts: dict[str, _HostSlot] = {}

    def _host(self, host: str) -> _HostSlot:
        slot = self._hosts.get(host)
        if slot is None:
            bucket = TokenBucket(self.rate, self.burst)
            slot = _HostSlot(bucket, asyncio.Semaphore(self.max_in_flight))
            self._hosts[host] = slot
        return slot

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        """Hold one in-flight slot for ``host`` after waiting for its rate limit."""
        state = self._host(host)
        async with state.in_flight:
            wait = state.bucket.acquire(self._clock())
            if wait > 0:
                await self._sleep(wait)
            yield
