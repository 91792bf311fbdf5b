"""Prometheus metrics of workers: jobs by outcome, in flight, latency, queue depth.

Celery's prefork children each count their own jobs; prometheus-client's
multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set by ``parcelflow worker``
before any child starts) adds them up when the parent is scraped. Queue depth
comes from the ledger itself, so it is the same whichever worker is asked.
"""

from __future__ import annotations

import functools
import os
import tempfile
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from parcelflow.core.engine import RunSummary
    from parcelflow.stores import Store

__all__ = ["JobObserver", "observe_shard", "preload", "prepare_multiprocess", "serve"]

_QUEUE_STATES = ("queued", "retry_wait")


def preload() -> None:
    """Import prometheus-client now: a worker's parent, so its children need not (~50 ms each).

    Call it after :func:`prepare_multiprocess`: the import fixes the storage mode.
    """
    import prometheus_client  # noqa: F401


def prepare_multiprocess() -> str:
    """Point prometheus-client at a fresh folder shared by the worker's children."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(
        prefix="parcelflow-prom-"
    )
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    return folder


class _Metrics:
    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.jobs = Counter(
            "parcelflow_jobs_total", "Jobs ended, by pipeline and outcome", ["pipeline", "outcome"]
        )
        self.in_flight = Gauge(
            "parcelflow_jobs_in_flight",
            "Jobs running in this worker",
            ["pipeline"],
            multiprocess_mode="livesum",
        )
        self.latency = Histogram(
            "parcelflow_job_seconds",
            "Time from claim to end of a job",
            ["pipeline"],
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300),
        )
        self.shards = Counter("parcelflow_shards_total", "Shards run", ["pipeline"])


@functools.cache
def _get() -> _Metrics:
    """One set of metric objects per process, made on first use."""
    return _Metrics()


class JobObserver:
    """Engine hook: counts each job's start and end for Prometheus.

    The labelled series are looked up once per pipeline (and outcome), not per
    job: each lookup costs more than the update itself.
    """

    def __init__(self) -> None:
        self._series: dict[tuple[str, str, str], Any] = {}

    def _one(self, kind: str, pipeline: str, outcome: str = "") -> Any:
        found = self._series.get((kind, pipeline, outcome))
        if found is None:
            m = _get()
            if kind == "jobs":
                found = m.jobs.labels(pipeline, outcome)
            else:
                found = getattr(m, kind).labels(pipeline)
            self._series[(kind, pipeline, outcome)] = found
        return found

    def started(self, pipeline: str) -> float:
        """A job began; returns the start time to hand back to :meth:`ended`."""
        self._one("in_flight", pipeline).inc()
        return time.monotonic()

    def ended(self, pipeline: str, outcome: str, started: float) -> None:
        """A job reached ``outcome`` (a state, or ``retry_wait``)."""
        self._one("in_flight", pipeline).dec()
        self._one("jobs", pipeline, outcome).inc()
        self._one("latency", pipeline).observe(time.monotonic() - started)


def observe_shard(pipeline: str, summary: RunSummary) -> None:
    """Count one finished shard."""
    _get().shards.labels(pipeline).inc()


class _QueueDepth:
    """Jobs waiting in the ledger, read on each scrape (cached for a second)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._cache: tuple[float, dict[str, int]] = (0.0, {})

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        at, counts = self._cache
        if time.monotonic() - at > 1.0:
            counts = self._store.state_counts()
            self._cache = (time.monotonic(), counts)
        family = GaugeMetricFamily(
            "parcelflow_queue_depth", "Jobs waiting in the ledger", labels=["state"]
        )
        for state in _QUEUE_STATES:
            family.add_metric([state], counts.get(state, 0))
        yield family


def serve(port: int, store: Store | None) -> None:
    """Serve ``/metrics`` on ``port``: the children's counters plus the ledger's queue depth."""
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    if store is not None:
        registry.register(_QueueDepth(store))
    start_http_server(port, addr="0.0.0.0", registry=registry)
