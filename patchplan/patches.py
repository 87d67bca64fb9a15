"""Patch design: group blocks into K contract lots that are contiguous, balanced, compact and PCN-aware.

This module answers the commissioner's question "where should the lot boundaries go?" and scores any
patch layout (ours, a library's, or the council's existing areas) with one yardstick.

Inputs (see ``docs/data-contracts.md``)
---------------------------------------
- ``blocks``: GeoDataFrame ``block_id`` (str), ``pcn_id`` (str), geometry (EPSG:27700); ``area_m2`` is
  used when present (else computed from the geometry).
- ``adjacency``: ``networkx.Graph`` on ``block_id`` (edge attribute ``shared_m`` is not needed here).
- ``block_demand``: DataFrame indexed by ``block_id`` with ``hours_week`` (care hours per week) and
  ``people``; ``visits`` (per week) is used as the leg weight when present. Blocks absent from it have
  zero demand.
- ``travel``: a ``TravelTimes`` (the matrix between block representative points is computed once per
  call) or a ready ``TravelMatrix`` whose rows and columns follow ``blocks`` order.

Outputs
-------
- **layout**: Series indexed by ``block_id``, values ``patch_id`` ("P01", "P02", ...).
- **patches**: GeoDataFrame ``patch_id, hours_week, people, n_blocks, pcn_ids, centre_block_id, geometry``.
- **score** (:func:`score_patches`): one row per patch plus the overall row ``"all"``.

The objective (what "compact" means)
------------------------------------
We minimise the **p-median cost**: the sum over blocks of ``hours_week`` × travel minutes between the
block's representative point and its patch centre (the block of the patch that minimises that sum,
i.e. the patch's hours-weighted medoid), in hour·minutes per week. Travel times are symmetrised,
``(t(i→c) + t(c→i)) / 2``, because carers go both ways. Under ``pcn_policy="align"`` the objective adds
``pcn_split_cost_min`` × the weekly hours of each PCN that lie outside the patch holding most of that PCN.

Why p-median rather than expected visit-to-visit time: it is linear in the block-to-centre assignment,
so CP-SAT can solve and bound it exactly on small cases, and a block move changes it by a cheap exact
delta in the local search; and by the triangle inequality the expected time between two visits in a
patch is at most twice the hours-weighted mean time to the centre, so minimising one keeps the other
small. The visit-to-visit figure is reported separately by :func:`score_patches` as the check.

Solvers
-------
- Small cases (at most ``exact_max_blocks`` movable units): OR-Tools CP-SAT on a p-median model with a
  single-commodity flow per candidate centre for contiguity; it proves optimality or reports the gap.
  Runs are deterministic: one worker, fixed seed, and a *deterministic* time limit.
- Larger cases: multi-start local search (hours-aware region growing from k-means++-style seeds, then
  boundary moves and swaps that keep every patch connected, lexicographic on balance violation and
  then the objective, with medoid re-centring). Deterministic for a given ``seed``: it uses a numpy
  ``Generator`` and iteration counts, never the clock.

Either way the result is verified against every constraint (one patch per block, contiguity, balance,
PCN policy, locks) before it is returned; otherwise :class:`~patchplan.errors.PatchDesignError` names
the constraint that fails.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd

from patchplan._validate import at_least, collect, one_of, ordered, positive, unique
from patchplan.errors import PatchDesignError
from patchplan.interrupts import stoppable
from patchplan.matrix import TravelMatrix, TravelTimes

PCN_POLICIES = ("nest", "align", "free")

MEAN_INTRA_SQUARE = 0.5214
"""Mean distance between two random points in a unit square; × sqrt(area) for a within-block leg."""

SCORE_COLUMNS = [
    "patch_id",
    "hours_week",
    "people",
    "n_blocks",
    "balance_dev",
    "contiguous",
    "n_pieces",
    "pcn_alignment",
    "travel_min_per_leg",
    "walk_share",
    "objective",
    "centre_block_id",
    "estimate",
]


@dataclass(frozen=True)
class PatchSettings:
    """Settings for patch design (the scenario's ``[patches]`` table, by field name).

    Attributes
    ----------
    k : number of patches; 0 derives it from demand and the provider-size settings below.
    providers_per_patch_min, providers_per_patch_max : providers each lot should support (count).
    provider_hours_week_min, provider_hours_week_max : viable weekly care hours per provider (hours).
    balance_tolerance : each patch's weekly hours within ± this fraction of the mean (0.10 = ±10%).
    pcn_policy : "nest" (each patch a union of whole PCNs), "align" (splits cost
        ``pcn_split_cost_min``), or "free".
    pcn_split_cost_min : objective cost, in minutes, per weekly care hour of a PCN that lies outside the
        patch holding most of that PCN ("align" only).
    time_limit_s : CP-SAT deterministic time limit (CP-SAT "deterministic seconds", roughly seconds on
        one core; a work count, so the answer does not depend on machine load).
    starts : number of local-search starts.
    exact_max_blocks : largest number of movable units given to CP-SAT for an exact solve.
    walk_threshold_min : a leg counts as walkable when it takes at most this many minutes on foot.
    walk_speed_kmh : walking speed for the walkable-leg share (km/h).
    locked : (block_id, patch_id) pairs: the block must be in that patch ("P01" ... up to K).
    seeds : block ids; seed number k (1-based) is locked to patch "P0k" and the patch grows from it.
    """

    k: int = 0
    providers_per_patch_min: int = 2
    providers_per_patch_max: int = 3
    provider_hours_week_min: float = 1000.0
    provider_hours_week_max: float = 4000.0
    balance_tolerance: float = 0.10
    pcn_policy: str = "align"
    pcn_split_cost_min: float = 5.0
    time_limit_s: float = 20.0
    starts: int = 6
    exact_max_blocks: int = 24
    walk_threshold_min: float = 15.0
    walk_speed_kmh: float = 4.5
    locked: tuple[tuple[str, str], ...] | dict[str, str] = ()
    seeds: tuple[str, ...] = ()

    def problems(self) -> list[str]:
        """Range and cross-field problems of these settings, each naming its key (empty when valid)."""
        return collect(
            at_least("k", self.k, 0),
            at_least("providers_per_patch_min", self.providers_per_patch_min, 1),
            ordered("providers_per_patch_min", self.providers_per_patch_min,
                    "providers_per_patch_max", self.providers_per_patch_max),
            positive("provider_hours_week_min", self.provider_hours_week_min),
            ordered("provider_hours_week_min", self.provider_hours_week_min,
                    "provider_hours_week_max", self.provider_hours_week_max),
            at_least("balance_tolerance", self.balance_tolerance, 0)
            or (None if self.balance_tolerance < 1
                else f"balance_tolerance must be below 1, got {self.balance_tolerance:g}"),
            one_of("pcn_policy", self.pcn_policy, PCN_POLICIES),
            at_least("pcn_split_cost_min", self.pcn_split_cost_min, 0),
            positive("time_limit_s", self.time_limit_s),
            at_least("starts", self.starts, 1),
            at_least("exact_max_blocks", self.exact_max_blocks, 0),
            positive("walk_threshold_min", self.walk_threshold_min),
            positive("walk_speed_kmh", self.walk_speed_kmh),
            unique("seeds", self.seeds),
            None
            if self.k <= 0 or len(self.seeds) <= self.k
            else f"seeds lists {len(self.seeds)} blocks but k is {self.k} (one seed per patch)",
        )  # fmt: skip

    def lock_pairs(self) -> list[tuple[str, str]]:
        """The locks as a list of (block_id, patch_id) pairs, in the order given."""
        items = self.locked.items() if isinstance(self.locked, Mapping) else self.locked
        return [(str(b), str(p)) for b, p in items]


@dataclass
class PatchDesign:
    """A designed patch layout and its score.

    Attributes
    ----------
    layout : Series block_id → patch_id.
    patches : GeoDataFrame, one row per patch (see module docstring).
    score : the :func:`score_patches` table for ``layout``.
    method : how it was found ("cp-sat optimal", "cp-sat feasible", "local search").
    gap : proven relative optimality gap from CP-SAT's bound (0.0 = optimal), None when unbounded.
    objective : objective value (hour·minutes per week, see module docstring).
    k : number of patches.
    """

    layout: pd.Series
    patches: gpd.GeoDataFrame
    score: pd.DataFrame
    method: str
    gap: float | None
    objective: float
    k: int = 0
    details: dict = field(default_factory=dict)


def patch_label(index: int) -> str:
    """Patch id for a 0-based index: 0 → "P01"."""
    return f"P{index + 1:02d}"


# --------------------------------------------------------------------------------------------------
# Shared preparation


@dataclass
class _Context:
    """Everything the solvers and the scorer need, as arrays in ``blocks`` order."""

    block_ids: list[str]
    index: dict[str, int]
    pcn: np.ndarray  # int code per block
    pcn_names: list[str]
    hours: np.ndarray
    people: np.ndarray
    visits: np.ndarray
    minutes: np.ndarray  # symmetrised, diagonal = 0
    intra_min: np.ndarray
    leg_walk_min: np.ndarray  # walking minutes between rep points (diag: within block)
    neighbours: list[list[int]]
    estimate: bool
    unreachable_pairs: int


def _block_points(blocks: gpd.GeoDataFrame) -> gpd.GeoSeries:
    return blocks.geometry.representative_point()


def _prepare(
    blocks: gpd.GeoDataFrame,
    adjacency: nx.Graph | None,
    block_demand: pd.DataFrame,
    travel: TravelTimes | TravelMatrix,
    settings: PatchSettings,
) -> _Context:
    if "block_id" not in blocks.columns or "pcn_id" not in blocks.columns:
        raise PatchDesignError("blocks: need columns block_id and pcn_id")
    block_ids = [str(b) for b in blocks["block_id"]]
    if len(set(block_ids)) != len(block_ids):
        raise PatchDesignError("blocks: block_id values are not unique")
    n = len(block_ids)
    if n == 0:
        raise PatchDesignError("blocks: no blocks given")
    index = {b: i for i, b in enumerate(block_ids)}

    codes, names = pd.factorize(blocks["pcn_id"].astype(str), sort=True)
    demand = block_demand.copy()
    demand.index = demand.index.astype(str)
    unknown = sorted(set(demand.index) - set(block_ids))
    if unknown:
        raise PatchDesignError(
            f"block_demand: {len(unknown)} ids are not blocks, e.g. {unknown[:3]}"
        )
    if "hours_week" not in demand.columns:
        raise PatchDesignError("block_demand: needs a hours_week column")
    demand = demand.reindex(block_ids)
    hours = demand["hours_week"].fillna(0.0).to_numpy(dtype=float)
    if (hours < 0).any():
        raise PatchDesignError("block_demand: negative hours_week")
    people = demand["people"].fillna(0).to_numpy(dtype=float) if "people" in demand else np.zeros(n)
    visits = demand["visits"].fillna(0).to_numpy(dtype=float) if "visits" in demand else hours

    if isinstance(travel, TravelMatrix):
        tm = travel
        if tm.minutes.shape != (n, n):
            raise PatchDesignError(f"travel: matrix is {tm.minutes.shape}, expected {(n, n)}")
        estimate = bool(tm.estimate)
    else:
        tm = travel.matrix(_block_points(blocks))
        estimate = bool(getattr(travel, "estimate", tm.estimate))
    minutes = np.array(tm.minutes, dtype=float)
    metres = np.array(tm.metres, dtype=float)
    reach = np.array(tm.reachable, dtype=bool) & np.isfinite(minutes) & np.isfinite(metres)
    unreachable = int((~reach).sum())
    if unreachable:
        # An unroutable pair must never look close: give it the longest known time, doubled.
        minutes[~reach] = 2.0 * np.nanmax(np.where(reach, minutes, np.nan))
        metres[~reach] = 2.0 * np.nanmax(np.where(reach, metres, np.nan))
    minutes = (minutes + minutes.T) / 2.0
    metres = (metres + metres.T) / 2.0
    np.fill_diagonal(minutes, 0.0)
    np.fill_diagonal(metres, 0.0)

    # Within-block legs: mean random-pair distance in a square of the block's area, converted to
    # minutes and network metres by the median ratios seen between blocks.
    pts = _block_points(blocks)
    xy = np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])
    crow = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    off = crow > 1.0
    min_per_m = float(np.median(minutes[off] / crow[off])) if off.any() else 0.0
    net_per_m = float(np.median(metres[off] / crow[off])) if off.any() else 1.0
    area = (
        blocks["area_m2"].to_numpy(dtype=float)
        if "area_m2" in blocks.columns
        else blocks.geometry.area.to_numpy()
    )
    intra_crow = MEAN_INTRA_SQUARE * np.sqrt(np.maximum(area, 0.0))
    intra_min = intra_crow * min_per_m
    walk_m_per_min = settings.walk_speed_kmh * 1000.0 / 60.0
    leg_walk_min = metres / walk_m_per_min
    np.fill_diagonal(leg_walk_min, intra_crow * net_per_m / walk_m_per_min)

    neighbours: list[list[int]] = [[] for _ in range(n)]
    if adjacency is not None:
        for u, v in adjacency.edges():
            iu, iv = index.get(str(u)), index.get(str(v))
            if iu is None or iv is None or iu == iv:
                continue
            neighbours[iu].append(iv)
            neighbours[iv].append(iu)
        neighbours = [sorted(set(nb)) for nb in neighbours]
    return _Context(
        block_ids=block_ids,
        index=index,
        pcn=codes.astype(int),
        pcn_names=[str(x) for x in names],
        hours=hours,
        people=people,
        visits=visits,
        minutes=minutes,
        intra_min=intra_min,
        leg_walk_min=leg_walk_min,
        neighbours=neighbours,
        estimate=estimate,
        unreachable_pairs=unreachable,
    )


def _pieces(members: Sequence[int] | np.ndarray, neighbours: list[list[int]]) -> int:
    """Number of connected pieces of a set of blocks in the adjacency graph."""
    todo = set(int(m) for m in members)
    pieces = 0
    while todo:
        pieces += 1
        stack = [todo.pop()]
        while stack:
            i = stack.pop()
            for j in neighbours[i]:
                if j in todo:
                    todo.remove(j)
                    stack.append(j)
    return pieces


def _medoid(members: np.ndarray, ctx: _Context) -> int:
    """The block of ``members`` minimising the hours-weighted travel minutes from the members."""
    sub = ctx.minutes[np.ix_(members, members)]
    w = ctx.hours[members] + 1e-9  # zero-demand patches still get a central block
    return int(members[int(np.argmin(w @ sub))])


def _split_hours(labels: np.ndarray, ctx: _Context, k: int) -> tuple[np.ndarray, float]:
    """Hours of each PCN per patch, and the PCN hours outside their majority patch."""
    table = np.zeros((len(ctx.pcn_names), k))
    np.add.at(table, (ctx.pcn, labels), ctx.hours)
    return table, float(table.sum() - table.max(axis=1).sum())


# --------------------------------------------------------------------------------------------------
# Scoring


def score_patches(
    layout: pd.Series,
    blocks: gpd.GeoDataFrame,
    block_demand: pd.DataFrame,
    travel: TravelTimes | TravelMatrix,
    settings: PatchSettings = PatchSettings(),
    adjacency: nx.Graph | None = None,
) -> pd.DataFrame:
    """Score any patch layout with the same yardstick, per patch and overall.

    Parameters
    ----------
    layout : Series block_id → patch_id covering every block (any patch ids: ours, a library's, the
        council's areas).
    blocks, block_demand, travel : as for :func:`design_patches`.
    settings : supplies ``pcn_policy``, ``pcn_split_cost_min``, ``walk_threshold_min``,
        ``walk_speed_kmh`` and ``balance_tolerance``.
    adjacency : block adjacency for the contiguity check; when None it is built from the geometry
        (blocks sharing a boundary of positive length).

    Returns
    -------
    DataFrame with one row per patch (sorted by patch id) and an overall row ``"all"``:
    ``hours_week`` (care hours/week), ``people``, ``n_blocks``, ``balance_dev`` (fraction above or
    below the mean patch hours; overall: the worst absolute deviation), ``contiguous`` (bool),
    ``n_pieces``, ``pcn_alignment`` (share of the patch's hours whose PCN has its majority of hours in
    this patch), ``travel_min_per_leg`` (expected minutes between two consecutive visits, modelled as
    two visits drawn independently, visit-weighted, from the patch; exact over blocks, with a
    within-block term from block area; overall: leg-weighted mean), ``walk_share`` (share of those legs
    walkable within ``walk_threshold_min``), ``objective`` (p-median cost plus the PCN split cost under
    "align", hour·minutes/week), ``centre_block_id``, ``estimate`` (True when the times are the
    straight-line estimate, which must be labelled as such).
    """
    ctx = _prepare(blocks, adjacency, block_demand, travel, settings)
    if adjacency is None:
        ctx.neighbours = _geometric_neighbours(blocks)
    labels, patch_ids = _labels_from_layout(layout, ctx)
    return _score(labels, patch_ids, ctx, settings)


def _geometric_neighbours(blocks: gpd.GeoDataFrame) -> list[list[int]]:
    """Rook neighbours: blocks whose boundaries share a line (not just a point)."""
    geoms = blocks.geometry.reset_index(drop=True)
    left, right = geoms.sindex.query(geoms, predicate="intersects")
    neighbours: list[list[int]] = [[] for _ in range(len(geoms))]
    for i, j in zip(left, right, strict=True):
        if i < j:
            shared = geoms.iloc[i].boundary.intersection(geoms.iloc[j].boundary).length
            if shared > 1.0:
                neighbours[i].append(int(j))
                neighbours[j].append(int(i))
    return neighbours


def _labels_from_layout(layout: pd.Series, ctx: _Context) -> tuple[np.ndarray, list[str]]:
    lay = pd.Series(layout.to_numpy(), index=layout.index.astype(str)).astype(str)
    if lay.index.duplicated().any():
        raise PatchDesignError("layout: a block appears more than once (one patch per block)")
    missing = [b for b in ctx.block_ids if b not in lay.index]
    if missing:
        raise PatchDesignError(
            f"layout: {len(missing)} blocks have no patch (every block needs one), e.g. {missing[:3]}"
        )
    extra = sorted(set(lay.index) - set(ctx.block_ids))
    if extra:
        raise PatchDesignError(f"layout: {len(extra)} ids are not blocks, e.g. {extra[:3]}")
    values = lay.reindex(ctx.block_ids)
    patch_ids = sorted(values.unique())
    code = {p: i for i, p in enumerate(patch_ids)}
    return values.map(code).to_numpy(dtype=int), patch_ids


def _score(
    labels: np.ndarray, patch_ids: list[str], ctx: _Context, settings: PatchSettings
) -> pd.DataFrame:
    k = len(patch_ids)
    mean_hours = ctx.hours.sum() / k
    table, _ = _split_hours(labels, ctx, k)
    majority_patch = table.argmax(axis=1)
    aligned = majority_patch[ctx.pcn] == labels
    leg_min = ctx.minutes.copy()
    np.fill_diagonal(leg_min, ctx.intra_min)
    walkable = ctx.leg_walk_min <= settings.walk_threshold_min
    rows = []
    legs_total = travel_total = walk_total = 0.0
    for p, pid in enumerate(patch_ids):
        m = np.flatnonzero(labels == p)
        h = ctx.hours[m]
        centre = _medoid(m, ctx)
        cost = float(h @ ctx.minutes[m, centre])
        split = float(h[~aligned[m]].sum())
        if settings.pcn_policy == "align":
            cost += settings.pcn_split_cost_min * split
        v = ctx.visits[m]
        vv = float(v.sum())
        if vv > 0:
            pair = np.outer(v, v)
            travel = float((pair * leg_min[np.ix_(m, m)]).sum() / vv**2)
            walk = float((pair * walkable[np.ix_(m, m)]).sum() / vv**2)
        else:
            travel, walk = float("nan"), float("nan")
        legs_total += vv
        travel_total += vv * (0.0 if vv == 0 else travel)
        walk_total += vv * (0.0 if vv == 0 else walk)
        pieces = _pieces(m, ctx.neighbours)
        hp = float(h.sum())
        rows.append(
            {
                "patch_id": pid,
                "hours_week": hp,
                "people": float(ctx.people[m].sum()),
                "n_blocks": len(m),
                "balance_dev": (hp - mean_hours) / mean_hours if mean_hours > 0 else 0.0,
                "contiguous": pieces == 1,
                "n_pieces": pieces,
                "pcn_alignment": float(h[aligned[m]].sum() / hp) if hp > 0 else 1.0,
                "travel_min_per_leg": travel,
                "walk_share": walk,
                "objective": cost,
                "centre_block_id": ctx.block_ids[centre],
                "estimate": ctx.estimate,
            }
        )
    frame = pd.DataFrame(rows, columns=SCORE_COLUMNS)
    total_h = float(ctx.hours.sum())
    overall = {
        "patch_id": "all",
        "hours_week": total_h,
        "people": float(ctx.people.sum()),
        "n_blocks": len(labels),
        "balance_dev": float(frame["balance_dev"].abs().max()),
        "contiguous": bool(frame["contiguous"].all()),
        "n_pieces": int(frame["n_pieces"].sum()),
        "pcn_alignment": float(ctx.hours[aligned].sum() / total_h) if total_h > 0 else 1.0,
        "travel_min_per_leg": travel_total / legs_total if legs_total > 0 else float("nan"),
        "walk_share": walk_total / legs_total if legs_total > 0 else float("nan"),
        "objective": float(frame["objective"].sum()),
        "centre_block_id": "",
        "estimate": ctx.estimate,
    }
    frame = pd.concat([frame, pd.DataFrame([overall])], ignore_index=True)
    return frame.set_index("patch_id", drop=False)


# --------------------------------------------------------------------------------------------------
# The problem, validated once


@dataclass
class _Problem:
    """A validated design request: K, bounds, units (blocks moving together) and locks."""

    ctx: _Context
    k: int
    lower: float  # hours/week
    upper: float
    units: list[np.ndarray]  # blocks of each movable unit
    unit_of: np.ndarray  # block → unit
    unit_lock: np.ndarray  # unit → patch index or -1
    settings: PatchSettings
    seed_blocks: dict[int, int]  # patch index → block to grow from


def derive_k(total_hours: float, settings: PatchSettings) -> int:
    """Number of patches so that each lot supports the wanted number of viable providers.

    A lot of ``H`` hours/week supports between ``providers_per_patch_min`` and
    ``providers_per_patch_max`` providers of ``provider_hours_week_min`` to ``..._max`` hours each, so
    K must lie in ``[ceil(total / (p_max × h_max)), floor(total / (p_min × h_min))]``. Within that
    range we take the K whose lot size is closest to the middle case (mean providers × mean hours).

    Raises
    ------
    PatchDesignError
        When no K satisfies the provider-size settings.
    """
    s = settings
    _raise_problems(s)
    k_low = max(1, math.ceil(total_hours / (s.providers_per_patch_max * s.provider_hours_week_max)))
    k_high = math.floor(total_hours / (s.providers_per_patch_min * s.provider_hours_week_min))
    if k_high < k_low:
        raise PatchDesignError(
            f"provider size: {total_hours:.0f} care hours/week cannot be split into lots of "
            f"{s.providers_per_patch_min}-{s.providers_per_patch_max} providers with "
            f"{s.provider_hours_week_min:.0f}-{s.provider_hours_week_max:.0f} hours/week each"
        )
    target = (
        (s.providers_per_patch_min + s.providers_per_patch_max)
        / 2
        * (s.provider_hours_week_min + s.provider_hours_week_max)
        / 2
    )
    return int(min(max(round(total_hours / target), k_low), k_high))


def _raise_problems(settings: PatchSettings) -> None:
    problems = settings.problems()
    if problems:
        raise PatchDesignError("patch settings: " + "; ".join(problems))


def _problem(ctx: _Context, settings: PatchSettings, k: int | None = None) -> _Problem:
    s = settings
    n = len(ctx.block_ids)
    _raise_problems(s)
    total = float(ctx.hours.sum())
    if total <= 0:
        raise PatchDesignError(
            "demand: the blocks have no care hours, so patches cannot be balanced"
        )
    k = int(k if k is not None else s.k) or derive_k(total, s)
    if k < 1:
        raise PatchDesignError(f"k: need at least 1 patch, got {k}")
    if k > n:
        raise PatchDesignError(f"k: {k} patches requested but there are only {n} blocks")

    pieces = _pieces(range(n), ctx.neighbours)
    if pieces > 1:
        raise PatchDesignError(
            f"contiguity: the block adjacency graph has {pieces} separate pieces, so patches spanning "
            "them cannot be contiguous; join them (e.g. add bridge edges) or design each part apart"
        )

    if s.pcn_policy == "nest":
        units = [np.flatnonzero(ctx.pcn == q) for q in range(len(ctx.pcn_names))]
    else:
        units = [np.array([i]) for i in range(n)]
    unit_of = np.empty(n, dtype=int)
    for u, members in enumerate(units):
        unit_of[members] = u
    if k > len(units):
        raise PatchDesignError(
            f"pcn_policy nest: {k} patches requested but there are only {len(units)} PCNs"
        )

    labels = [patch_label(i) for i in range(k)]
    lock_pairs = s.lock_pairs()
    for j, b in enumerate(s.seeds):
        lock_pairs.append((str(b), patch_label(j)))
    if len(s.seeds) > k:
        raise PatchDesignError(f"seeds: {len(s.seeds)} seeds given for only {k} patches")
    unit_lock = np.full(len(units), -1, dtype=int)
    lock_source: dict[int, str] = {}
    seed_blocks: dict[int, int] = {}
    for b, pid in lock_pairs:
        if b not in ctx.index:
            raise PatchDesignError(f"locks: block {b!r} is not one of the blocks")
        if pid not in labels:
            raise PatchDesignError(
                f"locks: block {b} is locked to {pid}, but patches run {labels[0]}..{labels[-1]}"
            )
        p = labels.index(pid)
        i = ctx.index[b]
        u = unit_of[i]
        if unit_lock[u] not in (-1, p):
            raise PatchDesignError(
                f"locks contradict: block {b} is locked to {pid} but {lock_source[u]} puts "
                f"{'the same PCN' if len(units[u]) > 1 else 'it'} in {patch_label(unit_lock[u])}"
            )
        unit_lock[u] = p
        lock_source[u] = f"block {b} → {pid}"
        seed_blocks.setdefault(p, i)

    mean = total / k
    lower, upper = (1 - s.balance_tolerance) * mean, (1 + s.balance_tolerance) * mean
    unit_hours = np.array([ctx.hours[m].sum() for m in units])
    big = int(np.argmax(unit_hours))
    if unit_hours[big] > upper + 1e-9:
        what = (
            f"PCN {ctx.pcn_names[big]}" if s.pcn_policy == "nest" else f"block {ctx.block_ids[big]}"
        )
        raise PatchDesignError(
            f"balance: {what} alone has {unit_hours[big]:.1f} hours/week, above the patch limit "
            f"{upper:.1f} (mean {mean:.1f} + {s.balance_tolerance:.0%})"
        )
    locked_hours = np.zeros(k)
    np.add.at(locked_hours, unit_lock[unit_lock >= 0], unit_hours[unit_lock >= 0])
    for p in range(k):
        if locked_hours[p] > upper + 1e-9:
            raise PatchDesignError(
                f"locks vs balance: blocks locked to {patch_label(p)} hold {locked_hours[p]:.1f} "
                f"hours/week, above the patch limit {upper:.1f}"
            )
    return _Problem(ctx, k, lower, upper, units, unit_of, unit_lock, s, seed_blocks)


# --------------------------------------------------------------------------------------------------
# Verification


def _verify(labels: np.ndarray, prob: _Problem) -> None:
    """Raise PatchDesignError naming the first constraint that ``labels`` breaks."""
    ctx, k = prob.ctx, prob.k
    if labels.shape != (len(ctx.block_ids),) or labels.min() < 0 or labels.max() >= k:
        raise PatchDesignError("assignment: every block must be in exactly one of the K patches")
    hours = np.bincount(labels, weights=ctx.hours, minlength=k)
    for p in range(k):
        members = np.flatnonzero(labels == p)
        if len(members) == 0:
            raise PatchDesignError(f"k: patch {patch_label(p)} is empty")
        if _pieces(members, ctx.neighbours) != 1:
            raise PatchDesignError(f"contiguity: patch {patch_label(p)} is not one connected piece")
        if not prob.lower - 1e-6 <= hours[p] <= prob.upper + 1e-6:
            raise PatchDesignError(
                f"balance: patch {patch_label(p)} has {hours[p]:.1f} hours/week, outside "
                f"[{prob.lower:.1f}, {prob.upper:.1f}]"
            )
    for u, p in enumerate(prob.unit_lock):
        if p >= 0 and (labels[prob.units[u]] != p).any():
            raise PatchDesignError(f"locks: a locked block is not in {patch_label(p)}")
    if prob.settings.pcn_policy == "nest":
        for q, name in enumerate(ctx.pcn_names):
            if len(set(labels[ctx.pcn == q])) > 1:
                raise PatchDesignError(f"pcn_policy nest: PCN {name} is split between patches")


def _objective(labels: np.ndarray, prob: _Problem) -> tuple[float, np.ndarray]:
    """Objective value and the centre block of each patch."""
    ctx = prob.ctx
    centres = np.array([_medoid(np.flatnonzero(labels == p), ctx) for p in range(prob.k)])
    cost = float(ctx.hours @ ctx.minutes[np.arange(len(labels)), centres[labels]])
    if prob.settings.pcn_policy == "align":
        cost += prob.settings.pcn_split_cost_min * _split_hours(labels, ctx, prob.k)[1]
    return cost, centres


# --------------------------------------------------------------------------------------------------
# Local search


def _violation(h: float, lower: float, upper: float) -> float:
    return max(0.0, h - upper) + max(0.0, lower - h)


class _Search:
    """Multi-start local search state over movable units (blocks, or whole PCNs under "nest")."""

    def __init__(self, prob: _Problem):
        self.prob = prob
        ctx = prob.ctx
        self.n_units = len(prob.units)
        self.unit_hours = np.array([ctx.hours[m].sum() for m in prob.units])
        unit_nb: list[set[int]] = [set() for _ in range(self.n_units)]
        for i, nbs in enumerate(ctx.neighbours):
            for j in nbs:
                ui, uj = prob.unit_of[i], prob.unit_of[j]
                if ui != uj:
                    unit_nb[ui].add(int(uj))
        self.unit_nb = [sorted(s) for s in unit_nb]
        self.multi = any(len(m) > 1 for m in prob.units)

    # -- construction ------------------------------------------------------------------------
    def grow(self, rng: np.random.Generator) -> np.ndarray | None:
        """Hours-aware region growing from k-means++-style seeds; None when a start fails."""
        prob, ctx, k = self.prob, self.prob.ctx, self.prob.k
        unit_label = np.full(self.n_units, -1, dtype=int)
        seeds: dict[int, int] = dict(prob.seed_blocks)
        free_units = [u for u in range(self.n_units) if prob.unit_lock[u] < 0]
        taken = {prob.unit_of[b] for b in seeds.values()}
        for p in range(k):
            if p in seeds:
                continue
            cand = [u for u in free_units if u not in taken]
            if not cand:
                return None
            blocks_c = np.array([prob.units[u][0] for u in cand])
            if seeds:
                chosen = np.array(list(seeds.values()))
                d = ctx.minutes[np.ix_(blocks_c, chosen)].min(axis=1)
                w = (self.unit_hours[cand] + 1e-6) * d**2
            else:
                w = self.unit_hours[cand] + 1e-6
            if w.sum() <= 0:
                w = np.ones(len(cand))
            u = cand[int(rng.choice(len(cand), p=w / w.sum()))]
            seeds[p] = int(prob.units[u][0])
            taken.add(u)
        hours = np.zeros(k)
        heaps: list[list[tuple[float, float, int]]] = [[] for _ in range(k)]

        def assign(u: int, p: int) -> None:
            unit_label[u] = p
            hours[p] += self.unit_hours[u]
            for v in self.unit_nb[u]:
                if unit_label[v] < 0 and prob.unit_lock[v] in (-1, p):
                    d = float(ctx.minutes[seeds[p], prob.units[v]].min())
                    heapq.heappush(heaps[p], (d, float(rng.random()), v))

        for p in range(k):
            assign(int(prob.unit_of[seeds[p]]), p)
        for u in range(self.n_units):
            if prob.unit_lock[u] >= 0 and unit_label[u] < 0:
                assign(u, int(prob.unit_lock[u]))
        while True:
            order = np.argsort(hours, kind="stable")
            grown = False
            for p in order:
                while heaps[p]:
                    _, _, v = heapq.heappop(heaps[p])
                    if unit_label[v] < 0:
                        assign(v, int(p))
                        grown = True
                        break
                if grown:
                    break
            if not grown:
                break
        if (unit_label < 0).any():
            return None
        return unit_label[prob.unit_of]

    # -- improvement ---------------------------------------------------------------------------
    def improve(self, labels: np.ndarray, rng: np.random.Generator, max_rounds: int = 60):
        """Boundary moves and swaps to a local optimum of (extra pieces, balance violation, cost)."""
        prob, ctx, k = self.prob, self.prob.ctx, self.prob.k
        align = prob.settings.pcn_policy == "align"
        split_cost = prob.settings.pcn_split_cost_min
        unit_label = np.array([labels[m[0]] for m in prob.units])
        members = [set(np.flatnonzero(labels == p).tolist()) for p in range(k)]
        hours = np.bincount(labels, weights=ctx.hours, minlength=k)
        pieces = np.array([_pieces(list(m), ctx.neighbours) for m in members])
        table, _ = _split_hours(labels, ctx, k)
        lo, hi = prob.lower, prob.upper
        for _ in range(max_rounds):
            centres = np.array([_medoid(np.array(sorted(m)), ctx) for m in members])
            centre_units = {int(prob.unit_of[c]) for c in centres}
            improved_any = False
            while True:
                improved = False
                for u in rng.permutation(self.n_units):
                    if prob.unit_lock[u] >= 0 or u in centre_units:
                        continue
                    a = unit_label[u]
                    targets = sorted({unit_label[v] for v in self.unit_nb[u]} - {a})
                    if not targets:
                        continue
                    blocks_u = prob.units[u]
                    hu = self.unit_hours[u]
                    best = None
                    for b in targets:
                        dv = (
                            _violation(hours[a] - hu, lo, hi)
                            + _violation(hours[b] + hu, lo, hi)
                            - _violation(hours[a], lo, hi)
                            - _violation(hours[b], lo, hi)
                        )
                        to_b = ctx.minutes[blocks_u, centres[b]] - ctx.minutes[blocks_u, centres[a]]
                        dc = float(ctx.hours[blocks_u] @ to_b)
                        if align and not self.multi:
                            q = ctx.pcn[blocks_u[0]]
                            row = table[q].copy()
                            before = row.max()
                            row[a] -= hu
                            row[b] += hu
                            dc += split_cost * (before - row.max())
                        cand = (dv, dc, b)
                        if best is None or cand[:2] < best[:2]:
                            best = cand
                    if best is None:
                        continue
                    dv, dc, b = best
                    cheap_ok = dv < -1e-9 or (dv <= 1e-9 and dc < -1e-9)
                    if pieces.sum() == k and not cheap_ok:
                        continue
                    rest = members[a].difference(blocks_u.tolist())
                    if not rest:
                        continue
                    pa = _pieces(list(rest), ctx.neighbours)
                    pb = _pieces(list(members[b].union(blocks_u.tolist())), ctx.neighbours)
                    dp = pa + pb - pieces[a] - pieces[b]
                    if not (dp < 0 or (dp == 0 and cheap_ok)):
                        continue
                    unit_label[u] = b
                    labels[blocks_u] = b
                    members[a] = rest
                    members[b].update(blocks_u.tolist())
                    hours[a] -= hu
                    hours[b] += hu
                    pieces[a], pieces[b] = pa, pb
                    np.add.at(table, (ctx.pcn[blocks_u], a), -ctx.hours[blocks_u])
                    np.add.at(table, (ctx.pcn[blocks_u], b), ctx.hours[blocks_u])
                    improved = improved_any = True
                if not improved and not self._swap(
                    labels, unit_label, members, hours, centres, centre_units, table, rng
                ):
                    break
                improved_any = True
            if not improved_any:
                break  # a full sweep with fixed centres found nothing; centres are the medoids
        return labels

    def _swap(self, labels, unit_label, members, hours, centres, centre_units, table, rng) -> bool:
        """One improving swap of two boundary units between neighbouring patches, if any."""
        prob, ctx = self.prob, self.prob.ctx
        if self.multi:
            return False  # PCN units are few; moves suffice and swaps would be costly to check
        align = prob.settings.pcn_policy == "align"
        split_cost = prob.settings.pcn_split_cost_min
        lo, hi = prob.lower, prob.upper
        viol0 = sum(_violation(h, lo, hi) for h in hours)
        pairs: dict[tuple[int, int], list[int]] = {}
        for u in range(self.n_units):
            if prob.unit_lock[u] >= 0 or u in centre_units:
                continue
            a = unit_label[u]
            for b in {unit_label[v] for v in self.unit_nb[u]} - {a}:
                pairs.setdefault((a, b), []).append(u)
        cands = []
        for (a, b), us in pairs.items():
            if a > b or (b, a) not in pairs:
                continue
            vs = pairs[(b, a)]
            ua = np.array([prob.units[u][0] for u in us])
            vb = np.array([prob.units[v][0] for v in vs])
            gain_u = ctx.hours[ua] * (ctx.minutes[ua, centres[b]] - ctx.minutes[ua, centres[a]])
            gain_v = ctx.hours[vb] * (ctx.minutes[vb, centres[a]] - ctx.minutes[vb, centres[b]])
            dcost = gain_u[:, None] + gain_v[None, :]
            dh = ctx.hours[ua][:, None] - ctx.hours[vb][None, :]  # hours leaving a
            for i, j in zip(*np.nonzero(dcost < -1e-9), strict=True):
                cands.append((float(dcost[i, j]), int(us[i]), int(vs[j]), a, b, float(dh[i, j])))
        cands.sort()
        for dc, u, v, a, b, dh in cands:
            new_ha, new_hb = hours[a] - dh, hours[b] + dh
            viol1 = viol0 - _violation(hours[a], lo, hi) - _violation(hours[b], lo, hi)
            viol1 += _violation(new_ha, lo, hi) + _violation(new_hb, lo, hi)
            if viol1 > viol0 + 1e-9:
                continue
            if align:
                iu, iv = prob.units[u][0], prob.units[v][0]
                t2 = table.copy()
                t2[ctx.pcn[iu], a] -= ctx.hours[iu]
                t2[ctx.pcn[iu], b] += ctx.hours[iu]
                t2[ctx.pcn[iv], b] -= ctx.hours[iv]
                t2[ctx.pcn[iv], a] += ctx.hours[iv]
                dsplit = (table.max(axis=1).sum() - t2.max(axis=1).sum()) * split_cost
                if dc + dsplit >= -1e-9:
                    continue
            iu, iv = int(prob.units[u][0]), int(prob.units[v][0])
            new_a = (members[a] - {iu}) | {iv}
            new_b = (members[b] - {iv}) | {iu}
            if (
                _pieces(list(new_a), ctx.neighbours) != 1
                or _pieces(list(new_b), ctx.neighbours) != 1
            ):
                continue
            members[a], members[b] = new_a, new_b
            labels[iu], labels[iv] = b, a
            unit_label[u], unit_label[v] = b, a
            hours[a], hours[b] = new_ha, new_hb
            table[ctx.pcn[iu], a] -= ctx.hours[iu]
            table[ctx.pcn[iu], b] += ctx.hours[iu]
            table[ctx.pcn[iv], b] -= ctx.hours[iv]
            table[ctx.pcn[iv], a] += ctx.hours[iv]
            return True
        return False


def _search_key(labels: np.ndarray, prob: _Problem) -> tuple[int, float, float]:
    ctx = prob.ctx
    pieces = sum(_pieces(np.flatnonzero(labels == p), ctx.neighbours) for p in range(prob.k))
    hours = np.bincount(labels, weights=ctx.hours, minlength=prob.k)
    viol = sum(_violation(h, prob.lower, prob.upper) for h in hours)
    return pieces - prob.k, viol, _objective(labels, prob)[0]


def _local_search(prob: _Problem, seed: int) -> tuple[np.ndarray, tuple[int, float, float], int]:
    """Best layout over ``settings.starts`` starts; returns labels, its key and the starts that ran."""
    search = _Search(prob)
    best: tuple[tuple[int, float, float], np.ndarray] | None = None
    streams = np.random.SeedSequence(seed).spawn(max(1, prob.settings.starts))
    for stream in streams:
        rng = np.random.default_rng(stream)
        labels = search.grow(rng)
        if labels is None:
            continue
        labels = search.improve(labels, rng)
        key = _search_key(labels, prob)
        if best is None or key < best[0]:
            best = (key, labels.copy())
    if best is None:
        raise PatchDesignError(
            "locks/contiguity: no start could grow every patch from its seed and locked blocks; "
            "check that blocks locked to one patch can be joined without crossing another's"
        )
    return best[1], best[0], len(streams)


# --------------------------------------------------------------------------------------------------
# CP-SAT exact model


def _scale(values: np.ndarray, target: float = 1000.0) -> float:
    """A power of ten that brings the largest value to at most ``target`` (integers stay exact)."""
    top = float(np.max(np.abs(values))) if len(values) else 0.0
    if top <= 0:
        return 1.0
    return float(10.0 ** math.floor(math.log10(target / top)))


def _cp_sat(
    prob: _Problem, seed: int, hint: np.ndarray | None, with_balance: bool = True
) -> tuple[str, np.ndarray | None, float | None]:
    """Solve the p-median districting model exactly; returns (status, labels, relative gap).

    Variables ``x[i, c]`` = block i belongs to the patch centred on block c (``x[c, c]`` opens c).
    Contiguity: for each centre a flow of one unit to every member, carried only through members.
    """
    from ortools.sat.python import cp_model

    ctx, k, s = prob.ctx, prob.k, prob.settings
    n = len(ctx.block_ids)
    sh, st = _scale(ctx.hours), _scale(ctx.minutes.ravel())
    h = np.round(ctx.hours * sh).astype(int)
    t = np.round(ctx.minutes * st).astype(int)
    model = cp_model.CpModel()
    x = {(i, c): model.new_bool_var(f"x{i}_{c}") for i in range(n) for c in range(n)}
    for i in range(n):
        model.add_exactly_one(x[i, c] for c in range(n))
        for c in range(n):
            if i != c:
                model.add_implication(x[i, c], x[c, c])
    model.add(sum(x[c, c] for c in range(n)) == k)
    if with_balance:
        # Hours are scaled to integers rounded down for the lower bound and up for the upper one,
        # so a layout the model accepts keeps the true hours within the limits (rounding to the
        # nearest let a patch 0.1 h over its limit through).
        lo = math.ceil(prob.lower * sh - 1e-9)
        hi = math.floor(prob.upper * sh + 1e-9)
        h_lo = np.floor(ctx.hours * sh + 1e-9).astype(int)
        h_hi = np.ceil(ctx.hours * sh - 1e-9).astype(int)
        for c in range(n):
            model.add(sum(int(h_lo[i]) * x[i, c] for i in range(n)) >= lo * x[c, c])
            model.add(sum(int(h_hi[i]) * x[i, c] for i in range(n)) <= hi * x[c, c])
    arcs = [(i, j) for i in range(n) for j in ctx.neighbours[i]]
    for c in range(n):
        f = {a: model.new_int_var(0, n - 1, f"f{c}_{a[0]}_{a[1]}") for a in arcs}
        inflow: list[list] = [[] for _ in range(n)]
        outflow: list[list] = [[] for _ in range(n)]
        for (i, j), var in f.items():
            model.add(var <= (n - 1) * x[i, c])
            model.add(var <= (n - 1) * x[j, c])
            inflow[j].append(var)
            outflow[i].append(var)
        for i in range(n):
            if i != c:
                model.add(sum(inflow[i]) - sum(outflow[i]) == x[i, c])
    # Locks: one label ⇒ same patch; two labels ⇒ different patches. Nest: a PCN moves as one.
    groups: dict[int, list[int]] = {}
    for u, p in enumerate(prob.unit_lock):
        if p >= 0:
            groups.setdefault(int(p), []).extend(prob.units[u].tolist())
    together = [g for g in groups.values()] + [m.tolist() for m in prob.units if len(m) > 1]
    for g in together:
        for j in g[1:]:
            for c in range(n):
                model.add(x[g[0], c] == x[j, c])
    reps = [g[0] for g in groups.values()]
    for a_i, a in enumerate(reps):
        for b in reps[a_i + 1 :]:
            for c in range(n):
                model.add_bool_or([x[a, c].negated(), x[b, c].negated()])
    pairs = [(i, c) for i in range(n) for c in range(n) if h[i] and t[i, c]]
    cost = cp_model.LinearExpr.weighted_sum(
        [x[i, c] for i, c in pairs], [int(h[i] * t[i, c]) for i, c in pairs]
    )
    if s.pcn_policy == "align" and s.pcn_split_cost_min > 0:
        # Each PCN names a home patch (y) among the patches holding some of it; its hours in that
        # patch count as aligned (a). Minimisation makes the home the PCN's majority patch, so the
        # penalty equals the split cost × the PCN's hours outside its majority patch.
        w = int(round(s.pcn_split_cost_min * st))
        for q in range(len(ctx.pcn_names)):
            members = [int(i) for i in np.flatnonzero(ctx.pcn == q) if h[i] > 0]
            total_q = int(sum(h[i] for i in members))
            if not members:
                continue
            y = [model.new_bool_var(f"home{q}_{c}") for c in range(n)]
            model.add_exactly_one(y)
            aligned = []
            for c in range(n):
                model.add(y[c] <= sum(x[i, c] for i in members))
                held = model.new_int_var(0, total_q, f"aligned{q}_{c}")
                model.add(held <= total_q * y[c])
                model.add(held <= sum(int(h[i]) * x[i, c] for i in members))
                aligned.append(held)
            cost += int(w) * (total_q - cp_model.LinearExpr.sum(aligned))
    model.minimize(cost)
    if hint is not None:
        centres = _objective(hint, prob)[1]
        for i in range(n):
            for c in range(n):
                model.add_hint(x[i, c], bool(centres[hint[i]] == c))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = int(seed)
    solver.parameters.max_deterministic_time = float(s.time_limit_s)
    solver.parameters.linearization_level = 2
    # CP-SAT would catch Ctrl-C itself and return its best solution as if nothing had happened
    solver.parameters.catch_sigint_signal = False
    with stoppable(solver.stop_search):
        status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return ("infeasible" if status == cp_model.INFEASIBLE else "unknown"), None, None
    centre_of = np.array([next(c for c in range(n) if solver.value(x[i, c])) for i in range(n)])
    order = sorted(set(centre_of.tolist()))
    labels = np.array([order.index(c) for c in centre_of])
    obj, bound = solver.objective_value, solver.best_objective_bound
    gap = 0.0 if status == cp_model.OPTIMAL else max(0.0, (obj - bound) / max(abs(obj), 1e-9))
    return ("optimal" if status == cp_model.OPTIMAL else "feasible"), labels, gap


def _explain_infeasible(prob: _Problem, seed: int) -> PatchDesignError:
    """Name the constraint behind a proven-infeasible exact model."""
    status, _, _ = _cp_sat(prob, seed, None, with_balance=False)
    tau = prob.settings.balance_tolerance
    if status == "optimal" or status == "feasible":
        return PatchDesignError(
            f"balance: no contiguous split into {prob.k} patches keeps every patch within ±{tau:.0%} "
            f"of the mean ({prob.lower:.1f}-{prob.upper:.1f} hours/week){_context_note(prob)} "
            "(proven by CP-SAT)"
        )
    if (prob.unit_lock >= 0).any():
        return PatchDesignError(
            "locks/contiguity: the locked blocks cannot all stay in their patches with every patch "
            "connected (proven by CP-SAT)"
        )
    return PatchDesignError(
        f"contiguity: no split into {prob.k} connected patches exists{_context_note(prob)}"
        " (proven by CP-SAT)"
    )


def _context_note(prob: _Problem) -> str:
    notes = []
    if prob.settings.pcn_policy == "nest":
        notes.append("whole PCNs")
    if (prob.unit_lock >= 0).any():
        notes.append("the locked blocks")
    return f" with {' and '.join(notes)}" if notes else ""


# --------------------------------------------------------------------------------------------------
# Public entry points


def _relabel(labels: np.ndarray, prob: _Problem, centres: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Stable patch ids: locked patches keep theirs; the rest run north to south, then west to east."""
    k = prob.k
    fixed: dict[int, int] = {}
    for u, p in enumerate(prob.unit_lock):
        if p >= 0:
            fixed[int(labels[prob.units[u][0]])] = int(p)
    free_ids = [p for p in range(k) if p not in fixed.values()]
    rest = [p for p in range(k) if p not in fixed]
    rest.sort(key=lambda p: (-round(xy[centres[p], 1]), round(xy[centres[p], 0])))
    mapping = dict(fixed)
    mapping.update(zip(rest, free_ids, strict=True))
    return np.array([mapping[p] for p in labels])


def _solve(prob: _Problem, blocks: gpd.GeoDataFrame, seed: int) -> PatchDesign:
    ctx = prob.ctx
    n = len(ctx.block_ids)
    ls_labels, key, starts = _local_search(prob, seed)
    ls_ok = key[0] == 0 and key[1] <= 1e-6
    labels, method, gap = ls_labels, f"local search ({starts} starts)", None
    if n <= prob.settings.exact_max_blocks:
        status, cp_labels, cp_gap = _cp_sat(prob, seed, ls_labels if ls_ok else None)
        if status == "infeasible":
            raise _explain_infeasible(prob, seed)
        if cp_labels is not None:
            cp_obj = _objective(cp_labels, prob)[0]
            if not ls_ok or cp_obj <= key[2] + 1e-9:
                labels, method, gap = cp_labels, f"cp-sat {status}", cp_gap
            else:
                method, gap = f"local search ({starts} starts), cp-sat bound", cp_gap
        elif not ls_ok:
            raise PatchDesignError(
                "cp-sat: no layout found within time_limit_s; raise the limit or relax the request"
            )
    elif not ls_ok:
        if key[0] > 0:
            raise PatchDesignError(
                f"contiguity: the search could not make all {prob.k} patches connected"
                f"{_context_note(prob)}; try another K or fewer locks"
            )
        hours = np.bincount(labels, weights=ctx.hours, minlength=prob.k)
        worst = float(np.max(np.abs(hours / hours.mean() - 1)))
        raise PatchDesignError(
            f"balance: the best contiguous layout found has a patch {worst:.1%} from the mean, above "
            f"the ±{prob.settings.balance_tolerance:.0%} limit{_context_note(prob)} "
            f"({starts} starts); widen balance_tolerance or change K"
        )
    # verified once relabelled: the exact model's own patch numbers do not follow the locks' ids
    objective, centres = _objective(labels, prob)
    pts = _block_points(blocks)
    xy = np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])
    labels = _relabel(labels, prob, centres, xy)
    _verify(labels, prob)
    objective, centres = _objective(labels, prob)
    patch_ids = [patch_label(p) for p in range(prob.k)]
    layout = pd.Series(
        [patch_ids[p] for p in labels],
        index=pd.Index(ctx.block_ids, name="block_id"),
        name="patch_id",
    )
    score = _score(labels, patch_ids, ctx, prob.settings)
    return PatchDesign(
        layout=layout,
        patches=_patch_table(layout, blocks, score),
        score=score,
        method=method,
        gap=gap,
        objective=objective,
        k=prob.k,
        details={"estimate": ctx.estimate, "unreachable_pairs": ctx.unreachable_pairs},
    )


