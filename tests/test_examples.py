"""The shipped example scenarios load, validate and point at real files."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest

from patchplan import pipeline
from patchplan.scenario import Scenario

FILE_KEYS = (
    "network", "areas", "pcns", "neighbourhoods", "addresses", "people", "visits", "existing",
    "practices",
)  # fmt: skip
EXAMPLES = ("rutland", "sheffield")


def _named_inputs(scenario: Scenario) -> dict[str, Path]:
    return {k: p for k in FILE_KEYS if (p := scenario.input_path(k)) is not None}


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_scenario_loads_and_validates(name):
    scenario = Scenario.example(name)
    assert scenario.study.name == name
    assert scenario.inputs.source == "files"
    assert scenario.study.synthetic, "the caseload is synthetic and every output must say so"
    assert scenario.study.days == tuple(range(7)), "the examples plan the whole week"


def test_rutland_is_a_full_real_run_with_one_pcn_scaled_caseload_and_three_patches():
    scenario = Scenario.example("rutland")
    assert scenario.inputs.network.endswith("rutland-latest.osm.pbf")
    assert scenario.inputs.pcn_column == "PCN_CODE" and scenario.inputs.pcns == ""
    # Sheffield's 2,500 people per 94,828 aged 65+, applied to Rutland's 10,385, at 15.6 h each
    assert scenario.demand.people == round(2500 * 10_385 / 94_828)
    assert scenario.demand.hours_week == pytest.approx(scenario.demand.people * 15.6)
    assert scenario.patches.k == 3


def test_sheffield_uses_the_labelled_straight_line_estimate_and_seven_patches():
    scenario = Scenario.example("sheffield")
    assert scenario.inputs.network == "", "no Sheffield OSM extract: travel must be the estimate"
    assert scenario.demand.people == 2500 and scenario.demand.hours_week == 39_000.0
    assert scenario.patches.k == 7
    travel = pipeline._file_travel(scenario)
    assert set(travel) == {"walk", "drive"}
    assert all(t.estimate for t in travel.values())


@pytest.mark.shared
@pytest.mark.parametrize("name", EXAMPLES)
def test_example_inputs_exist_in_the_shared_data(name, shared_data, monkeypatch):
    monkeypatch.setenv("PATCHPLAN_SHARED", str(shared_data.parent))
    paths = _named_inputs(Scenario.example(name))
    assert "areas" in paths and "addresses" in paths and "practices" in paths
    missing = {k: str(p) for k, p in paths.items() if not p.is_file()}
    assert not missing
    assert all(p.is_relative_to(shared_data) for p in paths.values())


def test_base_dir_defaults_beside_the_repo_and_follows_patchplan_shared(tmp_path, monkeypatch):
    monkeypatch.delenv("PATCHPLAN_SHARED", raising=False)
    scenario = Scenario.example("rutland")
    repo = Path(pipeline.__file__).resolve().parents[1]
    default = scenario.input_path("areas")
    assert default == (repo.parent / "shared" / "data" / scenario.inputs.areas).resolve()

    monkeypatch.setenv("PATCHPLAN_SHARED", str(tmp_path))
    moved = scenario.input_path("areas")
    assert moved == (tmp_path / "data" / scenario.inputs.areas).resolve()

    monkeypatch.setenv("PATCHPLAN_SHARED", "")  # empty counts as unset, as in a shell
    assert scenario.input_path("areas") == default


@pytest.mark.shared
def test_rutland_inputs_put_every_lsoa_in_rutland_health_pcn(shared_data, monkeypatch):
    monkeypatch.setenv("PATCHPLAN_SHARED", str(shared_data.parent))
    scenario = Scenario.example("rutland")
    # the network is read in the full run and the notebook; here only the boundaries and demand
    inputs = pipeline.load_inputs(scenario.replace(inputs={"network": ""}))
    assert len(inputs.areas) == 23
    assert set(inputs.pcns["pcn_id"]) == {"U67590"}
    assert set(inputs.practices["PCN_NAME"]) == {"RUTLAND HEALTH PCN"}
    assert len(inputs.demand.people) == scenario.demand.people
    assert inputs.demand.hours_week == pytest.approx(scenario.demand.hours_week, abs=1.0)
    blocks = pipeline.make_blocks(inputs, scenario)
    assert sorted(blocks["block_id"]) == sorted(inputs.areas["id"])
    assert set(blocks["pcn_id"]) == {"U67590"}


@pytest.mark.shared
def test_sheffield_blocks_cross_pcns_with_the_hundred_neighbourhoods(shared_data, monkeypatch):
    monkeypatch.setenv("PATCHPLAN_SHARED", str(shared_data.parent))
    scenario = Scenario.example("sheffield")
    inputs = pipeline.load_inputs(scenario)
    assert len(inputs.pcns) == 16 and len(inputs.neighbourhoods) == 100
    assert sorted(inputs.existing["id"]) == sorted(
        ["North", "North East", "East", "Central", "South", "South West", "South East"]
    )
    blocks = pipeline.make_blocks(inputs, scenario)
    assert set(blocks["pcn_id"]) == set(inputs.pcns["id"])
    assert blocks["neighbourhood_id"].isin(inputs.neighbourhoods["id"]).all()
    city = gpd.GeoSeries(inputs.areas.union_all(), crs=inputs.areas.crs).area.iloc[0]
    assert blocks.area.sum() == pytest.approx(city, rel=1e-3)
