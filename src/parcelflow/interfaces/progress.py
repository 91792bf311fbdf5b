"""A live progress bar for a run, read from the engine's counters."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

if TYPE_CHECKING:
    from parcelflow.core.engine import Engine

__all__ = ["RunProgress"]

_REFRESH_S = 0.2


class RunProgress:
    """Shows jobs ended out of jobs admitted, outcomes so far, in-flight and rate."""

    def __init__(self, console: Console, label: str) -> None:
        self._console = console
        self._label = label

    async def follow(self, engine: Engine) -> None:
        """Redraw until cancelled (the run has ended)."""
        progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=self._console,
            transient=False,
        )
        task = progress.add_task(self._label, total=None, detail="")
        with progress:
            try:
                while True:
                    self._update(progress, task, engine)
                    await asyncio.sleep(_REFRESH_S)
            finally:
                self._update(progress, task, engine)

    @staticmethod
    def _update(progress: Progress, task: TaskID, engine: Engine) -> None:
        s = engine.summary
        failed = s.rejected + s.quarantined + s.dead
        detail = f"ok {s.committed + s.duplicate} · failed {failed} · busy {engine.in_flight}"
        total = s.total if engine.source_done else None
        progress.update(task, completed=s.ended, total=total, detail=detail)
