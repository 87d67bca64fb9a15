"""Boundary layers: load, validate, repair and reproject them; derive PCN areas; overlay into blocks.

Every frame returned here is in EPSG:27700 (British National Grid, metres).

Tables (see ``docs/data-contracts.md``)
---------------------------------------
layer (:func:`load_layer`)
    ``id`` (str, unique), ``name`` (str), geometry (Polygon/MultiPolygon), plus the source columns
    (a source column called ``id`` or ``name`` that is not the chosen one is kept as ``id_source`` /
    ``name_source``). Returned with a :class:`LayerReport`.
PCN layer (:func:`pcn_areas_from_table`, :func:`pcn_areas_from_practices`)
    ``id`` (PCN code or name, str), ``name`` (str), ``method`` (str, how the area was derived),
    ``n_areas`` or ``n_practices`` (int), geometry.
blocks (:func:`make_blocks`)
    ``block_id`` (str, unique, stable), ``pcn_id`` (str), ``neighbourhood_id`` (str), ``area_m2``
    (float, m²), geometry. Blocks tile the study area: no gaps, no overlaps.

    *Overlay mode* (two layers): ``block_id = f"{pcn_id}|{neighbourhood_id}"``. A block may be a
    MultiPolygon when a PCN meets a neighbourhood in several places; it stays one block. Part
    of the study area (by default the PCN layer's union) that no neighbourhood covers gets
    ``neighbourhood_id = ""``.
    *Single-layer mode* (``neighbourhoods=None``, e.g. LSOAs tagged with their PCN):
    ``block_id`` is the feature ``id`` and ``neighbourhood_id`` is the feature ``id`` too.
    The same inputs always give the same ids, whatever the row order.
adjacency (:func:`block_adjacency`)
    ``networkx.Graph``: nodes ``block_id``, edge attribute ``shared_m`` (shared boundary, m).
    Rook contiguity: blocks that touch only at a point (or along less than ``min_shared_m``) are
    not neighbours.
"""

from __future__ import annotations

import os
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS as ProjCRS

from patchplan import CRS
from patchplan.demand import normalise_postcode
from patchplan.errors import BoundaryError

__all__ = [
    "LayerReport",
    "assign_blocks",
    "block_adjacency",
    "load_layer",
    "load_points",
    "make_blocks",
    "measure_gaps",
    "measure_overlaps",
    "pcn_areas_from_practices",
    "pcn_areas_from_table",
    "practices_at_postcodes",
]

UNASSIGNED = "UNASSIGNED"
"""PCN id given to small areas that the LSOA→PCN table does not assign to any network."""

_POLYGONAL = ("Polygon", "MultiPolygon")


@dataclass
class LayerReport:
    """What :func:`load_layer` found and did.

    Attributes
    ----------
    source : str
        File path (or ``"<GeoDataFrame>"``) and layer name.
    n_features : int
        Features kept.
    crs_in : str
        The CRS the features came in (or the one the caller stated for a file without one).
    repaired : list of str
        Ids whose geometry was invalid and was repaired with ``make_valid``.
    repairs : pandas.DataFrame
        ``id``, ``area_before_m2`` (the ring as drawn), ``area_after_m2``, ``area_change_m2``
        (after − before) for each repaired feature: a self-intersecting ring repaired to half
        its drawn area shows here.
    rejected : pandas.DataFrame
        ``id``, ``reason`` for features dropped (only when ``on_invalid="drop"``).
    overlaps : pandas.DataFrame
        ``id_a``, ``id_b``, ``area_m2``: pairs of features whose interiors overlap by at least
        ``min_report_m2`` (m²).
    gaps : pandas.DataFrame
        ``gap``, ``area_m2``, ``ids``: holes inside the layer's union that no feature covers
        (at least ``min_report_m2``), with the comma-separated ids of the features around them.
    """

    source: str
    n_features: int
    crs_in: str
    repaired: list[str] = field(default_factory=list)
    repairs: pd.DataFrame = field(default_factory=lambda: _empty_repairs())
    rejected: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            {"id": pd.Series(dtype=str), "reason": pd.Series(dtype=str)}
        )
    )
    overlaps: pd.DataFrame = field(default_factory=lambda: _empty_overlaps())
    gaps: pd.DataFrame = field(default_factory=lambda: _empty_gaps())

    @property
    def overlap_m2(self) -> float:
        """Total overlapping area between features (m²)."""
        return float(self.overlaps["area_m2"].sum())

    @property
    def gap_m2(self) -> float:
        """Total area of the gaps inside the layer (m²)."""
        return float(self.gaps["area_m2"].sum())

    def summary(self) -> str:
        """One line for a log or report."""
        return (
            f"{self.source}: {self.n_features} features from {self.crs_in}; "
            f"{len(self.repaired)} repaired, {len(self.rejected)} rejected, "
            f"{len(self.overlaps)} overlaps ({self.overlap_m2:,.0f} m²), "
            f"{len(self.gaps)} gaps ({self.gap_m2:,.0f} m²)"
        )


def _empty_repairs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": pd.Series(dtype=str),
            "area_before_m2": pd.Series(dtype=float),
            "area_after_m2": pd.Series(dtype=float),
            "area_change_m2": pd.Series(dtype=float),
        }
    )


def _empty_overlaps() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id_a": pd.Series(dtype=str),
            "id_b": pd.Series(dtype=str),
            "area_m2": pd.Series(dtype=float),
        }
    )


def _empty_gaps() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "gap": pd.Series(dtype=int),
            "area_m2": pd.Series(dtype=float),
            "ids": pd.Series(dtype=str),
        }
    )


