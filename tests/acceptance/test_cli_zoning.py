"""``parcelflow run zoning`` and ``parcelflow zoning`` as a user runs them.

The CLI runs in a subprocess against a real ArcGIS feature layer on loopback
(:class:`~parcelflow.testing.ArcGISServer`, in this test process) serving the
San Jose snapshots in their native EPSG:2227, a small ``maxRecordCount`` so a
sync takes many pages, and injected faults. What the server received is read
from its request log; what the CLI committed, from the SQLite file, read-only.
"""

from __future__ import annotations

import csv
import io
import json
import socket
from pathlib import Path
from typing import Any

import h3
import numpy as np
import pyproj
import pytest
import shapely
from cli_harness import Cli, base_env, explain, kill_group, wait_for

from parcelflow.testing import ArcGISServer, Fault

SNAPSHOTS = {
    "2014": "san_jose_zoning_2014-07-23_downtown.geojson",
    "2016": "san_jose_zoning_2016-03-24_downtown.geojson",
}
ORACLE = "expected_changes_2014-07-23_to_2016-03-24.json"
KEY = "ZONING_ID"
JURISDICTION = "San Jose"
TOLERANCE_M = 0.01  # the default --reshape-tolerance-m
FEET = 0.3048006096  # US survey foot, EPSG:2227's unit
SYNC = (
    "--key-field", KEY,
    "--jurisdiction", JURISDICTION,
    "--normalize", "ZONE_FILE=file_number",
    "--rate", "50/s",
    "--processes", "2",
)  # fmt: skip


@pytest.fixture(scope="module")
def san_jose(shared_data: Path) -> Path:
    """The San Jose snapshots and the maintainers' expected changes."""
    folder = shared_data / "zoning" / "san_jose"
    if not folder.is_dir():
        pytest.skip(f"zoning data not found under {shared_data}")
    return folder


