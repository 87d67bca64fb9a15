"""Travel-time matrices between points, on a street network or by the labelled straight-line estimate.

Every downstream stage asks a :class:`TravelTimes` object for a :class:`TravelMatrix`; it never needs
to know whether the times come from an OpenStreetMap network or from the estimate, except that
``estimate=True`` must be shown wherever such figures are published.

Two implementations:

* :class:`NetworkTravel` on a graph from :func:`patchplan.network.load_network`: points are snapped
  to the streets, node-to-node times come from :func:`travel_times` (multi-source Dijkstra with
  ``scipy.sparse.csgraph`` on a CSR copy of the graph built once per graph), and access legs and
  parking are added at the ends;
* :class:`StraightLineTravel`, the labelled estimate for areas with no network file.

Units: minutes and metres. Points are in EPSG:27700.
"""

from __future__ import annotations

import logging
import weakref
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import LineString, Point

if TYPE_CHECKING:
    import networkx as nx
    import scipy.sparse as sp

    from patchplan.network import NetworkSettings

log = logging.getLogger(__name__)

REJECT_COLUMNS = ["side", "position", "distance_m", "reason"]

DEFAULT_SPEED_KMH = {"walk": 4.5, "cycle": 14.0, "drive": 30.0}
"""Door-to-door planning speeds for the straight-line estimate, km/h (urban driving ~30 km/h)."""

DEFAULT_CIRCUITY = {"walk": 1.3, "cycle": 1.3, "drive": 1.4}
"""Network ÷ crow-fly distance. UK urban studies find 1.2–1.4 (walking), 1.3–1.5 (driving)."""


@dataclass(frozen=True)
class TravelMatrix:
    """Many-to-many travel times (minutes) and distances (metres) for one mode.

    Where ``reachable`` is False the pair has no route (or a point could not be snapped) and
    ``minutes``/``metres`` hold NaN: callers must check ``reachable`` and never use those values.
    """

    minutes: np.ndarray
    metres: np.ndarray
    reachable: np.ndarray
    mode: str
    estimate: bool = False
    rejects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECT_COLUMNS))

    @property
    def n_unreachable(self) -> int:
        """Number of origin–destination pairs with no route."""
        return int((~self.reachable).sum())

    @property
    def shape(self) -> tuple[int, int]:
        return self.minutes.shape  # type: ignore[return-value]


@dataclass(frozen=True)
class RouteEdge:
    """One street edge of a route, in travel order (EPSG:27700).

    Attributes
    ----------
    name, ref : the street's OSM ``name`` and ``ref`` ("" when untagged; names of ways osmnx
        merged are joined by " / ")
    label : how to call it in directions (:func:`patchplan.network.street_label`): the name, the
        ref, or "unnamed path" / "unnamed road"
    highway : OSM highway class
    length_m : metres
    minutes : travel time for the network's mode, minutes
    start_bearing, end_bearing : compass bearing of the first and last segment of the edge,
        degrees clockwise from grid north (0–360)
    """

    name: str
    ref: str
    label: str
    highway: str
    length_m: float
    minutes: float
    start_bearing: float
    end_bearing: float


@dataclass(frozen=True)
class Route:
    """A leg from door to door: the walk to the street, the street edges, the walk to the door.

    Attributes
    ----------
    geometry : the leg's line, origin to destination (EPSG:27700)
    edges : the street edges in travel order (empty for the straight-line estimate, which knows no
        streets, and for a leg between two points snapped to the same street corner)
    access_from_m, access_to_m : metres from the origin to the first street node and from the
        last one to the destination (the access legs of :class:`NetworkTravel`)
    estimate : True when the leg is a straight line of the estimate, not a street route
    street_near : for a leg with no edges (both ends join the network at the same node), the
        label of the street nearest the destination ("" otherwise)
    """

    geometry: LineString
    edges: tuple[RouteEdge, ...] = ()
    access_from_m: float = 0.0
    access_to_m: float = 0.0
    estimate: bool = False
    street_near: str = ""


def _bearing(a: Sequence[float], b: Sequence[float]) -> float:
    """Compass bearing from point ``a`` to ``b`` (EPSG:27700), degrees clockwise from grid north."""
    return float(np.degrees(np.arctan2(b[0] - a[0], b[1] - a[1])) % 360.0)


@runtime_checkable
class TravelTimes(Protocol):
    """Anything that gives travel-time matrices and leg geometries for one mode."""

    @property
    def mode(self) -> str:
        """walk | cycle | drive."""
        ...

    @property
    def estimate(self) -> bool:
        """True for the straight-line estimate, which every output using it must label."""
        ...

    def matrix(
        self, origins: gpd.GeoSeries, destinations: gpd.GeoSeries | None = None
    ) -> TravelMatrix:
        """Travel from every origin to every destination (default: origins to origins)."""
        ...

    def path(self, origin: Point, destination: Point) -> LineString:
        """The geometry of the leg from ``origin`` to ``destination`` (EPSG:27700)."""
        ...


def _coords(points: gpd.GeoSeries) -> np.ndarray:
    return np.column_stack([points.x.to_numpy(), points.y.to_numpy()])


@dataclass(frozen=True)
class StraightLineTravel:
    """The straight-line estimate: crow-fly distance × circuity, at a constant door-to-door speed.

    For areas with no network file (e.g. Sheffield until a South Yorkshire extract is supplied).
    Every figure from it is an *estimate* and is labelled so.

    Attributes
    ----------
    mode : walk | cycle | drive
    speed_kmh : average speed, km/h (default from ``DEFAULT_SPEED_KMH``)
    circuity : network ÷ crow-fly distance ratio (default from ``DEFAULT_CIRCUITY``)
    stop_overhead_min : minutes added to every leg between distinct points (parking, walk to the
        door)
    """

    mode: str = "drive"
    speed_kmh: float | None = None
    circuity: float | None = None
    stop_overhead_min: float = 0.0
    estimate: bool = True

    @property
    def speed_m_per_min(self) -> float:
        kmh = self.speed_kmh if self.speed_kmh is not None else DEFAULT_SPEED_KMH[self.mode]
        return kmh * 1000.0 / 60.0

    @property
    def circuity_factor(self) -> float:
        return self.circuity if self.circuity is not None else DEFAULT_CIRCUITY[self.mode]

    def matrix(
        self, origins: gpd.GeoSeries, destinations: gpd.GeoSeries | None = None
    ) -> TravelMatrix:
        """Estimated travel between points.

        metres = crow-fly × circuity; minutes = metres ÷ speed + ``stop_overhead_min`` (between
        distinct points). Labelled ``estimate=True``.
        """
        a = _coords(origins)
        b = a if destinations is None else _coords(destinations)
        crow = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
        metres = crow * self.circuity_factor
        minutes = metres / self.speed_m_per_min + np.where(crow > 0, self.stop_overhead_min, 0.0)
        return TravelMatrix(
            minutes=minutes,
            metres=metres,
            reachable=np.ones_like(metres, dtype=bool),
            mode=self.mode,
            estimate=True,
        )

    def path(self, origin: Point, destination: Point) -> LineString:
        """A straight segment: the estimate knows no streets."""
        return LineString([origin, destination])

    def route(self, origin: Point, destination: Point) -> Route:
        """The straight segment as a :class:`Route` with no street edges (``estimate=True``)."""
        return Route(self.path(origin, destination), estimate=True)