# --------------------------------------------------------------------------------------------------
# Loading a layer
# --------------------------------------------------------------------------------------------------


def load_layer(
    source: str | os.PathLike[str] | gpd.GeoDataFrame,
    id_column: str,
    name_column: str | None = None,
    crs: str | int | None = None,
    *,
    layer: str | None = None,
    on_invalid: str = "raise",
    min_report_m2: float = 1.0,
    check_topology: bool = True,
    crs_key: str | None = None,
) -> tuple[gpd.GeoDataFrame, LayerReport]:
    """Read a polygon layer, check it, repair it and reproject it to EPSG:27700.

    Parameters
    ----------
    source
        GeoJSON, GeoPackage or shapefile path (anything pyogrio reads), or an already-loaded
        GeoDataFrame.
    id_column
        Column holding the feature id; values become strings (``1`` and ``1.0`` both read as ``"1"``).
    name_column
        Column holding a readable name; the id is used when ``None``.
    crs
        CRS to assume when the source has none. A source without a CRS and no ``crs`` is an error;
        a stated ``crs`` that contradicts the source's own is an error too. A source whose own CRS
        is geographic but whose coordinates are not degrees (British National Grid metres in a
        GeoJSON without a ``crs`` member, which GeoJSON then implies is WGS84) counts as having none.
    layer
        Layer name inside a multi-layer file (GeoPackage).
    on_invalid
        ``"raise"`` (default): empty geometries, missing ids and duplicate ids raise
        :class:`~patchplan.errors.BoundaryError` naming the ids. ``"drop"``: those features are
        dropped and listed in ``report.rejected`` (every copy of a duplicated id is dropped).
    min_report_m2
        Overlaps and gaps smaller than this (m²) are not reported.
    check_topology
        Measure overlaps and gaps (costs a union of the layer; turn off for very large layers).
    crs_key
        The setting that states ``crs`` (e.g. ``"[inputs] pcns_crs"``), named in the error when a
        CRS is missing.

    Returns
    -------
    (GeoDataFrame, LayerReport)
        Columns ``id``, ``name``, source columns, geometry in EPSG:27700; and what was found.

    Raises
    ------
    BoundaryError
        Unreadable or empty source, unknown column, missing CRS, non-polygon geometry, or (with
        ``on_invalid="raise"``) empty geometries or missing / duplicate ids.
    """
    if on_invalid not in ("raise", "drop"):
        raise ValueError(f"on_invalid must be 'raise' or 'drop', not {on_invalid!r}")
    frame, label = _read(source, layer)
    if len(frame) == 0:
        raise BoundaryError(f"{label}: no features")
    _check_columns(frame, label, id_column, name_column)
    frame = frame.set_crs(_source_crs(frame, crs, label, crs_key), allow_override=True)
    crs_in = frame.crs.to_string()
    frame = _with_id_and_name(frame, id_column, name_column)

    rejected = _bad_features(frame, label, on_invalid)
    if len(rejected):
        frame = frame[~frame.index.isin(rejected.index)]
        rejected = rejected.reset_index(drop=True)

    types = frame.geometry.geom_type
    wrong = types[~types.isin(_POLYGONAL)]
    if len(wrong):
        sample = ", ".join(
            f"{i} ({t})" for i, t in zip(frame.loc[wrong.index, "id"][:5], wrong[:5], strict=True)
        )
        raise BoundaryError(f"{label}: {len(wrong)} features are not polygons, e.g. {sample}")

    frame = _to_british_grid(frame, label, crs_in)
    invalid = ~frame.geometry.is_valid
    repaired = frame.loc[invalid, "id"].tolist()
    repairs = _empty_repairs()
    if repaired:
        before = shapely.area(frame.geometry[invalid].values)
        frame.loc[invalid, "geometry"] = _repair(frame.geometry[invalid])
        after = shapely.area(frame.geometry[invalid].values)
        repairs = pd.DataFrame(
            {
                "id": [str(i) for i in repaired],
                "area_before_m2": before,
                "area_after_m2": after,
                "area_change_m2": after - before,
            }
        )
    frame = frame.reset_index(drop=True)
    frame["id"] = frame["id"].astype(str)
    frame["name"] = frame["name"].astype(str)
    report = LayerReport(
        source=label,
        n_features=len(frame),
        crs_in=crs_in,
        repaired=repaired,
        repairs=repairs,
        rejected=rejected,
    )
    if check_topology:
        report.overlaps = measure_overlaps(frame, min_report_m2)
        report.gaps = measure_gaps(frame, min_report_m2)
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=CRS), report


def _read(
    source: str | os.PathLike[str] | gpd.GeoDataFrame, layer: str | None, kind: str = "boundary"
) -> tuple[gpd.GeoDataFrame, str]:
    if isinstance(source, gpd.GeoDataFrame):
        return source.copy(), str(source.attrs.get("source", "<GeoDataFrame>"))
    path = Path(source)
    label = path.name if layer is None else f"{path.name} (layer {layer})"
    if not path.exists():
        raise BoundaryError(f"{path}: file not found")
    if not path.is_file():
        raise BoundaryError(f"{path}: is a folder, not a {kind} layer file")
    try:
        frame = gpd.read_file(path, layer=layer, engine="pyogrio")
    except Exception as exc:  # GDAL, pyogrio and pandas raise many types for unreadable files
        raise BoundaryError(f"{label}: cannot read as a {kind} layer ({exc})") from exc
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame.columns:
        raise BoundaryError(f"{label}: has no geometry, so it is not a {kind} layer")
    return frame, label


