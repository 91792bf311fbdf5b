"""Change detection between two snapshots (pure; synthetic features)."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import shapely

from parcelflow.pipelines.zoning.diff import Change, DiffSettings, FeatureState, counts, diff
from parcelflow.pipelines.zoning.normalize import Normalizers

BASE = shapely.box(-121.890, 37.330, -121.889, 37.331)


def _state(key: str, geometry: Any = BASE, **attrs: Any) -> FeatureState:
    wkb = shapely.to_wkb(geometry, output_dimension=2, byte_order=1)
    values = {"ZONING_ID": int(key), "ZONING": "R-1-8", "ZONE_FILE": ""} | attrs
    return FeatureState(key, values, wkb, hashlib.sha256(wkb).hexdigest())


def _moved(metres_north: float) -> Any:
    degrees = metres_north / 110_574.0
    return shapely.transform(BASE, lambda c: c + np.array([0.0, degrees]))


def _kinds(changes: list[Change]) -> list[tuple[str, str]]:
    return [(c.kind, c.key) for c in changes]


SETTINGS = DiffSettings(key_field="ZONING_ID", reshape_tolerance_m=0.5)


def test_identical_snapshots_have_no_changes() -> None:
    snapshot = {"1": _state("1"), "2": _state("2", ZONING="CG")}
    assert diff(snapshot, dict(snapshot), SETTINGS) == []


def test_a_zoning_code_change_is_a_rezoning_with_all_changed_fields() -> None:
    before = {"1": _state("1", ZONING="CG", ZONE_FILE="")}
    after = {"1": _state("1", ZONING="DC", ZONE_FILE="14071")}
    [change] = diff(before, after, SETTINGS)
    assert change.kind == "rezoned"
    assert change.fields == {"ZONING": ("CG", "DC"), "ZONE_FILE": ("", "14071")}
    assert change.before is not None and change.before["ZONING"] == "CG"
    assert change.after is not None and change.after["ZONING"] == "DC"


def test_other_field_changes_are_attribute_changes() -> None:
    before = {"1": _state("1", PD_USE="Mix")}
    after = {"1": _state("1", PD_USE="Res")}
    assert _kinds(diff(before, after, SETTINGS)) == [("attributes_changed", "1")]


def test_declared_format_noise_is_not_a_change() -> None:
    before = {"1": _state("1", ZONE_FILE="PDC13-041"), "2": _state("2", ZONE_FILE="14-037")}
    after = {"1": _state("1", ZONE_FILE="13041"), "2": _state("2", ZONE_FILE="14-37")}
    assert len(diff(before, after, SETTINGS)) == 2
    noisy = DiffSettings(
        key_field="ZONING_ID", normalizers=Normalizers.parse(["ZONE_FILE=file_number"])
    )
    assert diff(before, after, noisy) == []


def test_ignored_fields_are_not_compared() -> None:
    before = {"1": _state("1", OBJECTID=10, Shape_Area=5.0)}
    after = {"1": _state("1", OBJECTID=99, Shape_Area=5.1)}
    quiet = DiffSettings(normalizers=Normalizers(ignore=frozenset({"OBJECTID", "Shape_Area"})))
    assert diff(before, after, quiet) == []


def test_moves_within_tolerance_are_not_reshapes() -> None:
    before = {"1": _state("1"), "2": _state("2")}
    after = {"1": _state("1", _moved(0.2)), "2": _state("2", _moved(3.0))}
    [change] = diff(before, after, SETTINGS)
    assert (change.kind, change.key) == ("reshaped", "2")
    assert change.distance_m is not None and 2.9 < change.distance_m < 3.1
    assert change.wkb_before is not None and change.wkb_after is not None


def test_a_feature_can_be_rezoned_and_reshaped_at_once() -> None:
    before = {"7711": _state("7711", ZONING="LI")}
    after = {"7711": _state("7711", _moved(150.0), ZONING="CIC")}
    assert _kinds(diff(before, after, SETTINGS)) == [("rezoned", "7711"), ("reshaped", "7711")]


def test_a_new_key_for_the_same_feature_is_reported_once() -> None:
    before = {"7719": _state("7719", ZONING="DC")}
    after = {"8270": _state("8270", _moved(0.1), ZONING="DC")}
    [change] = diff(before, after, SETTINGS)
    assert change.kind == "id_changed"
    assert (change.key, change.new_key) == ("7719", "8270")
    assert change.fields == {"ZONING_ID": (7719, 8270)}


def test_removal_and_addition_that_differ_are_not_an_id_change() -> None:
    far = shapely.box(-121.80, 37.30, -121.79, 37.31)
    before = {"1": _state("1"), "2": _state("2", ZONING="CG")}
    after = {"3": _state("3", far), "4": _state("4", ZONING="DC")}
    assert _kinds(diff(before, after, SETTINGS)) == [
        ("added", "3"),
        ("added", "4"),
        ("removed", "1"),
        ("removed", "2"),
    ]


def test_id_changes_pair_each_feature_once_closest_first() -> None:
    before = {"1": _state("1"), "2": _state("2", _moved(0.3))}
    after = {"10": _state("10", _moved(0.3)), "11": _state("11", _moved(0.05))}
    pairs = {(c.key, c.new_key) for c in diff(before, after, SETTINGS)}
    assert pairs == {("2", "10"), ("1", "11")}


def test_counts_cover_every_kind() -> None:
    before = {"1": _state("1")}
    after = {"2": _state("2", shapely.box(0, 0, 1, 1))}
    assert counts(diff(before, after, SETTINGS)) == {
        "added": 1,
        "removed": 1,
        "rezoned": 0,
        "attributes_changed": 0,
        "reshaped": 0,
        "id_changed": 0,
    }


def test_changes_are_ordered_by_kind_then_natural_key() -> None:
    after = {
        k: _state(k, shapely.box(i, 0, i + 0.5, 0.5)) for i, k in enumerate(["10", "9", "100"])
    }
    assert [c.key for c in diff({}, after, SETTINGS)] == ["9", "10", "100"]
