"""Planning a whole day: impossible visits set aside, large days cut into parts, leftovers repaired.

* Visits no carer of the day could serve are reported with their own reason and never enter a
  model; a model is offered no more carers than visit copies, always including carers whose skills
  some visit needs.
* A day with more than ``max_visits_per_problem`` visit copies is cut into compact geographic parts
  (:func:`compact_groups`, each address's visits together), each planned with its share of the
  carers (:func:`share_carers`).
* Visits a part could not place are offered, in a repair problem, to **every carer with slack**
  who may serve them (idle carers and carers of other parts, their rounds kept as a starting point),
  so a visit needing a skill held by a carer of another part is not stranded.
* ``time_limit_s`` and ``branch_limit`` bound the whole day: parts share them in proportion to
  their visit copies, and the repair pass gets what is left.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd

from patchplan.rounds.model import CARER_KIND, REASON_CAPACITY, REASON_TIME_LIMIT, RoundsSettings
from patchplan.rounds.problem import DayProblem, Eligibility, eligibility, subday
from patchplan.rounds.results import DayPlan, empty_plan, unserved_table

Solver = Callable[[DayProblem, RoundsSettings, "list[list[int]] | None"], DayPlan]
REPAIR_SHARE = 0.15
"""Share of a day's time and branch budget kept for the repair pass when a day is cut."""


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


def largest_remainder(total: int, weight: np.ndarray) -> np.ndarray:
    """``total`` whole units shared in proportion to ``weight`` (Hamilton's method; ties by order)."""
    if weight.sum() <= 0:
        weight = np.ones(len(weight))
    quota = total * weight / weight.sum()
    count = np.floor(quota).astype(int)
    rest = total - int(count.sum())
    for g in np.lexsort((np.arange(len(quota)), -(quota - count)))[:rest]:
        count[g] += 1
    return count


def share_carers(day: DayProblem, groups: list[np.ndarray], allowed: np.ndarray | None = None
                 ) -> list[np.ndarray]:  # fmt: skip
    """Carer positions for each group of visits, in proportion to the work each kind can do there.

    Carers alike (``CARER_KIND``: mode, shift, span, break and skills) are shared out together,
    weighted by the care minutes, opening in their shift, of the visits *they may serve*
    (``allowed``, per visit copy), so a carer with a rare skill goes where that skill is needed and
    each group gets the day's mix of walkers and drivers, early and late shifts. Within a kind,
    carers go to the group nearest their base. A group gets at least one carer (two when it has a
    double-up), taken from the group with most carers per care minute.
    """
    v, c = day.visits, day.carers
    nv = day.n_visit_nodes
    node_work = v["duration"].to_numpy(dtype=float)[day.node_visit[:nv]]
    node_open = v["earliest"].to_numpy()[day.node_visit[:nv]]
    allowed = allowed if allowed is not None else np.ones((nv, len(c)), dtype=bool)
    group_of = np.full(len(v), -1)
    for g, members in enumerate(groups):
        group_of[members] = g
    node_group = group_of[day.node_visit[:nv]]
    keys = list(c[CARER_KIND].astype(str).itertuples(index=False, name=None))
    crew: list[list[int]] = [[] for _ in groups]
    centres = np.array([day.locs[day.visit_loc[g]].mean(axis=0) for g in groups])
    bases = day.locs[day.base_loc]
    for key in dict.fromkeys(keys):
        members = np.array([j for j, k in enumerate(keys) if k == key])
        start, end = int(c["shift_start"].iat[members[0]]), int(c["shift_end"].iat[members[0]])
        can = allowed[:, members[0]] & (node_group >= 0)
        in_shift = can & (node_open >= start) & (node_open < end)
        share = np.bincount(
            node_group[in_shift], weights=node_work[in_shift], minlength=len(groups)
        )
        if share.sum() <= 0:
            share = np.bincount(node_group[can], weights=node_work[can], minlength=len(groups))
        room = largest_remainder(len(members), share.astype(float))
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
    _top_up(crew, groups, v)
    return [np.array(sorted(x), dtype=int) for x in crew]


def _top_up(crew: list[list[int]], groups: list[np.ndarray], visits: pd.DataFrame) -> None:
    """Give every group at least one carer (two with a double-up), from the best-staffed group."""
    work = (visits["duration"] * visits["carers"]).to_numpy(dtype=float)
    load = np.array([work[g].sum() for g in groups])
    needed = [2 if (visits["carers"].to_numpy()[g] == 2).any() else 1 for g in groups]
    for g in range(len(groups)):
        while len(crew[g]) < needed[g]:
            spare = [h for h in range(len(groups)) if len(crew[h]) > needed[h]]
            if not spare:
                break
            donor = max(spare, key=lambda h: (len(crew[h]) / max(float(load[h]), 1.0), -h))
            crew[g].append(crew[donor].pop())


def interleave(carers: pd.DataFrame, positions: np.ndarray) -> np.ndarray:
    """``positions`` reordered to take one carer of each kind (``CARER_KIND``) in turn."""
    kinds = carers.iloc[positions][CARER_KIND].astype(str)
    turn = kinds.groupby(list(kinds.columns), sort=False).cumcount().to_numpy()
    return positions[np.lexsort((positions, turn))]