def _check_columns(
    frame: gpd.GeoDataFrame, label: str, id_column: str, name_column: str | None
) -> None:
    """The id and name columns exist and are attributes, not the geometry."""
    columns = [str(c) for c in frame.columns if c != frame.geometry.name]
    for role, column in (("id", id_column), ("name", name_column)):
        if column is None:
            continue
        if column == frame.geometry.name:
            raise BoundaryError(
                f"{label}: {column!r} is the geometry, not an {role} column "
                f"(columns: {', '.join(columns)})"
            )
        if column not in frame.columns:
            raise BoundaryError(f"{label}: no column {column!r} (columns: {', '.join(columns)})")
    clash = frame.columns[frame.columns.duplicated()]
    if len(clash):
        raise BoundaryError(f"{label}: column {clash[0]!r} appears more than once")


def _with_id_and_name(
    frame: gpd.GeoDataFrame, id_column: str, name_column: str | None
) -> gpd.GeoDataFrame:
    """``id`` and ``name`` first; a source column called ``id`` or ``name`` that is not the one
    chosen is kept as ``id_source`` / ``name_source``, and a chosen one is replaced by its text."""
    ids = _id_strings(frame[id_column])
    names = (
        ids if name_column is None else frame[name_column].astype("string").fillna("").astype(str)
    )
    chosen = {c for c in (id_column, name_column) if c in ("id", "name")}
    frame = frame.drop(columns=list(chosen)).rename(
        columns={c: f"{c}_source" for c in ("id", "name") if c in frame.columns and c not in chosen}
    )
    frame.insert(0, "id", ids.to_numpy())
    frame.insert(1, "name", names.to_numpy())
    return frame


def _source_crs(
    frame: gpd.GeoDataFrame, stated: str | int | None, label: str, crs_key: str | None = None
) -> ProjCRS:
    declared, why = frame.crs, ""
    if declared is not None and declared.is_geographic and not _in_degrees(frame):
        xmin, ymin, xmax, ymax = frame.total_bounds
        declared, why = (
            None,
            (
                f" usable: it implies {frame.crs.to_string()} (degrees), but its coordinates run "
                f"{xmin:,.0f}..{xmax:,.0f} by {ymin:,.0f}..{ymax:,.0f}, which are not degrees"
            ),
        )
    if declared is None:
        if stated is None:
            hint = f"{crs_key} = 'EPSG:27700'" if crs_key else "e.g. crs='EPSG:27700'"
            raise BoundaryError(
                f"{label}: the layer has no CRS{why}; state the one it is in ({hint})"
            )
        return ProjCRS.from_user_input(stated)
    if stated is not None:
        wanted = ProjCRS.from_user_input(stated)
        if not declared.equals(wanted, ignore_axis_order=True):
            raise BoundaryError(
                f"{label}: the layer says its CRS is {declared.to_string()} but {wanted.to_string()} was stated"
            )
    return declared


def _in_degrees(frame: gpd.GeoDataFrame) -> bool:
    xmin, ymin, xmax, ymax = frame.total_bounds
    if not np.isfinite([xmin, ymin, xmax, ymax]).all():
        return True  # no coordinates to judge by
    return -180 <= xmin <= xmax <= 180 and -90 <= ymin <= ymax <= 90


def _to_british_grid(frame: gpd.GeoDataFrame, label: str, crs_in: str) -> gpd.GeoDataFrame:
    """Reproject to EPSG:27700; coordinates the projection cannot place are an error naming the file."""
    out = frame.to_crs(CRS)
    present = out.geometry.notna().to_numpy() & ~out.geometry.is_empty.to_numpy()
    if present.any() and not np.isfinite(shapely.bounds(out.geometry.values[present])).all():
        raise BoundaryError(
            f"{label}: some coordinates cannot be placed in British National Grid from {crs_in}: "
            "is the stated CRS right (or are latitude and longitude swapped)?"
        )
    return out


def load_points(
    source: str | os.PathLike[str] | gpd.GeoDataFrame,
    crs: str | int | None = None,
    *,
    layer: str | None = None,
    crs_key: str | None = None,
) -> gpd.GeoDataFrame:
    """Read a point layer (e.g. GP practices) in EPSG:27700, with the CRS rules of :func:`load_layer`.

    Features without geometry are dropped; their number is in ``.attrs["without_geometry"]``.

    Raises
    ------
    BoundaryError
        Unreadable file, no features, missing CRS, or geometry that is not points.
    """
    frame, label = _read(source, layer, kind="point")
    if len(frame) == 0:
        raise BoundaryError(f"{label}: no features")
    frame = frame.set_crs(_source_crs(frame, crs, label, crs_key), allow_override=True)
    present = frame.geometry.notna() & ~frame.geometry.is_empty
    types = frame.geometry[present].geom_type
    if not types.isin(("Point", "MultiPoint")).all():
        raise BoundaryError(f"{label}: expected points, found {', '.join(sorted(set(types)))}")
    out = _to_british_grid(frame[present.to_numpy()], label, frame.crs.to_string())
    out = out.reset_index(drop=True)
    out.attrs["without_geometry"] = int((~present).sum())
    out.attrs["source"] = label
    return out


def _id_strings(values: pd.Series) -> pd.Series:
    """Ids as strings; whole floats lose their ``.0`` (pandas reads integer ids with gaps as floats)."""
    out = values.astype("string")
    if pd.api.types.is_float_dtype(values):
        finite = values.notna() & np.isfinite(values) & (values.abs() < 2**53)
        whole = finite & (values == np.floor(values))
        out[whole] = values[whole].astype("int64").astype("string")
    out = out.str.strip()
    return out.where(out != "", pd.NA)


