"""Helpers shared by the zoning integration tests (imported by name, not a fixture)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from parcelflow.core.policies.retry import RetryPolicy
from parcelflow.sources.http import HttpSettings

SNAPSHOTS = {
    "2014": "san_jose_zoning_2014-07-23_downtown.geojson",
    "2015": "san_jose_zoning_2015-03-09_downtown.geojson",
    "2016": "san_jose_zoning_2016-03-24_downtown.geojson",
}


def load_oracle(data: Path, old: str, new: str) -> dict[str, Any]:
    """The maintainers' expected changes between two snapshots."""
    old_date = SNAPSHOTS[old].split("_")[3]
    new_date = SNAPSHOTS[new].split("_")[3]
    path = data / "san_jose" / f"expected_changes_{old_date}_to_{new_date}.json"
    oracle: dict[str, Any] = json.loads(path.read_text())
    return oracle


def fast_http(**overrides: Any) -> HttpSettings:
    """Client settings for tests: no rate limit, short backoff, seeded jitter."""
    retry = RetryPolicy(max_attempts=4, base=0.01, cap=0.05, rng=random.Random(7))
    settings: dict[str, Any] = {
        "rate": float("inf"),
        "max_in_flight": 4,
        "timeout": 5.0,
        "retry": retry,
        "breaker_threshold": 50,
    }
    return HttpSettings(**(settings | overrides))
