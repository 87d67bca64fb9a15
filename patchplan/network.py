"""Walking and driving street networks from OpenStreetMap, with travel times on every edge.

A network comes from a local OSM file (``.osm`` XML or ``.osm.pbf``), a GraphML file, an in-memory
osmnx-style graph (the embedded demo town), or, when online, a place name or polygon fetched by
osmnx. Whatever the source, the same rules apply:

* the ways are filtered with **osmnx's own network filters** (``walk``, ``drive``, ``bike``): a walk
  graph keeps footways, steps and pedestrian streets and ignores one-way rules; a drive graph keeps
  only public drivable ways and respects one-way streets;
* the graph is projected to EPSG:27700 and only its **largest strongly connected component** is kept
  (``graph.graph["dropped_nodes"]`` / ``["dropped_edges"]`` say how much was dropped);
* every edge carries ``length`` (metres) and ``minutes`` (travel time for the mode).

Graphs built from files are cached on disk (GraphML) keyed by the file's SHA-256, the mode and the
settings that shape the graph, so a second load of the same file is quick.

Visit locations are attached to the network by :func:`snap`, which never snaps silently: a point
farther than ``snap_max_m`` from any street is returned as a reject with its distance.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
from shapely import STRtree, line_locate_point
from shapely.geometry import LineString
from shapely.geometry.base import BaseGeometry

from patchplan import CRS
from patchplan._validate import at_least, collect, positive
from patchplan.errors import NetworkError

log = logging.getLogger(__name__)

MODES = ("walk", "drive", "cycle")
"""Travel modes a network can be built for."""

_OSMNX_NETWORK_TYPE = {"walk": "walk", "drive": "drive", "cycle": "bike"}

UK_DRIVE_SPEEDS_KMH: tuple[tuple[str, float], ...] = (
    ("motorway", 100.0),
    ("motorway_link", 60.0),
    ("trunk", 90.0),
    ("trunk_link", 50.0),
    ("primary", 80.0),
    ("primary_link", 40.0),
    ("secondary", 70.0),
    ("secondary_link", 40.0),
    ("tertiary", 60.0),
    ("tertiary_link", 35.0),
    ("unclassified", 50.0),
    ("residential", 32.0),
    ("living_street", 15.0),
    ("service", 15.0),
    ("road", 40.0),
    ("busway", 32.0),
)
"""Free-flow speed (km/h) by OSM highway class where an edge has no ``maxspeed`` tag.

