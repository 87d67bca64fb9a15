"""The embedded synthetic town: osmnx accepts it, and walking and driving really differ."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import osmnx as ox
import pytest

from patchplan.examples.town import (
    FOOTBRIDGE_ROW,
    RIVER_AFTER_COLUMN,
    grid_point,
    make_town,
    street_nodes,
)
from patchplan.matrix import NetworkTravel
from patchplan.network import load_network


@pytest.fixture(scope="module")
def town():
    return make_town()


@pytest.fixture(scope="module")
def graphs(town):
    return {mode: load_network(town.streets, mode) for mode in ("walk", "drive")}


def test_same_seed_same_town():
    a, b = make_town(seed=3), make_town(seed=3)
    assert nx.utils.graphs_equal(a.streets, b.streets)
    assert a.areas.equals(b.areas)
    assert a.addresses.geometry.equals(b.addresses.geometry)


def test_osmnx_accepts_the_street_graph(town):
    nodes, edges = ox.graph_to_gdfs(town.streets)
    assert nodes.crs == "EPSG:27700"
    assert {"highway", "oneway", "length"} <= set(edges.columns)
    assert ox.stats.basic_stats(town.streets)["n"] == town.streets.number_of_nodes()


def test_every_layer_is_labelled_synthetic(town):
    for layer in (
        town.areas,
        town.neighbourhoods,
        town.pcns,
        town.practices,
        town.addresses,
        town.boundary,
    ):
        assert layer["synthetic"].all()
    assert town.streets.graph["synthetic"] is True


def test_walk_graph_keeps_the_footbridge_and_drive_graph_drops_it(graphs):
    bridge = (
        street_nodes(RIVER_AFTER_COLUMN, FOOTBRIDGE_ROW),
        street_nodes(RIVER_AFTER_COLUMN + 1, FOOTBRIDGE_ROW),
    )
    assert graphs["walk"].has_edge(*bridge)
    assert not graphs["drive"].has_edge(*bridge)


def test_walkers_cannot_use_the_dual_carriageway(graphs):
    walk_highways = {d["highway"] for *_, d in graphs["walk"].edges(data=True)}
    drive_highways = {d["highway"] for *_, d in graphs["drive"].edges(data=True)}
    assert "trunk" in drive_highways and "trunk" not in walk_highways
    assert {"footway", "pedestrian", "steps"} <= walk_highways
    assert not {"footway", "pedestrian", "steps"} & drive_highways


def test_one_way_gyratory_is_one_way_for_cars_only(graphs):
    u, v = (
        street_nodes(13, 8),
        street_nodes(14, 8),
    )  # clockwise along the north side of the gyratory
    assert graphs["drive"].has_edge(u, v) and not graphs["drive"].has_edge(v, u)
    assert graphs["walk"].has_edge(u, v) and graphs["walk"].has_edge(v, u)


def test_across_the_footbridge_walking_beats_driving(graphs):
    """Two homes facing each other across the river, joined directly only by the footbridge."""
    west = grid_point(RIVER_AFTER_COLUMN - 0.1, FOOTBRIDGE_ROW + 0.1)
    east = grid_point(RIVER_AFTER_COLUMN + 1.1, FOOTBRIDGE_ROW + 0.1)
    points = gpd.GeoSeries([west, east], crs="EPSG:27700")
    walk = NetworkTravel(graphs["walk"]).matrix(points)
    drive = NetworkTravel(graphs["drive"]).matrix(points)
    assert walk.reachable.all() and drive.reachable.all()
    # ~180 m on foot (≈ 2.5 min) against a drive round by a road bridge ≥ 2 × 1 km away.
    assert walk.minutes[0, 1] < 5
    assert walk.minutes[0, 1] < drive.minutes[0, 1]
    assert drive.metres[0, 1] > 5 * walk.metres[0, 1]
