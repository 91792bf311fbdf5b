"""What every ``parcelflow`` command shares: its two consoles and the ``--db`` option."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

__all__ = ["DbOption", "err", "out"]

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", help="Database URL [env: PARCELFLOW_DB; default: sqlite:///parcelflow.db]"
    ),
]