def _patch_table(
    layout: pd.Series, blocks: gpd.GeoDataFrame, score: pd.DataFrame
) -> gpd.GeoDataFrame:
    frame = blocks[["block_id", "pcn_id", "geometry"]].copy()
    frame["block_id"] = frame["block_id"].astype(str)
    frame["patch_id"] = frame["block_id"].map(layout)
    geoms = frame.dissolve(by="patch_id")["geometry"]
    pcns = frame.groupby("patch_id")["pcn_id"].agg(lambda s: ",".join(sorted(set(map(str, s)))))
    rows = score.drop(index="all")
    out = gpd.GeoDataFrame(
        {
            "patch_id": rows["patch_id"].to_numpy(),
            "hours_week": rows["hours_week"].to_numpy(),
            "people": rows["people"].to_numpy(),
            "n_blocks": rows["n_blocks"].to_numpy(dtype=int),
            "pcn_ids": pcns.reindex(rows["patch_id"]).to_numpy(),
            "centre_block_id": rows["centre_block_id"].to_numpy(),
        },
        geometry=geoms.reindex(rows["patch_id"]).to_numpy(),
        crs=blocks.crs,
    )
    return out


def design_patches(
    blocks: gpd.GeoDataFrame,
    adjacency: nx.Graph,
    block_demand: pd.DataFrame,
    travel: TravelTimes | TravelMatrix,
    settings: PatchSettings = PatchSettings(),
    seed: int = 0,
) -> PatchDesign:
    """Design K contiguous, balanced, compact, PCN-aware patches from blocks.

    Parameters
    ----------
    blocks : GeoDataFrame ``block_id``, ``pcn_id``, geometry (EPSG:27700), optionally ``area_m2`` (m²).
    adjacency : networkx Graph on ``block_id`` (blocks that share a boundary).
    block_demand : DataFrame indexed by ``block_id``: ``hours_week`` (care hours/week), ``people``,
        optionally ``visits`` (per week). Absent blocks have zero demand.
    travel : ``TravelTimes`` for the carers' mode (a matrix between block representative points is
        computed once), or a ``TravelMatrix`` already in ``blocks`` order (minutes, metres).
    settings : :class:`PatchSettings` (K, balance, PCN policy, locks, seeds, solver limits).
    seed : random seed; the same inputs and seed give the same layout.

    Returns
    -------
    PatchDesign
        Layout, patches table, score, method, proven gap (CP-SAT only) and objective
        (hour·minutes/week; see the module docstring).

    Raises
    ------
    PatchDesignError
        When the request is impossible or no layout meeting every constraint is found; the message
        names the constraint (k, balance, contiguity, locks, pcn_policy nest, provider size).
    """
    ctx = _prepare(blocks, adjacency, block_demand, travel, settings)
    return _solve(_problem(ctx, settings), blocks, seed)