def _bad_features(frame: gpd.GeoDataFrame, label: str, on_invalid: str) -> pd.DataFrame:
    """Empty geometries, missing ids and duplicate ids, as a frame ``id, reason`` indexed like ``frame``."""
    geometry = frame.geometry
    reasons: dict[Hashable, str] = {}
    empty = geometry.isna() | geometry.is_empty
    missing = frame["id"].isna()
    duplicated = frame["id"].duplicated(keep=False) & ~missing
    for index in frame.index[empty]:
        reasons[index] = "empty geometry"
    for index in frame.index[missing]:
        reasons[index] = f"missing id (row {frame.index.get_loc(index) + 1})"
    for index in frame.index[duplicated]:
        reasons[index] = "duplicate id"
    if not reasons:
        return pd.DataFrame({"id": pd.Series(dtype=str), "reason": pd.Series(dtype=str)})
    bad = pd.DataFrame(
        {
            "id": frame.loc[list(reasons), "id"].fillna("").astype(str),
            "reason": list(reasons.values()),
        },
        index=list(reasons),
    )
    if on_invalid == "raise":
        parts = []
        if empty.any():
            parts.append(
                f"empty geometry for id {', '.join(frame.loc[empty, 'id'].fillna('?').astype(str)[:20])}"
            )
        if missing.any():
            rows = ", ".join(str(frame.index.get_loc(i) + 1) for i in frame.index[missing][:20])
            parts.append(f"missing id on feature row {rows}")
        if duplicated.any():
            parts.append(
                f"duplicate id {', '.join(sorted(set(frame.loc[duplicated, 'id'].astype(str)))[:20])}"
            )
        raise BoundaryError(f"{label}: " + "; ".join(parts))
    return bad


