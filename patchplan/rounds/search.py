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
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numba import njit, types
from numba.experimental import structref

from patchplan.errors import RoundsError
from patchplan.rounds import schedule as ks
from patchplan.rounds.schedule import Data, DataArrays, State, StateArrays

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
# search parameters and scratch space


DESTROY = ("random", "strings", "related", "worst", "route", "linked", "split")
REPAIR = ("greedy-random", "greedy-earliest", "greedy-hardest", "regret-2")
N_DESTROY = len(DESTROY)


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


class WorkArrays(NamedTuple):
    """Scratch arrays of the search (allocated once)."""

    route_cost: np.ndarray  # (V,) best price per route of the task being scanned
    route_after: np.ndarray  # (V,)
    unit_route_cost: np.ndarray  # (V,) best joint price of a unit per route of its first task
    cand_v: np.ndarray  # (P,) places needing exact pricing
    cand_after: np.ndarray
    cand_lb: np.ndarray
    removed: np.ndarray  # (G,) units removed, in removal order
    n_removed: np.ndarray  # (1,)
    unit_mark: np.ndarray  # (G,) int, stamp: unit already removed in this iteration
    plan_len: np.ndarray  # (1,) tasks in the plan
    plan_task: np.ndarray  # (maxg,) best joint placement of a unit
    plan_v: np.ndarray
    plan_after: np.ndarray
    trial_task: np.ndarray  # (maxg,) current trial
    trial_v: np.ndarray
    trial_after: np.ndarray
    trial_mark: np.ndarray
    trial_cost: np.ndarray  # (maxg, N_COST) cost parts before each trial insertion
    key: np.ndarray  # (G,) float sort keys
    nbr: np.ndarray  # (T, K) tasks by travel time from each task
    scratch_f: np.ndarray  # (T,) float
    scratch_i: np.ndarray  # (T,) int
    weights: np.ndarray  # (n_destroy + n_repair,) adaptive weights
    enabled: np.ndarray  # (n_destroy + n_repair,) 1.0 for operators in use, else 0.0
    scores: np.ndarray  # (n_destroy + n_repair,) this segment's scores
    uses: np.ndarray  # (n_destroy + n_repair,) this segment's uses
    work: np.ndarray  # (n_destroy + n_repair,) this segment's work (places priced)
    total_uses: np.ndarray  # (n_destroy + n_repair,)
    counters: np.ndarray  # [iteration, best iteration, stamp, work]


@structref.register
class _WorkType(types.StructRef):
    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


if TYPE_CHECKING:
    Work = WorkArrays  # the handle has exactly the tuple's fields
else:

    class Work(structref.StructRefProxy):
        """Kernel handle on :class:`WorkArrays` (same memory)."""

    structref.define_proxy(Work, _WorkType, WorkArrays._fields)


def _make_work(d: DataArrays, n_neighbours: int = 40) -> tuple[WorkArrays, Work]:
    n_t, n_v = d.n_tasks, d.n_carers
    n_nodes = n_t + n_v
    n_groups = len(d.group_ptr) - 1
    maxg = int(np.diff(d.group_ptr).max()) if n_groups else 1
    n_ops = len(DESTROY) + len(REPAIR)
    # neighbours by travel time (first carer's mode: only a proximity order is needed)
    k = min(n_neighbours, max(n_t - 1, 1))
    if n_t > 1:
        m = int(d.mode[0]) if n_v else 0
        tt = d.travel_time[m][np.ix_(d.loc[:n_t], d.loc[:n_t])].copy()
        tt = np.where(np.isfinite(tt), tt, np.nanmax(np.where(np.isfinite(tt), tt, 0)) * 10 + 1)
        np.fill_diagonal(tt, np.inf)
        nbr = np.argsort(tt, axis=1, kind="stable")[:, :k].astype(np.int64)
    else:
        nbr = np.zeros((n_t, 1), dtype=np.int64)
    wa = WorkArrays(
        route_cost=np.zeros(n_v),
        route_after=np.zeros(n_v, dtype=np.int64),
        unit_route_cost=np.zeros(n_v),
        cand_v=np.zeros(n_nodes + n_v + 1, dtype=np.int64),
        cand_after=np.zeros(n_nodes + n_v + 1, dtype=np.int64),
        cand_lb=np.zeros(n_nodes + n_v + 1),
        removed=np.zeros(max(n_groups, 1), dtype=np.int64),
        n_removed=np.zeros(1, dtype=np.int64),
        unit_mark=np.zeros(max(n_groups, 1), dtype=np.int64),
        plan_len=np.zeros(1, dtype=np.int64),
        plan_task=np.zeros(maxg, dtype=np.int64),
        plan_v=np.zeros(maxg, dtype=np.int64),
        plan_after=np.zeros(maxg, dtype=np.int64),
        trial_task=np.zeros(maxg, dtype=np.int64),
        trial_v=np.zeros(maxg, dtype=np.int64),
        trial_after=np.zeros(maxg, dtype=np.int64),
        trial_mark=np.zeros(maxg, dtype=np.int64),
        trial_cost=np.zeros((maxg, ks.N_COST)),
        key=np.zeros(max(n_groups, 1)),
        nbr=nbr,
        scratch_f=np.zeros(max(n_t, 1)),
        scratch_i=np.zeros(max(n_t, 1), dtype=np.int64),
        weights=np.ones(n_ops),
        enabled=np.ones(n_ops),
        scores=np.zeros(n_ops),
        uses=np.zeros(n_ops),
        work=np.zeros(n_ops),
        total_uses=np.zeros(n_ops, dtype=np.int64),
        counters=np.zeros(4, dtype=np.int64),
    )
    return wa, Work(*wa)


