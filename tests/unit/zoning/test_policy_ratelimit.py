"""Token bucket decisions (time passed in) and the per-host limiter around them."""

from __future__ import annotations

import asyncio
import math

import pytest

from parcelflow.core.policies.ratelimit import HostLimiter, TokenBucket, parse_rate
from parcelflow.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "per_second"),
    [("5/s", 5.0), ("300/min", 5.0), ("2/h", 2 / 3600), ("7", 7.0), ("0.5/sec", 0.5)],
)
def test_parse_rate_reads_count_per_unit(text: str, per_second: float) -> None:
    assert parse_rate(text) == pytest.approx(per_second)


@pytest.mark.parametrize("text", ["inf", "0", "unlimited"])
def test_parse_rate_no_limit(text: str) -> None:
    assert math.isinf(parse_rate(text))


@pytest.mark.parametrize("text", ["fast", "5/fortnight", "-1/s", "/s", ""])
def test_parse_rate_rejects_nonsense_with_a_hint(text: str) -> None:
    with pytest.raises(ConfigError, match="COUNT/UNIT"):
        parse_rate(text)


def test_bucket_allows_a_burst_then_spaces_calls_by_one_over_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3)
    waits = [bucket.acquire(now=10.0) for _ in range(5)]
    assert waits == [0.0, 0.0, 0.0, 0.5, 1.0]


def test_bucket_refills_with_time_but_never_beyond_burst() -> None:
    bucket = TokenBucket(rate=1.0, burst=2)
    assert bucket.acquire(0.0) == 0.0
    assert bucket.acquire(0.0) == 0.0
    assert bucket.acquire(0.5) == pytest.approx(0.5)
    # A long idle spell refills two tokens, not a hundred.
    assert [bucket.acquire(100.0) for _ in range(3)] == [0.0, 0.0, 1.0]


def test_bucket_ignores_a_clock_that_steps_back() -> None:
    bucket = TokenBucket(rate=1.0, burst=1)
    assert bucket.acquire(5.0) == 0.0
    assert bucket.acquire(4.0) == pytest.approx(1.0)


def test_infinite_rate_never_waits() -> None:
    bucket = TokenBucket(rate=math.inf)
    assert {bucket.acquire(0.0) for _ in range(1000)} == {0.0}


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1.0), (-1.0, 1.0), (1.0, 0.5)])
def test_bucket_rejects_impossible_settings(rate: float, burst: float) -> None:
    with pytest.raises(ConfigError):
        TokenBucket(rate, burst)


class _FakeTime:
    """A clock that only moves when the limiter sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_limiter_spaces_requests_per_host_and_keeps_hosts_apart() -> None:
    fake = _FakeTime()
    limiter = HostLimiter(4.0, max_in_flight=8, clock=fake.clock, sleep=fake.sleep)
    for _ in range(3):
        async with limiter.slot("a.example"):
            pass
    async with limiter.slot("b.example"):
        pass
    assert fake.sleeps == [0.25, 0.25]


async def test_limiter_caps_requests_in_flight_per_host() -> None:
    limiter = HostLimiter(math.inf, max_in_flight=2)
    inside = 0
    peak = 0
    full = asyncio.Event()
    release = asyncio.Event()

    async def request() -> None:
        nonlocal inside, peak
        async with limiter.slot("gis.example"):
            inside += 1
            peak = max(peak, inside)
            if inside == 2:
                full.set()
            await release.wait()
            inside -= 1

    tasks = [asyncio.create_task(request()) for _ in range(5)]
    await full.wait()
    for _ in range(10):  # give the other three every chance to get in
        await asyncio.sleep(0)
    assert inside == 2
    release.set()
    await asyncio.gather(*tasks)
    assert peak == 2


def test_limiter_rejects_a_zero_cap() -> None:
    with pytest.raises(ConfigError):
        HostLimiter(1.0, max_in_flight=0)
