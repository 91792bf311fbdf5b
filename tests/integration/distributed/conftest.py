"""Fixtures of the Celery tests: private brokers, worker subprocesses, the ledger read directly.

Everything runs for real on loopback: a ``redis-server`` of the test's own on a
free port (so a test may restart it without touching the machine's shared
Redis), RabbitMQ in a virtual host of the test's own when a server answers on
``PARCELFLOW_TEST_AMQP_URL`` (default ``amqp://guest:guest@127.0.0.1:5672``),
PostgreSQL through the ``pg_url`` fixture, and ``parcelflow worker`` /
``parcelflow run --backend celery`` as subprocesses in sessions of their own,
so a worker is killed together with its prefork children. Every process a
test starts is killed in teardown, whether the test passed or not.

Subprocess environments drop the caller's ``PARCELFLOW_*`` variables and set
the ones the tests mean: the ``fault`` pipeline loaded, quick retries, and a
short lease (5 s, heartbeat every second) so that jobs left ``running`` by a
killed worker become claimable within the test budget. A deployment keeps the
30 s default; the mechanism is the same.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CLI = [sys.executable, "-m", "parcelflow.interfaces.cli"]
FAULTS = "parcelflow.testing.faults"
QUEUE = "parcelflow"  # parcelflow.distributed.app.QUEUE (not imported: no Celery in pytest)
PROCESS_TIMEOUT_S = 30.0
READY_TIMEOUT_S = 45.0
LEASE_S = "5"
HEARTBEAT_S = "1"
AMQP_URL = os.environ.get("PARCELFLOW_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672")
PG_ADMIN_URL = os.environ.get(
    "PARCELFLOW_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
UNFINISHED = ("received", "queued", "running", "retry_wait")
_RECEIVED = re.compile(r"Task parcelflow\.shard\[([0-9a-f-]+)\] received")
_SUCCEEDED = re.compile(r"Task parcelflow\.shard\[([0-9a-f-]+)\] succeeded in [0-9.e-]+s: (\{.*\})")


def base_env(**extra: str) -> dict[str, str]:
    """The caller's environment without ``PARCELFLOW_*``, plus the test settings and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARCELFLOW_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    plugins = [FAULTS, *filter(None, os.environ.get("PARCELFLOW_PLUGINS", "").split(","))]
    env.update(
        PARCELFLOW_PLUGINS=",".join(dict.fromkeys(plugins)),
        PARCELFLOW_RETRY_BASE_S="0.05",
        PARCELFLOW_LEASE_S=LEASE_S,
        PARCELFLOW_HEARTBEAT_S=HEARTBEAT_S,
    )
    env.update(extra)
    return env


def free_port() -> int:
    """A TCP port on loopback that nothing listens on (at the moment of asking)."""
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    condition: Callable[[], bool],
    *,
    timeout: float,
    proc: subprocess.Popen[bytes] | None = None,
    every: float = 0.005,
) -> bool:
    """Poll ``condition`` until true; False if ``proc`` ended first or the deadline passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return bool(condition())
        if condition():
            return True
        time.sleep(every)
    return False


def kill_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    """Signal the session a process was started in (itself and every child), and reap it."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    if sig == signal.SIGKILL:
        proc.wait(timeout=PROCESS_TIMEOUT_S)


def explain(proc: subprocess.Popen[bytes] | subprocess.CompletedProcess[str], *logs: Path) -> str:
    """What a process and the named logs said, for an assertion message."""
    parts = [f"exit {proc.returncode}"]
    if isinstance(proc, subprocess.CompletedProcess):
        parts += [f"stdout: {proc.stdout[-1500:]}", f"stderr: {proc.stderr[-1500:]}"]
    for log in logs:
        text = log.read_text(errors="replace") if log.exists() else "(missing)"
        parts.append(f"--- {log.name}: {text[-2500:]}")
    return "\n".join(parts)


# -- brokers ---------------------------------------------------------------------


