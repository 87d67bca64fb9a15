"""The whole chain on the embedded synthetic town: each stage keeps its contract.

The pipeline runs once (``demo_result`` in ``conftest.py``) on a lighter copy of the demo scenario
(fewer people, smaller solver work counts) so the suite stays quick; the contracts checked are the
same as for `patchplan demo`, which plans the whole week.
"""

from __future__ import annotations

import re

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from patchplan import patches, pipeline, rounds, workforce
from patchplan.cli import app
from patchplan.report import write_outputs
from patchplan.scenario import Scenario

RETURN = "<return>"


@pytest.fixture(scope="module")
def scenario(demo_scenario) -> Scenario:
    return demo_scenario


@pytest.fixture(scope="module")
def result(demo_result):
    return demo_result


@pytest.fixture(scope="module")
def outputs(result, tmp_path_factory):
    root = tmp_path_factory.mktemp("out")
    return write_outputs(result, root / "outputs")


def test_every_block_lands_in_exactly_one_patch(result):
    layout = result.design.layout
    assert layout.index.is_unique
    assert set(layout.index) == set(result.blocks["block_id"])
    assert layout.notna().all()
    assert layout.nunique() == result.scenario.patches.k


def test_patches_are_contiguous_and_balanced(result):
    tolerance = result.scenario.patches.balance_tolerance
    hours = result.design.patches.set_index("patch_id")["hours_week"]
    for patch_id, members in result.design.layout.groupby(result.design.layout):
        assert nx.is_connected(result.adjacency.subgraph(members.index)), patch_id
    assert (hours - hours.mean()).abs().max() <= tolerance * hours.mean() + 1e-6


def test_every_visit_is_planned_or_unserved_with_a_reason(result):
    for arrangement, planned in (("proposed", result.proposed), ("today", result.today)):
        served = set(planned.rounds.loc[planned.rounds["visit_id"] != RETURN, "visit_id"])
        unserved = result.unserved[result.unserved["arrangement"].isin([arrangement, "both"])]
        everyone = set(
            result.inputs.demand.visits.query("day in @result.scenario.study.days")["visit_id"]
        )
        assert served.isdisjoint(unserved["visit_id"]), arrangement
        assert served | set(unserved["visit_id"]) == everyone, arrangement
        assert unserved["reason"].str.len().gt(0).all()


def test_rounds_never_break_a_time_window_or_a_shift(result):
    visits = result.inputs.demand.visits.set_index("visit_id")
    for planned in (result.proposed, result.today):
        stops = planned.rounds[planned.rounds["visit_id"] != RETURN].join(
            visits[["earliest", "latest", "duration"]], on="visit_id"
        )
        assert (stops["start"] >= stops["earliest"]).all()
        assert (stops["start"] <= stops["latest"]).all()
        assert (stops["arrival"] <= stops["start"]).all()
        assert (stops["end"] == stops["start"] + stops["duration"]).all()


def test_walking_figures_and_class_per_patch(result):
    walking = result.walking.set_index("patch_id")
    assert set(walking.index) == set(result.design.patches["patch_id"]) | {"total"}
    lots = walking.drop(index="total")
    assert lots["walk_visit_share"].between(0, 1).all()
    assert set(lots["walk_class"]) <= {"walkable", "mixed", "car-dependent"}
    assert lots["stops_on_foot"].gt(0).any(), "the proposed lots have walking carers"
    # walkers are the proposed plan's own: their visits are the rounds' walking stops
    stops = result.proposed.rounds[result.proposed.rounds["visit_id"] != RETURN]
    assert lots["stops_on_foot"].sum() == (stops["mode"] == "walk").sum()
    assert (result.today.rounds["mode"] == "drive").all()


def test_the_walking_share_in_the_headline_is_the_per_lot_total(result, outputs):
    lots = result.walking.set_index("patch_id").drop(index="total")
    per_lot_total = lots["stops_on_foot"].sum() / lots["stops"].sum()
    assert result.summary.loc["total", "walk_visit_share"] == pytest.approx(per_lot_total)
    assert result.savings.loc["total", "proposed_walk_share"] == pytest.approx(per_lot_total)
    report = outputs["report"].read_text()
    shown = re.search(r"Visits reached on foot, proposed</th>\s*<td[^>]*>(\d+)%", report)
    assert shown and int(shown[1]) == round(100 * per_lot_total)
    assert "walkable: at least 90%" in report  # the thresholds are stated