# --------------------------------------------------------------------------------------------
# Network matrices: scipy.sparse.csgraph on a CSR copy of the graph
# --------------------------------------------------------------------------------------------

MATRIX_MEMORY_BYTES = 64 * 2**20
"""Working memory for one chunk of Dijkstra rows (distances, predecessors, path sums), bytes."""

_TINY_WEIGHT = 1e-9
"""csgraph drops explicit zero weights in some paths; zero-length edges get this weight instead."""


@dataclass(frozen=True)
class CSRGraph:
    """A compressed sparse row copy of a network, built once per graph object.

    Parallel edges collapse to the one with the least ``weight``; ``minutes`` and ``length`` are
    those of that edge, aligned with ``keys`` (``from_index * n + to_index``, sorted).

    Attributes
    ----------
    nodes : ndarray
        Graph node ids, in index order (sorted, so builds are deterministic).
    weight : str
        The edge attribute minimised ("minutes" or "length").
    csr : scipy.sparse.csr_matrix
        n × n matrix of ``weight``.
    keys, minutes, length : ndarray
        Edge keys and their minutes / metres.
    """

    nodes: np.ndarray
    weight: str
    csr: sp.csr_matrix
    keys: np.ndarray
    minutes: np.ndarray
    length: np.ndarray
    _derived: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def n(self) -> int:
        return len(self.nodes)

    @classmethod
    def from_arrays(
        cls,
        nodes: np.ndarray,
        tails: np.ndarray,
        heads: np.ndarray,
        minutes: np.ndarray,
        length: np.ndarray,
        weight: str = "minutes",
    ) -> CSRGraph:
        """Build from edge arrays: ``tails``/``heads`` index into ``nodes`` (sorted node ids).

        Parameters
        ----------
        nodes : ndarray
            Sorted node ids.
        tails, heads : ndarray of int
            Edge ends as positions in ``nodes``.
        minutes, length : ndarray of float
            Edge travel time (minutes) and length (metres).
        weight : {"minutes", "length"}
            The attribute paths minimise.
        """
        import scipy.sparse as sp

        tails, heads = np.asarray(tails, dtype=np.int64), np.asarray(heads, dtype=np.int64)
        keep = tails != heads  # self-loops never shorten a path
        tails, heads, minutes, length = tails[keep], heads[keep], minutes[keep], length[keep]
        cost = minutes if weight == "minutes" else length
        n = len(nodes)
        keys = tails * n + heads
        order = np.lexsort((cost, keys))
        keys, first = np.unique(keys[order], return_index=True)
        chosen = order[first]
        data = np.maximum(cost[chosen], _TINY_WEIGHT)
        indptr = np.searchsorted(tails[chosen], np.arange(n + 1))
        csr = sp.csr_matrix((data, heads[chosen], indptr), shape=(n, n))
        return cls(np.asarray(nodes), weight, csr, keys, minutes[chosen], length[chosen])

    def positions(self, node_ids: Sequence[Hashable] | np.ndarray) -> np.ndarray:
        """Index of each node id; raises NetworkError naming the first id not in the graph."""
        from patchplan.errors import NetworkError

        ids = np.asarray(node_ids)
        if ids.size == 0:
            return np.zeros(0, dtype=np.int64)
        try:
            pos = np.searchsorted(self.nodes, ids)
        except TypeError as exc:
            raise NetworkError(f"node ids of type {ids.dtype} do not match the graph's") from exc
        pos = np.clip(pos, 0, self.n - 1)
        bad = self.nodes[pos] != ids
        if bad.any():
            raise NetworkError(f"node {ids[bad].tolist()[0]!r} is not in the network")
        return pos.astype(np.int64)

    def edge_values(self, tails: np.ndarray, heads: np.ndarray, attr: str) -> np.ndarray:
        """``attr`` ("minutes" or "length") of the edge tail → head, for arrays of indices."""
        at = np.searchsorted(self.keys, tails.astype(np.int64) * self.n + heads)
        return getattr(self, attr)[np.clip(at, 0, len(self.keys) - 1)]


_CSR_CACHE: weakref.WeakKeyDictionary[nx.MultiDiGraph, dict[str, tuple[int, int, CSRGraph]]] = (
    weakref.WeakKeyDictionary()
)


def csr_graph(graph: nx.MultiDiGraph, weight: str = "minutes") -> CSRGraph:
    """The CSR copy of ``graph`` for ``weight``, built on first use and cached per graph object."""
    from patchplan.errors import NetworkError

    size = (graph.number_of_nodes(), graph.number_of_edges())
    per_graph = _CSR_CACHE.setdefault(graph, {})
    cached = per_graph.get(weight)
    if cached is not None and cached[:2] == size:
        return cached[2]
    if weight not in ("minutes", "length"):
        raise NetworkError(f"weight must be 'minutes' or 'length', got {weight!r}")
    nodes = np.array(sorted(graph.nodes))
    index = {node: i for i, node in enumerate(nodes.tolist())}
    m = graph.number_of_edges()
    tails = np.empty(m, dtype=np.int64)
    heads = np.empty(m, dtype=np.int64)
    minutes = np.empty(m)
    length = np.empty(m)
    for e, (u, v, data) in enumerate(graph.edges(data=True)):
        tails[e], heads[e] = index[u], index[v]
        try:
            minutes[e], length[e] = float(data["minutes"]), float(data["length"])
        except KeyError as exc:
            raise NetworkError(
                f"edge ({u}, {v}) has no {exc.args[0]!r}: build the graph with load_network"
            ) from exc
    result = CSRGraph.from_arrays(nodes, tails, heads, minutes, length, weight)
    per_graph[weight] = (*size, result)
    return result


_PACK_BITS = 52  # float64 holds integers exactly up to 2**53; keep one bit of headroom
_SECONDARY_SCALE = {"length": 100.0, "minutes": 1e5}  # packed units: centimetres, 1e-5 minutes
_MIN_PRIMARY_SCALE = 1e4  # below this resolution (1e-4 min or 0.1 mm) packing is refused


