"""SIGINT / SIGTERM mid-run: exit 130 within the grace period, nothing left running, resumable.

Uses the ``fault`` pipeline's ``slow S`` files: jobs that take longer than the
grace period, so the stop must release them rather than wait for them.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from cli_harness import UNFINISHED, Cli, explain, wait_for, write_files

SLOW_S = 4.0
GRACE_S = 0.3
# Exit well before a slow job could have finished: the stop did not wait for it.
EXIT_BOUND_S = SLOW_S - 1.0
RUN_OPTIONS = ("--concurrency", "2", "--processes", "2", "--json")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_run_exits_130_and_resumes(
    sig: signal.Signals, fault_cli: Cli, reaper: list
) -> None:
    cli = fault_cli
    cli.env["PARCELFLOW_GRACE_S"] = str(GRACE_S)
    docs = cli.root / "docs"
    write_files(docs, {f"slow-{i}.txt": f"slow {SLOW_S}\n{i}\n" for i in range(2)})
    proc = cli.popen("run", "fault", str(docs), *RUN_OPTIONS, stderr=cli.root / "run1.err")
    reaper.append(proc)
    running = "SELECT count(*) FROM pf_jobs WHERE state = 'running'"
    assert wait_for(lambda: cli.sql(running)[0][0] == 2, timeout=30, proc=proc), (
        cli.root / "run1.err"
    ).read_text()
    time.sleep(0.5)  # the pool has started the slow stages
    signalled = time.monotonic()
    os.kill(proc.pid, sig)
    code = proc.wait(timeout=30)
    took = time.monotonic() - signalled

    assert code == 130, f"exit {code}; stderr: {(cli.root / 'run1.err').read_text()[-1500:]}"
    assert took < EXIT_BOUND_S, f"took {took:.1f}s to stop with a {GRACE_S}s grace period"
    states = cli.ok_json("status")["states"]
    assert "running" not in states, states
    assert "committed" not in states

    again = cli("run", "fault", str(docs), *RUN_OPTIONS)
    assert again.returncode == 0, explain(again)
    assert json.loads(again.stdout)["committed"] == 2
    states = cli.ok_json("status")["states"]
    assert states == {"committed": 2}, states
    assert not set(states) & set(UNFINISHED)
    assert all(job["attempts"] == 1 for job in cli.jobs()), "a released attempt is not counted"
