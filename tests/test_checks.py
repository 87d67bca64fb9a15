"""`patchplan check`: every problem a run would meet, named, all at once, before anything runs.

Each test generates a small study in tmp_path (tests/study_files.py) and breaks one thing.
"""

from __future__ import annotations

import shutil

import geopandas as gpd
import pytest
import shapely
import study_files as sf
from shapely.affinity import translate
from typer.testing import CliRunner

from patchplan.boundaries import load_layer
from patchplan.checks import check_file
from patchplan.cli import app
from patchplan.errors import BoundaryError, ScenarioError
from patchplan.scenario import Scenario


def problems_of(tmp_path, **changes) -> list[str]:
    return check_file(sf.write_study(tmp_path, **changes)).problems


def test_the_generated_study_passes(tmp_path):
    report = check_file(sf.write_study(tmp_path))
    assert report.ok, report.problems


def test_check_lists_every_problem_at_once_and_exits_2(tmp_path):
    scenario = sf.write_study(
        tmp_path,
        study={"days": []},
        workforce={"walking_share": 1.5, "providers_per_patch": 0},
        patches={"k": -1, "kk": 3},
        inputs={"area_id": "LSOA11CD"},
        outputs={"dir": str(tmp_path / "blocked" / "out")},
    )
    (tmp_path / "blocked").write_text("a file where the outputs folder should be")
    outcome = CliRunner().invoke(app, ["check", str(scenario)])
    assert outcome.exit_code == 2
    text = " ".join(outcome.output.split()).replace(str(tmp_path) + "/", "")
    for expected in (
        "7 problems",
        "[study] days must list at least one day",
        "[workforce] walking_share must be between 0 and 1, got 1.5",
        "[workforce] providers_per_patch must be at least 1, got 0",
        "[patches] k must be at least 0, got -1",
        "[patches]: unknown key 'kk'",
        "[inputs] areas: areas.gpkg: no column 'LSOA11CD'",
        "[outputs] dir: cannot write blocked/out",
    ):
        assert expected in text, expected


def test_run_makes_the_same_checks_first_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scenario = sf.write_study(tmp_path, workforce={"walking_share": -0.1}, study={"days": [0, 7]})
    outcome = CliRunner().invoke(app, ["run", str(scenario)])
    assert outcome.exit_code == 2
    assert "walking_share must be between 0 and 1" in outcome.output
    assert "days[1] must be between 0 and 6, got 7" in outcome.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("section", "key", "value", "named"),
    [
        ("study", "days", [0, 0], "days lists 0 more than once"),
        ("study", "days", [-1], "days[0] must be between 0 and 6"),
        ("study", "seed", -3, "seed must be at least 0"),
        ("workforce", "providers_per_patch", 0, "providers_per_patch must be at least 1"),
        ("workforce", "walking_share", 2.0, "walking_share must be between 0 and 1"),
        ("workforce", "shifts", [[900, 420]], "shifts[0] = (900, 420) must be 0 <= start < end"),
        ("demand", "double_up_share", 1.2, "double_up_share must be between 0 and 1"),
        ("patches", "balance_tolerance", 1.0, "balance_tolerance must be below 1"),
        ("patches", "pcn_policy", "nested", "pcn_policy must be one of 'nest', 'align', 'free'"),
        ("rounds", "time_limit_s", 0.0, "time_limit_s must be positive"),
        ("rounds", "time_limit_s", float("nan"), "time_limit_s must be a finite number"),
        ("rounds", "workers", 0, "workers must be at least 1"),
        ("feasibility", "walkable_share", 0.3, "car_dependent_share (0.5) must not exceed walkable_share (0.3)"),
        ("savings", "week_days", 8, "week_days must be between 1 and 7"),
        ("network", "walk_speed_kmh", -1.0, "walk_speed_kmh must be positive"),
        ("inputs", "pcns_crs", "EPSG:99999999", "pcns_crs 'EPSG:99999999' is not a CRS"),
    ],
)  # fmt: skip
def test_out_of_range_settings_are_named_at_load(tmp_path, section, key, value, named):
    scenario = sf.write_study(tmp_path, **{section: {key: value}})
    with pytest.raises(ScenarioError) as caught:
        Scenario.load(scenario)
    assert any(named in p and f"[{section}]" in p for p in caught.value.problems), caught.value


def test_a_synthetic_caseload_must_have_visits_on_the_days_planned(tmp_path):
    found = problems_of(
        tmp_path,
        study={"days": [0, 6], "synthetic": True},
        inputs={"people": None, "visits": None},
        demand={"days": 5},
    )
    assert any("[study] days [6] have no visits" in p for p in found), found


