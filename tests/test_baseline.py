"""Today as modelled, as observed and as published; the saving stated both ways."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest

from patchplan import CRS
from patchplan.baseline import PUBLISHED_TRAVEL, BaselineSettings, calibration
from patchplan.errors import ScenarioError
from patchplan.examples.town import grid_point, make_town
from patchplan.matrix import NetworkTravel
from patchplan.network import load_network
from patchplan.rounds import RoundsSettings, plan_rounds
from patchplan.savings import (
    METRES_PER_MILE,
    SavingsSettings,
    compare,
    explain,
    per_visit,
)
from patchplan.scenario import Scenario

COLUMNS = (1, 3, 5, 7)
"""Four visits along row 2 of the town's street grid, 300 m apart (150 m blocks)."""


@pytest.fixture(scope="module")
def tiny_town_day():
    """One driver based at grid (0, 2) visits (1, 2), (3, 2), (5, 2), (7, 2) in that order."""
    town = make_town()
    travel = {m: NetworkTravel(load_network(town.streets, m)) for m in ("walk", "drive")}
    visits = gpd.GeoDataFrame(
        {
            "visit_id": [f"v{i}" for i in range(4)],
            "person_id": [f"p{i}" for i in range(4)],
            "day": 0,
            "earliest": [480 + 60 * i for i in range(4)],
            "latest": [490 + 60 * i for i in range(4)],
            "duration": 30,
            "carers": 1,
            "skills": "",
        },
        geometry=[grid_point(c, 2) for c in COLUMNS],
        crs=CRS,
    )
    carers = gpd.GeoDataFrame(
        {"carer_id": ["D1"], "mode": ["drive"], "shift_start": [420], "shift_end": [1350],
         "max_minutes": [930], "break_earliest": [0], "break_latest": [0], "break_minutes": [0],
         "skills": [""], "provider_id": ["T01"]},
        geometry=[grid_point(0, 2)], crs=CRS,
    )  # fmt: skip
    result = plan_rounds(visits, carers, travel, RoundsSettings(time_limit_s=5.0))
    assert result.unserved.empty
    return visits, result.rounds


def _table(visits, rounds, base_legs: bool) -> pd.DataFrame:
    patch = pd.Series("P01", index=visits["visit_id"])
    settings = SavingsSettings(week_days=1, base_legs=base_legs)
    return compare(rounds, rounds, visits, patch, settings, days_planned=1)


def test_modelled_miles_per_visit_on_a_tiny_town_equal_a_hand_count(tiny_town_day):
    visits, rounds = tiny_town_day
    between_m = 3 * 300.0  # three legs of two 150 m blocks along the same street
    table = _table(visits, rounds, base_legs=False)
    today = calibration(table, BaselineSettings()).loc[:, "modelled_today"]
    assert today["miles_per_visit"] == pytest.approx(between_m / METRES_PER_MILE / 4)
    assert today["miles_between_visits"] == pytest.approx(300.0 / METRES_PER_MILE)
    # counting the legs from base (150 m) and back (7 blocks, 1,050 m) as well
    every_leg = per_visit(_table(visits, rounds, base_legs=True))
    assert every_leg["miles_per_visit"] == pytest.approx(
        (between_m + 150 + 1050) / METRES_PER_MILE / 4
    )
    assert every_leg["miles_between_visits"] == pytest.approx(today["miles_between_visits"])


def test_calibration_sets_observed_and_published_figures_beside_modelled(tiny_town_day):
    visits, rounds = tiny_town_day
    observed = BaselineSettings(observed_miles_per_visit=3.2, source="ECM, 2025")
    table = calibration(_table(visits, rounds, base_legs=False), observed)
    assert table.loc["miles_per_visit", "observed"] == 3.2
    assert pd.isna(table.loc["travel_min_per_visit", "observed"])
    published = {f.measure: f.value for f in PUBLISHED_TRAVEL}
    assert published == {"miles_between_visits": 4.3, "miles_per_visit": 3.06}
    assert table.loc["miles_between_visits", "published"] == 4.3
    assert table.loc["miles_per_visit", "published"] == 3.06


LEGS = ["carer_id", "day", "order", "visit_id", "person_id", "arrival", "start", "end", "wait",
        "travel_min", "travel_m", "mode"]  # fmt: skip


