"""Esri answers read with rings as arrays give exactly what plain parsing gives."""

from __future__ import annotations

import json
from typing import Any

import pytest

from parcelflow.pipelines.zoning.esrijson import read_answers
from parcelflow.pipelines.zoning.records import (
    PageBody,
    process_page,
    process_page_body,
    to_raw_page,
)


def _square(x: float, y: float, size: float, clockwise: bool = True) -> list[list[float]]:
    ring = [[x, y], [x, y + size], [x + size, y + size], [x + size, y], [x, y]]
    return ring if clockwise else ring[::-1]


def _feature(key: int, geometry: Any) -> dict[str, Any]:
    return {"attributes": {"OBJECTID": key, "NOTE": '"rings": [1]'}, "geometry": geometry}


def _answer(*features: dict[str, Any], **extra: Any) -> bytes:
    doc = {"spatialReference": {"wkid": 4326}, "features": list(features)} | extra
    return json.dumps(doc).encode()


VARIED = [
    _feature(1, {"rings": [_square(0, 0, 1)]}),
    _feature(2, {"rings": [_square(0, 0, 10), _square(2, 2, 6, False), _square(4, 4, 2)]}),
    _feature(3, {"rings": [_square(20, 0, 1), _square(30, 0, 1)]}),
    _feature(4, None),
    _feature(5, {"rings": []}),
    _feature(6, {"x": 1.5, "y": 2.5}),
    _feature(7, {"rings": [[[0, 0], [1, 1], [0, 0]]]}),  # degenerate
    _feature(8, {"rings": [[[0, 0], [0, 1], [1, 1], [1, 0]]]}),  # open
    _feature(9, {"rings": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}),  # bowtie
    _feature(10, {}),
]


def _both(*bodies: bytes) -> tuple[Any, Any]:
    body = PageBody("esri", answers=bodies, key_field="OBJECTID")
    return process_page_body(body), process_page(to_raw_page(body))


def test_the_fast_reading_applies_and_agrees_with_plain_parsing() -> None:
    answers = (_answer(*VARIED[:5], exceededTransferLimit=True), _answer(*VARIED[5:]))
    assert read_answers(answers) is not None
    fast, plain = _both(*answers)
    assert fast == plain
    assert [r.key for r in fast.rows] == ["1", "2", "3", "8", "9"]
    assert {r.key: r.code for r in fast.rejected} == {
        "4": "no_geometry",
        "5": "no_geometry",
        "6": "not_polygonal",
        "7": "broken_ring",
        "10": "no_geometry",
    }


def test_z_values_are_dropped_the_same_way() -> None:
    ring = [[x, y, 7.5] for x, y in _square(0, 0, 1)]
    answer = _answer(_feature(1, {"rings": [ring]}), _feature(2, {"rings": [ring]}))
    assert read_answers([answer]) is not None
    fast, plain = _both(answer)
    assert fast == plain and len(fast.rows) == 2


@pytest.mark.parametrize(
    ("geometry", "kept"),
    [
        ({"rings": [[[0, None], [0, 1], [1, 1], [0, 0]]]}, ["1"]),
        ({"rings": [[[0, 0], [0, 1, 5], [1, 1], [0, 0]]]}, ["1", "2"]),  # Z on one position
        ({"rings": [[[0, 0], [], [1, 1], [0, 0]]]}, ["1"]),
        ({"rings": [[[0, 0], [0, 1], [1, 1], [0, "NaN"]]]}, ["1"]),
    ],
)
def test_odd_rings_fall_back_to_plain_parsing(geometry: Any, kept: list[str]) -> None:
    answer = _answer(_feature(1, {"rings": [_square(0, 0, 1)]}), _feature(2, geometry))
    assert read_answers([answer]) is None
    fast, plain = _both(answer)
    assert fast == plain
    assert [r.key for r in fast.rows] == kept


@pytest.mark.parametrize(
    "body",
    [b'{"error": {"code": 400, "message": "Invalid query"}}', b"<html>down</html>", b"{"],
)
def test_errors_are_left_to_plain_parsing(body: bytes) -> None:
    assert read_answers([body]) is None