# --------------------------------------------------------------------------------------------
# insertion (numba)


@njit(cache=True)
def _partner_on_route(d: Data, s: State, t: int, v: int) -> bool:
    """A task that must be on another carer than ``t`` is already on route ``v``."""
    for k in range(d.other_ptr[t], d.other_ptr[t + 1]):  # noqa: SIM110 (no generators in numba)
        if s.route_of[d.other_to[k]] == v:
            return True
    return False


@njit(cache=True)
def _quick_places(
    d: Data, s: State, w: Work, t: int, v: int, blink: float, n_c: int, bound: float
) -> int:
    """Price task ``t`` at every place of route ``v`` where O(1) pricing can.

    Exact prices go to ``w.route_cost[v]``/``w.route_after[v]``; places needing propagation are
    appended to the candidate buffer from ``n_c`` on; returns the new buffer length. A place that
    cannot beat ``bound`` (or the route's best so far) is skipped on a bound that needs no travel
    lookup (lateness from the times alone), then on travel: it cannot matter. Places come in time
    order, so once the task's own lateness alone is too dear, the rest of the route is too.
    """
    w.route_cost[v] = np.inf
    w.route_after[v] = -2
    if not d.allowed[t, v] or _partner_on_route(d, s, t, v):
        return n_c
    n_tasks = d.n_tasks
    fixed = d.carer_cost[t, v] - d.unserved[t] + (d.fixed[v] if s.n_served[v] == 0 else 0.0)
    e_t, due_t, lc_t, dur_t = d.earliest[t], d.due[t], d.late_cost[t], d.duration[t]
    for k in range(d.in_ptr[t], d.in_ptr[t + 1]):  # placed partners bound the start too
        if s.route_of[d.in_from[k]] >= 0:
            e_t = max(e_t, s.start[d.in_from[k]] + d.in_w[k])
    priced = 0
    after = ks.NO_NODE
    while True:
        nxt = s.first[v] if after < 0 else s.succ[after]
        limit = min(bound, w.route_cost[v])
        skip = blink > 0.0 and np.random.random() < blink
        if not skip and after < n_tasks and nxt < n_tasks:
            # bounds from times alone (travel >= 0): the task starts no earlier than `ready`
            ready = max(e_t, s.start[after] + d.duration[after] if after >= 0 else d.shift_start[v])
            if ready > d.latest[t]:
                break
            own = fixed + lc_t * max(0.0, ready - due_t)
            for k in range(d.out_ptr[t], d.out_ptr[t + 1]):  # a placed partner pushed later
                b = d.out_to[k]
                if s.route_of[b] >= 0 and ready + d.out_w[k] > s.start[b]:
                    was = max(0.0, s.start[b] - d.due[b])
                    own += d.late_cost[b] * (max(0.0, ready + d.out_w[k] - d.due[b]) - was)
            if own >= limit:
                break  # later places start later still
            if nxt >= 0:
                rise = ready + dur_t - s.start[nxt]
                if rise > s.hard[nxt] + ks.EPS:
                    skip = True
                elif rise > 0.0:
                    was = max(0.0, s.start[nxt] - d.due[nxt])
                    now = max(0.0, s.start[nxt] + rise - d.due[nxt])
                    skip = own + d.late_cost[nxt] * (now - was) >= limit
        if not skip:
            static = fixed + ks.travel_delta(d, s, t, v, after)
            priced += 1
            if static < limit:
                status, c = ks.quick_insertion(d, s, t, v, after, static)
                if status == ks.EXACT:
                    if c < w.route_cost[v]:
                        w.route_cost[v] = c
                        w.route_after[v] = after
                elif status == ks.NEEDS_PROPAGATION:
                    w.cand_v[n_c] = v
                    w.cand_after[n_c] = after
                    w.cand_lb[n_c] = c
                    n_c += 1
        if nxt < 0:
            break
        after = nxt
    w.counters[3] += priced + 1
    return n_c


EXACT_WORK = 20
"""Work units of one exact pricing (propagation) against one O(1) pricing (measured ~20x)."""


@njit(cache=True)
def _kth_smallest(a: np.ndarray, k: int) -> float:
    """The ``k``-th smallest value of ``a`` (inf when ``a`` is shorter); ``k`` is small."""
    if k >= len(a):
        return np.inf
    below = -np.inf  # the (j-1)-th smallest, with its multiplicity used up
    value = np.inf
    taken = 0
    while taken < k:
        value = np.inf
        for x in a:
            if below < x < value:
                value = x
        count = 0
        for x in a:
            if x == value:
                count += 1
        taken += max(count, 1)
        below = value
    return value


