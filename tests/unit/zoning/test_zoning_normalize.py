"""Value normalisers: declared format-only differences compare equal."""

from __future__ import annotations

import pytest

from parcelflow.errors import ConfigError
from parcelflow.pipelines.zoning.normalize import Normalizers, file_number, shape_metric_fields


# The pairs San Jose's ZONE_FILE actually went through between snapshots (PROVENANCE.md).
@pytest.mark.parametrize(
    ("before", "after"),
    [("PDC13-041", "13041"), ("PDC13-012", "13012"), ("14-007", "14007"), ("14-037", "14-37")],
)
def test_file_numbers_written_differently_are_equal(before: str, after: str) -> None:
    assert file_number(before) == file_number(after)


@pytest.mark.parametrize(
    ("before", "after"),
    [("99060", "13041"), ("13007", "15003"), ("", "14071"), ("12023", "13051")],
)
def test_real_rezonings_stay_different(before: str, after: str) -> None:
    assert file_number(before) != file_number(after)


@pytest.mark.parametrize("value", ["", "  ", "CITYWIDE", "1304123", None, 13041])
def test_values_that_are_not_file_numbers_pass_through(value: object) -> None:
    expected = value.strip() if isinstance(value, str) else value
    assert file_number(value) == expected


def test_specs_build_chains_defaults_and_ignores() -> None:
    norm = Normalizers.parse(["ZONE_FILE=file_number", "*=strip,upper", "OBJECTID=ignore"])
    assert norm.value("ZONE_FILE", "PDC13-041") == "13041"
    assert norm.value("OWNER", "  niece jermey  ") == "NIECE JERMEY"
    assert norm.attributes({"OBJECTID": 4, "OWNER": " a "}) == {"OWNER": "A"}


def test_regex_steps_may_hold_commas_and_come_last() -> None:
    norm = Normalizers.parse([r"PLAN=strip,regex:^PLN-?(\d{1,3},?\d*)$=>\1"])
    assert norm.value("PLAN", " PLN-12,5 ") == "12,5"


@pytest.mark.parametrize(
    ("step", "value", "expected"),
    [
        ("number", "7", 7),
        ("number", 7.0, 7),
        ("number", "7.5", 7.5),
        ("blank_is_null", "  ", None),
        ("digits", "PD-13/041", "13041"),
        ("collapse_spaces", "A   B", "A B"),
        ("round:1", 58.74, 58.7),
        ("lower", "CG", "cg"),
    ],
)
def test_builtin_steps(step: str, value: object, expected: object) -> None:
    assert Normalizers.parse([f"F={step}"]).value("F", value) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("ZONE_FILE", "FIELD=NAME"),
        ("=strip", "FIELD=NAME"),
        ("ZONE_FILE=", "FIELD=NAME"),
        ("ZONE_FILE=shout", "unknown normaliser"),
        ("ZONE_FILE=regex:(unclosed=>x", "bad regex"),
        ("ZONE_FILE=regex:abc", "PATTERN=>REPLACEMENT"),
    ],
)
def test_bad_specs_say_how_to_fix_them(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Normalizers.parse([spec])


def test_shape_metric_fields_of_real_layers() -> None:
    names = ["PPN", "SHAPE.STArea()", "SHAPE.STLength()", "Shape_Length", "Shape_Area", "ZONING"]
    assert shape_metric_fields(names) == {
        "SHAPE.STArea()",
        "SHAPE.STLength()",
        "Shape_Length",
        "Shape_Area",
    }