def _packed(graph: CSRGraph) -> tuple[object, float, float, float] | None:
    """A CSR whose weights pack (primary, secondary) into one exact float64 integer.

    Each edge weights ``round(primary × scale) × 2**bits + round(secondary × sec_scale)``, so one
    Dijkstra pass finds the path minimising the primary attribute (ties broken by the secondary)
    and its distance holds both sums exactly. ``bits`` is sized from a bound on the longest
    shortest path (via one node's out- and in-eccentricity, valid on a strongly connected graph)
    times the largest secondary/primary ratio of any edge. Returns ``(csr, bits, scale,
    sec_scale)``, or None
    when the graph is not strongly connected or the resolution would be coarser than 1e-4.
    """
    if "packed" in graph._derived:
        return graph._derived["packed"]
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components, dijkstra

    result = None
    primary = graph.minutes if graph.weight == "minutes" else graph.length
    secondary = graph.length if graph.weight == "minutes" else graph.minutes
    n_strong, _ = connected_components(graph.csr, directed=True, connection="strong")
    if graph.n and n_strong == 1 and (primary > 0).all():
        reach = dijkstra(graph.csr, indices=0).max() + dijkstra(graph.csr.T, indices=0).max()
        bound = 1.01 * (reach + primary.max()) + 1.0
        sec_scale = _SECONDARY_SCALE["length" if graph.weight == "minutes" else "minutes"]
        secondary_bound = bound * float((secondary / primary).max()) * sec_scale + 1.0
        bits = int(np.ceil(np.log2(secondary_bound)))
        scale = 2.0 ** (_PACK_BITS - bits) / bound
        if scale >= _MIN_PRIMARY_SCALE:
            packed = np.rint(primary * scale) * 2.0**bits + np.rint(secondary * sec_scale)
            csr = sp.csr_matrix(
                (np.maximum(packed, 1.0), graph.csr.indices, graph.csr.indptr),
                shape=graph.csr.shape,
            )
            result = (csr, float(bits), scale, sec_scale)
    graph._derived["packed"] = result
    return result