@njit(cache=True)
def _exact_places(d: Data, s: State, w: Work, t: int, n_c: int, k_best: int, bound: float) -> None:
    """Price the buffered places exactly, cheapest lower bound first, while the bound can still
    improve its route's price, enter the ``k_best`` best route prices and beat ``bound``."""
    if n_c == 0:
        return
    kth = min(_kth_smallest(w.route_cost, k_best), bound)
    order = np.argsort(w.cand_lb[:n_c])
    for i in order:
        lb = w.cand_lb[i]
        if lb >= kth:
            break
        v = w.cand_v[i]
        if lb >= w.route_cost[v]:
            continue
        c = ks.insertion_cost(d, s, t, v, w.cand_after[i])
        w.counters[3] += EXACT_WORK
        if c < w.route_cost[v]:
            w.route_cost[v] = c
            w.route_after[v] = w.cand_after[i]
            if c < kth:
                kth = min(_kth_smallest(w.route_cost, k_best), bound)


@njit(cache=True)
def scan_task(d: Data, s: State, w: Work, t: int, blink: float, k_best: int) -> float:
    """Price task ``t`` at every place: ``w.route_cost[v]``/``w.route_after[v]`` per route.

    Places are priced in O(1) where :func:`schedule.quick_insertion` can; the rest are priced
    exactly in order of their lower bound while it can still enter the ``k_best`` best routes
    (other routes' entries may stay too high). Returns the best price (inf if none).
    """
    n_c = ks.ZERO
    w.route_cost[:] = np.inf
    # begin with the route of the nearest served neighbour: a good price early prunes the rest
    first = 0
    for k in range(min(3, w.nbr.shape[1])):
        r = s.route_of[w.nbr[t, k]]
        if r >= 0 and d.allowed[t, r]:
            first = r
            break
    bound = np.inf
    for i in range(d.n_carers):
        v = (first + i) % d.n_carers
        n_c = _quick_places(d, s, w, t, v, blink, n_c, bound)
        if i + 1 >= k_best:
            bound = (
                _kth_smallest(w.route_cost, k_best) if k_best > 1 else min(bound, w.route_cost[v])
            )
    _exact_places(d, s, w, t, n_c, k_best, np.inf)
    return w.route_cost.min()


@njit(cache=True)
def scan_route(d: Data, s: State, w: Work, t: int, v: int, bound: float) -> float:
    """Best price of task ``t`` in route ``v`` when below ``bound`` (else some price >= it),
    into ``w.route_cost[v]``/``w.route_after[v]``."""
    n_c = _quick_places(d, s, w, t, v, 0.0, ks.ZERO, bound)
    _exact_places(d, s, w, t, n_c, d.n_carers, bound)
    return w.route_cost[v]


@njit(cache=True)
def _best_route(w: Work) -> int:
    """The route of the cheapest price scanned, -1 if none is finite."""
    v = int(np.argmin(w.route_cost))
    return v if np.isfinite(w.route_cost[v]) else -1


@njit(cache=True)
def _trial_insert(d: Data, s: State, w: Work, depth: int, t: int, v: int, after: int) -> bool:
    w.trial_cost[depth, :] = s.cost
    mark = ks.insert(d, s, t, v, after)
    if mark < 0:
        return False
    w.trial_task[depth] = t
    w.trial_v[depth] = v
    w.trial_after[depth] = after
    w.trial_mark[depth] = mark
    return True


@njit(cache=True)
def _trial_undo(d: Data, s: State, w: Work, depth: int) -> None:
    for i in range(depth - 1, -1, -1):
        ks.uninsert(d, s, w.trial_task[i], w.trial_mark[i], w.trial_cost[i])


@njit(cache=True)
def best_unit_insertion(d: Data, s: State, w: Work, g: int, blink: float, n_cand: int) -> float:
    """Cheapest joint placement of unit ``g`` into ``w.plan_*``; returns its price (inf: none).

    Only the unit's unserved tasks are placed (a destroy may have left some partners in place).
    A single one goes to its best place. Several: each in turn leads; the leader is tried at its
    ``n_cand`` best routes (best place in each), actually inserted, and the others are then
    inserted one by one at their best place given it (so partners' windows, gaps and 'other
    carer' rules are priced exactly); every trial is undone.
    """
    lo, hi = d.group_ptr[g], d.group_ptr[g + 1]
    missing, last = 0, ks.NO_NODE
    for j in range(lo, hi):
        if s.route_of[d.group_task[j]] < 0:
            missing += 1
            last = d.group_task[j]
    w.plan_len[0] = 0
    if missing == 0:
        return 0.0
    if missing == 1:  # a lone task, or the one task of a unit whose partners stayed in place
        c = scan_task(d, s, w, last, blink, ks.ONE)
        w.unit_route_cost[:] = w.route_cost
        v = _best_route(w)
        if v < 0:
            return np.inf
        w.plan_task[0] = last
        w.plan_v[0] = v
        w.plan_after[0] = w.route_after[v]
        w.plan_len[0] = 1
        return c
    w.unit_route_cost[:] = np.inf
    base = ks.total_cost(d, s)
    best = np.inf
    for lead in range(lo, hi):
        t = d.group_task[lead]
        if s.route_of[t] >= 0:
            continue
        scan_task(d, s, w, t, blink, n_cand)
        routes = np.argsort(w.route_cost)[:n_cand]
        lead_after = w.route_after.copy()
        lead_cost = w.route_cost.copy()
        for v in routes:
            if not np.isfinite(lead_cost[v]):
                break
            if not _trial_insert(d, s, w, ks.ZERO, t, v, lead_after[v]):
                continue
            depth = ks.ONE
            ok = True
            for j in range(lo, hi):
                o = d.group_task[j]
                if s.route_of[o] >= 0:
                    continue
                scan_task(d, s, w, o, blink, ks.ONE)
                u = _best_route(w)
                if u < 0 or not _trial_insert(d, s, w, depth, o, u, w.route_after[u]):
                    ok = False
                    break
                depth += 1
            if ok:
                c = ks.total_cost(d, s) - base
                w.unit_route_cost[v] = min(w.unit_route_cost[v], c)
                if c < best:
                    best = c
                    w.plan_len[0] = depth
                    for i in range(depth):
                        w.plan_task[i] = w.trial_task[i]
                        w.plan_v[i] = w.trial_v[i]
                        w.plan_after[i] = w.trial_after[i]
            _trial_undo(d, s, w, depth)
    return best


