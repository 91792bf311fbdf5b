"""Every pipeline runs unchanged in Celery mode; workers serve Prometheus metrics.

For each registered pipeline with a sample input this module can generate, the
same ``parcelflow run`` goes once through the local engine and once through
Celery workers, each into a fresh PostgreSQL database. Whatever ran the jobs,
the user must see the same thing: the same run summary and exit code, the same
``status --json``, the same job outcomes, the same records, and an audit chain
that verifies.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import parcelflow.testing.faults  # noqa: F401  (registers ``fault``; workers load it by plugin)
from parcelflow.core.pipeline import get_pipeline, pipeline_names
from parcelflow.sources.files import file_submissions

if TYPE_CHECKING:
    from conftest import Cluster, LedgerView, RedisServer

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

CLI = [sys.executable, "-m", "parcelflow.interfaces.cli"]
RUN_TIMEOUT_S = 90.0
REAL_LEASES = Path(__file__).resolve().parents[3].parent / "shared/data/leases/edgar_ultradomain"
REAL_ZONING = (
    Path(__file__).resolve().parents[3].parent
    / "shared/data/zoning/san_jose/san_jose_zoning_2014-07-23_downtown.geojson"
)


# -- sample inputs -------------------------------------------------------------------


def _pdf(text: str, pages: int = 1) -> bytes:
    """A PDF whose pages' text layer says ``text`` (Helvetica, no compression)."""
    content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    first_page = 4  # objects: catalog, page tree, font, then a page and its content each
    kids = " ".join(f"{first_page + 2 * n} 0 R" for n in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for n in range(pages):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R"
            b" /Resources << /Font << /F1 3 0 R >> >> >>" % (first_page + 2 * n + 1)
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _documents(folder: Path) -> list[str]:
    """Small documents of the kinds a portfolio holds, with a duplicate and a broken link."""
    lease = "This lease is made between Landlord LLC and Tenant Inc for Suite 200."
    files: dict[str, bytes] = {
        "lease.txt": lease.encode() + b"\nBase rent: $4,500 per month.\n",
        "lease.pdf": _pdf(lease),
        "scan.png": b"\x89PNG\r\n\x1a\n" + bytes(64),
        "broken.pdf": b"%PDF-1.7\nthis is not really a pdf\n",
        "notes/memo.html": b"<!doctype html><html><body>memo</body></html>\n",
        "notes/copy-of-lease.txt": lease.encode() + b"\nBase rent: $4,500 per month.\n",
        "empty.txt": b"",
    }
    for name, body in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(body)
    (folder / "gone.txt").symlink_to(folder / "missing.txt")
    return [str(folder)]


def _faults(folder: Path) -> list[str]:
    """One file per way a fault job can end, except ``crash`` (see test_celery_faults)."""
    lines = ["ok", "ok", "ok", "transient 1", "permanent", "quarantine"]
    folder.mkdir(parents=True, exist_ok=True)
    for i, line in enumerate(lines):
        (folder / f"{i}-{line.split()[0]}.txt").write_text(f"{line}\nfile {i}\n")
    return [str(folder)]


def _leases(folder: Path) -> list[str]:
    """The documents, plus the shortest real lease of the shared data set when it is there."""
    sources = _documents(folder)
    real = sorted(REAL_LEASES.glob("*.txt"), key=lambda p: p.stat().st_size)[:1]
    for path in real:
        (folder / path.name).write_bytes(path.read_bytes())
    return sources


def _zoning(folder: Path) -> list[str]:
    """A real zoning layer as a GeoJSON file (1,138 features: three pages of 500).

    A file source needs no server; the pages still go through the fetch (async),
    clean and record stages and the zoning writer, in the workers.
    """
    if not REAL_ZONING.is_file():
        pytest.skip(f"zoning data not found at {REAL_ZONING}")
    return [str(REAL_ZONING)]


SAMPLES: dict[str, Callable[[Path], list[str]]] = {
    "inventory": _documents,
    "fault": _faults,
    "lease": _leases,
    "zoning": _zoning,
}


def _sample(name: str) -> Callable[[Path], list[str]] | None:
    """A generator of small input for pipeline ``name``; any file pipeline takes documents."""
    if name in SAMPLES:
        return SAMPLES[name]
    if get_pipeline(name).submissions is file_submissions:
        return _documents
    return None


# -- helpers -------------------------------------------------------------------------


def _local_run(
    cluster: Cluster, db: str, name: str, sources: list[str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "run", name, *sources, "--db", db, "--json"],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env=cluster.env,
        cwd=cluster.root,
        check=False,
    )


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(done.stdout)


def _jobs(cluster: Cluster, db: str) -> set[tuple[Any, ...]]:
    """What became of each source: (source, state, reason code, attempts)."""
    done = cluster.cli("jobs", "--json", db=db)
    assert done.returncode == 0, cluster.explain(done)
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return {(r["source"], r["state"], r["reason_code"], r["attempts"]) for r in rows}


def _records(cluster: Cluster, db: str, collection: str) -> list[dict[str, Any]]:
    done = cluster.cli("export", collection, db=db)
    assert done.returncode == 0, cluster.explain(done)
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return [{k: v for k, v in row.items() if k != "job_id"} for row in rows]


def _both_runs(
    name: str,
    tmp_path: Path,
    cluster: Cluster,
    local_db: str,
) -> tuple[subprocess.CompletedProcess[str], tuple[int, str, str], list[str]]:
    make = _sample(name)
    if make is None:
        source = get_pipeline(name).submissions
        pytest.skip(
            f"pipeline {name!r} reads {source.__module__}.{source.__qualname__}, not files, "
            "and this module has no small sample for it: add one to SAMPLES"
        )
    sources = make(tmp_path / "sample")
    local = _local_run(cluster, local_db, name, sources)
    cluster.start_worker("a", concurrency=2)
    remote = cluster.finish(cluster.start_run(name, *sources), RUN_TIMEOUT_S)
    return local, remote, sources


# -- every pipeline, both backends -------------------------------------------------------


@pytest.mark.timeout(180)
@pytest.mark.parametrize("name", pipeline_names())
def test_pipeline_runs_unchanged_on_celery(
    name: str,
    tmp_path: Path,
    redis_server: RedisServer,
    make_cluster: Callable[..., Cluster],
    other_pg_url: str,
) -> None:
    cluster = make_cluster(redis_server.broker)
    local, (code, out, err), _ = _both_runs(name, tmp_path, cluster, other_pg_url)
    assert local.returncode in (0, 1), cluster.explain(local)
    assert code == local.returncode, f"exit {code} (local {local.returncode})\n{err[-2000:]}"
    ignore = {"elapsed_s", "retried"}  # retried: see test_celery_summary_counts_retries
    celery_summary = {k: v for k, v in json.loads(out).items() if k not in ignore}
    local_summary = {k: v for k, v in _json(local).items() if k not in ignore}
    assert celery_summary == local_summary
    assert celery_summary["pending"] == 0 and celery_summary["total"] > 0

    for view in (("status", "--json"), ("status", "--json", "--batch", local_summary["batch"])):
        seen_local, seen_celery = cluster.cli(*view, db=other_pg_url), cluster.cli(*view)
        assert seen_celery.returncode == seen_local.returncode == 0, cluster.explain(seen_celery)
        assert _json(seen_celery) == _json(seen_local), f"{' '.join(view)} differs"
    assert _jobs(cluster, cluster.db) == _jobs(cluster, other_pg_url)
    collection = get_pipeline(name).collection
    records = _records(cluster, cluster.db, collection)
    assert records == _records(cluster, other_pg_url, collection)
    assert records or celery_summary["committed"] == 0
    for db in (cluster.db, other_pg_url):
        audit = cluster.cli("audit", "verify", db=db)
        assert audit.returncode == 0 and "reconciles" in audit.stdout, cluster.explain(audit)


def test_status_json_shows_every_state_whichever_backend(
    tmp_path: Path,
    redis_server: RedisServer,
    make_cluster: Callable[..., Cluster],
    other_pg_url: str,
) -> None:
    """The ``fault`` sample ends jobs in every state; both backends report them alike."""
    cluster = make_cluster(redis_server.broker)
    local, (code, out, _err), _ = _both_runs("fault", tmp_path, cluster, other_pg_url)
    assert code == local.returncode == 1  # some jobs rejected or quarantined
    expected = {"committed": 4, "rejected": 1, "quarantined": 1}
    for db in (cluster.db, other_pg_url):
        status = _json(cluster.cli("status", "--json", db=db))
        assert status["states"] == expected, status
        assert [b["states"] for b in status["batches"]] == [expected]
    assert json.loads(out)["committed"] == 4


def test_celery_summary_counts_retries_like_a_local_run(
    tmp_path: Path,
    redis_server: RedisServer,
    make_cluster: Callable[..., Cluster],
    other_pg_url: str,
) -> None:
    """``run --json`` reports ``retried`` (one ``transient 1`` job: one retry) on both backends."""
    cluster = make_cluster(redis_server.broker)
    local, (_code, out, _err), _ = _both_runs("fault", tmp_path, cluster, other_pg_url)
    assert _json(local)["retried"] == 1
    assert json.loads(out)["retried"] == _json(local)["retried"], (
        "the Celery coordinator's summary does not count the retries its workers made"
    )


@pytest.mark.timeout(150)
def test_pdf_batch_on_celery_does_not_crash_worker_processes(
    tmp_path: Path,
    redis_server: RedisServer,
    make_cluster: Callable[..., Cluster],
    ledger: LedgerView,
) -> None:
    """3,000 small PDFs through ``inventory`` on Celery: every job commits at its first attempt.

    Stages a pipeline places in the process pool run inside the Celery child
    instead, in threads, many jobs of a shard at once; pdfium, which inventory
    (and lease) use to open PDFs, is not thread-safe, so PDFs opened at the
    same time in one process corrupt its heap and kill the child (SIGSEGV,
    SIGABRT). The corruption is a race: with 3,000 documents it showed on
    every run here (with 300, on about half of them).
    """
    folder = tmp_path / "pdfs"
    folder.mkdir()
    for i in range(3000):
        text = f"Lease {i} between Landlord and Tenant"
        (folder / f"lease-{i:04d}.pdf").write_bytes(_pdf(text, pages=2))
    cluster = make_cluster(redis_server.broker)
    cluster.start_worker("a", concurrency=2)
    code, out, err = cluster.finish(cluster.start_run("inventory", folder), RUN_TIMEOUT_S)
    died = re.findall(r"Process '[^']+' pid:\d+ exited with '([^']+)'", cluster.logs())
    assert not died, f"{len(died)} worker processes died running PDF jobs: {sorted(set(died))}"
    assert code == 0, f"{out}\n{err[-2000:]}"
    assert json.loads(out)["committed"] == 3000
    assert ledger.rows("SELECT max(attempts) FROM pf_jobs") == [(1,)]


# -- metrics -----------------------------------------------------------------------------


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(samples: dict[Any, float], name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@pytest.mark.timeout(120)
def test_worker_serves_prometheus_metrics(
    tmp_path: Path,
    redis_server: RedisServer,
    make_cluster: Callable[..., Cluster],
    ledger: LedgerView,
    ok_files: Callable[[Path, int], list[Path]],
) -> None:
    """``parcelflow worker --metrics-port`` serves job outcomes, shards, latency, queue depth.

    A standby worker (consuming another queue, so it runs nothing) shows the
    ledger's queue depth while the batch waits for a worker; the worker that
    then runs the batch counts each job's outcome over its two children.
    """
    cluster = make_cluster(redis_server.broker)
    ok_files(tmp_path / "docs", 49)
    (tmp_path / "docs" / "bad.txt").write_text("permanent\n")
    standby = cluster.start_worker("standby", queues="standby", metrics=True)
    run = cluster.start_run("fault", tmp_path / "docs")
    assert cluster.wait(lambda: ledger.count("queued") == 50, timeout=60, proc=run)

    def depth_is(n: int) -> Callable[[], bool]:
        def check() -> bool:
            samples = _samples(standby.metrics())
            return _value(samples, "parcelflow_queue_depth", state="queued") == n

        return check

    assert cluster.wait(depth_is(50), timeout=10, every=0.2), standby.metrics()
    runner = cluster.start_worker("runner", concurrency=2, metrics=True)
    code, out, err = cluster.finish(run, RUN_TIMEOUT_S)
    assert code == 1, f"{out}\n{err[-2000:]}"  # one job rejected
    assert cluster.wait(depth_is(0), timeout=10, every=0.2), standby.metrics()

    samples = _samples(runner.metrics())
    assert _value(samples, "parcelflow_jobs_total", pipeline="fault", outcome="committed") == 49
    assert _value(samples, "parcelflow_jobs_total", pipeline="fault", outcome="rejected") == 1
    assert _value(samples, "parcelflow_shards_total", pipeline="fault") == 1
    assert _value(samples, "parcelflow_job_seconds_count", pipeline="fault") == 50
    assert _value(samples, "parcelflow_jobs_in_flight", pipeline="fault") == 0
    assert _value(samples, "parcelflow_queue_depth", state="queued") == 0
    idle = _samples(standby.metrics())
    assert _value(idle, "parcelflow_jobs_total", pipeline="fault", outcome="committed") is None
    assert os.listdir(tmp_path / "prometheus-runner-1"), "children kept no counters"
