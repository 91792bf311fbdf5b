"""Usage and configuration errors: exit 2, one line on stderr, no traceback."""

from __future__ import annotations

import pytest
from cli_harness import Cli, explain, write_files

USAGE_ERRORS = {
    "unknown pipeline": ("run", "no-such-pipeline", "{docs}"),
    "missing source": ("run", "inventory", "{root}/no/such/folder"),
    "no source": ("run", "inventory"),
    "unknown pipeline option": ("run", "inventory", "{docs}", "--no-such-option"),
    "unknown command option": ("status", "--no-such-option"),
    "unknown command": ("frobnicate",),
    "bad integer": ("run", "inventory", "{docs}", "--concurrency", "many"),
    "bad --format": ("export", "inventory", "--format", "xml"),
    "bad --state": ("jobs", "--state", "no-such-state-at-all-with-a-long-name"),
}


@pytest.mark.parametrize("args", USAGE_ERRORS.values(), ids=USAGE_ERRORS.keys())
def test_usage_error_is_one_line_and_exit_2(args: tuple[str, ...], cli: Cli) -> None:
    write_files(cli.root / "docs", {"a.txt": "a\n"})
    argv = [a.format(root=cli.root, docs=cli.root / "docs") for a in args]
    done = cli(*argv, db=argv[0] != "frobnicate")
    assert done.returncode == 2, explain(done)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, f"one line on stderr, got:\n{done.stderr}"
    assert lines[0].startswith("parcelflow: error: "), lines[0]
    assert done.stdout == ""
    assert not any(cli.root.glob("parcelflow.db*")), "no default database left behind"
