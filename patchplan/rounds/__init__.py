"""Carers' daily visit rounds: a model of our own nouns (visit, carer, round) over OR-Tools routing.

Nothing outside this module sees a routing index. :func:`plan_rounds` takes the visits and carers
tables of ``docs/data-contracts.md`` and one :class:`~patchplan.matrix.TravelTimes` per travel mode,
and returns a :class:`RoundsResult`: the rounds, the visits that could not be served (with a reason),
the breaks taken and a dict of KPIs.

Model
-----
* A **visit** is a node with a window for the *start* of service (``earliest``..``latest``, minutes
  after midnight) and a ``duration`` (minutes). ``carers == 2`` (a double-up) becomes two copies of
  the node that must be served by two *different* carers starting at the same minute, with equal
  active flags (the OR-Tools maintainers' recipe). Required ``skills`` restrict which carers may
  serve it. An optional ``preferred_carers`` column (comma-separated carer ids) makes service by
  anyone else cost ``continuity_cost_min``. An optional ``demand`` column (int) with a ``capacity``
  column on carers adds a load dimension (used by the Solomon benchmark).
* A **carer** is a vehicle starting and ending at its base (the carer's geometry), travelling by its
  ``mode``; its time is bounded by ``shift_start``..``shift_end`` and ``max_minutes`` (span of the
  round, waiting and break included). A break of ``break_minutes`` must *start* within
  ``break_earliest``..``break_latest``; it is an OR-Tools break interval, so it falls between two
  stops, or before the round starts / after it ends (the carer is then not working anyway).
* **Time** is an OR-Tools dimension of travel + service with waiting allowed. Travel minutes from
  the matrix are converted to integer units of ``1 / time_units_per_min`` minutes by rounding *up*
  (``ceil``), so a planned arrival is never earlier than the matrix says. The objective is travel
  time (in the same units) + ``carer_fixed_cost_min`` per carer used + continuity costs +
  ``unserved_penalty_min`` per unserved visit copy (+ optional lateness cost).
* **Walking** legs longer than ``max_walk_leg_min`` count as unreachable on foot.
* **Unserved** visits: before solving, each visit is checked against every carer: skills, whether the
  carer's mode reaches it (there and back), and whether its window fits the shift (travel from and
  back to base, ``max_minutes``). The first check that rules out every carer (two carers for a
  double-up) gives the reason; a visit dropped by the solver is "capacity exhausted", or, when the
  wall-clock cap cut the search, "not placed before the time limit".

Determinism
-----------
Routing local search is deterministic except where a wall-clock limit cuts it. With
``deterministic=True`` (the default) the search stops on work counts, not time: the optional PyVRP
seed stops after ``seed_iterations`` iterations with the fixed ``seed``, and OR-Tools guided local
search stops after ``solution_limit`` accepted solutions, after ``stall_solutions`` accepted
solutions in a row without a new best, or after ``branch_limit`` search branches, whichever comes
first (on a plateau each accepted solution
costs a full neighbourhood scan, so this is what keeps a 150-visit day with breaks and double-ups
well inside the cap). OR-Tools' LP schedulers are kept out of move filtering unless
``scheduling_filters`` (with breaks they made each candidate move ~10x dearer); every accepted
move is still checked by constraint propagation. ``time_limit_s`` is then only a safety cap;
if it is reached, ``kpis["time_limit_reached"]`` is 1 and the result may vary between runs. With
``deterministic=False`` the whole ``time_limit_s`` is used (the seed gets ``seed_time_share``).

Seeding
-------
When PyVRP is importable, ``seed_with_pyvrp`` is True and the day has no double-ups, a relaxed copy of the problem (single-carer
visits only; no breaks, continuity or double-ups; skills and modes as routing profiles) is solved by
PyVRP, and its routes are read into OR-Tools route by route; a route OR-Tools rejects under the full
constraints is skipped. OR-Tools then inserts the rest and improves with guided local search, so every
side constraint is enforced by OR-Tools. Double-up pairs are placed first by our own greedy pair
insertion (time slack on both routes, each candidate checked by OR-Tools' ``ReadAssignmentFromRoutes``
under all constraints), since routing's insertion heuristics cannot place two coupled copies; local
search then adds the single visits. Otherwise the first solution is OR-Tools' own
``PARALLEL_CHEAPEST_INSERTION``.

Tables (see ``docs/data-contracts.md``)
---------------------------------------
``rounds``: ``carer_id, day, order, visit_id, person_id, arrival, start, end, wait, travel_min,
travel_m, mode`` (minutes after midnight / minutes / metres; the leg *into* the stop; a final
``"<return>"`` row per carer). ``unserved``: ``visit_id, person_id, day, reason``. ``breaks``:
``carer_id, day, start, end``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import geopandas as gpd
import numpy as np
import pandas as pd
from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from shapely.geometry import LineString, Point

from patchplan.errors import RoundsError
from patchplan.matrix import TravelMatrix, TravelTimes
from patchplan.parallel import map_tasks

__all__ = [
    "REASON_CAPACITY",
    "REASON_TIME_LIMIT",
    "REASON_NO_SKILL",
    "REASON_NO_WINDOW",
    "REASON_UNREACHABLE",
    "RETURN",
    "RoundsResult",
    "RoundsSettings",
    "combine_results",
    "compact_groups",
    "legs_geometry",
    "plan_many",
    "plan_rounds",
]

RETURN = "<return>"
"""``visit_id`` of the final row of each round: the leg back to base."""

REASON_NO_SKILL = "no carer with the skill"
REASON_UNREACHABLE = "unreachable on this mode"
REASON_NO_WINDOW = "no time window fits any shift"
REASON_CAPACITY = "capacity exhausted"
REASON_TIME_LIMIT = "not placed before the time limit (raise [rounds] time_limit_s)"

ROUNDS_COLUMNS = [
    "carer_id", "day", "order", "visit_id", "person_id", "arrival", "start", "end", "wait",
    "travel_min", "travel_m", "mode",
]  # fmt: skip
UNSERVED_COLUMNS = ["visit_id", "person_id", "day", "reason"]
BREAK_COLUMNS = ["carer_id", "day", "start", "end"]
LEG_COLUMNS = ["from_x", "from_y", "to_x", "to_y"]

VISIT_COLUMNS = ["visit_id", "person_id", "day", "earliest", "latest", "duration", "carers"]
CARER_COLUMNS = [
    "carer_id", "mode", "shift_start", "shift_end", "max_minutes",
    "break_earliest", "break_latest", "break_minutes", "skills",
]  # fmt: skip

_BIG_COST = 10**9

CARER_KIND = [
    "mode", "shift_start", "shift_end", "max_minutes", "break_earliest", "break_latest",
    "break_minutes", "skills",
]  # fmt: skip
"""Columns that make carers interchangeable when a large day is shared out (apart from base)."""


@dataclass(frozen=True)
class RoundsSettings:
    """Settings of the rounds solver (scenario section ``[rounds]``).

    Attributes
    ----------
    time_limit_s : wall-clock limit per (patch, day) problem, seconds (a safety cap when
        ``deterministic``).
    seed : random seed (PyVRP seeding).
    carer_fixed_cost_min : cost of using a carer at all, in minutes of travel, so rounds are not
        spread thin.
    continuity_cost_min : cost, in minutes of travel, of a visit served by a carer outside the
        person's ``preferred_carers``.
    unserved_penalty_min : cost, in minutes of travel, of leaving one visit copy unserved.
    punctuality_tolerance_min : a visit is punctual if it starts at most this many minutes after
        its ``earliest`` (KPI; also the soft bound of ``lateness_cost_per_min``).
    lateness_cost_per_min : cost per minute of starting later than ``earliest +
        punctuality_tolerance_min`` (0 = windows are the only timing rule).
    workers : processes for :func:`plan_many` (1 = in this process).
    time_units_per_min : internal time resolution (1 = whole minutes; 100 for the Solomon
        benchmark, where distances need 0.01 precision).
    deterministic : stop on work counts (``seed_iterations``, ``solution_limit``) rather than time.
    solution_limit : accepted OR-Tools local-search solutions before stopping (when deterministic).
    seed_with_pyvrp : seed OR-Tools with PyVRP routes when PyVRP is installed.
    seed_iterations : PyVRP iterations for the seed (when deterministic).
    seed_time_share : share of ``time_limit_s`` given to the PyVRP seed (when not deterministic).
    stall_solutions : when deterministic, also stop guided local search after this many accepted
        solutions in a row without a new best objective (0 = only ``solution_limit``). Once the
        search is on a plateau each accepted solution costs a full neighbourhood scan, so this is
        what keeps large days inside the time cap.
    scheduling_filters : let OR-Tools filter moves with its LP/MIP schedulers (breaks, soft
        bounds). Off by default: with breaks they cost ~100 µs per candidate move; feasibility is
        still enforced by OR-Tools' constraint propagation on every move accepted.
    branch_limit : when deterministic, also stop after this many search-tree branches, a work
        count: a 100-visit part takes about 10,000, but on a tiny problem (one visit left for one
        carer) guided local search finds no move to accept and would otherwise spin until the time
        cap (0 = no limit).
    max_walk_leg_min : longest walk a walking carer is asked to make for one leg (base to visit,
        visit to visit, visit to base), minutes; longer walks count as unreachable on foot (0 = no
        limit). Without it the solver, which values a served visit far above travel, sends walkers
        on walks of hours in rural patches rather than leave a visit unserved.
    max_visits_per_problem : a day with more visit copies than this is cut into compact
        geographic parts, each planned with its share of the carers, then the visits they left
        are offered to the carers no part used (0 = never cut). Routing search grows much faster
        than linearly: a 500-visit day with 114 carers placed nothing in 2 minutes, while five
        100-visit parts take a few seconds each.
    """

    time_limit_s: float = 10.0
    seed: int = 1
    carer_fixed_cost_min: int = 60
    continuity_cost_min: int = 15
    unserved_penalty_min: int = 10_000
    punctuality_tolerance_min: int = 30
    lateness_cost_per_min: int = 0
    workers: int = 1
    time_units_per_min: int = 1
    deterministic: bool = True
    solution_limit: int = 3_000
    seed_with_pyvrp: bool = True
    seed_iterations: int = 2_000
    seed_time_share: float = 0.5
    stall_solutions: int = 10
    scheduling_filters: bool = False
    max_visits_per_problem: int = 100
    max_walk_leg_min: float = 30.0
    branch_limit: int = 2_000_000


@dataclass
class RoundsResult:
    """Rounds for one or more (patch, day) problems.

    Attributes
    ----------
    rounds : DataFrame, columns ``ROUNDS_COLUMNS`` (minutes after midnight, minutes, metres).
    unserved : DataFrame ``visit_id, person_id, day, reason``.
    kpis : named figures, units in the names.
    breaks : DataFrame ``carer_id, day, start, end`` (minutes after midnight) of breaks taken.
    legs : DataFrame ``from_x, from_y, to_x, to_y`` (EPSG:27700 metres), aligned with ``rounds``,
        the end points of each leg; :func:`legs_geometry` turns them into street paths.
    """

    rounds: pd.DataFrame
    unserved: pd.DataFrame
    kpis: dict[str, float]
    breaks: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=BREAK_COLUMNS))
    legs: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=LEG_COLUMNS))
    visits: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)


# --------------------------------------------------------------------------------------------
# validation


def _split_ids(text: object) -> frozenset[str]:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return frozenset()
    return frozenset(s.strip() for s in str(text).split(",") if s.strip())


def _validate(visits: pd.DataFrame, carers: pd.DataFrame, travel: dict[str, TravelTimes]) -> None:
    for name, frame, cols in (("visits", visits, VISIT_COLUMNS), ("carers", carers, CARER_COLUMNS)):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise RoundsError(f"{name} table lacks column(s) {', '.join(missing)}")
        if "geometry" not in frame.columns:
            raise RoundsError(f"{name} table has no geometry")
    for name, frame, key in (("visits", visits, "visit_id"), ("carers", carers, "carer_id")):
        dup = frame[key][frame[key].duplicated()]
        if len(dup):
            raise RoundsError(f"{name}: duplicate {key} {dup.iloc[0]!r}")
    bad = visits[visits["latest"] < visits["earliest"]]
    if len(bad):
        r = bad.iloc[0]
        raise RoundsError(
            f"visit {r.visit_id}: latest ({r.latest}) is before earliest ({r.earliest})"
        )
    bad = visits[~visits["carers"].isin([1, 2])]
    if len(bad):
        raise RoundsError(f"visit {bad.iloc[0].visit_id}: carers must be 1 or 2")
    bad = visits[visits["duration"] < 0]
    if len(bad):
        raise RoundsError(f"visit {bad.iloc[0].visit_id}: negative duration")
    bad = carers[carers["shift_end"] < carers["shift_start"]]
    if len(bad):
        raise RoundsError(f"carer {bad.iloc[0].carer_id}: shift_end is before shift_start")
    modes = set(carers["mode"])
    missing_modes = sorted(modes - set(travel))
    if missing_modes:
        raise RoundsError(f"no travel times given for mode(s) {', '.join(missing_modes)}")


# --------------------------------------------------------------------------------------------
# the model of one day


@dataclass
class _Day:
    """Arrays of one single-day problem, indexed by node (visit copies, then carer bases)."""

    visits: pd.DataFrame  # the day's visits, positional
    carers: pd.DataFrame  # positional
    node_visit: np.ndarray  # node -> visit position (-1 for a base)
    node_loc: np.ndarray  # node -> location index
    locs: np.ndarray  # (n_loc, 2) coordinates
    minutes: dict[str, np.ndarray]  # mode -> float minutes between locations
    metres: dict[str, np.ndarray]
    reachable: dict[str, np.ndarray]
    units: dict[str, np.ndarray]  # mode -> int time units between locations (ceil)
    estimate: bool
    visit_loc: np.ndarray  # visit position -> location index
    base_loc: np.ndarray  # carer position -> location index of its base


def _nodes(visits: pd.DataFrame, visit_loc: np.ndarray, base_loc: np.ndarray):
    """Node arrays: one node per visit copy (two for a double-up), then one per carer base."""
    copies = np.repeat(np.arange(len(visits)), visits["carers"].to_numpy().astype(int))
    node_visit = np.concatenate([copies, -np.ones(len(base_loc), dtype=int)])
    node_loc = np.concatenate([visit_loc[copies], base_loc])
    return node_visit, node_loc


def _day_problem(
    visits: pd.DataFrame,
    carers: pd.DataFrame,
    travel: dict[str, TravelTimes],
    scale: int,
    max_walk_leg_min: float = 0.0,
) -> _Day:
    pts = np.vstack(
        [
            np.column_stack([carers.geometry.x.to_numpy(), carers.geometry.y.to_numpy()]),
            np.column_stack([visits.geometry.x.to_numpy(), visits.geometry.y.to_numpy()]),
        ]
    ).reshape(-1, 2)
    locs, inverse = np.unique(pts, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    n_car = len(carers)
    base_loc = inverse[:n_car]
    visit_loc = inverse[n_car:]
    crs = getattr(visits, "crs", None) or getattr(carers, "crs", None)
    series = gpd.GeoSeries(gpd.points_from_xy(locs[:, 0], locs[:, 1]), crs=crs)
    minutes, metres, reachable, units = {}, {}, {}, {}
    estimate = False
    for mode in sorted(set(carers["mode"])):
        tm: TravelMatrix = travel[mode].matrix(series)
        reach = np.asarray(tm.reachable, dtype=bool).copy()
        if mode == "walk" and max_walk_leg_min > 0:
            reach &= np.nan_to_num(tm.minutes, nan=np.inf) <= max_walk_leg_min
        np.fill_diagonal(reach, True)
        mins = np.where(reach, np.nan_to_num(tm.minutes, nan=0.0), 0.0)
        np.fill_diagonal(mins, 0.0)
        mets = np.where(reach, np.nan_to_num(tm.metres, nan=0.0), 0.0)
        np.fill_diagonal(mets, 0.0)
        minutes[mode], metres[mode], reachable[mode] = mins, mets, reach
        units[mode] = np.ceil(mins * scale - 1e-6).astype(np.int64)
        estimate = estimate or bool(tm.estimate)
    # nodes: visit copies first, then one start node per carer (its end node is the same base)
    node_visit, node_loc = _nodes(visits, visit_loc, base_loc)
    return _Day(visits, carers, node_visit, node_loc, locs, minutes, metres, reachable, units,
                estimate, visit_loc, base_loc)  # fmt: skip


def _subday(day: _Day, visit_pos: np.ndarray, carer_pos: np.ndarray) -> _Day:
    """The same day restricted to some visits and carers (travel arrays shared, not copied)."""
    visits = day.visits.iloc[visit_pos].reset_index(drop=True)
    carers = day.carers.iloc[carer_pos].reset_index(drop=True)
    visit_loc, base_loc = day.visit_loc[visit_pos], day.base_loc[carer_pos]
    node_visit, node_loc = _nodes(visits, visit_loc, base_loc)
    return replace(day, visits=visits, carers=carers, node_visit=node_visit, node_loc=node_loc,
                   visit_loc=visit_loc, base_loc=base_loc)  # fmt: skip


def _eligibility(day: _Day, scale: int) -> tuple[np.ndarray, list[str | None]]:
    """Which carers could serve each visit on its own, and why a visit cannot be served at all."""
    v, c = day.visits, day.carers
    n_v, n_c = len(v), len(c)
    need = [_split_ids(s) for s in v["skills"]]
    have = [_split_ids(s) for s in c["skills"]]
    skill_ok = np.array([[n <= h for h in have] for n in need], dtype=bool).reshape(n_v, n_c)
    base, vloc = day.base_loc, day.visit_loc
    reach_ok = np.zeros((n_v, n_c), dtype=bool)
    time_ok = np.zeros((n_v, n_c), dtype=bool)
    earliest = v["earliest"].to_numpy() * scale
    latest = v["latest"].to_numpy() * scale
    dur = v["duration"].to_numpy() * scale
    for j, carer in enumerate(c.itertuples(index=False)):
        mode = carer.mode
        r = day.reachable[mode]
        reach_ok[:, j] = r[base[j], vloc] & r[vloc, base[j]]
        there = day.units[mode][base[j], vloc]
        back = day.units[mode][vloc, base[j]]
        start = np.maximum(earliest, carer.shift_start * scale + there)
        time_ok[:, j] = (
            (start <= latest)
            & (start + dur + back <= carer.shift_end * scale)
            & (there + dur + back <= carer.max_minutes * scale)
        )
    allowed = skill_ok & reach_ok & time_ok
    needed = v["carers"].to_numpy().astype(int)
    reasons: list[str | None] = []
    for i in range(n_v):
        if skill_ok[i].sum() < needed[i]:
            reasons.append(REASON_NO_SKILL)
        elif (skill_ok[i] & reach_ok[i]).sum() < needed[i]:
            reasons.append(REASON_UNREACHABLE)
        elif allowed[i].sum() < needed[i]:
            reasons.append(REASON_NO_WINDOW)
        else:
            reasons.append(None)
    return allowed, reasons


# --------------------------------------------------------------------------------------------
# decomposition of large days


def compact_groups(xy: np.ndarray, weight: np.ndarray, parts: int) -> list[np.ndarray]:
    """Recursive coordinate bisection: ``parts`` groups of point positions of about equal weight.

    Each cut is across the longer side of the group's bounding box, at the weighted median (in
    proportion when ``parts`` is odd), so groups are compact and balanced. Deterministic.
    """
    parts = min(parts, len(xy))
    if parts <= 1:
        return [np.arange(len(xy))]
    spread = xy.max(axis=0) - xy.min(axis=0)
    axis = 0 if spread[0] >= spread[1] else 1
    order = np.lexsort((xy[:, 1 - axis], xy[:, axis]))
    left_parts = (parts + 1) // 2
    cum = np.cumsum(weight[order])
    target = cum[-1] * left_parts / parts
    cut = int(np.searchsorted(cum, target)) + 1  # first cut whose left weight reaches the target
    if cut > 1 and target - cum[cut - 2] < cum[cut - 1] - target:
        cut -= 1
    cut = min(max(cut, left_parts), len(xy) - (parts - left_parts))
    left, right = order[:cut], order[cut:]
    return [left[g] for g in compact_groups(xy[left], weight[left], left_parts)] + [
        right[g] for g in compact_groups(xy[right], weight[right], parts - left_parts)
    ]


def _largest_remainder(total: int, weight: np.ndarray) -> np.ndarray:
    """``total`` whole units shared in proportion to ``weight`` (Hamilton's method; ties by order)."""
    if weight.sum() <= 0:
        weight = np.ones(len(weight))
    quota = total * weight / weight.sum()
    count = np.floor(quota).astype(int)
    rest = total - int(count.sum())
    for g in np.lexsort((np.arange(len(quota)), -(quota - count)))[:rest]:
        count[g] += 1
    return count


def _share_carers(day: _Day, groups: list[np.ndarray]) -> list[np.ndarray]:
    """Carer positions for each group of visits, in proportion to the group's care minutes.

    Carers alike (``CARER_KIND``: mode, shift, span, break and skills) are shared out together, weighted by the
    care minutes whose window opens in their shift, so each group gets the same mix of walkers and
    drivers, early and late shifts, as the whole day. Within a kind, carers go to the group
    nearest their base (carers living locally work locally; carers sharing one office are
    simply taken in order). A group gets at least one carer (two when it has a double-up),
    taken from the group with most carers per care minute.
    """
    v, c = day.visits, day.carers
    work = (v["duration"] * v["carers"]).to_numpy(dtype=float)
    earliest = v["earliest"].to_numpy()
    keys = list(c[CARER_KIND].astype(str).itertuples(index=False, name=None))
    crew: list[list[int]] = [[] for _ in groups]
    centres = np.array([day.locs[day.visit_loc[g]].mean(axis=0) for g in groups])
    bases = day.locs[day.base_loc]
    for key in dict.fromkeys(keys):
        members = np.array([j for j, k in enumerate(keys) if k == key])
        start, end = int(c["shift_start"].iat[members[0]]), int(c["shift_end"].iat[members[0]])
        share = np.array(
            [work[g][(earliest[g] >= start) & (earliest[g] < end)].sum() for g in groups]
        )
        if share.sum() <= 0:
            share = np.array([work[g].sum() for g in groups])
        room = _largest_remainder(len(members), share)
        # nearest (carer, group) pairs first; ties (one shared office) keep carer and group order
        dist = np.linalg.norm(bases[members][:, None, :] - centres[None, :, :], axis=2)
        rank = np.round(dist, 1)
        who, where = np.meshgrid(np.arange(len(members)), np.arange(len(groups)), indexing="ij")
        placed = np.zeros(len(members), dtype=bool)
        for flat in np.lexsort((where.ravel(), who.ravel(), rank.ravel())):
            m, g = divmod(int(flat), len(groups))
            if not placed[m] and room[g] > 0:
                crew[g].append(int(members[m]))
                placed[m], room[g] = True, room[g] - 1
    load = np.array([work[g].sum() for g in groups])
    needed = [2 if (v["carers"].to_numpy()[g] == 2).any() else 1 for g in groups]
    for g in range(len(groups)):
        while len(crew[g]) < needed[g]:
            spare = [h for h in range(len(groups)) if len(crew[h]) > needed[h]]
            if not spare:
                break
            donor = max(spare, key=lambda h: (len(crew[h]) / max(float(load[h]), 1.0), -h))
            crew[g].append(crew[donor].pop())
    return [np.array(sorted(x), dtype=int) for x in crew]


def _interleave(carers: pd.DataFrame, positions: np.ndarray) -> np.ndarray:
    """``positions`` reordered to take one carer of each kind (``CARER_KIND``) in turn."""
    kinds = carers.iloc[positions][CARER_KIND].astype(str)
    turn = kinds.groupby(list(kinds.columns), sort=False).cumcount().to_numpy()
    return positions[np.lexsort((positions, turn))]


def _solve_large_day(day: _Day, settings: RoundsSettings, repair: bool = True) -> list[dict]:
    """Solve a day in geographic parts when it has more than ``max_visits_per_problem`` visits.

    Visits no carer of the day could serve are reported with their reason and kept out of the
    model; never more carers than visit copies are offered (taken in turn from each kind of
    carer). A day within the cap is then one problem. A larger day is cut into compact groups (:func:`compact_groups`, keeping each address's visits together), each solved
    with its share of the carers (:func:`_share_carers`). Visits a group could not place are
    then offered, in one more problem, to the carers no group used. A visit still unserved had
    carers able to serve it, so its reason is capacity (or the time cap), never a group's.
    """
    scale = settings.time_units_per_min
    cap = settings.max_visits_per_problem
    v = day.visits
    _, reasons = _eligibility(day, scale)
    ok = np.array([r is None for r in reasons])
    copies = v["carers"].to_numpy().astype(int)
    parts_needed = math.ceil(copies[ok].sum() / cap) if cap > 0 else 1
    parts_needed = min(parts_needed, max(1, len(day.carers) // 2))
    pos = np.flatnonzero(ok)
    impossible = v.iloc[np.flatnonzero(~ok)]
    impossible_part = {
        "rounds": [], "legs": [], "breaks": [], "objective": 0, "elapsed_s": 0.0,
        "estimate": day.estimate,
        "unserved": [(str(r.visit_id), str(r.person_id), int(r.day), reasons[i])
                     for i, r in zip(np.flatnonzero(~ok), impossible.itertuples(), strict=True)],
    }  # fmt: skip
    if parts_needed <= 1:
        needed = max(2, int(copies[ok].sum()))
        if ok.all() and len(day.carers) <= needed:
            return [_solve_day(day, settings)]
        if not ok.any():
            return [impossible_part]
        few = np.sort(_interleave(day.carers, np.arange(len(day.carers)))[:needed])
        return [_solve_day(_subday(day, pos, few), settings), impossible_part]

    # groups of addresses, so that a person's visits stay together
    locs, inverse = np.unique(day.visit_loc[pos], return_inverse=True)
    weight = np.bincount(inverse.reshape(-1), weights=copies[pos], minlength=len(locs))
    groups = [
        pos[np.isin(inverse.reshape(-1), g)]
        for g in compact_groups(day.locs[locs], weight, parts_needed)
    ]
    crew = _share_carers(day, groups)
    parts = [_solve_day(_subday(day, g, cs), settings) for g, cs in zip(groups, crew, strict=True)]

    left = sorted({u[0] for p in parts for u in p["unserved"]})
    used = {r[0] for p in parts for r in p["rounds"]}
    idle = np.flatnonzero(~day.carers["carer_id"].astype(str).isin(used).to_numpy())
    if repair and left and len(idle):
        at = pd.Index(v["visit_id"].astype(str))
        left_pos = np.sort(at.get_indexer(left))
        # never more carers than visit copies left (each extra carer only slows the search),
        # taken in turn from each kind of carer so the mix is kept
        idle = _interleave(day.carers, idle)[: int(copies[left_pos].sum())]
        again = _subday(day, left_pos, np.sort(idle))
        for p in parts:
            p["unserved"] = []
        parts.extend(_solve_large_day(again, settings, repair=False))
    capped = {REASON_TIME_LIMIT, REASON_CAPACITY}
    for p in parts:
        p["unserved"] = [(*u[:3], u[3] if u[3] in capped else REASON_CAPACITY)
                         for u in p["unserved"]]  # fmt: skip
    parts.append(impossible_part)
    return parts


# --------------------------------------------------------------------------------------------
# PyVRP seed


def _pyvrp_seed(
    day: _Day, allowed: np.ndarray, served: np.ndarray, settings: RoundsSettings, budget_s: float
) -> list[list[int]] | None:
    """Routes (lists of node numbers per carer) from PyVRP on a relaxed copy of the problem."""
    try:
        import pyvrp
        from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria
    except ImportError:
        return None
    scale = settings.time_units_per_min
    v, c = day.visits, day.carers
    n_c = len(c)
    n_vnodes = len(day.node_visit) - n_c
    singles = [
        n for n in range(n_vnodes)
        if served[day.node_visit[n]] and v["carers"].iat[day.node_visit[n]] == 1
    ]  # fmt: skip
    if not singles:
        return None
    # pyvrp locations: one per carer base (depots), then one per seeded visit node
    loc_of = np.concatenate([day.node_loc[n_vnodes:], day.node_loc[singles]])
    # one routing profile per distinct (mode, allowed-visit pattern)
    profiles: dict[tuple, int] = {}
    carer_profile = []
    for j in range(n_c):
        key = (c["mode"].iat[j], tuple(allowed[day.node_visit[singles], j]))
        carer_profile.append(profiles.setdefault(key, len(profiles)))
    dist_mats, dur_mats = [], []
    for mode, pattern in profiles:
        u = day.units[mode][np.ix_(loc_of, loc_of)].astype(np.int64)
        r = day.reachable[mode][np.ix_(loc_of, loc_of)]
        u = np.where(r, u, _BIG_COST)
        banned = n_c + np.flatnonzero(~np.array(pattern, dtype=bool))
        u[:, banned] = _BIG_COST
        u[banned, :] = _BIG_COST
        u[banned, banned] = 0
        np.fill_diagonal(u, 0)
        dist_mats.append(u)
        dur_mats.append(u.copy())
    has_load = "demand" in v.columns and "capacity" in c.columns
    locations = [pyvrp.Location(float(day.locs[loc, 0]), float(day.locs[loc, 1])) for loc in loc_of]
    depots = [pyvrp.Depot(location=j) for j in range(n_c)]
    clients = []
    for k, n in enumerate(singles):
        row = v.iloc[day.node_visit[n]]
        clients.append(
            pyvrp.Client(
                location=n_c + k,
                delivery=[int(row["demand"])] if has_load else [],
                service_duration=int(row["duration"]) * scale,
                tw_early=int(row["earliest"]) * scale,
                tw_late=int(row["latest"]) * scale,
                required=False,
                prize=settings.unserved_penalty_min * scale,
            )
        )
    vtypes = []
    for j, carer in enumerate(c.itertuples(index=False)):
        vtypes.append(
            pyvrp.VehicleType(
                num_available=1,
                capacity=[int(c["capacity"].iat[j])] if has_load else [],
                start_depot=j,
                end_depot=j,
                fixed_cost=settings.carer_fixed_cost_min * scale,
                tw_early=int(carer.shift_start) * scale,
                tw_late=int(carer.shift_end) * scale,
                shift_duration=int(carer.max_minutes - carer.break_minutes) * scale,
                profile=carer_profile[j],
            )
        )
    # pyvrp's stubs type matrices as ndarray[int, ...], which numpy's annotations cannot express.
    data = pyvrp.ProblemData(locations, clients, depots, vtypes, dist_mats, dur_mats)  # type: ignore[arg-type]
    stop: MultipleCriteria | MaxRuntime
    if settings.deterministic:
        stop = MultipleCriteria([MaxIterations(settings.seed_iterations), MaxRuntime(budget_s)])
    else:
        stop = MaxRuntime(budget_s)
    result = pyvrp.solve(data, stop=stop, seed=settings.seed, display=False)
    best = result.best
    if not best.is_feasible():
        return None
    routes: list[list[int]] = [[] for _ in range(n_c)]
    for route in best.routes():
        j = route.vehicle_type()
        routes[j] = [singles[a.idx] for a in route.schedule() if a.is_client()]
    return routes


# --------------------------------------------------------------------------------------------
# OR-Tools


def _solve_day(day: _Day, settings: RoundsSettings) -> dict:
    t0 = time.monotonic()
    scale = settings.time_units_per_min
    v, c = day.visits, day.carers
    n_c = len(c)
    n_nodes = len(day.node_visit)
    n_vnodes = n_nodes - n_c
    allowed, reasons = _eligibility(day, scale)
    served = np.array([r is None for r in reasons])

    starts = list(range(n_vnodes, n_nodes))
    manager = pywrapcp.RoutingIndexManager(n_nodes, n_c, starts, starts)
    routing = pywrapcp.RoutingModel(manager)
    solver = routing.solver()

    vnode = day.node_visit
    service = np.zeros(n_nodes, dtype=np.int64)
    service[:n_vnodes] = v["duration"].to_numpy()[vnode[:n_vnodes]] * scale
    horizon = int(
        max(c["shift_end"].max(), (v["latest"] + v["duration"]).max() if len(v) else 0) * scale + 1
    )

    # one time transit per mode: travel + service at the origin; unreachable pairs cost too much
    modes = sorted(set(c["mode"]))
    travel_units: dict[str, np.ndarray] = {}
    time_cb: dict[str, int] = {}
    for mode in modes:
        u = day.units[mode][np.ix_(day.node_loc, day.node_loc)]
        u = np.where(day.reachable[mode][np.ix_(day.node_loc, day.node_loc)], u, horizon + 1)
        travel_units[mode] = u
        time_cb[mode] = routing.RegisterTransitMatrix((u + service[:, None]).tolist())

    # arc costs per (mode, continuity pattern): travel + continuity penalty on entering a visit
    preferred = (
        [_split_ids(s) for s in v["preferred_carers"]]
        if "preferred_carers" in v.columns
        else [frozenset()] * len(v)
    )
    cost_cb: dict[tuple, int] = {}
    for j in range(n_c):
        cid = str(c["carer_id"].iat[j])
        mode = c["mode"].iat[j]
        pen = np.zeros(n_nodes, dtype=np.int64)
        for n in range(n_vnodes):
            pref = preferred[vnode[n]]
            if pref and cid not in pref:
                pen[n] = settings.continuity_cost_min * scale
        key = (mode, pen.tobytes())
        if key not in cost_cb:
            cost = np.minimum(travel_units[mode], _BIG_COST) + pen[None, :]
            cost_cb[key] = routing.RegisterTransitMatrix(cost.tolist())
        routing.SetArcCostEvaluatorOfVehicle(cost_cb[key], j)
        routing.SetFixedCostOfVehicle(settings.carer_fixed_cost_min * scale, j)

    routing.AddDimensionWithVehicleTransits(
        [time_cb[m] for m in c["mode"]], horizon, horizon, False, "time"
    )
    tdim = routing.GetDimensionOrDie("time")
    for j, carer in enumerate(c.itertuples(index=False)):
        s, e = routing.Start(j), routing.End(j)
        tdim.CumulVar(s).SetRange(int(carer.shift_start) * scale, int(carer.shift_end) * scale)
        tdim.CumulVar(e).SetRange(int(carer.shift_start) * scale, int(carer.shift_end) * scale)
        tdim.SetSpanUpperBoundForVehicle(int(carer.max_minutes) * scale, j)
        routing.AddVariableMaximizedByFinalizer(tdim.CumulVar(s))
        routing.AddVariableMinimizedByFinalizer(tdim.CumulVar(e))

    # optional load dimension (Solomon benchmark)
    if "demand" in v.columns and "capacity" in c.columns:
        demand = np.zeros(n_nodes, dtype=np.int64)
        demand[:n_vnodes] = v["demand"].to_numpy().astype(np.int64)[vnode[:n_vnodes]]
        load_cb = routing.RegisterUnaryTransitVector(demand.tolist())
        routing.AddDimensionWithVehicleCapacity(
            load_cb, 0, [int(x) for x in c["capacity"]], True, "load"
        )

    # visits: windows, allowed carers, disjunctions; double-ups coupled
    penalty = settings.unserved_penalty_min * scale
    first_copy: dict[int, int] = {}
    for n in range(n_vnodes):
        i = vnode[n]
        index = manager.NodeToIndex(n)
        row = v.iloc[i]
        if not served[i]:
            routing.VehicleVar(index).RemoveValues(list(range(n_c)))
            routing.AddDisjunction([index], 0)
            continue
        tdim.CumulVar(index).SetRange(int(row["earliest"]) * scale, int(row["latest"]) * scale)
        banned = [int(j) for j in np.flatnonzero(~allowed[i])]
        if banned:  # SetAllowedVehiclesForIndex's SWIG binding rejects lists in ortools 9.15
            routing.VehicleVar(index).RemoveValues(banned)
        routing.AddDisjunction([index], penalty)
        if settings.lateness_cost_per_min > 0:
            tdim.SetCumulVarSoftUpperBound(
                index,
                (int(row["earliest"]) + settings.punctuality_tolerance_min) * scale,
                settings.lateness_cost_per_min,
            )
        if i in first_copy:
            other = first_copy[i]
            solver.Add(tdim.CumulVar(index) == tdim.CumulVar(other))
            solver.Add(routing.ActiveVar(index) == routing.ActiveVar(other))
            solver.Add(
                solver.IsDifferentVar(routing.VehicleVar(index), routing.VehicleVar(other))
                >= routing.ActiveVar(index)
            )
        else:
            first_copy[i] = index

    # breaks as OR-Tools break intervals
    visit_transits = [0] * routing.Size()
    for index in range(routing.Size()):
        visit_transits[index] = int(service[manager.IndexToNode(index)])
    break_vars: dict[int, object] = {}
    for j, carer in enumerate(c.itertuples(index=False)):
        if int(carer.break_minutes) > 0:
            brk = break_vars[j] = solver.FixedDurationIntervalVar(
                int(carer.break_earliest) * scale,
                int(carer.break_latest) * scale,
                int(carer.break_minutes) * scale,
                False,
                f"break {carer.carer_id}",
            )
            tdim.SetBreakIntervalsOfVehicle([brk], j, visit_transits)

    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = (
        routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    )
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    if settings.deterministic:
        params.solution_limit = settings.solution_limit
    params.disable_scheduling_beware_this_may_degrade_performance = not settings.scheduling_filters

    seed_routes = None
    has_pairs = bool((v["carers"].to_numpy()[served] == 2).any())
    if settings.seed_with_pyvrp and served.any() and not has_pairs:
        share = 1.0 if settings.deterministic else settings.seed_time_share
        seed_routes = _pyvrp_seed(day, allowed, served, settings, settings.time_limit_s * share)
    remaining = max(0.1, settings.time_limit_s - (time.monotonic() - t0))
    params.time_limit.FromMilliseconds(int(remaining * 1000))
    stall = _StallStop(routing, settings.stall_solutions if settings.deterministic else 0)
    if settings.deterministic and settings.branch_limit > 0:
        routing.AddSearchMonitor(solver.BranchesLimit(settings.branch_limit))
    routing.CloseModelWithParameters(params)

    solution = None
    routes = [[] for _ in range(n_c)] if seed_routes is None else seed_routes
    initial = _read_routes(routing, manager, routes)
    pairs = {i: (n, n + 1) for n, i in enumerate(vnode[:n_vnodes]) if n + 1 < n_vnodes
             and vnode[n + 1] == i and served[i]}  # fmt: skip
    if pairs:
        # routing's insertion heuristics cannot place two coupled copies at once: we do it here
        routes = _routes_of(routing, manager, initial, n_c) if initial is not None else routes
        ctx = (day, travel_units, service, allowed, c, scale)
        routes, placed, windows = _insert_pairs(routing, manager, routes, pairs, ctx)
        singles = [n for n in range(n_vnodes) if served[vnode[n]] and vnode[n] not in pairs
                   and all(n not in r for r in routes)]  # fmt: skip
        routes, placed_singles = _insert_singles(routing, manager, routes, singles, ctx, windows)
        initial = placed_singles or placed or initial
    stall.armed = True  # route reads before this point are not search steps
    if initial is not None:
        solution = routing.SolveFromAssignmentWithParameters(initial, params)
    if solution is None:
        solution = routing.SolveWithParameters(params)
    if solution is None:
        # cannot happen while every visit is droppable; kept so nothing ever crashes
        raise RoundsError("OR-Tools found no solution, not even with every visit unserved")
    elapsed = time.monotonic() - t0
    return _extract(day, routing, manager, solution, reasons, break_vars, settings, elapsed)


class _StallStop:
    """Stop the search after ``limit`` accepted solutions in a row without a new best objective.

    A work count, not a clock, so the result is deterministic. Registered as an OR-Tools
    at-solution callback before the model is closed; it counts only once ``armed`` (the local
    search), not the route reads of the construction.
    """

    def __init__(self, routing, limit: int):
        self.routing, self.limit = routing, limit
        self.best: int | None = None
        self.since = 0
        self.armed = False
        if limit > 0:
            routing.AddAtSolutionCallback(self)

    def __call__(self) -> None:
        if not self.armed:
            return
        cost = self.routing.CostVar().Value()
        if self.best is None or cost < self.best:
            self.best, self.since = cost, 0
            return
        self.since += 1
        if self.since >= self.limit:
            self.routing.solver().FinishCurrentSearch()


def _read_routes(routing, manager, routes: list[list[int]]):
    """Load seed routes one by one, keeping those OR-Tools accepts under the full constraints."""
    kept: list[list[int]] = [[] for _ in routes]
    best = None
    for j, route in enumerate(routes):
        if not route:
            continue
        trial = [list(r) for r in kept]
        trial[j] = [manager.NodeToIndex(n) for n in route]
        assignment = routing.ReadAssignmentFromRoutes(trial, True)
        if assignment is not None:
            kept, best = trial, assignment
    return best


def _routes_of(routing, manager, assignment, n_c: int) -> list[list[int]]:
    routes = []
    for j in range(n_c):
        index, route = assignment.Value(routing.NextVar(routing.Start(j))), []
        while not routing.IsEnd(index):
            route.append(manager.IndexToNode(index))
            index = assignment.Value(routing.NextVar(index))
        routes.append(route)
    return routes


def _insert_pairs(routing, manager, routes, pairs, ctx, tries: int = 6):
    """Greedy insertion of double-up pairs: two carers, one common start time.

    Candidate positions come from forward/backward time slack on each route (windows and shift;
    copies already placed are pinned to their common start); the cheapest few candidates are then
    checked by OR-Tools under every constraint (breaks, spans, loads) and the first accepted kept.
    """
    day, travel_units, service, allowed, carers, scale = ctx
    v = day.visits
    lo_w = np.zeros(len(day.node_visit), dtype=np.int64)
    hi_w = np.zeros(len(day.node_visit), dtype=np.int64)
    n_vnodes = len(day.node_visit) - len(carers)
    lo_w[:n_vnodes] = v["earliest"].to_numpy()[day.node_visit[:n_vnodes]] * scale
    hi_w[:n_vnodes] = v["latest"].to_numpy()[day.node_visit[:n_vnodes]] * scale
    modes = list(carers["mode"])
    best = None
    order = sorted(pairs, key=lambda i: (int(v["latest"].iat[i]) - int(v["earliest"].iat[i]), i))
    for i in order:
        a_node, b_node = pairs[i]
        cands = []
        slots = {j: _slots(routes[j], j, a_node, lo_w, hi_w, travel_units[modes[j]], service,
                           carers, scale) for j in map(int, np.flatnonzero(allowed[i]))}  # fmt: skip
        for j1, s1 in slots.items():
            for j2, s2 in slots.items():
                if j2 <= j1:
                    continue
                for p1, lo1, hi1, c1 in s1:
                    for p2, lo2, hi2, c2 in s2:
                        if max(lo1, lo2) <= min(hi1, hi2):
                            cands.append((c1 + c2, int(j1), p1, int(j2), p2, max(lo1, lo2)))
        cands.sort()
        for _, j1, p1, j2, p2, t in cands[:tries]:
            trial = [list(r) for r in routes]
            trial[j1].insert(p1, a_node)
            trial[j2].insert(p2, b_node)
            idx = [[manager.NodeToIndex(n) for n in r] for r in trial]
            assignment = routing.ReadAssignmentFromRoutes(idx, True)
            if assignment is not None:
                routes, best = trial, assignment
                lo_w[a_node] = hi_w[a_node] = lo_w[b_node] = hi_w[b_node] = t
                break
    return routes, best, (lo_w, hi_w)


def _insert_singles(routing, manager, routes, singles, ctx, windows, tries: int = 4):
    """Greedy cheapest insertion of single visits around the placed pairs, checked by OR-Tools."""
    day, travel_units, service, allowed, carers, scale = ctx
    lo_w, hi_w = windows
    modes = list(carers["mode"])
    best = None
    order = sorted(singles, key=lambda n: (hi_w[n] - lo_w[n], n))
    for n in order:
        i = day.node_visit[n]
        cands = []
        for j in map(int, np.flatnonzero(allowed[i])):
            for p, _, _, cost in _slots(routes[j], j, n, lo_w, hi_w, travel_units[modes[j]],
                                        service, carers, scale):  # fmt: skip
                cands.append((cost, int(j), p))
        cands.sort()
        for _, j, p in cands[:tries]:
            trial = [list(r) for r in routes]
            trial[j].insert(p, n)
            idx = [[manager.NodeToIndex(m) for m in r] for r in trial]
            assignment = routing.ReadAssignmentFromRoutes(idx, True)
            if assignment is not None:
                routes, best = trial, assignment
                break
    return routes, best


def _slots(route, j, node, lo_w, hi_w, units, service, carers, scale):
    """Feasible positions for ``node`` in one route: (position, earliest, latest start, cost)."""
    start_node = len(lo_w) - len(carers) + j
    seq = [start_node, *route, start_node]
    lo = np.empty(len(seq))
    hi = np.empty(len(seq))
    lo[0] = int(carers["shift_start"].iat[j]) * scale
    for k in range(1, len(seq)):
        arrive = lo[k - 1] + service[seq[k - 1]] * (k > 1) + units[seq[k - 1], seq[k]]
        lo[k] = max(arrive, lo_w[seq[k]]) if k < len(seq) - 1 else arrive
    hi[-1] = int(carers["shift_end"].iat[j]) * scale
    for k in range(len(seq) - 2, -1, -1):
        latest = hi[k + 1] - units[seq[k], seq[k + 1]] - service[seq[k]] * (k > 0)
        hi[k] = min(latest, hi_w[seq[k]]) if k > 0 else latest
    out = []
    for k in range(len(seq) - 1):
        p, q = seq[k], seq[k + 1]
        e = max(lo_w[node], lo[k] + service[p] * (k > 0) + units[p, node])
        latest = min(hi_w[node], hi[k + 1] - units[node, q] - service[node])
        if e <= latest:
            out.append((k, e, latest, int(units[p, node] + units[node, q] - units[p, q])))
    return out


def _extract(day: _Day, routing, manager, solution, reasons, break_vars, settings, elapsed
             ) -> dict:  # fmt: skip
    scale = settings.time_units_per_min
    v, c = day.visits, day.carers
    tdim = routing.GetDimensionOrDie("time")
    rows, legs, breaks = [], [], []
    served_nodes: set[int] = set()
    for j, carer in enumerate(c.itertuples(index=False)):
        index = routing.Start(j)
        if routing.IsEnd(solution.Value(routing.NextVar(index))):
            continue
        mode = carer.mode
        prev_node = manager.IndexToNode(index)
        prev_end = solution.Value(tdim.CumulVar(index))
        order = 0
        while True:
            index = solution.Value(routing.NextVar(index))
            node = manager.IndexToNode(index)
            a, b = day.node_loc[prev_node], day.node_loc[node]
            travel = int(day.units[mode][a, b])
            arrival = prev_end + travel
            start = solution.Value(tdim.CumulVar(index))
            is_end = routing.IsEnd(index)
            order += 1
            if is_end:
                visit_id, person_id, duration = RETURN, "", 0
                start = max(start, arrival)
            else:
                served_nodes.add(node)
                row = v.iloc[day.node_visit[node]]
                visit_id, person_id = str(row["visit_id"]), str(row["person_id"])
                duration = int(row["duration"]) * scale
            rows.append(
                (str(carer.carer_id), int(v["day"].iat[0]) if len(v) else 0, order, visit_id,
                 person_id, arrival / scale, start / scale, (start + duration) / scale,
                 (start - arrival) / scale, travel / scale, float(day.metres[mode][a, b]), mode)
            )  # fmt: skip
            legs.append((*day.locs[a], *day.locs[b]))
            if is_end:
                break
            prev_node, prev_end = node, start + duration
    for j, brk in break_vars.items():
        carer = c.iloc[j]
        if solution.PerformedValue(brk):
            s = solution.StartValue(brk)
            breaks.append((str(carer.carer_id), int(v["day"].iat[0]), s / scale,
                               (s + int(carer.break_minutes) * scale) / scale))  # fmt: skip
    unserved = []
    n_vnodes = len(day.node_visit) - len(c)
    dropped = {day.node_visit[n] for n in range(n_vnodes) if n not in served_nodes}
    # A search cut by the wall-clock cap says so, rather than blaming the fleet's capacity.
    fallback = REASON_TIME_LIMIT if elapsed >= settings.time_limit_s * 0.98 else REASON_CAPACITY
    for i in sorted(dropped):
        row = v.iloc[i]
        unserved.append(
            (str(row["visit_id"]), str(row["person_id"]), int(row["day"]),
             reasons[i] or fallback)
        )  # fmt: skip
    return {
        "rounds": rows,
        "legs": legs,
        "breaks": breaks,
        "unserved": unserved,
        "objective": solution.ObjectiveValue(),
        "elapsed_s": elapsed,
        "estimate": day.estimate,
    }


# --------------------------------------------------------------------------------------------
# public API


def plan_rounds(
    visits: pd.DataFrame,
    carers: pd.DataFrame,
    travel: dict[str, TravelTimes],
    settings: RoundsSettings | None = None,
) -> RoundsResult:
    """Plan carers' rounds for the visits of one or more days.

    Each day in ``visits`` is planned on its own, with every carer available (a ``day`` column on
    ``carers``, if present, restricts a carer to that day).

    Parameters
    ----------
    visits : GeoDataFrame of visits (``docs/data-contracts.md``), optional ``preferred_carers``
        (comma-separated carer ids) and ``demand`` (int, with ``capacity`` on carers).
    carers : GeoDataFrame of carers; geometry is the base where each round starts and ends.
    travel : one :class:`~patchplan.matrix.TravelTimes` per carer mode; each is asked for one
        matrix over all distinct locations of a day.
    settings : solver settings; defaults to ``RoundsSettings()``.

    Returns
    -------
    RoundsResult
        Rounds, unserved visits with reasons, breaks, KPIs.

    Raises
    ------
    RoundsError
        If a table is malformed (missing columns, duplicate ids, inverted windows, a mode with no
        travel times). Individual impossible visits are reported in ``unserved``, never raised.
    """
    settings = settings or RoundsSettings()
    _validate(visits, carers, travel)
    parts = []
    for d in sorted(pd.unique(visits["day"])) if len(visits) else []:
        day_visits = visits[visits["day"] == d].reset_index(drop=True)
        day_carers = carers
        if "day" in carers.columns:
            day_carers = carers[carers["day"] == d]
        day_carers = day_carers.reset_index(drop=True)
        if len(day_carers) == 0:
            parts.append(_all_unserved(day_visits, REASON_NO_WINDOW))
            continue
        day = _day_problem(day_visits, day_carers, travel, settings.time_units_per_min,
                           settings.max_walk_leg_min)  # fmt: skip
        parts.extend(_solve_large_day(day, settings))
    estimate = any(bool(getattr(t, "estimate", False)) for t in travel.values())
    return _assemble(parts, visits, carers, settings, estimate)


def _all_unserved(visits: pd.DataFrame, reason: str) -> dict:
    rows = [(str(r.visit_id), str(r.person_id), int(r.day), reason) for r in visits.itertuples()]
    return {"rounds": [], "legs": [], "breaks": [], "unserved": rows, "objective": 0,
            "elapsed_s": 0.0, "estimate": False}  # fmt: skip


def _assemble(parts, visits, carers, settings: RoundsSettings, estimate: bool) -> RoundsResult:
    rounds = pd.DataFrame([r for p in parts for r in p["rounds"]], columns=ROUNDS_COLUMNS)
    rounds = rounds.astype({"carer_id": str, "day": int, "order": int, "visit_id": str,
                            "person_id": str, "mode": str})  # fmt: skip
    unserved = pd.DataFrame([r for p in parts for r in p["unserved"]], columns=UNSERVED_COLUMNS)
    unserved = unserved.astype({"visit_id": str, "person_id": str, "day": int, "reason": str})
    breaks = pd.DataFrame([r for p in parts for r in p["breaks"]], columns=BREAK_COLUMNS)
    legs = pd.DataFrame([r for p in parts for r in p["legs"]], columns=LEG_COLUMNS)
    vtab = pd.DataFrame(
        {
            "visit_id": visits["visit_id"].astype(str).to_numpy(),
            "person_id": visits["person_id"].astype(str).to_numpy(),
            "day": visits["day"].astype(int).to_numpy(),
            "earliest": visits["earliest"].to_numpy(),
            "duration": visits["duration"].to_numpy(),
            "carers": visits["carers"].astype(int).to_numpy(),
        }
    )
    result = RoundsResult(rounds, unserved, {}, breaks, legs, vtab)
    result.kpis = _kpis(result, settings)
    result.kpis["objective"] = float(sum(p["objective"] for p in parts))
    result.kpis["solve_s"] = float(sum(p["elapsed_s"] for p in parts))
    result.kpis["estimate"] = float(estimate or any(p["estimate"] for p in parts))
    result.kpis["time_limit_reached"] = float(
        any(p["elapsed_s"] >= settings.time_limit_s * 0.98 for p in parts)
    )
    return result


def _kpis(result: RoundsResult, settings: RoundsSettings) -> dict[str, float]:
    r, vt = result.rounds, result.visits
    stops = r[r["visit_id"] != RETURN]
    first = r[r["order"] == 1]
    last = r[r["visit_id"] == RETURN]
    leave = (first.set_index(["carer_id", "day"])["arrival"]
             - first.set_index(["carer_id", "day"])["travel_min"])  # fmt: skip
    back = last.set_index(["carer_id", "day"])["end"]
    paid = float((back - leave).sum()) if len(last) else 0.0
    travel = float(r["travel_min"].sum())
    served = stops.drop_duplicates(["visit_id"])
    info = vt.set_index("visit_id")
    earliest = info.loc[stops["visit_id"], "earliest"].to_numpy() if len(stops) else np.array([])
    punctual = stops["start"].to_numpy() <= earliest + settings.punctuality_tolerance_min + 1e-9
    hours_served = float((info.loc[served["visit_id"], "duration"]
                          * info.loc[served["visit_id"], "carers"]).sum() / 60)  # fmt: skip
    hours_all = float((vt["duration"] * vt["carers"]).sum() / 60)
    per_person = stops.groupby("person_id")["carer_id"].nunique()
    n_carer_days = len(last)
    return {
        "visits": float(len(vt)),
        "visits_served": float(len(served)),
        "visits_unserved": float(len(result.unserved)),
        "care_hours": hours_all,
        "care_hours_served": hours_served,
        "carer_rounds": float(n_carer_days),
        "carers_used": float(r["carer_id"].nunique()),
        "paid_min": paid,
        "travel_min": travel,
        "travel_m": float(r["travel_m"].sum()),
        "wait_min": float(r["wait"].sum()),
        "travel_share_of_paid_time": travel / paid if paid > 0 else 0.0,
        "visits_per_carer_hour": len(stops) / (paid / 60) if paid > 0 else 0.0,
        "punctuality_share": float(punctual.mean()) if len(stops) else 1.0,
        "continuity_carers_per_person_week": float(per_person.mean()) if len(per_person) else 0.0,
    }


def combine_results(results: Sequence[RoundsResult], settings: RoundsSettings | None = None
                    ) -> RoundsResult:  # fmt: skip
    """Stack several results (e.g. the days of one patch) and recompute the KPIs over all of them.

    Continuity (distinct carers per person) is then counted across the days combined.
    """
    settings = settings or RoundsSettings()
    res = RoundsResult(
        pd.concat([r.rounds for r in results], ignore_index=True),
        pd.concat([r.unserved for r in results], ignore_index=True),
        {},
        pd.concat([r.breaks for r in results], ignore_index=True),
        pd.concat([r.legs for r in results], ignore_index=True),
        pd.concat([r.visits for r in results], ignore_index=True),
    )
    res.kpis = _kpis(res, settings)
    for key in ("objective", "solve_s"):
        res.kpis[key] = float(sum(r.kpis.get(key, 0.0) for r in results))
    res.kpis["estimate"] = float(any(r.kpis.get("estimate", 0.0) for r in results))
    return res


def _plan_task(task: tuple) -> RoundsResult:
    visits, carers, travel, settings = task
    return plan_rounds(visits, carers, travel, settings)


def plan_many(
    tasks: Sequence[tuple[pd.DataFrame, pd.DataFrame, dict[str, TravelTimes]]],
    settings: RoundsSettings | None = None,
) -> list[RoundsResult]:
    """Plan independent problems (e.g. one per patch and day) in parallel processes.

    Parameters
    ----------
    tasks : ``(visits, carers, travel)`` triples; travel objects must be picklable.
    settings : ``settings.workers`` processes (1 = in this process, in order).

    Returns
    -------
    list of RoundsResult, in the order of ``tasks`` whatever the finishing order.
    """
    settings = settings or RoundsSettings()
    jobs = [(v, c, t, settings) for v, c, t in tasks]
    return map_tasks(_plan_task, jobs, settings.workers)


def legs_geometry(result: RoundsResult, travel: dict[str, TravelTimes]) -> gpd.GeoDataFrame:
    """The street path of every leg of the rounds, for maps (EPSG:27700).

    Parameters
    ----------
    result : rounds to draw.
    travel : the same travel objects as used for planning; ``travel[mode].path`` draws each leg.

    Returns
    -------
    GeoDataFrame with the columns of ``result.rounds`` and a LineString geometry per leg.
    """
    geoms = []
    for (_, row), (_, leg) in zip(result.rounds.iterrows(), result.legs.iterrows(), strict=True):
        a, b = Point(leg.from_x, leg.from_y), Point(leg.to_x, leg.to_y)
        geoms.append(LineString([a, b]) if a.equals(b) else travel[row["mode"]].path(a, b))
    return gpd.GeoDataFrame(result.rounds.copy(), geometry=geoms, crs="EPSG:27700")
