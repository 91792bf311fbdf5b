"""Memory: peak RSS of ``parcelflow run inventory`` over 1,000 vs 50,000 files.

Each run happens in its own process, which reports its own peak RSS
(``ru_maxrss``) at exit. Target (issue #2): within 10% of each other.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from corpus import fresh_db, scratch, small_files

_CHILD = """
import resource, sys
from parcelflow.interfaces.cli import main
code = main(sys.argv[1:])
print("MAXRSS", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def peak_rss_kib(root: Path, db: Path) -> int:
    fresh_db(db)
    cmd = [
        sys.executable,
        "-c",
        _CHILD,
        "run",
        "inventory",
        str(root),
        "--db",
        f"sqlite:///{db}",
        "--json",
    ]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    line = next(ln for ln in done.stderr.splitlines() if ln.startswith("MAXRSS"))
    return int(line.split()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=50_000)
    args = parser.parse_args()
    db = scratch("db") / "memory.db"
    small = peak_rss_kib(small_files(scratch(f"small-{args.small}"), args.small), db)
    large = peak_rss_kib(small_files(scratch(f"small-{args.large}"), args.large), db)
    print(f"peak RSS, {args.small:,} files    {small / 1024:.1f} MiB")
    print(f"peak RSS, {args.large:,} files   {large / 1024:.1f} MiB")
    print(f"growth                   {100 * (large - small) / small:+.1f}%   (target within 10%)")


if __name__ == "__main__":
    main()
