"""Street networks from the real OpenStreetMap extracts: building, travel times, snapping, errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from patchplan.errors import NetworkError
from patchplan.matrix import NetworkTravel
from patchplan.network import NetworkSettings, load_network, snap

LEEDS = "osm_leeds_city_centre_acteng/leeds_city_centre_highways_2023-05-07.osm"
RUTLAND = "osm_rutland_tombolo/rutland-latest.osm.pbf"
RUTLAND_POSTCODES = "os_codepoint_open_rutland_leeds/codepoint_open_2025_rutland_E06000017.csv"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> NetworkSettings:
    return NetworkSettings(cache_dir=str(tmp_path_factory.mktemp("network-cache")))


@pytest.fixture(scope="module")
def leeds_walk(shared_data: Path, settings: NetworkSettings) -> nx.MultiDiGraph:
    return load_network(shared_data / LEEDS, "walk", settings)


@pytest.fixture(scope="module")
def leeds_drive(shared_data: Path, settings: NetworkSettings) -> nx.MultiDiGraph:
    return load_network(shared_data / LEEDS, "drive", settings)


@pytest.fixture(scope="module")
def rutland_drive(shared_data: Path, settings: NetworkSettings) -> nx.MultiDiGraph:
    return load_network(shared_data / RUTLAND, "drive", settings)


def _highways(graph: nx.MultiDiGraph) -> pd.Series:
    values = [d["highway"] for _, _, d in graph.edges(data=True)]
    return pd.Series([v if isinstance(v, str) else ",".join(v) for v in values])


def _points(xy: list[tuple[float, float]]) -> gpd.GeoSeries:
    return gpd.GeoSeries([Point(x, y) for x, y in xy], crs="EPSG:27700")


# --- Leeds: walk and drive graphs -------------------------------------------------------------


def test_leeds_graphs_are_projected_strongly_connected_and_timed(leeds_walk, leeds_drive):
    for graph, mode in ((leeds_walk, "walk"), (leeds_drive, "drive")):
        assert graph.graph["mode"] == mode
        assert graph.graph["crs"] == "EPSG:27700"
        assert graph.graph["source"].endswith(".osm")
        assert nx.is_strongly_connected(graph)
        assert graph.graph["dropped_nodes"] >= 0 and graph.graph["dropped_edges"] >= 0
        xs = np.array([d["x"] for _, d in graph.nodes(data=True)])
        assert xs.min() > 425_000 and xs.max() < 433_000  # Leeds in British National Grid metres
        minutes = np.array([d["minutes"] for _, _, d in graph.edges(data=True)])
        assert (minutes > 0).all() and np.isfinite(minutes).all()
    # osmnx's own filters on the real file: the walk network is far bigger than the drive one
    assert leeds_walk.number_of_nodes() > 3 * leeds_drive.number_of_nodes()


def test_walk_graph_has_footways_steps_and_pedestrian_streets_that_drive_graph_lacks(
    leeds_walk, leeds_drive
):
    walk, drive = _highways(leeds_walk), _highways(leeds_drive)
    for kind in ("footway", "steps", "pedestrian"):
        assert walk.str.contains(kind).sum() > 0, kind
        assert drive.str.contains(kind).sum() == 0, kind


def test_walk_graph_is_two_way_and_drive_graph_keeps_one_way_streets(leeds_walk, leeds_drive):
    assert all(leeds_walk.has_edge(v, u) for u, v in leeds_walk.edges())
    one_way = [(u, v) for u, v, d in leeds_drive.edges(data=True) if d.get("oneway") is True]
    assert one_way, "central Leeds has one-way streets"
    assert any(not leeds_drive.has_edge(v, u) for u, v in one_way)


def test_steps_take_longer_per_metre_than_footways(leeds_walk):
    rate: dict[str, list[float]] = {"steps": [], "footway": [], "mixed": []}
    for _, _, d in leeds_walk.edges(data=True):
        kinds = set(d["highway"]) if isinstance(d["highway"], list) else {d["highway"]}
        kind = kinds.pop() if len(kinds) == 1 else ("mixed" if "steps" in kinds else None)
        if kind in rate:
            rate[kind].append(d["minutes"] / d["length"])
    flat = 60 / (NetworkSettings().walk_speed_kmh * 1000)  # minutes per metre
    assert np.allclose(rate["footway"], flat)
    assert np.allclose(rate["steps"], NetworkSettings().steps_penalty * flat)
    # a simplified edge of footway and steps is timed part by part: between the two rates
    mixed = np.array(rate["mixed"])
    assert (
        len(mixed)
        and (mixed > flat).all()
        and (mixed < NetworkSettings().steps_penalty * flat).all()
    )


def test_walking_a_pedestrian_street_beats_driving_round_it(leeds_walk, leeds_drive, settings):
    # the longest pedestrian-only street edge in the walk graph: both ends of it are on foot
    u, v, data = max(
        ((u, v, d) for u, v, d in leeds_walk.edges(data=True) if d["highway"] == "pedestrian"),
        key=lambda e: e[2]["length"],
    )
    line = data.get("geometry")
    a, b = leeds_walk.nodes[u], leeds_walk.nodes[v]
    if line is not None:
        p, q = line.interpolate(0.2, normalized=True), line.interpolate(0.8, normalized=True)
    else:
        p = Point(a["x"] * 0.8 + b["x"] * 0.2, a["y"] * 0.8 + b["y"] * 0.2)
        q = Point(a["x"] * 0.2 + b["x"] * 0.8, a["y"] * 0.2 + b["y"] * 0.8)
    pts = gpd.GeoSeries([p, q], crs="EPSG:27700")
    walk = NetworkTravel(leeds_walk, settings).matrix(pts)
    drive = NetworkTravel(leeds_drive, settings).matrix(pts)
    assert walk.reachable[0, 1] and drive.reachable[0, 1]
    # drive minutes already include parking_min at the destination
    assert walk.minutes[0, 1] < drive.minutes[0, 1]
    assert drive.minutes[0, 1] >= settings.parking_min


def test_leeds_matrices_respect_crow_fly_speed_and_walk_matrices_are_symmetric(
    leeds_walk, leeds_drive, settings
):
    rng = np.random.default_rng(7)
    xy = list(
        zip(rng.uniform(428_000, 430_500, 40), rng.uniform(433_800, 435_500, 40), strict=True)
    )
    pts = _points(xy)
    crow = np.hypot(*(np.array(xy)[:, None, :] - np.array(xy)[None, :, :]).transpose(2, 0, 1))
    walk = NetworkTravel(leeds_walk, settings).matrix(pts)
    ok = walk.reachable
    assert ok.sum() > 0.9 * ok.size
    walk_m_per_min = settings.walk_speed_kmh * 1000 / 60
    assert (walk.minutes[ok] >= crow[ok] / walk_m_per_min - 1e-9).all()
    assert (walk.metres[ok] >= crow[ok] - 1e-6).all()
    assert np.allclose(walk.minutes[ok], walk.minutes.T[ok])
    assert np.allclose(walk.metres[ok], walk.metres.T[ok])

    drive = NetworkTravel(leeds_drive, settings).matrix(pts)
    ok = drive.reachable
    fastest_m_per_min = 113 * 1000 / 60  # nothing in the UK is faster than 70 mph
    assert (drive.minutes[ok] >= crow[ok] / fastest_m_per_min).all()
    off_diagonal = ok & (crow > 0)
    assert (drive.minutes[off_diagonal] >= settings.parking_min).all()


def test_paths_follow_the_streets_from_point_to_point(leeds_walk, settings):
    travel = NetworkTravel(leeds_walk, settings)
    a, b = Point(428_600, 434_400), Point(429_900, 435_100)
    line = travel.path(a, b)
    assert line.coords[0] == (a.x, a.y) and line.coords[-1] == (b.x, b.y)
    metres = travel.matrix(gpd.GeoSeries([a, b], crs="EPSG:27700")).metres[0, 1]
    assert line.length >= a.distance(b)
    assert line.length == pytest.approx(metres, rel=0.05)


def test_second_load_of_a_file_comes_from_the_cache(shared_data, leeds_drive, settings):
    cached = list((Path(settings.cache_dir) / "networks").glob("drive-*.graphml"))
    assert len(cached) == 1
    again = load_network(shared_data / LEEDS, "drive", settings)
    assert again.graph["network_hash"] == leeds_drive.graph["network_hash"]
    assert sorted(again.nodes) == sorted(leeds_drive.nodes)
    minutes = {(u, v, k): d["minutes"] for u, v, k, d in leeds_drive.edges(keys=True, data=True)}
    for u, v, k, d in again.edges(keys=True, data=True):
        assert d["minutes"] == pytest.approx(minutes[(u, v, k)])


# --- Rutland: postcodes and a real journey ----------------------------------------------------


def test_every_rutland_postcode_snaps_within_500_m_or_is_a_listed_reject(
    shared_data, rutland_drive, settings
):
    cpo = pd.read_csv(shared_data / RUTLAND_POSTCODES)
    pts = gpd.GeoSeries(gpd.points_from_xy(cpo["Eastings"], cpo["Northings"]), crs="EPSG:27700")
    snapped = snap(pts, rutland_drive, settings)
    assert len(snapped) == len(cpo) == 1273
    ok = snapped[~snapped["rejected"]]
    bad = snapped[snapped["rejected"]]
    assert (ok["distance_m"] <= settings.snap_max_m).all()
    assert ok["node"].map(rutland_drive.has_node).all()
    assert (ok["access_min"] >= ok["distance_m"] / (settings.access_speed_kmh * 1000 / 60)).all()
    assert (bad["distance_m"] > settings.snap_max_m).all()
    assert bad["node"].isna().all()
    assert bad["reason"].str.contains("m from the nearest street").all()
    # a county of villages on roads: only remote farms may lie beyond 500 m of a drivable road
    assert len(bad) < 0.02 * len(cpo)


def test_oakham_to_uppingham_drive_time_is_plausible(rutland_drive, settings):
    # LE15 6DT (Oakham, Market Place) and LE15 9PY (Uppingham centre), Code-Point Open E/N
    oakham, uppingham = Point(486_150, 308_819), Point(486_773, 299_720)
    crow_m = oakham.distance(uppingham)  # about 9.1 km
    result = NetworkTravel(rutland_drive, settings).matrix(
        gpd.GeoSeries([oakham, uppingham], crs="EPSG:27700")
    )
    assert result.reachable.all()
    driving_min = result.minutes - settings.parking_min
    # Band: no faster than the crow-fly distance at 60 mph (97 km/h, the single-carriageway limit
    # on the A6003 between the towns), no slower than a 1.6 detour at a town-traffic 40 km/h.
    fastest = crow_m / (97_000 / 60)  # ≈ 5.6 min
    slowest = 1.6 * crow_m / (40_000 / 60)  # ≈ 21.8 min
    for minutes in (driving_min[0, 1], driving_min[1, 0]):
        assert fastest < minutes < slowest
    # the road distance: longer than the crow flies, but not a tour of the county
    assert crow_m < result.metres[0, 1] < 1.6 * crow_m


# --- points, rejects and pickling -------------------------------------------------------------


def test_far_points_are_rejected_with_their_distance_never_snapped(rutland_drive, settings):
    pts = _points([(486_150, 308_819), (470_000, 330_000), (486_773, 299_720)])
    travel = NetworkTravel(rutland_drive, settings)
    result = travel.matrix(pts)
    assert list(result.rejects["side"]) == ["origin", "destination"]
    assert list(result.rejects["position"]) == [1, 1]
    assert (result.rejects["distance_m"] > 10_000).all()
    assert not result.reachable[1].any() and not result.reachable[:, 1].any()
    assert np.isnan(result.minutes[1]).all()
    assert result.reachable[0, 2] and result.reachable[2, 0]
    assert result.n_unreachable == 5


def test_network_travel_pickles_with_identical_results(rutland_drive, settings):
    travel = NetworkTravel(rutland_drive, settings)
    pts = _points([(486_150, 308_819), (486_773, 299_720), (493_000, 305_000)])
    before = travel.matrix(pts)
    clone = pickle.loads(pickle.dumps(travel))
    after = clone.matrix(pts)
    assert clone.mode == "drive" and clone.estimate is False
    np.testing.assert_array_equal(before.minutes, after.minutes)
    np.testing.assert_array_equal(before.metres, after.metres)


# --- the embedded demo town: an in-memory graph -----------------------------------------------


def _demo_town() -> nx.MultiDiGraph:
    """Five nodes 100 m apart; a footbridge cars cannot use; a one-way primary road."""
    graph = nx.MultiDiGraph(crs="EPSG:27700")
    for node, (x, y) in enumerate([(0, 0), (100, 0), (200, 0), (100, 100), (0, 100)]):
        graph.add_node(node, x=float(x), y=float(y))

    def street(u: int, v: int, length: float, highway: str) -> None:
        graph.add_edge(u, v, length=length, highway=highway, oneway=False)
        graph.add_edge(v, u, length=length, highway=highway, oneway=False)

    for u, v in ((0, 1), (1, 2), (1, 3), (0, 4), (4, 3)):
        street(u, v, 100.0, "residential")
    street(0, 3, 141.4, "footway")  # the footbridge
    graph.add_edge(2, 3, length=141.4, highway="primary", oneway=True, maxspeed="30 mph")
    return graph


def test_demo_town_graph_walk_uses_footbridge_and_drive_obeys_one_way():
    town = _demo_town()
    walk = load_network(town, "walk", NetworkSettings(cache_dir=""))
    drive = load_network(town, "drive", NetworkSettings(cache_dir=""))
    assert town.number_of_edges() == 13  # the source graph is left untouched
    assert walk.has_edge(0, 3) and not drive.has_edge(0, 3)  # footbridge: walkers only
    assert drive.has_edge(2, 3) and not drive.has_edge(3, 2)  # one-way primary
    assert walk.has_edge(3, 2)  # walkers may go either way along a one-way street
    assert walk.graph["source"] == drive.graph["source"] == "in-memory graph"
    # 30 mph tagged primary: 48.3 km/h × urban factor
    primary = drive.edges[2, 3, 0]
    assert primary["speed_kph"] == pytest.approx(48.28 * NetworkSettings().drive_urban_factor, 0.01)

    nodes = [(0, 0), (100, 100), (200, 0)]
    pts = _points(nodes)
    w = NetworkTravel(walk, NetworkSettings(cache_dir="")).matrix(pts)
    d = NetworkTravel(drive, NetworkSettings(cache_dir="")).matrix(pts)
    assert w.metres[0, 1] == pytest.approx(141.4)  # over the footbridge
    assert d.metres[0, 1] == pytest.approx(200.0)  # round by road
    assert d.metres[2, 1] == pytest.approx(141.4)  # with the one-way
    assert d.metres[1, 2] == pytest.approx(200.0)  # against it: round by 3 → 1 → 2
    assert w.metres[1, 2] == pytest.approx(141.4)
    assert w.minutes[0, 1] == pytest.approx(141.4 / (4500 / 60))


def test_demo_town_graph_keeps_the_largest_strongly_connected_part():
    town = _demo_town()
    town.add_node(9, x=500.0, y=500.0)
    town.add_edge(9, 0, length=400.0, highway="residential", oneway=True)  # a dead-end one-way
    drive = load_network(town, "drive", NetworkSettings(cache_dir=""))
    assert 9 not in drive
    assert drive.graph["dropped_nodes"] == 1 and drive.graph["dropped_edges"] == 1


# --- bad input gives a specific NetworkError --------------------------------------------------


def test_missing_file_is_a_network_error_naming_it(tmp_path):
    with pytest.raises(NetworkError, match=r"nowhere\.osm\.pbf: network file not found"):
        load_network(tmp_path / "nowhere.osm.pbf", "drive", NetworkSettings(cache_dir=""))


def test_empty_file_is_a_network_error(tmp_path):
    path = tmp_path / "empty.osm"
    path.write_bytes(b"")
    with pytest.raises(NetworkError, match=r"empty\.osm: network file is empty"):
        load_network(path, "walk", NetworkSettings(cache_dir=""))


def test_file_without_highways_is_a_network_error(tmp_path):
    path = tmp_path / "buildings.osm"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6">\n'
        '<node id="1" lat="53.80" lon="-1.55"/><node id="2" lat="53.80" lon="-1.54"/>\n'
        '<node id="3" lat="53.81" lon="-1.54"/>\n'
        '<way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="1"/>'
        '<tag k="building" v="yes"/></way>\n</osm>\n'
    )
    with pytest.raises(NetworkError, match=r"buildings\.osm: the file contains no OSM ways tagged"):
        load_network(path, "walk", NetworkSettings(cache_dir=""))


def test_file_with_only_unusable_highways_names_the_mode(tmp_path):
    path = tmp_path / "footpaths.osm"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6">\n'
        '<node id="1" lat="53.80" lon="-1.55"/><node id="2" lat="53.80" lon="-1.54"/>\n'
        '<way id="10"><nd ref="1"/><nd ref="2"/><tag k="highway" v="footway"/></way>\n</osm>\n'
    )
    with pytest.raises(NetworkError, match=r"footpaths\.osm: none of its 1 highway ways is usable"):
        load_network(path, "drive", NetworkSettings(cache_dir=""))


def test_corrupt_pbf_is_a_network_error(tmp_path):
    path = tmp_path / "broken.osm.pbf"
    path.write_bytes(np.random.default_rng(1).bytes(4096))
    with pytest.raises(NetworkError, match=r"broken\.osm\.pbf: corrupt or unreadable OSM file"):
        load_network(path, "drive", NetworkSettings(cache_dir=""))


def test_place_name_offline_fails_at_once_saying_which_file_to_supply(monkeypatch):
    monkeypatch.setenv("PATCHPLAN_OFFLINE", "1")
    with pytest.raises(NetworkError, match=r"place 'Oakham, Rutland'.*offline.*\.osm\.pbf"):
        load_network("Oakham, Rutland", "drive")
    with pytest.raises(NetworkError, match=r"polygon.*offline"):
        load_network(box(-0.75, 52.65, -0.70, 52.68), "walk")


def test_unknown_mode_is_a_network_error():
    with pytest.raises(NetworkError, match="unknown travel mode 'boat'"):
        load_network(_demo_town(), "boat")


def test_settings_from_a_toml_table_accept_a_speed_dict():
    settings = NetworkSettings(drive_speeds_kmh={"residential": 25, "primary": 60}, cache_dir="")
    assert settings.drive_speeds_kmh == (("primary", 60.0), ("residential", 25.0))
    with pytest.raises(NetworkError, match="walk_speed_kmh must be positive"):
        NetworkSettings(walk_speed_kmh=0)


def test_place_names_come_from_the_osm_file_most_important_first(shared_data):
    from patchplan.network import place_names

    places = place_names(shared_data / RUTLAND)
    assert places.crs.to_epsg() == 27700
    towns = places[places["place"] == "town"]
    assert sorted(towns["name"]) == ["Oakham", "Uppingham"]
    assert list(places["rank"]) == sorted(places["rank"])  # towns before villages
    assert (places["place"] == "village").sum() > 40
    oakham = towns.set_index("name").geometry["Oakham"]
    assert oakham.distance(Point(486_000, 308_800)) < 500  # Oakham's centre


def test_main_roads_are_the_networks_trunk_and_primary_roads(rutland_drive):
    from patchplan.network import main_roads

    roads = main_roads(rutland_drive)
    assert set(roads["highway"]) <= {"motorway", "trunk", "primary"}
    assert {"trunk", "primary"} <= set(roads["highway"])  # the A1 and the A47/A6003
    assert roads.geom_type.isin(["LineString"]).all()
    assert 20_000 < roads.length.sum() < 500_000  # tens of km of main road in a small county


def test_a_missing_osm_file_has_no_places(tmp_path):
    from patchplan.network import place_names

    with pytest.raises(NetworkError, match="not found"):
        place_names(tmp_path / "nowhere.osm.pbf")
