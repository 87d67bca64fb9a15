"""Days with double-ups or linked visits, planned by the linked-visit search (``search.py``).

OR-Tools' local search moves one node at a time, so a double-up's two copies, or a visit tied to
another by a gap, can hardly move at all once placed. The linked-visit search removes and inserts
linked visits together with exact schedules. This module only translates: a :class:`DayProblem`
becomes a ``SyncProblem`` (time units of ``1 / scale`` minutes; costs in the same units as
OR-Tools' objective: travel time units, minutes × scale for fixed, continuity and unserved
costs), and the search's routes and start times come back as a :class:`DayPlan`.
"""

from __future__ import annotations

import time

import numpy as np

from patchplan.rounds.model import RoundsSettings, split_ids
from patchplan.rounds.problem import DayProblem, Eligibility, eligibility
from patchplan.rounds.results import DayPlan, day_plan


def available() -> bool:
    """True when the linked-visit search (and numba) can be imported."""
    try:
        import patchplan.rounds.search  # noqa: F401
    except ImportError:
        return False
    return True


def sync_problem(day: DayProblem, settings: RoundsSettings, elig: Eligibility):
    """The day as the search's arrays (tasks = visit copies, in node order)."""
    from patchplan.rounds.search import SyncProblem

    scale = settings.time_units_per_min
    v, c = day.visits, day.carers
    nv = day.n_visit_nodes
    visit = day.node_visit[:nv]
    modes = sorted(set(c["mode"]))
    links = day.links(scale)
    shift_start = c["shift_start"].to_numpy(dtype=float) * scale
    return SyncProblem(
        task_loc=day.node_loc[:nv].astype(np.int64),
        earliest=v["earliest"].to_numpy(dtype=float)[visit] * scale,
        latest=v["latest"].to_numpy(dtype=float)[visit] * scale,
        due=_due(day, settings)[visit],
        lateness_cost=np.full(nv, float(settings.lateness_cost_per_min)),
        duration=v["duration"].to_numpy(dtype=float)[visit] * scale,
        unserved_cost=np.full(nv, float(settings.unserved_penalty_min * scale)),
        allowed=elig.allowed & elig.servable[visit][:, None],
        task_carer_cost=_continuity(day, settings)[visit],
        link_a=links.a.astype(np.int64),
        link_b=links.b.astype(np.int64),
        gap_min=links.gap_min.astype(float),
        gap_max=links.gap_max.astype(float),
        link_other_carer=links.other_carer,
        link_together=links.together,
        start_loc=day.base_loc.astype(np.int64),
        end_loc=day.base_loc.astype(np.int64),
        shift_start=shift_start,
        shift_end=c["shift_end"].to_numpy(dtype=float) * scale,
        max_span=c["max_minutes"].to_numpy(dtype=float) * scale,
        mode=np.array([modes.index(m) for m in c["mode"]], dtype=np.int64),
        fixed_cost=np.full(len(c), float(settings.carer_fixed_cost_min * scale)),
        break_earliest=c["break_earliest"].to_numpy(dtype=float) * scale,
        break_latest=c["break_latest"].to_numpy(dtype=float) * scale,
        break_duration=c["break_minutes"].to_numpy(dtype=float) * scale,
        travel_time=np.stack([_travel(day, m) for m in modes]),
        travel_cost=np.stack([_travel(day, m) for m in modes]),
        max_lateness_cost=float(settings.max_lateness_cost_per_min),
    )


def _travel(day: DayProblem, mode: str) -> np.ndarray:
    """Travel time units between locations, infinite where the mode cannot go."""
    return np.where(day.reachable[mode], day.units[mode].astype(float), np.inf)


def _due(day: DayProblem, settings: RoundsSettings) -> np.ndarray:
    """Per visit, the time (units) after which lateness costs; infinite when it costs nothing."""
    v, scale = day.visits, settings.time_units_per_min
    if settings.lateness_cost_per_min <= 0 and settings.max_lateness_cost_per_min <= 0:
        return np.full(len(v), np.inf)
    tolerant = (v["earliest"].to_numpy(dtype=float) + settings.punctuality_tolerance_min) * scale
    if "due" not in v.columns:
        return tolerant
    due = v["due"].to_numpy(dtype=float) * scale
    return np.where(np.isnan(due), tolerant, due)


def _continuity(day: DayProblem, settings: RoundsSettings) -> np.ndarray:
    """(visits, carers) cost of a visit served by a carer outside its ``preferred_carers``."""
    v, c = day.visits, day.carers
    cost = np.zeros((len(v), len(c)))
    if "preferred_carers" not in v.columns:
        return cost
    ids = c["carer_id"].astype(str).to_numpy()
    for i, text in enumerate(v["preferred_carers"]):
        preferred = split_ids(text)
        if preferred:
            cost[i, ~np.isin(ids, list(preferred))] = (
                settings.continuity_cost_min * settings.time_units_per_min
            )
    return cost


_warm = False


def _compiled(problem) -> None:
    """Compile (or load from numba's cache) the search once per process, before any clock starts:
    on a fresh machine compiling takes about 30 s, which would otherwise eat a day's safety cap."""
    global _warm
    if _warm:
        return
    from patchplan.rounds import search

    search.solve(problem, stop=search.MaxIterations(1))
    _warm = True


def solve_linked(
    day: DayProblem, settings: RoundsSettings, initial: list[list[int]] | None = None
) -> DayPlan:
    """Plan one problem with the linked-visit search (routes of visit-copy nodes per carer)."""
    from patchplan.rounds import search

    elig = eligibility(day, settings.time_units_per_min)
    problem = sync_problem(day, settings, elig)
    _compiled(problem)
    t0 = time.monotonic()
    stop = search.AnyOf(
        search.MaxIterations(settings.linked_iterations), search.MaxRuntime(settings.time_limit_s)
    )
    start = [np.asarray(r, dtype=np.int64) for r in initial] if initial else None
    solution = search.solve(problem, initial=start, stop=stop, seed=settings.seed)
    elapsed = time.monotonic() - t0
    routes = [[int(t) for t in r] for r in solution.routes]
    starts = {n: int(round(solution.start[n])) for r in routes for n in r}
    breaks = {
        j: int(round(b))
        for j, b in enumerate(solution.break_start)
        if not np.isnan(b) and routes[j]
    }
    capped = solution.stats.iterations < settings.linked_iterations and (
        elapsed >= settings.time_limit_s * 0.98
    )
    return day_plan(day, routes, starts, breaks, elig.reasons, settings.time_units_per_min,
                    objective=float(solution.cost), elapsed_s=elapsed, capped=capped,
                    solver="linked search", work=solution.stats.iterations)  # fmt: skip
