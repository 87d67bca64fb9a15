"""A first solution from PyVRP (hybrid genetic search) on a relaxed copy of a day.

Seeds OR-Tools on days without double-ups or linked visits, where PyVRP's model (time windows,
shift windows and durations, routing profiles for skills and modes) is the day's own problem less
breaks and continuity: OR-Tools then enforces those while it inserts the rest and improves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from patchplan.rounds.model import BIG_COST, RoundsSettings
from patchplan.rounds.problem import DayProblem


@dataclass(frozen=True)
class Seed:
    """PyVRP's first routes (visit-copy nodes per carer) and whether its clock cut it short."""

    routes: list[list[int]]
    capped: bool


def pyvrp_seed(
    day: DayProblem,
    allowed: np.ndarray,
    served: np.ndarray,
    settings: RoundsSettings,
    budget_s: float,
) -> Seed | None:
    """Routes (visit-copy nodes per carer) from PyVRP on a relaxed copy of the problem.

    Only single-carer visits are seeded (no breaks, continuity or links); skills and modes become
    routing profiles. ``allowed`` is per visit copy, ``served`` per visit.
    """
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
        key = (c["mode"].iat[j], tuple(allowed[singles, j]))
        carer_profile.append(profiles.setdefault(key, len(profiles)))
    dist_mats, dur_mats = [], []
    for mode, pattern in profiles:
        u = day.units[mode][np.ix_(loc_of, loc_of)].astype(np.int64)
        r = day.reachable[mode][np.ix_(loc_of, loc_of)]
        u = np.where(r, u, BIG_COST)
        banned = n_c + np.flatnonzero(~np.array(pattern, dtype=bool))
        u[:, banned] = BIG_COST
        u[banned, :] = BIG_COST
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
    # a deterministic seed that stopped on the clock, not its iterations, may not repeat
    capped = settings.deterministic and result.num_iterations < settings.seed_iterations
    best = result.best
    if not best.is_feasible():
        return Seed([[] for _ in range(n_c)], capped)
    routes: list[list[int]] = [[] for _ in range(n_c)]
    for route in best.routes():
        j = route.vehicle_type()
        routes[j] = [singles[a.idx] for a in route.schedule() if a.is_client()]
    return Seed(routes, capped)
