"""The CLI's exit codes, run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "parcelflow.interfaces.cli", *args]
    env = {**os.environ, "PARCELFLOW_DB": f"sqlite:///{tmp_path / 'pf.db'}"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, env=env, check=False)


def test_rejected_jobs_exit_1_and_good_files_still_commit(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.txt").write_text("a lease summary")
    (folder / "empty.pdf").write_bytes(b"")
    (folder / "dangling.txt").symlink_to(tmp_path / "nowhere")
    done = _cli(tmp_path, "run", "inventory", str(folder), "--json")
    assert done.returncode == 1, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["committed"], summary["rejected"], summary["total"]) == (1, 2, 3)
    jobs = [json.loads(line) for line in _cli(tmp_path, "jobs", "--json").stdout.splitlines()]
    reasons = sorted(j["reason_code"] for j in jobs if j["state"] == "rejected")
    assert reasons == ["broken_symlink", "empty"]


def test_clean_run_exits_0_then_everything_is_duplicate(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(5):
        (folder / f"f{i}.txt").write_text(f"document {i}")
    first = _cli(tmp_path, "run", "inventory", str(folder), "--json")
    assert first.returncode == 0, first.stderr
    second = _cli(tmp_path, "run", "inventory", str(folder), "--json", "--batch", "again")
    assert second.returncode == 0
    assert json.loads(second.stdout)["duplicate"] == 5
    assert json.loads(second.stdout)["committed"] == 0
    status = json.loads(_cli(tmp_path, "status", "--batch", "again", "--json").stdout)
    assert status == {"batch": "again", "states": {"duplicate": 5}}


def test_usage_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    for args in (
        ["run", "nope", "x"],
        ["run", "inventory", str(tmp_path / "missing")],
        ["export", "inventory", "--format", "xml"],
        ["status", "--batch", "nope"],
    ):
        done = _cli(tmp_path, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.startswith("parcelflow: error:"), done.stderr
        assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1


def test_pipelines_lists_every_pipeline_and_its_options(tmp_path: Path) -> None:
    done = _cli(tmp_path, "pipelines")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    names = {line.split(":")[0] for line in lines if not line.startswith(" ")}
    assert {"inventory", "lease", "zoning"} <= names
    assert any(line.strip().startswith("--min-confidence") for line in lines)
    assert any(line.strip().startswith("--normalize") for line in lines)
