"""The zoning store on real SQLite and PostgreSQL: versions, sightings, sync life cycle."""

from __future__ import annotations

import hashlib
import json

import pytest
import shapely
import sqlalchemy as sa

from parcelflow.errors import ConfigError
from parcelflow.pipelines.zoning import store
from parcelflow.pipelines.zoning.records import FeatureRow, Rejection


def _row(key: str, zoning: str, shift: float = 0.0) -> FeatureRow:
    geometry = shapely.box(-121.89 + shift, 37.33, -121.88 + shift, 37.34)
    wkb = shapely.to_wkb(geometry, output_dimension=2, byte_order=1)
    attrs = json.dumps({"ZONING": zoning, "ZONING_ID": int(key)}, sort_keys=True)
    return FeatureRow(
        key,
        attrs,
        hashlib.sha256(attrs.encode()).hexdigest(),
        wkb,
        hashlib.sha256(wkb).hexdigest(),
        "89283470d93ffff",
    )


def _begin(conn: sa.Connection) -> int:
    sync_id, _ = store.begin_sync(
        conn, jurisdiction="j", layer="l", source="s", key_field="ZONING_ID", expected_count=3
    )
    return sync_id


def _versions(conn: sa.Connection) -> list[tuple[str, int, int | None, str]]:
    f = store.features.c
    query = sa.select(f.feature_key, f.valid_from, f.valid_to, f.attrs).order_by(f.version_id)
    return [(k, a, b, json.loads(attrs)["ZONING"]) for k, a, b, attrs in conn.execute(query)]


def test_versions_rewrites_rejections_and_removals(engine: sa.Engine) -> None:
    store.create_tables(engine)
    with engine.begin() as conn:
        first = _begin(conn)
        stats = store.write_features(conn, first, [_row("1", "CG"), _row("2", "R-1-8")])
        assert stats == store.WriteStats(inserted=2)
        # The same key again in a later page of the same sync: updated in place.
        again = store.write_features(conn, first, [_row("2", "R-2"), _row("3", "LI")])
        assert again == store.WriteStats(inserted=1, rewritten=1)
        assert store.finish_sync(conn, first).removals_applied
    with engine.begin() as conn:
        second = _begin(conn)
        rows = [_row("1", "DC"), _row("2", "R-2")]
        refused = [Rejection("3", 4, "broken_ring", "a ring has fewer than 4 positions")]
        assert store.write_features(conn, second, rows, refused) == store.WriteStats(
            replaced=1, unchanged=1, rejected=1
        )
        summary = store.finish_sync(conn, second)
    assert (summary.seen, summary.rejected, summary.removed) == (2, 1, 0)
    assert [(r.key, r.code) for r in summary.rejections] == [("3", "broken_ring")]
    with engine.begin() as conn:
        assert _versions(conn) == [
            ("1", first, second, "CG"),
            ("2", first, None, "R-2"),
            ("3", first, None, "LI"),  # rejected, not removed: its last good version stays
            ("1", second, None, "DC"),
        ]
        third = _begin(conn)
        store.write_features(conn, third, [_row("1", "DC")])
        assert store.finish_sync(conn, third, close_missing=True).removed == 2
        before, after = store.changed_states(conn, "j", "l", second, third)
    assert set(before) == {"2", "3"} and after == {}


def test_sync_life_cycle(engine: sa.Engine) -> None:
    store.create_tables(engine)
    with engine.begin() as conn:
        opened = _begin(conn)
    with engine.begin() as conn:  # a run killed before finishing leaves it open: resume it
        resumed, was_open = store.begin_sync(
            conn, jurisdiction="j", layer="l", source="s2", key_field="ZONING_ID"
        )
        assert (resumed, was_open) == (opened, True)
        store.finish_sync(conn, opened)
    with engine.begin() as conn, pytest.raises(ConfigError, match="is finished"):
        store.write_features(conn, opened, [_row("1", "CG")])
    with engine.begin() as conn, pytest.raises(ConfigError, match="no zoning sync 999"):
        store.write_features(conn, 999, [])
    with engine.begin() as conn:
        assert [s.sync_id for s in store.list_syncs(conn, "j")] == [opened]
        assert store.sync_pair(conn, "j", "l") is None