def design_from_layout(
    layout: pd.Series,
    blocks: gpd.GeoDataFrame,
    adjacency: nx.Graph,
    block_demand: pd.DataFrame,
    travel: TravelTimes | TravelMatrix,
    settings: PatchSettings = PatchSettings(),
) -> PatchDesign:
    """A given layout (e.g. lots edited by hand) as a :class:`PatchDesign`, scored, not designed.

    The layout is scored with the same yardstick as a designed one (:func:`score_patches`), so every
    later stage (rounds, savings, maps, report) treats it the same way; nothing is checked against
    the balance limit or K here (``patchplan.layout.check_layout`` checks what must hold).

    Parameters
    ----------
    layout : Series block_id → patch id (any ids) covering every block.
    blocks, adjacency, block_demand, travel, settings : as for :func:`design_patches`.

    Returns
    -------
    PatchDesign with ``method`` "given layout", ``gap`` None and the score's objective
    (hour·minutes/week).
    """
    score = score_patches(layout, blocks, block_demand, travel, settings, adjacency)
    given = pd.Series(
        layout.astype(str).to_numpy(),
        index=pd.Index(layout.index.astype(str), name="block_id"),
        name="patch_id",
    ).reindex(blocks["block_id"].astype(str))
    return PatchDesign(
        layout=given,
        patches=_patch_table(given, blocks, score),
        score=score,
        method="given layout",
        gap=None,
        objective=float(score.loc["all", "objective"]),
        k=len(score) - 1,
        details={"estimate": bool(score.loc["all", "estimate"])},
    )


