"""Bad input never stops a batch: each bad file ends ``rejected`` with a reason code.

The permission-denied case needs a user the file's mode bits apply to; root
ignores them, so when the tests run as root the ``run`` is done as ``nobody``
(uid 65534) through ``setpriv``, in a folder that user can reach.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_harness import Cli, explain, write_files

NOBODY = 65534
GOOD = {"good-1.txt": "one\n", "good-2.txt": "two\n", "good-3.txt": "three\n"}
EXPECTED_CODES = {
    "empty.txt": "empty",
    "dangling.txt": "broken_symlink",
    "bad\\xff.txt": "bad_name",  # how an undecodable name is shown (backslash escape)
    "locked.txt": "permission_denied",
}


def _as_nobody() -> tuple[list[str], list[str]]:
    """How to run ``run`` so that mode bits apply: (command prefix, extra options).

    Not root: nothing to change. Root: drop to ``nobody`` with ``setpriv``. If
    that user cannot start the interpreter again (the process pool does; here
    the venv's interpreter may live under a private home), run CPU stages in
    threads (``--processes 0``): reading the file is the same code either way.
    """
    if os.geteuid() != 0:
        return [], []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot test a permission-denied file")
    prefix = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]
    if _probe([*prefix, sys.executable, "-c", "import parcelflow.interfaces.cli"]):
        pytest.skip(f"uid {NOBODY} cannot run parcelflow here")
    respawn = "import subprocess, sys; subprocess.run([sys.executable, '-c', ''], check=True)"
    if _probe([*prefix, sys.executable, "-c", respawn]):
        return prefix, ["--processes", "0"]
    return prefix, []


def _probe(argv: list[str]) -> int:
    return subprocess.run(argv, capture_output=True, timeout=60, check=False).returncode


@pytest.fixture(scope="module")
def open_root() -> Iterator[Path]:
    """A folder every user can reach (pytest's tmp folders are private to root)."""
    root = Path(tempfile.mkdtemp(prefix="pf-bad-input-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def bad_run(open_root: Path) -> tuple[Cli, subprocess.CompletedProcess[str]]:
    """One ``run`` over three good files and four bad ones."""
    docs = open_root / "docs"
    write_files(docs, {**GOOD, "empty.txt": b""})
    os.symlink(docs / "no-such-target.txt", docs / "dangling.txt")
    with open(os.fsencode(docs) + b"/bad\xff.txt", "wb") as handle:
        handle.write(b"a file whose name is not UTF-8\n")
    locked = docs / "locked.txt"
    locked.write_text("nobody may read this\n")
    locked.chmod(0o000)
    for path in docs.iterdir():
        if path.is_file() and not path.is_symlink() and path != locked:
            path.chmod(0o644)
    docs.chmod(0o755)
    state = open_root / "state"
    state.mkdir()
    prefix, options = _as_nobody()
    if prefix:
        os.chown(state, NOBODY, NOBODY)
    cli = Cli(state, {**Cli(state).env, "HOME": str(state)})
    return cli, cli("run", "inventory", str(docs), "--json", *options, prefix=prefix)


def test_run_completes_and_counts_each_outcome(
    bad_run: tuple[Cli, subprocess.CompletedProcess[str]],
) -> None:
    _cli, done = bad_run
    assert "Traceback" not in done.stderr
    assert done.stdout.strip(), explain(done)
    summary = json.loads(done.stdout)
    assert summary["total"] == len(GOOD) + len(EXPECTED_CODES)
    assert summary["committed"] == len(GOOD)
    assert summary["rejected"] == len(EXPECTED_CODES)


def test_exit_code_is_1_when_some_jobs_were_rejected(
    bad_run: tuple[Cli, subprocess.CompletedProcess[str]],
) -> None:
    assert bad_run[1].returncode == 1, explain(bad_run[1])


def test_each_bad_file_is_rejected_with_its_reason_code(
    bad_run: tuple[Cli, subprocess.CompletedProcess[str]],
) -> None:
    cli, _done = bad_run
    jobs = {Path(j["source"]).name: j for j in cli.jobs()}
    codes = {name: jobs[name]["reason_code"] for name in EXPECTED_CODES if name in jobs}
    assert codes == EXPECTED_CODES, f"jobs: {sorted(jobs)}"
    for name in EXPECTED_CODES:
        assert jobs[name]["state"] == "rejected"
        reason = jobs[name]["reason"]
        assert reason and "\n" not in reason, f"{name}: reason must be one line, got {reason!r}"


def test_good_files_commit_beside_bad_ones(
    bad_run: tuple[Cli, subprocess.CompletedProcess[str]],
) -> None:
    cli, _done = bad_run
    assert sorted(r["name"] for r in cli.export("inventory")) == sorted(GOOD)
    rejected = cli.jobs("--state", "rejected")
    assert sorted(Path(j["source"]).name for j in rejected) == sorted(EXPECTED_CODES)


def test_bad_input_through_the_process_pool(cli: Cli) -> None:
    """The same rejections with identification in the default process pool (as this user)."""
    docs = cli.root / "docs"
    write_files(docs, {**GOOD, "empty.txt": b""})
    os.symlink(docs / "no-such-target.txt", docs / "dangling.txt")
    with open(os.fsencode(docs) + b"/bad\xff.txt", "wb") as handle:
        handle.write(b"a file whose name is not UTF-8\n")
    done = cli("run", "inventory", str(docs), "--json", "--processes", "2")
    assert done.returncode == 1, explain(done)
    codes = {Path(j["source"]).name: j["reason_code"] for j in cli.jobs("--state", "rejected")}
    assert codes == {k: v for k, v in EXPECTED_CODES.items() if k != "locked.txt"}
    assert json.loads(done.stdout)["committed"] == len(GOOD)
