"""Killed at any moment (SIGKILL), the same command resumes: each file committed exactly once.

The run is killed with its whole process group (the CLI, its forkserver and
pool workers), as a machine losing the job would; the kill moment is drawn at
random inside a window (seed printed on failure).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_harness import UNFINISHED, Cli, explain, kill_group, wait_for

FILES = 3000
COPIES = 40  # files whose content repeats another's: one record for both
RUN_OPTIONS = ("--concurrency", "8", "--processes", "2", "--json")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str]]:
    """~3,000 small files in 30 folders; returns the folder and the distinct SHA-256s."""
    root = tmp_path_factory.mktemp("corpus") / "docs"
    digests = set()
    for i in range(FILES):
        folder = root / f"{i % 30:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        body = f"document {i}\n".encode()
        (folder / f"doc-{i:05d}.txt").write_bytes(body)
        digests.add(hashlib.sha256(body).hexdigest())
    for i in range(COPIES):
        (root / "copies").mkdir(exist_ok=True)
        (root / "copies" / f"copy-{i:03d}.txt").write_bytes(f"document {i * 7}\n".encode())
    return root, digests


def _committed(cli: Cli) -> int:
    return int(cli.sql("SELECT count(*) FROM pf_jobs WHERE state = 'committed'")[0][0])


def _admitted(cli: Cli) -> int:
    return int(cli.sql("SELECT count(*) FROM pf_jobs")[0][0])


def _kill_condition(point: str, rng: random.Random, cli: Cli) -> Callable[[], bool]:
    """When to pull the plug: while admitting, or after a random share of commits."""
    if point == "admitting":
        floor = rng.randint(1, 200)
        return lambda: _admitted(cli) >= floor
    low, high = {"early": (0.05, 0.35), "late": (0.5, 0.85)}[point]
    floor = int(FILES * rng.uniform(low, high))
    return lambda: _committed(cli) >= floor


@pytest.mark.slow
@pytest.mark.parametrize("point", ["admitting", "early", "late"])
def test_sigkill_then_same_command_commits_each_file_once(
    point: str, corpus: tuple[Path, set[str]], cli: Cli, reaper: list
) -> None:
    docs, digests = corpus
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    proc = cli.popen("run", "inventory", str(docs), *RUN_OPTIONS, stderr=cli.root / "run1.err")
    reaper.append(proc)
    reached = wait_for(_kill_condition(point, rng, cli), timeout=60, proc=proc)
    time.sleep(rng.uniform(0, 0.05))
    still_running = proc.poll() is None
    kill_group(proc)
    assert reached and still_running, (
        f"seed {seed}: the run ended (exit {proc.returncode}) before the kill point {point}; "
        f"stderr: {(cli.root / 'run1.err').read_text()[-1000:]}"
    )
    committed_before = _committed(cli)
    assert committed_before < len(digests), "killed mid-run, so something was left to do"

    again = cli("run", "inventory", str(docs), *RUN_OPTIONS)
    assert again.returncode == 0, f"seed {seed}: {explain(again)}"
    summary = json.loads(again.stdout)
    assert summary["total"] == FILES + COPIES
    assert summary["committed"] == len(digests) - committed_before, "rework beyond what was left"

    records = cli.export("inventory")
    assert len(records) == len(digests), f"seed {seed}: one record per distinct content"
    assert {r["sha256"] for r in records} == digests

    states = cli.ok_json("status")["states"]
    assert states.get("committed") == len(digests)
    assert not {s: n for s, n in states.items() if s in UNFINISHED and n}, states

    audit = cli("audit", "verify")
    assert audit.returncode == 0, explain(audit)
    assert "reconciles" in audit.stdout