UK limits: 70 mph (113 km/h) on motorways and dual carriageways, 60 mph (97 km/h) on rural single
carriageways, 30 mph (48 km/h) in built-up areas. The defaults sit below the limits because rural A
and B roads are rarely driven at the limit; tagged ``maxspeed`` values are used where present and then
scaled by ``drive_rural_factor`` / ``drive_urban_factor``.
"""

CACHE_VERSION = "1"
"""Bump when the cached graph format or the build rules change, so old caches are ignored."""


def _default_cache_dir() -> str:
    return os.environ.get("PATCHPLAN_CACHE", str(Path.home() / ".cache" / "patchplan"))


@dataclass(frozen=True)
class NetworkSettings:
    """How networks are built, timed and snapped to. Built from the scenario's ``[network]`` table.

    Attributes
    ----------
    walk_speed_kmh : float
        Walking speed on the network, km/h (default 4.5).
    steps_penalty : float
        Multiplier on walking time along ``highway=steps`` edges (default 2.0: a flight of steps
        takes twice as long as the same horizontal distance on the flat).
    cycle_speed_kmh : float
        Cycling speed on the network, km/h (default 14.0).
    drive_speeds_kmh : tuple of (str, float)
        Speed (km/h) by OSM highway class for edges with no ``maxspeed`` tag (UK defaults,
        :data:`UK_DRIVE_SPEEDS_KMH`). Unlisted classes get the mean tagged speed of their class.
    drive_urban_factor : float
        Multiplier on drive speeds on streets whose speed is at most ``drive_urban_limit_kmh``
        (junctions, crossings, traffic: default 0.75).
    drive_urban_limit_kmh : float
        Speed (km/h) at or below which a street counts as urban (default 50, i.e. 30 mph roads).
    drive_rural_factor : float
        Multiplier on drive speeds on faster roads (limits are maxima, not averages; default 0.85).
    parking_min : float
        Minutes added to every drive leg between distinct locations: parking and walking to the
        door (default 3.0).
    snap_max_m : float
        Farthest a point may lie from the network, metres (default 500). Farther points are
        rejected, never silently snapped.
    access_speed_kmh : float
        Walking speed (km/h) for the access leg from a point to the street (default 4.5).
    cache_dir : str
        Folder for cached graphs (default: env ``PATCHPLAN_CACHE`` or ``~/.cache/patchplan``).
        An empty string turns disk caching off.
    """

    walk_speed_kmh: float = 4.5
    steps_penalty: float = 2.0
    cycle_speed_kmh: float = 14.0
    drive_speeds_kmh: tuple[tuple[str, float], ...] = UK_DRIVE_SPEEDS_KMH
    drive_urban_factor: float = 0.75
    drive_urban_limit_kmh: float = 50.0
    drive_rural_factor: float = 0.85
    parking_min: float = 3.0
    snap_max_m: float = 500.0
    access_speed_kmh: float = 4.5
    cache_dir: str = field(default_factory=_default_cache_dir)

    def __post_init__(self) -> None:
        speeds = self.drive_speeds_kmh
        if isinstance(speeds, Mapping):  # a TOML table arrives as a dict
            object.__setattr__(self, "drive_speeds_kmh", tuple(sorted(speeds.items())))
        else:
            object.__setattr__(
                self, "drive_speeds_kmh", tuple((str(k), float(v)) for k, v in speeds)
            )
        problems = self.problems()
        if problems:
            raise NetworkError("[network] " + "; ".join(problems))

    def problems(self) -> list[str]:
        """Range problems of these settings, each naming its key (empty when valid)."""
        return collect(
            positive("walk_speed_kmh", self.walk_speed_kmh),
            positive("cycle_speed_kmh", self.cycle_speed_kmh),
            positive("access_speed_kmh", self.access_speed_kmh),
            at_least("steps_penalty", self.steps_penalty, 1),
            (positive(f"drive_speeds_kmh.{k}", v) for k, v in self.drive_speeds_kmh),
            positive("drive_urban_factor", self.drive_urban_factor),
            positive("drive_urban_limit_kmh", self.drive_urban_limit_kmh),
            positive("drive_rural_factor", self.drive_rural_factor),
            at_least("parking_min", self.parking_min, 0),
            positive("snap_max_m", self.snap_max_m),
        )

    def graph_key(self, mode: str) -> dict[str, Any]:
        """The settings that shape a ``mode`` graph's edges (and so its cache key)."""
        keys = {
            "walk": ("walk_speed_kmh", "steps_penalty"),
            "cycle": ("cycle_speed_kmh",),
            "drive": (
                "drive_speeds_kmh",
                "drive_urban_factor",
                "drive_urban_limit_kmh",
                "drive_rural_factor",
            ),
        }[mode]
        values = asdict(self)
        return {k: values[k] for k in keys}


# --------------------------------------------------------------------------------------------
# osmnx network filters, applied to tags
# --------------------------------------------------------------------------------------------

_FILTER_TERM = re.compile(r'\["([^"]+)"(?:(!?~)"([^"]*)")?\]')


def _way_filter(mode: str) -> list[tuple[str, str, re.Pattern[str] | None]]:
    """osmnx's Overpass filter for ``mode`` as (key, operator, regex) terms."""
    import osmnx as ox

    text = ox._overpass._get_network_filter(_OSMNX_NETWORK_TYPE[mode])
    return [(k, op, re.compile(rx) if op else None) for k, op, rx in _FILTER_TERM.findall(text)]


