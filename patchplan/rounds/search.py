"""Search engine for routing with synchronised and precedence-linked visits (arrays in, arrays out).

:func:`solve` takes a :class:`SyncProblem` (tasks, carers, links between tasks, travel matrices)
and returns a :class:`SyncSolution`. Nothing else in patchplan sees inside: the rounds package
builds the problem from its visits and carers and reads the routes back.

Method
------
* **Schedule.** For fixed routes the start times are the least fixed point of route and link
  constraints (:mod:`patchplan.rounds.schedule`); it minimises every lateness, so a plan is
  judged by its routes alone.
* **Units.** Tasks tied by a 'together' link (a double-up's two copies, a person's linked visits)
  form a unit that is removed and inserted as a whole: the first task at one of its best few
  places, each further task at its best place given the first, the schedule propagated exactly
  in between (so a double-up's two carers and a precedence gap are priced jointly).
* **Construction.** Greedy insertion of every unit, in random order, into empty routes (regret-2
  from empty routes was both slower and worse on the HHCRSP instances: with every route empty the
  regrets say little).
* **Improvement.** Adaptive large-neighbourhood search: each iteration removes a few units
  (random, strings of neighbouring visits from several routes as in SISR, related by place and
  time, worst placed, whole routes, linked units near a seed) and reinserts them greedily in one of
  three orders (with "blinks": a place is skipped with a small probability) or by regret-2; the
  new plan is accepted by simulated annealing, with temperatures relative to the best plan's cost
  per task. Operators are chosen by roulette on weights that follow their success per unit of
  work (places priced), so a dear operator must earn its cost.
* **Pricing an insertion.** Most places are priced in O(1) (:func:`schedule.quick_insertion`:
  slacks, and a walk down the route while no linked visit moves); bounds from the times alone and
  from travel skip most of the rest without a travel lookup; the remaining places are priced
  exactly by propagating the rise, cheapest lower bound first, while the bound can still win.

Stop rules are small objects (:class:`MaxIterations`, :class:`MaxRuntime`, :class:`NoImprovement`,
combined with :class:`AnyOf`). Given the seed the result is the same on every run when the stop is
a work count (iterations); a time limit makes it depend on machine speed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from patchplan.errors import RoundsError
from patchplan.rounds import schedule as ks
from patchplan.rounds.schedule import DESTROY, REPAIR, Data, DataArrays, State, StateArrays

__all__ = [
    "AnyOf",
    "MaxIterations",
    "MaxRuntime",
    "NoImprovement",
    "SearchStats",
    "SyncProblem",
    "SyncSolution",
    "evaluate_routes",
    "solve",
]


# --------------------------------------------------------------------------------------------
# the interface


@dataclass(frozen=True)
class SyncProblem:
    """Routing with linked tasks, as arrays. Times and costs are float64 in one unit of your choice.

    Tasks are visit copies (a double-up is two tasks linked with gap [0, 0] on different carers);
    carers are vehicles. ``T`` tasks, ``V`` carers, ``L`` links, ``M`` travel modes, ``N``
    locations.

    Attributes
    ----------
    task_loc : (T,) int, index into the travel matrices.
    earliest, latest : (T,) hard bounds on the start (``latest`` may be ``inf``).
    due : (T,) soft bound on the start: lateness ``max(0, start - due)`` (``inf``: none).
    lateness_cost : (T,) cost per time unit of lateness.
    duration : (T,) service time.
    unserved_cost : (T,) cost of leaving the task out.
    allowed : (T, V) bool, carer may serve task (skills, reach, shift fit).
    task_carer_cost : (T, V) extra cost when the carer serves the task (continuity).
    link_a, link_b : (L,) int, linked tasks: ``start[b] - start[a]`` in ``[gap_min, gap_max]``.
    gap_min, gap_max : (L,) float (``gap_max`` may be ``inf``).
    link_other_carer : (L,) bool, a and b on different carers.
    link_together : (L,) bool, a served if and only if b is.
    start_loc, end_loc : (V,) int, the carer's base.
    shift_start, shift_end : (V,) leave base no earlier, be back no later.
    max_span : (V,) back minus leave at most this (``inf``: none).
    mode : (V,) int, index of the carer's travel matrices.
    fixed_cost : (V,) cost of using the carer at all.
    break_earliest, break_latest, break_duration : (V,) one break starting within the bounds,
        taken between two stops (where the carer was; travel follows it), or before leaving or
        after returning; ``break_duration`` 0 = no break.
    travel_time : (M, N, N) travel time by mode (``inf`` = unreachable).
    travel_cost : (M, N, N) objective cost of a leg.
    max_lateness_cost : cost per time unit of the largest lateness over all served tasks.
    """

    task_loc: np.ndarray
    earliest: np.ndarray
    latest: np.ndarray
    due: np.ndarray
    lateness_cost: np.ndarray
    duration: np.ndarray
    unserved_cost: np.ndarray
    allowed: np.ndarray
    task_carer_cost: np.ndarray
    link_a: np.ndarray
    link_b: np.ndarray
    gap_min: np.ndarray
    gap_max: np.ndarray
    link_other_carer: np.ndarray
    link_together: np.ndarray
    start_loc: np.ndarray
    end_loc: np.ndarray
    shift_start: np.ndarray
    shift_end: np.ndarray
    max_span: np.ndarray
    mode: np.ndarray
    fixed_cost: np.ndarray
    break_earliest: np.ndarray
    break_latest: np.ndarray
    break_duration: np.ndarray
    travel_time: np.ndarray
    travel_cost: np.ndarray
    max_lateness_cost: float = 0.0

    @property
    def n_tasks(self) -> int:
        """Number of tasks ``T``."""
        return len(self.task_loc)

    @property
    def n_carers(self) -> int:
        """Number of carers ``V``."""
        return len(self.start_loc)


@dataclass(frozen=True)
class SearchStats:
    """How the search went.

    Attributes
    ----------
    iterations : improvement iterations run (after construction).
    best_iteration : iteration at which the returned plan was found (0 = construction).
    elapsed_s : wall-clock seconds of the whole solve.
    construction_cost : objective of the first complete plan.
    operator_use : times each (destroy, repair) operator was used, by name.
    """

    iterations: int
    best_iteration: int
    elapsed_s: float
    construction_cost: float
    operator_use: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SyncSolution:
    """A plan: routes, least start times and cost.

    Attributes
    ----------
    routes : per carer, the task indices in visiting order.
    start : (T,) start of each task (``nan`` if unserved), in the problem's time unit.
    break_start : (V,) start of each carer's break (``nan``: no break, or the carer is unused).
    cost : the objective (travel + fixed + carer + lateness + max lateness + unserved costs).
    travel_cost, fixed_cost, carer_cost, lateness_cost, unserved_cost : its parts.
    max_lateness : the largest lateness, time units (its cost is ``max_lateness_cost`` times it).
    feasible : every hard rule holds (always, unless ``initial`` routes were infeasible and kept).
    stats : :class:`SearchStats`.
    """

    routes: list[np.ndarray]
    start: np.ndarray
    break_start: np.ndarray
    cost: float
    travel_cost: float
    fixed_cost: float
    carer_cost: float
    lateness_cost: float
    max_lateness: float
    unserved_cost: float
    feasible: bool
    stats: SearchStats

    @property
    def served(self) -> np.ndarray:
        """(T,) bool, task is in some route."""
        return ~np.isnan(self.start)


# --------------------------------------------------------------------------------------------
# stop rules


@dataclass
class Progress:
    """What stop rules look at: iterations run, the last improving one, seconds elapsed."""

    iterations: int = 0
    best_iteration: int = 0
    started: float = field(default_factory=time.perf_counter)

    @property
    def elapsed_s(self) -> float:
        """Seconds since the search started."""
        return time.perf_counter() - self.started


class StoppingCriterion:
    """Base of the stop rules: ``stop(progress)``, and how far along the search is (0..1)."""

    work_count = True
    """True when the rule counts work (iterations), so stopping is deterministic."""

    def __call__(self, progress: Progress) -> bool:
        raise NotImplementedError

    def fraction(self, progress: Progress) -> float | None:
        """Share of the budget used (drives the annealing temperature); None if unknown."""
        return None


@dataclass(frozen=True)
class MaxIterations(StoppingCriterion):
    """Stop after ``n`` improvement iterations."""

    n: int

    def __call__(self, progress: Progress) -> bool:
        return progress.iterations >= self.n

    def fraction(self, progress: Progress) -> float | None:
        return progress.iterations / self.n if self.n > 0 else 1.0


@dataclass(frozen=True)
class MaxRuntime(StoppingCriterion):
    """Stop after ``seconds`` of wall-clock time (construction included)."""

    seconds: float
    work_count = False

    def __call__(self, progress: Progress) -> bool:
        return progress.elapsed_s >= self.seconds

    def fraction(self, progress: Progress) -> float | None:
        return progress.elapsed_s / self.seconds if self.seconds > 0 else 1.0


@dataclass(frozen=True)
class NoImprovement(StoppingCriterion):
    """Stop after ``n`` iterations in a row without a new best plan."""

    n: int

    def __call__(self, progress: Progress) -> bool:
        return progress.iterations - progress.best_iteration >= self.n


class AnyOf(StoppingCriterion):
    """Stop as soon as any of the rules says so.

    Its progress fraction is that of its work-count rules when it has any (so a time limit kept
    as a safety cap does not make the search depend on machine speed), else that of the others.
    """

    def __init__(self, *criteria: StoppingCriterion):
        if not criteria:
            raise ValueError("AnyOf needs at least one stopping criterion")
        self.criteria = criteria
        self.work_count = all(c.work_count for c in criteria)

    def __call__(self, progress: Progress) -> bool:
        return any(c(progress) for c in self.criteria)

    def fraction(self, progress: Progress) -> float | None:
        for counted in (True, False):
            rules = [c for c in self.criteria if c.work_count == counted]
            found = [f for c in rules if (f := c.fraction(progress)) is not None]
            if found:
                return max(found)
        return None


# --------------------------------------------------------------------------------------------
# validation


def validate(p: SyncProblem) -> None:
    """Check shapes and values once, so the kernel can trust its arrays.

    Raises
    ------
    RoundsError
        Naming the array and the index at fault.
    """
    n_t, n_v = p.n_tasks, p.n_carers
    tt = np.asarray(p.travel_time)
    if tt.ndim != 3 or tt.shape[1] != tt.shape[2] or np.shape(p.travel_cost) != tt.shape:
        raise RoundsError(f"travel_time and travel_cost must both be (M, N, N), got {tt.shape}")
    n_modes, n_loc = tt.shape[0], tt.shape[1]
    for name in ("earliest", "latest", "due", "lateness_cost", "duration", "unserved_cost"):
        if np.shape(getattr(p, name)) != (n_t,):
            raise RoundsError(f"{name} must have shape ({n_t},), got {np.shape(getattr(p, name))}")
    for name in ("allowed", "task_carer_cost"):
        if np.shape(getattr(p, name)) != (n_t, n_v):
            raise RoundsError(f"{name} must have shape ({n_t}, {n_v})")
    for name in ("end_loc", "shift_start", "shift_end", "max_span", "mode", "fixed_cost",
                 "break_earliest", "break_latest", "break_duration"):  # fmt: skip
        if np.shape(getattr(p, name)) != (n_v,):
            raise RoundsError(f"{name} must have shape ({n_v},)")
    n_l = len(p.link_a)
    for name in ("link_b", "gap_min", "gap_max", "link_other_carer", "link_together"):
        if np.shape(getattr(p, name)) != (n_l,):
            raise RoundsError(f"{name} must have shape ({n_l},)")
    _in_range("task_loc", p.task_loc, n_loc)
    _in_range("start_loc", p.start_loc, n_loc)
    _in_range("end_loc", p.end_loc, n_loc)
    _in_range("mode", p.mode, n_modes)
    _in_range("link_a", p.link_a, n_t)
    _in_range("link_b", p.link_b, n_t)
    same = np.flatnonzero(np.asarray(p.link_a) == np.asarray(p.link_b))
    if len(same):
        raise RoundsError(f"link {same[0]} ties task {p.link_a[same[0]]} to itself")
    bad = np.flatnonzero(~(np.asarray(p.gap_min) <= np.asarray(p.gap_max)))
    if len(bad):
        k = bad[0]
        raise RoundsError(f"link {k}: gap_min {p.gap_min[k]} is above gap_max {p.gap_max[k]}")
    if np.isnan(p.gap_min).any() or np.isinf(p.gap_min).any():
        raise RoundsError("gap_min must be finite")
    for name in ("earliest", "duration", "unserved_cost", "lateness_cost", "break_duration"):
        arr = np.asarray(getattr(p, name), dtype=float)
        if not np.isfinite(arr).all():
            raise RoundsError(f"{name} must be finite")
    if (np.asarray(p.duration) < 0).any() or (np.asarray(p.break_duration) < 0).any():
        raise RoundsError("durations must not be negative")
    if (np.asarray(p.travel_time) < 0).any():
        raise RoundsError("travel_time must not be negative")


def _in_range(name: str, arr: np.ndarray, n: int) -> None:
    arr = np.asarray(arr)
    bad = np.flatnonzero((arr < 0) | (arr >= n))
    if len(bad):
        raise RoundsError(f"{name}[{bad[0]}] = {arr[bad[0]]} is outside 0..{n - 1}")


# --------------------------------------------------------------------------------------------
# search parameters


@dataclass(frozen=True)
class SearchParams:
    """Tuning of the large-neighbourhood search (defaults measured on the HHCRSP instances).

    Attributes
    ----------
    remove_min, remove_max : tasks removed per iteration (units are removed whole), bounded by
        ``remove_share`` of the served tasks.
    remove_share : at most this share of the tasks is removed per iteration.
    blink : probability of skipping an insertion place in greedy repair (diversifies).
    start_temperature, end_temperature : annealing temperature as a share of the best plan's
        average cost per served task (unserved costs aside), at the start and at the end.
    candidate_places : first-task places tried when inserting a unit of linked tasks.
    construction : first plan by greedy insertion in the order of ``REPAIR[construction]``
        (0, 1, 2), or by regret-2 insertion (-1).
    segment : iterations between adaptive weight updates.
    reaction : weight of the last segment's scores in the new weights.
    scores : reward of an operator pair for a new best, a better current, an accepted plan.
    operators : names of the destroy and repair operators in use (``DESTROY``, ``REPAIR``).
    """

    remove_min: int = 2
    remove_max: int = 24
    remove_share: float = 0.3
    blink: float = 0.01
    start_temperature: float = 0.5
    end_temperature: float = 0.01
    candidate_places: int = 2
    construction: int = 0
    segment: int = 100
    reaction: float = 0.2
    scores: tuple[float, float, float] = (8.0, 3.0, 1.0)
    operators: tuple[str, ...] = DESTROY + REPAIR


# --------------------------------------------------------------------------------------------
# Python driver


def solve(
    problem: SyncProblem,
    initial: list[np.ndarray] | None = None,
    stop: StoppingCriterion | None = None,
    seed: int = 1,
    params: SearchParams | None = None,
) -> SyncSolution:
    """Plan routes for a :class:`SyncProblem`.

    Parameters
    ----------
    problem : the tasks, carers, links and travel matrices.
    initial : optional routes (task indices per carer) to start from; used when feasible.
    stop : when to stop improving (default ``MaxIterations(1000)``).
    seed : random seed; with a work-count stop the result is reproducible.
    params : search tuning (:class:`SearchParams`).

    Returns
    -------
    SyncSolution
        The best plan found, its least start times and cost parts.
    """
    validate(problem)
    params = params or SearchParams()
    stop = stop or MaxIterations(1000)
    progress = Progress()
    da, d = ks.make_data(problem)
    wa, w = ks.make_work(da)
    wa.enabled[:] = [name in params.operators for name in DESTROY + REPAIR]
    ks.seed_rng(int(seed))
    cur_a, cur = ks.make_state(da, d)
    if not (initial is not None and _load_routes(da, d, cur, initial)):
        cur_a, cur = ks.make_state(da, d)
        ks.construct(d, cur, w, params.candidate_places, params.construction)
    construction_cost = float(ks.total_cost(d, cur))
    best_a, best = ks.make_state(da, d)
    _, trial = ks.make_state(da, d)
    ks.copy_state(cur, best)
    n_served = max(1, int((cur_a.route_of[: da.n_tasks] >= 0).sum()))
    q_max = max(params.remove_min, min(params.remove_max, int(params.remove_share * n_served)))
    q_min = min(params.remove_min, q_max)
    while da.n_tasks and not stop(progress):
        n_iter = _chunk(stop, progress)
        frac = min(1.0, stop.fraction(progress) or 0.0)
        f1 = min(1.0, frac + _fraction_step(stop, progress, n_iter))
        # temperatures follow the best plan's cost per task, so they scale with the problem
        served = max(1, int((best_a.route_of[: da.n_tasks] >= 0).sum()))
        per_task = (
            max(float(ks.total_cost(d, best)) - float(best_a.cost[ks.UNSERVED]), 1e-9) / served
        )
        t_hi = params.start_temperature * per_task
        t_lo = params.end_temperature * per_task
        ks.run_iterations(
            d, cur, trial, best, w, n_iter,
            _temperature(t_hi, t_lo, frac), _temperature(t_hi, t_lo, f1),
            q_min, q_max, params.blink, params.candidate_places, params.segment,
            params.reaction, *params.scores,
        )  # fmt: skip
        progress.iterations = int(wa.counters[0])
        progress.best_iteration = int(wa.counters[1])
    uses = {name: int(n) for name, n in zip(DESTROY + REPAIR, wa.total_uses, strict=True)}
    stats = SearchStats(
        iterations=progress.iterations,
        best_iteration=progress.best_iteration,
        elapsed_s=progress.elapsed_s,
        construction_cost=construction_cost,
        operator_use=uses,
    )
    return _solution(da, d, best_a, best, stats)


CHUNK = 16
"""Iterations per call into the kernel between two looks at the stop rule."""


def _chunk(stop: StoppingCriterion, progress: Progress) -> int:
    """Iterations to run before looking at the stop rule again (never past an iteration cap)."""
    rules = stop.criteria if isinstance(stop, AnyOf) else (stop,)
    caps = [r.n - progress.iterations for r in rules if isinstance(r, MaxIterations)]
    return max(1, min([CHUNK, *caps]))


def _temperature(hi: float, lo: float, frac: float) -> float:
    return hi * (lo / hi) ** frac if hi > 0 and lo > 0 else 0.0


def _fraction_step(stop: StoppingCriterion, progress: Progress, n_iter: int) -> float:
    """Expected growth of the stop's fraction over the next ``n_iter`` iterations."""
    frac = stop.fraction(progress)
    if frac is None or progress.iterations == 0:
        return 0.0
    return frac / progress.iterations * n_iter