class RedisServer:
    """A ``redis-server`` of one test's own on a free loopback port.

    Args:
        folder: its working directory (AOF file, log).
        appendonly: keep an append-only file, so that messages survive a restart
            (what a deployment that must not lose queued shards runs).
    """

    def __init__(self, folder: Path, *, appendonly: bool = False) -> None:
        self.folder = folder
        self.appendonly = appendonly
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def broker(self) -> Broker:
        """This server as a test's broker (database 0)."""
        return Broker("redis", self.url(), self)

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        argv = [
            binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.folder),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always",
            "--logfile", str(self.folder / "redis.log"),
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        if not wait_for(self.ping, timeout=10, proc=self.proc, every=0.02):
            raise RuntimeError(f"redis-server on port {self.port} did not start: {self._log()}")

    def stop(self) -> None:
        """Shut down as a restart would: SIGTERM (the server fsyncs its AOF), then wait."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=PROCESS_TIMEOUT_S)

    def restart(self) -> None:
        self.stop()
        assert not self.ping(), "the old server still answers"
        self.start()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            kill_group(self.proc)

    def client(self, db: int = 0) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, db=db, socket_timeout=2)

    def ping(self) -> bool:
        import redis

        try:
            with closing(self.client()) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def _log(self) -> str:
        log = self.folder / "redis.log"
        return log.read_text(errors="replace")[-1000:] if log.exists() else "(no log)"


@dataclass
class Broker:
    """A broker for one test: its URL, and the private Redis behind it if it is one."""

    kind: str
    url: str
    redis: RedisServer | None = None

    def unacked(self) -> list[dict[str, Any]]:
        """Shard messages delivered and not yet acknowledged (Redis only).

        Each is ``{"task_id", "ids", "delivered_at"}``, read from kombu's
        ``unacked`` hash and ``unacked_index`` sorted set.
        """
        assert self.redis is not None, "only a Redis broker can be inspected"
        with closing(self.redis.client()) as client:
            raw = client.hgetall("unacked")
            scores = dict(client.zrange("unacked_index", 0, -1, withscores=True))
        found = []
        for tag, value in raw.items():
            message = json.loads(value)[0]
            body = json.loads(base64.b64decode(message["body"]))
            found.append(
                {
                    "task_id": message["headers"]["id"],
                    "ids": body[1]["ids"],
                    "delivered_at": scores.get(tag, 0.0),
                }
            )
        return found

    def queued(self) -> int:
        """Shard messages waiting in the queue (Redis only)."""
        assert self.redis is not None, "only a Redis broker can be inspected"
        with closing(self.redis.client()) as client:
            return int(client.llen(QUEUE))


def amqp_reachable(url: str = AMQP_URL) -> str | None:
    """None if a RabbitMQ server answers at ``url``; otherwise why not."""
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), 2).close()
    except OSError as exc:
        return f"no RabbitMQ at {parts.hostname}:{parts.port or 5672} ({exc})"
    if shutil.which("rabbitmqctl") is None:
        return "RabbitMQ answers but rabbitmqctl (needed for a private vhost) is not installed"
    return None


def _rabbitmqctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["rabbitmqctl", *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def start_redis(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Start private ``redis-server`` processes; each is killed after the test."""
    if shutil.which("redis-server") is None and not Path("/usr/bin/redis-server").exists():
        pytest.skip("redis-server is not installed")
    servers: list[RedisServer] = []

    def start(*, appendonly: bool = False) -> RedisServer:
        server = RedisServer(tmp_path / f"redis-{len(servers)}", appendonly=appendonly)
        servers.append(server)
        server.start()
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.kill()


@pytest.fixture
def redis_server(start_redis: Callable[..., RedisServer]) -> RedisServer:
    """A private ``redis-server`` without persistence."""
    return start_redis()


