"""Generated corpora for the benchmarks: many small files, made once, reused."""

from __future__ import annotations

import os
import random
from pathlib import Path

WORDS = [
    "lease",
    "premises",
    "tenant",
    "landlord",
    "rent",
    "deposit",
    "term",
    "option",
    "parcel",
    "zoning",
    "permit",
    "suite",
    "square",
    "feet",
    "commencement",
    "expiration",
    "renewal",
    "base",
    "annual",
    "monthly",
]


def small_files(root: Path, count: int, *, seed: int = 7) -> Path:
    """``count`` distinct small text files (100 B to 4 KiB) in folders of 1,000."""
    marker = root.parent / f"{root.name}.complete-{count}"
    if marker.exists():
        return root
    rng = random.Random(seed)
    for i in range(count):
        folder = root / f"d{i // 1000:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(15, 600)))
        (folder / f"doc{i:06d}.txt").write_text(f"record {i}\n{words}\n")
    marker.write_text("ok")
    return root


def scratch(name: str) -> Path:
    """A folder for generated data that survives between benchmark runs."""
    base = Path(os.environ.get("PARCELFLOW_BENCH_DIR", "/tmp/parcelflow-bench"))
    path = base / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def fresh_db(path: Path) -> str:
    """Delete a SQLite database and its WAL files; return its URL."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"
