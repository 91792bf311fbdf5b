"""``parcelflow run inventory`` on a generated folder and on the real data set."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from cli_harness import RUN_KEYS, UNFINISHED, Cli, explain, write_files

# Three copies of one content: one record, two duplicates within the batch.
FILES: dict[str, str | bytes] = {
    "a.txt": "alpha\n",
    "b.txt": "bravo\n",
    "c.html": "<!doctype html><html><body>charlie</body></html>\n",
    "d.bin": bytes(range(256)),
    "same-1.txt": "same content\n",
    "same-2.txt": "same content\n",
    "sub/same-3.txt": "same content\n",
    "sub/e.txt": "echo\n",
}
DISTINCT = len({v for v in FILES.values()})


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same ``run --json`` twice on one folder; later tests read the database."""
    root = tmp_path_factory.mktemp("inventory")
    (root / "docs" / "sub").mkdir(parents=True)
    write_files(root / "docs", FILES)
    cli = Cli(root)
    first = cli("run", "inventory", str(root / "docs"), "--json")
    second = cli("run", "inventory", str(root / "docs"), "--json")
    return {"cli": cli, "first": first, "second": second}


def _summary(done: Any) -> dict[str, Any]:
    assert done.returncode == 0, explain(done)
    lines = done.stdout.splitlines()
    assert len(lines) == 1, f"run --json printed {len(lines)} lines"
    result: dict[str, Any] = json.loads(lines[0])
    return result


def test_first_run_commits_each_distinct_file(runs: dict[str, Any]) -> None:
    summary = _summary(runs["first"])
    assert summary.keys() >= RUN_KEYS
    assert summary["total"] == len(FILES)
    assert summary["committed"] == DISTINCT
    assert summary["duplicate"] == len(FILES) - DISTINCT
    assert summary["rejected"] == summary["quarantined"] == summary["dead"] == 0
    assert isinstance(summary["batch"], str) and summary["batch"]
    assert isinstance(summary["elapsed_s"], int | float) and summary["elapsed_s"] >= 0


def test_same_command_again_is_all_duplicates(runs: dict[str, Any]) -> None:
    first, second = _summary(runs["first"]), _summary(runs["second"])
    assert second["batch"] == first["batch"], "the same command must name the same batch"
    assert second["total"] == len(FILES)
    assert second["duplicate"] == len(FILES)
    assert second["committed"] == 0
    assert len(runs["cli"].export("inventory")) == DISTINCT


def test_export_jsonl_is_one_object_per_committed_record(runs: dict[str, Any]) -> None:
    records = runs["cli"].export("inventory")
    expected = {hashlib.sha256(_bytes(v)).hexdigest() for v in FILES.values()}
    assert sorted(r["sha256"] for r in records) == sorted(expected)
    by_name = {r["name"]: r for r in records}
    assert by_name["a.txt"]["size"] == len("alpha\n")
    assert by_name["a.txt"]["type"] == "text"
    committed = {j["id"] for j in runs["cli"].jobs("--state", "committed")}
    assert {r["job_id"] for r in records} == committed


def test_export_csv_has_header_and_one_row_per_record(runs: dict[str, Any]) -> None:
    done = runs["cli"]("export", "inventory", "--format", "csv")
    assert done.returncode == 0, explain(done)
    rows = list(csv.reader(io.StringIO(done.stdout)))
    header, body = rows[0], rows[1:]
    assert {"job_id", "sha256", "size", "path"} <= set(header)
    assert len(body) == DISTINCT
    assert all(len(row) == len(header) for row in body)


def test_export_to_file(runs: dict[str, Any], tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    done = runs["cli"]("export", "inventory", "--out", str(target))
    assert done.returncode == 0, explain(done)
    assert len(target.read_text().splitlines()) == DISTINCT


def test_status_json_shape(runs: dict[str, Any]) -> None:
    cli: Cli = runs["cli"]
    batch = _summary(runs["first"])["batch"]
    everything = cli.ok_json("status")
    assert everything["batch"] is None
    assert everything["states"]["committed"] == DISTINCT
    assert not set(everything["states"]) & set(UNFINISHED)
    one = cli.ok_json("status", "--batch", batch)
    assert one["batch"] == batch
    assert one["states"]["committed"] == DISTINCT
    assert all(isinstance(n, int) for n in one["states"].values())


def test_jobs_json_one_object_per_line(runs: dict[str, Any]) -> None:
    jobs = runs["cli"].jobs()
    assert len(jobs) == DISTINCT
    for job in jobs:
        assert {"id", "key", "source", "state", "attempts", "reason"} <= job.keys()
        assert job["state"] == "committed"
        assert job["attempts"] == 1
        assert job["reason"] is None
        assert Path(job["source"]).is_absolute()
    assert len({j["key"] for j in jobs}) == DISTINCT


def test_audit_verifies_after_runs(runs: dict[str, Any]) -> None:
    done = runs["cli"]("audit", "verify")
    assert done.returncode == 0, explain(done)
    assert "reconciles" in done.stdout


@pytest.mark.slow
def test_real_data_set(shared_data: Path, cli: Cli) -> None:
    contents: dict[str, bytes] = {}
    for folder, _dirs, names in os.walk(shared_data):
        for name in names:
            path = Path(folder, name)
            if path.is_file():
                contents[str(path)] = path.read_bytes()
    distinct = {hashlib.sha256(b).hexdigest() for b in contents.values() if b}
    empty = sum(1 for b in contents.values() if not b)

    first = cli("run", "inventory", str(shared_data), "--json")
    assert first.returncode == (1 if empty else 0), explain(first)
    summary = json.loads(first.stdout)
    assert summary["total"] == len(contents)
    assert summary["committed"] == len(distinct)
    assert summary["rejected"] == empty

    again = cli.ok_json("run", "inventory", str(shared_data), code=1 if empty else 0)
    assert again["committed"] == 0
    assert again["duplicate"] == len(contents) - empty
    records = cli.export("inventory")
    assert {r["sha256"] for r in records} == distinct
    pdfs = [r for r in records if r["type"] == "pdf"]
    assert pdfs, "the real data set has PDFs"
    assert all(r["pages"] and r["pages"] >= 1 for r in pdfs if r["pdf_status"] == "ok")


def _bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value
