"""The embedded default: a SYNTHETIC town generated deterministically, for demos and tests.

Nothing here is a real place. The town is drawn on British National Grid coordinates in the North
Sea (off the Yorkshire coast), so no basemap can mistake it for real streets, and every layer
carries ``synthetic = True``.

What it contains, chosen so that walking and driving really differ:

* a 3.0 × 2.1 km street grid (150 m blocks) split north–south by a **river**, crossed by two road
  bridges near the edges and a **footbridge** in the middle that cars cannot use;
* a **one-way gyratory** around the town centre, a **pedestrian street**, **steps**, and
  **footpaths** across a park;
* a **dual carriageway** bypass to the south (two one-way carriageways, ``foot=no``) that walkers
  cannot use;
* named streets (made-up names: a "Road" per grid row, a "Street" per grid column), unnamed park
  paths and slip roads, so directions can name the streets;
* 15 small areas (like LSOAs) with residents aged 65+ and a deprivation decile, 18 neighbourhoods,
  3 PCN areas whose edges do not follow the neighbourhoods, 6 GP practices, and ~1,100 address
  points along the streets (like postcodes) for placing people.

Units: metres (EPSG:27700). The street graph follows osmnx's conventions (a ``MultiDiGraph``
with node ``x``/``y`` and edge ``length``, ``highway``, ``oneway``, ``osmid``), so osmnx
functions accept it.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import geopandas as gpd
import networkx as nx
import numpy as np
from shapely.geometry import Point, box

from patchplan import CRS

ORIGIN_E, ORIGIN_N = 560_000.0, 440_000.0
"""South-west corner of the town grid (EPSG:27700): open sea east of Flamborough Head."""

SPACING_M = 150.0
COLUMNS, ROWS = 21, 15  # grid nodes: x = 0..3000 m, y = 0..2100 m
RIVER_AFTER_COLUMN = 10  # the river runs between grid columns 10 and 11
ROAD_BRIDGE_ROWS = (0, 14)
FOOTBRIDGE_ROW = 7
PARK = (2, 4, 9, 12)  # columns 2..4, rows 9..12: no roads inside, footpaths across
GYRATORY = (13, 15, 6, 8)  # one-way clockwise around columns 13..15, rows 6..8
PEDESTRIAN_STREET = (12, 14, 10)  # row 10 from column 12 to 14
STEPS = ((7, 3), (7, 4))  # a short flight of steps between two grid nodes
BYPASS_Y = (-180.0, -210.0)  # eastbound and westbound carriageways, metres from the grid origin
BYPASS_JUNCTION_COLUMNS = (0, 10, 20)

ROW_STREETS = (
    "Quay Road", "Mill Road", "Abbey Road", "Chapel Road", "Orchard Road", "Station Road",
    "Park Road", "Bridge Road", "Church Road", "Castle Road", "Victoria Road", "Albert Road",
    "Manor Road", "Grange Road", "Cliff Road",
)  # fmt: skip
"""Names of the east–west streets, one per grid row from the south (made up, like the town)."""

COLUMN_STREETS = (
    "Ash Street", "Beech Street", "Cedar Street", "Elm Street", "Fir Street", "Hazel Street",
    "Holly Street", "Larch Street", "Lime Street", "Maple Street", "Oak Street", "Pine Street",
    "Rowan Street", "Willow Street", "Yew Street", "Alder Street", "Birch Street", "Cherry Street",
    "Hawthorn Street", "Juniper Street", "Poplar Street",
)  # fmt: skip
"""Names of the north–south streets, one per grid column from the west."""


@dataclass(frozen=True)
class Town:
    """All layers of the synthetic town (EPSG:27700).

    Attributes
    ----------
    streets : osmnx-style MultiDiGraph with every highway type (walk and drive filters apply later)
    areas : small areas: ``id``, ``name``, ``pop_65plus`` (residents aged 65+),
        ``imd_decile`` (1 = most deprived)
    neighbourhoods : ``id``, ``name``
    pcns : ``id``, ``name``
    practices : GP practices: ``id``, ``name``, ``pcn_id``, Point geometry
    addresses : address points along streets: ``id`` (like a postcode), ``area_id``
    boundary : the study area outline
    localities : today's two contract areas, ``id``, ``name``: the town cut north/south along a
        road, ignoring PCNs, as many councils' legacy localities are
    """

    streets: nx.MultiDiGraph
    areas: gpd.GeoDataFrame
    neighbourhoods: gpd.GeoDataFrame
    pcns: gpd.GeoDataFrame
    practices: gpd.GeoDataFrame
    addresses: gpd.GeoDataFrame
    boundary: gpd.GeoDataFrame
    localities: gpd.GeoDataFrame | None = None


def _xy(col: float, row: float) -> tuple[float, float]:
    return ORIGIN_E + col * SPACING_M, ORIGIN_N + row * SPACING_M


def _node(col: int, row: int) -> int:
    return row * COLUMNS + col


class _StreetBuilder:
    """Adds OSM-like ways to a MultiDiGraph: two-way ways as two directed edges, one-way as one."""

    def __init__(self) -> None:
        self.graph = nx.MultiDiGraph(
            crs=CRS, name="Synthetic town (not a real place)", synthetic=True
        )
        self._next_way = 1

    def node(self, node_id: int, x: float, y: float) -> None:
        self.graph.add_node(node_id, x=x, y=y, street_count=0)

    def way(self, nodes: list[int], highway: str, oneway: bool = False, **tags: str) -> None:
        way_id = self._next_way
        self._next_way += 1
        for u, v in pairwise(nodes):
            self._edge(u, v, way_id, highway, oneway, reversed_=False, tags=tags)
            if not oneway:
                self._edge(v, u, way_id, highway, oneway, reversed_=True, tags=tags)

    def _edge(self, u: int, v: int, way_id: int, highway: str, oneway: bool, reversed_: bool, tags):
        g = self.graph
        length = float(
            np.hypot(g.nodes[u]["x"] - g.nodes[v]["x"], g.nodes[u]["y"] - g.nodes[v]["y"])
        )
        g.add_edge(
            u,
            v,
            osmid=way_id,
            highway=highway,
            oneway=oneway,
            reversed=reversed_,
            length=length,
            **tags,
        )


def _streets() -> nx.MultiDiGraph:
    b = _StreetBuilder()
    for row in range(ROWS):
        for col in range(COLUMNS):
            b.node(_node(col, row), *_xy(col, row))

    c0, c1, r0, r1 = GYRATORY
    gyratory_edges: set[frozenset[tuple[int, int]]] = set()
    ring = (
        [(c, r1) for c in range(c0, c1 + 1)]
        + [(c1, r) for r in range(r1 - 1, r0 - 1, -1)]
        + [(c, r0) for c in range(c1 - 1, c0 - 1, -1)]
        + [(c0, r) for r in range(r0 + 1, r1 + 1)]
    )
    b.way([_node(c, r) for c, r in ring], "primary", oneway=True, name="Market Gyratory")
    gyratory_edges.update(frozenset(p) for p in pairwise(ring))

    def in_park(col: int, row: int) -> bool:
        return PARK[0] <= col <= PARK[1] and PARK[2] <= row <= PARK[3]

    def street_class(a: tuple[int, int], c: tuple[int, int]) -> str:
        if a[1] == c[1] == FOOTBRIDGE_ROW or a[0] == c[0] in (5, 15):
            return "secondary"
        return "residential"

    def street_name(a: tuple[int, int], c: tuple[int, int]) -> str:
        return ROW_STREETS[a[1]] if a[1] == c[1] else COLUMN_STREETS[a[0]]

    ped_c0, ped_c1, ped_row = PEDESTRIAN_STREET
    for row in range(ROWS):
        for col in range(COLUMNS):
            for dc, dr in ((1, 0), (0, 1)):
                a, c = (col, row), (col + dc, row + dr)
                if c[0] >= COLUMNS or c[1] >= ROWS or frozenset((a, c)) in gyratory_edges:
                    continue
                if in_park(*a) and in_park(*c):
                    continue
                u, v = _node(*a), _node(*c)
                crosses_river = dc == 1 and col == RIVER_AFTER_COLUMN
                if crosses_river and row == FOOTBRIDGE_ROW:
                    b.way([u, v], "footway", name="Millennium Footbridge", bridge="yes")
                elif crosses_river and row in ROAD_BRIDGE_ROWS:
                    b.way([u, v], "tertiary", name="Town Bridge", bridge="yes")
                elif crosses_river:
                    continue
                elif dr == 0 and row == ped_row and ped_c0 <= col < ped_c1:
                    b.way([u, v], "pedestrian", name="High Street")
                elif (a, c) == STEPS:
                    b.way([u, v], "steps", name="Church Steps")
                else:
                    b.way([u, v], street_class(a, c), name=street_name(a, c))

    # Footpaths across the park: the diagonals and the middle line.
    pc0, pc1, pr0, pr1 = PARK
    b.way(
        [_node(pc0, pr0), _node(pc0 + 1, pr0 + 1), _node(pc1 - 1, pr1 - 1), _node(pc1, pr1)],
        "footway",
    )
    b.way(
        [_node(pc1, pr0), _node(pc1 - 1, pr0 + 1), _node(pc0 + 1, pr1 - 1), _node(pc0, pr1)],
        "footway",
    )
    b.way([_node(pc0, pr0 + 1), _node(pc0 + 1, pr0 + 1)], "path")

    # Dual carriageway bypass: one-way trunk carriageways, no walkers; slip roads at 3 junctions.
    east_y, west_y = BYPASS_Y
    east_nodes: list[int] = []
    west_nodes: list[int] = []
    for col in range(COLUMNS):
        x = ORIGIN_E + col * SPACING_M
        for y_off, seq, base in ((east_y, east_nodes, 10_000), (west_y, west_nodes, 20_000)):
            b.node(base + col, x, ORIGIN_N + y_off)
            seq.append(base + col)
    b.way(east_nodes, "trunk", oneway=True, foot="no", name="Bypass (eastbound)", maxspeed="70 mph")
    b.way(
        west_nodes[::-1],
        "trunk",
        oneway=True,
        foot="no",
        name="Bypass (westbound)",
        maxspeed="70 mph",
    )
    for col in BYPASS_JUNCTION_COLUMNS:
        b.way([_node(col, 0), east_nodes[col]], "trunk_link", oneway=True, foot="no")
        b.way([east_nodes[col], west_nodes[col]], "trunk_link", oneway=False, foot="no")
        b.way([west_nodes[col], _node(col, 0)], "trunk_link", oneway=True, foot="no")

    for node, degree in b.graph.to_undirected().degree():
        b.graph.nodes[node]["street_count"] = degree
    return b.graph


def _frame(records: list[dict], geometry: list) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(records, geometry=geometry, crs=CRS)
    frame["synthetic"] = True
    return frame


def _extent() -> tuple[float, float, float, float]:
    x0, y0 = _xy(-1, -1.7)
    x1, y1 = _xy(COLUMNS, ROWS)
    return x0, y0, x1, y1


def _areas(rng: np.random.Generator) -> gpd.GeoDataFrame:
    x0, y0, x1, y1 = _extent()
    xs, ys = np.linspace(x0, x1, 6), np.linspace(y0, y1, 4)
    records, geoms = [], []
    for j in range(3):
        for i in range(5):
            records.append(
                {
                    "id": f"SA{j * 5 + i + 1:02d}",
                    "name": f"Small area {j * 5 + i + 1}",
                    "pop_65plus": int(rng.integers(150, 450)),
                    "imd_decile": int(rng.integers(1, 11)),
                }
            )
            geoms.append(box(xs[i], ys[j], xs[i + 1], ys[j + 1]))
    return _frame(records, geoms)


NEIGHBOURHOOD_NAMES = (
    "Mill Lane", "Parkside", "Northgate", "Riverside West", "Church Hill", "Orchard", "Wharf End",
    "Brook Farm", "West Common", "Quayside", "Old Town", "Castle Hill", "East Fields", "Market",
    "Hill Top", "Saltings", "Station", "Cliff End",
)  # fmt: skip


def _neighbourhoods() -> gpd.GeoDataFrame:
    """18 neighbourhoods: 3 × 3 on each bank of the river (rows split at grid rows 4.4 and 9.4)."""
    x0, y0, x1, y1 = _extent()
    river_x = _xy(RIVER_AFTER_COLUMN + 0.5, 0)[0]
    ys = [y0, _xy(0, 4.4)[1], _xy(0, 9.4)[1], y1]
    records, geoms = [], []
    for bank, (left, right) in enumerate(((x0, river_x), (river_x, x1))):
        xs = np.linspace(left, right, 4)
        for j in range(3):
            for i in range(3):
                n = bank * 9 + j * 3 + i
                records.append({"id": f"N{n + 1:02d}", "name": NEIGHBOURHOOD_NAMES[n]})
                geoms.append(box(xs[i], ys[j], xs[i + 1], ys[j + 1]))
    return _frame(records, geoms)


def _pcns() -> gpd.GeoDataFrame:
    x0, y0, x1, y1 = _extent()
    river_x = _xy(RIVER_AFTER_COLUMN + 0.5, 0)[0]
    split_y = _xy(0, 6.0)[1]  # deliberately not the neighbourhoods' line
    cells = [
        ("PCN-W", "West Bank PCN", box(x0, y0, river_x, y1)),
        ("PCN-NE", "North East PCN", box(river_x, split_y, x1, y1)),
        ("PCN-SE", "South East PCN", box(river_x, y0, x1, split_y)),
    ]
    return _frame([{"id": i, "name": n} for i, n, _ in cells], [g for *_, g in cells])


def _practices() -> gpd.GeoDataFrame:
    sites = [
        ("GP01", "Parkside Surgery", "PCN-W", (3, 8)),
        ("GP02", "Riverside Medical Centre", "PCN-W", (7, 3)),
        ("GP03", "Old Town Practice", "PCN-NE", (14, 10)),
        ("GP04", "Hill Top Health Centre", "PCN-NE", (18, 12)),
        ("GP05", "Quayside Surgery", "PCN-SE", (13, 3)),
        ("GP06", "East Fields Practice", "PCN-SE", (18, 2)),
    ]
    records = [{"id": i, "name": n, "pcn_id": p} for i, n, p, _ in sites]
    return _frame(records, [Point(_xy(c + 0.1, r + 0.1)) for *_, (c, r) in sites])


def _addresses(streets: nx.MultiDiGraph, areas: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Two address points per residential or secondary street segment, 12 m either side of it."""
    points = []
    seen = set()
    for u, v, data in streets.edges(data=True):
        if data["highway"] not in ("residential", "secondary") or frozenset((u, v)) in seen:
            continue
        seen.add(frozenset((u, v)))
        (xu, yu), (xv, yv) = ((streets.nodes[n]["x"], streets.nodes[n]["y"]) for n in (u, v))
        mx, my, length = (xu + xv) / 2, (yu + yv) / 2, np.hypot(xv - xu, yv - yu)
        nx_, ny_ = -(yv - yu) / length, (xv - xu) / length
        points += [Point(mx + 12 * nx_, my + 12 * ny_), Point(mx - 12 * nx_, my - 12 * ny_)]
    addresses = gpd.GeoDataFrame(geometry=points, crs=CRS)
    joined = gpd.sjoin(addresses, areas[["id", "geometry"]], how="inner", predicate="within")
    joined = joined.sort_index()
    out = gpd.GeoDataFrame(
        {"id": [f"TN{i:05d}" for i in range(len(joined))], "area_id": joined["id"].to_numpy()},
        geometry=joined.geometry.to_numpy(),
        crs=CRS,
    )
    out["synthetic"] = True
    return out