def _snapshot(san_jose: Path, year: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((san_jose / SNAPSHOTS[year]).read_text())
    return doc


def _sync(cli: Cli, source: str, *extra: str, code: int = 0) -> dict[str, Any]:
    done = cli("run", "zoning", source, *SYNC, *extra, "--json")
    assert done.returncode == code, explain(done)
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


def _changes(cli: Cli, *args: str) -> dict[str, Any]:
    done = cli("zoning", "changes", "--normalize", "ZONE_FILE=file_number", *args)
    assert done.returncode == 0, explain(done)
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def _one_line_error(done: Any) -> str:
    """The one ``parcelflow: error:`` line of a command that must exit 2."""
    assert done.returncode == 2, explain(done)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("parcelflow: error: "), explain(done)
    return str(lines[0])


# -- the oracle: same rules as tests/integration/zoning/test_zoning_sync.py -------------------


def _keys(changes: list[dict[str, Any]], kind: str) -> set[int]:
    return {int(c["key"]) for c in changes if c["kind"] == kind}


def _by_id(snapshot: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {f["properties"][KEY]: f for f in snapshot["features"]}


def _metres_apart(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Hausdorff distance measured independently: in EPSG:2227 feet, converted to metres."""
    to_feet = pyproj.Transformer.from_crs(4326, 2227, always_xy=True)

    def project(coords: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return np.column_stack(to_feet.transform(coords[:, 0], coords[:, 1]))

    shapes = [shapely.from_geojson(json.dumps(f["geometry"])) for f in (a, b)]
    moved = [shapely.transform(s, project) for s in shapes]
    return float(shapely.hausdorff_distance(*moved)) * FEET


def _check_attribute_changes(changes: list[dict[str, Any]], oracle: dict[str, Any]) -> None:
    listed = {a[KEY]: a["changed_fields"] for a in oracle["attributes_changed"]}
    rezoned, other = _keys(changes, "rezoned"), _keys(changes, "attributes_changed")
    assert rezoned | other == set(listed)
    assert rezoned == {k for k, fields in listed.items() if "ZONING" in fields}
    for change in changes:
        if change["kind"] in {"rezoned", "attributes_changed"}:
            fields = {k: [v["before"], v["after"]] for k, v in change["fields"].items()}
            assert fields == listed[int(change["key"])]


def _check_oracle(
    changes: list[dict[str, Any]], oracle: dict[str, Any], old: dict[str, Any], new: dict[str, Any]
) -> None:
    _check_attribute_changes(changes, oracle)
    assert _keys(changes, "reshaped") == set(oracle["geometry_changed"])
    pairs = {(int(c["key"]), int(c["new_key"])) for c in changes if c["kind"] == "id_changed"}
    assert _keys(changes, "added") | {n for _, n in pairs} == {a[KEY] for a in oracle["added"]}
    assert _keys(changes, "removed") | {o for o, _ in pairs} == {r[KEY] for r in oracle["removed"]}
    before, after = _by_id(old), _by_id(new)
    for o, n in pairs:  # what the oracle cannot say: one feature under a new key
        same = {k: v for k, v in before[o]["properties"].items() if k != KEY}
        assert same == {k: v for k, v in after[n]["properties"].items() if k != KEY}
        assert _metres_apart(before[o], after[n]) <= TOLERANCE_M + 1e-3
    added = {a[KEY]: a["new"] for a in oracle["added"]}
    for change in changes:
        if change["kind"] == "added":
            assert change["after"] == added[int(change["key"])]


def _check_rfc7946(doc: dict[str, Any], source: dict[str, Any], last_sync: int) -> None:
    assert doc["type"] == "FeatureCollection" and "crs" not in doc  # RFC 7946 §4: WGS84 only
    by_id = _by_id(source)
    assert len(doc["features"]) == len(by_id)
    for feature in doc["features"]:
        geometry = shapely.from_geojson(json.dumps(feature["geometry"]))
        assert geometry.is_valid and geometry.geom_type in {"Polygon", "MultiPolygon"}
        polygons = getattr(geometry, "geoms", [geometry])
        assert all(shapely.is_ccw(p.exterior) for p in polygons)  # RFC 7946 §3.1.6
        xmin, ymin, xmax, ymax = geometry.bounds  # longitude/latitude, not feet
        assert xmin > -121.951 and xmax < -121.778 and ymin > 37.228 and ymax < 37.424
        props = feature["properties"]
        assert h3.is_valid_cell(props.pop("h3"))
        assert props.pop("jurisdiction") == JURISDICTION
        assert 1 <= props.pop("sync_id") <= last_sync
        assert props == by_id[props[KEY]]["properties"]


def _feature_versions(cli: Cli) -> list[tuple[Any, ...]]:
    return cli.sql("SELECT version_id, valid_from, valid_to FROM zoning_features ORDER BY 1")


# -- two snapshots through the CLI ----------------------------------------------------------


def test_two_snapshots_report_the_oracle_changes_export_and_verify(
    cli: Cli, san_jose: Path
) -> None:
    old, new = _snapshot(san_jose, "2014"), _snapshot(san_jose, "2016")
    oracle = json.loads((san_jose / ORACLE).read_text())
    with ArcGISServer(san_jose / SNAPSHOTS["2014"], max_record_count=100) as server:
        server.inject(Fault("503", offset=200), Fault("429", offset=500, retry_after=1))
        first = _sync(cli, server.layer_url)
        assert (first["committed"], first["dead"], first["rejected"]) == (12, 0, 0)
        assert server.count("page", fault="503") == server.count("page", fault="429") == 1
        assert server.count("page") == 12 + 2  # the two refused pages were asked again
        assert "sync 1 finished: 1138 features received, 1138 counted" in first["report"][0]
        assert {j["attempts"] for j in cli.jobs()} == {1}  # retried in the call, not the job

        server.load(san_jose / SNAPSHOTS["2016"])
        second = _sync(cli, server.layer_url)
        assert second["committed"] == 12 and "sync 2 finished" in second["report"][0]
        assert any("changes since sync 1: added 41" in line for line in second["report"])

        report = _changes(cli)
        [layer] = report["layers"]
        assert (layer["jurisdiction"], layer["from_sync"], layer["to_sync"]) == (JURISDICTION, 1, 2)
        _check_oracle(layer["changes"], oracle, old, new)
        _check_other_report_formats(cli, layer)
        _check_export(cli, new)

        versions = _feature_versions(cli)
        third = _sync(cli, server.layer_url)  # nothing changed on the server
    assert third["committed"] == 12 and "0 no longer served" in third["report"][0]
    assert any("changes since sync 2: none" in line for line in third["report"])
    assert _feature_versions(cli) == versions  # not one row written
    [again] = _changes(cli)["layers"]
    assert (again["from_sync"], again["to_sync"], again["changes"]) == (2, 3, [])
    [since] = _changes(cli, "--since", "1")["layers"]
    assert since["counts"] == layer["counts"]

    audit = cli("audit", "verify")
    assert audit.returncode == 0 and "reconciles" in audit.stdout, explain(audit)


def _check_other_report_formats(cli: Cli, layer: dict[str, Any]) -> None:
    done = cli("zoning", "changes", "--format", "geojson")
    assert done.returncode == 0, explain(done)
    features = json.loads(done.stdout)["features"]
    assert len(features) == len(layer["changes"])
    assert all(f["geometry"]["type"] in {"Polygon", "MultiPolygon"} for f in features)
    assert {f["properties"]["kind"] for f in features} == {c["kind"] for c in layer["changes"]}

    done = cli("zoning", "changes", "--format", "csv", "--out", "changes.csv")
    assert done.returncode == 0 and "wrote" in done.stderr, explain(done)
    rows = list(csv.DictReader(io.StringIO((cli.root / "changes.csv").read_text())))
    assert {r["kind"] for r in rows} == {k for k, n in layer["counts"].items() if n}
    assert {r["field"] for r in rows if r["kind"] == "rezoned"} >= {"ZONING"}


def _check_export(cli: Cli, source: dict[str, Any]) -> None:
    done = cli("export", "zoning", "--format", "geojson", "--out", "zoning.geojson")
    assert done.returncode == 0 and "wrote 1153 zoning records" in done.stderr, explain(done)
    _check_rfc7946(json.loads((cli.root / "zoning.geojson").read_text()), source, last_sync=2)
    lines = cli("export", "zoning", "--format", "jsonl").stdout.splitlines()
    assert len(lines) == 1153 and json.loads(lines[0])["type"] == "Feature"


# -- killed mid-sync, then resumed ------------------------------------------------------------


def _committed_pages(cli: Cli) -> int:
    return int(cli.sql("SELECT count(*) FROM pf_jobs WHERE state = 'committed'")[0][0])


def _committed_offsets(cli: Cli, size: int) -> set[int]:
    """``resultOffset`` of each committed page (job sources end ``page N``, from 1)."""
    rows = cli.sql("SELECT source FROM pf_jobs WHERE state = 'committed'")
    return {size * (int(source.rsplit(" ", 1)[1]) - 1) for (source,) in rows}


def test_sync_killed_mid_way_resumes_fetching_only_uncommitted_pages(
    cli: Cli, san_jose: Path, reaper: list[Any]
) -> None:
    pages = 23  # 1,138 features, 50 a page
    with ArcGISServer(san_jose / SNAPSHOTS["2014"], max_record_count=50) as server:
        # The last page answers only after the run is killed: it cannot end first.
        server.inject(Fault("slow", offset=50 * (pages - 1), delay=30.0))
        proc = cli.popen("run", "zoning", server.layer_url, *SYNC, stderr=cli.root / "run1.err")
        reaper.append(proc)
        reached = wait_for(lambda: _committed_pages(cli) >= 8, timeout=60, proc=proc)
        kill_group(proc)
        assert reached, (cli.root / "run1.err").read_text()[-2000:]
        committed = _committed_pages(cli)
        assert 8 <= committed < pages
        assert cli.sql("SELECT count(*) FROM zoning_pages") == [(committed,)]
        uncommitted = set(range(0, 50 * pages, 50)) - _committed_offsets(cli, 50)

        server.clear()
        done = _sync(cli, server.layer_url)
        asked = [int(r.params["resultOffset"]) for r in server.requests if r.kind == "page"]
    # Committed pages are not fetched again; every other page is, once.
    assert sorted(asked) == sorted(uncommitted)
    assert (done["duplicate"], done["committed"]) == (committed, pages - committed)
    assert "sync 1 (resumed) finished: 1138 features received, 1138" in done["report"][0]
    assert cli.sql("SELECT sync_id, status FROM zoning_syncs") == [(1, "finished")]
    current = "SELECT count(*), count(DISTINCT feature_key) FROM zoning_features"
    assert cli.sql(current + " WHERE valid_to IS NULL") == [(1138, 1138)]
    assert cli.sql("SELECT count(*) FROM zoning_pages") == [(pages,)]
    audit = cli("audit", "verify")
    assert audit.returncode == 0 and "reconciles" in audit.stdout, explain(audit)


def test_a_page_that_stays_down_leaves_the_sync_open_until_replayed(
    tmp_path: Path, san_jose: Path
) -> None:
    cli = Cli(tmp_path, base_env(PARCELFLOW_MAX_ATTEMPTS="2", PARCELFLOW_RETRY_BASE_S="0.05"))
    with ArcGISServer(san_jose / SNAPSHOTS["2014"], max_record_count=200) as server:
        server.inject(Fault("503", offset=400, times=50))  # down for both attempts of one page
        first = _sync(cli, server.layer_url, code=1)
        assert (first["committed"], first["dead"]) == (5, 1)
        assert "sync 1 left open: 1 of 6 pages not committed (dead 1)" in first["report"][0]
        assert cli.sql("SELECT status FROM zoning_syncs") == [("open",)]  # nothing removed

        server.clear()  # the page is back
        replayed = cli("replay", "--state", "dead", "--json")
        assert replayed.returncode == 0, explain(replayed)
        assert json.loads(replayed.stdout)["committed"] == 1
        done = _sync(cli, server.layer_url)
        assert server.count("page") == 1  # replayed; the rerun fetched nothing
    assert (done["duplicate"], done["committed"]) == (6, 0)
    assert "sync 1 (resumed) finished: 1138 features received, 1138" in done["report"][0]
    assert cli.sql("SELECT count(*) FROM zoning_features WHERE valid_to IS NULL") == [(1138,)]


# -- other sources, bad sources ----------------------------------------------------------------


def test_a_geojson_file_is_a_source_too(cli: Cli, san_jose: Path) -> None:
    path = san_jose / SNAPSHOTS["2014"]
    done = _sync(cli, str(path), "--page-size", "400")
    assert done["committed"] == 3  # 1,138 features in slices of 400
    assert "1138 features received, 1138 counted" in done["report"][0]
    lines = cli("export", "zoning", "--format", "jsonl").stdout.splitlines()
    features = [json.loads(line) for line in lines]
    assert len(features) == 1138
    assert {f["properties"]["jurisdiction"] for f in features} == {JURISDICTION}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there


def test_sources_that_cannot_be_synced_exit_2_with_one_line(cli: Cli, san_jose: Path) -> None:
    dead = f"http://127.0.0.1:{_closed_port()}/arcgis/rest/services/Zoning/FeatureServer/0"
    assert "cannot connect to 127.0.0.1" in _one_line_error(cli("run", "zoning", dead))
    with ArcGISServer(san_jose / SNAPSHOTS["2014"]) as server:
        service = _one_line_error(cli("run", "zoning", server.service_url))
        assert "is a service, not a layer" in service
        missing = _one_line_error(cli("run", "zoning", server.service_url + "/7"))
        assert "is not a readable layer" in missing
        no_field = _one_line_error(cli("run", "zoning", server.layer_url, "--key-field", "NOPE"))
        assert "--key-field NOPE is not a field" in no_field
        in_memory = cli("run", "zoning", server.layer_url, "--db", "memory://", db=False)
        memory = _one_line_error(in_memory)
        assert "zoning needs a SQL database" in memory
    assert cli.sql("SELECT count(*) FROM pf_jobs") == [(0,)]  # nothing was submitted

    assert "no zoning sync" in _one_line_error(cli("zoning", "changes"))
    _sync(cli, str(san_jose / SNAPSHOTS["2014"]), "--page-size", "600")
    assert "two finished syncs" in _one_line_error(cli("zoning", "changes"))
    assert "--since 9" in _one_line_error(cli("zoning", "changes", "--since", "9"))
    assert "--format" in _one_line_error(cli("zoning", "changes", "--format", "xml"))


def test_every_normalize_given_to_run_is_used(cli: Cli, san_jose: Path) -> None:
    source = str(san_jose / SNAPSHOTS["2014"])
    done = cli("run", "zoning", source, "--normalize", "bogus", "--normalize", "ZONE_FILE=strip")
    assert "normaliser 'bogus'" in _one_line_error(done)  # the first rule must be read too