def _tags_pass(
    tags: Mapping[str, Any], terms: list[tuple[str, str, re.Pattern[str] | None]]
) -> bool:
    """True when ``tags`` satisfy every term, exactly as Overpass would evaluate the filter."""
    for key, op, rx in terms:
        value = tags.get(key)
        if isinstance(value, list):  # osmnx merges tags of simplified ways into lists
            value = ";".join(str(v) for v in value)
        elif value is not None and not isinstance(value, str):
            value = str(value)
        if not op and value is None:
            return False
        if op == "!~" and value is not None and rx is not None and rx.search(value):
            return False
        if op == "~" and (value is None or rx is None or not rx.search(value)):
            return False
    return True


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_network(
    source: str | os.PathLike[str] | nx.MultiDiGraph | BaseGeometry,
    mode: str,
    settings: NetworkSettings | None = None,
) -> nx.MultiDiGraph:
    """Build the ``mode`` street network from a file, an in-memory graph, or a place when online.

    Parameters
    ----------
    source : path, networkx.MultiDiGraph, str or shapely geometry
        A local ``.osm`` / ``.osm.xml`` / ``.osm.pbf`` / ``.graphml`` file; an osmnx-style
        ``MultiDiGraph`` holding all highway types (nodes ``x``, ``y`` in its ``crs``, edges
        ``length`` in metres, ``highway``, ``oneway``); or, online only, a place name or a polygon
        in EPSG:4326 for osmnx to download.
    mode : {"walk", "drive", "cycle"}
        Travel mode; selects osmnx's ``walk``, ``drive`` or ``bike`` network filter.
    settings : NetworkSettings, optional
        Speeds, penalties and the cache folder.

    Returns
    -------
    networkx.MultiDiGraph
        Projected to EPSG:27700, strongly connected, every edge with ``length`` (m) and ``minutes``.
        Graph attributes: ``mode``, ``crs``, ``source``, ``dropped_nodes``, ``dropped_edges``
        (outside the largest strongly connected component) and ``network_hash``.

    Raises
    ------
    NetworkError
        Missing, empty or corrupt file; no usable highways; place or polygon requested offline.
    """
    settings = settings or NetworkSettings()
    if mode not in MODES:
        raise NetworkError(f"unknown travel mode {mode!r}: use one of {', '.join(MODES)}")
    if isinstance(source, nx.MultiDiGraph):
        return _finish(_filter_graph(source, mode), mode, settings, "in-memory graph")
    if isinstance(source, BaseGeometry):
        return _finish(_download(source, mode), mode, settings, "polygon (osmnx download)")
    if isinstance(source, os.PathLike) or _looks_like_path(str(source)):
        return _load_file(Path(source), mode, settings)
    return _finish(_download(str(source), mode), mode, settings, f"place {source!r}")


_FILE_SUFFIXES = (".osm", ".xml", ".pbf", ".graphml", ".osm.bz2", ".gz")


def _looks_like_path(text: str) -> bool:
    return (
        Path(text).exists()
        or text.lower().endswith(_FILE_SUFFIXES)
        or os.sep in text
        or "/" in text
    )


def _file_kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".pbf"):
        return "pbf"
    if name.endswith(".graphml"):
        return "graphml"
    if name.endswith((".osm", ".xml", ".osm.bz2", ".osm.gz")):
        return "osm"
    raise NetworkError(
        f"{path}: unknown network file type; supply an .osm, .osm.pbf or .graphml file"
    )


def file_extent(path: str | os.PathLike[str], sample: int = 50_000) -> tuple[float, ...] | None:
    """Where a network file lies: ``(xmin, ymin, xmax, ymax)`` in EPSG:27700 (m), read cheaply.

    From an OSM file's header box when it has one, else from its first ``sample`` nodes; from a
    GraphML's first ``sample`` nodes (in the graph's ``crs``). None when the file holds no nodes.
    Lets ``patchplan check`` see a network far from the study area without building it.

    Raises
    ------
    NetworkError
        Missing or unreadable file, or an unknown file type.
    """
    file = Path(path)
    if not file.is_file():
        raise NetworkError(f"{file}: network file not found")
    kind = _file_kind(file)
    try:
        if kind == "graphml":
            xs, ys, crs = _graphml_sample(file, sample)
        else:
            xs, ys, crs = _osm_sample(file, sample)
    except NetworkError:
        raise
    except Exception as exc:  # osmium and the XML parser raise many types for corrupt files
        raise NetworkError(f"{file}: not a readable {kind} network file ({exc})") from exc
    if not xs:
        return None
    from pyproj import Transformer

    to_grid = Transformer.from_crs(crs, CRS, always_xy=True)
    x, y = to_grid.transform(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
    return (float(np.min(x)), float(np.min(y)), float(np.max(x)), float(np.max(y)))


def _osm_sample(path: Path, sample: int) -> tuple[list[float], list[float], str]:
    import osmium

    reader = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING)
    box = reader.header().box()
    reader.close()
    if box.valid():
        return (
            [box.bottom_left.lon, box.top_right.lon],
            [box.bottom_left.lat, box.top_right.lat],
            "EPSG:4326",
        )
    xs: list[float] = []
    ys: list[float] = []
    for node in osmium.FileProcessor(str(path), osmium.osm.NODE):
        if isinstance(node, osmium.osm.Node) and node.location.valid():
            xs.append(node.location.lon)
            ys.append(node.location.lat)
            if len(xs) >= sample:
                break
    return xs, ys, "EPSG:4326"