def test_people_without_visits_is_an_error_not_a_synthetic_caseload(tmp_path):
    scenario = sf.write_study(tmp_path, inputs={"visits": None})
    with pytest.raises(
        ScenarioError, match=r"\[inputs\] people: a people file needs a visits file"
    ):
        Scenario.load(scenario)


def test_replace_checks_the_new_settings_too():
    with pytest.raises(ScenarioError, match=r"\[patches\] k must be at least 0"):
        Scenario.example("demo").replace(patches={"k": -2})


# --------------------------------------------------------------------------------------------------
# columns that pandas and geopandas use themselves


def test_columns_called_id_and_name_are_usable_as_id_and_name(tmp_path):
    layer = sf.squares().rename(columns={"code": "id"}).assign(name=["a", "b", "c", "d"])
    path = sf.write_layer(layer, tmp_path / "areas.gpkg")
    frame, report = load_layer(path, "id", "name")
    assert list(frame["id"]) == ["A1", "A2", "A3", "A4"] and list(frame["name"]) == list("abcd")
    by_name, _ = load_layer(path, "name")  # the name column as id: the file's id is kept aside
    assert list(by_name["id"]) == list("abcd") and list(by_name["id_source"]) == [
        "A1",
        "A2",
        "A3",
        "A4",
    ]
    assert report.n_features == 4


def test_the_geometry_is_not_an_id_column(tmp_path):
    path = sf.write_layer(sf.squares(), tmp_path / "areas.gpkg")
    with pytest.raises(
        BoundaryError, match=r"areas.gpkg: 'geometry' is the geometry, not an id column"
    ):
        load_layer(path, "geometry")


def test_a_scenario_naming_id_columns_called_id_and_name_checks_clean(tmp_path):
    sf.write_study(tmp_path)
    layer = sf.neighbourhoods().rename(columns={"code": "id", "label": "name"})
    sf.write_layer(layer, tmp_path / "nh.gpkg")
    report = check_file(
        sf.write_study(
            tmp_path,
            inputs={
                "neighbourhoods": "nh.gpkg",
                "neighbourhood_id": "id",
                "neighbourhood_name": "name",
            },
        )
    )
    assert report.ok, report.problems


# --------------------------------------------------------------------------------------------------
# CRS: stated in the file, or declared by [inputs] <layer>_crs


def test_bng_geojson_without_crs_names_the_file_and_the_key_to_set(tmp_path):
    sf.write_study(tmp_path)
    sf.write_geojson_without_crs(sf.pcns(), tmp_path / "pcns.geojson")
    found = problems_of(tmp_path, inputs={"pcns": "pcns.geojson"})
    assert len(found) == 1, found
    assert "[inputs] pcns: pcns.geojson: the layer has no CRS usable" in found[0]
    assert "not degrees" in found[0] and "[inputs] pcns_crs = 'EPSG:27700'" in found[0]


def test_a_declared_crs_is_applied_to_a_file_without_one(tmp_path):
    sf.write_study(tmp_path)
    sf.write_geojson_without_crs(sf.pcns(), tmp_path / "pcns.geojson")
    scenario = sf.write_study(tmp_path, inputs={"pcns": "pcns.geojson", "pcns_crs": "EPSG:27700"})
    assert check_file(scenario).ok
    frame, report = load_layer(tmp_path / "pcns.geojson", "code", crs="EPSG:27700")
    assert report.crs_in == "EPSG:27700"
    assert frame.geometry.iloc[0].bounds == sf.pcns().geometry.iloc[0].bounds


def test_a_shapefile_without_prj_needs_its_crs_key(tmp_path):
    sf.write_study(tmp_path)
    sf.write_layer(sf.neighbourhoods(), tmp_path / "nh.shp")
    (tmp_path / "nh.prj").unlink()
    found = problems_of(tmp_path, inputs={"neighbourhoods": "nh.shp"})
    assert any("nh.shp: the layer has no CRS" in p and "neighbourhoods_crs" in p for p in found), (
        found
    )
    fixed = problems_of(
        tmp_path, inputs={"neighbourhoods": "nh.shp", "neighbourhoods_crs": "EPSG:27700"}
    )
    assert fixed == []


# --------------------------------------------------------------------------------------------------
# layers in the wrong place