@njit(cache=True)
def _apply_plan(d: Data, s: State, w: Work) -> bool:
    for i in range(w.plan_len[0]):
        mark = ks.insert(d, s, w.plan_task[i], w.plan_v[i], w.plan_after[i])
        if mark < 0:
            return False
        ks.forget(d, s, w.plan_task[i], mark)
    return True


@njit(cache=True)
def insert_unit(d: Data, s: State, w: Work, g: int, blink: float, n_cand: int) -> bool:
    """Insert unit ``g`` at its cheapest joint placement; False if it fits nowhere."""
    c = best_unit_insertion(d, s, w, g, blink, n_cand)
    if not np.isfinite(c):
        return False
    return _apply_plan(d, s, w)


@njit(cache=True)
def insert_breaks(d: Data, s: State) -> bool:
    """Put every missing break of a working carer at its cheapest place; False if one fits nowhere."""
    for v in range(d.n_carers):
        b = d.n_tasks + v
        if not d.has_break[v] or s.route_of[b] >= 0:
            continue
        best, best_after = np.inf, ks.NO_NODE - 1
        after = ks.NO_NODE
        while True:
            c = ks.insertion_cost(d, s, b, v, after)
            if c < best:
                best, best_after = c, after
            nxt = s.first[v] if after < 0 else s.succ[after]
            if nxt < 0:
                break
            after = nxt
        if best_after == -2:
            return False
        mark = ks.insert(d, s, b, v, best_after)
        if mark < 0:
            return False
        ks.forget(d, s, b, mark)
    return True


@njit(cache=True)
def _unit_earliest(d: Data, g: int) -> float:
    e = np.inf
    for i in range(d.group_ptr[g], d.group_ptr[g + 1]):
        e = min(e, d.earliest[d.group_task[i]])
    return e


@njit(cache=True)
def _unit_choice(d: Data, g: int) -> float:
    """How few carers may serve unit ``g`` (fewer = harder to place), bigger units first."""
    n = 0.0
    for i in range(d.group_ptr[g], d.group_ptr[g + 1]):
        n += d.allowed[d.group_task[i]].sum()
    size = d.group_ptr[g + 1] - d.group_ptr[g]
    return n / size - 1000.0 * size


@njit(cache=True)
def greedy_repair(d: Data, s: State, w: Work, order_kind: int, blink: float, n_cand: int) -> None:
    """Insert the removed units one by one at their cheapest place.

    ``order_kind``: 0 random, 1 earliest start first, 2 hardest first (linked units, then units
    few carers may serve).
    """
    n = w.n_removed[0]
    units = w.removed[:n]
    if order_kind == 0:
        np.random.shuffle(units)
    else:
        for i in range(n):
            g = units[i]
            w.key[i] = _unit_earliest(d, g) if order_kind == 1 else _unit_choice(d, g)
            w.key[i] += 1e-6 * np.random.random()  # random tie-break
        order = np.argsort(w.key[:n])
        units[:] = units[order].copy()
    for i in range(n):
        insert_unit(d, s, w, units[i], blink, n_cand)


@njit(cache=True)
def _is_simple(d: Data, t: int) -> bool:
    """A task alone in its unit with no links: its price in a route depends on that route only."""
    g = d.group_of[t]
    return (
        d.group_ptr[g + 1] - d.group_ptr[g] == 1
        and d.out_ptr[t] == d.out_ptr[t + 1]
        and d.in_ptr[t] == d.in_ptr[t + 1]
        and d.other_ptr[t] == d.other_ptr[t + 1]
    )


@njit(cache=True)
def _price_simple(
    d: Data,
    s: State,
    w: Work,
    t: int,
    seen: np.ndarray,
    top_v: np.ndarray,
    top_c: np.ndarray,
    top_after: np.ndarray,
) -> None:
    """Best and second-best route prices of a lone unlinked task, kept current incrementally.

    ``seen[v]`` is the version of route ``v`` the prices reflect. When a route of the two best
    changed, every route is priced again; otherwise only changed routes are, and only a price
    that would enter the two best matters.
    """
    v1, v2 = top_v[0], top_v[1]
    if v1 < 0 or seen[v1] != s.version[v1] or (v2 >= 0 and seen[v2] != s.version[v2]):
        scan_task(d, s, w, t, 0.0, ks.TWO)
        top_v[:] = -1
        top_c[:] = np.inf
        for v in range(d.n_carers):
            _push_top(top_v, top_c, top_after, v, w.route_cost[v], w.route_after[v])
        seen[:] = s.version
        return
    for v in range(d.n_carers):
        if seen[v] != s.version[v]:
            seen[v] = s.version[v]
            c = scan_route(d, s, w, t, v, top_c[1])
            _push_top(top_v, top_c, top_after, v, c, w.route_after[v])