@dataclass(frozen=True)
class _Core:
    """The graph with its dead-end trees peeled off, in packed weights (see :func:`_contracted`).

    ``root[v]`` is the core node that tree node ``v`` hangs off (``v`` itself for a core node);
    ``up[v]`` / ``down[v]`` the packed cost of the tree path ``v`` → root / root → ``v``;
    ``anc[k][v]`` the 2**k-th ancestor of ``v`` in its tree (roots are their own parents) and
    ``depth[v]`` its depth below the root; ``core_id[v]`` the row of core node ``v`` in ``csr``.
    """

    csr: sp.csr_matrix
    core_id: np.ndarray
    root: np.ndarray
    up: np.ndarray
    down: np.ndarray
    anc: list[np.ndarray]
    depth: np.ndarray

    def lca(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Lowest common ancestor of each pair (``a``, ``b``) of nodes hanging off the same root."""
        a, b = a.copy(), b.copy()
        swap = self.depth[a] < self.depth[b]
        a[swap], b[swap] = b[swap], a[swap]
        diff = self.depth[a] - self.depth[b]
        for k, anc in enumerate(self.anc):
            step = (diff >> k) & 1 == 1
            a[step] = anc[a[step]]
        for anc in reversed(self.anc):
            move = anc[a] != anc[b]
            a[move], b[move] = anc[a[move]], anc[b[move]]
        return np.where(a == b, a, self.anc[0][a])


def _contracted(graph: CSRGraph, pcsr) -> _Core:
    """Peel the dead-end trees off ``graph`` (packed CSR ``pcsr``), once per graph.

    A node with a single neighbour (either direction) joins its neighbour's tree, repeatedly, so
    every tree hangs off one core node. A shortest path between two nodes of different trees
    leaves one through its root and enters the other through its root, and a path inside a tree
    is the tree path (leaving would pass the root twice), so with packed integer weights
    ``d(s, t) = up[s] + d_core(root[s], root[t]) + down[t]``, or the tree path through their
    lowest common ancestor when both hang off the same root: the same sums the whole-graph pass
    gives, exactly. Only used on strongly connected graphs (where every tree edge is two-way).
    """
    if "core" in graph._derived:
        return graph._derived["core"]
    import scipy.sparse as sp

    n = graph.n
    sym = (pcsr + pcsr.T).tocsr()
    indptr, indices = sym.indptr, sym.indices
    degree = np.diff(indptr).astype(np.int64)
    parent = np.arange(n)
    removed = np.zeros(n, dtype=bool)
    order: list[int] = []
    stack = np.flatnonzero(degree == 1).tolist()
    while stack:
        v = stack.pop()
        if removed[v] or degree[v] != 1:
            continue
        nbrs = indices[indptr[v] : indptr[v + 1]]
        u = int(nbrs[~removed[nbrs]][0])
        removed[v], parent[v] = True, u
        order.append(v)
        degree[u] -= 1
        if degree[u] == 1:
            stack.append(u)
    peeled = np.array(order[::-1], dtype=np.int64)  # parents before their children
    root = np.arange(n)
    up, down, depth = np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int64)
    if peeled.size:
        par = parent[peeled]
        up_edge = np.asarray(pcsr[peeled, par]).ravel()
        down_edge = np.asarray(pcsr[par, peeled]).ravel()
        up_edge[up_edge == 0] = np.inf  # no edge that way (not on a strongly connected graph)
        down_edge[down_edge == 0] = np.inf
        for v, p, ue, de in zip(peeled, par, up_edge, down_edge, strict=True):
            root[v], depth[v] = root[p], depth[p] + 1
            up[v], down[v] = ue + up[p], down[p] + de
    anc = [parent]
    while (1 << len(anc)) <= depth.max(initial=0):
        anc.append(anc[-1][anc[-1]])
    core = np.flatnonzero(~removed)
    core_id = np.full(n, -1, dtype=np.int64)
    core_id[core] = np.arange(core.size)
    sub = sp.csr_matrix(pcsr)[core][:, core]
    result = _Core(sp.csr_matrix(sub), core_id, root, up, down, anc, depth)
    graph._derived["core"] = result
    log.debug("travel_times: %d of %d nodes in dead-end trees", peeled.size, n)
    return result


@dataclass(frozen=True)
class _Chains:
    """The core with its degree-2 chains contracted, in packed weights (see :func:`_chains`).

    Indices are core indices (rows of ``_Core.csr``). A chain ``A = n0, n1, …, nk, nk+1 = B``
    runs between two kept nodes (possibly the same one) through nodes ``n1 … nk`` that each have
    exactly two neighbours. ``csr`` is the graph on the kept nodes (``kept_id[c]`` is core node
    ``c``'s row in it, -1 on a chain), each chain merged into an edge A → B and/or B → A of
    summed packed cost.

    For every core node ``c``: ``exit_node[c]`` holds the kept nodes (rows of ``csr``) it leaves
    its chain by, towards A and towards B, and ``exit_cost[c]`` the packed cost of getting there
    along the chain; ``entry_node[c]`` / ``entry_cost[c]`` the kept nodes it is entered from and
    the cost from there; inf where a one-way segment forbids it. A kept node exits to and enters
    from itself at cost 0 (second slot: cost inf). ``chain[c]`` is ``c``'s chain (-1 when kept)
    and ``pos[c]`` its place ``j`` along it; ``fwd[c]`` / ``bwd[c]`` are the packed cost from A to
    ``c`` forwards / from ``c`` back to A, over the edges that exist, and ``n_fwd[c]`` /
    ``n_bwd[c]`` the number of edges missing on those stretches (one-way streets).
    """

    csr: sp.csr_matrix
    kept_id: np.ndarray
    exit_node: np.ndarray
    exit_cost: np.ndarray
    entry_node: np.ndarray
    entry_cost: np.ndarray
    chain: np.ndarray
    pos: np.ndarray
    fwd: np.ndarray
    n_fwd: np.ndarray
    bwd: np.ndarray
    n_bwd: np.ndarray

    def within_chain(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Packed cost from chain node ``a`` to ``b`` of the same chain without leaving it.

        0 when ``a == b``; inf when a one-way segment between them points the other way.
        """
        ahead = self.pos[a] < self.pos[b]
        cost = np.where(ahead, self.fwd[b] - self.fwd[a], self.bwd[a] - self.bwd[b])
        open_ = np.where(ahead, self.n_fwd[b] == self.n_fwd[a], self.n_bwd[a] == self.n_bwd[b])
        return np.where(a == b, 0.0, np.where(open_, cost, np.inf))


def _walk_chains(sym: sp.csr_matrix, on_chain: np.ndarray) -> list[list[int]]:
    """Every chain as its node list ``[A, n1, …, nk, B]``; rings of chain nodes only get one of
    their nodes unmarked in ``on_chain`` (kept) and become a chain from it back to itself."""
    indptr, indices = sym.indptr, sym.indices

    def walk(path: list[int]) -> list[int]:
        while on_chain[path[-1]]:
            seen[path[-1]] = True
            a, b = indices[indptr[path[-1]] : indptr[path[-1] + 1]]
            path.append(int(b if a == path[-2] else a))
        return path

    seen = ~on_chain
    chains = []
    for start in np.flatnonzero(on_chain).tolist():
        nbrs = indices[indptr[start] : indptr[start + 1]]
        if not seen[start] and not on_chain[nbrs].all():
            chains.append(walk([int(nbrs[~on_chain[nbrs]][0]), start]))
    for start in np.flatnonzero(~seen).tolist():  # rings: all their nodes are chain nodes
        if not seen[start]:
            on_chain[start] = False
            seen[start] = True
            chains.append(walk([start, int(indices[indptr[start]])]))
    return chains


def _chains(graph: CSRGraph, core: _Core) -> _Chains:
    """Contract the core's degree-2 chains into single edges, once per graph (packed weights).

    A chain node (exactly two neighbours, either direction) is only entered from one neighbour
    and left to the other, so a shortest path between kept nodes crosses a chain whole, and the
    contracted graph gives the same packed distances between kept nodes, exactly (integer sums).
    A chain node's distances come from its chain's ends (see :func:`_core_distances`). Units:
    the packed minutes / metres of :func:`_packed`. Chains whose packed sums could lose
    exactness (over 2**52) are not contracted.
    """
    if "chains" in graph._derived:
        return graph._derived["chains"]
    import scipy.sparse as sp

    pcsr = core.csr
    n = pcsr.shape[0]
    sym = (pcsr + pcsr.T).tocsr()
    on_chain = np.diff(sym.indptr) == 2
    walks = _walk_chains(sym, on_chain)
    # one row per chain, its nodes A … B left-aligned; prefix sums along each row are exact
    lengths = np.array([len(path) for path in walks], dtype=np.int64)
    cols = np.arange(lengths.max(initial=2))
    nodes = np.zeros((len(walks), cols.size), dtype=np.int64)
    nodes[cols < lengths[:, None]] = [v for path in walks for v in path]
    has_edge = cols[:-1] < lengths[:, None] - 1
    ahead, back = np.zeros(has_edge.shape), np.zeros(has_edge.shape)
    ahead[has_edge] = np.asarray(pcsr[nodes[:, :-1][has_edge], nodes[:, 1:][has_edge]]).ravel()
    back[has_edge] = np.asarray(pcsr[nodes[:, 1:][has_edge], nodes[:, :-1][has_edge]]).ravel()

    def prefix(values: np.ndarray) -> np.ndarray:  # sums over edges 0 … j-1, per row
        return np.concatenate([np.zeros((len(values), 1)), np.cumsum(values, axis=1)], axis=1)

    f, b = prefix(ahead), prefix(back)  # cost A → n_j forwards / n_j → A backwards
    nf, nb = prefix(has_edge & (ahead == 0)), prefix(has_edge & (back == 0))  # missing edges
    last = lengths - 1
    rows = np.arange(len(walks))
    f_end, b_end, nf_end, nb_end = (x[rows, last][:, None] for x in (f, b, nf, nb))
    exact = np.maximum(f_end, b_end)[:, 0] < 2.0**52  # else keep the chain (never in practice)
    inner = (cols >= 1) & (cols < last[:, None]) & exact[:, None]
    on_chain[nodes[(cols >= 1) & (cols < last[:, None]) & ~exact[:, None]]] = False
    at = nodes[inner]
    chain = np.full(n, -1, dtype=np.int64)
    pos = np.zeros(n, dtype=np.int64)
    chain[at] = np.broadcast_to(rows[:, None], inner.shape)[inner]
    pos[at] = np.broadcast_to(cols, inner.shape)[inner]
    fwd, bwd = np.zeros(n), np.zeros(n)
    n_fwd, n_bwd = np.zeros(n), np.zeros(n)
    fwd[at], bwd[at], n_fwd[at], n_bwd[at] = f[inner], b[inner], nf[inner], nb[inner]
    a_node, b_node = nodes[rows, 0], nodes[rows, last]
    exit_node = np.repeat(np.arange(n)[:, None], 2, axis=1)  # core indices until the end
    exit_node[at] = np.column_stack([a_node[chain[at]], b_node[chain[at]]])
    entry_node = exit_node.copy()
    exit_cost = np.tile([0.0, np.inf], (n, 1))
    entry_cost = exit_cost.copy()
    inf = np.inf
    exit_cost[at, 0] = np.where(nb == 0, b, inf)[inner]  # back to A
    exit_cost[at, 1] = np.where(nf == nf_end, f_end - f, inf)[inner]  # on to B
    entry_cost[at, 0] = np.where(nf == 0, f, inf)[inner]  # from A
    entry_cost[at, 1] = np.where(nb == nb_end, b_end - b, inf)[inner]  # from B
    merged = np.column_stack(
        [
            a_node,
            b_node,
            np.where(nf_end[:, 0] == 0, f_end[:, 0], inf),  # A → B
            np.where(nb_end[:, 0] == 0, b_end[:, 0], inf),  # B → A
        ]
    )[exact]
    kept = np.flatnonzero(~on_chain)
    kept_id = np.full(n, -1, dtype=np.int64)
    kept_id[kept] = np.arange(kept.size)
    # kept-to-kept edges and the merged chains: least cost for parallel ones, no self-loops
    coo = pcsr.tocoo()
    direct = ~on_chain[coo.row] & ~on_chain[coo.col]
    starts, stops = merged[:, 0].astype(np.int64), merged[:, 1].astype(np.int64)
    tails = kept_id[np.concatenate([coo.row[direct], starts, stops])]
    heads = kept_id[np.concatenate([coo.col[direct], stops, starts])]
    cost = np.concatenate([coo.data[direct], merged[:, 2], merged[:, 3]])
    use = np.isfinite(cost) & (tails != heads)
    tails, heads, cost = tails[use], heads[use], cost[use]
    keys = tails * kept.size + heads
    order = np.lexsort((cost, keys))
    chosen = order[np.unique(keys[order], return_index=True)[1]]
    csr = sp.csr_matrix((cost[chosen], (tails[chosen], heads[chosen])), shape=(kept.size,) * 2)
    result = _Chains(
        csr,
        kept_id,
        kept_id[exit_node],
        exit_cost,
        kept_id[entry_node],
        entry_cost,
        chain,
        pos,
        fwd,
        n_fwd,
        bwd,
        n_bwd,
    )
    graph._derived["chains"] = result
    log.debug("travel_times: %d of %d core nodes on degree-2 chains", n - kept.size, n)
    return result


def _core_distances(
    chains: _Chains, src: np.ndarray, dst: np.ndarray, per_chunk: int, workers: int
) -> np.ndarray:
    """Packed shortest-path costs from core nodes ``src`` to core nodes ``dst`` (core indices).

    Dijkstra runs on the contracted graph from the kept nodes the sources leave their chains by;
    then each destination takes the better of its two entries, each source the better of its
    two exits, and two nodes of the same chain the path inside it as well:
    ``d(u, v) = min(within(u, v), min over e, f of exit(u, e) + d_kept(e, f) + entry(f, v))``.
    Exact: every candidate is a walk's integer packed sum and the shortest path is among them.
    """
    sources, s_slot = np.unique(chains.exit_node[src], return_inverse=True)
    targets, t_slot = np.unique(chains.entry_node[dst], return_inverse=True)
    s_slot, t_slot = s_slot.reshape(-1, 2), t_slot.reshape(-1, 2)
    kept = _parallel_rows(chains.csr, sources, targets, per_chunk, workers)
    entry = chains.entry_cost[dst]
    cols = kept[:, t_slot[:, 0]] + entry[:, 0]
    two = np.flatnonzero(np.isfinite(entry[:, 1]))  # destinations on a chain open from B
    cols[:, two] = np.minimum(cols[:, two], kept[:, t_slot[two, 1]] + entry[two, 1])
    exit_ = chains.exit_cost[src]
    out = cols[s_slot[:, 0]]
    out += exit_[:, [0]]
    two = np.flatnonzero(np.isfinite(exit_[:, 1]))  # sources on a chain open towards B
    out[two] = np.minimum(out[two], cols[s_slot[two, 1]] + exit_[two, 1][:, None])
    i, j = _matching_pairs(chains.chain[src], chains.chain[dst])
    out[i, j] = np.minimum(out[i, j], chains.within_chain(src[i], dst[j]))
    return out


def _tree_sums(pred: np.ndarray, graph: CSRGraph, attr: str) -> np.ndarray:
    """Sum of edge ``attr`` along each shortest-path tree from its root, by pointer jumping.

    ``pred`` is Dijkstra's predecessor array (rows: sources). ``log2(depth)`` vectorised passes.
    """
    rows, n = pred.shape
    cols = np.broadcast_to(np.arange(n, dtype=np.int32), (rows, n))
    is_root = pred < 0
    parent = np.where(is_root, cols, pred).astype(np.int32)
    total = graph.edge_values(parent, cols, attr)
    total[is_root] = 0.0
    while True:
        grand = np.take_along_axis(parent, parent, axis=1)
        if np.array_equal(grand, parent):
            return total
        total += np.take_along_axis(total, parent, axis=1)
        parent = grand


PARALLEL_MIN_WORK = 1e8
"""Below this many (origins × core nodes + edges) Dijkstra steps, one process: on Rutland-sized
graphs a fork does not pay for itself on a shared 2-core machine (measured); above, up to 2."""


def _rows(pcsr, sources: np.ndarray, cols: np.ndarray, per_chunk: int) -> np.ndarray:
    """Dijkstra rows from ``sources`` on ``pcsr``, columns ``cols``, ``per_chunk`` rows a call."""
    from scipy.sparse.csgraph import dijkstra

    out = np.empty((len(sources), len(cols)))
    for start in range(0, len(sources), per_chunk):
        part = sources[start : start + per_chunk]
        out[start : start + len(part)] = dijkstra(pcsr, directed=True, indices=part)[:, cols]
    return out


def _default_workers() -> int:
    import multiprocessing as mp
    import os

    if mp.current_process().daemon or "fork" not in mp.get_all_start_methods():
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(2, cores))


def _parallel_rows(
    pcsr, sources: np.ndarray, cols: np.ndarray, per_chunk: int, workers: int
) -> np.ndarray:
    """:func:`_rows`, the origins split between this process and ``workers - 1`` forked ones."""
    if workers <= 1 or len(sources) < 2 * workers:
        return _rows(pcsr, sources, cols, per_chunk)
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    parts = np.array_split(sources, workers)
    with ProcessPoolExecutor(workers - 1, mp_context=mp.get_context("fork")) as pool:
        futures = [pool.submit(_rows, pcsr, part, cols, per_chunk) for part in parts[1:]]
        first = _rows(pcsr, parts[0], cols, per_chunk)
        return np.concatenate([first, *(f.result() for f in futures)])


def _split(packed: np.ndarray, bits: float) -> tuple[np.ndarray, np.ndarray]:
    """Packed integer sums → (primary, secondary) integer parts; inf → (inf, NaN).

    In place: ``packed`` is overwritten with the secondary part (one new array, the primary).
    """
    high = np.divide(packed, 2.0**bits)  # dividing by a power of 2 is exact
    np.floor(high, out=high)
    high *= 2.0**bits
    packed -= high
    high /= 2.0**bits
    return high, packed


def _matching_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) of every pair with ``a[i] == b[j] >= 0`` (negative: in no group)."""
    rows = np.flatnonzero(a >= 0)
    cols = np.flatnonzero(b >= 0)
    if not rows.size or not cols.size:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    cols = cols[np.argsort(b[cols], kind="stable")]
    keys = b[cols]
    lo = np.searchsorted(keys, a[rows], "left")
    counts = np.searchsorted(keys, a[rows], "right") - lo
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts - lo, counts)
    return np.repeat(rows, counts), cols[np.arange(total) - starts]


def _same_tree_pairs(core: _Core, orig: np.ndarray, dest: np.ndarray) -> tuple[np.ndarray, ...]:
    """(row, column) of every pair of tree nodes hanging off the same root."""
    ro, rd = core.root[orig], core.root[dest]
    return _matching_pairs(np.where(ro != orig, ro, -1), np.where(rd != dest, rd, -1))


def travel_times(
    graph: nx.MultiDiGraph | CSRGraph,
    origin_nodes: Sequence[Hashable] | np.ndarray,
    destination_nodes: Sequence[Hashable] | np.ndarray | None = None,
    weight: str = "minutes",
    *,
    with_metres: bool = True,
    memory_bytes: int = MATRIX_MEMORY_BYTES,
    packed: bool = True,
    workers: int | None = None,
) -> TravelMatrix:
    """Node-to-node travel on ``graph`` by multi-source Dijkstra (scipy.sparse.csgraph).

    On a strongly connected graph (what :func:`patchplan.network.load_network` keeps) Dijkstra
    runs on packed integer weights (see :func:`_packed`) over the graph's core, its dead-end trees
    peeled off (see :func:`_contracted`) and its degree-2 chains merged into single edges (see
    :func:`_chains`), from the chain ends the origins' core nodes leave by; a chain node's figures
    come from its chain's ends (:func:`_core_distances`) and a tree node's are its root's plus the
    exact tree-path offsets, bit for bit the whole-graph packed sums. Otherwise it runs on the
    whole graph and the second sum is accumulated along the predecessor tree.

    Parameters
    ----------
    graph : networkx.MultiDiGraph or CSRGraph
        A network from :func:`patchplan.network.load_network` (edges with ``minutes``, ``length``),
        or a ready :class:`CSRGraph` (then ``weight`` is the CSR's own).
    origin_nodes, destination_nodes : sequence of node ids
        Destinations default to the origins. Repeated ids are computed once.
    weight : {"minutes", "length"}
        What the paths minimise: the fastest (default) or the shortest path.
    with_metres : bool
        Also report the other attribute summed along each chosen path (``metres`` for the fastest
        path). When False, ``metres`` is NaN unless ``weight="length"``.
    packed : bool
        Get both sums from one Dijkstra pass on packed integer weights (minutes are then exact to
        about 1e-6 min per edge and metres to 0.01 m per edge) on the contracted core. When False,
        or when the graph is not strongly connected, Dijkstra runs on the whole graph on float
        weights and the second sum is accumulated along the predecessor tree (exact, slower).
    memory_bytes : int
        Working memory for one chunk of origins (about 40 bytes × nodes per origin row).
    workers : int, optional
        Processes sharing the Dijkstra rows (this one and ``workers - 1`` forked ones). Default:
        up to 2 (the cores available) when the job is large enough to pay for a fork
        (``PARALLEL_MIN_WORK``), else 1; always 1 inside a daemon worker process.

    Returns
    -------
    TravelMatrix
        ``minutes``: travel time along the chosen path; ``metres``: its length, both
        n_orig × n_dest floats. Where no path exists ``reachable`` is False and both hold NaN
        (``n_unreachable`` counts them). No access legs, no parking: nodes only.
    """
    csr = graph if isinstance(graph, CSRGraph) else csr_graph(graph, weight)
    weight = csr.weight
    orig = csr.positions(origin_nodes)
    dest = orig if destination_nodes is None else csr.positions(destination_nodes)
    sums = with_metres or weight == "length"
    packing = _packed(csr) if packed else None
    if packing is not None:
        pcsr, bits, scale, sec_scale = packing
        core = _contracted(csr, pcsr)
        chains = _chains(csr, core)
        u_src, inv_src = np.unique(core.root[orig], return_inverse=True)
        u_col, inv_col = np.unique(core.root[dest], return_inverse=True)
        kept = chains.csr
        per_chunk = max(1, int(memory_bytes // (40 * max(kept.shape[0], 1))))
        if workers is None:
            work = len(u_src) * (kept.nnz + kept.shape[0])
            workers = _default_workers() if work >= PARALLEL_MIN_WORK else 1
        rows = _core_distances(chains, core.core_id[u_src], core.core_id[u_col], per_chunk, workers)
        finite = np.isfinite(rows)  # tree offsets are finite: reachability is the core's
        i, j = _same_tree_pairs(core, orig, dest)
        lca = core.lca(orig[i], dest[j])
        # each whole path's packed sum (an exact integer below 2**53), split once: a shortest
        # path's secondary part never carries into its primary part
        packed_sums = rows[inv_src[:, None], inv_col]
        del rows
        packed_sums += core.up[orig][:, None]
        packed_sums += core.down[dest][None, :]
        packed_sums[i, j] = (core.up[orig[i]] - core.up[lca]) + (
            core.down[dest[j]] - core.down[lca]
        )
        weights, others = _split(packed_sums, bits)
        weights /= scale
        others /= sec_scale
        reachable = (
            np.ones(weights.shape, dtype=bool)
            if finite.all()
            else finite[inv_src[:, None], inv_col]
        )
    else:
        weights, others = _whole_graph(csr, orig, dest, sums, memory_bytes)
        reachable = np.isfinite(weights)
    if not reachable.all():
        weights[~reachable] = np.nan
        others[~reachable] = np.nan
        log.info(
            "travel_times: %d of %d node pairs unreachable", (~reachable).sum(), reachable.size
        )
    minutes, metres = (weights, others) if weight == "minutes" else (others, weights)
    if not sums:  # weight is "minutes": reuse the other array rather than allocate a new one
        metres = others
        metres.fill(np.nan)
    mode = "unknown" if isinstance(graph, CSRGraph) else str(graph.graph.get("mode", "unknown"))
    return TravelMatrix(minutes=minutes, metres=metres, reachable=reachable, mode=mode)


def _whole_graph(
    csr: CSRGraph, orig: np.ndarray, dest: np.ndarray, sums: bool, memory_bytes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Float Dijkstra on the whole graph (the fallback): (weight sums, other sums or NaN)."""
    from scipy.sparse.csgraph import dijkstra

    other = "length" if csr.weight == "minutes" else "minutes"
    u_orig, inv_orig = np.unique(orig, return_inverse=True)
    u_dest, inv_dest = np.unique(dest, return_inverse=True)
    out_w = np.empty((len(u_orig), len(u_dest)))
    out_o = np.full((len(u_orig), len(u_dest)), np.nan)
    chunk = max(1, int(memory_bytes // (40 * max(csr.n, 1))))
    for start in range(0, len(u_orig), chunk):
        sources = u_orig[start : start + chunk]
        if sums:
            dist, pred = dijkstra(csr.csr, directed=True, indices=sources, return_predecessors=True)
            out_o[start : start + len(sources)] = _tree_sums(pred, csr, other)[:, u_dest]
        else:
            dist = dijkstra(csr.csr, directed=True, indices=sources)
        out_w[start : start + len(sources)] = dist[:, u_dest]
    return out_w[inv_orig][:, inv_dest], out_o[inv_orig][:, inv_dest]


def _empty_rejects() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "side": pd.Series(dtype=str),
            "position": pd.Series(dtype=int),
            "distance_m": pd.Series(dtype=float),
            "reason": pd.Series(dtype=str),
        }
    )


class NetworkTravel:
    """Travel times on a street network, implementing the :class:`TravelTimes` protocol.

    Points are snapped with :func:`patchplan.network.snap`; a leg's minutes are the access walk
    from the origin to the street, the network time between the snapped nodes, the access walk
    from the street to the destination and, for ``drive``, ``parking_min`` between distinct
    locations. Metres are the access distances plus the length of the fastest network path.

    Picklable (rounds run in worker processes). Snaps are cached by coordinates, the CSR copy per
    graph, and the last few node matrices by node sets.

    Parameters
    ----------
    graph : networkx.MultiDiGraph
        A network from :func:`patchplan.network.load_network` (carries its ``mode``).
    settings : NetworkSettings, optional
        ``snap_max_m``, ``access_speed_kmh`` and ``parking_min`` are used here.
    """

    estimate = False
    _MATRIX_CACHE_SIZE = 16

    def __init__(self, graph: nx.MultiDiGraph, settings: NetworkSettings | None = None) -> None:
        from patchplan.errors import NetworkError
        from patchplan.network import NetworkSettings

        mode = graph.graph.get("mode")
        if mode not in ("walk", "drive", "cycle"):
            raise NetworkError(
                "graph has no 'mode' attribute: build it with patchplan.network.load_network"
            )
        self.graph = graph
        self.settings = settings or NetworkSettings()
        self.mode: str = str(mode)
        self._snaps: dict[tuple[float, float], tuple[int, float, float, float, str]] = {}
        self._matrices: OrderedDict[tuple[bytes, bytes], TravelMatrix] = OrderedDict()

    def __repr__(self) -> str:
        return (
            f"NetworkTravel(mode={self.mode!r}, nodes={self.graph.number_of_nodes()}, "
            f"source={self.graph.graph.get('source')!r})"
        )

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state["_matrices"] = OrderedDict()  # node matrices are cheap to redo, costly to ship
        return state

    @property
    def overhead_min(self) -> float:
        """Minutes added to every leg between distinct locations (parking, for drive only)."""
        return self.settings.parking_min if self.mode == "drive" else 0.0

    def _snap(self, points: gpd.GeoSeries) -> tuple[np.ndarray, ...]:
        """(node index or -1, distance_m, access_min, access_m, reason) per point, cached."""
        from patchplan.network import snap

        if points.crs is not None and points.crs != "EPSG:27700":
            points = points.to_crs("EPSG:27700")
        xy = _coords(points) if len(points) else np.zeros((0, 2))
        keys = [(float(x), float(y)) for x, y in xy]
        missing = [i for i, k in enumerate(keys) if k not in self._snaps or np.isnan(k[0])]
        if missing:
            snapped = snap(points.iloc[missing], self.graph, self.settings)
            csr = csr_graph(self.graph)
            ok = ~snapped["rejected"].to_numpy()
            pos = np.full(len(missing), -1, dtype=np.int64)
            if ok.any():
                pos[ok] = csr.positions(snapped["node"].to_numpy()[ok].tolist())
            for j, i in enumerate(missing):
                row = snapped.iloc[j]
                self._snaps[keys[i]] = (
                    int(pos[j]),
                    float(row["distance_m"]),
                    float(row["access_min"]),
                    float(row["access_m"]),
                    str(row["reason"]),
                )
        rows = [self._snaps[k] for k in keys]
        if not rows:
            empty = np.zeros(0)
            return np.zeros(0, dtype=np.int64), empty, empty, empty, np.zeros(0, dtype=object)
        cols = list(zip(*rows, strict=True))
        return (
            np.array(cols[0], dtype=np.int64),
            np.array(cols[1]),
            np.array(cols[2]),
            np.array(cols[3]),
            np.array(cols[4], dtype=object),
        )

    def _node_matrix(self, orig: np.ndarray, dest: np.ndarray) -> TravelMatrix:
        key = (orig.tobytes(), dest.tobytes())
        hit = self._matrices.get(key)
        if hit is not None:
            self._matrices.move_to_end(key)
            return hit
        csr = csr_graph(self.graph)
        result = travel_times(self.graph, csr.nodes[orig], csr.nodes[dest])
        self._matrices[key] = result
        if len(self._matrices) > self._MATRIX_CACHE_SIZE:
            self._matrices.popitem(last=False)
        return result

    def matrix(
        self, origins: gpd.GeoSeries, destinations: gpd.GeoSeries | None = None
    ) -> TravelMatrix:
        """Door-to-door travel from every origin to every destination (default: among origins).

        Returns
        -------
        TravelMatrix
            ``minutes`` and ``metres`` (n_orig × n_dest); points that could not be snapped are
            listed in ``rejects`` and their rows / columns are unreachable. A point to itself
            (same coordinates) is 0 minutes and 0 metres.
        """
        o_node, o_dist, o_min, o_m, o_reason = self._snap(origins)
        same_points = destinations is None
        if same_points:
            d_node, d_dist, d_min, d_m, d_reason = o_node, o_dist, o_min, o_m, o_reason
            destinations = origins
        else:
            d_node, d_dist, d_min, d_m, d_reason = self._snap(destinations)
        o_ok, d_ok = o_node >= 0, d_node >= 0
        u_orig, inv_o = np.unique(o_node[o_ok], return_inverse=True)
        u_dest, inv_d = np.unique(d_node[d_ok], return_inverse=True)
        minutes = np.full((len(o_node), len(d_node)), np.nan)
        metres = np.full_like(minutes, np.nan)
        reachable = np.zeros(minutes.shape, dtype=bool)
        if len(u_orig) and len(u_dest):
            nodes = self._node_matrix(u_orig, u_dest)
            sub = np.ix_(np.flatnonzero(o_ok), np.flatnonzero(d_ok))
            net_min = nodes.minutes[inv_o][:, inv_d]
            net_m = nodes.metres[inv_o][:, inv_d]
            minutes[sub] = o_min[o_ok, None] + net_min + d_min[None, d_ok]
            metres[sub] = o_m[o_ok, None] + net_m + d_m[None, d_ok]
            reachable[sub] = nodes.reachable[inv_o][:, inv_d]
        a, b = _coords(origins), _coords(destinations)
        same = (a[:, None, 0] == b[None, :, 0]) & (a[:, None, 1] == b[None, :, 1])
        minutes += np.where(same, 0.0, self.overhead_min)
        same &= o_ok[:, None] & d_ok[None, :]
        minutes[same], metres[same], reachable[same] = 0.0, 0.0, True
        minutes[~reachable] = np.nan
        metres[~reachable] = np.nan
        rejects = [
            pd.DataFrame(
                {
                    "side": side,
                    "position": np.flatnonzero(~ok),
                    "distance_m": dist[~ok],
                    "reason": reason[~ok].astype(str),
                }
            )
            for side, ok, dist, reason in (
                ("origin", o_ok, o_dist, o_reason),
                ("destination", d_ok, d_dist, d_reason),
            )
            if (~ok).any()
        ]
        table = pd.concat(rejects, ignore_index=True) if rejects else _empty_rejects()
        return TravelMatrix(
            minutes=minutes,
            metres=metres,
            reachable=reachable,
            mode=self.mode,
            estimate=False,
            rejects=table,
        )

    def path(self, origin: Point, destination: Point) -> LineString:
        """The fastest route along the streets, from ``origin`` to ``destination`` (EPSG:27700).

        Raises
        ------
        NetworkError
            Either point cannot be snapped, or no route joins them.
        """
        return self.route(origin, destination).geometry

    def route(self, origin: Point, destination: Point, max_minutes: float | None = None) -> Route:
        """The fastest route along the streets with its edges, for directions (EPSG:27700).

        Among routes equally fast (common on a street grid) it takes the one that changes street
        the fewest times, so directions read "along A, then left onto B" rather than a staircase.

        Parameters
        ----------
        origin, destination : points in EPSG:27700.
        max_minutes : a bound on the network minutes of the leg (e.g. its planned travel time),
            so the search stops there instead of spreading over a whole city; when the target
            lies beyond it the search runs again without it.

        Raises
        ------
        NetworkError
            Either point cannot be snapped, or no route joins them.
        """
        from patchplan.errors import NetworkError

        pts = gpd.GeoSeries([origin, destination], crs="EPSG:27700")
        node, _, _, access_m, reason = self._snap(pts)
        for label, i in (("origin", 0), ("destination", 1)):
            if node[i] < 0:
                raise NetworkError(f"{label} {pts.iloc[i].wkt} cannot be snapped: {reason[i]}")
        chain = self._fewest_turns_chain(int(node[0]), int(node[1]), max_minutes)
        if chain is None:
            raise NetworkError(
                f"no {self.mode} route from {origin.wkt} to {destination.wkt} on the network"
            )
        ids = csr_graph(self.graph).nodes
        coords: list[tuple[float, float]] = [(origin.x, origin.y)]
        edges = []
        for tail, head in zip(chain[:-1], chain[1:], strict=True):
            data = self._fastest_edge(ids[tail], ids[head])
            points = self._edge_coords(ids[tail], ids[head])
            coords.extend(points)
            edges.append(self._route_edge(data, points))
        street_near = ""
        if len(chain) == 1:
            data = self.graph.nodes[ids[chain[0]]]
            coords.append((data["x"], data["y"]))
            street_near = self._street_near(destination)
        coords.append((destination.x, destination.y))
        kept = [c for i, c in enumerate(coords) if i == 0 or c != coords[i - 1]]
        return Route(
            LineString(kept if len(kept) > 1 else kept * 2),
            tuple(edges),
            access_from_m=float(access_m[0]),
            access_to_m=float(access_m[1]),
            street_near=street_near,
        )

    def _street_near(self, point: Point) -> str:
        """The label of the street edge nearest ``point``."""
        from patchplan.network import _edge_index, street_label

        index = _edge_index(self.graph)
        nearest = int(index.tree.nearest(point))
        return street_label(self._fastest_edge(index.u[nearest], index.v[nearest]))

    def _fewest_turns_chain(
        self, source: int, target: int, max_minutes: float | None = None
    ) -> list[int] | None:
        """Node indices of a fastest path source → target changing street the fewest times.

        The fastest paths form a DAG (edges with ``d(u) + w(u, v) = d(v)`` between nodes on some
        fastest path); a dynamic programme over it in order of ``d`` counts street changes.
        """
        from scipy.sparse.csgraph import dijkstra

        from patchplan.network import street_label

        csr = csr_graph(self.graph)
        if source == target:
            return [source]
        limit = np.inf if max_minutes is None else float(max_minutes)
        d_from = dijkstra(csr.csr, directed=True, indices=source, limit=limit)
        if not np.isfinite(d_from[target]) and np.isfinite(limit):
            d_from = dijkstra(csr.csr, directed=True, indices=source)
        total = d_from[target]
        if not np.isfinite(total):
            return None
        tol = 1e-7 * (1.0 + total)
        if "transpose" not in csr._derived:
            csr._derived["transpose"] = csr.csr.T.tocsr()
        d_to = dijkstra(csr._derived["transpose"], directed=True, indices=target, limit=total + tol)
        on = np.flatnonzero(d_from + d_to <= total + tol)
        order = on[np.lexsort((on, d_from[on]))]
        rank = {int(n): i for i, n in enumerate(order)}
        ids = csr.nodes
        indptr, heads, weights = csr.csr.indptr, csr.csr.indices, csr.csr.data
        # best[node][street arrived on] = (street changes so far, (previous node, its street))
        best: dict[int, dict[str, tuple[int, tuple[int, str] | None]]] = {source: {"": (0, None)}}
        for u in map(int, order):
            for k in range(indptr[u], indptr[u + 1]):
                v = int(heads[k])
                if rank.get(v, -1) <= rank[u] or abs(d_from[u] + weights[k] - d_from[v]) > tol:
                    continue
                street = street_label(self._fastest_edge(ids[u], ids[v]))
                arrivals = best.setdefault(v, {})
                for came_on, (changes, _) in sorted(best.get(u, {}).items()):
                    cost = changes + (came_on not in ("", street))
                    if street not in arrivals or cost < arrivals[street][0]:
                        arrivals[street] = (cost, (u, came_on))
        if not best.get(target):
            return None
        state: tuple[int, str] | None = (
            target,
            min(best[target].items(), key=lambda kv: (kv[1][0], kv[0]))[0],
        )
        chain = []
        while state is not None:
            chain.append(state[0])
            state = best[state[0]][state[1]][1]
        return chain[::-1]

    def _fastest_edge(self, u: Hashable, v: Hashable) -> dict:
        """The attributes of the fastest of the parallel edges u → v."""
        return min(self.graph.get_edge_data(u, v).values(), key=lambda d: d["minutes"])

    @staticmethod
    def _route_edge(data: dict, points: list[tuple[float, float]]) -> RouteEdge:
        from patchplan.network import street_label, street_of

        name, ref = street_of(data)
        highway = data.get("highway", "")
        return RouteEdge(
            name=name,
            ref=ref,
            label=street_label(data),
            highway=str(highway[0] if isinstance(highway, list) else highway),
            length_m=float(data["length"]),
            minutes=float(data["minutes"]),
            start_bearing=_bearing(points[0], points[1]),
            end_bearing=_bearing(points[-2], points[-1]),
        )

    def _edge_coords(self, u: Hashable, v: Hashable) -> list[tuple[float, float]]:
        """Coordinates of the fastest edge u → v, from u to v."""
        data = self._fastest_edge(u, v)
        geom = data.get("geometry")
        if isinstance(geom, LineString):
            return [tuple(c) for c in geom.coords]  # type: ignore[misc]
        a, b = self.graph.nodes[u], self.graph.nodes[v]
        return [(a["x"], a["y"]), (b["x"], b["y"])]
