"""Hand-edited lots: read a layout edited in QGIS (or a spreadsheet) and check it against the blocks.

A commissioner's analyst opens the ``blocks`` layer of ``<name>.gpkg`` in QGIS, moves a
neighbourhood to the next lot by editing its ``patch_id``, and asks what that does. This module
reads such a file once, at the boundary, and says exactly what is wrong with it when something is,
so the later stages (``patches.design_from_layout``, rounds, savings) can trust it.

Files (:func:`read_layout`)
---------------------------
- **CSV**: columns ``block_id`` and ``patch_id``, one row per block (other columns are ignored).
- **GeoPackage** or any vector file pyogrio reads: a layer with ``block_id`` and ``patch_id`` (e.g.
  the ``blocks`` layer patchplan writes, with ``patch_id`` edited; geometry is ignored), or a layer
  of lot *polygons* with ``patch_id`` and no ``block_id`` (redrawn lots: each block then goes to the
  lot it mostly lies in, by :func:`patchplan.boundaries.assign_blocks`). A file with several layers
  is read from ``layer``, else from its ``blocks`` layer, else from its only layer.

Two uses
--------
- :func:`check_layout`: a complete layout to score and plan as it is (``patchplan score --layout``).
  Every block needs one lot, every block must be a block of the study, there must be K lots when
  ``[patches] k`` is set, and each lot must be one connected piece.
- :func:`lock_pairs`: some blocks kept in their lots while the rest are re-optimised
  (``patchplan score --lock``): listed blocks must be blocks of the study and lots must be named
  ``P01`` … ``PK``, as designed lots are.

Every problem is a :class:`~patchplan.errors.LayoutError` naming the file, the row or block, the lot
and the problem; all problems found are listed at once.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import networkx as nx
import pandas as pd
import pyogrio

from patchplan import boundaries
from patchplan.errors import BoundaryError, LayoutError

__all__ = ["LotLayout", "check_layout", "lock_pairs", "read_layout"]

BLOCK_COLUMN = "block_id"
LOT_COLUMN = "patch_id"
SHOWN = 8
"""Most blocks named in one message; the rest are counted."""
_LOT_LABEL = re.compile(r"^P(\d{2,})$")


@dataclass
class LotLayout:
    """A layout as read from a file, before it is checked against a study's blocks.

    Attributes
    ----------
    source : the file name, used in every message.
    lots : Series ``block_id`` → lot id (str), in file order; empty for a polygon layer.
    rows : Series ``block_id`` → 1-based data row of the file (the header is not counted).
    polygons : lot polygons (``id`` = lot id, geometry, EPSG:27700) when the file has no
        ``block_id`` column; None otherwise.
    """

    source: str
    lots: pd.Series
    rows: pd.Series
    polygons: gpd.GeoDataFrame | None = None


def _names(ids, shown: int = SHOWN) -> str:
    """Ids quoted and comma-separated, at most ``shown`` of them, then how many more."""
    ids = [str(i) for i in ids]
    text = ", ".join(repr(i) for i in ids[:shown])
    return text + (f" and {len(ids) - shown} more" if len(ids) > shown else "")


def _fail(source: str, problems: list[str]) -> LayoutError:
    if len(problems) == 1:
        return LayoutError(f"{source}: {problems[0]}")
    return LayoutError(f"{source}: {len(problems)} problems:\n- " + "\n- ".join(problems))


def _pick_layer(path: Path, layer: str | None) -> str | None:
    if path.suffix.lower() in (".csv", ".txt"):
        return None
    try:
        names = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except (pyogrio.errors.DataSourceError, ValueError) as exc:
        raise LayoutError(f"{path.name}: cannot read as a layer file ({exc})") from exc
    if layer is not None:
        if layer not in names:
            raise LayoutError(f"{path.name}: no layer {layer!r} (layers: {', '.join(names)})")
        return layer
    if "blocks" in names:
        return "blocks"
    if len(names) == 1:
        return names[0]
    raise LayoutError(
        f"{path.name}: {len(names)} layers ({', '.join(names)}); say which holds the lots (layer=...)"
    )


def read_layout(path: str | os.PathLike[str], layer: str | None = None) -> LotLayout:
    """Read a layout of blocks into lots from a CSV or a vector file (see the module docstring).

    Parameters
    ----------
    path : CSV (``block_id``, ``patch_id``) or vector file (GeoPackage, shapefile, GeoJSON, …).
    layer : layer of a multi-layer file; default ``blocks``, or the only layer.

    Raises
    ------
    LayoutError
        File missing or unreadable, a column missing, an empty id (with its row), or a block listed
        twice (with both rows).
    """
    file = Path(path)
    if not file.is_file():
        raise LayoutError(f"{file}: layout file not found")
    chosen = _pick_layer(file, layer)
    source = file.name if chosen is None else f"{file.name} (layer {chosen})"
    try:
        if chosen is None:
            frame = pd.read_csv(file, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        else:
            frame = gpd.read_file(file, layer=chosen, engine="pyogrio")
    except (OSError, ValueError, pd.errors.ParserError, pyogrio.errors.DataSourceError) as exc:
        raise LayoutError(f"{source}: cannot read ({exc})") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    if LOT_COLUMN not in frame.columns:
        raise LayoutError(
            f"{source}: no column {LOT_COLUMN!r} naming each block's lot "
            f"(columns: {', '.join(c for c in frame.columns if c != 'geometry')})"
        )
    if BLOCK_COLUMN not in frame.columns:
        if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.notna().any():
            return _polygon_layout(file, chosen, source)
        raise LayoutError(f"{source}: no column {BLOCK_COLUMN!r} (and no lot polygons)")
    blocks = frame[BLOCK_COLUMN].astype("string").fillna("").str.strip()
    lots = frame[LOT_COLUMN].astype("string").fillna("").str.strip()
    rows = pd.Series(range(1, len(frame) + 1), index=frame.index)
    problems = [
        f"row {rows[i]}: empty {column}"
        for i in frame.index
        for column, values in ((BLOCK_COLUMN, blocks), (LOT_COLUMN, lots))
        if values[i] == ""
    ]
    twice = blocks[blocks.duplicated(keep=False) & (blocks != "")]
    for block, where in rows[twice.index].groupby(twice.to_numpy()):
        problems.append(
            f"block {block!r} is listed {len(where)} times (rows {', '.join(map(str, where))}); "
            "a block belongs to one lot"
        )
    if problems:
        raise _fail(source, problems)
    index = pd.Index(blocks.to_numpy(dtype=str), name=BLOCK_COLUMN)
    return LotLayout(
        source=source,
        lots=pd.Series(lots.to_numpy(dtype=str), index=index, name=LOT_COLUMN),
        rows=pd.Series(rows.to_numpy(), index=index, name="row"),
    )


def _polygon_layout(file: Path, layer: str | None, source: str) -> LotLayout:
    try:
        polygons, _ = boundaries.load_layer(file, LOT_COLUMN, layer=layer)
    except BoundaryError as exc:
        raise LayoutError(f"{source}: lot polygons cannot be used ({exc})") from exc
    empty = pd.Series(dtype=str, index=pd.Index([], name=BLOCK_COLUMN))
    return LotLayout(source=source, lots=empty, rows=empty.astype(int), polygons=polygons)


def _block_lots(layout: LotLayout, blocks: gpd.GeoDataFrame) -> pd.Series:
    if layout.polygons is not None:
        return boundaries.assign_blocks(blocks, layout.polygons)
    return layout.lots


def _unknown_blocks(layout: LotLayout, lots: pd.Series, known: set[str]) -> list[str]:
    unknown = [b for b in lots.index if b not in known]
    if not unknown:
        return []
    where = layout.rows.reindex(unknown)
    listed = ", ".join(f"{b!r} (row {where[b]})" for b in unknown[:SHOWN])
    more = f" and {len(unknown) - SHOWN} more" if len(unknown) > SHOWN else ""
    return [
        f"unknown block{'s' if len(unknown) > 1 else ''} {listed}{more}: not a block of this "
        "study (block ids are in the blocks layer of the study's GeoPackage)"
    ]


def _pieces(blocks: list[str], adjacency: nx.Graph) -> list[list[str]]:
    """The connected pieces of a lot, largest first, each sorted."""
    graph = adjacency.subgraph(blocks).copy()
    graph.add_nodes_from(blocks)  # a block with no neighbour in the lot is a piece of its own
    pieces = [sorted(map(str, c)) for c in nx.connected_components(graph)]
    return sorted(pieces, key=lambda p: (-len(p), p))


def check_layout(
    layout: LotLayout, blocks: gpd.GeoDataFrame, adjacency: nx.Graph, k: int = 0
) -> pd.Series:
    """Check a complete layout against the study's blocks and return it as block_id → lot id.

    Parameters
    ----------
    layout : from :func:`read_layout`.
    blocks : the study's blocks (``block_id``, geometry, EPSG:27700).
    adjacency : block adjacency (:func:`patchplan.boundaries.block_adjacency`).
    k : the number of lots there must be (``[patches] k``); 0 accepts any number.

    Returns
    -------
    Series indexed by ``block_id`` (blocks order), values the lot ids (str).

    Raises
    ------
    LayoutError
        Listing every problem: unknown blocks (with their rows), blocks with no lot, a lot count
        other than K, and each lot in more than one piece with the blocks of every piece.
    """
    known = [str(b) for b in blocks["block_id"]]
    lots = _block_lots(layout, blocks)
    problems = _unknown_blocks(layout, lots, set(known))
    missing = [b for b in known if b not in lots.index]
    if missing:
        problems.append(
            f"{len(missing)} block{'s have' if len(missing) > 1 else ' has'} no lot: "
            f"{_names(missing)} (every block needs one)"
        )
    lots = lots[lots.index.isin(known)]
    names = sorted(lots.unique())
    if k and len(names) != k:
        problems.append(f"{len(names)} lots ({_names(names, 20)}) but [patches] k = {k}")
    for lot in names:
        pieces = _pieces(list(lots.index[lots == lot]), adjacency)
        if len(pieces) > 1:
            listed = "; ".join(f"[{_names(p)}]" for p in pieces)
            problems.append(
                f"lot {lot!r} is not contiguous: {len(pieces)} separate pieces, blocks {listed}"
            )
    if problems:
        raise _fail(layout.source, problems)
    return lots.reindex(known).rename(LOT_COLUMN).rename_axis(BLOCK_COLUMN)


def lock_pairs(
    layout: LotLayout, blocks: gpd.GeoDataFrame, k: int = 0
) -> tuple[tuple[str, str], ...]:
    """The (block_id, lot) pairs of a layout, checked for use as ``[patches] locked``.

    Parameters
    ----------
    layout : from :func:`read_layout` (need not list every block).
    blocks : the study's blocks.
    k : the number of lots (``[patches] k``); 0 when it is derived from demand.

    Raises
    ------
    LayoutError
        Unknown blocks (with their rows), a polygon layer (locks list blocks), or a lot not named
        ``P01`` … ``PK`` (the ids designed lots carry).
    """
    if layout.polygons is not None:
        raise LayoutError(
            f"{layout.source}: locks need a block_id column listing the blocks to keep; "
            "lot polygons would lock every block"
        )
    lots = layout.lots
    problems = _unknown_blocks(layout, lots, {str(b) for b in blocks["block_id"]})
    for lot in sorted(lots.unique()):
        match = _LOT_LABEL.match(lot)
        if match is None or int(match[1]) < 1 or (k and int(match[1]) > k):
            top = f"P{k:02d}" if k else "PK"
            rows = layout.rows[lots.index[lots == lot]]
            problems.append(
                f"lot {lot!r} (rows {', '.join(map(str, rows[:SHOWN]))}) is not one of P01 … {top}: "
                "locked blocks keep designed lot ids"
            )
    if problems:
        raise _fail(layout.source, problems)
    return tuple((str(b), str(p)) for b, p in lots.items())
