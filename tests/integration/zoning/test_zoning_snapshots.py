"""The 2015 → 2016 pair, where the ZONE_FILE format noise lives, diffed from the files.

Features go through the same processing as a sync (no server, no database) and
the pure diff; declaring ``ZONE_FILE=file_number`` must remove exactly the
format-only changes the oracle lists and keep every real one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoning_helpers import load_oracle

from parcelflow.pipelines.zoning.diff import DiffSettings, FeatureState, diff
from parcelflow.pipelines.zoning.normalize import Normalizers, file_number
from parcelflow.pipelines.zoning.records import RawPage, process_page


def _states(snapshot: dict[str, Any]) -> dict[str, FeatureState]:
    page = process_page(RawPage("geojson", snapshot["features"], key_field="ZONING_ID"))
    assert page.rejected == []
    return {r.key: FeatureState(r.key, r.attrs, r.wkb, r.geom_hash) for r in page.rows}


def test_zone_file_noise_is_declared_away_and_real_changes_stay(
    snapshots: dict[str, Any], zoning_data: Path
) -> None:
    oracle = load_oracle(zoning_data, "2015", "2016")
    before, after = _states(snapshots["2015"]), _states(snapshots["2016"])
    plain = DiffSettings(key_field="ZONING_ID")
    declared = DiffSettings(
        key_field="ZONING_ID", normalizers=Normalizers.parse(["ZONE_FILE=file_number"])
    )

    def attribute_keys(settings: DiffSettings) -> set[int]:
        kinds = {"rezoned", "attributes_changed"}
        return {int(c.key) for c in diff(before, after, settings) if c.kind in kinds}

    listed = {a["ZONING_ID"]: a["changed_fields"] for a in oracle["attributes_changed"]}
    noise_only = {
        key
        for key, fields in listed.items()
        if all(
            f == "ZONE_FILE" and file_number(a) == file_number(b) for f, (a, b) in fields.items()
        )
    }
    assert noise_only  # the oracle does hold format-only changes (PDC13-041 → 13041, …)
    assert attribute_keys(plain) == set(listed)
    assert attribute_keys(declared) == set(listed) - noise_only
    reshaped = {int(c.key) for c in diff(before, after, declared) if c.kind == "reshaped"}
    assert reshaped == set(oracle["geometry_changed"])
