"""Celery throughput: the local engine next to Celery workers, on the same PostgreSQL ledger.

Measured in one run on this machine, so the ratios hold on a noisy shared box:

* ``inventory`` over small text files (100 B to 4 KiB, overhead-bound) and over
  documents of realistic size (copies of the real contract PDFs in
  ``../shared/data``, 50 to 650 KiB; made with reportlab when that data is not
  there), and the ``lease`` pipeline over real leases when it is registered;
  each with the local engine, then with Celery with one and with two worker
  processes;
* the per-job overhead of the Celery path over the local one;
* a no-op job (no file, no record: only the ledger's claim, commit and audit,
  and Celery's transport) amortised over shards of 100 and of 1,000 jobs.

Throughput is taken from the ledger (jobs / (last job's end - first job's
admission)), the same clock for both paths; the CLI's own elapsed time, which
for Celery includes up to one ledger poll (0.5 s) at the end, is shown beside
it. Every measurement has a fresh database and freshly started, warmed-up
workers (their start-up is not counted).

Targets (issue): Celery within 20% of the local engine's throughput for
documents of realistic size (judged with as many worker processes as the local
engine has pool processes, i.e. on the same cores); no-op overhead below 1 ms
per job. The figures are printed, not asserted.

Needs PostgreSQL (``PARCELFLOW_BENCH_PG_URL``, default
``postgresql://postgres@127.0.0.1:5432/postgres``; a database is created and
dropped per measurement) and ``redis-server`` (a private one is started on a
free loopback port; or give ``--broker``).

This module is also the plugin that registers the ``bench_noop`` pipeline:
workers import it through ``PARCELFLOW_PLUGINS=celery_throughput``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from parcelflow.core.pipeline import (
    Pipeline,
    Result,
    RunContext,
    Stage,
    StageInput,
    Submission,
    pipeline_names,
    register,
)

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
CLI = [sys.executable, "-m", "parcelflow.interfaces.cli"]
PLUGIN = "celery_throughput"
NOOP = "bench_noop"
TIMEOUT_S = 900.0

# -- the no-op pipeline ------------------------------------------------------------


def noop_submissions(
    specs: Sequence[str], _options: BaseModel | None = None, _context: RunContext | None = None
) -> Iterator[Submission]:
    """``COUNT:TAG`` makes COUNT jobs keyed ``TAG-i``: no file, nothing to hash."""
    for spec in specs:
        count, _, tag = spec.partition(":")
        for i in range(int(count)):
            yield Submission(source=f"{tag}-{i}", payload={}, key=f"{tag}-{i}")


def noop(_item: StageInput) -> Result:
    """Does nothing: the job commits with no record."""
    return Result()


register(
    Pipeline(
        name=NOOP,
        collection=NOOP,
        submissions=noop_submissions,
        identify=Stage("identify", noop),  # never called: every submission has its key
        stages=(Stage("noop", noop),),
        summary="benchmark: a job that does nothing",
    )
)


# -- infrastructure ------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARCELFLOW_")}
    env["PARCELFLOW_PLUGINS"] = PLUGIN
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def _free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process's session, SIGKILL it if it lingers."""
    for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 30.0)):
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def private_redis() -> Iterator[str]:
    """A ``redis-server`` of this benchmark's own, without persistence."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = _free_port()
    folder = tempfile.mkdtemp(prefix="pf-bench-redis-")
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", folder]
    argv += ["--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )

    def answers() -> bool:
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
        return False

    try:
        _wait(answers, 10, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _kill(proc)
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    import psycopg

    name = f"pf_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def ledger_span(db: str) -> tuple[int, float]:
    """Jobs in the ledger, and seconds from the first admission to the last end."""
    import psycopg

    with psycopg.connect(db) as conn:
        row = conn.execute(
            "SELECT count(*), min(created_at), max(updated_at) FROM pf_jobs"
        ).fetchone()
    if row is None or not row[0]:
        raise RuntimeError("the ledger holds no jobs: nothing ran")
    count, first, last = row
    return int(count), float(last - first)


@contextmanager
def celery_worker(db: str, broker: str, processes: int, log: Path) -> Iterator[None]:
    """``parcelflow worker`` with ``processes`` prefork children, ready before it yields."""
    argv = [*CLI, "worker", "--db", db, "--broker", broker, "--concurrency", str(processes)]
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            argv, stdout=sink, stderr=subprocess.STDOUT, env=_env(), start_new_session=True
        )
    try:
        _wait(lambda: " ready." in log.read_text(errors="replace"), 60, "the worker")
        yield
    finally:
        _kill(proc)


# -- corpora ---------------------------------------------------------------------------


def realistic_pdfs(root: Path, count: int) -> Path:
    """``count`` distinct PDFs of realistic size: real contracts, each copy made unique."""
    marker = root.parent / f"{root.name}.complete-{count}"
    if marker.exists():
        return root
    originals = sorted((SHARED / "leases" / "cuad_subset" / "pdf").glob("*"))
    root.mkdir(parents=True, exist_ok=True)
    if not originals:
        originals = _generated_pdfs(root.parent / f"{root.name}-originals")
    bodies = [p.read_bytes() for p in originals]
    for i in range(count):
        # Bytes after %%EOF are ignored by readers and make each copy a distinct key.
        data = bodies[i % len(bodies)] + f"\n% copy {i}\n".encode()
        (root / f"contract-{i:05d}.pdf").write_bytes(data)
    marker.write_text("ok")
    return root


def _generated_pdfs(folder: Path) -> list[Path]:
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    sys.path.insert(0, str(HERE))
    from corpus import WORDS

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(10):
        path = folder / f"generated-{n}.pdf"
        pdf = canvas.Canvas(str(path), pagesize=letter)
        for page in range(4 + n):
            for line in range(50):
                picks = ((page * 7 + line * 3 + k + n) % len(WORDS) for k in range(12))
                pdf.drawString(50, 750 - line * 14, " ".join(WORDS[i] for i in picks))
            pdf.showPage()
        pdf.save()
        paths.append(path)
    return paths


def real_leases(root: Path, count: int) -> Path | None:
    """``count`` distinct copies of the real leases (text), or None without the data set."""
    originals = sorted((SHARED / "leases" / "edgar_ultradomain").glob("*.txt"))
    if not originals:
        return None
    marker = root.parent / f"{root.name}.complete-{count}"
    if not marker.exists():
        root.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            data = originals[i % len(originals)].read_bytes() + f"\n\ncopy {i}\n".encode()
            (root / f"lease-{i:04d}.txt").write_bytes(data)
        marker.write_text("ok")
    return root


# -- measurements ----------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    """One run: how many jobs, per second by the ledger's clock and by the CLI's."""

    jobs: int
    span_s: float
    elapsed_s: float
    crashes: int = 0  # worker processes that died during the run

    @property
    def rate(self) -> float:
        return self.jobs / self.span_s if self.span_s else 0.0

    @property
    def ms_per_job(self) -> float:
        return 1000.0 * self.span_s / self.jobs if self.jobs else 0.0


def _run(argv: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=TIMEOUT_S, env=_env(), check=False
    )
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(argv[3:6])}: exit {done.returncode}: {done.stderr[-800:]}")
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary


def measure(
    admin_url: str,
    broker: str,
    pipeline: str,
    source: str,
    processes: int,
    *,
    shard_size: int = 100,
    logs: Path,
) -> Measurement:
    """Run ``pipeline`` over ``source``: locally (``processes`` = 0) or on Celery workers."""
    with fresh_database(admin_url) as db:
        argv = [*CLI, "run", pipeline, source, "--db", db, "--json"]
        if processes == 0:
            summary = _run(argv)
        else:
            log = logs / f"worker-{pipeline}-{processes}-{shard_size}-{uuid.uuid4().hex[:4]}.log"
            with celery_worker(db, broker, processes, log):
                more = ["--backend", "celery", "--broker", broker, "--shard-size", str(shard_size)]
                summary = _run([*argv, *more])
            crashes = log.read_text(errors="replace").count("exited with 'signal")
        jobs, span = ledger_span(db)
    ended = summary["total"] - summary["pending"]
    if summary["pending"] or ended != jobs:
        raise RuntimeError(f"{pipeline} did not end every job: {summary}")
    return Measurement(jobs, span, float(summary["elapsed_s"]), crashes if processes else 0)


def best(runs: Sequence[Measurement]) -> Measurement:
    return max(runs, key=lambda m: m.rate)


# -- report ----------------------------------------------------------------------------


def _row(label: str, m: Measurement, local: Measurement | None) -> str:
    line = f"  {label:<26}{m.rate:>9,.0f} jobs/s {m.ms_per_job:>8.3f} ms/job"
    line += f"   cli {m.elapsed_s:6.2f}s"
    if local is not None:
        ratio = m.rate / local.rate if local.rate else 0.0
        extra = m.ms_per_job - local.ms_per_job
        line += f"   {ratio:5.2f}x local   overhead {extra:+.3f} ms/job"
    if m.crashes:
        line += f"   ({m.crashes} worker processes crashed)"
    return line


def _rounds(
    args: argparse.Namespace,
    broker: str,
    pipeline: str,
    source: str,
    configs: Sequence[tuple[str, int, int]],
    logs: Path,
) -> dict[str, list[Measurement]]:
    """``args.rounds`` runs of each (label, processes, shard size), in round order.

    Configurations take turns within each round (local, Celery 1, Celery 2, then
    again), so a drift in the machine's load reaches every one of them alike.
    """
    runs: dict[str, list[Measurement]] = {label: [] for label, _, _ in configs}
    for _ in range(args.rounds):
        for label, processes, shard in configs:
            runs[label].append(
                measure(args.pg, broker, pipeline, source, processes, shard_size=shard, logs=logs)
            )
    return runs


def workload(
    name: str,
    pipeline: str,
    source: str,
    args: argparse.Namespace,
    broker: str,
    logs: Path,
    *,
    shard_size: int = 100,
) -> dict[str, list[Measurement]]:
    configs = [
        ("local engine", 0, shard_size),
        ("celery, 1 process", 1, shard_size),
        ("celery, 2 processes", 2, shard_size),
    ]
    runs = _rounds(args, broker, pipeline, source, configs, logs)
    local = best(runs["local engine"])
    print(f"\n{name} ({local.jobs:,} jobs, pipeline {pipeline}, shards of {shard_size})")
    for label, measured in runs.items():
        m = best(measured)
        print(_row(label, m, None if m is local else local))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=5_000, help="small text files")
    parser.add_argument("--realistic", type=int, default=1_000, help="contract PDFs")
    parser.add_argument("--leases", type=int, default=100, help="real lease texts")
    parser.add_argument("--noop", type=int, default=20_000, help="no-op jobs")
    parser.add_argument("--rounds", type=int, default=1, help="best of N per figure")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=("small", "realistic", "lease", "noop"),
        default=("small", "realistic", "lease", "noop"),
        help="workloads to measure (default: all)",
    )
    parser.add_argument("--broker", help="use this broker instead of a private redis-server")
    parser.add_argument(
        "--pg",
        default=os.environ.get(
            "PARCELFLOW_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="PostgreSQL server URL (a database is created per measurement)",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from corpus import scratch, small_files

    small = small_files(scratch(f"small-{args.small}"), args.small)
    pdfs = realistic_pdfs(scratch(f"contracts-{args.realistic}"), args.realistic)
    lease_names = [n for n in pipeline_names() if n.startswith("lease")]
    leases = real_leases(scratch(f"leases-{args.leases}"), args.leases) if lease_names else None
    logs = Path(tempfile.mkdtemp(prefix="pf-bench-celery-"))
    cores = os.cpu_count() or 1
    print(f"machine: {cores} cores; local engine: process pool of {cores}; logs in {logs}")

    with _broker(args.broker) as broker:
        mean_kib = sum(p.stat().st_size for p in pdfs.iterdir()) / args.realistic / 1024
        figures: dict[str, dict[str, list[Measurement]]] = {}
        if "small" in args.only:
            figures["small"] = workload(
                "inventory, small text files", "inventory", str(small), args, broker, logs
            )
        if "realistic" in args.only:
            figures["realistic"] = workload(
                f"inventory, contract PDFs (mean {mean_kib:,.0f} KiB)",
                "inventory",
                str(pdfs),
                args,
                broker,
                logs,
            )
        if "lease" in args.only and leases is None:
            print("\nlease: no lease pipeline registered, or no real leases in ../shared/data")
        elif "lease" in args.only:
            # Leases take ~0.2 s each: shards of 10 keep both processes busy on a short batch.
            figures["lease"] = workload(
                "lease, real lease texts",
                lease_names[0],
                str(leases),
                args,
                broker,
                logs,
                shard_size=10,
            )
        noop = _noop(args, broker, logs) if "noop" in args.only else {}
    _verdict(figures, noop)


@contextmanager
def _broker(given: str | None) -> Iterator[str]:
    if given:
        yield given
        return
    with private_redis() as url:
        yield url


def _noop(args: argparse.Namespace, broker: str, logs: Path) -> dict[str, Measurement]:
    spec = f"{args.noop}:noop-{uuid.uuid4().hex[:6]}"
    configs = [("local engine", 0, 100)] + [
        (f"celery, {p} proc, shard {s}", p, s) for p in (1, 2) for s in (100, 1000)
    ]
    runs = _rounds(args, broker, NOOP, spec, configs, logs)
    results = {label: best(measured) for label, measured in runs.items()}
    local = results["local engine"]
    print(f"\nno-op jobs ({local.jobs:,}): the ledger's and the transport's cost alone")
    for label, m in results.items():
        print(_row(label, m, None if m is local else local))
    return results


def _verdict(
    figures: dict[str, dict[str, list[Measurement]]], noop: dict[str, Measurement]
) -> None:
    # The local engine runs a process pool of one process per core; Celery with as
    # many worker processes uses the same cores, so that is the like-for-like ratio.
    # One worker process (half the cores here) shows how a worker scales.
    cores = os.cpu_count() or 1
    same = f"celery, {cores} processes" if cores > 1 else "celery, 1 process"
    print(f"\ntargets (Celery with {cores} worker processes, the local engine's pool size)")
    for name, label in (("realistic", "contract PDFs, inventory"), ("lease", "real leases")):
        if name not in figures or same not in figures[name]:
            continue
        runs = figures[name]
        ratio = best(runs[same]).rate / best(runs["local engine"]).rate
        mark = "met" if ratio >= 0.8 else "NOT met"
        print(f"  {label}: {ratio:.2f}x the local engine, best of each (>= 0.80: {mark})")
        # Each round's own ratio shows how much of the figure is the machine's noise.
        paired = [c.rate / lo.rate for lo, c in zip(runs["local engine"], runs[same], strict=True)]
        each = " ".join(f"{r:.2f}" for r in paired)
        print(f"    round by round: {each} (median {statistics.median(paired):.2f})")
        if cores > 1:
            scaling = best(runs[same]).rate / best(runs["celery, 1 process"]).rate
            print(f"    (1 -> {cores} worker processes: {scaling:.2f}x)")
    for label, m in noop.items():
        if label.startswith("celery"):
            mark = "met" if m.ms_per_job < 1.0 else "NOT met"
            print(f"  no-op, {label}: {m.ms_per_job:.3f} ms/job (< 1 ms: {mark})")


if __name__ == "__main__":
    main()