def _graphml_sample(path: Path, sample: int) -> tuple[list[float], list[float], str]:
    import xml.etree.ElementTree as ET

    keys: dict[str, str] = {}
    crs = "EPSG:4326"
    xs: list[float] = []
    ys: list[float] = []
    for _, element in ET.iterparse(path, events=("end",)):
        tag = element.tag.rsplit("}", 1)[-1]
        if tag == "key":
            keys[element.get("id", "")] = f"{element.get('for')}:{element.get('attr.name')}"
        elif tag == "data" and keys.get(element.get("key", "")) == "graph:crs" and element.text:
            crs = element.text
        elif tag == "node":
            values = {keys.get(d.get("key", ""), ""): d.text for d in element}
            if values.get("node:x") and values.get("node:y"):
                xs.append(float(values["node:x"]))
                ys.append(float(values["node:y"]))
            element.clear()
            if len(xs) >= sample:
                break
    return xs, ys, crs


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _load_file(path: Path, mode: str, settings: NetworkSettings) -> nx.MultiDiGraph:
    if not path.exists():
        raise NetworkError(f"{path}: network file not found")
    if not path.is_file():
        raise NetworkError(f"{path}: is not a file (supply an .osm, .osm.pbf or .graphml file)")
    if path.stat().st_size == 0:
        raise NetworkError(f"{path}: network file is empty (0 bytes)")
    kind = _file_kind(path)
    file_hash = _file_hash(path)
    key_text = json.dumps(
        [CACHE_VERSION, file_hash, mode, settings.graph_key(mode)], sort_keys=True, default=list
    )
    key = hashlib.sha256(key_text.encode()).hexdigest()[:24]
    cache_path = (
        Path(settings.cache_dir) / "networks" / f"{mode}-{key}.graphml"
        if settings.cache_dir
        else None
    )
    if cache_path is not None and cache_path.exists():
        try:
            graph = _read_cached(cache_path)
            graph.graph["source"] = str(path)
            log.info("network: %s %s loaded from cache %s", path.name, mode, cache_path)
            return graph
        except Exception as exc:  # a damaged cache is rebuilt, never trusted
            log.warning("network cache %s unreadable (%s); rebuilding", cache_path, exc)
    if kind == "graphml":
        graph = _finish(_filter_graph(_read_graphml(path), mode), mode, settings, str(path))
    else:
        raw = _graph_from_osm_file(path, mode, settings)
        graph = _finish(raw, mode, settings, str(path), timed=True)
    graph.graph["network_hash"] = key
    if cache_path is not None:
        _write_cached(graph, cache_path)
    return graph


def _read_graphml(path: Path) -> nx.MultiDiGraph:
    import osmnx as ox

    try:
        return ox.load_graphml(path)
    except Exception as exc:
        raise NetworkError(f"{path}: not a readable GraphML network ({exc})") from exc


def _graph_from_osm_file(path: Path, mode: str, settings: NetworkSettings) -> nx.MultiDiGraph:
    """Ways passing osmnx's ``mode`` filter, read with pyosmium, built, timed and simplified."""
    import osmium
    import osmnx as ox

    terms = _way_filter(mode)
    elements: list[dict[str, Any]] = []
    node_seen: set[int] = set()
    n_highways = 0
    try:
        processor = osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
        for way in processor.with_locations():
            if not isinstance(way, osmium.osm.Way):
                continue
            tags = {t.k: t.v for t in way.tags}
            if "highway" not in tags:
                continue
            n_highways += 1
            if not _tags_pass(tags, terms):
                continue
            refs = []
            for node in way.nodes:
                if not node.location.valid():
                    continue
                refs.append(node.ref)
                if node.ref not in node_seen:
                    node_seen.add(node.ref)
                    elements.append(
                        {"type": "node", "id": node.ref, "lat": node.lat, "lon": node.lon}
                    )
            if len(refs) >= 2:
                elements.append({"type": "way", "id": way.id, "nodes": refs, "tags": tags})
    except RuntimeError as exc:
        raise NetworkError(f"{path}: corrupt or unreadable OSM file ({exc})") from exc
    if n_highways == 0:
        raise NetworkError(f"{path}: the file contains no OSM ways tagged highway=*")
    if not any(e["type"] == "way" for e in elements):
        raise NetworkError(
            f"{path}: none of its {n_highways} highway ways is usable for {mode} "
            f"(osmnx '{_OSMNX_NETWORK_TYPE[mode]}' filter)"
        )
    graph = ox.graph._create_graph([{"elements": elements}], bidirectional=(mode == "walk"))
    # time the OSM ways before simplification merges them, so a footway-then-steps edge is timed
    # part by part; merged edges sum their lengths and minutes
    _add_minutes(graph, mode, settings)
    graph = ox.simplify_graph(graph, edge_attr_aggs={"length": sum, "minutes": sum})
    return ox.project_graph(graph, to_crs=CRS)


