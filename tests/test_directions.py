"""Turn-by-turn directions along the demo town's streets, and the routes they come from."""

from __future__ import annotations

import pytest
from shapely.geometry import Point

from patchplan.directions import NO_STREETS, describe, distance_text, steps, turn_of
from patchplan.examples.town import grid_point, make_town
from patchplan.matrix import NetworkTravel, RouteEdge, StraightLineTravel
from patchplan.network import load_network, street_label


@pytest.fixture(scope="module")
def travel():
    town = make_town()
    return {mode: NetworkTravel(load_network(town.streets, mode)) for mode in ("walk", "drive")}


def _edge(label: str, bearing: float, length: float = 100.0, name: str | None = None) -> RouteEdge:
    name = label if name is None and not label.startswith("unnamed") else (name or "")
    return RouteEdge(name, "", label, "residential", length, 1.0, bearing, bearing)


@pytest.mark.parametrize(
    ("into", "out", "turn"),
    [
        (0, 0, "straight on"),
        (0, 15, "straight on"),
        (0, 30, "bear right"),
        (0, 90, "turn right"),
        (0, 270, "turn left"),
        (350, 80, "turn right"),  # across north
        (90, 250, "sharp right"),
        (0, 180, "make a U-turn"),
        (180, 140, "bear left"),
    ],
)
def test_turns_are_named_from_the_change_of_bearing(into, out, turn):
    assert turn_of(into, out) == turn


def test_one_street_is_one_step_however_it_bends_and_unnamed_ways_split_at_turns():
    edges = [
        _edge("Mill Road", 90), _edge("Mill Road", 120), _edge("Lime Street", 30),
        _edge("unnamed path", 30), _edge("unnamed path", 35), _edge("unnamed path", 300),
    ]  # fmt: skip
    out = steps(edges)
    assert [s.street for s in out] == ["Mill Road", "Lime Street", "unnamed path", "unnamed path"]
    assert [s.turn for s in out] == ["start", "turn left", "straight on", "turn left"]
    assert out[0].length_m == 200 and out[2].length_m == 200
    assert out[0].heading == "east"


def test_distances_read_as_a_person_would_say_them():
    assert distance_text(347) == "350 m"
    assert distance_text(1234) == "1.2 km"
    assert distance_text(3) == "3 m"


def test_walk_across_the_grid_takes_the_fewest_streets(travel):
    """Many paths are equally fast on a grid; the route changes street once, not at each block."""
    a, b = grid_point(1.1, 1.0), grid_point(8, 6.2)
    route = travel["walk"].route(a, b)
    assert [s.street for s in steps(route.edges)] == ["Mill Road", "Lime Street"]
    text = describe(route, "walk")
    assert text == "Walk 1.1 km east along Mill Road, then turn left onto Lime Street for 750 m."
    assert route.geometry.coords[0] == (a.x, a.y) and route.geometry.coords[-1] == (b.x, b.y)
    assert travel["walk"].path(a, b).equals(route.geometry)


def test_walkers_cross_the_footbridge_that_drivers_go_round(travel):
    a, b = grid_point(9, 7.1), grid_point(12, 7.2)
    walk = describe(travel["walk"].route(a, b), "walk")
    drive = describe(travel["drive"].route(a, b), "drive")
    assert "Millennium Footbridge" in walk and "Millennium Footbridge" not in drive
    assert "Town Bridge" in drive and drive.startswith("Drive ")


def test_route_edges_carry_the_names_of_the_graph_edges_walked(travel):
    walk = travel["walk"]
    route = walk.route(grid_point(3, 8.5), grid_point(4.2, 12))
    labels = {street_label(d) for _, _, d in walk.graph.edges(data=True)}
    assert route.edges and all(e.label in labels for e in route.edges)
    assert "unnamed path" in describe(route, "walk")  # the park's footpaths have no name
    assert sum(e.length_m for e in route.edges) == pytest.approx(
        route.geometry.length - route.access_from_m - route.access_to_m, abs=1.0
    )


def test_two_doors_at_one_corner_name_the_street_between_them(travel):
    a, b = grid_point(2.5, 3.08), grid_point(2.4, 3.08)
    route = travel["walk"].route(a, b)
    assert route.edges == ()
    assert describe(route, "walk").endswith("along Chapel Road to the next door.")


def test_the_straight_line_estimate_says_it_has_no_directions():
    route = StraightLineTravel(mode="walk").route(Point(0, 0), Point(300, 400))
    assert route.estimate and route.edges == ()
    assert describe(route, "walk") == NO_STREETS
