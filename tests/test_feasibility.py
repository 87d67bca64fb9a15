"""Walking figures: reach from walkers' homes decides the class, the plan gives visits on foot."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

from patchplan import CRS
from patchplan.feasibility import (
    FeasibilitySettings,
    walking_classes,
    walking_figures,
    walking_reach,
)
from patchplan.matrix import StraightLineTravel

WALK = StraightLineTravel("walk")


def visits_at(xs: list[float]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"visit_id": [f"v{i}" for i in range(len(xs))], "duration": 30},
        geometry=[Point(x, 0.0) for x in xs],
        crs=CRS,
    )


def test_visits_within_a_walk_of_a_walkers_home_are_in_reach():
    xs = [0.0, 300.0, 900.0, 5_000.0, 20_000.0]
    minutes = WALK.matrix(gpd.GeoSeries([Point(0, 0)], crs=CRS), visits_at(xs).geometry).minutes[0]
    reach = walking_reach(visits_at(xs), gpd.GeoSeries([Point(0, 0)], crs=CRS), WALK, 30.0)
    assert reach.tolist() == (minutes <= 30).tolist()
    assert reach[:2].all() and not reach[-1]
    # a second walker living by the far visit reaches it; with no walkers nothing is in reach
    two = gpd.GeoSeries([Point(0, 0), Point(20_000, 0)], crs=CRS)
    assert walking_reach(visits_at(xs), two, WALK, 30.0)[-1]
    assert not walking_reach(visits_at(xs), gpd.GeoSeries([], crs=CRS), WALK, 30.0).any()


def test_classes_follow_the_stated_thresholds():
    reach = pd.DataFrame(
        {"patch_id": ["P1", "P2", "P3", "P3", "P4"], "visits": [10, 10, 6, 4, 0],
         "visits_in_walking_reach": [9, 5, 2, 2, 0]}
    )  # fmt: skip
    settings = FeasibilitySettings()
    table = walking_classes(reach, settings).set_index("patch_id")
    assert table["walk_class"].to_dict() == {
        "P1": "walkable", "P2": "mixed", "P3": "car-dependent", "P4": "car-dependent"
    }  # fmt: skip
    assert table.loc["P3", "walk_reach_share"] == pytest.approx(0.4)
    assert "at least 90%" in settings.thresholds(30) and "fewer than 50%" in settings.thresholds(30)


def test_visits_on_foot_total_is_over_every_visit_not_an_average_of_lots():
    stops = [("w1", "a", "walk"), ("w1", "b", "walk"), ("d1", "c", "drive"), ("d2", "d", "drive")]
    rounds = pd.DataFrame(
        [{"carer_id": c, "day": 0, "order": k + 1, "visit_id": v, "travel_min": 5.0 * (k + 1),
          "mode": m} for k, (c, v, m) in enumerate(stops)]
        + [{"carer_id": "w1", "day": 0, "order": 9, "visit_id": "<return>", "travel_min": 9.0,
            "mode": "walk"}]
    )  # fmt: skip
    visits = pd.DataFrame({"visit_id": list("abcd"), "duration": [30, 30, 60, 30]})
    patch = pd.Series({"a": "P1", "b": "P1", "c": "P1", "d": "P2"})
    classes = pd.DataFrame({"patch_id": ["P1", "P2"], "walk_reach_share": [1.0, 0.2],
                            "walk_class": ["walkable", "car-dependent"]})  # fmt: skip
    table = walking_figures(rounds, visits, patch, classes)
    assert table.loc["P1", "walk_visit_share"] == pytest.approx(2 / 3)
    assert table.loc["P2", "walk_visit_share"] == 0.0
    assert table.loc["total", "walk_visit_share"] == pytest.approx(2 / 4)  # not (2/3 + 0) / 2
    assert table.loc["P1", "walk_hours_share"] == pytest.approx(60 / 120)
    assert table.loc["P1", "walking_carers"] == 1
    assert table.loc["P1", "longest_walk_leg_min"] == 10.0  # legs between visits, not from home
    assert list(table.index) == ["P1", "P2", "total"]
    assert np.isnan(table.loc["total", "walk_reach_share"])