@njit(cache=True)
def _push_top(
    top_v: np.ndarray, top_c: np.ndarray, top_after: np.ndarray, v: int, c: float, after: int
) -> None:
    if not c < top_c[1]:
        return
    if c < top_c[0]:
        top_v[1], top_c[1] = top_v[0], top_c[0]
        top_v[0], top_c[0], top_after[0] = v, c, after
    else:
        top_v[1], top_c[1] = v, c


@njit(cache=True)
def regret_repair(d: Data, s: State, w: Work, n_cand: int) -> None:
    """Regret-2 insertion: repeatedly insert the unit whose best price beats its best price on
    another route by most (units that fit in one route only first).

    Prices are cached and recomputed only where a route changed (``s.version``): a lone task's
    two best routes incrementally (:func:`_price_simple`), a linked unit as a whole when a route
    of its two best placements changed.
    """
    n = w.n_removed[0]
    n_v = d.n_carers
    units = w.removed[:n].copy()
    alive = np.ones(n, dtype=np.bool_)
    simple = np.zeros(n, dtype=np.bool_)
    seen = np.full((n, n_v), -1, dtype=np.int64)
    top_v = np.full((n, 2), -1, dtype=np.int64)
    top_c = np.full((n, 2), np.inf)
    top_after = np.full((n, 2), -2, dtype=np.int64)
    width = len(w.plan_v) + 1
    dep_route = np.full((n, width), -1, dtype=np.int64)
    dep_ver = np.zeros((n, width), dtype=np.int64)
    for i in range(n):
        g = units[i]
        simple[i] = _is_simple(d, d.group_task[d.group_ptr[g]])
    for _ in range(n):
        pick, best_regret, best_c1 = -1, -np.inf, np.inf
        for i in range(n):
            if not alive[i]:
                continue
            g = units[i]
            if simple[i]:
                t = d.group_task[d.group_ptr[g]]
                _price_simple(d, s, w, t, seen[i], top_v[i], top_c[i], top_after[i])
            else:
                stale = dep_route[i, 0] < 0
                for k in range(width):
                    r = dep_route[i, k]
                    if r >= 0 and dep_ver[i, k] != s.version[r]:
                        stale = True
                if stale:
                    c1 = best_unit_insertion(d, s, w, g, 0.0, n_cand)
                    a, b = _two_smallest(w.unit_route_cost)
                    top_c[i, 0] = c1
                    top_c[i, 1] = b if a <= c1 + 1e-9 else a
                    dep_route[i, :] = -1
                    if np.isfinite(c1):
                        for k in range(w.plan_len[0]):
                            dep_route[i, k] = w.plan_v[k]
                            dep_ver[i, k] = s.version[w.plan_v[k]]
                        second = np.argsort(w.unit_route_cost)[1] if n_v > 1 else -1
                        if second >= 0:
                            dep_route[i, width - 1] = second
                            dep_ver[i, width - 1] = s.version[second]
            c1, c2 = top_c[i, 0], top_c[i, 1]
            if not np.isfinite(c1):
                continue
            regret = c2 - c1 if np.isfinite(c2) else 1e15
            if regret > best_regret or (regret == best_regret and c1 < best_c1):
                pick, best_regret, best_c1 = i, regret, c1
        if pick < 0:
            break
        alive[pick] = False
        if simple[pick]:
            t = d.group_task[d.group_ptr[units[pick]]]
            mark = ks.insert(d, s, t, top_v[pick, 0], top_after[pick, 0])
            if mark >= 0:
                ks.forget(d, s, t, mark)
        else:
            insert_unit(d, s, w, units[pick], 0.0, n_cand)


@njit(cache=True)
def _two_smallest(a: np.ndarray) -> tuple[float, float]:
    c1, c2 = np.inf, np.inf
    for x in a:
        if x < c1:
            c1, c2 = x, c1
        elif x < c2:
            c2 = x
    return c1, c2


# --------------------------------------------------------------------------------------------
# removal (numba)


@njit(cache=True)
def _remove_unit_of(d: Data, s: State, w: Work, t: int) -> int:
    """Remove the unit of task ``t`` (all its routed tasks); returns tasks removed."""
    g = d.group_of[t]
    if w.unit_mark[g] == w.counters[2]:
        return 0
    w.unit_mark[g] = w.counters[2]
    w.removed[w.n_removed[0]] = g
    w.n_removed[0] += 1
    k = 0
    for i in range(d.group_ptr[g], d.group_ptr[g + 1]):
        x = d.group_task[i]
        if s.route_of[x] >= 0:
            ks.unlink(d, s, x)
            k += 1
    return k