def tradeoff_table(
    blocks: gpd.GeoDataFrame,
    adjacency: nx.Graph,
    block_demand: pd.DataFrame,
    travel: TravelTimes | TravelMatrix,
    k_range: Sequence[int] = range(4, 16),
    settings: PatchSettings = PatchSettings(),
    seed: int = 0,
) -> pd.DataFrame:
    """What each extra lot buys: design for every K in ``k_range`` and tabulate the results.

    Returns
    -------
    DataFrame indexed by ``k``: ``objective`` (hour·minutes/week), ``objective_change`` (fraction
    versus the previous K), ``worst_balance`` (largest |deviation| from the mean, fraction),
    ``travel_min_per_leg`` (expected minutes between consecutive visits), ``walk_share``,
    ``pcn_alignment``, ``hours_per_patch`` (mean, hours/week), ``method``, ``gap``, and ``status``
    ("ok", or the :class:`PatchDesignError` message when that K is impossible).
    """
    ctx = _prepare(blocks, adjacency, block_demand, travel, settings)
    rows = []
    for k in k_range:
        row: dict[str, object] = {"k": int(k)}
        try:
            design = _solve(_problem(ctx, settings, k=int(k)), blocks, seed)
        except PatchDesignError as err:
            row["status"] = str(err)
            rows.append(row)
            continue
        overall = design.score.loc["all"]
        row.update(
            objective=design.objective,
            worst_balance=float(overall["balance_dev"]),
            travel_min_per_leg=float(overall["travel_min_per_leg"]),
            walk_share=float(overall["walk_share"]),
            pcn_alignment=float(overall["pcn_alignment"]),
            hours_per_patch=float(ctx.hours.sum() / k),
            method=design.method,
            gap=design.gap,
            status="ok",
        )
        rows.append(row)
    table = pd.DataFrame(rows).set_index("k")
    if "objective" in table:
        table.insert(1, "objective_change", table["objective"].pct_change(fill_method=None))
    return table


