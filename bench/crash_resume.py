"""Crash-resume: wall time lost to a ``kill -9`` at the midpoint of a 20,000-file run.

1. A full, uninterrupted run: time T.
2. A fresh run, killed with SIGKILL at T/2, then the same command again.
Lost = (time until the kill + time of the resumed run) - T, as a fraction of T.
Also checks the outcome: exactly one committed record per file, nothing running.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from corpus import fresh_db, scratch, small_files


def _cmd(root: Path, db: Path, *rest: str) -> list[str]:
    return [sys.executable, "-m", "parcelflow.interfaces.cli", *rest, "--db", f"sqlite:///{db}"]


def _run(root: Path, db: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        _cmd(root, db, "run", "inventory", str(root), "--json"), check=True, capture_output=True
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    args = parser.parse_args()
    root = small_files(scratch(f"small-{args.files}"), args.files)
    db = scratch("db") / "crash.db"
    fresh_db(db)
    full = _run(root, db)
    fresh_db(db)
    start = time.perf_counter()
    proc = subprocess.Popen(
        _cmd(root, db, "run", "inventory", str(root), "--json"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    time.sleep(full / 2)  # the benchmark's own clock: kill at the midpoint of a full run
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before_kill = time.perf_counter() - start
    resumed = _run(root, db)
    status = subprocess.run(
        _cmd(root, db, "status", "--json"), check=True, capture_output=True, text=True
    )
    states = json.loads(status.stdout)["states"]
    lost = before_kill + resumed - full
    print(f"full run                 {full:.2f}s")
    print(f"killed at                {before_kill:.2f}s, resumed run {resumed:.2f}s")
    print(f"time lost                {lost:.2f}s = {100 * lost / full:.1f}% of a full run")
    print(f"ledger after resume      {states}")
    assert states.get("committed") == args.files and "running" not in states, states


if __name__ == "__main__":
    main()