@njit(cache=True)
def _served_tasks(d: Data, s: State, w: Work) -> int:
    n = 0
    for t in range(d.n_tasks):
        if s.route_of[t] >= 0:
            w.scratch_i[n] = t
            n += 1
    return n


@njit(cache=True)
def remove_random(d: Data, s: State, w: Work, q: int) -> None:
    """Random tasks (with their units)."""
    n = _served_tasks(d, s, w)
    pool = w.scratch_i[:n].copy()
    np.random.shuffle(pool)
    removed = 0
    for t in pool:
        if removed >= q:
            break
        removed += _remove_unit_of(d, s, w, t)


@njit(cache=True)
def remove_strings(d: Data, s: State, w: Work, q: int) -> None:
    """Strings of consecutive visits from the routes nearest a random seed (SISR's ruin).

    Christiaens & Vanden Berghe (2020): routes are met in order of their visits' proximity to the
    seed; from each a string of up to ``max_len`` visits around the met visit is removed.
    """
    n = _served_tasks(d, s, w)
    if n == 0:
        return
    seed = w.scratch_i[np.random.randint(n)]
    avg = max(1.0, n / max(1, (s.n_served > 0).sum()))
    max_len = min(10.0, avg)
    max_strings = int(4.0 * q / (1.0 + max_len)) + 1
    n_strings = np.random.randint(1, max_strings + 1)
    done_routes = np.zeros(d.n_carers, dtype=np.bool_)
    removed = 0
    strings = 0
    k = -1
    while strings < n_strings and removed < q and k < w.nbr.shape[1]:
        t = seed if k < 0 else w.nbr[seed, k]
        k += 1
        v = s.route_of[t]
        if v < 0 or done_routes[v]:
            continue
        done_routes[v] = True
        size = s.n_served[v]
        length = np.random.randint(1, int(min(size, max_len)) + 1)
        # a window of `length` tasks containing t, at a random offset
        pos = 0
        x = ks._first_task(d, s, v)
        while x != t:
            x = s.succ[x]
            if x < d.n_tasks:
                pos += 1
        lo = max(0, pos - np.random.randint(length))
        lo = min(lo, size - length)
        # collect first, then remove (removal changes the links)
        x = ks._first_task(d, s, v)
        i = 0
        got = 0
        while x >= 0 and got < length:
            if x < d.n_tasks:
                if i >= lo:
                    w.scratch_i[got] = x
                    got += 1
                i += 1
            x = s.succ[x]
        for j in range(got):
            removed += _remove_unit_of(d, s, w, w.scratch_i[j])
        strings += 1


@njit(cache=True)
def remove_related(d: Data, s: State, w: Work, q: int) -> None:
    """Shaw removal: tasks related to already removed ones by place and start time."""
    n = _served_tasks(d, s, w)
    if n == 0:
        return
    served = w.scratch_i[:n].copy()
    starts = s.start[: d.n_tasks].copy()
    seed = served[np.random.randint(n)]
    m = d.mode[0]
    tt = d.travel_time[m]
    lo, hi = np.inf, -np.inf
    for x in served:
        lo, hi = min(lo, starts[x]), max(hi, starts[x])
    span = max(1.0, hi - lo)
    reach = 1.0
    for i in range(n):
        x = tt[d.loc[seed], d.loc[served[i]]]
        if np.isfinite(x):
            reach = max(reach, x)
    chosen = np.empty(q + 8, dtype=np.int64)
    chosen[0] = seed
    n_chosen = 1
    removed = _remove_unit_of(d, s, w, seed)
    rel = np.empty(n)
    while removed < q:
        r = chosen[np.random.randint(n_chosen)]
        for i in range(n):
            x = served[i]
            if s.route_of[x] < 0:
                rel[i] = np.inf
            else:
                dist = tt[d.loc[r], d.loc[x]]
                dist = dist / reach if np.isfinite(dist) else 10.0
                rel[i] = dist + abs(starts[r] - starts[x]) / span
        order = np.argsort(rel)
        alive = 0
        for i in range(n):
            if np.isfinite(rel[order[i]]):
                alive += 1
        if alive == 0:
            break
        pick = order[int(alive * np.random.random() ** 6)]
        x = served[pick]
        removed += _remove_unit_of(d, s, w, x)
        if n_chosen < len(chosen):
            chosen[n_chosen] = x
            n_chosen += 1


@njit(cache=True)
def remove_worst(d: Data, s: State, w: Work, q: int) -> None:
    """Tasks whose detour and lateness cost most, with some randomness."""
    n = _served_tasks(d, s, w)
    served = w.scratch_i[:n].copy()
    gain = np.empty(n)
    for i in range(n):
        t = served[i]
        v = s.route_of[t]
        m = d.mode[v]
        p = s.pred[t]
        if p >= d.n_tasks:
            p = s.pred[p]
        q_ = s.succ[t]
        if q_ >= d.n_tasks:
            q_ = s.succ[q_]
        here = d.loc[p] if p >= 0 else d.start_loc[v]
        there = d.loc[q_] if q_ >= 0 else d.end_loc[v]
        c = d.travel_cost[m]
        gain[i] = c[here, d.loc[t]] + c[d.loc[t], there] - c[here, there]
        gain[i] += d.late_cost[t] * max(0.0, s.start[t] - d.due[t])
    order = np.argsort(-gain)
    removed = 0
    left = n
    taken = np.zeros(n, dtype=np.bool_)
    while removed < q and left > 0:
        k = int(left * np.random.random() ** 4)
        j = -1
        for i in range(n):
            if not taken[order[i]]:
                j += 1
                if j == k:
                    taken[order[i]] = True
                    removed += _remove_unit_of(d, s, w, served[order[i]])
                    left -= 1
                    break


