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
import threading
import types
from pathlib import Path
from typing import Any

import pytest

from parcelflow.core.pipeline import NoOptions, StageInput
from parcelflow.core.pool import ProcessDispatcher, ThreadDispatcher
from parcelflow.errors import ParcelflowError
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


# -- the single-thread dispatcher (no pool: a Celery child, --processes 0) ----------

_THREADS: list[int] = []
_RELEASE = threading.Event()  # the gated call runs only once the test sets it
_ALL_RAN = threading.Event()


def _square_on_thread(item: StageInput) -> int:
    _THREADS.append(threading.get_ident())
    if item.data == "gate":
        assert _RELEASE.wait(30), "the quick calls' results never reached the loop"
        return -1
    if item.data == 13:
        raise ValueError("unlucky input")
    if item.data == 199:
        _ALL_RAN.set()
    return int(item.data) ** 2


def _input(i: int, data: object) -> StageInput:
    return StageInput(i, f"k{i}", f"s{i}", {}, data, NoOptions(), 1)


async def _quick_calls_then_a_gated_one(count: int) -> list[object]:
    """``count`` quick calls, then one that waits until all of theirs are back."""
    dispatcher = ThreadDispatcher()
    quick = [
        asyncio.ensure_future(dispatcher.call([_square_on_thread], _input(i, i)))
        for i in range(count)
    ]
    gated = asyncio.ensure_future(dispatcher.call([_square_on_thread], _input(count, "gate")))
    try:
        results = await asyncio.gather(*quick, return_exceptions=True)
        _RELEASE.set()  # reached only if no quick result waited on the gated call
        assert await gated == -1
    finally:
        _RELEASE.set()
        dispatcher.close()
    return list(results)


async def _wakeups_while_the_loop_is_busy(count: int) -> tuple[list[int], int]:
    dispatcher = ThreadDispatcher()
    loop = asyncio.get_running_loop()
    wakeups = 0
    original = loop.call_soon_threadsafe

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal wakeups
        wakeups += 1
        return original(*args, **kwargs)

    loop.call_soon_threadsafe = counted  # type: ignore[method-assign]
    try:
        calls = [
            asyncio.ensure_future(dispatcher.call([_square_on_thread], _input(i, i)))
            for i in range(count)
        ]
        await asyncio.sleep(0)  # let every call reach the stage thread's queue
        # Hold the loop (as a commit or a claim would) until the last call has run.
        assert _ALL_RAN.wait(30)
        results = await asyncio.gather(*calls, return_exceptions=True)
    finally:
        loop.call_soon_threadsafe = original  # type: ignore[method-assign]
        dispatcher.close()
    return [r for r in results if isinstance(r, int)], wakeups


def test_thread_dispatcher_hands_each_result_back_without_waiting_for_later_calls() -> None:
    _THREADS.clear()
    _RELEASE.clear()
    results = asyncio.run(_quick_calls_then_a_gated_one(50))

    assert [r for i, r in enumerate(results) if i != 13] == [i * i for i in range(50) if i != 13]
    assert isinstance(results[13], ParcelflowError) and "unlucky input" in str(results[13])
    assert len(_THREADS) == 51 and len(set(_THREADS)) == 1  # one thread, in turn
    assert threading.get_ident() not in _THREADS  # the event loop's thread stayed free


def test_thread_dispatcher_results_share_a_wake_up_while_the_loop_is_busy() -> None:
    _ALL_RAN.clear()
    results, wakeups = asyncio.run(_wakeups_while_the_loop_is_busy(200))

    assert len(results) == 199  # all but the unlucky 13
    # One wake-up carried every result appended while the loop was held; the last
    # call's own result may land just after that delivery and need one more.
    assert wakeups <= 2
