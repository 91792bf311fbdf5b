"""Retries, permanent failures, quarantine and poison, through the CLI (``fault`` pipeline)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from cli_harness import FAULTS, Cli, base_env, explain, write_files

RETRY_BASE_S = 0.05
MAX_ATTEMPTS = 3
MAX_CRASHES = 2
# Time between the ledger deciding a retry and the engine claiming it again,
# beyond the drawn delay: a loop turn and a database call on a busy machine.
SCHEDULING_SLACK_S = 0.3

FAULT_FILES = {
    "ok.txt": "ok\n",
    "transient-2.txt": "transient 2\n",
    "transient-9.txt": "transient 9\n",
    "permanent.txt": "permanent\n",
    "quarantine.txt": "quarantine\n",
}


@pytest.fixture(scope="module")
def fault_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Cli, subprocess.CompletedProcess[str]]:
    """One batch with every non-crashing fault, max attempts 3 and quick retries."""
    root = tmp_path_factory.mktemp("faults")
    write_files(root / "docs", FAULT_FILES)
    env = base_env(
        PARCELFLOW_PLUGINS=FAULTS,
        PARCELFLOW_RETRY_BASE_S=str(RETRY_BASE_S),
        PARCELFLOW_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
    )
    cli = Cli(root, env)
    return cli, cli("run", "fault", str(root / "docs"), "--processes", "2", "--json")


def _job(run: tuple[Cli, Any], name: str) -> dict[str, Any]:
    return run[0].job_by_name(name)


def test_run_counts_and_exit_code(fault_run: tuple[Cli, subprocess.CompletedProcess[str]]) -> None:
    _cli, done = fault_run
    summary = json.loads(done.stdout)
    assert {k: summary[k] for k in ("committed", "rejected", "quarantined", "dead")} == {
        "committed": 2,
        "rejected": 1,
        "quarantined": 1,
        "dead": 1,
    }
    assert done.returncode == 1, explain(done)


def test_transient_twice_commits_on_the_third_attempt(fault_run: tuple[Cli, Any]) -> None:
    job = _job(fault_run, "transient-2.txt")
    assert (job["state"], job["attempts"]) == ("committed", 3)
    records = {r["path"].rsplit("/", 1)[-1]: r for r in fault_run[0].export("fault")}
    assert records["transient-2.txt"]["attempt"] == 3


def test_transient_beyond_max_attempts_is_dead(fault_run: tuple[Cli, Any]) -> None:
    job = _job(fault_run, "transient-9.txt")
    assert (job["state"], job["reason_code"], job["attempts"]) == (
        "dead",
        "retries_exhausted",
        MAX_ATTEMPTS,
    )


def test_permanent_is_rejected_after_one_attempt(fault_run: tuple[Cli, Any]) -> None:
    job = _job(fault_run, "permanent.txt")
    assert (job["state"], job["reason_code"], job["attempts"]) == ("rejected", "bad_input", 1)


def test_quarantine_is_quarantined_after_one_attempt(fault_run: tuple[Cli, Any]) -> None:
    job = _job(fault_run, "quarantine.txt")
    assert (job["state"], job["attempts"]) == ("quarantined", 1)
    assert job["reason_code"] and job["reason"]


def test_retry_delays_stay_under_the_full_jitter_ceiling(fault_run: tuple[Cli, Any]) -> None:
    cli = fault_run[0]
    for name, retries in (("transient-2.txt", 2), ("transient-9.txt", MAX_ATTEMPTS - 1)):
        job_id = _job(fault_run, name)["id"]
        events = cli.sql("SELECT event, at FROM pf_audit WHERE job_id = ? ORDER BY seq", (job_id,))
        decided = [at for event, at in events if event == "retry"]
        requeued = [at for event, at in events if event == "requeued"]
        assert len(decided) == len(requeued) == retries, events
        for attempt, (at, back) in enumerate(zip(decided, requeued, strict=True), start=1):
            ceiling = RETRY_BASE_S * 2 ** (attempt - 1)
            assert 0 <= back - at <= ceiling + SCHEDULING_SLACK_S, (
                f"{name} retry {attempt}: waited {back - at:.3f}s, ceiling {ceiling}s"
            )


def test_crashing_job_is_poison_and_its_busy_neighbours_commit(fault_cli: Cli) -> None:
    """Jobs that share the pool with a crashing one are re-run, never blamed for its crashes."""
    cli = fault_cli
    cli.env["PARCELFLOW_MAX_CRASHES"] = str(MAX_CRASHES)
    docs = cli.root / "docs"
    # Quick neighbours, and busy ones still working when the crash kills the pool.
    neighbours = {f"ok-{i}.txt": f"ok\n{i}\n" for i in range(2)}
    neighbours |= {f"busy-{i}.txt": f"slow 0.5\n{i}\n" for i in range(4)}
    write_files(docs, {"crash.txt": "crash\n", **neighbours})
    done = cli("run", "fault", str(docs), "--processes", "2", "--json")
    assert done.returncode == 1, explain(done)
    jobs = {j["source"].rsplit("/", 1)[-1]: j for j in cli.jobs()}
    crash = jobs.pop("crash.txt")
    assert (crash["state"], crash["reason_code"], crash["crashes"]) == (
        "dead",
        "poison",
        MAX_CRASHES,
    )
    innocent = {name: (j["state"], j["reason_code"], j["crashes"]) for name, j in jobs.items()}
    assert innocent == {name: ("committed", None, 0) for name in jobs}
    assert json.loads(done.stdout)["committed"] == len(neighbours)
