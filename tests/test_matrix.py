"""Travel-time matrices: scipy Dijkstra on the CSR copy agrees with networkx, and is honest about gaps."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
from shapely.geometry import Point

from patchplan.errors import NetworkError
from patchplan.matrix import (
    NetworkTravel,
    StraightLineTravel,
    TravelMatrix,
    TravelTimes,
    csr_graph,
    travel_times,
)
from patchplan.network import NetworkSettings, load_network

RUTLAND = "osm_rutland_tombolo/rutland-latest.osm.pbf"


@pytest.fixture(scope="module")
def rutland_drive(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> nx.MultiDiGraph:
    settings = NetworkSettings(cache_dir=str(tmp_path_factory.mktemp("matrix-cache")))
    return load_network(shared_data / RUTLAND, "drive", settings)


def _sample_nodes(graph: nx.MultiDiGraph, k: int, seed: int) -> list[int]:
    nodes = sorted(graph.nodes)
    rng = np.random.default_rng(seed)
    return [nodes[i] for i in rng.choice(len(nodes), size=k, replace=False)]


def test_matrix_equals_networkx_dijkstra_on_rutland_drive(rutland_drive):
    origins = _sample_nodes(rutland_drive, 12, seed=1)
    destinations = _sample_nodes(rutland_drive, 40, seed=2)
    result = travel_times(rutland_drive, origins, destinations)
    assert result.shape == (12, 40)
    assert result.reachable.all()  # load_network keeps one strongly connected component
    for i, origin in enumerate(origins):
        minutes = nx.single_source_dijkstra_path_length(rutland_drive, origin, weight="minutes")
        expected = np.array([minutes[d] for d in destinations])
        # one Dijkstra pass on packed weights: minutes exact to ~1e-6 min per edge
        np.testing.assert_allclose(result.minutes[i], expected, rtol=0, atol=1e-5)


def test_metres_are_the_length_of_the_fastest_path(rutland_drive):
    origins = _sample_nodes(rutland_drive, 5, seed=3)
    destinations = _sample_nodes(rutland_drive, 8, seed=4)
    result = travel_times(rutland_drive, origins, destinations)
    shortest = travel_times(rutland_drive, origins, destinations, weight="length")
    for i, origin in enumerate(origins):
        paths = nx.single_source_dijkstra_path(rutland_drive, origin, weight="minutes")
        for j, dest in enumerate(destinations):
            path = paths[dest]
            metres = sum(
                min(rutland_drive.get_edge_data(u, v).values(), key=lambda d: d["minutes"])[
                    "length"
                ]
                for u, v in zip(path[:-1], path[1:], strict=True)
            )
            assert result.metres[i, j] == pytest.approx(metres, abs=0.01 * len(path))
    # the fastest path is never shorter than the shortest one, nor is the shortest one quicker
    assert (result.metres >= shortest.metres - 0.5).all()
    assert (shortest.minutes >= result.minutes - 1e-5).all()


def test_packed_single_pass_agrees_with_the_predecessor_tree_sums(rutland_drive):
    origins = _sample_nodes(rutland_drive, 25, seed=6)
    destinations = _sample_nodes(rutland_drive, 60, seed=7)
    one_pass = travel_times(rutland_drive, origins, destinations)
    tree = travel_times(rutland_drive, origins, destinations, packed=False)
    np.testing.assert_allclose(one_pass.minutes, tree.minutes, rtol=0, atol=1e-5)
    np.testing.assert_allclose(one_pass.metres, tree.metres, rtol=0, atol=1.0)


def test_chunked_and_unchunked_runs_agree(rutland_drive):
    origins = _sample_nodes(rutland_drive, 30, seed=5)
    whole = travel_times(rutland_drive, origins)
    chunked = travel_times(rutland_drive, origins, memory_bytes=1)  # one origin per chunk
    np.testing.assert_array_equal(whole.minutes, chunked.minutes)
    np.testing.assert_array_equal(whole.metres, chunked.metres)
    assert np.diag(whole.minutes).max() == 0.0


def test_unreachable_pairs_are_marked_counted_and_nan_never_infinite():
    graph = nx.MultiDiGraph(crs="EPSG:27700", mode="drive")
    for node in range(5):
        graph.add_node(node, x=float(node * 100), y=0.0)
    graph.add_edge(0, 1, length=100.0, minutes=1.0)
    graph.add_edge(1, 0, length=100.0, minutes=1.0)
    graph.add_edge(1, 2, length=100.0, minutes=2.0)  # one way into 2
    graph.add_edge(3, 4, length=50.0, minutes=0.5)  # an island
    graph.add_edge(4, 3, length=50.0, minutes=0.5)
    result = travel_times(graph, [0, 2, 3], [0, 1, 2, 4])
    expected = np.array(
        [[True, True, True, False], [False, False, True, False], [False, False, False, True]]
    )
    np.testing.assert_array_equal(result.reachable, expected)
    assert result.n_unreachable == 7
    assert not np.isinf(result.minutes).any() and not np.isinf(result.metres).any()
    assert np.isnan(result.minutes[~expected]).all() and np.isnan(result.metres[~expected]).all()
    assert result.minutes[0, 2] == 3.0 and result.metres[0, 2] == 200.0


def test_parallel_edges_use_the_fastest_and_unknown_nodes_are_named():
    graph = nx.MultiDiGraph(crs="EPSG:27700", mode="walk")
    graph.add_node("a", x=0.0, y=0.0)
    graph.add_node("b", x=100.0, y=0.0)
    graph.add_edge("a", "b", length=300.0, minutes=4.0)  # the long way round, slower
    graph.add_edge("a", "b", length=100.0, minutes=1.5)
    graph.add_edge("b", "a", length=100.0, minutes=1.5)
    result = travel_times(graph, ["a"], ["b"])
    assert result.minutes[0, 0] == pytest.approx(1.5, abs=1e-6)
    assert result.metres[0, 0] == pytest.approx(100.0, abs=0.01)
    assert csr_graph(graph) is csr_graph(graph)  # built once per graph
    with pytest.raises(NetworkError, match="node 'z' is not in the network"):
        travel_times(graph, ["a"], ["z"])


def test_network_travel_is_a_travel_times_and_adds_access_and_parking(rutland_drive):
    settings = NetworkSettings(cache_dir="")
    travel = NetworkTravel(rutland_drive, settings)
    assert isinstance(travel, TravelTimes)
    assert (travel.mode, travel.estimate) == ("drive", False)
    pts = gpd.GeoSeries([Point(486_150, 308_819), Point(486_773, 299_720)], crs="EPSG:27700")
    door_to_door = travel.matrix(pts)
    assert isinstance(door_to_door, TravelMatrix) and door_to_door.rejects.empty
    from patchplan.network import snap

    snapped = snap(pts, rutland_drive, settings)
    nodes = travel_times(rutland_drive, list(snapped["node"]))
    access = snapped["access_min"].to_numpy()
    expected = access[0] + nodes.minutes[0, 1] + access[1] + settings.parking_min
    assert door_to_door.minutes[0, 1] == pytest.approx(expected)
    assert np.diag(door_to_door.minutes).tolist() == [0.0, 0.0]


def test_straight_line_estimate_is_labelled_and_uses_circuity():
    pts = gpd.GeoSeries([Point(0, 0), Point(3000, 4000)], crs="EPSG:27700")
    estimate = StraightLineTravel("walk").matrix(pts)
    assert estimate.estimate is True and estimate.mode == "walk"
    assert estimate.metres[0, 1] == pytest.approx(5000 * 1.3)
    assert estimate.minutes[0, 1] == pytest.approx(5000 * 1.3 / (4500 / 60))


def _graph_with_trees(seed: int) -> nx.MultiDiGraph:
    """A strongly connected core (a one-way ring with two-way chords) with dead-end trees hung
    off it; tree edges are two-way with different minutes each way, some parallel edges."""
    rng = np.random.default_rng(seed)
    graph = nx.MultiDiGraph(crs="EPSG:27700", mode="drive")
    ring = 12
    for node in range(ring):
        length = float(rng.uniform(50, 500))
        graph.add_edge(
            node, (node + 1) % ring, length=length, minutes=length / rng.uniform(200, 800)
        )
    for _ in range(4):
        a, b = (int(x) for x in rng.choice(ring, 2, replace=False))
        length = float(rng.uniform(50, 500))
        graph.add_edge(a, b, length=length, minutes=float(rng.uniform(0.2, 2)))
        graph.add_edge(b, a, length=length, minutes=float(rng.uniform(0.2, 2)))
    for node in range(ring, ring + 40):  # each new node hangs off an earlier one
        parent = int(rng.integers(0, node))
        length = float(rng.uniform(20, 300))
        graph.add_edge(node, parent, length=length, minutes=float(rng.uniform(0.1, 1)))
        graph.add_edge(parent, node, length=length, minutes=float(rng.uniform(0.1, 1)))
        if rng.random() < 0.2:  # a slower parallel edge, never used
            graph.add_edge(parent, node, length=length / 2, minutes=5.0)
    for node in graph.nodes:
        graph.nodes[node].update(x=0.0, y=0.0)
    return graph


def _networkx_fastest(graph: nx.MultiDiGraph, origin) -> tuple[dict, dict]:
    minutes, paths = nx.single_source_dijkstra(graph, origin, weight="minutes")
    metres = {
        dest: sum(
            min(graph.get_edge_data(u, v).values(), key=lambda d: d["minutes"])["length"]
            for u, v in zip(path[:-1], path[1:], strict=True)
        )
        for dest, path in paths.items()
    }
    return minutes, metres


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dead_end_trees_are_answered_exactly_from_their_root(seed):
    graph = _graph_with_trees(seed)
    csr = csr_graph(graph)
    from patchplan.matrix import _contracted, _packed

    core = _contracted(csr, _packed(csr)[0])
    tree_nodes = csr.nodes[core.root != np.arange(csr.n)]
    assert len(tree_nodes) >= 20 and core.depth.max() >= 3  # deep trees, same-tree pairs
    nodes = sorted(graph.nodes)
    result = travel_times(graph, nodes, nodes[::-1])
    whole = travel_times(graph, nodes, nodes[::-1], packed=False)  # no contraction
    assert result.reachable.all()
    for i, origin in enumerate(nodes):
        minutes, metres = _networkx_fastest(graph, origin)
        np.testing.assert_allclose(
            result.minutes[i], [minutes[d] for d in nodes[::-1]], rtol=0, atol=1e-5
        )
        np.testing.assert_allclose(
            result.metres[i], [metres[d] for d in nodes[::-1]], rtol=0, atol=0.05
        )
    np.testing.assert_allclose(result.minutes, whole.minutes, rtol=0, atol=1e-5)
    np.testing.assert_allclose(result.metres, whole.metres, rtol=0, atol=0.05)
    # shortest paths (weight="length") on the same contraction
    shortest = travel_times(graph, nodes, nodes, weight="length")
    for i, origin in enumerate(nodes[:10]):
        length = nx.single_source_dijkstra_path_length(graph, origin, weight="length")
        np.testing.assert_allclose(
            shortest.metres[i], [length[d] for d in nodes], rtol=0, atol=0.05
        )


def test_rutland_tree_nodes_as_origins_and_destinations(rutland_drive):
    csr = csr_graph(rutland_drive)
    from patchplan.matrix import _contracted, _packed

    core = _contracted(csr, _packed(csr)[0])
    in_tree = core.root != np.arange(csr.n)
    assert in_tree.mean() > 0.3  # about 1/3 of Rutland drive nodes hang off the core
    deep = np.flatnonzero(core.depth >= 3)
    # deep tree nodes, their siblings in the same tree, and their roots
    same_tree = np.flatnonzero(np.isin(core.root, core.root[deep[:15]]) & in_tree)
    origins = csr.nodes[np.concatenate([deep[:15], core.root[deep[:5]]])]
    destinations = csr.nodes[same_tree[:60]]
    result = travel_times(rutland_drive, origins, destinations)
    whole = travel_times(rutland_drive, origins, destinations, packed=False)
    np.testing.assert_allclose(result.minutes, whole.minutes, rtol=0, atol=1e-5)
    np.testing.assert_allclose(result.metres, whole.metres, rtol=0, atol=1.0)
    for i, origin in enumerate(origins[:6].tolist()):
        minutes = nx.single_source_dijkstra_path_length(rutland_drive, origin, weight="minutes")
        expected = [minutes[d] for d in destinations.tolist()]
        np.testing.assert_allclose(result.minutes[i], expected, rtol=0, atol=1e-5)


def test_two_processes_give_the_same_matrix_as_one(rutland_drive):
    origins = _sample_nodes(rutland_drive, 40, seed=8)
    destinations = _sample_nodes(rutland_drive, 30, seed=9)
    one = travel_times(rutland_drive, origins, destinations, workers=1)
    two = travel_times(rutland_drive, origins, destinations, workers=2)
    np.testing.assert_array_equal(one.minutes, two.minutes)
    np.testing.assert_array_equal(one.metres, two.metres)
    minutes_only = travel_times(rutland_drive, origins, destinations, with_metres=False)
    np.testing.assert_array_equal(minutes_only.minutes, one.minutes)
    assert np.isnan(minutes_only.metres).all()


def _graph_with_a_one_way_chain() -> nx.MultiDiGraph:
    """Hubs 0, 1, 2 (a two-way triangle) and a chain 0 ↔ 10 ↔ 11 → 12 ↔ 1 whose segment
    11 → 12 is one-way; node 20 hangs off chain node 10. Metres are 500 × minutes."""
    graph = nx.MultiDiGraph(crs="EPSG:27700", mode="drive")
    two_way = [(0, 1, 10.0), (1, 2, 1.5), (0, 2, 1.0), (0, 10, 1.0), (10, 11, 1.0), (12, 1, 1.0)]
    two_way.append((10, 20, 2.0))
    for u, v, minutes in two_way:
        graph.add_edge(u, v, minutes=minutes, length=500.0 * minutes)
        graph.add_edge(v, u, minutes=minutes, length=500.0 * minutes)
    graph.add_edge(11, 12, minutes=1.0, length=500.0)
    for node in graph.nodes:
        graph.nodes[node].update(x=0.0, y=0.0)
    return graph


def test_chain_nodes_get_exact_times_through_a_one_way_segment():
    from scipy.sparse.csgraph import dijkstra

    from patchplan.matrix import _chains, _contracted, _core_distances, _packed

    graph = _graph_with_a_one_way_chain()
    csr = csr_graph(graph)
    core = _contracted(csr, _packed(csr)[0])
    chains = _chains(csr, core)
    on_chain = csr.nodes[core.core_id >= 0][chains.chain >= 0]
    # 2 has two neighbours too (a chain 0 - 2 - 1); 20 is a dead-end tree off chain node 10
    assert sorted(on_chain.tolist()) == [2, 10, 11, 12]
    nodes = sorted(graph.nodes)
    result = travel_times(graph, nodes, nodes)
    at = {node: i for i, node in enumerate(nodes)}
    known = {  # (origin, destination): minutes, worked out by hand
        (11, 10): 1.0,  # back along the chain
        (11, 12): 1.0,  # along the one-way segment
        (12, 11): 5.5,  # not back through it: 12 → 1 → 2 → 0 → 10 → 11
        (12, 10): 4.5,
        (11, 2): 3.0,  # via 10 and 0 (3.5 via 12 and 1)
        (1, 11): 4.5,  # 1 → 2 → 0 → 10 → 11
        (20, 12): 4.0,  # tree node to chain node
        (12, 20): 6.5,
        (11, 11): 0.0,
    }
    for (o, d), minutes in known.items():
        assert result.minutes[at[o], at[d]] == pytest.approx(minutes, abs=1e-5)  # packing
        assert result.metres[at[o], at[d]] == pytest.approx(500.0 * minutes, abs=0.05)
    assert result.reachable.all()
    for origin in nodes:
        expected = nx.single_source_dijkstra_path_length(graph, origin, weight="minutes")
        np.testing.assert_allclose(
            result.minutes[at[origin]], [expected[d] for d in nodes], rtol=0, atol=1e-5
        )
    whole = travel_times(graph, nodes, nodes, packed=False)  # float weights, no contraction
    np.testing.assert_allclose(result.minutes, whole.minutes, rtol=0, atol=1e-5)
    np.testing.assert_allclose(result.metres, whole.metres, rtol=0, atol=0.05)
    # the contracted core gives the uncontracted core's packed distances bit for bit
    every = np.arange(core.csr.shape[0])
    np.testing.assert_array_equal(
        _core_distances(chains, every, every, per_chunk=2, workers=1),
        dijkstra(core.csr, directed=True),
    )


@pytest.mark.parametrize("seed", range(6))
def test_chain_contraction_is_bit_identical_on_generated_graphs(seed):
    """Hubs on a two-way ring, chains between them (some with one-way segments, some looping
    back to their hub), dead-end trees hung anywhere: the contracted core's packed distances
    equal the uncontracted core's exactly, and the matrix agrees with the whole-graph pass."""
    from scipy.sparse.csgraph import dijkstra

    from patchplan.matrix import CSRGraph, _chains, _contracted, _core_distances, _packed

    rng = np.random.default_rng(seed)
    hubs = 5
    tails = list(range(hubs)) + [(a + 1) % hubs for a in range(hubs)]
    heads = [(a + 1) % hubs for a in range(hubs)] + list(range(hubs))
    n = hubs
    for _ in range(6):
        a, b = (int(x) for x in rng.integers(0, hubs, 2))
        path = [a, *range(n, n + int(rng.integers(1, 6))), b]
        n = path[-2] + 1
        one_way = rng.random() < 0.5
        for u, v in zip(path[:-1], path[1:], strict=True):
            tails.append(u)
            heads.append(v)
            if not one_way or rng.random() < 0.5:
                tails.append(v)
                heads.append(u)
    for _ in range(5):
        parent = int(rng.integers(0, n))
        tails += [parent, n]
        heads += [n, parent]
        n += 1
    minutes = rng.uniform(0.1, 3.0, len(tails))
    graph = CSRGraph.from_arrays(
        np.arange(n), np.array(tails), np.array(heads), minutes, minutes * 500
    )
    packing = _packed(graph)
    assert packing is not None  # strongly connected
    core = _contracted(graph, packing[0])
    chains = _chains(graph, core)
    assert (chains.chain >= 0).sum() >= 6
    every = np.arange(core.csr.shape[0])
    np.testing.assert_array_equal(
        _core_distances(chains, every, every, per_chunk=3, workers=1),
        dijkstra(core.csr, directed=True),
    )
    result = travel_times(graph, np.arange(n), np.arange(n)[::-1])
    whole = travel_times(graph, np.arange(n), np.arange(n)[::-1], packed=False)
    np.testing.assert_allclose(result.minutes, whole.minutes, rtol=0, atol=1e-5)
    assert result.reachable.all()
