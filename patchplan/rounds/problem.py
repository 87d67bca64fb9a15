"""One day's routing problem as arrays: nodes, travel per mode, links, and who may serve what.

A **node** is a visit copy (two for a double-up: slot 0 then slot 1) or a carer's base (after every
copy, one per carer). Locations are the distinct points of the day; travel is asked once per mode
over them. Times are in integer units of ``1 / scale`` minutes, travel rounded *up*, so a planned
arrival is never earlier than the matrix says.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import geopandas as gpd
import numpy as np
import pandas as pd

from patchplan.matrix import TravelMatrix, TravelTimes
from patchplan.rounds.model import (
    REASON_LINK,
    REASON_NO_SKILL,
    REASON_NO_WINDOW,
    REASON_UNREACHABLE,
    split_ids,
)


@dataclass(frozen=True)
class Links:
    """Start-time links between visit copies: ``start[b] - start[a]`` in ``[gap_min, gap_max]``.

    Attributes
    ----------
    a, b : node numbers (int arrays).
    gap_min, gap_max : time units.
    other_carer : the two must be served by different carers (a double-up's two slots).
    together : both are served or neither (a double-up, or two visits starting together);
        otherwise the link binds only when both are served.
    """

    a: np.ndarray
    b: np.ndarray
    gap_min: np.ndarray
    gap_max: np.ndarray
    other_carer: np.ndarray
    together: np.ndarray

    def __len__(self) -> int:
        return len(self.a)


@dataclass
class DayProblem:
    """Arrays of one single-day problem, indexed by node (visit copies, then carer bases)."""

    visits: pd.DataFrame  # the day's visits, positional
    carers: pd.DataFrame  # positional
    node_visit: np.ndarray  # node -> visit position (-1 for a base)
    node_slot: np.ndarray  # node -> 0 or 1 (the double-up's second carer), 0 for a base
    node_loc: np.ndarray  # node -> location index
    locs: np.ndarray  # (n_loc, 2) coordinates, EPSG:27700 metres
    minutes: dict[str, np.ndarray]  # mode -> float minutes between locations
    metres: dict[str, np.ndarray]
    reachable: dict[str, np.ndarray]
    units: dict[str, np.ndarray]  # mode -> int time units between locations (ceil)
    estimate: bool
    visit_loc: np.ndarray  # visit position -> location index
    base_loc: np.ndarray  # carer position -> location index of its base

    @property
    def n_visit_nodes(self) -> int:
        """Number of visit copies (the first nodes)."""
        return len(self.node_visit) - len(self.carers)

    def links(self, scale: int) -> Links:
        """Double-up slots (together, other carer, same start) and ``follows`` links, in nodes."""
        nv = self.n_visit_nodes
        first: dict[int, int] = {}
        for n in range(nv):
            first.setdefault(int(self.node_visit[n]), n)
        rows: list[tuple[int, int, float, float, bool, bool]] = [
            (n - 1, n, 0.0, 0.0, True, True) for n in range(1, nv) if self.node_slot[n] == 1
        ]
        if "follows" in self.visits.columns:
            at = {str(v): i for i, v in enumerate(self.visits["visit_id"])}
            for i, other in enumerate(self.visits["follows"]):
                j = at.get(str(other)) if isinstance(other, str) and other else None
                if j is None or i not in first or j not in first:
                    continue  # a link to a visit outside this problem binds nothing here
                lo = float(self.visits["gap_min"].iat[i]) * scale
                hi = float(self.visits["gap_max"].iat[i]) * scale
                together = lo == hi == 0  # two carers starting together: a double-up in two visits
                rows.append((first[j], first[i], lo, hi, together, together))
        cols: list = list(zip(*rows, strict=True)) if rows else [()] * 6
        return Links(
            np.array(cols[0], dtype=int), np.array(cols[1], dtype=int),
            np.array(cols[2], dtype=float), np.array(cols[3], dtype=float),
            np.array(cols[4], dtype=bool), np.array(cols[5], dtype=bool),
        )  # fmt: skip


def _nodes(visits: pd.DataFrame, visit_loc: np.ndarray, base_loc: np.ndarray):
    """Node arrays: one node per visit copy (two for a double-up), then one per carer base."""
    copies = np.repeat(np.arange(len(visits)), visits["carers"].to_numpy().astype(int))
    slot = np.zeros(len(copies), dtype=int)
    slot[1:] = (copies[1:] == copies[:-1]).astype(int)
    node_visit = np.concatenate([copies, -np.ones(len(base_loc), dtype=int)])
    node_slot = np.concatenate([slot, np.zeros(len(base_loc), dtype=int)])
    node_loc = np.concatenate([visit_loc[copies], base_loc])
    return node_visit, node_slot, node_loc


def day_problem(
    visits: pd.DataFrame,
    carers: pd.DataFrame,
    travel: dict[str, TravelTimes],
    scale: int,
    max_walk_leg_min: float = 0.0,
) -> DayProblem:
    """Build one day's arrays: distinct locations, one travel matrix per carer mode, nodes.

    Walking legs longer than ``max_walk_leg_min`` (minutes, 0 = no limit) count as unreachable.
    """
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
    node_visit, node_slot, node_loc = _nodes(visits, visit_loc, base_loc)
    return DayProblem(visits, carers, node_visit, node_slot, node_loc, locs, minutes, metres,
                      reachable, units, estimate, visit_loc, base_loc)  # fmt: skip


def subday(day: DayProblem, visit_pos: np.ndarray, carer_pos: np.ndarray) -> DayProblem:
    """The same day restricted to some visits and carers (travel arrays shared, not copied)."""
    visits = day.visits.iloc[visit_pos].reset_index(drop=True)
    carers = day.carers.iloc[carer_pos].reset_index(drop=True)
    visit_loc, base_loc = day.visit_loc[visit_pos], day.base_loc[carer_pos]
    node_visit, node_slot, node_loc = _nodes(visits, visit_loc, base_loc)
    return replace(day, visits=visits, carers=carers, node_visit=node_visit, node_slot=node_slot,
                   node_loc=node_loc, visit_loc=visit_loc, base_loc=base_loc)  # fmt: skip


@dataclass(frozen=True)
class Eligibility:
    """Who may serve what, checked visit by visit before any search.

    Attributes
    ----------
    allowed : (visit copies, carers) bool: the carer has the copy's skills, its mode reaches the
        visit there and back, and the window fits the shift.
    reasons : per visit, why no carer (two for a double-up) could serve it, or None.
    """

    allowed: np.ndarray
    reasons: list[str | None]

    @property
    def servable(self) -> np.ndarray:
        """Per visit, True when it has carers able to serve it."""
        return np.array([r is None for r in self.reasons], dtype=bool)


def slot_skills(visits: pd.DataFrame) -> list[tuple[frozenset[str], frozenset[str]]]:
    """Skills each visit asks of its first and second carer (``skills`` / ``skills_2``)."""
    first = [split_ids(s) for s in visits["skills"]]
    if "skills_2" not in visits.columns:
        return [(s, s) for s in first]
    second = [split_ids(s) for s in visits["skills_2"]]
    return [(a, b or a) for a, b in zip(first, second, strict=True)]


def eligibility(day: DayProblem, scale: int) -> Eligibility:
    """Which carers could serve each visit copy on its own, and why a visit cannot be served."""
    v, c = day.visits, day.carers
    n_v, n_c = len(v), len(c)
    need = slot_skills(v)
    have = [split_ids(s) for s in c["skills"]]
    skill_ok = np.array(
        [[[n[k] <= h for h in have] for k in (0, 1)] for n in need], dtype=bool
    ).reshape(n_v, 2, n_c)
    base, vloc = day.base_loc, day.visit_loc
    reach_ok = np.zeros((n_v, n_c), dtype=bool)
    time_ok = np.zeros((n_v, n_c), dtype=bool)
    earliest = v["earliest"].to_numpy() * scale
    latest = v["latest"].to_numpy() * scale
    dur = v["duration"].to_numpy() * scale
    for j, carer in enumerate(c.itertuples(index=False)):
        r = day.reachable[carer.mode]
        reach_ok[:, j] = r[base[j], vloc] & r[vloc, base[j]]
        there = day.units[carer.mode][base[j], vloc]
        back = day.units[carer.mode][vloc, base[j]]
        start = np.maximum(earliest, carer.shift_start * scale + there)
        time_ok[:, j] = (
            (start <= latest)
            & (start + dur + back <= carer.shift_end * scale)
            & (there + dur + back <= carer.max_minutes * scale)
        )
    slot_ok = skill_ok & reach_ok[:, None, :] & time_ok[:, None, :]
    nv = day.n_visit_nodes
    allowed = slot_ok[day.node_visit[:nv], day.node_slot[:nv]]
    reasons = [_reason(skill_ok[i], reach_ok[i], slot_ok[i], int(v["carers"].iat[i]))
               for i in range(n_v)]  # fmt: skip
    return Eligibility(allowed, _with_links(v, reasons))


def _reason(skill: np.ndarray, reach: np.ndarray, ok: np.ndarray, needed: int) -> str | None:
    """The first check that rules the visit out for every carer (two distinct for a double-up)."""
    slots = range(needed)
    if not all(skill[k].any() for k in slots) or not _two(skill, needed):
        return REASON_NO_SKILL
    if not all((skill[k] & reach).any() for k in slots) or not _two(skill & reach, needed):
        return REASON_UNREACHABLE
    if not all(ok[k].any() for k in slots) or not _two(ok, needed):
        return REASON_NO_WINDOW
    return None


def _two(ok: np.ndarray, needed: int) -> bool:
    """A double-up's two slots can go to two different carers."""
    if needed < 2:
        return True
    a, b = np.flatnonzero(ok[0]), np.flatnonzero(ok[1])
    return len(a) > 0 and len(b) > 0 and len(np.union1d(a, b)) >= 2


def _with_links(visits: pd.DataFrame, reasons: list[str | None]) -> list[str | None]:
    """Visits whose start-together partner is impossible cannot be served either."""
    if "follows" not in visits.columns:
        return reasons
    at = {str(v): i for i, v in enumerate(visits["visit_id"])}
    out = list(reasons)
    for i, other in enumerate(visits["follows"]):
        j = at.get(str(other)) if isinstance(other, str) and other else None
        if j is None or not visits["gap_min"].iat[i] == visits["gap_max"].iat[i] == 0:
            continue
        if (out[i] is None) != (out[j] is None):  # both start together, or neither can
            out[i if out[i] is None else j] = REASON_LINK
    return out
