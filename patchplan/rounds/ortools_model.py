"""One day's rounds as an OR-Tools routing model: build, seed, search, read back.

* **Time** is a dimension of travel + service with waiting allowed; one transit matrix per mode.
  The objective is travel time + ``carer_fixed_cost_min`` per carer used + continuity costs +
  ``unserved_penalty_min`` per unserved visit copy (+ lateness after ``due``).
* **Double-ups** are two copies with equal start, equal active flags and different carers (the
  OR-Tools maintainers' recipe); each copy has its own allowed carers (split skills).
* **Linked visits** (``follows``): ``gap_min <= start[b] - start[a] <= gap_max`` whenever both are
  served (both or neither when the gap is 0–0).
* **Breaks** are OR-Tools break intervals; **unserved** visits are disjunctions with a penalty.
* The largest lateness cannot be put in a routing objective: ``max_lateness_cost_per_min`` is
  honoured by the linked-visit search only.

Determinism: with ``deterministic`` the search stops on work counts (``solution_limit``,
``stall_solutions``, ``branch_limit``); ``time_limit_s`` is then a safety cap, and reaching it is
reported (``DayPlan.capped``).
"""

from __future__ import annotations

import time

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from patchplan.errors import RoundsError
from patchplan.rounds.construct import Insertion, insert_pairs, insert_singles
from patchplan.rounds.model import BIG_COST, RoundsSettings, split_ids
from patchplan.rounds.problem import DayProblem, Eligibility, Links, eligibility
from patchplan.rounds.results import DayPlan, day_plan
from patchplan.rounds.seed import pyvrp_seed


def solve_day(
    day: DayProblem,
    settings: RoundsSettings,
    initial: list[list[int]] | None = None,
    construct: bool = True,
) -> DayPlan:
    """Plan one problem with OR-Tools.

    Parameters
    ----------
    day : the problem.
    settings : solver settings; ``time_limit_s`` and ``branch_limit`` are this problem's own.
    initial : optional routes (visit-copy nodes per carer) to start from, e.g. the plans of
        parts when a repair pass adds leftovers; kept where OR-Tools accepts them.
    construct : place double-ups with our pair insertion and seed singles from PyVRP (False:
        OR-Tools' own first solution only, the textbook recipe).
    """
    t0 = time.monotonic()
    scale = settings.time_units_per_min
    elig = eligibility(day, scale)
    model = _Model(day, settings, elig)
    links = day.links(scale)
    model.add_links(links)
    stall = model.close()
    routes: list[list[int]] = initial or [[] for _ in range(len(day.carers))]
    seed = None
    has_links = len(links) > 0
    if construct and settings.seed_with_pyvrp and not has_links and not initial:
        share = 1.0 if settings.deterministic else settings.seed_time_share
        seed = pyvrp_seed(day, elig.allowed, elig.servable, settings, settings.time_limit_s * share)
    start = model.first_solution(seed.routes if seed else routes, links if construct else None)
    stall.armed = True  # route reads before this point are not search steps
    solution = model.search(start, t0)
    elapsed = time.monotonic() - t0
    return model.read(solution, elig, elapsed, seed_capped=bool(seed and seed.capped))