def _offline_reason() -> str | None:
    """Why osmnx cannot reach Overpass now, or None when it can."""
    if os.environ.get("PATCHPLAN_OFFLINE", "").strip() not in ("", "0"):
        return "PATCHPLAN_OFFLINE is set"
    try:
        with socket.create_connection(("overpass-api.de", 443), timeout=3):
            return None
    except OSError as exc:
        return f"cannot reach overpass-api.de ({exc.__class__.__name__}: {exc})"


def _download(where: str | BaseGeometry, mode: str) -> nx.MultiDiGraph:
    label = f"place {where!r}" if isinstance(where, str) else "a polygon"
    reason = _offline_reason()
    if reason is not None:
        raise NetworkError(
            f"cannot download the {mode} network for {label}: offline ({reason}). "
            "Supply a local OpenStreetMap file instead, e.g. a Geofabrik .osm.pbf extract "
            "(https://download.geofabrik.de/europe/united-kingdom/england.html) or a .graphml file."
        )
    import osmnx as ox

    network_type = _OSMNX_NETWORK_TYPE[mode]
    try:
        if isinstance(where, str):
            graph = ox.graph_from_place(where, network_type=network_type, simplify=True)
        else:
            graph = ox.graph_from_polygon(where, network_type=network_type, simplify=True)
    except Exception as exc:
        raise NetworkError(
            f"osmnx could not download the {mode} network for {label}: {exc}"
        ) from exc
    return ox.project_graph(graph, to_crs=CRS)


def _truthy(value: Any) -> bool:
    if isinstance(value, list):
        return any(_truthy(v) for v in value)
    if isinstance(value, str):
        return value.strip().lower() in ("yes", "true", "1", "-1")
    return (
        bool(value)
        if value is not None and not (isinstance(value, float) and np.isnan(value))
        else False
    )


def _filter_graph(source: nx.MultiDiGraph, mode: str) -> nx.MultiDiGraph:
    """Apply osmnx's ``mode`` filter edge by edge to an all-highways graph (a copy; ``source`` is kept).

    Walk graphs are made two-way: a one-way edge gains its reverse, as osmnx's ``bidirectional``.
    """
    import osmnx as ox

    if source.number_of_edges() == 0:
        raise NetworkError("in-memory graph has no edges (no highways)")
    terms = _way_filter(mode)
    graph = nx.MultiDiGraph()
    graph.graph.update({k: v for k, v in source.graph.items() if k in ("crs", "name")})
    graph.graph.setdefault("crs", CRS)
    graph.add_nodes_from(source.nodes(data=True))
    kept = 0
    for u, v, k, data in source.edges(keys=True, data=True):
        if "highway" not in data or not _tags_pass(data, terms):
            continue
        if "length" not in data:
            raise NetworkError(f"in-memory graph edge ({u}, {v}, {k}) has no 'length' (metres)")
        graph.add_edge(u, v, key=k, **data)
        kept += 1
        if mode == "walk" and _truthy(data.get("oneway")):
            back = dict(data, reversed=not _truthy(data.get("reversed")))
            if isinstance(back.get("geometry"), LineString):
                back["geometry"] = LineString(list(back["geometry"].coords)[::-1])
            graph.add_edge(v, u, **back)
    if kept == 0:
        raise NetworkError(f"in-memory graph has no highways usable for {mode}")
    graph.remove_nodes_from([n for n, deg in dict(graph.degree()).items() if deg == 0])
    if str(graph.graph["crs"]).upper() != CRS:
        graph = ox.project_graph(graph, to_crs=CRS)
    return graph


def _finish(
    graph: nx.MultiDiGraph, mode: str, settings: NetworkSettings, source: str, timed: bool = False
) -> nx.MultiDiGraph:
    """Keep the largest strongly connected component and time every edge (unless ``timed``)."""
    import osmnx as ox

    n_nodes, n_edges = graph.number_of_nodes(), graph.number_of_edges()
    if n_edges == 0:
        raise NetworkError(f"{source}: no highways usable for {mode}")
    graph = ox.truncate.largest_component(graph, strongly=True)
    if graph.number_of_edges() == 0:
        raise NetworkError(f"{source}: the {mode} network has no two connected streets")
    dropped_nodes = n_nodes - graph.number_of_nodes()
    dropped_edges = n_edges - graph.number_of_edges()
    if dropped_nodes:
        log.info(
            "network %s (%s): dropped %d of %d nodes and %d of %d edges outside the largest "
            "strongly connected component",
            source,
            mode,
            dropped_nodes,
            n_nodes,
            dropped_edges,
            n_edges,
        )
    if timed:  # OSM file graphs are timed before simplification: keep the effective speed
        for _, _, data in graph.edges(data=True):
            if data["minutes"] > 0:
                data["speed_kph"] = data["length"] / data["minutes"] * 60.0 / 1000.0
    else:
        _add_minutes(graph, mode, settings)
    graph.graph.update(
        mode=mode,
        crs=CRS,
        source=source,
        dropped_nodes=int(dropped_nodes),
        dropped_edges=int(dropped_edges),
    )
    graph.graph.setdefault("network_hash", graph_hash(graph))
    return graph


