"""Property-based tests of the readers and the scenario parser (hypothesis).

Whatever the input, a reader either loads it with every row accounted for (rows in = rows kept +
rows rejected) or raises a ``PatchplanError`` whose message names the file; never another
exception. The examples are derandomised so CI repeats itself; ``PATCHPLAN_EXPLORE=1`` draws fresh
ones, 20 times as many (run it after changing a reader).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
import study_files as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patchplan.boundaries import load_layer
from patchplan.demand import CODEPOINT_COLUMNS, load_demand, load_postcodes
from patchplan.errors import PatchplanError, ScenarioError
from patchplan.scenario import SECTIONS, Scenario

EXPLORE = bool(os.environ.get("PATCHPLAN_EXPLORE"))


def examples(n: int) -> settings:
    return settings(
        max_examples=n * (20 if EXPLORE else 1),
        deadline=None,
        derandomize=not EXPLORE,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("properties")


# --------------------------------------------------------------------------------------------------
# CSV readers: people, visits, addresses

CELLS = st.one_of(
    st.sampled_from(
        ["", "P1", "P2", "P3", "V1", "S1 1AA", "430500", "385500", "53.38", "-1.47", "0", "-1",
         "1e400", "nan", "None", "08:00", "09:30", "25:61", "Mon", "tuesday", "7", "1.5", "2",
         "30", "45", '"', ",", "\n"]
    ),
    st.text(max_size=6),
)  # fmt: skip
PEOPLE_COLUMNS = ["person_id", "postcode", "easting", "northing", "lat", "lon", "latitude",
                  "longitude", "area_id", "id", "name", "geometry", "_row", "Person_ID", " x "]  # fmt: skip
VISIT_COLUMNS = ["visit_id", "person_id", "day", "earliest", "latest", "duration", "carers",
                 "skills", "skills_2", "follows", "gap_min", "gap_max", "due", "Day", "_row",
                 "index"]  # fmt: skip


@st.composite
def csv_tables(draw, pool: list[str]) -> list[list[str]]:
    """A header drawn mostly from ``pool`` (with the odd stray name) and up to 8 rows of cells."""
    names = st.one_of(st.sampled_from(pool), st.text(max_size=5))
    header = draw(st.lists(names, min_size=0, max_size=7))
    rows = draw(
        st.lists(st.lists(CELLS, min_size=len(header), max_size=len(header) + 1), max_size=8)
    )
    return [header, *rows]


def write_csv(path: Path, table: list[list[str]] | bytes) -> Path:
    if isinstance(table, bytes):
        path.write_bytes(table)
    else:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(table)
    return path


POSTCODES = None


def _postcodes():
    global POSTCODES
    if POSTCODES is None:
        import geopandas as gpd
        from shapely.geometry import Point

        POSTCODES = gpd.GeoDataFrame(
            {"postcode": ["S1 1AA", "S1 2BB"]},
            geometry=[Point(sf.X0 + 500, sf.Y0 + 500), Point(sf.X0 + 1500, sf.Y0 + 1500)],
            crs="EPSG:27700",
        )
    return POSTCODES


@examples(120)
@given(
    people=st.one_of(csv_tables(PEOPLE_COLUMNS), st.binary(max_size=60)),
    visits=st.one_of(csv_tables(VISIT_COLUMNS), st.binary(max_size=60)),
    with_postcodes=st.booleans(),
)
def test_people_and_visits_load_with_every_row_accounted_for_or_a_named_error(
    folder, people, visits, with_postcodes
):
    people_path = write_csv(folder / "people.csv", people)
    visits_path = write_csv(folder / "visits.csv", visits)
    try:
        caseload = load_demand(people_path, visits_path, _postcodes() if with_postcodes else None)
    except PatchplanError as exc:
        assert "people.csv" in str(exc) or "visits.csv" in str(exc), exc
        return
    rejects = caseload.rejects
    people_rejects = (rejects["source"] == "people.csv").sum()
    visit_rejects = (rejects["source"] == "visits.csv").sum()
    assert caseload.summary["people_rows_read"] == len(caseload.people) + people_rejects
    assert caseload.summary["visits_rows_read"] == len(caseload.visits) + visit_rejects
    assert (rejects["reason"].str.len() > 0).all() and (rejects["kind"].str.len() > 0).all()
    assert caseload.visits["person_id"].isin(caseload.people["person_id"]).all()


@examples(80)
@given(
    table=st.one_of(
        csv_tables(CODEPOINT_COLUMNS).map(lambda t: t if t[0][:1] == ["Postcode"] else t[1:]),
        csv_tables(CODEPOINT_COLUMNS),
        st.binary(max_size=80),
    )
)
def test_addresses_load_with_every_row_accounted_for_or_a_named_error(folder, table):
    path = write_csv(folder / "codepoint.csv", table)
    try:
        postcodes = load_postcodes(path)
    except PatchplanError as exc:
        assert "codepoint.csv" in str(exc), exc
        return
    assert postcodes.attrs["rows_read"] == len(postcodes) + len(postcodes.attrs["rejects"])
    assert postcodes.geometry.notna().all()


# --------------------------------------------------------------------------------------------------
# the boundary loader

X, Y = sf.X0, sf.Y0
RINGS = st.sampled_from(
    [
        [[X, Y], [X + 500, Y], [X + 500, Y + 500], [X, Y + 500], [X, Y]],  # a square
        [[X, Y], [X + 500, Y + 500], [X + 500, Y], [X, Y + 500], [X, Y]],  # a bowtie
        [[X, Y], [X, Y], [X, Y], [X, Y]],  # collapsed
        [[-1.47, 53.38], [-1.46, 53.38], [-1.46, 53.39], [-1.47, 53.38]],  # degrees
        [[53.38, -1.47], [53.39, -1.47], [53.39, -1.46], [53.38, -1.47]],  # degrees, swapped
        [[1e12, 1e12], [1e12 + 1, 1e12], [1e12, 1e12 + 1], [1e12, 1e12]],  # nowhere
    ]
)
GEOMETRIES = st.one_of(
    RINGS.map(lambda ring: {"type": "Polygon", "coordinates": [ring]}),
    RINGS.map(lambda ring: {"type": "MultiPolygon", "coordinates": [[ring]]}),
    st.just({"type": "Point", "coordinates": [X, Y]}),
    st.just({"type": "Polygon", "coordinates": []}),
    st.none(),
)
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True),
                   st.sampled_from(["A", "B", "A", "", " ", "1", "1.0"]), st.text(max_size=4))  # fmt: skip
KEYS = st.sampled_from(["code", "id", "name", "NAME", "label", "geometry", "fid"])


@st.composite
def feature_collections(draw) -> dict:
    features = draw(
        st.lists(
            st.builds(
                lambda g, p: {"type": "Feature", "geometry": g, "properties": p},
                GEOMETRIES,
                st.dictionaries(KEYS, VALUES, max_size=4),
            ),
            max_size=6,
        )
    )
    collection = {"type": "FeatureCollection", "features": features}
    crs = draw(
        st.sampled_from([None, "urn:ogc:def:crs:EPSG::27700", "urn:ogc:def:crs:OGC:1.3:CRS84"])
    )
    if crs:
        collection["crs"] = {"type": "name", "properties": {"name": crs}}
    return collection


@examples(150)
@given(
    collection=st.one_of(feature_collections(), st.binary(max_size=40).map(lambda b: b)),
    id_column=st.sampled_from(["code", "id", "name", "missing", "geometry"]),
    name_column=st.sampled_from([None, "name", "label", "id"]),
    crs=st.sampled_from([None, "EPSG:27700", "EPSG:4326"]),
    on_invalid=st.sampled_from(["raise", "drop"]),
)
def test_boundary_layers_load_with_every_feature_accounted_for_or_a_named_error(
    folder, collection, id_column, name_column, crs, on_invalid
):
    path = folder / "layer.geojson"
    if isinstance(collection, bytes):
        path.write_bytes(collection)
    else:
        path.write_text(json.dumps(collection), encoding="utf-8")
    try:
        layer, report = load_layer(path, id_column, name_column, crs, on_invalid=on_invalid)
    except PatchplanError as exc:
        assert "layer.geojson" in str(exc), exc
        return
    assert report.n_features + len(report.rejected) == len(collection["features"])
    assert len(layer) == report.n_features and layer["id"].is_unique
    assert layer.crs.to_epsg() == 27700 and layer.geometry.is_valid.all()


# --------------------------------------------------------------------------------------------------
# the scenario parser

FIELDS = sorted({"name", "days", "seed", "k", "source", "areas", "pcns_crs", "walking_share",
                 "time_limit_s", "workers", "providers_per_patch", "shifts", "locked", "seeds",
                 "drive_speeds_kmh", "dir", "people", "visits", "synthetic", "week_days", "bogus"})  # fmt: skip
LEAVES = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["town", "files", "EPSG:27700", "../../x", "a.gpkg"]),
)
TOML_VALUES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(FIELDS), inner, max_size=2)
    ),
    max_leaves=6,
)
DOCUMENTS = st.dictionaries(
    st.one_of(st.sampled_from(list(SECTIONS)), st.sampled_from(["patchez", "x"])),
    st.one_of(st.dictionaries(st.sampled_from(FIELDS), TOML_VALUES, max_size=4), LEAVES),
    max_size=4,
)


def toml_document(data: dict) -> str:
    def value(v) -> str:
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + "}"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return sf.toml_value(v)

    top = [f"{json.dumps(k)} = {value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    tables = [
        f"[{json.dumps(k)}]\n" + "".join(f"{json.dumps(f)} = {value(x)}\n" for f, x in v.items())
        for k, v in data.items()
        if isinstance(v, dict)
    ]
    return "\n".join(top) + "\n" + "\n".join(tables)


@examples(200)
@given(document=st.one_of(DOCUMENTS.map(toml_document), st.text(max_size=60)))
def test_any_scenario_file_loads_or_is_refused_with_its_name(folder, document):
    path = folder / "study.toml"
    path.write_text(document, encoding="utf-8")
    try:
        scenario = Scenario.load(path)
    except ScenarioError as exc:
        assert exc.problems and all(p.startswith("study.toml") for p in exc.problems), exc
        return
    assert scenario.problems() == []