class _Model:
    """The OR-Tools routing model of one problem (nothing outside this module sees an index)."""

    def __init__(self, day: DayProblem, settings: RoundsSettings, elig: Eligibility):
        self.day, self.settings, self.elig = day, settings, elig
        self.scale = scale = settings.time_units_per_min
        v, c = day.visits, day.carers
        n_c, n_nodes = len(c), len(day.node_visit)
        self.n_vnodes = nv = n_nodes - n_c
        starts = list(range(nv, n_nodes))
        self.manager = pywrapcp.RoutingIndexManager(n_nodes, n_c, starts, starts)
        self.routing = pywrapcp.RoutingModel(self.manager)
        self.solver = self.routing.solver()
        self.service = np.zeros(n_nodes, dtype=np.int64)
        self.service[:nv] = v["duration"].to_numpy()[day.node_visit[:nv]] * scale
        self.horizon = int(
            max(c["shift_end"].max(), (v["latest"] + v["duration"]).max() if len(v) else 0) * scale
            + 1
        )
        self.units = self._transits()
        self._costs()
        self._time()
        self._load()
        self._visits()
        self.break_vars = self._breaks()

    # ---------------------------------------------------------------- building
    def _transits(self) -> dict[str, np.ndarray]:
        """Travel units between nodes per mode; unreachable pairs cost more than the horizon."""
        day, routing = self.day, self.routing
        units, self.time_cb = {}, {}
        for mode in sorted(set(day.carers["mode"])):
            ix = np.ix_(day.node_loc, day.node_loc)
            u = np.where(day.reachable[mode][ix], day.units[mode][ix], self.horizon + 1)
            units[mode] = u
            self.time_cb[mode] = routing.RegisterTransitMatrix((u + self.service[:, None]).tolist())
        return units

    def _costs(self) -> None:
        """Arc costs per (mode, continuity pattern): travel + a penalty on entering a visit."""
        day, routing, settings = self.day, self.routing, self.settings
        v, c, vnode = day.visits, day.carers, day.node_visit
        preferred = (
            [split_ids(s) for s in v["preferred_carers"]]
            if "preferred_carers" in v.columns
            else [frozenset()] * len(v)
        )
        cost_cb: dict[tuple, int] = {}
        for j in range(len(c)):
            cid, mode = str(c["carer_id"].iat[j]), c["mode"].iat[j]
            pen = np.zeros(len(vnode), dtype=np.int64)
            for n in range(self.n_vnodes):
                pref = preferred[vnode[n]]
                if pref and cid not in pref:
                    pen[n] = settings.continuity_cost_min * self.scale
            key = (mode, pen.tobytes())
            if key not in cost_cb:
                cost = np.minimum(self.units[mode], BIG_COST) + pen[None, :]
                cost_cb[key] = routing.RegisterTransitMatrix(cost.tolist())
            routing.SetArcCostEvaluatorOfVehicle(cost_cb[key], j)
            routing.SetFixedCostOfVehicle(settings.carer_fixed_cost_min * self.scale, j)

    def _time(self) -> None:
        routing, c, scale = self.routing, self.day.carers, self.scale
        routing.AddDimensionWithVehicleTransits(
            [self.time_cb[m] for m in c["mode"]], self.horizon, self.horizon, False, "time"
        )
        self.tdim = tdim = routing.GetDimensionOrDie("time")
        for j, carer in enumerate(c.itertuples(index=False)):
            for index in (routing.Start(j), routing.End(j)):
                tdim.CumulVar(index).SetRange(int(carer.shift_start) * scale,
                                              int(carer.shift_end) * scale)  # fmt: skip
            tdim.SetSpanUpperBoundForVehicle(int(carer.max_minutes) * scale, j)
            routing.AddVariableMaximizedByFinalizer(tdim.CumulVar(routing.Start(j)))
            routing.AddVariableMinimizedByFinalizer(tdim.CumulVar(routing.End(j)))

    def _load(self) -> None:
        """Optional load dimension (the Solomon benchmark's capacities)."""
        v, c = self.day.visits, self.day.carers
        if "demand" not in v.columns or "capacity" not in c.columns:
            return
        demand = np.zeros(len(self.day.node_visit), dtype=np.int64)
        demand[: self.n_vnodes] = (
            v["demand"].to_numpy().astype(np.int64)[self.day.node_visit[: self.n_vnodes]]
        )
        cb = self.routing.RegisterUnaryTransitVector(demand.tolist())
        self.routing.AddDimensionWithVehicleCapacity(
            cb, 0, [int(x) for x in c["capacity"]], True, "load"
        )

    def _visits(self) -> None:
        """Windows, allowed carers, disjunctions and lateness of every visit copy."""
        day, routing, settings, scale = self.day, self.routing, self.settings, self.scale
        v, n_c = day.visits, len(day.carers)
        penalty = settings.unserved_penalty_min * scale
        due = self._due()
        for n in range(self.n_vnodes):
            i = day.node_visit[n]
            index = self.manager.NodeToIndex(n)
            if not self.elig.servable[i]:
                routing.VehicleVar(index).RemoveValues(list(range(n_c)))
                routing.AddDisjunction([index], 0)
                continue
            self.tdim.CumulVar(index).SetRange(int(v["earliest"].iat[i]) * scale,
                                               int(v["latest"].iat[i]) * scale)  # fmt: skip
            banned = [int(j) for j in np.flatnonzero(~self.elig.allowed[n])]
            if banned:  # SetAllowedVehiclesForIndex's SWIG binding rejects lists in ortools 9.15
                routing.VehicleVar(index).RemoveValues(banned)
            routing.AddDisjunction([index], penalty)
            if settings.lateness_cost_per_min > 0 and due[i] < int(v["latest"].iat[i]) * scale:
                self.tdim.SetCumulVarSoftUpperBound(
                    index, int(due[i]), settings.lateness_cost_per_min
                )

    def _due(self) -> np.ndarray:
        """Per visit, the time (units) after which lateness costs: ``due``, else the tolerance."""
        v, scale = self.day.visits, self.scale
        tolerant = (v["earliest"].to_numpy() + self.settings.punctuality_tolerance_min) * scale
        if "due" not in v.columns:
            return tolerant
        due = v["due"].to_numpy(dtype=float) * scale
        return np.where(np.isnan(due), tolerant, np.ceil(due)).astype(np.int64)

    def _breaks(self) -> dict[int, object]:
        routing, solver, scale = self.routing, self.solver, self.scale
        transits = [int(self.service[self.manager.IndexToNode(i)]) for i in range(routing.Size())]
        out: dict[int, object] = {}
        for j, carer in enumerate(self.day.carers.itertuples(index=False)):
            if int(carer.break_minutes) > 0:
                out[j] = brk = solver.FixedDurationIntervalVar(
                    int(carer.break_earliest) * scale, int(carer.break_latest) * scale,
                    int(carer.break_minutes) * scale, False, f"break {carer.carer_id}",
                )  # fmt: skip
                self.tdim.SetBreakIntervalsOfVehicle([brk], j, transits)
        return out

    def add_links(self, links: Links) -> None:
        """Start-time links: ``gap_min <= start[b] - start[a] <= gap_max`` when both are served."""
        routing, solver, tdim = self.routing, self.solver, self.tdim
        big = self.horizon
        for k in range(len(links)):
            a = self.manager.NodeToIndex(int(links.a[k]))
            b = self.manager.NodeToIndex(int(links.b[k]))
            ta, tb = tdim.CumulVar(a), tdim.CumulVar(b)
            act_a, act_b = routing.ActiveVar(a), routing.ActiveVar(b)
            lo, hi = int(links.gap_min[k]), int(links.gap_max[k])
            if links.together[k]:
                solver.Add(act_a == act_b)
                solver.Add(tb - ta >= lo - big * (1 - act_a))
                solver.Add(tb - ta <= hi + big * (1 - act_a))
            else:  # binds only when both are served
                slack = big * (2 - act_a - act_b)
                solver.Add(tb - ta + slack >= lo)
                solver.Add(tb - ta - slack <= hi)
            if links.other_carer[k]:
                solver.Add(solver.IsDifferentVar(routing.VehicleVar(a), routing.VehicleVar(b))
                           >= act_a)  # fmt: skip

    def close(self) -> _StallStop:
        settings = self.settings
        params = pywrapcp.DefaultRoutingSearchParameters()
        params.first_solution_strategy = (
            routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
        )
        params.local_search_metaheuristic = (
            routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
        )
        if settings.deterministic:
            params.solution_limit = settings.solution_limit
            # OR-Tools' LNS sub-searches stop on a 100 ms clock by default: under load they would
            # stop at different points, so their clock is left to the day's safety cap
            params.lns_time_limit.FromMilliseconds(int(settings.time_limit_s * 1000))
        # set before closing (``search`` shortens it to what is left) so OR-Tools knows GLS ends
        params.time_limit.FromMilliseconds(int(settings.time_limit_s * 1000))
        params.disable_scheduling_beware_this_may_degrade_performance = (
            not settings.scheduling_filters
        )
        self.params = params
        stall = _StallStop(self.routing, settings.stall_solutions if settings.deterministic else 0)
        if settings.deterministic and settings.branch_limit > 0:
            self.routing.AddSearchMonitor(self.solver.BranchesLimit(settings.branch_limit))
        self.routing.CloseModelWithParameters(params)
        return stall

    # ---------------------------------------------------------------- solving
    def first_solution(self, routes: list[list[int]], links: Links | None):
        """Seed routes read under every constraint, then double-ups and singles inserted by us."""
        start = _read_routes(self.routing, self.manager, routes)
        if links is None or not len(links):
            return start
        kept = self.routes_of(start) if start is not None else [[] for _ in routes]
        ins = self._insertion()
        pairs = [(int(a), int(b)) for a, b, t in zip(links.a, links.b, links.together,
                                                       strict=True) if t]  # fmt: skip
        placed_nodes = {n for r in kept for n in r}
        pairs = [p for p in pairs if p[0] not in placed_nodes]
        kept, placed = insert_pairs(ins, kept, pairs)
        placed_nodes = {n for r in kept for n in r}
        in_pairs = {n for p in pairs for n in p}
        singles = [n for n in range(self.n_vnodes)
                   if self.elig.servable[self.day.node_visit[n]] and n not in in_pairs
                   and n not in placed_nodes]  # fmt: skip
        kept, placed_singles = insert_singles(ins, kept, singles)
        return placed_singles or placed or start

    def _insertion(self) -> Insertion:
        v, nv = self.day.visits, self.n_vnodes
        lo = np.zeros(len(self.day.node_visit), dtype=np.int64)
        hi = np.zeros(len(self.day.node_visit), dtype=np.int64)
        lo[:nv] = v["earliest"].to_numpy()[self.day.node_visit[:nv]] * self.scale
        hi[:nv] = v["latest"].to_numpy()[self.day.node_visit[:nv]] * self.scale
        return Insertion(self.routing, self.manager, self.units, self.service, self.elig.allowed,
                         self.day.carers, self.day.node_visit, lo, hi, self.scale)  # fmt: skip

    def search(self, start, t0: float):
        params = self.params
        remaining = max(0.1, self.settings.time_limit_s - (time.monotonic() - t0))
        params.time_limit.FromMilliseconds(int(remaining * 1000))
        solution = None
        if start is not None:
            solution = self.routing.SolveFromAssignmentWithParameters(start, params)
        if solution is None:
            solution = self.routing.SolveWithParameters(params)
        if solution is None:
            # cannot happen while every visit is droppable; kept so nothing ever crashes
            raise RoundsError("OR-Tools found no solution, not even with every visit unserved")
        return solution

    def routes_of(self, assignment) -> list[list[int]]:
        """Visit-copy nodes per carer in an assignment."""
        routing, manager = self.routing, self.manager
        routes = []
        for j in range(len(self.day.carers)):
            index, route = assignment.Value(routing.NextVar(routing.Start(j))), []
            while not routing.IsEnd(index):
                route.append(manager.IndexToNode(index))
                index = assignment.Value(routing.NextVar(index))
            routes.append(route)
        return routes

    def read(self, solution, elig: Eligibility, elapsed: float, seed_capped: bool) -> DayPlan:
        routing, tdim = self.routing, self.tdim
        routes = self.routes_of(solution)
        starts: dict[int, int] = {}
        for j, route in enumerate(routes):
            for n in route:
                starts[n] = solution.Value(tdim.CumulVar(self.manager.NodeToIndex(n)))
            if route:
                starts[-(j + 1)] = solution.Value(tdim.CumulVar(routing.End(j)))
        breaks = {
            j: solution.StartValue(b)
            for j, b in self.break_vars.items()
            if solution.PerformedValue(b) and routes[j]
        }
        # A search cut by the wall-clock cap says so, rather than blaming the fleet's capacity.
        capped = seed_capped or elapsed >= self.settings.time_limit_s * 0.98
        return day_plan(self.day, routes, starts, breaks, elig.reasons, self.scale,
                        objective=solution.ObjectiveValue(), elapsed_s=elapsed, capped=capped,
                        solver="or-tools", work=self.solver.Branches())  # fmt: skip


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
    """Load seed routes, all at once or else one by one, keeping those OR-Tools accepts.

    All at once first: routes sharing a double-up are only valid together.
    """
    if not any(routes):
        return None
    whole = routing.ReadAssignmentFromRoutes([[manager.NodeToIndex(n) for n in r] for r in routes],
                                             True)  # fmt: skip
    if whole is not None:
        return whole
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