def _repair(geometry: gpd.GeoSeries) -> np.ndarray:
    """Valid polygonal geometry: ``make_valid`` keeping only the polygonal parts."""
    fixed = shapely.make_valid(geometry.values, method="structure", keep_collapsed=False)
    return _polygonal(fixed)


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Drop lines and points from geometry collections (vectorised), keeping (Multi)Polygons."""
    geoms = np.asarray(geoms, dtype=object)
    is_collection = shapely.get_type_id(geoms) == 7
    if not is_collection.any():
        return geoms
    parts, owner = shapely.get_parts(geoms[is_collection], return_index=True)
    keep = np.isin(shapely.get_type_id(parts), (3, 6))
    polygons, sub = shapely.get_parts(parts[keep], return_index=True)  # MultiPolygon members too
    owner = owner[keep][sub]
    fixed = np.full(is_collection.sum(), shapely.from_wkt("MULTIPOLYGON EMPTY"), dtype=object)
    if len(polygons):
        owners, dense = np.unique(owner, return_inverse=True)
        fixed[owners] = shapely.multipolygons(polygons, indices=dense)
    out = geoms.copy()
    out[is_collection] = fixed
    return out


def measure_overlaps(layer: gpd.GeoDataFrame, min_area_m2: float = 1.0) -> pd.DataFrame:
    """Pairs of features whose interiors overlap, with the overlapping area.

    Parameters
    ----------
    layer
        Frame with ``id`` and geometry in a metric CRS.
    min_area_m2
        Smaller overlaps (m²) are ignored.

    Returns
    -------
    DataFrame ``id_a``, ``id_b``, ``area_m2`` (largest first).
    """
    geoms = layer.geometry.values
    left, right = layer.sindex.query(geoms, predicate="intersects")
    pair = left < right
    left, right = left[pair], right[pair]
    if len(left) == 0:
        return _empty_overlaps()
    area = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    keep = area >= min_area_m2
    ids = layer["id"].to_numpy()
    out = pd.DataFrame({"id_a": ids[left[keep]], "id_b": ids[right[keep]], "area_m2": area[keep]})
    return out.sort_values("area_m2", ascending=False, ignore_index=True)


def measure_gaps(layer: gpd.GeoDataFrame, min_area_m2: float = 1.0) -> pd.DataFrame:
    """Holes inside the union of a layer that no feature covers.

    The outside of the layer is not a gap; a hole enclosed by the layer is (it may be a real
    enclave, such as another authority, or a digitising error: the report lets the analyst judge).

    Returns
    -------
    DataFrame ``gap`` (int), ``area_m2``, ``ids`` (comma-separated ids of the features touching it).
    """
    union = shapely.union_all(layer.geometry.values)
    polygons = shapely.get_parts(union)
    n_holes = shapely.get_num_interior_rings(polygons)
    if n_holes.sum() == 0:
        return _empty_gaps()
    owner = np.repeat(np.arange(len(polygons)), n_holes)
    ring_index = np.concatenate([np.arange(n) for n in n_holes])
    holes = shapely.polygons(shapely.get_interior_ring(polygons[owner], ring_index))
    area = shapely.area(holes)
    holes, area = holes[area >= min_area_m2], area[area >= min_area_m2]
    if len(holes) == 0:
        return _empty_gaps()
    gap_index, feature_index = layer.sindex.query(holes, predicate="touches")
    ids = layer["id"].to_numpy()
    around = (
        pd.DataFrame({"gap": gap_index, "id": ids[feature_index]})
        .groupby("gap")["id"]
        .agg(lambda s: ",".join(sorted(s)))
    )
    out = pd.DataFrame({"gap": np.arange(len(holes)), "area_m2": area})
    out["ids"] = out["gap"].map(around).fillna("")
    return out.sort_values("area_m2", ascending=False, ignore_index=True)


# --------------------------------------------------------------------------------------------------
# PCN areas
# --------------------------------------------------------------------------------------------------


def pcn_areas_from_table(
    small_areas: gpd.GeoDataFrame,
    table: pd.DataFrame | str | os.PathLike[str] | None,
    area_id: str,
    pcn_column: str,
    *,
    pcn_name_column: str | None = None,
    unassigned: str = UNASSIGNED,
) -> gpd.GeoDataFrame:
    """PCN areas by dissolving small areas (LSOAs) with an area→PCN table.

    This is how Sheffield CCG publishes its networks: each LSOA is assigned to the PCN whose
    practices hold most of its registered patients.

    Parameters
    ----------
    small_areas
        Layer from :func:`load_layer` (``id``, geometry in EPSG:27700).
    table
        DataFrame or CSV path with ``area_id`` and ``pcn_column``; ``None`` when the PCN column is
        already on ``small_areas`` (then ``area_id`` is ignored).
    area_id
        Column of ``table`` holding the small-area id.
    pcn_column
        Column holding the PCN id (code or name).
    pcn_name_column
        Column holding a readable PCN name (the id is used when ``None``).
    unassigned
        PCN id (and name) for small areas the table omits or leaves blank.

    Returns
    -------
    GeoDataFrame ``id``, ``name``, ``method`` (``"small-area table"``), ``n_areas``, ``area_m2``,
    geometry, sorted by ``id``.
    """
    areas = small_areas[["id", "geometry"]].copy()
    if table is None:
        source = small_areas
        lookup = pd.DataFrame(
            {"_area": small_areas["id"].astype(str), "_pcn": small_areas[pcn_column]}
        )
    else:
        source = pd.read_csv(table, dtype=str) if not isinstance(table, pd.DataFrame) else table
        for column in (area_id, pcn_column, pcn_name_column):
            if column is not None and column not in source.columns:
                raise BoundaryError(f"PCN table: no column {column!r}")
        lookup = pd.DataFrame(
            {"_area": source[area_id].astype(str).str.strip(), "_pcn": source[pcn_column]}
        )
    if pcn_name_column is not None:
        lookup["_name"] = source[pcn_name_column].to_numpy()
    clash = lookup[lookup["_area"].duplicated(keep=False)]
    if len(clash):
        raise BoundaryError(
            f"PCN table: area ids listed more than once: {', '.join(sorted(set(clash['_area']))[:20])}"
        )
    merged = areas.merge(lookup, left_on="id", right_on="_area", how="left")
    pcn = merged["_pcn"].astype("string").str.strip()
    pcn = pcn.where(pcn.notna() & (pcn != ""), unassigned)
    merged["_pcn"] = pcn.astype(str)
    if pcn_name_column is None:
        merged["_name"] = merged["_pcn"]
    merged["_name"] = merged["_name"].astype("string").fillna(unassigned).astype(str)
    merged["n_areas"] = 1
    dissolved = merged.dissolve(
        by="_pcn", aggfunc={"_name": "first", "n_areas": "sum"}, method="coverage"
    )
    out = gpd.GeoDataFrame(
        {
            "id": dissolved.index.astype(str),
            "name": dissolved["_name"].to_numpy(),
            "method": "small-area table",
            "n_areas": dissolved["n_areas"].astype(int).to_numpy(),
        },
        geometry=_polygonal(dissolved.geometry.values),
        crs=CRS,
    )
    out["area_m2"] = out.geometry.area
    return out.sort_values("id", ignore_index=True)[
        ["id", "name", "method", "n_areas", "area_m2", "geometry"]
    ]


def practices_at_postcodes(
    register: pd.DataFrame | str | os.PathLike[str],
    postcodes: gpd.GeoDataFrame,
    *,
    postcode_column: str = "PRACTICE_POSTCODE",
    id_column: str = "PRACTICE_CODE",
    pcn_column: str = "PCN_CODE",
    pcn_name_column: str | None = "PCN_NAME",
    study_area: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Locate GP practices at their postcodes (NHS Digital practice→PCN file + Code-Point Open).

    Parameters
    ----------
    register
        The practice table (e.g. ``gp-reg-pat-prac-map_v2.csv``), or its path.
    postcodes
        Postcode points with a ``postcode`` column (``demand.load_postcodes``), EPSG:27700.
    study_area
        When given, only practices inside it are kept (practices of neighbouring authorities that
        share a postcode area are left out).

    Returns
    -------
    GeoDataFrame ``id``, ``pcn_id``, ``pcn_name``, ``postcode``, geometry (Point). Practices whose
    postcode is not in ``postcodes`` are listed in ``.attrs["unlocated"]``.
    """
    table = pd.read_csv(register, dtype=str) if not isinstance(register, pd.DataFrame) else register
    for column in (postcode_column, id_column, pcn_column, pcn_name_column):
        if column is not None and column not in table.columns:
            raise BoundaryError(f"practice table: no column {column!r}")
    frame = pd.DataFrame(
        {
            "id": table[id_column].astype(str).to_numpy(),
            "pcn_id": table[pcn_column].astype(str).to_numpy(),
            "pcn_name": (table[pcn_name_column] if pcn_name_column else table[pcn_column])
            .astype(str)
            .to_numpy(),
            "postcode": normalise_postcode(table[postcode_column]).to_numpy(),
        }
    )
    points = postcodes[["postcode", "geometry"]].drop_duplicates("postcode")
    located = frame.merge(points, on="postcode", how="left")
    unlocated = located.loc[located["geometry"].isna(), "id"].tolist()
    result = gpd.GeoDataFrame(
        located.dropna(subset=["geometry"]), geometry="geometry", crs=postcodes.crs
    ).to_crs(CRS)
    if study_area is not None:
        inside = result.geometry.intersects(
            shapely.union_all(study_area.to_crs(CRS).geometry.values)
        )
        result = result[inside.to_numpy()]
    result = result.reset_index(drop=True)
    result.attrs["unlocated"] = unlocated
    return result