def _highway_of(data: Mapping[str, Any]) -> str:
    value = data.get("highway", "")
    return str(value[0] if isinstance(value, list) else value)


FOOT_HIGHWAYS = frozenset(
    ("footway", "path", "steps", "pedestrian", "cycleway", "bridleway", "track", "corridor")
)
"""OSM highway classes that are paths rather than roads (an unnamed one is "an unnamed path")."""


def _tag_text(value: Any) -> str:
    """An OSM tag as text: osmnx keeps a list where simplification merged ways with different values."""
    if isinstance(value, list):
        return " / ".join(dict.fromkeys(str(v) for v in value if _present(v)))
    return str(value) if _present(value) else ""


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value)) and value != ""


def street_of(data: Mapping[str, Any]) -> tuple[str, str]:
    """The street an edge belongs to, as ``(name, ref)`` from its OSM tags ("" when untagged).

    An edge osmnx merged from differently named ways gets the names joined by " / ".
    """
    return _tag_text(data.get("name")), _tag_text(data.get("ref"))


def street_label(data: Mapping[str, Any]) -> str:
    """How a carer would call an edge: its name (with its ref, e.g. "Broomhall Road (A57)"), its
    ref alone, or "unnamed path" / "unnamed road" by its highway class."""
    name, ref = street_of(data)
    if name and ref:
        return f"{name} ({ref})"
    if name or ref:
        return name or ref
    return "unnamed path" if _highway_of(data) in FOOT_HIGHWAYS else "unnamed road"


def _add_minutes(graph: nx.MultiDiGraph, mode: str, settings: NetworkSettings) -> None:
    """Set ``speed_kph`` and ``minutes`` on every edge for ``mode``."""
    import osmnx as ox

    if mode == "drive":
        ox.routing.add_edge_speeds(graph, hwy_speeds=dict(settings.drive_speeds_kmh), fallback=40.0)
        for _, _, data in graph.edges(data=True):
            speed = float(data["speed_kph"])
            factor = (
                settings.drive_urban_factor
                if speed <= settings.drive_urban_limit_kmh
                else settings.drive_rural_factor
            )
            data["speed_kph"] = speed * factor
            data["minutes"] = float(data["length"]) / (data["speed_kph"] * 1000.0 / 60.0)
        return
    speed = settings.walk_speed_kmh if mode == "walk" else settings.cycle_speed_kmh
    m_per_min = speed * 1000.0 / 60.0
    for _, _, data in graph.edges(data=True):
        penalty = settings.steps_penalty if mode == "walk" and _highway_of(data) == "steps" else 1.0
        data["speed_kph"] = speed / penalty
        data["minutes"] = float(data["length"]) / m_per_min * penalty


def graph_hash(graph: nx.MultiDiGraph) -> str:
    """A stable fingerprint of a graph's nodes, edges, lengths and minutes (for caches)."""
    digest = hashlib.sha256()
    digest.update(str(graph.graph.get("mode")).encode())
    for u, v, k, data in sorted(
        graph.edges(keys=True, data=True), key=lambda e: (str(e[0]), str(e[1]), str(e[2]))
    ):
        digest.update(
            f"{u}|{v}|{k}|{data.get('length'):.3f}|{data.get('minutes', 0):.6f};".encode()
        )
    return digest.hexdigest()[:24]


# --------------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------------

_GRAPH_INT_ATTRS = ("dropped_nodes", "dropped_edges")


def _write_cached(graph: nx.MultiDiGraph, path: Path) -> None:
    import osmnx as ox

    from patchplan.io import atomic_path

    try:
        with atomic_path(path) as tmp:
            ox.save_graphml(graph, tmp)
    except OSError as exc:  # a read-only cache folder must not stop the run
        log.warning("network cache %s not written: %s", path, exc)