@pytest.fixture(params=["redis", "amqp"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Broker]:
    """Each broker kind in turn: a private Redis, then RabbitMQ in a private vhost.

    RabbitMQ is skipped, with the reason, where no server answers or
    ``rabbitmqctl`` cannot make a vhost (the queue name is fixed, so tests
    sharing one vhost would take each other's shards).
    """
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        yield Broker("redis", server.url(), server)
        return
    why = amqp_reachable()
    if why:
        pytest.skip(why)
    vhost = f"pf_test_{uuid.uuid4().hex[:10]}"
    made = _rabbitmqctl("add_vhost", vhost)
    if made.returncode != 0:
        pytest.skip(f"rabbitmqctl add_vhost failed: {made.stderr.strip()[:200]}")
    user = urlsplit(AMQP_URL).username or "guest"
    try:
        allowed = _rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        assert allowed.returncode == 0, allowed.stderr
        yield Broker("amqp", f"{AMQP_URL.rstrip('/')}/{vhost}")
    finally:
        _rabbitmqctl("delete_vhost", vhost)


# -- the ledger, read directly -----------------------------------------------------


class LedgerView:
    """Read-only SQL on a test's PostgreSQL ledger, as an operator with psql would."""

    def __init__(self, url: str) -> None:
        self.url = url

    def rows(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        try:
            with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                return list(conn.execute(query, params).fetchall())
        except psycopg.errors.UndefinedTable:
            return []  # no worker or run has created the schema yet

    def counts(self) -> dict[str, int]:
        return {s: int(n) for s, n in self.rows("SELECT state, count(*) FROM pf_jobs GROUP BY 1")}

    def count(self, state: str) -> int:
        return self.counts().get(state, 0)

    def job(self, source_suffix: str) -> dict[str, Any] | None:
        """The job whose source ends with ``source_suffix`` (None before it is admitted)."""
        found = self.rows(
            "SELECT id, state, attempts, crashes, lease_owner, reason_code, reason"
            " FROM pf_jobs WHERE source LIKE %s",
            ("%" + source_suffix,),
        )
        assert len(found) <= 1, f"{len(found)} jobs end with {source_suffix}"
        names = ("id", "state", "attempts", "crashes", "owner", "reason_code", "reason")
        return dict(zip(names, found[0], strict=True)) if found else None

    def audit_events(self, job_id: int) -> list[str]:
        """A job's audit trail: ``event:from>to`` in order."""
        rows = self.rows(
            "SELECT event, from_state, to_state FROM pf_audit WHERE job_id = %s ORDER BY seq",
            (job_id,),
        )
        return [f"{e}:{f}>{t}" for e, f, t in rows]

    def ids_in(self, folder: Path) -> list[int]:
        rows = self.rows("SELECT id FROM pf_jobs WHERE source LIKE %s", (f"{folder}/%",))
        return sorted(int(r[0]) for r in rows)

    def states_of(self, ids: list[int]) -> dict[str, int]:
        rows = self.rows(
            "SELECT state, count(*) FROM pf_jobs WHERE id = ANY(%s) GROUP BY 1", (ids,)
        )
        return {s: int(n) for s, n in rows}

    def running_owner_pids(self) -> set[int]:
        """Process ids named by the leases of running jobs (``host:pid:token``)."""
        rows = self.rows("SELECT DISTINCT lease_owner FROM pf_jobs WHERE state = 'running'")
        return {int(str(owner).split(":")[1]) for (owner,) in rows if owner}

    def commits_per_job(self) -> dict[int, int]:
        """How many ``committed`` audit events each job has."""
        rows = self.rows(
            "SELECT j.id, count(a.seq) FROM pf_jobs j"
            " LEFT JOIN pf_audit a ON a.job_id = j.id AND a.event = 'committed' GROUP BY j.id"
        )
        return {int(i): int(n) for i, n in rows}

    def record_keys(self, collection: str) -> list[str]:
        rows = self.rows("SELECT key FROM pf_records WHERE collection = %s", (collection,))
        return [str(k) for (k,) in rows]


@pytest.fixture
def ledger(pg_url: str) -> LedgerView:
    return LedgerView(pg_url)


@pytest.fixture
def other_pg_url() -> Iterator[str]:
    """A second fresh PostgreSQL database (for comparing two runs), dropped afterwards."""
    import psycopg

    name = f"pf_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("PARCELFLOW_REQUIRE_PG") == "1":
            raise
        pytest.skip(f"no PostgreSQL at {PG_ADMIN_URL} ({str(exc).strip()[:80]})")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- workers and runs ----------------------------------------------------------------


@dataclass
class Worker:
    """One ``parcelflow worker`` process (a Celery prefork parent) and its log."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    metrics_port: int | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def children(self) -> set[int]:
        """Pids of its prefork children."""
        return {pid for pid in _all_pids() if _parent_of(pid) == self.pid}

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def metrics(self) -> str:
        """The text its ``/metrics`` endpoint serves (``--metrics-port``)."""
        from urllib.request import urlopen

        assert self.metrics_port is not None, f"worker {self.name} serves no metrics"
        with urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            return str(response.read().decode())


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # the field after "(comm) state"


@dataclass(repr=False)
class Cluster:
    """Workers and ``run --backend celery`` commands against one broker and one ledger."""

    root: Path
    broker: Broker
    db: str
    env: dict[str, str] = field(default_factory=base_env)
    workers: dict[str, Worker] = field(default_factory=dict)
    retired: list[Worker] = field(default_factory=list)
    runs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __repr__(self) -> str:  # short: it shows in assertion messages
        return f"Cluster(db={self.db}, broker={self.broker.url}, workers={sorted(self.workers)})"

    # -- workers --

    def start_worker(
        self,
        name: str,
        *,
        concurrency: int = 1,
        queues: str | None = None,
        metrics: bool = False,
    ) -> Worker:
        """Start ``parcelflow worker`` (again, after a kill, under the same name).

        With ``metrics`` it serves Prometheus metrics on a free port, its
        children's counters kept in a folder of its own.
        """
        previous = self.workers.get(name)
        if previous is not None:
            assert previous.proc.poll() is not None, f"worker {name} is still running"
            self.retired.append(previous)
        incarnation = 1 + sum(w.name == name for w in self.retired)
        log = self.root / f"worker-{name}-{incarnation}.log"
        argv = [
            *CLI, "worker",
            "--db", self.db,
            "--broker", self.broker.url,
            "--concurrency", str(concurrency),
        ]  # fmt: skip
        env = dict(self.env)
        port = None
        if queues is not None:
            argv += ["--queues", queues]
        if metrics:
            port = free_port()
            argv += ["--metrics-port", str(port)]
            folder = self.root / f"prometheus-{name}-{incarnation}"
            folder.mkdir()
            env["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
        with log.open("wb") as sink:
            proc = subprocess.Popen(
                argv,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.root,
                start_new_session=True,
            )
        worker = Worker(name, proc, log, port)
        self.workers[name] = worker
        self.wait_ready(worker)
        return worker

    def wait_ready(self, worker: Worker) -> None:
        ready = wait_for(
            lambda: " ready." in worker.text(),
            timeout=READY_TIMEOUT_S,
            proc=worker.proc,
            every=0.05,
        )
        assert ready, (
            f"worker {worker.name} did not become ready: {explain(worker.proc, worker.log)}"
        )

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker and its prefork children at once."""
        kill_group(self.workers[name].proc)

    def owner_of(self, child_pid: int) -> Worker | None:
        """The live worker whose prefork child has pid ``child_pid``."""
        parent = _parent_of(child_pid)
        return next((w for w in self.workers.values() if w.pid == parent), None)

    def logs(self) -> str:
        """Every worker log of this test, each incarnation, concatenated."""
        return "\n".join(w.text() for w in [*self.retired, *self.workers.values()])

    def log_paths(self) -> list[Path]:
        return [w.log for w in [*self.retired, *self.workers.values()]]

    # -- runs --

    def run_argv(
        self, pipeline: str, *sources: str | Path, extra: tuple[str, ...] = ()
    ) -> list[str]:
        return [
            *CLI, "run", pipeline, *map(str, sources),
            "--backend", "celery",
            "--db", self.db,
            "--broker", self.broker.url,
            "--json",
            *extra,
        ]  # fmt: skip

    def start_run(
        self, pipeline: str, *sources: str | Path, extra: tuple[str, ...] = ()
    ) -> subprocess.Popen[bytes]:
        """Start ``parcelflow run PIPELINE SOURCE... --backend celery --json``; stdout kept."""
        proc = subprocess.Popen(
            self.run_argv(pipeline, *sources, extra=extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
            cwd=self.root,
            start_new_session=True,
        )
        self.runs.append(proc)
        return proc

    def cli(
        self, *args: str, db: str | None = None, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Any other ``parcelflow`` command against this ledger (or ``db``), to completion."""
        return subprocess.run(
            [*CLI, *args, "--db", db or self.db],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            cwd=self.root,
            check=False,
        )

    def shard_results(self, *workers: Worker) -> dict[str, list[dict[str, Any]]]:
        """Shard task ids and the summaries they returned, from the logs of ``workers``.

        Every worker of the test (each incarnation) when none is named. The
        line is logged by the prefork child once the shard has run, before its
        parent acknowledges the message.
        """
        import ast

        text = "\n".join(w.text() for w in workers) if workers else self.logs()
        found: dict[str, list[dict[str, Any]]] = {}
        for task_id, summary in _SUCCEEDED.findall(text):
            found.setdefault(task_id, []).append(ast.literal_eval(summary))
        return found

    def received(self, worker: Worker) -> list[str]:
        """Shard task ids a worker's log says it received, in order."""
        return _RECEIVED.findall(worker.text())

    def wait(
        self,
        condition: Callable[[], bool],
        *,
        timeout: float,
        proc: subprocess.Popen[bytes] | None = None,
        every: float = 0.005,
    ) -> bool:
        """:func:`wait_for`, for tests (which take helpers from fixtures, not imports)."""
        return wait_for(condition, timeout=timeout, proc=proc, every=every)

    def finish(self, proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, str, str]:
        """:func:`finish` a started run."""
        return finish(proc, timeout)

    def explain(self, proc: subprocess.Popen[bytes] | subprocess.CompletedProcess[str]) -> str:
        """What ``proc`` and every worker said, for an assertion message."""
        return explain(proc, *self.log_paths())

    def stop_all(self) -> None:
        for proc in [*self.runs, *(w.proc for w in self.workers.values())]:
            if proc.poll() is None:
                kill_group(proc)
        for proc in self.runs:
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()


def finish(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, str, str]:
    """Wait for a started run; its exit code, stdout and stderr (killed at the deadline)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, err = proc.communicate(timeout=PROCESS_TIMEOUT_S)
        return -9, out.decode(errors="replace"), err.decode(errors="replace")
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


@pytest.fixture
def make_cluster(tmp_path: Path, pg_url: str) -> Iterator[Callable[..., Cluster]]:
    """Build a :class:`Cluster` on a broker; every process it started is killed afterwards."""
    made: list[Cluster] = []

    def make(broker: Broker, **env: str) -> Cluster:
        cluster = Cluster(tmp_path, broker, pg_url, base_env(**env))
        made.append(cluster)
        return cluster

    try:
        yield make
    finally:
        for cluster in made:
            cluster.stop_all()


def write_ok_files(folder: Path, count: int) -> list[Path]:
    """``count`` fault-pipeline files that commit, each with distinct content."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"doc-{i:05d}.txt"
        path.write_text(f"ok\n{folder.name} {i}\n")
        paths.append(path)
    return paths


@pytest.fixture
def ok_files() -> Callable[[Path, int], list[Path]]:
    """:func:`write_ok_files`."""
    return write_ok_files