@njit(cache=True)
def remove_route(d: Data, s: State, w: Work, q: int) -> None:
    """A whole route (its tasks with their units); a second near one when the first is short."""
    used = np.flatnonzero(s.n_served > 0)
    if len(used) == 0:
        return
    v = used[np.random.randint(len(used))]
    removed = 0
    while True:
        x = s.first[v]
        taken = 0
        while x >= 0:
            nxt = s.succ[x]
            if x < d.n_tasks:
                removed += _remove_unit_of(d, s, w, x)
                taken += 1
                nxt = s.first[v]  # the list changed: start again
                if s.n_served[v] == 0:
                    break
            x = nxt
        if removed >= q // 2 or taken == 0:
            break
        used = np.flatnonzero(s.n_served > 0)
        if len(used) == 0:
            break
        v = used[np.random.randint(len(used))]


@njit(cache=True)
def remove_linked(d: Data, s: State, w: Work, q: int) -> None:
    """Linked units (double-ups, precedence pairs) near a random linked seed."""
    n = _served_tasks(d, s, w)
    linked = 0
    for i in range(n):
        t = w.scratch_i[i]
        if d.group_ptr[d.group_of[t] + 1] - d.group_ptr[d.group_of[t]] > 1:
            w.scratch_i[linked] = t
            linked += 1
    if linked == 0:
        remove_random(d, s, w, q)
        return
    seed = w.scratch_i[np.random.randint(linked)]
    removed = _remove_unit_of(d, s, w, seed)
    for k in range(w.nbr.shape[1]):
        if removed >= q:
            break
        t = w.nbr[seed, k]
        g = d.group_of[t]
        if s.route_of[t] >= 0 and d.group_ptr[g + 1] - d.group_ptr[g] > 1:
            removed += _remove_unit_of(d, s, w, t)


@njit(cache=True)
def remove_split(d: Data, s: State, w: Work, q: int) -> None:
    """One task of each of a few linked units near a random linked seed, its partners left in
    place: a double-up changes one of its two carers, a precedence pair moves one of its visits
    within its gap (whole units only ever move as a whole otherwise)."""
    n = _served_tasks(d, s, w)
    linked = 0
    for i in range(n):
        t = w.scratch_i[i]
        if d.group_ptr[d.group_of[t] + 1] - d.group_ptr[d.group_of[t]] > 1:
            w.scratch_i[linked] = t
            linked += 1
    if linked == 0:
        remove_random(d, s, w, q)
        return
    seed = w.scratch_i[np.random.randint(linked)]
    _remove_task(d, s, w, seed)
    removed = 1
    for k in range(w.nbr.shape[1]):
        if removed >= q:
            break
        t = w.nbr[seed, k]
        g = d.group_of[t]
        if (
            s.route_of[t] >= 0
            and d.group_ptr[g + 1] - d.group_ptr[g] > 1
            and w.unit_mark[g] != w.counters[2]
        ):
            _remove_task(d, s, w, t)
            removed += 1


@njit(cache=True)
def _remove_task(d: Data, s: State, w: Work, t: int) -> None:
    """Remove task ``t`` alone (its unit is listed for repair)."""
    g = d.group_of[t]
    if w.unit_mark[g] != w.counters[2]:
        w.unit_mark[g] = w.counters[2]
        w.removed[w.n_removed[0]] = g
        w.n_removed[0] += 1
    ks.unlink(d, s, t)


# --------------------------------------------------------------------------------------------
# the search loop (numba)


@njit(cache=True)
def _roulette(weights: np.ndarray) -> int:
    r = np.random.random() * weights.sum()
    for i in range(len(weights)):
        r -= weights[i]
        if r <= 0:
            return i
    return len(weights) - 1


@njit(cache=True)
def destroy(d: Data, s: State, w: Work, op: int, q: int) -> None:
    """Remove about ``q`` tasks with operator ``op`` (index into ``DESTROY``)."""
    w.n_removed[0] = 0
    w.counters[2] += 1
    if op == 0:
        remove_random(d, s, w, q)
    elif op == 1:
        remove_strings(d, s, w, q)
    elif op == 2:
        remove_related(d, s, w, q)
    elif op == 3:
        remove_worst(d, s, w, q)
    elif op == 4:
        remove_route(d, s, w, q)
    elif op == 5:
        remove_linked(d, s, w, q)
    else:
        remove_split(d, s, w, q)
    # also list units that were unserved before (they get a new chance)
    for t in range(d.n_tasks):
        if s.route_of[t] < 0:
            g = d.group_of[t]
            if w.unit_mark[g] != w.counters[2]:
                w.unit_mark[g] = w.counters[2]
                w.removed[w.n_removed[0]] = g
                w.n_removed[0] += 1