def test_a_person_with_the_same_calls_every_day_has_the_same_carer_on_most_days(result):
    stops = result.proposed.rounds[result.proposed.rounds["visit_id"] != RETURN]
    stops = stops.assign(call=stops["visit_id"].str.replace(r"-D\d-", "-", regex=True))
    visits = result.planned_visits
    call_days = visits.groupby(visits["visit_id"].str.replace(r"-D\d-", "-", regex=True))["day"]
    daily_people = {c.split("-")[0] for c in call_days.nunique().index} - {
        c.split("-")[0] for c, n in call_days.nunique().items() if n < 7
    }
    single = stops[stops["person_id"].isin(daily_people)].drop_duplicates(["visit_id"])
    modal = single.groupby(["call", "carer_id"]).size().groupby(level=0).max()
    # a carer works 5 days of 7, and the same round takes the call every day
    assert (modal >= 4).mean() >= 0.9
    assert modal.median() >= 5
    total = result.summary.loc["total"]
    assert total["proposed_carers_per_person_median"] <= 6
    assert total["proposed_top2_share"] > 0.5


def test_a_carers_day_off_is_honoured(result):
    days_per_week = result.scenario.workforce.days_per_week
    for planned in (result.proposed, result.today):
        worked = planned.rounds.groupby("carer_id")["day"].nunique()
        assert worked.max() <= days_per_week
    # a regular carer (not a relief) is off on the days the rota gives: the first round of each
    # kind is off on Monday and Tuesday
    first = result.proposed.rounds[result.proposed.rounds["carer_id"].str.endswith("-s1-01")]
    assert not set(first["day"]) & {0, 1}


def test_the_same_seed_gives_the_same_week(result, scenario):
    providers = workforce.patch_allocation(
        result.inputs.demand.people[
            result.inputs.demand.people["person_id"].isin(result.planned_visits["person_id"])
        ],
        result.planned_visits.drop_duplicates("person_id")
        .set_index("person_id")["visit_id"]
        .map(result.visit_patch),
        result.design.patches,
        scenario.workforce,
        scenario.study.seed,
    )
    classes = pipeline.walking_by_patch(
        result.planned_visits, result.visit_patch, *providers, result.inputs.travel, scenario
    )
    share = pipeline.walking_share_by_patch(
        classes, scenario.workforce.walking_share, result.design.patches["patch_id"].tolist()
    )
    visits, carers = pipeline._week_tasks(
        result.planned_visits, *providers, scenario.workforce, share,
        base_legs_unpaid=not scenario.savings.base_legs,
    )[0]  # fmt: skip
    again = rounds.plan_week(visits, carers, result.inputs.travel, scenario.rounds).plan.rounds
    mine = result.proposed.rounds[result.proposed.rounds["visit_id"].isin(visits["visit_id"])
                                  | result.proposed.rounds["carer_id"].isin(carers["carer_id"])]  # fmt: skip
    assert set(again["visit_id"]) - {RETURN} == set(mine["visit_id"]) - {RETURN}
    assert again.reset_index(drop=True).equals(mine.reset_index(drop=True))


def test_savings_total_is_the_sum_of_patches(result):
    table = result.savings
    patches_only = table.drop(index="total")
    for col in (
        "today_travel_min",
        "proposed_travel_min",
        "today_travel_min_lfl",
        "proposed_travel_min_lfl",
        "saved_travel_min",
        "saved_co2_kg",
    ):
        assert table.loc["total", col] == pytest.approx(patches_only[col].sum())


def test_same_seed_same_patches_and_rounds(result, scenario):
    again = patches.design_patches(
        result.blocks,
        result.adjacency,
        result.block_demand,
        result.inputs.travel["drive"],
        scenario.patches,
        seed=scenario.study.seed,
    )
    assert again.layout.equals(result.design.layout)
    visits = result.planned_visits[
        result.planned_visits["visit_id"].map(result.visit_patch) == "P01"
    ].head(25)
    carers = result.proposed.rounds  # any carer table will do; build one from the workforce model
    from patchplan.workforce import carers_for

    base = result.design.patches.set_index("patch_id").geometry["P01"].representative_point()
    carers = carers_for(visits, "X", base, scenario.workforce, walking_share=0.5)
    first = rounds.plan_rounds(visits, carers, result.inputs.travel, scenario.rounds)
    second = rounds.plan_rounds(visits, carers, result.inputs.travel, scenario.rounds)
    assert first.rounds.equals(second.rounds)