def enough_carers(day: DayProblem, allowed: np.ndarray, nodes: np.ndarray, positions: np.ndarray
                  ) -> np.ndarray:  # fmt: skip
    """At most one carer per visit copy in ``nodes``, chosen from ``positions`` (sorted).

    Carers some copy needs come first (for each copy, scarcest first, one of its allowed carers
    unless one is already in), then one of each kind in turn, so the mix is kept: an extra carer
    only slows the search, a missing skill strands a visit.
    """
    want = max(2, len(nodes))
    if len(positions) <= want:
        return np.sort(positions)
    chosen: list[int] = []
    ok = allowed[np.ix_(nodes, positions)]
    for k in np.argsort(ok.sum(axis=1), kind="stable"):
        if ok[k].any() and not ok[k][np.isin(positions, chosen)].any() and len(chosen) < want:
            chosen.append(int(positions[np.flatnonzero(ok[k])[0]]))
    rest = [int(p) for p in interleave(day.carers, positions) if int(p) not in chosen]
    return np.sort(np.array(chosen + rest[: want - len(chosen)], dtype=int))


def plan_day(day: DayProblem, settings: RoundsSettings, solve: Solver) -> list[DayPlan]:
    """Plan one day: set aside impossible visits, cut large days, repair what parts left.

    Parameters
    ----------
    day : the whole day.
    settings : ``time_limit_s`` and ``branch_limit`` are the whole day's.
    solve : plans one problem, optionally from initial routes (the solver chosen for the day).
    """
    t0 = time.monotonic()
    scale = settings.time_units_per_min
    elig = eligibility(day, scale)
    ok = elig.servable
    bad = np.flatnonzero(~ok)
    reasons = [str(elig.reasons[i]) for i in bad]
    plans = (
        [empty_plan(unserved_table(day.visits, bad.tolist(), reasons), day.estimate)]
        if len(bad)
        else []
    )
    if not ok.any():
        return plans
    pos = np.flatnonzero(ok)
    copies = day.visits["carers"].to_numpy().astype(int)
    total = int(copies[pos].sum())
    cap = settings.max_visits_per_problem
    n_parts = min(math.ceil(total / cap) if cap > 0 else 1, max(1, len(day.carers) // 2))
    if n_parts <= 1:
        nodes = np.flatnonzero(ok[day.node_visit[: day.n_visit_nodes]])
        crew = enough_carers(day, elig.allowed, nodes, np.arange(len(day.carers)))
        return [solve(subday(day, pos, crew), settings, None), *plans]

    groups = _address_groups(day, pos, copies, n_parts)
    shares = share_carers(day, groups, elig.allowed)
    budget = 1.0 - REPAIR_SHARE
    parts = [
        solve(subday(day, g, cs), _share(settings, budget * copies[g].sum() / total), None)
        for g, cs in zip(groups, shares, strict=True)
    ]
    left = _leftovers(day, parts)
    if len(left):
        remaining = max(settings.time_limit_s * REPAIR_SHARE,
                        settings.time_limit_s - (time.monotonic() - t0))  # fmt: skip
        repair_settings = replace(_share(settings, REPAIR_SHARE), time_limit_s=remaining)
        parts = _repair(day, elig, parts, left, repair_settings, solve)
    return [*_true_reasons(parts), *plans]


def _address_groups(day: DayProblem, pos: np.ndarray, copies: np.ndarray, n: int
                    ) -> list[np.ndarray]:  # fmt: skip
    """Compact groups of the visits at ``pos``, keeping each address's visits together."""
    locs, inverse = np.unique(day.visit_loc[pos], return_inverse=True)
    inverse = inverse.reshape(-1)
    weight = np.bincount(inverse, weights=copies[pos], minlength=len(locs))
    return [pos[np.isin(inverse, g)] for g in compact_groups(day.locs[locs], weight, n)]


def _share(settings: RoundsSettings, fraction: float) -> RoundsSettings:
    """Settings for a problem that gets ``fraction`` of the day's time and branch budget."""
    fraction = min(max(fraction, 0.0), 1.0)
    return replace(
        settings,
        time_limit_s=max(0.5, settings.time_limit_s * fraction),
        branch_limit=max(1, int(settings.branch_limit * fraction)) if settings.branch_limit else 0,
    )


def _leftovers(day: DayProblem, parts: list[DayPlan]) -> np.ndarray:
    """Positions (in ``day.visits``) of visits the parts left unserved."""
    left = {str(u) for p in parts for u in p.unserved["visit_id"]}
    ids = day.visits["visit_id"].astype(str)
    return np.flatnonzero(ids.isin(left).to_numpy())


def _repair(day: DayProblem, elig: Eligibility, parts: list[DayPlan], left: np.ndarray,
            settings: RoundsSettings, solve: Solver) -> list[DayPlan]:  # fmt: skip
    """Offer the leftovers to every carer who may serve them and has slack, keeping their rounds.

    Carers are taken idle first, then by how few visits they have, until the problem reaches
    ``max_visits_per_problem`` copies; the chosen carers' rounds start as they were, so the
    repair only adds (OR-Tools may still improve them).
    """
    nv = day.n_visit_nodes
    left_nodes = np.flatnonzero(np.isin(day.node_visit[:nv], left))
    able = np.asarray(elig.allowed[left_nodes].any(axis=0), dtype=bool)
    ids = day.carers["carer_id"].astype(str).to_numpy()
    routes = {cid: r for p in parts for cid, r in p.routes.items()}
    load = np.array([len(routes.get(cid, [])) for cid in ids])
    order = [int(j) for j in np.lexsort((np.arange(len(ids)), load)) if able[j]]
    room = max(settings.max_visits_per_problem, 2 * len(left_nodes))
    chosen: list[int] = []
    size = len(left_nodes)
    for j in order:
        if size + load[j] > room and len(chosen) >= min(2, len(order)):
            continue
        chosen.append(j)
        size += load[j]
    # Their part-mates come too, lightest first, so a chosen carer's own visits can move to a
    # colleague and free the time the leftovers need (a rare skill is then used where only it can).
    part_of = {cid: k for k, p in enumerate(parts) for cid in p.routes}
    parts_in = {part_of[ids[j]] for j in chosen if ids[j] in part_of}
    mates = [j for j in np.lexsort((np.arange(len(ids)), load))
             if part_of.get(ids[j]) in parts_in and j not in chosen]  # fmt: skip
    for j in mates:
        if size + load[j] <= room:
            chosen.append(int(j))
            size += load[j]
    chosen = _close_over_links(day, routes, ids, chosen, left)
    chosen_ids = set(ids[chosen])
    kept_visits = {vid for cid in chosen_ids for vid, _ in routes.get(cid, [])}
    vid = day.visits["visit_id"].astype(str)
    pos = np.flatnonzero((vid.isin(kept_visits) | vid.isin(set(vid.iloc[left]))).to_numpy())
    crew = np.array(sorted(chosen), dtype=int)
    sub = subday(day, pos, crew)
    node_of = {(str(sub.visits["visit_id"].iat[sub.node_visit[n]]), int(sub.node_slot[n])): n
               for n in range(sub.n_visit_nodes)}  # fmt: skip
    initial = [[node_of[s] for s in routes.get(str(sub.carers["carer_id"].iat[k]), [])]
               for k in range(len(crew))]  # fmt: skip
    repaired = solve(sub, settings, initial)
    rest = [_without(p, chosen_ids, kept_visits | set(vid.iloc[left])) for p in parts]
    return [*rest, repaired]


def _close_over_links(day: DayProblem, routes: dict[str, list[tuple[str, int]]],
                      ids: np.ndarray, chosen: list[int], left: np.ndarray) -> list[int]:  # fmt: skip
    """``chosen`` plus every carer holding a copy or a linked visit of what the repair replans.

    A double-up whose other copy, or a visit whose ``follows`` partner, stayed with a carer outside
    the repair would be planned twice, or its gap would bind nothing; so those carers come too.
    """
    v = day.visits
    partners: dict[str, set[str]] = {}
    if "follows" in v.columns:
        for vid, other in zip(v["visit_id"].astype(str), v["follows"], strict=True):
            if isinstance(other, str) and other:
                partners.setdefault(vid, set()).add(other)
                partners.setdefault(other, set()).add(vid)
    holders: dict[str, set[str]] = {}
    for cid, route in routes.items():
        for vid, _ in route:
            holders.setdefault(vid, set()).add(cid)
    position = {cid: j for j, cid in enumerate(ids)}
    out = list(chosen)
    todo = {str(x) for x in v["visit_id"].iloc[left]}
    while True:
        visits = todo | {vid for j in out for vid, _ in routes.get(str(ids[j]), [])}
        visits |= {p for vid in visits for p in partners.get(vid, ())}
        extra = {position[c] for vid in visits for c in holders.get(vid, ())} - set(out)
        if not extra:
            return out
        out.extend(sorted(extra))


def _without(plan: DayPlan, carers: set[str], visits: set[str]) -> DayPlan:
    """A plan less the rounds of ``carers`` and any unserved row of ``visits`` (replanned)."""
    keep = ~plan.rounds["carer_id"].isin(carers).to_numpy()
    return replace(
        plan,
        rounds=plan.rounds[keep].reset_index(drop=True),
        legs=plan.legs[keep].reset_index(drop=True),
        breaks=plan.breaks[~plan.breaks["carer_id"].isin(carers)].reset_index(drop=True),
        unserved=plan.unserved[~plan.unserved["visit_id"].isin(visits)].reset_index(drop=True),
        routes={k: r for k, r in plan.routes.items() if k not in carers},
    )


def _true_reasons(parts: list[DayPlan]) -> list[DayPlan]:
    """Every visit left in a part had carers able to serve it: its reason is capacity or time."""
    capped = {REASON_TIME_LIMIT, REASON_CAPACITY}
    out = []
    for p in parts:
        u = p.unserved.copy()
        u["reason"] = [r if r in capped else REASON_CAPACITY for r in u["reason"]]
        out.append(replace(p, unserved=u))
    return out
