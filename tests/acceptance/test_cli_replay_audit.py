"""``replay`` and ``audit verify`` as an operator uses them."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from cli_harness import Cli, base_env, explain, write_files


def test_replay_rejected_after_fixing_the_file_commits(fault_cli: Cli) -> None:
    cli = fault_cli
    docs = cli.root / "docs"
    write_files(docs, {"fixable.txt": "permanent\n", "fine.txt": "ok\n"})
    first = cli("run", "fault", str(docs), "--json")
    assert first.returncode == 1, explain(first)
    assert cli.job_by_name("fixable.txt")["state"] == "rejected"

    (docs / "fixable.txt").write_text("ok\nfixed\n")
    replay = cli("replay", "--state", "rejected")
    assert replay.returncode == 0, explain(replay)
    job = cli.job_by_name("fixable.txt")
    assert (job["state"], job["reason_code"]) == ("committed", None)
    assert sorted(Path(r["path"]).name for r in cli.export("fault")) == ["fine.txt", "fixable.txt"]
    assert cli("audit", "verify").returncode == 0


def test_replay_of_a_committed_job_commits_nothing_new(fault_cli: Cli) -> None:
    cli = fault_cli
    docs = cli.root / "docs"
    write_files(docs, {"fine.txt": "ok\n"})
    assert cli("run", "fault", str(docs)).returncode == 0
    job = cli.job_by_name("fine.txt")
    records = cli.sql("SELECT * FROM pf_records")
    events = cli.sql("SELECT count(*) FROM pf_audit")

    replay = cli("replay", str(job["id"]))
    assert replay.returncode == 0, explain(replay)
    assert cli.sql("SELECT * FROM pf_records") == records
    assert cli.sql("SELECT count(*) FROM pf_audit") == events
    assert cli.job_by_name("fine.txt") == job


def test_replay_of_an_unknown_pipeline_changes_nothing(fault_cli: Cli) -> None:
    """A usage error (the job's pipeline is not loaded) must leave the ledger as it was."""
    cli = fault_cli
    docs = cli.root / "docs"
    write_files(docs, {"bad.txt": "permanent\n"})
    assert cli("run", "fault", str(docs)).returncode == 1
    before = cli.job_by_name("bad.txt")

    without_plugin = base_env()
    done = cli("replay", "--state", "rejected", env=without_plugin)

    assert done.returncode == 2, explain(done)
    assert done.stderr.startswith("parcelflow: error: ")
    after = cli.job_by_name("bad.txt")
    assert (after["state"], after["reason_code"]) == (before["state"], before["reason_code"])


def test_replay_of_an_unknown_job_id_is_a_usage_error(cli: Cli) -> None:
    write_files(cli.root / "docs", {"a.txt": "a\n"})
    assert cli("run", "inventory", str(cli.root / "docs")).returncode == 0
    done = cli("replay", "999")
    assert done.returncode == 2, explain(done)
    assert done.stderr.startswith("parcelflow: error: ")


# -- audit tampering ------------------------------------------------------------


@pytest.fixture(scope="module")
def audited_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database whose audit log holds a few jobs' events (copied by each test)."""
    root = tmp_path_factory.mktemp("audited")
    write_files(root / "docs", {f"{i}.txt": f"record {i}\n" for i in range(4)})
    cli = Cli(root, base_env())
    done = cli("run", "inventory", str(root / "docs"))
    assert done.returncode == 0, explain(done)
    assert len(cli.sql("SELECT seq FROM pf_audit")) >= 12
    return cli.db_path


@pytest.fixture
def audited(audited_db: Path, tmp_path: Path) -> Cli:
    shutil.copy(audited_db, tmp_path / "pf.db")
    return Cli(tmp_path, base_env())


def _verify_names_event(cli: Cli, seq: int) -> None:
    done = cli("audit", "verify")
    assert done.returncode == 1, explain(done)
    said = done.stdout + done.stderr
    assert re.search(rf"\bevent {seq}\b", said), f"should name event {seq}: {said}"


def test_intact_log_verifies_and_reconciles(audited: Cli) -> None:
    done = audited("audit", "verify")
    assert done.returncode == 0, explain(done)
    assert "intact" in done.stdout and "reconciles" in done.stdout


def test_altered_event_is_named(audited: Cli) -> None:
    changed = audited.write_sql(
        "UPDATE pf_audit SET reason_code = 'forged' WHERE seq = 5",
    )
    assert changed == 1
    _verify_names_event(audited, 5)


def test_altered_digest_of_a_commit_is_named(audited: Cli) -> None:
    seq = audited.sql("SELECT min(seq) FROM pf_audit WHERE event = 'committed'")[0][0]
    audited.write_sql("UPDATE pf_audit SET digest = ? WHERE seq = ?", ("0" * 64, seq))
    _verify_names_event(audited, seq)


def test_deleted_middle_event_is_caught(audited: Cli) -> None:
    assert audited.write_sql("DELETE FROM pf_audit WHERE seq = 6") == 1
    _verify_names_event(audited, 6)


def test_deleted_last_event_is_caught(audited: Cli) -> None:
    last = audited.sql("SELECT max(seq) FROM pf_audit")[0][0]
    assert audited.write_sql("DELETE FROM pf_audit WHERE seq = ?", (last,)) == 1
    done = audited("audit", "verify")
    assert done.returncode == 1, explain(done)