def test_outputs_are_written(outputs):
    for key in ("map-lots", "map-savings", "report", "patches", "savings", "unserved-INTERNAL",
                "gpkg", "explained", "baseline", "walking", "continuity"):  # fmt: skip
        assert outputs[key].exists() and outputs[key].stat().st_size > 0, key
    report = outputs["report"].read_text()
    assert "SYNTHETIC" in report
    assert "GHG Conversion Factors" in report and "HMRC" in report  # factors cite their sources


def test_published_and_internal_outputs_are_separated_by_folder_and_name(outputs):
    for key, path in outputs.items():
        internal = "INTERNAL" in key
        assert ("INTERNAL" in path.name) == internal, key
        assert ("INTERNAL" in path.parent.parts) == internal, key
        assert ("published" in path.parent.parts) == (not internal), key
    assert "NOT FOR PUBLICATION" in outputs["map-rounds-INTERNAL"].read_text()
    assert "NOT FOR PUBLICATION" in outputs["readme-INTERNAL"].read_text()


def test_proposed_lots_are_scored_beside_todays_areas(result, outputs):
    """The town's two legacy localities (cut at a road, north/south) are unbalanced and larger."""
    layouts = result.layouts
    assert list(layouts.index) == [pipeline.PROPOSED_LAYOUT, pipeline.EXISTING_LAYOUT]
    assert set(result.existing_layout.index) == set(result.blocks["block_id"])
    assert set(result.existing_layout) == {"NORTH", "SOUTH"}
    proposed, today = layouts.loc[pipeline.PROPOSED_LAYOUT], layouts.loc[pipeline.EXISTING_LAYOUT]
    assert proposed["areas"] == result.scenario.patches.k and today["areas"] == 2
    assert proposed["worst_balance"] <= result.scenario.patches.balance_tolerance + 1e-9
    assert proposed["contiguous_areas"] == proposed["areas"]
    assert today["worst_balance"] > 0.15 > proposed["worst_balance"]
    assert proposed["travel_min_per_leg"] < today["travel_min_per_leg"]
    report = outputs["report"].read_text()
    assert "Proposed lots against today&#x27;s areas" in report or "against today's areas" in report
    assert outputs["layouts"].exists()


def test_published_maps_show_no_individual_home(result, outputs):
    homes = result.inputs.demand.people.to_crs("EPSG:4326")
    lon, lat = homes.geometry.x.to_numpy(), homes.geometry.y.to_numpy()
    pair = re.compile(r"\[\s*(-?\d+\.\d+),\s*(-?\d+\.\d+)\s*\]")
    for key in ("map-lots", "map-savings", "map-walkability", "report"):
        text = outputs[key].read_text()
        coords = np.array([(float(a), float(b)) for a, b in pair.findall(text)])
        if not len(coords):
            continue
        # GeoJSON pairs are [lon, lat]; Leaflet markers are [lat, lon]: check both orders.
        for x, y in ((coords[:, 0], coords[:, 1]), (coords[:, 1], coords[:, 0])):
            near = np.abs(x[:, None] - lon[None, :]) < 1e-5
            near &= np.abs(y[:, None] - lat[None, :]) < 1e-5
            assert not near.any(), f"{key} contains a person's home"


@pytest.mark.browser
def test_demo_maps_open_in_chromium_without_errors(outputs, open_page):
    for key in ("map-lots", "map-savings", "map-walkability", "map-rounds-INTERNAL"):
        page, console_errors, page_errors, _ = open_page(outputs[key])
        assert page_errors == [] and console_errors == [], key
        assert page.locator("path.leaflet-interactive").count() > 0, key


def test_cli_check_accepts_the_demo_and_names_a_bad_key(tmp_path):
    runner = CliRunner()
    demo = Scenario.example("demo").path
    assert runner.invoke(app, ["check", str(demo)]).exit_code == 0
    bad = tmp_path / "bad.toml"
    bad.write_text("[patches]\nk = 'three'\n")
    outcome = runner.invoke(app, ["run", str(bad)])
    assert outcome.exit_code == 2
    assert "k: expected a whole number" in outcome.output


def test_car_dependent_patches_get_no_walking_carers():
    walking = pd.DataFrame(
        {"patch_id": ["P01", "P02", "P03"], "walk_class": ["walkable", "car-dependent", "mixed"]}
    )
    share = pipeline.walking_share_by_patch(walking, 0.5, ["P01", "P02", "P03", "P04"])
    assert share.to_dict() == {"P01": 0.5, "P02": 0.0, "P03": 0.5, "P04": 0.5}