def _localities() -> gpd.GeoDataFrame:
    x0, y0, x1, y1 = _extent()
    _, y_cut = _xy(0, 9)
    return _frame(
        [{"id": "SOUTH", "name": "South locality"}, {"id": "NORTH", "name": "North locality"}],
        [box(x0, y0, x1, y_cut), box(x0, y_cut, x1, y1)],
    )


def make_town(seed: int = 7) -> Town:
    """Generate the synthetic town. The same seed always gives the same town."""
    rng = np.random.default_rng(seed)
    streets = _streets()
    areas = _areas(rng)
    boundary = _frame([{"id": "TOWN", "name": "Synthetic town"}], [box(*_extent())])
    return Town(
        streets=streets,
        areas=areas,
        neighbourhoods=_neighbourhoods(),
        pcns=_pcns(),
        practices=_practices(),
        addresses=_addresses(streets, areas),
        boundary=boundary,
        localities=_localities(),
    )


def street_nodes(col: int, row: int) -> int:
    """The graph node id of grid crossing (``col``, ``row``), for tests and examples."""
    return _node(col, row)


def grid_point(col: float, row: float) -> Point:
    """The EPSG:27700 point of grid position (``col``, ``row``)."""
    return Point(_xy(col, row))


__all__ = ["Town", "make_town", "street_nodes", "grid_point"]