def compare_layouts(
    layouts: dict[str, pd.Series],
    blocks: gpd.GeoDataFrame,
    block_demand: pd.DataFrame,
    travel: TravelTimes | TravelMatrix,
    settings: PatchSettings = PatchSettings(),
    adjacency: nx.Graph | None = None,
) -> pd.DataFrame:
    """Several layouts (e.g. the proposed lots and today's contract areas) side by side.

    Parameters
    ----------
    layouts : name → Series block_id → area id, each covering every block.
    blocks, block_demand, travel, settings, adjacency : as for :func:`score_patches`.

    Returns
    -------
    DataFrame indexed by layout name: ``areas`` (count), ``worst_balance`` (largest |deviation|
    of an area's care hours from the mean, fraction), ``contiguous_areas`` (count in one piece),
    ``pcn_alignment`` (share of care hours in the area holding most of their PCN's hours),
    ``travel_min_per_leg`` (expected minutes between two visits in the same area), ``walk_share``
    (share of those legs within walking reach) and ``estimate``.
    """
    rows = {}
    for name, layout in layouts.items():
        score = score_patches(layout, blocks, block_demand, travel, settings, adjacency)
        areas, overall = score.drop(index="all"), score.loc["all"]
        rows[name] = {
            "areas": len(areas),
            "worst_balance": float(overall["balance_dev"]),
            "contiguous_areas": int(areas["contiguous"].sum()),
            "pcn_alignment": float(overall["pcn_alignment"]),
            "travel_min_per_leg": float(overall["travel_min_per_leg"]),
            "walk_share": float(overall["walk_share"]),
            "estimate": bool(overall["estimate"]),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("layout")


def lot_names(place_hours: pd.DataFrame, top: int = 2) -> pd.Series:
    """Each lot named after the places holding most of its care hours, e.g. "Firth Park & Shiregreen".

    Parameters
    ----------
    place_hours : rows of ``patch_id``, ``place`` (a neighbourhood or ward, a town or village; blank
        rows do not name their lot) and ``hours_week``, at any grain (blocks, people); rows of the
        same lot and place are summed
    top : most names per lot (names with no care hours are used only when none has any)

    Returns
    -------
    Series ``patch_id`` → name, sorted by ``patch_id`` ("" for a lot with no named row).
    """
    frame = place_hours.dropna(subset=["place"])
    frame = frame[frame["place"].astype(str).str.strip() != ""]
    hours = frame.groupby(["patch_id", "place"], sort=True)["hours_week"].sum().reset_index()
    busy = hours.groupby("patch_id")["hours_week"].transform("max") > 0
    hours = hours[~busy | (hours["hours_week"] > 0)]
    hours = hours.sort_values(["patch_id", "hours_week", "place"], ascending=[True, False, True])
    names = hours.groupby("patch_id")["place"].apply(lambda p: " & ".join(p.head(top)))
    patch_ids = pd.Index(sorted(place_hours["patch_id"].dropna().unique()), name="patch_id")
    return names.reindex(patch_ids).fillna("").rename("name")
