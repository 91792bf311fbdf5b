"""Circuit breaker transitions, with the time passed in."""

from __future__ import annotations

import pytest

from parcelflow.core.policies.breaker import Allow, CircuitBreaker, Reject
from parcelflow.errors import ConfigError


def _failing(breaker: CircuitBreaker, times: int, now: float = 0.0) -> None:
    for _ in range(times):
        assert isinstance(breaker.decide(now), Allow)
        breaker.record_failure(now, "http_503: HTTP 503")


def test_stays_closed_below_threshold() -> None:
    breaker = CircuitBreaker(threshold=3, cooldown=10)
    _failing(breaker, 2)
    assert breaker.state == "closed"
    assert breaker.decide(0.0) == Allow()


def test_opens_at_threshold_and_rejects_until_cooldown() -> None:
    breaker = CircuitBreaker(threshold=3, cooldown=10)
    _failing(breaker, 3, now=100.0)
    decision = breaker.decide(105.0)
    assert isinstance(decision, Reject)
    assert decision.until == 110.0
    assert "3 consecutive failures" in decision.reason
    assert "http_503" in decision.reason


def test_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(threshold=3, cooldown=10)
    _failing(breaker, 2)
    breaker.record_success(0.0)
    _failing(breaker, 2)
    assert breaker.state == "closed"


def test_half_open_lets_exactly_one_probe_through() -> None:
    breaker = CircuitBreaker(threshold=1, cooldown=10)
    _failing(breaker, 1, now=0.0)
    assert breaker.decide(10.0) == Allow(probe=True)
    assert breaker.state == "half_open"
    assert isinstance(breaker.decide(10.5), Reject)


def test_probe_success_closes_the_circuit() -> None:
    breaker = CircuitBreaker(threshold=1, cooldown=10)
    _failing(breaker, 1)
    assert breaker.decide(10.0) == Allow(probe=True)
    breaker.record_success(10.1)
    assert breaker.state == "closed"
    assert breaker.decide(10.2) == Allow()


def test_probe_failure_reopens_with_a_doubled_cooldown_up_to_the_cap() -> None:
    breaker = CircuitBreaker(threshold=1, cooldown=10, max_cooldown=25)
    _failing(breaker, 1, now=0.0)
    opened = []
    now = 0.0
    for _ in range(3):
        now = breaker.open_until
        assert breaker.decide(now) == Allow(probe=True)
        breaker.record_failure(now)
        opened.append(breaker.open_until - now)
    assert opened == [20.0, 25.0, 25.0]
    assert breaker.opened_count == 4


@pytest.mark.parametrize(("threshold", "cooldown", "cap"), [(0, 1, 1), (1, 0, 1), (1, 5, 2)])
def test_rejects_impossible_settings(threshold: int, cooldown: float, cap: float) -> None:
    with pytest.raises(ConfigError):
        CircuitBreaker(threshold, cooldown, cap)


def test_a_probe_that_never_reports_back_is_replaced_after_a_cooldown() -> None:
    breaker = CircuitBreaker(threshold=1, cooldown=10)
    _failing(breaker, 1, now=0.0)
    assert breaker.decide(10.0) == Allow(probe=True)  # its caller is then cancelled
    rejected = breaker.decide(15.0)
    assert isinstance(rejected, Reject) and rejected.until == 20.0
    assert breaker.decide(20.0) == Allow(probe=True)
