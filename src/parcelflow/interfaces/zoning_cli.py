"""``parcelflow zoning``: what zoning syncs found, read from the database.

* ``parcelflow zoning changes``: the change report between two syncs of each
  layer (by default each layer's last two), as JSON, GeoJSON or CSV;
* ``parcelflow zoning syncs``: every sync, with its state and counts (the ids
  ``--since`` takes).

Syncs themselves are run by ``parcelflow run zoning SOURCE...``. Usage errors
raise :class:`~parcelflow.errors.ConfigError`, which the ``parcelflow`` entry
point prints as one line and exit code 2. The zoning modules (shapely, pyproj,
httpx) are imported when a command runs, not when ``parcelflow`` starts.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from parcelflow.errors import ConfigError
from parcelflow.interfaces.console import DbOption, err, out
from parcelflow.settings import Settings
from parcelflow.stores import open_store

if TYPE_CHECKING:
    import sqlalchemy as sa

    from parcelflow.pipelines.zoning.options import ZoningOptions
    from parcelflow.pipelines.zoning.report import LayerChanges, ReportFormat
    from parcelflow.pipelines.zoning.store import SyncInfo
    from parcelflow.stores.sql import SqlStore

__all__ = ["zoning_app"]

_REPORT_FORMATS: dict[str, ReportFormat] = {"json": "json", "geojson": "geojson", "csv": "csv"}

zoning_app = typer.Typer(
    help="Zoning syncs: the changes they found, and the syncs themselves.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

JurisdictionOption = Annotated[
    str | None, typer.Option(help="Only this jurisdiction's layers [default: all]")
]


@contextmanager
def _zoning_store(db: str | None) -> Iterator[SqlStore]:
    from parcelflow.pipelines.zoning.pipeline import sql_store

    store = open_store(db or Settings().db)
    try:
        yield sql_store(store)
    finally:
        store.close()


@contextmanager
def _synced(db: str | None) -> Iterator[sa.Connection]:
    """A read connection to a database that holds zoning syncs."""
    import sqlalchemy as sa

    from parcelflow.pipelines.zoning.store import syncs

    with _zoning_store(db) as store, store.connect() as conn:
        if not sa.inspect(conn).has_table(syncs.name):
            raise ConfigError("no zoning sync in this database; run: parcelflow run zoning SOURCE")
        yield conn


def _report_options(
    zoning_field: str, tolerance: float, normalize: list[str] | None
) -> ZoningOptions:
    from parcelflow.pipelines.zoning.options import ZoningOptions

    try:
        return ZoningOptions(
            zoning_field=zoning_field,
            reshape_tolerance_m=tolerance,
            normalize=tuple(normalize or ()),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "--" + ".".join(str(p) for p in first["loc"]).replace("_", "-")
        raise ConfigError(f"{where}: {first['msg']}") from exc


def _write(reports: list[LayerChanges], fmt: ReportFormat, out_file: Path | None) -> None:
    from parcelflow.pipelines.zoning.report import write_report

    if out_file is None:
        write_report(reports, fmt, sys.stdout)
        return
    with out_file.open("w", newline="", encoding="utf-8") as stream:
        write_report(reports, fmt, stream)
    changes = sum(len(r.changes) for r in reports)
    err.print(f"wrote {changes} changes of {len(reports)} layers to {out_file}", markup=False)


@zoning_app.command()
def changes(
    db: DbOption = None,
    jurisdiction: JurisdictionOption = None,
    since: Annotated[
        int | None,
        typer.Option(help="Compare this sync with its layer's last [default: the one before]"),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="json, geojson or csv")] = "json",
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write here instead of stdout.")
    ] = None,
    normalize: Annotated[
        list[str] | None,
        typer.Option(help="FIELD=NAME[,NAME...]: differences to ignore (repeatable)"),
    ] = None,
    zoning_field: Annotated[
        str, typer.Option(help="The attribute whose change is a rezoning.")
    ] = "ZONING",
    reshape_tolerance_m: Annotated[
        float, typer.Option(help="Geometry moves up to this many metres are not reshapes.")
    ] = 0.01,
) -> None:
    """What changed between two syncs of each layer: added, removed, rezoned, reshaped..."""
    from parcelflow.pipelines.zoning.report import change_report

    chosen = _REPORT_FORMATS.get(fmt)
    if chosen is None:
        raise ConfigError(f"--format must be json, geojson or csv, not {fmt!r}")
    options = _report_options(zoning_field, reshape_tolerance_m, normalize)
    with _synced(db) as conn:
        if since is not None:
            _check_since(conn, since)
        reports = change_report(conn, options, jurisdiction=jurisdiction, since=since)
    _write(reports, chosen, out_file)


def _check_since(conn: sa.Connection, since: int) -> None:
    from parcelflow.pipelines.zoning.store import list_syncs

    if all(sync.sync_id != since for sync in list_syncs(conn, finished_only=False)):
        raise ConfigError(f"--since {since}: no such zoning sync (see: parcelflow zoning syncs)")


def _sync_json(sync: SyncInfo) -> dict[str, Any]:
    return {
        "sync_id": sync.sync_id,
        "jurisdiction": sync.jurisdiction,
        "layer": sync.layer,
        "source": sync.source,
        "status": sync.status,
        "expected_count": sync.expected_count,
        "started_at": sync.started_at.isoformat(),
        "finished_at": sync.finished_at.isoformat() if sync.finished_at else None,
    }


def _print_syncs(found: list[SyncInfo]) -> None:
    table = Table(header_style="bold")
    for name in ("sync", "status", "counted", "started (UTC)", "jurisdiction"):
        table.add_column(name, no_wrap=True, justify="right" if name == "counted" else "left")
    table.add_column("layer", overflow="fold")  # a URL: folded whole rather than cut
    for s in found:
        counted = "" if s.expected_count is None else f"{s.expected_count:,}"
        started = s.started_at.strftime("%Y-%m-%d %H:%M")
        table.add_row(str(s.sync_id), s.status, counted, started, s.jurisdiction, s.layer)
    out.print(table)


@zoning_app.command()
def syncs(
    db: DbOption = None,
    jurisdiction: JurisdictionOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Every zoning sync, oldest first, open ones too (their ids are what --since takes)."""
    from parcelflow.pipelines.zoning.store import list_syncs

    with _synced(db) as conn:
        found = list_syncs(conn, jurisdiction, finished_only=False)
    if as_json:
        for sync in found:
            out.print(json.dumps(_sync_json(sync)), markup=False)
        return
    _print_syncs(found)
