"""A database that refuses to commit: nothing half-written, and the user is told so."""

from __future__ import annotations

from cli_harness import UNFINISHED, Cli, explain, write_files


def test_refused_commit_writes_nothing_and_is_not_called_an_interruption(cli: Cli) -> None:
    docs = cli.root / "docs"
    write_files(docs, {"a.txt": "a\n", "b.txt": "b\n"})
    assert cli("status").returncode == 0  # creates the schema
    cli.write_sql(
        "CREATE TRIGGER refuse BEFORE INSERT ON pf_records "
        "BEGIN SELECT RAISE(ABORT, 'the disk says no'); END"
    )

    done = cli("run", "inventory", str(docs), "--json")

    assert cli.sql("SELECT count(*) FROM pf_records") == [(0,)]
    assert cli.sql("SELECT count(*) FROM pf_jobs WHERE state = 'committed'") == [(0,)]
    states = cli.ok_json("status")["states"]
    assert "running" not in states, states
    assert set(states) <= set(UNFINISHED), states
    assert cli("audit", "verify").returncode == 0
    assert "the disk says no" in done.stderr, explain(done)
    # Exit 130 promises "interrupted, run the same command again to resume";
    # nobody interrupted this run and running it again fails the same way.
    assert done.returncode not in (0, 130), explain(done)
