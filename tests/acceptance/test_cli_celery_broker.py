"""``run --backend celery`` with a broker that does not answer.

The coordinator connects to the broker before it admits anything: while the
broker is down it says so, a line per retry, and Ctrl-C ends the wait with
exit 130 and nothing admitted (no job stranded in ``queued`` with no shard).
"""

from __future__ import annotations

import signal
import socket
import subprocess
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from cli_harness import CLI, base_env, wait_for, write_files


def _dead_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.timeout(60)
def test_ctrl_c_while_the_broker_is_down_admits_nothing_and_exits_130(
    tmp_path: Path, pg_url: str, reaper: list[subprocess.Popen[bytes]]
) -> None:
    docs = tmp_path / "docs"
    write_files(docs, {"a.txt": "a document\n", "b.txt": "another\n"})
    broker = f"redis://:secret@127.0.0.1:{_dead_port()}/0"
    stderr = tmp_path / "run.err"
    run = ["run", "inventory", str(docs), "--db", pg_url, "--json"]
    with stderr.open("wb") as sink:
        proc = subprocess.Popen(
            [*CLI, *run, "--backend", "celery", "--broker", broker],
            stdout=subprocess.DEVNULL,
            stderr=sink,
            env=base_env(),
            start_new_session=True,
        )
    reaper.append(proc)
    said = lambda: "broker unreachable" in stderr.read_text(errors="replace")  # noqa: E731
    assert wait_for(said, timeout=30, proc=proc), stderr.read_text()

    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=15)

    told = stderr.read_text(errors="replace")
    assert code == 130, told
    assert "Traceback" not in told and "secret" not in told, told
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT count(*) FROM pf_jobs").fetchone()
    assert row is not None and row[0] == 0, "nothing is admitted before the broker answers"
