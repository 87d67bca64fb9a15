"""Walking feasibility: a compact patch is walkable, a sprawling one needs cars."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from shapely.geometry import Point

from patchplan.feasibility import FeasibilitySettings, walking_feasibility
from patchplan.matrix import StraightLineTravel

TRAVEL = {"walk": StraightLineTravel("walk"), "drive": StraightLineTravel("drive")}
FAST = FeasibilitySettings(time_limit_s=5, solution_limit=200)


def patch_day(radius_m: float, n: int = 16, seed: int = 1) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    angle, r = rng.uniform(0, 2 * np.pi, n), radius_m * np.sqrt(rng.uniform(0, 1, n))
    earliest = rng.integers(450, 1100, n)
    return gpd.GeoDataFrame(
        {"visit_id": [f"v{i}" for i in range(n)], "person_id": [f"p{i}" for i in range(n)],
         "day": 0, "earliest": earliest, "latest": earliest + 45, "duration": 30, "carers": 1,
         "skills": ""},
        geometry=[Point(x, y) for x, y in zip(r * np.cos(angle), r * np.sin(angle), strict=True)],
        crs="EPSG:27700",
    )  # fmt: skip


def test_a_compact_patch_is_walkable():
    out = walking_feasibility(patch_day(600), Point(0, 0), TRAVEL, FAST)
    assert out["class"] == "walkable"
    assert out["visits_on_foot_share"] >= 0.9
    assert out["walking_carers_needed"] >= 1
    assert 0 < out["mean_walk_leg_min"] <= out["longest_walk_leg_min"]


def test_a_sprawling_patch_is_car_dependent():
    out = walking_feasibility(patch_day(40_000), Point(0, 0), TRAVEL, FAST)
    assert out["class"] == "car-dependent"
    assert out["visits_on_foot_share"] < 0.5
    assert out["mixed_driving_carers"] >= 1
    assert out["mixed_unserved"] < out["visits"] * (1 - out["visits_on_foot_share"])