@pytest.fixture
def case():
    """Two visits; today drives 10 km and 20 min between them, proposed 4 km and 8 min."""
    visits = pd.DataFrame({"visit_id": ["a", "b"], "person_id": ["a", "b"], "day": 0,
                           "duration": [30, 30], "carers": [1, 1]})  # fmt: skip
    patch = pd.Series({"a": "P01", "b": "P01"})

    def legs(minutes, metres):
        rows = [("C", 0, 1, "a", "a", 0, 0, 0, 0, 5.0, 2000.0, "drive"),
                ("C", 0, 2, "b", "b", 0, 0, 0, 0, minutes, metres, "drive"),
                ("C", 0, 3, "<return>", "", 0, 0, 0, 0, 5.0, 2000.0, "drive")]  # fmt: skip
        return pd.DataFrame(rows, columns=LEGS)

    return visits, patch, legs(20.0, 10_000.0), legs(8.0, 4_000.0)


def test_the_saving_is_explained_from_today_as_observed_to_the_proposed_lots(case):
    visits, patch, today, proposed = case
    settings = SavingsSettings(week_days=1)
    table = compare(today, proposed, visits, patch, settings)
    observed = BaselineSettings(observed_miles_per_visit=9.0, observed_travel_min_per_visit=30.0)
    steps = explain(table, settings, observed)
    assert list(steps.index) == ["today_observed", "today_modelled", "proposed",
                                 "saved_by_optimised_rounds", "saved_by_patches",
                                 "saved_against_observed"]  # fmt: skip
    hours = steps["travel_hours"]
    assert hours["today_observed"] == pytest.approx(2 * 30 / 60)  # 2 visits × 30 min
    assert hours["today_modelled"] == pytest.approx(20 / 60)
    assert hours["proposed"] == pytest.approx(8 / 60)
    assert hours["saved_by_patches"] == pytest.approx(table.loc["total", "carer_hours_released"])
    assert hours["saved_against_observed"] == pytest.approx(1.0 - 8 / 60)
    assert hours["saved_by_optimised_rounds"] + hours["saved_by_patches"] == pytest.approx(
        hours["saved_against_observed"]
    )
    miles = steps["drive_miles"]
    assert miles["today_observed"] == pytest.approx(18.0)
    assert miles["proposed"] == pytest.approx(4_000 / METRES_PER_MILE)
    # one definition of money and CO2: the patches' row is the savings table's total
    assert steps.loc["saved_by_patches", "cost_gbp"] == pytest.approx(
        table.loc["total", "saved_cost_gbp"]
    )
    assert steps.loc["saved_by_patches", "co2_kg"] == pytest.approx(
        table.loc["total", "saved_co2_kg"]
    )
    assert steps.loc["saved_against_observed", "co2_kg"] == pytest.approx(
        (18.0 * METRES_PER_MILE / 1000 - 4.0) * settings.co2_kg_per_km
    )


def test_observed_miles_alone_take_todays_modelled_minutes_per_mile(case):
    visits, patch, today, proposed = case
    settings = SavingsSettings(week_days=1)
    table = compare(today, proposed, visits, patch, settings)
    steps = explain(table, settings, BaselineSettings(observed_miles_per_visit=9.0))
    per_mile = 20.0 / (10_000 / METRES_PER_MILE)
    assert steps.loc["today_observed", "travel_hours"] == pytest.approx(18.0 * per_mile / 60)
    assert "modelled" in steps.attrs["observed_note"]
    without = explain(table, settings, BaselineSettings())
    assert list(without.index) == ["today_modelled", "proposed", "saved_by_patches"]


def test_the_homecare_association_minimum_price_is_an_alternative_hourly_cost():
    hca = SavingsSettings(hourly_cost_basis="hca-minimum-2025-26")
    assert hca.hourly_cost_gbp == 32.14
    assert "Homecare Association" in hca.hourly_cost_name
    scenario = Scenario.from_dict({"savings": {"hourly_cost_basis": "hca-minimum-2025-26"}})
    assert scenario.savings.hourly_cost_gbp == 32.14
    with pytest.raises(ScenarioError, match="not both"):
        Scenario.from_dict({"savings": {"hourly_cost_basis": "hca-minimum-2025-26",
                                        "hourly_cost_gbp": 25.0}})  # fmt: skip
    with pytest.raises(ScenarioError, match="hourly_cost_basis"):
        Scenario.from_dict({"savings": {"hourly_cost_basis": "cheap"}})


def test_baseline_is_a_scenario_section_naming_bad_keys():
    scenario = Scenario.from_dict({"baseline": {"observed_miles_per_visit": 3.1, "source": "ECM"}})
    assert scenario.baseline.observed and scenario.baseline.observed_miles_per_visit == 3.1
    with pytest.raises(ScenarioError, match=r"\[baseline\].*miles_per_visits"):
        Scenario.from_dict({"baseline": {"miles_per_visits": 3.1}})
    with pytest.raises(ScenarioError, match="observed_travel_min_per_visit"):
        Scenario.from_dict({"baseline": {"observed_travel_min_per_visit": -1.0}})
