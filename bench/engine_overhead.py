"""Engine overhead: ``inventory`` over 20,000 small files, end to end, next to a plain loop.

Both do the same per-file work (read, SHA-256, magic-byte type); the plain
loop has no ledger, no audit, no concurrency. Measured in the same run, so
the ratio holds on a noisy shared machine.

Targets (issue #2): at least 3,000 jobs/s, and at least 25% of the plain loop.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from corpus import fresh_db, scratch, small_files
from parcelflow.documents.sniff import sniff


def plain_loop(root: Path) -> tuple[int, float]:
    """The baseline: one process, one file after another, nothing stored."""
    start = time.perf_counter()
    count = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            data = Path(folder, name).read_bytes()
            hashlib.sha256(data).hexdigest()
            sniff(data)
            count += 1
    return count, time.perf_counter() - start


def parcelflow_run(root: Path, db: Path, extra: list[str]) -> tuple[dict[str, object], float]:
    fresh_db(db)
    cmd = [
        sys.executable,
        "-m",
        "parcelflow.interfaces.cli",
        "run",
        "inventory",
        str(root),
        "--db",
        f"sqlite:///{db}",
        "--json",
        *extra,
    ]
    start = time.perf_counter()
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    return json.loads(done.stdout.strip().splitlines()[-1]), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    root = small_files(scratch(f"small-{args.files}"), args.files)
    db = scratch("db") / "overhead.db"
    best_plain = best_run = best_wall = 0.0
    for _ in range(args.rounds):
        count, seconds = plain_loop(root)
        best_plain = max(best_plain, count / seconds)
        summary, wall = parcelflow_run(root, db, [])
        assert summary["committed"] == args.files, summary
        best_run = max(best_run, args.files / float(summary["elapsed_s"]))  # type: ignore[arg-type]
        best_wall = max(best_wall, args.files / wall)
    print(f"files                    {args.files:,}")
    print(f"plain loop               {best_plain:,.0f} files/s")
    print(f"parcelflow (engine)      {best_run:,.0f} jobs/s   (target >= 3,000)")
    print(f"parcelflow (whole CLI)   {best_wall:,.0f} jobs/s   (incl. start-up and pool spawn)")
    print(f"ratio engine/plain       {best_run / best_plain:.2f}      (target >= 0.25)")


if __name__ == "__main__":
    main()