def _load_routes(da: DataArrays, d: Data, s: State, routes: list[np.ndarray]) -> bool:
    """Put given routes into ``s`` (breaks placed afterwards); False if they break a rule."""
    if len(routes) > da.n_carers:
        return False
    seen = np.zeros(da.n_tasks, dtype=bool)
    where = np.full(da.n_tasks, -1)
    for v, route in enumerate(routes):
        if da.has_break[v]:
            ks.unlink(d, s, da.n_tasks + v)  # placed again once every route is in
        after = -1
        for t in np.asarray(route, dtype=np.int64).tolist():
            if not (0 <= t < da.n_tasks) or seen[t] or not da.allowed[t, v]:
                return False
            seen[t] = True
            where[t] = v
            ks.link(d, s, t, v, after)
            after = t
    for t in np.flatnonzero(seen):
        g = da.group_of[t]
        members = da.group_task[da.group_ptr[g] : da.group_ptr[g + 1]]
        if not seen[members].all():
            return False
        partners = da.other_to[da.other_ptr[t] : da.other_ptr[t + 1]]
        if (where[partners] == where[t]).any():
            return False
    ks.full_schedule(d, s)
    if not ks.insert_breaks(d, s):
        return False
    return bool(ks.full_schedule(d, s))


def _solution(
    da: DataArrays, d: Data, sa: StateArrays, s: State, stats: SearchStats
) -> SyncSolution:
    ok = bool(ks.full_schedule(d, s))
    routes = []
    for v in range(da.n_carers):
        route, n = [], int(sa.first[v])
        while n >= 0:
            if n < da.n_tasks:
                route.append(n)
            n = int(sa.succ[n])
        routes.append(np.array(route, dtype=np.int64))
    start = sa.start[: da.n_tasks].copy()
    start[sa.route_of[: da.n_tasks] < 0] = np.nan
    breaks = sa.start[da.n_tasks :].copy()
    breaks[(sa.n_served == 0) | ~da.has_break] = np.nan
    c = sa.cost
    return SyncSolution(
        routes=routes,
        start=start,
        break_start=breaks,
        cost=float(ks.total_cost(d, s)),
        travel_cost=float(c[ks.TRAVEL]),
        fixed_cost=float(c[ks.FIXED]),
        carer_cost=float(c[ks.CARER]),
        lateness_cost=float(c[ks.LATE]),
        max_lateness=float(c[ks.MAX_LATE]),
        unserved_cost=float(c[ks.UNSERVED]),
        feasible=ok,
        stats=stats,
    )


def evaluate_routes(problem: SyncProblem, routes: list[np.ndarray]) -> SyncSolution | None:
    """Least schedule and cost of given routes (breaks placed at their best), None if infeasible.

    Uses the engine's own evaluator; for an independent check see the tests and
    ``benchmarks/hhcrsp.py``.
    """
    validate(problem)
    da, d = ks.make_data(problem)
    sa, s = ks.make_state(da, d)
    if not _load_routes(da, d, s, routes):
        return None
    stats = SearchStats(0, 0, 0.0, float(ks.total_cost(d, s)))
    return _solution(da, d, sa, s, stats)