def pcn_areas_from_practices(
    practices: gpd.GeoDataFrame,
    study_area: gpd.GeoDataFrame,
    *,
    pcn_column: str = "pcn_id",
    pcn_name_column: str | None = "pcn_name",
    method: str = "voronoi",
    small_areas: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """PCN areas from practice locations, when no area→PCN table exists.

    Parameters
    ----------
    practices
        Practice points with their PCN (``practices_at_postcodes``), EPSG:27700.
    study_area
        The local authority (any polygon layer; its union is used).
    method
        ``"voronoi"``: Voronoi cells of the practices, dissolved by PCN and clipped to the study
        area. ``"nearest"``: each small area (its representative point) goes to the PCN of the
        nearest practice; needs ``small_areas`` (an ``id``-carrying layer), and follows their
        boundaries, which suits blocks better.

    Returns
    -------
    GeoDataFrame ``id``, ``name``, ``method`` (the method in words), ``n_practices``, ``area_m2``,
    geometry, sorted by ``id``. PCNs whose practices all lie outside the study area get no
    area unless a Voronoi cell reaches into it.

    Notes
    -----
    List sizes do not move the boundaries: a practice's patients are not known by place, and the
    nearest-practice rule is the usual proxy for the CCG's best-match assignment.
    """
    if len(practices) == 0:
        raise BoundaryError("no practices to derive PCN areas from")
    points = practices.to_crs(CRS).reset_index(drop=True)
    boundary = shapely.union_all(study_area.to_crs(CRS).geometry.values)
    pcn = points[pcn_column].astype(str)
    names = (points[pcn_name_column] if pcn_name_column else pcn).astype(str)
    if method == "voronoi":
        unique = (
            points.drop_duplicates(subset="geometry")
            .sort_values([pcn_column])
            .reset_index(drop=True)
        )
        xmin, ymin, xmax, ymax = shapely.bounds(boundary)
        pad = max(xmax - xmin, ymax - ymin)
        extent = shapely.box(xmin - pad, ymin - pad, xmax + pad, ymax + pad)
        cells = shapely.get_parts(
            shapely.voronoi_polygons(shapely.multipoints(unique.geometry.values), extend_to=extent)
        )
        cell_index, point_index = shapely.STRtree(unique.geometry.values).query(
            cells, predicate="contains"
        )
        owner = np.full(len(cells), -1)
        owner[cell_index] = point_index
        pieces = gpd.GeoDataFrame(
            {"_pcn": unique[pcn_column].astype(str).to_numpy()[owner]},
            geometry=shapely.intersection(cells, boundary),
            crs=CRS,
        )
        label = "voronoi of practice locations, clipped to the study area"
    elif method == "nearest":
        if small_areas is None:
            raise BoundaryError("method='nearest' needs small_areas (e.g. LSOAs) to assign")
        areas = small_areas.to_crs(CRS)
        reps = gpd.GeoDataFrame(geometry=areas.geometry.representative_point(), crs=CRS)
        nearest = gpd.sjoin_nearest(reps, points[[pcn_column, "geometry"]], how="left")
        nearest = nearest[~nearest.index.duplicated(keep="first")]
        pieces = gpd.GeoDataFrame(
            {"_pcn": nearest[pcn_column].astype(str).to_numpy()},
            geometry=areas.geometry.values,
            crs=CRS,
        )
        label = "nearest practice to each small area"
    else:
        raise BoundaryError(f"unknown PCN method {method!r}: use 'voronoi' or 'nearest'")
    pieces = pieces[~pieces.geometry.is_empty]
    dissolved = pieces.dissolve(by="_pcn")
    counts = pcn.value_counts()
    first_name = pd.Series(names.to_numpy(), index=pcn.to_numpy()).groupby(level=0).first()
    out = gpd.GeoDataFrame(
        {
            "id": dissolved.index.astype(str),
            "name": first_name.reindex(dissolved.index).to_numpy(),
            "method": label,
            "n_practices": counts.reindex(dissolved.index).fillna(0).astype(int).to_numpy(),
        },
        geometry=_polygonal(dissolved.geometry.values),
        crs=CRS,
    )
    out["area_m2"] = out.geometry.area
    out = out[out["area_m2"] > 0]
    return out.sort_values("id", ignore_index=True)[
        ["id", "name", "method", "n_practices", "area_m2", "geometry"]
    ]


# --------------------------------------------------------------------------------------------------
# Blocks and adjacency
# --------------------------------------------------------------------------------------------------


def make_blocks(
    pcns: gpd.GeoDataFrame,
    neighbourhoods: gpd.GeoDataFrame | None = None,
    *,
    min_area_m2: float = 20_000.0,
    pcn_column: str = "id",
    neighbourhood_column: str = "id",
    study_area: gpd.GeoDataFrame | None = None,
    snap_m: float = 1.0,
) -> gpd.GeoDataFrame:
    """Overlay PCN areas and neighbourhoods into blocks that tile the study area.

    Parameters
    ----------
    pcns
        PCN layer (``id``), or, in single-layer mode, small areas carrying their PCN in
        ``pcn_column``.
    neighbourhoods
        Neighbourhood layer (``id``); ``None`` for single-layer mode.
    min_area_m2
        Pieces of the overlay smaller than this (m²; default 2 ha) are slivers from boundaries
        drawn at different scales: each is merged into the neighbouring piece it shares the
        longest boundary with. In single-layer mode whole features are never merged.
    pcn_column, neighbourhood_column
        Columns holding the ids.
    study_area
        Blocks are clipped to its union. By default the study area is the union of ``pcns``
        (the commissioned area); neighbourhood parts outside it are dropped, and PCN parts no
        neighbourhood covers become blocks with ``neighbourhood_id = ""``.
    snap_m
        Each input layer is cleaned into an exact coverage first (``shapely.coverage_clean``:
        overlaps removed, vertices within ``snap_m`` metres snapped, gaps narrower than
        ``snap_m`` closed), so the blocks share edges exactly.

    Returns
    -------
    GeoDataFrame ``block_id``, ``pcn_id``, ``neighbourhood_id``, ``area_m2``, geometry, sorted by
    ``block_id`` (see the module docstring for the id rules).
    """
    first = _clean_coverage(pcns, pcn_column, snap_m)
    if neighbourhoods is None:
        blocks = gpd.GeoDataFrame(
            {
                "block_id": first["id"].to_numpy(),
                "pcn_id": first["_key"].to_numpy(),
                "neighbourhood_id": first["id"].to_numpy(),
            },
            geometry=first.geometry.values,
            crs=CRS,
        )
        if study_area is not None:
            blocks = _clip(blocks, study_area)
        return _finish(blocks)

    second = _clean_coverage(neighbourhoods, neighbourhood_column, snap_m)
    pieces = gpd.overlay(
        first[["_key", "geometry"]].rename(columns={"_key": "pcn_id"}),
        second[["_key", "geometry"]].rename(columns={"_key": "neighbourhood_id"}),
        how="union",
        keep_geom_type=True,
    )
    pieces[["pcn_id", "neighbourhood_id"]] = pieces[["pcn_id", "neighbourhood_id"]].fillna("")
    pieces = _clip(pieces, first if study_area is None else study_area)
    pieces = pieces.explode(index_parts=False, ignore_index=True)
    pieces = pieces[pieces.geometry.area > 0].reset_index(drop=True)
    pieces = _merge_slivers(pieces, min_area_m2)
    pieces["block_id"] = pieces["pcn_id"] + "|" + pieces["neighbourhood_id"]
    blocks = pieces.dissolve(by="block_id", aggfunc="first", as_index=False)
    return _finish(blocks)


def _clean_coverage(layer: gpd.GeoDataFrame, key_column: str, snap_m: float) -> gpd.GeoDataFrame:
    if "id" not in layer.columns or key_column not in layer.columns:
        raise BoundaryError(f"block input needs columns 'id' and {key_column!r}")
    frame = layer.to_crs(CRS).sort_values("id").reset_index(drop=True)
    frame = frame.assign(_key=frame[key_column].astype("string").fillna("").astype(str))
    cleaned = shapely.coverage_clean(
        frame.geometry.values, gap_width=snap_m, snapping_distance=snap_m
    )
    return gpd.GeoDataFrame(frame[["id", "_key"]], geometry=_polygonal(cleaned), crs=CRS)


def _clip(frame: gpd.GeoDataFrame, study_area: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    area = shapely.union_all(study_area.to_crs(CRS).geometry.values)
    clipped = frame.copy()
    clipped["geometry"] = _polygonal(shapely.intersection(frame.geometry.values, area))
    return clipped[~clipped.geometry.is_empty].reset_index(drop=True)


def _merge_slivers(pieces: gpd.GeoDataFrame, min_area_m2: float) -> gpd.GeoDataFrame:
    """Give every piece below ``min_area_m2`` the ids of the neighbour it shares most boundary with.

    Pieces are merged into groups (vectorised union-find). A sliver group joins the neighbouring
    group with which it shares the longest boundary, preferring groups that are not slivers and,
    on a tie, groups in the same PCN; it
    may join a smaller-or-equal sliver only in the direction of increasing (area, index), so no
    cycles form. Repeats until no sliver group has a neighbour left (an isolated sliver, such as
    an island, stays as it is). The caller dissolves by the new ids.
    """
    n = len(pieces)
    area = shapely.area(pieces.geometry.values)
    # a millimetre of tolerance: overlay pieces can meet along edges that differ in the last bits
    left, right, shared = _shared_boundaries(pieces.geometry.values, tolerance_m=0.001)
    useful = shared > 0
    left, right, shared = left[useful], right[useful], shared[useful]
    group = np.arange(n)
    pcn = pieces["pcn_id"].to_numpy()
    for _ in range(100):
        group_area = np.bincount(group, weights=area, minlength=n)
        sliver = group_area < min_area_m2
        gl, gr = group[left], group[right]
        mask = (gl != gr) & sliver[gl]
        if not mask.any():
            break
        edges = (
            pd.DataFrame({"gl": gl[mask], "gr": gr[mask], "shared": shared[mask]})
            .groupby(["gl", "gr"], as_index=False)["shared"]
            .sum()
        )
        to, frm = edges["gr"].to_numpy(), edges["gl"].to_numpy()
        edges["big"] = ~sliver[to]
        upward = (group_area[to] > group_area[frm]) | (
            (group_area[to] == group_area[frm]) & (to > frm)
        )
        edges = edges[edges["big"] | upward]
        if edges.empty:
            break
        # ties (to the millimetre) go to a neighbour in the same PCN, keeping blocks PCN-aligned
        edges["shared"] = edges["shared"].round(3)
        edges["same_pcn"] = pcn[edges["gl"].to_numpy()] == pcn[edges["gr"].to_numpy()]
        best = edges.sort_values(
            ["gl", "big", "shared", "same_pcn", "gr"], ascending=[True, False, False, False, True]
        )
        best = best.drop_duplicates("gl")
        parent = np.arange(n)
        parent[best["gl"].to_numpy()] = best["gr"].to_numpy()
        while True:  # pointer jumping: every piece points at its root (no cycles by construction)
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
        group = parent[group]
    out = pieces.copy()
    keys = pieces[["pcn_id", "neighbourhood_id"]].to_numpy()
    out[["pcn_id", "neighbourhood_id"]] = keys[group]
    return out


def _shared_boundaries(
    geoms: np.ndarray, tolerance_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directed pairs (both directions) of polygons sharing boundary, with the shared length (m).

    With ``tolerance_m = 0`` the boundaries must coincide exactly (a clean coverage); otherwise the
    length of one polygon's boundary lying within ``tolerance_m`` of the other is measured.
    """
    tree = shapely.STRtree(geoms)
    if tolerance_m > 0:
        left, right = tree.query(shapely.buffer(geoms, tolerance_m), predicate="intersects")
    else:
        left, right = tree.query(geoms, predicate="intersects")
    pair = left < right
    left, right = left[pair], right[pair]
    boundaries = shapely.boundary(geoms)
    if tolerance_m > 0:
        near = shapely.buffer(boundaries, tolerance_m)
        shared = shapely.length(shapely.intersection(boundaries[left], near[right]))
    else:
        shared = shapely.length(shapely.intersection(boundaries[left], boundaries[right]))
    return (
        np.concatenate([left, right]),
        np.concatenate([right, left]),
        np.concatenate([shared, shared]),
    )


def _finish(blocks: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    blocks = gpd.GeoDataFrame(blocks, geometry="geometry", crs=CRS)
    blocks["area_m2"] = blocks.geometry.area
    clash = blocks["block_id"][blocks["block_id"].duplicated()]
    if len(clash):
        raise BoundaryError(f"block ids are not unique: {', '.join(sorted(set(clash))[:20])}")
    columns = ["block_id", "pcn_id", "neighbourhood_id", "area_m2", "geometry"]
    return blocks.sort_values("block_id", ignore_index=True)[columns]


def block_adjacency(
    blocks: gpd.GeoDataFrame, *, tolerance_m: float = 0.5, min_shared_m: float = 2.0
) -> nx.Graph:
    """Rook-contiguity graph of blocks weighted by shared boundary length.

    Parameters
    ----------
    blocks
        Frame with ``block_id`` and polygon geometry (EPSG:27700).
    tolerance_m
        Boundaries closer than this (m) count as shared, so precision gaps and tiny slivers between
        blocks drawn from different sources do not break contiguity.
    min_shared_m
        Pairs sharing less than this (m) are not neighbours: touching at a corner yields at most
        about ``2 * tolerance_m`` of "shared" boundary, so this must exceed that.

    Returns
    -------
    networkx.Graph
        Every ``block_id`` is a node (also isolated ones); edges carry ``shared_m`` (m).
    """
    if min_shared_m <= 2 * tolerance_m:
        raise ValueError(
            "min_shared_m must exceed 2 * tolerance_m, or corner contacts count as neighbours"
        )
    ids = blocks["block_id"].astype(str).to_numpy()
    geoms = blocks.to_crs(CRS).geometry.values
    left, right, shared = _shared_boundaries(geoms, tolerance_m)
    half = left < right
    graph = nx.Graph()
    graph.add_nodes_from(ids)
    keep = half & (shared >= min_shared_m)
    graph.add_edges_from(
        (a, b, {"shared_m": float(s)})
        for a, b, s in zip(ids[left[keep]], ids[right[keep]], shared[keep], strict=True)
    )
    return graph


def assign_blocks(blocks: gpd.GeoDataFrame, layer: gpd.GeoDataFrame) -> pd.Series:
    """The feature of ``layer`` (e.g. today's contract areas) that each block mostly lies in.

    Parameters
    ----------
    blocks : frame with ``block_id`` and polygon geometry.
    layer : a boundary layer from :func:`load_layer` (``id``, geometry).

    Returns
    -------
    Series ``block_id`` → layer ``id`` (str), by largest overlap area (ties: the smaller id); a
    block that overlaps no feature takes the feature nearest its representative point.
    """
    pieces = gpd.overlay(
        blocks[["block_id", "geometry"]].to_crs(CRS),
        layer[["id", "geometry"]].to_crs(CRS),
        how="intersection",
        keep_geom_type=True,
    )
    pieces["area_m2"] = pieces.geometry.area
    pieces = pieces.sort_values(["block_id", "area_m2", "id"], ascending=[True, False, True])
    best = pieces.drop_duplicates("block_id").set_index("block_id")["id"].astype(str)
    missing = blocks.loc[~blocks["block_id"].isin(best.index), ["block_id", "geometry"]]
    if len(missing):
        points = gpd.GeoDataFrame(
            {"block_id": missing["block_id"]},
            geometry=missing.to_crs(CRS).representative_point(),
            crs=CRS,
        )
        near = gpd.sjoin_nearest(points, layer[["id", "geometry"]].to_crs(CRS), how="left")
        near = near.sort_values(["block_id", "id"]).drop_duplicates("block_id")
        best = pd.concat([best, near.set_index("block_id")["id"].astype(str)])
    return best.reindex(blocks["block_id"].to_numpy()).rename("area_id")
