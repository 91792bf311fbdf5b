"""Celery mode under faults: killed workers, a restarted broker, a job that kills its worker.

Each test runs real ``parcelflow worker`` processes (Celery prefork, one child
each, so two workers use the two cores of a CI machine) and a real
``parcelflow run --backend celery`` against its own PostgreSQL database and its
own broker (a private ``redis-server``; RabbitMQ in a private vhost where one
answers). Whatever happens, the end state must be the one the design
promises: every job in exactly one terminal state, exactly one record per
document, nothing left ``running``, and an audit chain that verifies and
reconciles with the ledger.

Why recovery takes the time it does: a shard reserved by a worker that is
SIGKILLed stays invisible on Redis until the visibility timeout (RabbitMQ
requeues it as soon as the connection drops); meanwhile the coordinator, once
no job has ended for its stall period (15 s), sends the jobs that are ready to
claim again (queued, or ``running`` under an expired lease). The tests shorten
the lease to 5 s; the stall period is fixed.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Broker, Cluster, LedgerView, RedisServer

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

UNFINISHED = ("received", "queued", "running", "retry_wait")
DOCS = 2000
SHARD = 100  # the coordinator's default --shard-size
RUN_TIMEOUT_S = 120.0


def _summary(
    code: int, out: str, err: str, cluster: Cluster, expect: int = 0, note: str = ""
) -> dict[str, Any]:
    """The one JSON summary a ``run --json`` printed, after checking its exit code."""
    context = f"{note}exit {code}\nstdout: {out[-1500:]}\nstderr: {err[-2500:]}\n" + "\n".join(
        f"--- {p.name}: {p.read_text(errors='replace')[-2000:]}" for p in cluster.log_paths()
    )
    assert code == expect, context
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, context
    summary: dict[str, Any] = json.loads(lines[0])
    return summary


def _assert_clean_end(
    cluster: Cluster, ledger: LedgerView, collection: str, keys: set[str]
) -> None:
    """One record per document, one commit per job, nothing unfinished, audit verifies."""
    records = ledger.record_keys(collection)
    assert len(records) == len(set(records)) == len(keys), "exactly one record per document"
    assert set(records) == keys
    counts = ledger.counts()
    assert counts == {"committed": len(keys)}, counts
    assert not {s: n for s, n in counts.items() if s in UNFINISHED}
    commits = ledger.commits_per_job()
    assert set(commits.values()) == {1}, "a job was committed twice (or never)"
    audit = cluster.cli("audit", "verify")
    assert audit.returncode == 0, cluster.explain(audit)
    assert "chain intact" in audit.stdout and "reconciles" in audit.stdout, audit.stdout


def _inventory_corpus(folder: Path, count: int) -> set[str]:
    """``count`` small distinct text files; returns their SHA-256s (the inventory keys)."""
    folder.mkdir(parents=True)
    digests = set()
    for i in range(count):
        body = f"document {i}\n{'lorem ipsum ' * (i % 50)}\n".encode()
        (folder / f"doc-{i:05d}.txt").write_bytes(body)
        digests.add(hashlib.sha256(body).hexdigest())
    return digests


def _fault_keys(folder: Path) -> set[str]:
    return {hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


# -- 1. a worker SIGKILLed at a random moment, then restarted ---------------------------


@pytest.mark.timeout(180)
def test_worker_killed_at_random_moment_and_restarted_commits_each_document_once(
    broker: Broker,
    make_cluster: Callable[..., Cluster],
    ledger: LedgerView,
    tmp_path: Path,
) -> None:
    """Two workers share a 2,000-document batch; one dies with SIGKILL mid-shard.

    The kill moment is random (a random share of the batch committed, seed in
    every message), and lands while the victim holds running jobs, so that
    there is in-flight work to recover. The killed worker is started again
    with the same command, as a supervisor would.
    """
    digests = _inventory_corpus(tmp_path / "docs", DOCS)
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    cluster = make_cluster(broker)
    workers = [cluster.start_worker("a"), cluster.start_worker("b")]
    victim = rng.choice(workers)
    floor = int(DOCS * rng.uniform(0.1, 0.7))
    run = cluster.start_run("inventory", tmp_path / "docs")

    def victim_busy_past_floor() -> bool:
        if ledger.count("committed") < floor:
            return False
        return any(cluster.owner_of(pid) is victim for pid in ledger.running_owner_pids())

    reached = cluster.wait(victim_busy_past_floor, timeout=60, proc=run)
    cluster.kill_worker(victim.name)
    assert reached, f"seed {seed}: never saw worker {victim.name} busy past {floor} commits"
    stranded = ledger.count("running")
    cluster.start_worker(victim.name)

    summary = _summary(*cluster.finish(run, RUN_TIMEOUT_S), cluster, note=f"seed {seed}: ")
    assert summary["total"] == DOCS, f"seed {seed}: {summary}"
    assert summary["committed"] == DOCS, f"seed {seed}: {summary}"
    assert summary["pending"] == 0 and not summary["interrupted"], summary
    _assert_clean_end(cluster, ledger, "inventory", digests)
    # Rework is limited to what was in flight: the killed worker's shard at most.
    rerun = ledger.rows("SELECT count(*) FROM pf_jobs WHERE attempts > 1")[0][0]
    assert rerun <= SHARD, f"seed {seed}: {rerun} jobs ran twice ({stranded} were stranded)"


# -- 2. the kill lands after the commit, before the broker acknowledgement ---------------


@pytest.mark.timeout(180)
def test_kill_between_commit_and_ack_redelivers_a_shard_that_commits_nothing_new(
    broker: Broker,
    make_cluster: Callable[..., Cluster],
    ledger: LedgerView,
    ok_files: Callable[[Path, int], list[Path]],
    tmp_path: Path,
) -> None:
    """A shard whose records are all committed, but whose message was never acknowledged.

    Method: the first shard holds 99 ``ok`` documents and, last, one ``slow 2``
    document (sources are admitted in command-line order, and shards are cut
    in admission order). Once the ledger shows the 99 committed and the slow
    job running, the Celery *parent* process of the worker running it is
    frozen with SIGSTOP. Its prefork child, which runs the shard, carries on:
    it commits the slow job and hands its result to the frozen parent, which
    is the process that would acknowledge the message (``acks_late``). The
    ledger then shows the whole shard committed while the ack cannot have
    been sent; the worker is SIGKILLed in that state (a stopped process dies
    on SIGKILL), exactly in the window between the record commit and the
    broker acknowledgement, every time rather than by luck.

    The message is then redelivered: RabbitMQ requeues it when the dead
    worker's connection drops; Redis after its visibility timeout, here made
    6 s (``PARCELFLOW_SHARD_TIMEOUT_S=3``), swept when the worker is started
    again. The redelivered shard must find its 100 jobs done and commit
    nothing.
    """
    cluster = make_cluster(broker, PARCELFLOW_SHARD_TIMEOUT_S="3")
    first = tmp_path / "docs" / "first"
    ok_files(first, SHARD - 1)
    slow = tmp_path / "docs" / "slow.txt"
    slow.write_text("slow 2\n")
    rest = tmp_path / "docs" / "rest"
    ok_files(rest, DOCS - SHARD)
    cluster.start_worker("a")
    cluster.start_worker("b")
    run = cluster.start_run("fault", first, slow, rest)

    def slow_running_rest_of_shard_committed() -> bool:
        job = ledger.job("/slow.txt")
        if job is None or job["state"] != "running":
            return False
        return ledger.states_of(ledger.ids_in(first)) == {"committed": SHARD - 1}

    assert cluster.wait(slow_running_rest_of_shard_committed, timeout=60, proc=run), (
        cluster.explain(run)
    )
    slow_job = ledger.job("/slow.txt")
    assert slow_job is not None
    victim = cluster.owner_of(int(str(slow_job["owner"]).split(":")[1]))
    assert victim is not None, f"no worker of this test runs the slow job: {slow_job}"
    os.kill(victim.pid, signal.SIGSTOP)
    try:
        # One child, one reserved message: the last shard it received is the one it runs.
        shard_task = cluster.received(victim)[-1]
        shard_ids = sorted([*ledger.ids_in(first), slow_job["id"]])
        ran = cluster.wait(
            lambda: shard_task in cluster.shard_results(victim), timeout=30, every=0.02
        )
        assert ran, f"the child did not finish the shard: {ledger.job('/slow.txt')}"
        (first_run,) = cluster.shard_results(victim)[shard_task]
        assert (first_run["total"], first_run["committed"]) == (SHARD, SHARD), first_run
        assert ledger.states_of(shard_ids) == {"committed": SHARD}
        if broker.redis is not None:
            unacked = {m["task_id"]: m for m in broker.unacked()}
            assert shard_task in unacked, f"committed, and acknowledged too early: {unacked}"
            assert sorted(unacked[shard_task]["ids"]) == shard_ids
    finally:
        cluster.kill_worker(victim.name)

    if broker.redis is not None:
        delivered = unacked[shard_task]["delivered_at"]
        # Started again only once the message is past its visibility timeout, so
        # that the restarted worker's start-up sweep puts it back in the queue.
        assert cluster.wait(lambda: time.time() > delivered + 6.5, timeout=30, every=0.1)
    cluster.start_worker(victim.name)

    summary = _summary(*cluster.finish(run, RUN_TIMEOUT_S), cluster)
    assert summary["committed"] == DOCS and summary["total"] == DOCS, summary

    def redelivered() -> bool:
        return shard_task in cluster.shard_results(*cluster.workers.values())

    assert cluster.wait(redelivered, timeout=60, every=0.1), (
        f"shard {shard_task} was never redelivered:\n{cluster.logs()[-3000:]}"
    )
    (again,) = cluster.shard_results(*cluster.workers.values())[shard_task]
    assert again["total"] == SHARD, again
    assert again["committed"] == 0, f"the redelivered shard committed again: {again}"
    assert again["duplicate"] == SHARD, again
    _assert_clean_end(cluster, ledger, "fault", _fault_keys(tmp_path / "docs"))


# -- 3. the broker restarted mid-batch -----------------------------------------------------


@pytest.mark.timeout(180)
@pytest.mark.parametrize("persistence", ["aof", "none"])
def test_broker_restart_mid_batch_completes(
    persistence: str,
    start_redis: Callable[..., RedisServer],
    make_cluster: Callable[..., Cluster],
    ledger: LedgerView,
    ok_files: Callable[[Path, int], list[Path]],
    tmp_path: Path,
) -> None:
    """The private Redis is restarted (SIGTERM, start again on the same port) mid-batch.

    ``aof``: what a deployment runs, Redis with an append-only file
    (``appendonly yes``; ``appendfsync always`` here, ``everysec`` is the usual
    trade-off): queued shards survive the restart, so the coordinator has to
    send again at most the jobs of the shard that was running (Celery cancels
    it when the connection drops, and its unacknowledged message is only
    visible again after the visibility timeout). ``none``: a broker without
    persistence loses every queued shard; the ledger still knows each job, and
    the coordinator sends the unfinished ones again once nothing ends for its
    stall period. Either way the batch completes, each document once.
    """
    server = start_redis(appendonly=persistence == "aof")
    broker = server.broker
    cluster = make_cluster(broker)
    ok_files(tmp_path / "docs", DOCS)
    run = cluster.start_run("fault", tmp_path / "docs")
    # Every shard waits in the broker before any worker starts.
    assert cluster.wait(lambda: broker.queued() == DOCS // SHARD, timeout=60, proc=run), (
        cluster.explain(run)
    )
    cluster.start_worker("a")
    floor = random.randint(2 * SHARD, DOCS // 2)
    assert cluster.wait(lambda: ledger.count("committed") >= floor, timeout=60, proc=run), floor
    server.restart()
    left_at_restart = DOCS - ledger.count("committed")
    cluster.start_worker("b")

    code, out, err = cluster.finish(run, RUN_TIMEOUT_S)
    summary = _summary(code, out, err, cluster, note=f"restarted after {floor} commits: ")
    assert summary["committed"] == DOCS, summary
    _assert_clean_end(cluster, ledger, "fault", _fault_keys(tmp_path / "docs"))
    resent = sum(int(n) for n in _resent(err))
    if persistence == "aof":
        assert resent <= SHARD, f"queued shards were lost in the restart: {err[-2000:]}"
    else:
        assert resent >= left_at_restart - SHARD, f"lost shards were not sent again: {err}"


def _resent(stderr: str) -> list[str]:
    import re

    return re.findall(r"sending (\d+) ready jobs again", stderr)


# -- 4. a job that kills its worker process --------------------------------------------------

POISON_ENV = {"PARCELFLOW_MAX_ATTEMPTS": "3", "PARCELFLOW_MAX_CRASHES": "2"}


@pytest.mark.timeout(150)
def test_crash_fault_ends_dead_after_bounded_attempts_and_the_rest_commit(
    redis_server: RedisServer,
    make_cluster: Callable[..., Cluster],
    ledger: LedgerView,
    ok_files: Callable[[Path, int], list[Path]],
    tmp_path: Path,
) -> None:
    """``crash`` (``os._exit`` in the stage) kills the Celery child running it, each attempt.

    The job must end ``dead`` (poison, or abandoned) after at most
    ``PARCELFLOW_MAX_ATTEMPTS`` attempts instead of killing worker after worker
    forever, and the other 300 documents, some of them in the same shard,
    must commit.
    """
    cluster = make_cluster(redis_server.broker, **POISON_ENV)
    ok_files(tmp_path / "docs", 300)
    (tmp_path / "docs" / "crash.txt").write_text("crash\n")
    cluster.start_worker("a")
    cluster.start_worker("b")
    run = cluster.start_run("fault", tmp_path / "docs")
    code, out, err = cluster.finish(run, 90)
    job = ledger.job("/crash.txt")
    assert job is not None
    trail = ledger.audit_events(job["id"])
    assert code != -9, f"the run never ended: the crash job loops: {job}\n{trail}"
    summary = _summary(code, out, err, cluster, expect=1)
    assert (summary["committed"], summary["dead"], summary["total"]) == (300, 1, 301), summary
    assert job["state"] == "dead", job
    assert job["reason_code"] in ("poison", "abandoned"), job
    assert job["attempts"] <= 3, f"unbounded attempts: {job}\n{trail}"
    assert ledger.count("committed") == 300
    # The fault must have done what it says: killed the worker process running it.
    killed_a_child = "exited with 'exitcode 13'" in cluster.logs()
    assert killed_a_child, (
        "the crash fault never killed a Celery worker child; the job ended because the "
        f"stage reported a crash instead (reason: {job['reason']!r})"
    )


@pytest.mark.timeout(150)
def test_job_whose_worker_process_dies_each_attempt_ends_dead(
    redis_server: RedisServer,
    make_cluster: Callable[..., Cluster],
    ledger: LedgerView,
    ok_files: Callable[[Path, int], list[Path]],
    tmp_path: Path,
) -> None:
    """The prefork child running one job is SIGKILLed every time it runs it (an OOM kill).

    That is a job that kills its worker, independent of the ``fault`` stage:
    Celery requeues the shard (``task_reject_on_worker_lost``), so it comes
    back again and again; only the ledger can end it. The job must end ``dead``
    within ``PARCELFLOW_MAX_CRASHES`` (2) or at worst
    ``PARCELFLOW_MAX_ATTEMPTS`` (3) kills, and the other documents commit.
    """
    cluster = make_cluster(redis_server.broker, **POISON_ENV)
    ok_files(tmp_path / "docs", 200)
    (tmp_path / "docs" / "oom.txt").write_text("slow 600\n")
    cluster.start_worker("a")
    cluster.start_worker("b")
    run = cluster.start_run("fault", tmp_path / "docs")
    killed: list[str] = []
    limit = 6

    def kill_its_worker_or_see_it_end() -> bool:
        job = ledger.job("/oom.txt")
        if job is None:
            return False
        if job["state"] not in UNFINISHED:
            return True
        owner = job["owner"]
        if job["state"] == "running" and owner and owner not in killed:
            pid = int(str(owner).split(":")[1])
            if cluster.owner_of(pid) is not None:  # only ever a child of our own workers
                os.kill(pid, signal.SIGKILL)
                killed.append(owner)
        return len(killed) >= limit

    cluster.wait(kill_its_worker_or_see_it_end, timeout=100, proc=run, every=0.02)
    job = ledger.job("/oom.txt")
    assert job is not None
    trail = ledger.audit_events(job["id"])
    assert job["state"] == "dead", (
        f"after {len(killed)} kills of the process running it the job is still "
        f"{job['state']} (attempts {job['attempts']}, crashes {job['crashes']}): it loops\n{trail}"
    )
    assert len(killed) <= 3, f"{len(killed)} worker processes died for one job: {trail}"
    summary = _summary(*cluster.finish(run, RUN_TIMEOUT_S), cluster, expect=1)
    assert (summary["committed"], summary["dead"]) == (200, 1), summary