def swapped_lat_lon(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    wgs84 = frame.to_crs("EPSG:4326")
    return wgs84.set_geometry(shapely.transform(wgs84.geometry.values, lambda xy: xy[:, ::-1]))


@pytest.mark.parametrize(
    "move",
    [
        pytest.param(swapped_lat_lon, id="swapped-lat-lon"),
        pytest.param(
            lambda f: f.set_geometry(f.geometry.map(lambda g: translate(g, 150_000, 60_000))),
            id="another-region",
        ),
        pytest.param(
            lambda f: f.to_crs("EPSG:27700").set_crs("EPSG:3857", allow_override=True),
            id="wrong-crs",
        ),
    ],
)
def test_a_layer_that_misses_the_study_area_is_named(tmp_path, move):
    sf.write_study(tmp_path)
    sf.write_layer(move(sf.pcns()), tmp_path / "pcns.geojson")
    found = problems_of(tmp_path, inputs={"pcns": "pcns.geojson"})
    assert len(found) == 1, found
    assert found[0].startswith(
        "[inputs] pcns pcns.geojson does not overlap the study area (areas areas.gpkg"
    ), found


def test_people_far_from_the_study_area_are_named(tmp_path):
    sf.write_study(tmp_path)
    far = sf.people().assign(easting=lambda t: t["easting"] - 200_000)  # still in Great Britain
    far.to_csv(tmp_path / "people.csv", index=False)
    found = problems_of(tmp_path)
    assert any(
        p.startswith("[inputs] people people.csv does not overlap the study area") for p in found
    )


OSM_FAR = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="test">
  <bounds minlat="51.50" minlon="-0.13" maxlat="51.51" maxlon="-0.12"/>
  <node id="1" lat="51.500" lon="-0.130" version="1"/>
  <node id="2" lat="51.505" lon="-0.125" version="1"/>
  <way id="10" version="1"><nd ref="1"/><nd ref="2"/><tag k="highway" v="residential"/></way>
</osm>
"""


def test_a_network_far_from_the_study_area_is_named(tmp_path):
    sf.write_study(tmp_path)
    (tmp_path / "london.osm").write_text(OSM_FAR, encoding="utf-8")
    found = problems_of(tmp_path, inputs={"network": "london.osm"})
    assert len(found) == 1 and found[0].startswith(
        "[inputs] network london.osm does not overlap the study area"
    ), found
    assert " km from it" in found[0]


def test_areas_outside_great_britain_are_named(tmp_path):
    sf.write_study(tmp_path)
    sf.write_layer(swapped_lat_lon(sf.squares()), tmp_path / "areas.geojson")
    found = problems_of(tmp_path, inputs={"areas": "areas.geojson"})
    assert any("[inputs] areas areas.geojson lies outside Great Britain" in p for p in found), found


# --------------------------------------------------------------------------------------------------
# files and folders


def test_missing_and_unreadable_files_are_each_named(tmp_path):
    sf.write_study(tmp_path)
    (tmp_path / "visits.csv").unlink()
    (tmp_path / "visits.csv").mkdir()  # a folder where the file should be
    (tmp_path / "broken.gpkg").write_bytes(b"not a geopackage")
    found = problems_of(tmp_path, inputs={"existing": "broken.gpkg", "existing_id": "code"})
    assert any("[inputs] visits: is a folder, not a file" in p for p in found), found
    assert any(
        "[inputs] existing: broken.gpkg: cannot read as a boundary layer" in p for p in found
    )


def test_an_outputs_folder_that_cannot_be_written_is_named(tmp_path):
    (tmp_path / "taken").write_text("x")
    taken = tmp_path / "taken"
    found = problems_of(
        tmp_path, outputs={"dir": str(taken / "out"), "maps_dir": str(taken / "maps")}
    )
    assert (
        sum(f"cannot write {taken}/" in p and "is a file, not a folder" in p for p in found) == 2
    ), found


def test_duplicate_ids_are_named(tmp_path):
    sf.write_study(tmp_path)
    sf.write_layer(sf.squares().assign(code=["A1", "A1", "A3", "A4"]), tmp_path / "areas.gpkg")
    found = problems_of(tmp_path)
    assert any("areas.gpkg: duplicate id A1" in p for p in found), found


def test_an_outputs_folder_in_use_is_named_with_the_pid(tmp_path, monkeypatch):
    from patchplan.io import folder_lock

    monkeypatch.chdir(tmp_path)
    scenario = sf.write_study(tmp_path)
    with folder_lock(tmp_path / "out"):
        report = check_file(scenario)
        outcome = CliRunner().invoke(app, ["run", str(scenario)])
    assert any("out is in use by another patchplan run (pid" in p for p in report.problems)
    assert outcome.exit_code == 2 and "in use by another patchplan run" in outcome.output
    assert not (tmp_path / "out").exists()


def test_check_of_a_missing_scenario_file_names_it(tmp_path):
    outcome = CliRunner().invoke(app, ["check", str(tmp_path / "nope.toml")])
    assert outcome.exit_code == 2 and "scenario file not found" in outcome.output
    shutil.rmtree(tmp_path, ignore_errors=True)
