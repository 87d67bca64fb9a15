"""Leeds city centre on real OpenStreetMap: a day of ~150 visits planned on foot along footways."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

from patchplan.matrix import NetworkTravel
from patchplan.network import load_network
from patchplan.rounds import RETURN, RoundsSettings, legs_geometry, plan_rounds

pytestmark = pytest.mark.shared
FOOT = {"footway", "pedestrian", "path", "steps", "living_street"}


@pytest.fixture(scope="module")
def leeds_walk(shared_data):
    osm = shared_data / "osm_leeds_city_centre_acteng" / "leeds_city_centre_highways_2023-05-07.osm"
    return load_network(osm, "walk")


def generated_day(graph, n: int = 150, seed: int = 4) -> gpd.GeoDataFrame:
    """Visits at homes near random street nodes, windows through the day, some double-ups."""
    rng = np.random.default_rng(seed)
    nodes = list(graph.nodes)
    picks = rng.choice(len(nodes), size=n, replace=False)
    xy = np.array([(graph.nodes[nodes[k]]["x"], graph.nodes[nodes[k]]["y"]) for k in picks])
    xy += rng.uniform(-15, 15, xy.shape)  # a door a few metres off the street
    earliest = rng.choice([450, 480, 720, 750, 1020, 1080, 1200], n) + rng.integers(0, 60, n)
    return gpd.GeoDataFrame(
        {
            "visit_id": [f"L{i:03d}" for i in range(n)],
            "person_id": [f"P{i // 2:03d}" for i in range(n)],
            "day": 0,
            "earliest": earliest,
            "latest": earliest + 60,
            "duration": rng.choice([15, 30, 45], n, p=[0.3, 0.5, 0.2]),
            "carers": rng.choice([1, 2], n, p=[0.9, 0.1]),
            "skills": "",
        },
        geometry=[Point(x, y) for x, y in xy],
        crs="EPSG:27700",
    )


def test_a_leeds_day_plans_on_foot_along_footways(leeds_walk):
    visits = generated_day(leeds_walk)
    centre = Point(*np.median(np.column_stack([visits.geometry.x, visits.geometry.y]), axis=0))
    carers = gpd.GeoDataFrame(
        {"carer_id": [f"W{j:02d}" for j in range(20)], "mode": "walk", "shift_start": 420,
         "shift_end": 1320, "max_minutes": 720, "break_earliest": 780, "break_latest": 900,
         "break_minutes": 30, "skills": "", "provider_id": "leeds"},
        geometry=[centre] * 20, crs="EPSG:27700",
    )  # fmt: skip
    travel = {"walk": NetworkTravel(leeds_walk)}
    settings = RoundsSettings(time_limit_s=40, solution_limit=300)
    result = plan_rounds(visits, carers, travel, settings)

    assert result.kpis["estimate"] == 0
    assert (result.rounds["mode"] == "walk").all()
    served = set(result.rounds.visit_id) - {RETURN}
    assert len(served) >= 0.85 * len(visits)
    assert served | set(result.unserved.visit_id) == set(visits.visit_id)

    legs = legs_geometry(result, travel)
    moving = legs[legs.travel_m > 50]
    crow = [Point(g.coords[0]).distance(Point(g.coords[-1])) for g in moving.geometry]
    assert (moving.length.to_numpy() >= np.array(crow) - 1e-6).all()
    assert (moving.geometry.apply(lambda g: len(g.coords)) > 2).mean() > 0.9
    assert np.allclose(moving.length, moving.travel_m, rtol=0.25, atol=60)

    edges = [
        d.get("geometry")
        for _, _, d in leeds_walk.edges(data=True)
        if FOOT & set(np.atleast_1d(d.get("highway", "")))
    ]
    footways = gpd.GeoSeries([e for e in edges if e is not None], crs="EPSG:27700")
    on_foot_paths = moving.geometry.intersection(footways.union_all().buffer(2.0)).length.sum()
    assert on_foot_paths > 0.1 * moving.length.sum()
    assert pd.Series(result.kpis).notna().all()
