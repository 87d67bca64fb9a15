"""Demand growth: more (or fewer) people and care hours, in the same small areas."""

from __future__ import annotations

import numpy as np
import pytest

from patchplan import demand
from patchplan.demand import DemandSettings
from patchplan.errors import DemandError, ScenarioError
from patchplan.examples.town import make_town
from patchplan.scenario import Scenario


@pytest.fixture(scope="module")
def town():
    return make_town()


def synthesise(town, **settings) -> demand.Demand:
    return demand.synthesise_demand(
        town.areas, population_column="pop_65plus", addresses=town.addresses,
        deprivation_column="imd_decile", settings=DemandSettings(**settings), seed=3,
    )  # fmt: skip


def area_shares(people) -> np.ndarray:
    counts = people["area_id"].value_counts().sort_index()
    return (counts / counts.sum()).to_numpy()


def test_growth_is_a_scenario_key():
    assert Scenario.from_dict({"demand": {"growth": 0.2}}).demand.growth == 0.2
    with pytest.raises(ScenarioError, match="growth"):
        Scenario.from_dict({"demand": {"growth": "a lot"}})


def test_a_synthetic_caseload_grows_in_people_and_hours_over_the_same_areas(town):
    base = synthesise(town, people=400, hours_week=6240.0)
    grown = synthesise(town, people=400, hours_week=6240.0, growth=0.2)
    assert len(grown.people) == 480
    assert grown.hours_week == pytest.approx(1.2 * 6240.0, abs=1.0)  # within a visit step
    assert grown.summary["growth"] == 0.2
    assert set(grown.people["area_id"]) <= set(town.areas["id"])
    assert np.corrcoef(area_shares(base.people), area_shares(grown.people))[0, 1] > 0.8


def test_a_real_caseload_grows_by_copying_people_in_their_areas(town):
    real = synthesise(town, people=200, hours_week=3120.0)
    grown = demand.grow_demand(real, 0.25, seed=1)
    assert len(grown.people) == 250 and grown.people["person_id"].is_unique
    copies = grown.people[grown.people["person_id"].str.contains("-g")]
    source = real.people.set_index("person_id")
    original = copies["person_id"].str.rsplit("-g", n=1).str[0]
    assert (copies["area_id"].to_numpy() == source.loc[original, "area_id"].to_numpy()).all()
    assert grown.visits["visit_id"].is_unique
    assert set(grown.visits["person_id"]) == set(grown.people["person_id"])
    assert grown.hours_week == pytest.approx(1.25 * real.hours_week, rel=0.1)
    again = demand.grow_demand(real, 0.25, seed=1)
    assert again.people["person_id"].tolist() == grown.people["person_id"].tolist()


def test_a_real_caseload_shrinks_by_removing_people_with_their_visits(town):
    real = synthesise(town, people=200, hours_week=3120.0)
    shrunk = demand.grow_demand(real, -0.1, seed=1)
    assert len(shrunk.people) == 180
    assert set(shrunk.visits["person_id"]) == set(shrunk.people["person_id"])
    assert demand.grow_demand(real, 0.0) is real
    with pytest.raises(DemandError, match="more than -1"):
        demand.grow_demand(real, -1.0)