@njit(cache=True)
def repair(d: Data, s: State, w: Work, op: int, blink: float, n_cand: int) -> None:
    """Reinsert the removed units with operator ``op`` (index into ``REPAIR``)."""
    insert_breaks(d, s)
    if op <= 2:
        greedy_repair(d, s, w, op, blink, n_cand)
    else:
        regret_repair(d, s, w, n_cand)


@njit(cache=True)
def seed_rng(seed: int) -> None:
    """Seed numba's random generator (separate from numpy's)."""
    np.random.seed(seed)


@njit(cache=True)
def construct(d: Data, s: State, w: Work, n_cand: int, kind: int) -> bool:
    """First plan: every unit inserted into the current (usually empty) routes.

    ``kind``: -1 regret-2, else the order of :func:`greedy_repair` (no blinks).
    """
    ks.full_schedule(d, s)
    w.n_removed[0] = 0
    w.counters[2] += 1
    for t in range(d.n_tasks):
        if s.route_of[t] < 0:
            g = d.group_of[t]
            if w.unit_mark[g] != w.counters[2]:
                w.unit_mark[g] = w.counters[2]
                w.removed[w.n_removed[0]] = g
                w.n_removed[0] += 1
    insert_breaks(d, s)
    if kind < 0:
        regret_repair(d, s, w, n_cand)
    else:
        greedy_repair(d, s, w, kind, 0.0, n_cand)
    return ks.full_schedule(d, s)


@njit(cache=True)
def run_iterations(
    d: Data, cur: State, trial: State, best: State, w: Work, n_iter: int,
    temp_start: float, temp_end: float, remove_min: int, remove_max: int, blink: float,
    n_cand: int, segment: int, reaction: float, score_best: float, score_better: float,
    score_accept: float,
) -> None:  # fmt: skip
    """``n_iter`` iterations of the large-neighbourhood search with annealing acceptance.

    The temperature falls geometrically from ``temp_start`` to ``temp_end`` over the call.
    ``cur`` is the current plan, ``best`` the best found; ``w.counters`` counts iterations and
    records the last improving one.
    """
    n_destroy = N_DESTROY
    cur_cost = ks.total_cost(d, cur)
    best_cost = ks.total_cost(d, best)
    for i in range(n_iter):
        frac = i / max(1, n_iter)
        temp = temp_start * (temp_end / temp_start) ** frac if temp_start > 0 else 0.0
        ks.copy_state(cur, trial)
        dop = _roulette(w.weights[:n_destroy] * w.enabled[:n_destroy])
        rop = _roulette(w.weights[n_destroy:] * w.enabled[n_destroy:])
        q = np.random.randint(remove_min, remove_max + 1)
        work0 = w.counters[3]
        destroy(d, trial, w, dop, q)
        ks.full_schedule(d, trial)
        repair(d, trial, w, rop, blink, n_cand)
        ok = ks.full_schedule(d, trial)
        c = ks.total_cost(d, trial)
        w.counters[0] += 1
        score = 0.0
        if ok:
            if c < best_cost - 1e-9:
                best_cost = c
                ks.copy_state(trial, best)
                w.counters[1] = w.counters[0]
                score = score_best
            if c < cur_cost - 1e-9:
                score = max(score, score_better)
            if c < cur_cost - temp * np.log(np.random.random()):
                if c != cur_cost:
                    score = max(score, score_accept)
                cur_cost = c
                ks.copy_state(trial, cur)
        w.scores[dop] += score
        w.scores[n_destroy + rop] += score
        work = float(w.counters[3] - work0 + 1)
        w.uses[dop] += 1
        w.uses[n_destroy + rop] += 1
        w.work[dop] += work
        w.work[n_destroy + rop] += work
        w.total_uses[dop] += 1
        w.total_uses[n_destroy + rop] += 1
        if w.counters[0] % segment == 0:
            _update_weights(w, reaction)


@njit(cache=True)
def _update_weights(w: Work, reaction: float) -> None:
    """New operator weights from the segment's scores per unit of work.

    Scoring per work rather than per use keeps an operator that is good but dear (regret
    insertion, removing whole routes) from crowding out cheaper ones on large problems.
    Work is counted in places priced, so the weights are the same on any machine.
    """
    for lo, hi in ((0, N_DESTROY), (N_DESTROY, len(w.weights))):
        uses = w.uses[lo:hi].sum()
        mean_work = w.work[lo:hi].sum() / max(uses, 1.0)
        for k in range(lo, hi):
            if w.uses[k] > 0:
                rate = w.scores[k] / w.work[k] * mean_work
                w.weights[k] = (1 - reaction) * w.weights[k] + reaction * rate
            w.weights[k] = max(w.weights[k], 0.05)
            w.scores[k] = 0.0
            w.uses[k] = 0.0
            w.work[k] = 0.0


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
    wa, w = _make_work(da)
    wa.enabled[:] = [name in params.operators for name in DESTROY + REPAIR]
    seed_rng(int(seed))
    cur_a, cur = ks.make_state(da, d)
    if not (initial is not None and _load_routes(da, d, cur, initial)):
        cur_a, cur = ks.make_state(da, d)
        construct(d, cur, w, params.candidate_places, params.construction)
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
        run_iterations(
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
    if not insert_breaks(d, s):
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
