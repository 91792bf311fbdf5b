"""Running the ``parcelflow`` command in a subprocess, exactly as a user runs it.

Each test gets its own folder and its own SQLite database (``--db
sqlite:///<tmp>/pf.db``). The environment is the caller's minus every
``PARCELFLOW_*`` variable, so a developer's settings never leak into a test;
tests add the ones they mean.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import closing, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLI = [sys.executable, "-m", "parcelflow.interfaces.cli"]
FAULTS = "parcelflow.testing.faults"
TIMEOUT_S = 60.0
RUN_KEYS = frozenset(
    {"batch", "total", "committed", "duplicate", "rejected", "quarantined", "dead", "elapsed_s"}
)
UNFINISHED = ("received", "queued", "running", "retry_wait")


def base_env(**extra: str) -> dict[str, str]:
    """The caller's environment without ``PARCELFLOW_*`` (and a fixed width), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARCELFLOW_")}
    for name in ("COLUMNS", "LINES"):
        env.pop(name, None)
    env.update(extra)
    return env


@dataclass
class Cli:
    """``parcelflow ... --db URL`` against one test's database."""

    root: Path
    env: dict[str, str] = field(default_factory=base_env)

    @property
    def db_path(self) -> Path:
        return self.root / "pf.db"

    @property
    def db(self) -> str:
        return f"sqlite:///{self.db_path}"

    def argv(self, *args: str, db: bool = True) -> list[str]:
        return [*CLI, *args, *(["--db", self.db] if db else [])]

    def __call__(
        self,
        *args: str,
        db: bool = True,
        timeout: float = TIMEOUT_S,
        prefix: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*prefix, *self.argv(*args, db=db)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
            env=env or self.env,
            check=False,
        )

    def popen(self, *args: str, stderr: Path) -> subprocess.Popen[bytes]:
        """Start ``parcelflow ARGS`` in its own session (so its pool can be killed with it)."""
        with stderr.open("wb") as sink:
            return subprocess.Popen(
                self.argv(*args),
                stdout=subprocess.DEVNULL,
                stderr=sink,
                cwd=self.root,
                env=self.env,
                start_new_session=True,
            )

    def ok_json(self, *args: str, code: int = 0) -> Any:
        """Run a ``--json`` command expecting exit ``code``; its one JSON object."""
        done = self(*args, "--json")
        assert done.returncode == code, explain(done)
        return json.loads(done.stdout)

    def jobs(self, *args: str) -> list[dict[str, Any]]:
        done = self("jobs", *args, "--json")
        assert done.returncode == 0, explain(done)
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]

    def job_by_name(self, name: str) -> dict[str, Any]:
        found = [j for j in self.jobs() if Path(j["source"]).name == name]
        assert len(found) == 1, f"{len(found)} jobs for {name}: {found}"
        return found[0]

    def export(self, collection: str) -> list[dict[str, Any]]:
        done = self("export", collection, "--format", "jsonl")
        assert done.returncode == 0, explain(done)
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]

    def sql(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Read the database directly (read-only), as an operator with sqlite3 would."""
        uri = f"file:{self.db_path}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True, timeout=10)) as conn:
            return conn.execute(query, params).fetchall()

    def write_sql(self, query: str, params: Sequence[Any] = ()) -> int:
        with closing(sqlite3.connect(self.db_path, timeout=10)) as conn:
            changed = conn.execute(query, params).rowcount
            conn.commit()
        return changed


def explain(done: subprocess.CompletedProcess[str]) -> str:
    """What a failed command printed, for an assertion message."""
    return f"exit {done.returncode}\nstdout: {done.stdout[-2000:]}\nstderr: {done.stderr[-2000:]}"


def wait_for(
    condition: Callable[[], bool], *, timeout: float, proc: subprocess.Popen[bytes] | None = None
) -> bool:
    """Poll ``condition`` until true; False if ``proc`` ended first or time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            if condition():
                return True
        except sqlite3.OperationalError:
            pass  # the database or its tables do not exist yet
        time.sleep(0.005)
    return False


def kill_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    """Signal the process group we started (the CLI, its forkserver and pool workers)."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    proc.wait(timeout=TIMEOUT_S)


def write_files(folder: Path, contents: dict[str, str | bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in contents.items():
        data = body.encode() if isinstance(body, str) else body
        (folder / name).write_bytes(data)