def _read_cached(path: Path) -> nx.MultiDiGraph:
    import osmnx as ox

    graph = ox.load_graphml(
        path,
        edge_dtypes={"minutes": float, "speed_kph": float},
        graph_dtypes={k: int for k in _GRAPH_INT_ATTRS},
    )
    return graph


# --------------------------------------------------------------------------------------------
# Snapping
# --------------------------------------------------------------------------------------------

SNAP_COLUMNS = ["node", "distance_m", "access_min", "access_m", "rejected", "reason"]


@dataclass
class _EdgeIndex:
    """Straight-line or curved geometry of every edge, in an STRtree, for nearest-street queries."""

    tree: STRtree
    geoms: np.ndarray
    u: np.ndarray
    v: np.ndarray
    minutes: np.ndarray


_EDGE_INDEXES: weakref.WeakKeyDictionary[nx.MultiDiGraph, tuple[int, int, _EdgeIndex]] = (
    weakref.WeakKeyDictionary()
)


def _edge_index(graph: nx.MultiDiGraph) -> _EdgeIndex:
    """The edge index of ``graph``, built once per graph object (rebuilt if the graph changed size)."""
    size = (graph.number_of_nodes(), graph.number_of_edges())
    cached = _EDGE_INDEXES.get(graph)
    if cached is not None and cached[:2] == size:
        return cached[2]
    geoms, us, vs, mins = [], [], [], []
    for u, v, data in graph.edges(data=True):
        geom = data.get("geometry")
        if not isinstance(geom, LineString):
            a, b = graph.nodes[u], graph.nodes[v]
            geom = LineString([(a["x"], a["y"]), (b["x"], b["y"])])
        geoms.append(geom)
        us.append(u)
        vs.append(v)
        mins.append(float(data["minutes"]))
    index = _EdgeIndex(
        STRtree(geoms), np.array(geoms, dtype=object), np.array(us), np.array(vs), np.array(mins)
    )
    _EDGE_INDEXES[graph] = (*size, index)
    return index


def snap(
    points: gpd.GeoSeries | Iterable[Any],
    graph: nx.MultiDiGraph,
    settings: NetworkSettings | None = None,
) -> pd.DataFrame:
    """Attach each point (EPSG:27700) to the network, or reject it with its distance.

    Each point is projected onto its nearest street edge; it joins the network at the nearer end
    node of that edge. The access leg is the walk from the point to the street at
    ``access_speed_kmh`` plus the part of the edge to that node at the edge's own mode speed.

    Parameters
    ----------
    points : GeoSeries of Point
        Locations in EPSG:27700 (a GeoSeries in another CRS is reprojected).
    graph : networkx.MultiDiGraph
        A network from :func:`load_network`.
    settings : NetworkSettings, optional
        ``snap_max_m`` and ``access_speed_kmh`` are used.

    Returns
    -------
    pandas.DataFrame
        One row per point, same index: ``node`` (graph node id, ``<NA>`` for rejects),
        ``distance_m`` (point to nearest street, metres), ``access_min`` (minutes from the point to
        ``node``), ``access_m`` (metres from the point to ``node``), ``rejected`` (bool),
        ``reason`` (str, "" when snapped).
    """
    settings = settings or NetworkSettings()
    series = points if isinstance(points, gpd.GeoSeries) else gpd.GeoSeries(list(points), crs=CRS)
    if series.crs is not None and series.crs != CRS:
        series = series.to_crs(CRS)
    index = _edge_index(graph)
    geoms = series.to_numpy()
    n = len(geoms)
    node = pd.array([pd.NA] * n, dtype="object")
    distance = np.full(n, np.nan)
    access_min = np.full(n, np.nan)
    access_m = np.full(n, np.nan)
    reason = np.full(n, "", dtype=object)
    valid = np.array([g is not None and not g.is_empty and g.geom_type == "Point" for g in geoms])
    reason[~valid] = "missing or non-point geometry"
    if valid.any():
        pts = geoms[valid]
        (pi, ei), dist = index.tree.query_nearest(pts, return_distance=True, all_matches=False)
        order = np.argsort(pi, kind="stable")
        pi, ei, dist = pi[order], ei[order], dist[order]
        lines = index.geoms[ei]
        along = line_locate_point(lines, pts[pi])
        total = np.array([g.length for g in lines])
        frac = np.divide(along, total, out=np.zeros_like(along), where=total > 0)
        to_start = frac <= 0.5
        edge_part = np.where(to_start, frac, 1.0 - frac)
        targets = np.where(to_start, index.u[ei], index.v[ei])
        a_speed = settings.access_speed_kmh * 1000.0 / 60.0
        rows = np.flatnonzero(valid)[pi]
        distance[rows] = dist
        access_m[rows] = dist + edge_part * total
        access_min[rows] = dist / a_speed + edge_part * index.minutes[ei]
        far = dist > settings.snap_max_m
        for r, t, d, f in zip(rows, targets, dist, far, strict=True):
            if f:
                reason[r] = f"{d:.0f} m from the nearest street (limit {settings.snap_max_m:.0f} m)"
            else:
                node[r] = t.item() if hasattr(t, "item") else t
    rejected = reason != ""
    access_min[rejected] = np.nan
    access_m[rejected] = np.nan
    return pd.DataFrame(
        {
            "node": node,
            "distance_m": distance,
            "access_min": access_min,
            "access_m": access_m,
            "rejected": rejected,
            "reason": reason.astype(str),
        },
        index=series.index,
    )


