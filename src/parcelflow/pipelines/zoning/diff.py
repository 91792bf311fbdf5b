"""Change detection between two snapshots of a layer: pure, no I/O.

Given the features of an older and a newer snapshot (keyed by the layer's key
field), :func:`diff` reports:

* ``rezoned`` — the zoning code field changed (other changed fields ride along);
* ``attributes_changed`` — other fields changed, the zoning code did not;
* ``reshaped`` — the geometry moved more than ``reshape_tolerance_m`` metres
  (Hausdorff distance; equal WKB is unchanged without measuring);
* ``id_changed`` — a removed and an added feature with the same attributes
  (key aside) and the same geometry within the tolerance: reported once, as
  one change, not as a removal plus an addition;
* ``added`` / ``removed`` — everything else present on one side only.

Attributes are compared through :class:`~parcelflow.pipelines.zoning.normalize.Normalizers`,
so declared format-only differences are not reported. A feature may carry two
changes (``rezoned`` and ``reshaped``), never the same kind twice.

The snapshots may be partial: a key absent from both had no change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import shapely  # type: ignore[import-untyped]

from parcelflow.pipelines.zoning.geometry import metre_bounds_shift, metre_hausdorff
from parcelflow.pipelines.zoning.normalize import Normalizers

__all__ = [
    "CHANGE_KINDS",
    "Change",
    "ChangeKind",
    "DiffSettings",
    "FeatureState",
    "counts",
    "diff",
    "natural_key",
]

ChangeKind = Literal["added", "removed", "rezoned", "attributes_changed", "reshaped", "id_changed"]
CHANGE_KINDS: tuple[ChangeKind, ...] = (
    "added",
    "removed",
    "rezoned",
    "attributes_changed",
    "reshaped",
    "id_changed",
)
_DIGITS = re.compile(r"(\d+)")


@dataclass(frozen=True, slots=True)
class FeatureState:
    """One feature as a snapshot holds it.

    Attributes:
        key: the key field's value, as text.
        attrs: the attributes as stored.
        wkb: the EPSG:4326 geometry as WKB.
        geom_hash: SHA-256 of ``wkb``.
    """

    key: str
    attrs: Mapping[str, Any]
    wkb: bytes
    geom_hash: str


@dataclass(frozen=True, slots=True)
class Change:
    """One reported change.

    Attributes:
        kind: what changed.
        key: the feature's key (for ``id_changed``, the old key).
        before: attributes before (``None`` for ``added``).
        after: attributes after (``None`` for ``removed``).
        fields: changed fields as ``{name: (before, after)}``, stored values.
        wkb_before: geometry before, when there was one.
        wkb_after: geometry after, when there is one.
        distance_m: Hausdorff distance in metres (``reshaped``, ``id_changed``).
        new_key: the key after (``id_changed`` only).
    """

    kind: ChangeKind
    key: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    fields: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    wkb_before: bytes | None = None
    wkb_after: bytes | None = None
    distance_m: float | None = None
    new_key: str | None = None


@dataclass(frozen=True)
class DiffSettings:
    """How to compare.

    Attributes:
        zoning_field: the field whose change makes a feature ``rezoned``.
        key_field: left out when matching removals to additions (``id_changed``).
        reshape_tolerance_m: geometry moves up to this many metres are not reshapes.
        normalizers: per-field normalisers and ignored fields.
    """

    zoning_field: str = "ZONING"
    key_field: str | None = None
    reshape_tolerance_m: float = 0.01
    normalizers: Normalizers = field(default_factory=Normalizers)


def natural_key(text: str) -> tuple[Any, ...]:
    """Sort key that orders ``"9"`` before ``"10"``."""
    return tuple(int(p) if p.isdigit() else p for p in _DIGITS.split(text))


def _changed_fields(
    before: Mapping[str, Any], after: Mapping[str, Any], settings: DiffSettings
) -> dict[str, tuple[Any, Any]]:
    norm = settings.normalizers
    names = sorted((before.keys() | after.keys()) - norm.ignore)
    return {
        name: (before.get(name), after.get(name))
        for name in names
        if norm.value(name, before.get(name)) != norm.value(name, after.get(name))
    }


def _attribute_change(
    old: FeatureState, new: FeatureState, settings: DiffSettings
) -> Change | None:
    changed = _changed_fields(old.attrs, new.attrs, settings)
    if not changed:
        return None
    kind: ChangeKind = "rezoned" if settings.zoning_field in changed else "attributes_changed"
    return Change(kind, old.key, old.attrs, new.attrs, changed, old.wkb, new.wkb)


def _distances(pairs: list[tuple[FeatureState, FeatureState]]) -> npt.NDArray[np.float64]:
    before = np.asarray(shapely.from_wkb([a.wkb for a, _ in pairs]), dtype=object)
    after = np.asarray(shapely.from_wkb([b.wkb for _, b in pairs]), dtype=object)
    return metre_hausdorff(before, after)


def _reshapes(
    pairs: list[tuple[FeatureState, FeatureState]], settings: DiffSettings
) -> list[Change]:
    moved = [(a, b) for a, b in pairs if a.geom_hash != b.geom_hash]
    if not moved:
        return []
    distances = _distances(moved)
    return [
        Change("reshaped", a.key, a.attrs, b.attrs, {}, a.wkb, b.wkb, float(d))
        for (a, b), d in zip(moved, distances, strict=True)
        if d > settings.reshape_tolerance_m
    ]


def _signature(state: FeatureState, settings: DiffSettings) -> str:
    attrs = settings.normalizers.attributes(state.attrs)
    attrs.pop(settings.key_field or "", None)
    return json.dumps(attrs, sort_keys=True, default=str)


def _candidate_pairs(
    removed: list[FeatureState], added: list[FeatureState], settings: DiffSettings
) -> list[tuple[int, int]]:
    """Removed/added index pairs with equal signatures whose geometries intersect."""
    if not removed or not added:
        return []
    old = shapely.from_wkb([s.wkb for s in removed])
    new = shapely.from_wkb([s.wkb for s in added])
    new_at, old_at = shapely.STRtree(old).query(new, predicate="intersects")
    old_sig = [_signature(s, settings) for s in removed]
    new_sig = [_signature(s, settings) for s in added]
    return [
        (int(o), int(n))
        for n, o in zip(new_at.tolist(), old_at.tolist(), strict=True)
        if old_sig[o] == new_sig[n]
    ]


def _close_boxes(
    pairs: list[tuple[FeatureState, FeatureState]], tolerance_m: float
) -> npt.NDArray[np.bool_]:
    """Pairs whose bounding boxes are within the tolerance of each other.

    Each edge of a bounding box moves by at most the Hausdorff distance, so a
    pair failing this cheap test cannot be within the tolerance: the costly
    (quadratic) Hausdorff measure is spared for the few that pass.
    """
    a = np.asarray(shapely.from_wkb([p[0].wkb for p in pairs]), dtype=object)
    b = np.asarray(shapely.from_wkb([p[1].wkb for p in pairs]), dtype=object)
    # 1% slack: the metre scale of the boxes is the same approximation as the measure's.
    return np.asarray(metre_bounds_shift(a, b) <= tolerance_m * 1.01 + 1e-9, dtype=bool)


def _match_renamed(
    removed: list[FeatureState], added: list[FeatureState], settings: DiffSettings
) -> list[tuple[int, int, float]]:
    """Greedy one-to-one matches of removals to additions, closest first."""
    candidates = _candidate_pairs(removed, added, settings)
    if candidates:
        pairs = [(removed[o], added[n]) for o, n in candidates]
        close = _close_boxes(pairs, settings.reshape_tolerance_m)
        candidates = [c for c, ok in zip(candidates, close.tolist(), strict=True) if ok]
    if not candidates:
        return []
    distances = _distances([(removed[o], added[n]) for o, n in candidates])
    used_old: set[int] = set()
    used_new: set[int] = set()
    matches = []
    for i in np.argsort(distances, kind="stable"):
        (o, n), d = candidates[i], float(distances[i])
        if d <= settings.reshape_tolerance_m and o not in used_old and n not in used_new:
            used_old.add(o)
            used_new.add(n)
            matches.append((o, n, d))
    return matches


def _one_sided(
    removed: list[FeatureState], added: list[FeatureState], settings: DiffSettings
) -> list[Change]:
    matches = _match_renamed(removed, added, settings)
    changes = [
        Change(
            "id_changed",
            removed[o].key,
            removed[o].attrs,
            added[n].attrs,
            _changed_fields(removed[o].attrs, added[n].attrs, settings),
            removed[o].wkb,
            added[n].wkb,
            d,
            added[n].key,
        )
        for o, n, d in matches
    ]
    gone = {o for o, _, _ in matches}
    new = {n for _, n, _ in matches}
    changes += [
        Change("removed", s.key, s.attrs, None, {}, s.wkb, None)
        for i, s in enumerate(removed)
        if i not in gone
    ]
    changes += [
        Change("added", s.key, None, s.attrs, {}, None, s.wkb)
        for i, s in enumerate(added)
        if i not in new
    ]
    return changes


def diff(
    before: Mapping[str, FeatureState],
    after: Mapping[str, FeatureState],
    settings: DiffSettings | None = None,
) -> list[Change]:
    """Every change from ``before`` to ``after``, ordered by kind then key.

    Args:
        before: the older snapshot (or the part of it that may have changed).
        after: the newer snapshot (likewise).
        settings: zoning field, key field, tolerance and normalisers.
    """
    settings = settings or DiffSettings()
    common = [(before[k], after[k]) for k in before.keys() & after.keys()]
    changes = [c for a, b in common if (c := _attribute_change(a, b, settings)) is not None]
    changes += _reshapes(common, settings)
    removed = [before[k] for k in sorted(before.keys() - after.keys(), key=natural_key)]
    added = [after[k] for k in sorted(after.keys() - before.keys(), key=natural_key)]
    changes += _one_sided(removed, added, settings)
    order = {kind: i for i, kind in enumerate(CHANGE_KINDS)}
    return sorted(changes, key=lambda c: (order[c.kind], natural_key(c.key)))


def counts(changes: Iterable[Change]) -> dict[str, int]:
    """Number of changes of each kind (every kind present, zero included)."""
    tally: dict[str, int] = dict.fromkeys(CHANGE_KINDS, 0)
    for change in changes:
        tally[change.kind] += 1
    return tally
