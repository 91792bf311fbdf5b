"""The process pool's workers, started for real through the forkserver.

A forkserver worker runs the parent's ``__main__`` again before its first task. Here
``__main__`` is replaced by a script that leaves a mark when it runs: under the
``parcelflow`` command (its ``main`` is the CLI's) the workers must not run it, under
any other script they must, as ``multiprocessing`` always has.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import types
from pathlib import Path

import pytest

from parcelflow.core.pipeline import NoOptions, StageInput
from parcelflow.core.pool import ProcessDispatcher
from parcelflow.interfaces import cli
from parcelflow.sources.files import file_key


def _fake_main(tmp_path: Path, *, parcelflow_cli: bool) -> tuple[types.ModuleType, Path]:
    mark = tmp_path / "main-ran"
    script = tmp_path / "fake_main.py"
    script.write_text(f"from pathlib import Path\nPath({str(mark)!r}).touch()\n")
    main = types.ModuleType("__main__")
    main.__file__ = str(script)
    main.__spec__ = None
    if parcelflow_cli:
        main.main = cli.main  # type: ignore[attr-defined]
    return main, mark


async def _hash_in_pool(path: Path) -> str:
    pool = ProcessDispatcher(1)
    try:
        item = StageInput(1, "", str(path), {"path": str(path)}, None, NoOptions())
        key: str = await pool.call((file_key,), item)
        return key
    finally:
        pool.close()


@pytest.mark.parametrize("parcelflow_cli", [True, False], ids=["parcelflow-cli", "user-script"])
def test_workers_rerun_main_only_when_it_is_not_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parcelflow_cli: bool
) -> None:
    main, mark = _fake_main(tmp_path, parcelflow_cli=parcelflow_cli)
    monkeypatch.setitem(sys.modules, "__main__", main)
    data = tmp_path / "doc.txt"
    data.write_bytes(b"a document")

    key = asyncio.run(_hash_in_pool(data))

    assert key == hashlib.sha256(b"a document").hexdigest()
    assert mark.exists() is not parcelflow_cli
    # Whatever was hidden while the workers started is back.
    assert main.__file__ == str(tmp_path / "fake_main.py")