# --------------------------------------------------------------------------------------------
# orientation: what a map reader finds their way by

PLACE_RANK = {"city": 0, "town": 1, "suburb": 2, "village": 3, "quarter": 4, "neighbourhood": 5,
              "hamlet": 6}  # fmt: skip
"""OSM ``place`` values read by :func:`place_names`, most important first."""

MAIN_ROADS = ("motorway", "trunk", "primary")
"""OSM highway classes :func:`main_roads` keeps (links are left out)."""


def place_names(path: str | os.PathLike[str]) -> gpd.GeoDataFrame:
    """Named places (cities, towns, suburbs, villages, …) from an ``.osm``/``.osm.pbf`` file.

    Returns a GeoDataFrame ``name``, ``place`` (the OSM value), ``rank`` (0 = city, see
    :data:`PLACE_RANK`), Point geometry in EPSG:27700, sorted by rank then name. Nodes only; a
    place without a ``name`` is left out.

    Raises
    ------
    NetworkError
        The file is missing or unreadable.
    """
    import osmium

    file = Path(path)
    if not file.is_file():
        raise NetworkError(f"{file}: OSM file not found")
    rows = []
    try:
        nodes = osmium.FileProcessor(str(file), osmium.osm.NODE).with_filter(
            osmium.filter.KeyFilter("place")
        )
        for node in nodes:
            if not isinstance(node, osmium.osm.Node):
                continue
            kind, name = node.tags.get("place"), node.tags.get("name")
            if kind in PLACE_RANK and name and node.location.valid():
                rows.append((name, kind, PLACE_RANK[kind], node.location.lon, node.location.lat))
    except RuntimeError as exc:
        raise NetworkError(f"{file}: corrupt or unreadable OSM file ({exc})") from exc
    frame = pd.DataFrame(rows, columns=["name", "place", "rank", "lon", "lat"])
    points = gpd.points_from_xy(frame["lon"], frame["lat"], crs="EPSG:4326")
    places = gpd.GeoDataFrame(frame.drop(columns=["lon", "lat"]), geometry=points).to_crs(CRS)
    return places.sort_values(["rank", "name"], kind="stable").reset_index(drop=True)


def main_roads(
    graph: nx.MultiDiGraph, classes: Iterable[str] = MAIN_ROADS, simplify_m: float = 20.0
) -> gpd.GeoDataFrame:
    """The main roads of a network as merged, simplified lines, for orientation on maps.

    Parameters
    ----------
    graph : a network from :func:`load_network` (EPSG:27700); the drive network has every road
    classes : OSM highway classes to keep
    simplify_m : tolerance for simplifying the lines, metres

    Returns
    -------
    GeoDataFrame ``highway``, geometry (LineString), EPSG:27700; empty when no edge matches.
    """
    from shapely import line_merge, union_all

    keep = set(classes)
    lines: dict[str, list[LineString]] = {}
    for u, v, data in graph.edges(data=True):
        highway = _highway_of(data)
        if highway not in keep:
            continue
        geom = data.get("geometry")
        if geom is None:
            a, b = graph.nodes[u], graph.nodes[v]
            geom = LineString([(a["x"], a["y"]), (b["x"], b["y"])])
        lines.setdefault(highway, []).append(geom)
    rows = []
    for highway in sorted(lines, key=list(classes).index):
        merged = line_merge(union_all(lines[highway])).simplify(simplify_m)
        parts = getattr(merged, "geoms", [merged])
        rows += [(highway, part) for part in parts if not part.is_empty]
    frame = pd.DataFrame(rows, columns=["highway", "geometry"])
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=CRS)
