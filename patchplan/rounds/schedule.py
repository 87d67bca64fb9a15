"""numba kernel of the linked-visit search: plans, least schedules, insertion prices, operators.

Every jitted function of the search lives here, in one module, on purpose: numba's on-disk cache
is keyed on a function's own source file, so a jitted function in another module would keep a
stale copy of anything it calls from here after this file changed. :mod:`patchplan.rounds.search`
is the plain-Python side (problem, solution, stop rules, the driver).

Plans
-----
A plan is a set of routes, one per carer, each a doubly linked list of *nodes*: tasks ``0..T-1``
and, for a carer ``v`` with a break, the break node ``T + v``. Its schedule is the **least** fixed
point of

* route arcs: a node starts no earlier than the carer can get there from the previous node
  (previous end + travel; a break is taken where the previous stop was, so the travel after it
  leaves from there), nor before its own earliest start;
* link arcs: ``start[b] >= start[a] + gap_min`` and ``start[a] >= start[b] - gap_max``.

The least schedule minimises every start, hence every lateness, for fixed routes. It is a longest
path problem; a positive cycle (carers waiting on each other's shared visits) means no schedule.
A break first in the route is taken before leaving base (it only bounds the first departure: the
carer leaves no earlier than its end); a break last is taken after returning (it delays nothing).

Evaluation
----------
* :func:`full_schedule` recomputes a whole plan (one pass per route, then a label-correcting
  worklist over the links), checks every hard rule and sums the cost. Used after removals, which
  can only *lower* starts.
* :func:`place` / :func:`insertion_cost` price one node inserted at one place. Insertions only
  *raise* starts (given the triangle inequality), so a worklist propagates the rise from the new
  node, with an undo log; a rise reaching the new node again is a positive cycle. Most places are
  priced without touching the plan by :func:`quick_insertion`: per-node slacks (how far a start
  may slip before a hard rule breaks, and before any cost or linked visit is touched) and waits,
  walked down the route while no linked visit has to move.

Search
------
Scratch space (:class:`WorkArrays`), pricing a task at every place (:func:`scan_task`), placing
a unit of linked tasks jointly (:func:`best_unit_insertion`), the repair and removal operators
and the annealing loop (:func:`run_iterations`); see :mod:`patchplan.rounds.search` for the method.

All times and costs are float64 in the problem's own units.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numba import njit, types
from numba.experimental import structref

EPS = 1e-9
"""Rises smaller than this (time units) are ignored, so float noise cannot loop forever."""

# slots of State.cost
TRAVEL, FIXED, CARER, LATE, MAX_LATE, UNSERVED = 0, 1, 2, 3, 4, 5
N_COST = 6

# quick_insertion outcomes
EXACT, INFEASIBLE, NEEDS_PROPAGATION = 0, 1, 2


def _int64(x: int) -> int:
    """``x`` as a numba ``int64``, not a literal.

    numba compiles a separate copy of a jitted function for every literal integer it is called
    with from jitted code (each copy compiling its callees again), so jitted code passes these
    typed constants instead of ``0``, ``1``, ``-1``.
    """
    return np.int64(x)  # type: ignore[return-value]  # an int to the type checker


NO_NODE, ZERO, ONE, TWO = _int64(-1), _int64(0), _int64(1), _int64(2)
"""``NO_NODE``: no node, or 'before the first node' of a route."""


class DataArrays(NamedTuple):
    """Static arrays of one problem, laid out for the kernel (see :func:`make_data`).

    Nodes are tasks ``0..T-1`` then one break node per carer ``T..T+V-1``. Link arcs are stored
    both ways (``out_*`` from a node, ``in_*`` into it): ``start[to] >= start[from] + w``.
    """

    n_tasks: int
    n_carers: int
    loc: np.ndarray  # (N,) int64, -1 for break nodes
    earliest: np.ndarray  # (N,) break nodes: break_earliest
    latest: np.ndarray  # (N,) break nodes: break_latest
    due: np.ndarray  # (N,) break nodes: inf
    late_cost: np.ndarray  # (N,)
    duration: np.ndarray  # (N,)
    unserved: np.ndarray  # (T,)
    allowed: np.ndarray  # (T, V) bool
    carer_cost: np.ndarray  # (T, V)
    out_ptr: np.ndarray
    out_to: np.ndarray
    out_w: np.ndarray
    in_ptr: np.ndarray
    in_from: np.ndarray
    in_w: np.ndarray
    other_ptr: np.ndarray  # CSR: tasks that must be on another carer than task t
    other_to: np.ndarray
    group_of: np.ndarray  # (T,) 'together' component of each task
    group_ptr: np.ndarray  # CSR over components
    group_task: np.ndarray
    start_loc: np.ndarray  # (V,)
    end_loc: np.ndarray
    mode: np.ndarray
    shift_start: np.ndarray
    shift_end: np.ndarray
    max_span: np.ndarray
    fixed: np.ndarray
    has_break: np.ndarray  # (V,) bool
    travel_time: np.ndarray  # (M, L, L)
    travel_cost: np.ndarray  # (M, L, L)
    max_late_cost: float


class StateArrays(NamedTuple):
    """A plan and its least schedule, plus scratch space for evaluations (see :func:`make_state`).

    ``succ``/``pred``/``route_of`` are -1 where there is none; ``eloc`` is the location a node is
    left from (a break's is its predecessor's, or the base). ``hard[n]``: how far ``start[n]`` may
    slip before a hard rule of its own route breaks; ``free[n]``: how far before any cost changes
    or a linked visit must move. ``cost`` holds the parts ``TRAVEL .. UNSERVED`` (``MAX_LATE`` is
    the largest lateness in time units, not a cost).
    """

    succ: np.ndarray
    pred: np.ndarray
    route_of: np.ndarray
    first: np.ndarray
    last: np.ndarray
    n_served: np.ndarray
    start: np.ndarray
    eloc: np.ndarray
    hard: np.ndarray
    free: np.ndarray
    wait: np.ndarray
    cost: np.ndarray
    version: np.ndarray  # (V,) bumped whenever a route's stops or starts change for good
    # scratch
    log_node: np.ndarray
    log_old: np.ndarray
    counters: np.ndarray  # [log size, clock]
    stamp: np.ndarray
    queued: np.ndarray
    queue: np.ndarray
    rises: np.ndarray
    route_mark: np.ndarray
    touched: np.ndarray


@structref.register
class _DataType(types.StructRef):
    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


@structref.register
class _StateType(types.StructRef):
    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


if TYPE_CHECKING:
    # a handle has exactly the fields of its tuple: type-check kernel code against those
    Data = DataArrays
    State = StateArrays
else:

    class Data(structref.StructRefProxy):
        """Kernel handle on :class:`DataArrays` (same memory).

        numba passes a structref by pointer; a named tuple of 30 arrays would be copied field by
        field into every call, which made the kernel 30 times slower.
        """

    class State(structref.StructRefProxy):
        """Kernel handle on :class:`StateArrays` (same memory)."""

    structref.define_proxy(Data, _DataType, DataArrays._fields)
    structref.define_proxy(State, _StateType, StateArrays._fields)


def _csr(n: int, src: np.ndarray, dst: np.ndarray, w: np.ndarray):
    order = np.argsort(src, kind="stable")
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.add.at(ptr, src + 1, 1)
    return np.cumsum(ptr), dst[order].astype(np.int64), w[order].astype(np.float64)


def make_data(p) -> tuple[DataArrays, Data]:
    """Kernel arrays of a :class:`~patchplan.rounds.search.SyncProblem` (validated beforehand),
    and the kernel's handle on them."""
    n_t, n_v = len(p.task_loc), len(p.start_loc)
    f = np.float64
    cat = np.concatenate
    # link arcs: a -> b with gap_min, b -> a with -gap_max (when finite)
    fin_min = np.isfinite(p.gap_min)
    fin_max = np.isfinite(p.gap_max)
    src = cat([p.link_a[fin_min], p.link_b[fin_max]]).astype(np.int64)
    dst = cat([p.link_b[fin_min], p.link_a[fin_max]]).astype(np.int64)
    w = cat([p.gap_min[fin_min], -p.gap_max[fin_max]]).astype(f)
    n_nodes = n_t + n_v
    out_ptr, out_to, out_w = _csr(n_nodes, src, dst, w)
    in_ptr, in_from, in_w = _csr(n_nodes, dst, src, w)
    oc = np.asarray(p.link_other_carer, dtype=bool)
    osrc = cat([p.link_a[oc], p.link_b[oc]]).astype(np.int64)
    odst = cat([p.link_b[oc], p.link_a[oc]]).astype(np.int64)
    other_ptr, other_to, _ = _csr(n_t, osrc, odst, np.zeros(len(osrc)))
    group_of = _components(n_t, p.link_a[p.link_together], p.link_b[p.link_together])
    order = np.argsort(group_of, kind="stable")
    group_ptr = np.zeros(group_of.max() + 2 if n_t else 1, dtype=np.int64)
    np.add.at(group_ptr, group_of + 1, 1)
    has_break = np.asarray(p.break_duration, dtype=f) > 0
    arrays = DataArrays(
        n_tasks=n_t,
        n_carers=n_v,
        loc=cat([p.task_loc, -np.ones(n_v)]).astype(np.int64),
        earliest=cat([p.earliest, p.break_earliest]).astype(f),
        latest=cat([p.latest, p.break_latest]).astype(f),
        due=cat([p.due, np.full(n_v, np.inf)]).astype(f),
        late_cost=cat([p.lateness_cost, np.zeros(n_v)]).astype(f),
        duration=cat([p.duration, p.break_duration]).astype(f),
        unserved=np.asarray(p.unserved_cost, dtype=f),
        allowed=np.ascontiguousarray(p.allowed, dtype=np.bool_),
        carer_cost=np.ascontiguousarray(p.task_carer_cost, dtype=f),
        out_ptr=out_ptr, out_to=out_to, out_w=out_w,
        in_ptr=in_ptr, in_from=in_from, in_w=in_w,
        other_ptr=other_ptr, other_to=other_to,
        group_of=group_of, group_ptr=np.cumsum(group_ptr), group_task=order.astype(np.int64),
        start_loc=np.asarray(p.start_loc, dtype=np.int64),
        end_loc=np.asarray(p.end_loc, dtype=np.int64),
        mode=np.asarray(p.mode, dtype=np.int64),
        shift_start=np.asarray(p.shift_start, dtype=f),
        shift_end=np.asarray(p.shift_end, dtype=f),
        max_span=np.asarray(p.max_span, dtype=f),
        fixed=np.asarray(p.fixed_cost, dtype=f),
        has_break=has_break,
        travel_time=np.ascontiguousarray(p.travel_time, dtype=f),
        travel_cost=np.ascontiguousarray(p.travel_cost, dtype=f),
        max_late_cost=float(p.max_lateness_cost),
    )  # fmt: skip
    return arrays, Data(*arrays)


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected components (labels 0..k-1 in order of first task) of the 'together' links."""
    parent = np.arange(n)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)
    roots = np.array([find(x) for x in range(n)], dtype=np.int64)
    _, labels = np.unique(roots, return_inverse=True)
    return labels.astype(np.int64).reshape(-1)


def make_state(da: DataArrays, d: Data) -> tuple[StateArrays, State]:
    """An empty plan (every task unserved, each break alone in its carer's route): arrays and handle."""
    n_nodes = da.n_tasks + da.n_carers
    log_size = 16 * n_nodes + 64
    sa = StateArrays(
        succ=-np.ones(n_nodes, dtype=np.int64),
        pred=-np.ones(n_nodes, dtype=np.int64),
        route_of=-np.ones(n_nodes, dtype=np.int64),
        first=-np.ones(da.n_carers, dtype=np.int64),
        last=-np.ones(da.n_carers, dtype=np.int64),
        n_served=np.zeros(da.n_carers, dtype=np.int64),
        start=np.full(n_nodes, np.nan),
        eloc=da.loc.copy(),
        hard=np.full(n_nodes, np.inf),
        free=np.full(n_nodes, np.inf),
        wait=np.zeros(n_nodes),
        cost=np.zeros(N_COST),
        version=np.zeros(da.n_carers, dtype=np.int64),
        log_node=np.zeros(log_size, dtype=np.int64),
        log_old=np.zeros(log_size),
        counters=np.zeros(2, dtype=np.int64),
        stamp=np.zeros(n_nodes, dtype=np.int64),
        queued=np.zeros(n_nodes, dtype=np.bool_),
        queue=np.zeros(n_nodes + 1, dtype=np.int64),
        rises=np.zeros(n_nodes, dtype=np.int64),
        route_mark=np.zeros(da.n_carers, dtype=np.int64),
        touched=np.zeros(da.n_carers + 1, dtype=np.int64),
    )
    s = State(*sa)
    for v in range(da.n_carers):
        if da.has_break[v]:
            link(d, s, da.n_tasks + v, v, -1)
    return sa, s


@njit(cache=True)
def copy_state(src: State, dst: State) -> None:
    """Copy the plan and schedule of ``src`` into ``dst`` (not the scratch space)."""
    dst.succ[:] = src.succ
    dst.pred[:] = src.pred
    dst.route_of[:] = src.route_of
    dst.first[:] = src.first
    dst.last[:] = src.last
    dst.n_served[:] = src.n_served
    dst.start[:] = src.start
    dst.eloc[:] = src.eloc
    dst.hard[:] = src.hard
    dst.free[:] = src.free
    dst.wait[:] = src.wait
    dst.cost[:] = src.cost


@njit(cache=True)
def total_cost(d: Data, s: State) -> float:
    """The objective of the plan from its cost parts."""
    c = s.cost
    return c[TRAVEL] + c[FIXED] + c[CARER] + c[LATE] + d.max_late_cost * c[MAX_LATE] + c[UNSERVED]


# --------------------------------------------------------------------------------------------
# route structure


@njit(cache=True)
def _fix_break_loc(d: Data, s: State, v: int) -> None:
    """A break is taken where the carer was: at its predecessor's place, or at base."""
    b = d.n_tasks + v
    if d.has_break[v] and s.route_of[b] == v:
        p = s.pred[b]
        s.eloc[b] = s.eloc[p] if p >= 0 else d.start_loc[v]


@njit(cache=True)
def link(d: Data, s: State, n: int, v: int, after: int) -> None:
    """Put node ``n`` into route ``v`` right after node ``after`` (-1: first)."""
    nxt = s.succ[after] if after >= 0 else s.first[v]
    s.pred[n] = after
    s.succ[n] = nxt
    if after >= 0:
        s.succ[after] = n
    else:
        s.first[v] = n
    if nxt >= 0:
        s.pred[nxt] = n
    else:
        s.last[v] = n
    s.route_of[n] = v
    if n < d.n_tasks:
        s.n_served[v] += 1
        s.eloc[n] = d.loc[n]
    _fix_break_loc(d, s, v)


@njit(cache=True)
def unlink(d: Data, s: State, n: int) -> None:
    """Take node ``n`` out of its route (its start becomes undefined)."""
    v = s.route_of[n]
    p, q = s.pred[n], s.succ[n]
    if p >= 0:
        s.succ[p] = q
    else:
        s.first[v] = q
    if q >= 0:
        s.pred[q] = p
    else:
        s.last[v] = p
    s.pred[n] = -1
    s.succ[n] = -1
    s.route_of[n] = -1
    s.start[n] = np.nan
    if n < d.n_tasks:
        s.n_served[v] -= 1
    _fix_break_loc(d, s, v)


@njit(cache=True)
def _departure(d: Data, s: State, n: int):
    """(time, place) at which the carer can travel on from node ``n``."""
    if n >= d.n_tasks and s.pred[n] < 0:  # break before leaving base
        v = n - d.n_tasks
        return max(d.shift_start[v], s.start[n] + d.duration[n]), d.start_loc[v]
    return s.start[n] + d.duration[n], s.eloc[n]


@njit(cache=True)
def route_bound(d: Data, s: State, n: int) -> float:
    """Earliest start of node ``n`` allowed by its route and own window (links aside)."""
    v = s.route_of[n]
    p = s.pred[n]
    m = d.mode[v]
    if n >= d.n_tasks:  # a break
        if p < 0:
            return d.earliest[n]
        t, here = _departure(d, s, p)
        if s.succ[n] < 0:  # after returning to base
            t += d.travel_time[m, here, d.end_loc[v]]
        return max(d.earliest[n], t)
    if p < 0:
        t, here = d.shift_start[v], d.start_loc[v]
    else:
        t, here = _departure(d, s, p)
    return max(d.earliest[n], t + d.travel_time[m, here, d.loc[n]])


@njit(cache=True)
def _last_task(d: Data, s: State, v: int) -> int:
    n = s.last[v]
    if n >= d.n_tasks:
        n = s.pred[n]
    return n


@njit(cache=True)
def _first_task(d: Data, s: State, v: int) -> int:
    n = s.first[v]
    if n >= d.n_tasks:
        n = s.succ[n]
    return n


@njit(cache=True)
def route_times(d: Data, s: State, v: int):
    """(leave base, back at base) of a route serving at least one task."""
    m = d.mode[v]
    f = _first_task(d, s, v)
    x = _last_task(d, s, v)
    leave = s.start[f] - d.travel_time[m, d.start_loc[v], d.loc[f]]
    back = s.start[x] + d.duration[x] + d.travel_time[m, d.loc[x], d.end_loc[v]]
    return leave, back


@njit(cache=True)
def _route_end_ok(d: Data, s: State, v: int) -> bool:
    if s.n_served[v] == 0:
        return True
    leave, back = route_times(d, s, v)
    return back <= d.shift_end[v] + EPS and back - leave <= d.max_span[v] + EPS


# --------------------------------------------------------------------------------------------
# the whole plan


@njit(cache=True)
def full_schedule(d: Data, s: State) -> bool:
    """Least schedule, cost parts and slacks of the whole plan; False if some hard rule breaks.

    One pass along every route, then a FIFO worklist relaxes the link arcs and whatever they
    raise (label correcting, as Bellman-Ford). Without a positive cycle no start rises more than
    once per node in the plan; more rises than that mean carers wait on each other in a cycle.
    """
    n_nodes = len(s.start)
    for v in range(d.n_carers):
        n = s.first[v]
        while n >= 0:
            s.start[n] = route_bound(d, s, n)
            n = s.succ[n]
    head, size = ZERO, ZERO
    for a in range(d.n_tasks):
        s.rises[a] = 0
        if s.route_of[a] >= 0 and d.out_ptr[a] < d.out_ptr[a + 1]:
            size = _push(s, a, head, size)
    for v in range(d.n_carers):
        s.rises[d.n_tasks + v] = 0
    settled = True
    while size > 0:
        n = s.queue[head]
        head = (head + 1) % len(s.queue)
        size -= 1
        s.queued[n] = False
        if not settled:
            continue  # drain the queue so the flags are clean
        q = s.succ[n]
        if q >= 0:
            b = route_bound(d, s, q)
            if b > s.start[q] + EPS:
                s.start[q] = b
                s.rises[q] += 1
                settled = s.rises[q] <= n_nodes
                size = _push(s, q, head, size)
        if n < d.n_tasks:
            for k in range(d.out_ptr[n], d.out_ptr[n + 1]):
                b = d.out_to[k]
                if s.route_of[b] >= 0 and s.start[n] + d.out_w[k] > s.start[b] + EPS:
                    s.start[b] = s.start[n] + d.out_w[k]
                    s.rises[b] += 1
                    settled = settled and s.rises[b] <= n_nodes
                    size = _push(s, b, head, size)
    ok = _sum_costs(d, s) and settled
    for v in range(d.n_carers):
        route_slacks(d, s, v)
    return ok


@njit(cache=True)
def _sum_costs(d: Data, s: State) -> bool:
    """Fill ``s.cost`` from the schedule; False if a leg is unreachable or a window, shift,
    span, break or 'together' rule breaks."""
    s.cost[:] = 0.0
    ok = True
    for t in range(d.n_tasks):
        if s.route_of[t] < 0:
            s.cost[UNSERVED] += d.unserved[t]
    for g in range(len(d.group_ptr) - 1):  # 'together' units: all served or none
        served = 0
        for i in range(d.group_ptr[g], d.group_ptr[g + 1]):
            served += s.route_of[d.group_task[i]] >= 0
        if 0 < served < d.group_ptr[g + 1] - d.group_ptr[g]:
            ok = False
    for v in range(d.n_carers):
        if s.n_served[v] == 0:
            continue
        if d.has_break[v] and s.route_of[d.n_tasks + v] != v:
            ok = False  # a working carer must take the break
        m = d.mode[v]
        s.cost[FIXED] += d.fixed[v]
        here = d.start_loc[v]
        n = s.first[v]
        while n >= 0:
            if s.start[n] > d.latest[n] + EPS:
                ok = False
            if n < d.n_tasks:
                s.cost[TRAVEL] += d.travel_cost[m, here, d.loc[n]]
                ok = ok and np.isfinite(d.travel_time[m, here, d.loc[n]])  # reachable
                here = d.loc[n]
                s.cost[CARER] += d.carer_cost[n, v]
                late = s.start[n] - d.due[n]
                if late > 0:
                    s.cost[LATE] += d.late_cost[n] * late
                    s.cost[MAX_LATE] = max(s.cost[MAX_LATE], late)
            n = s.succ[n]
        s.cost[TRAVEL] += d.travel_cost[m, here, d.end_loc[v]]
        ok = ok and np.isfinite(d.travel_time[m, here, d.end_loc[v]]) and _route_end_ok(d, s, v)
    return ok


@njit(cache=True)
def route_slacks(d: Data, s: State, v: int) -> None:
    """``hard`` and ``free`` slacks of every node of route ``v`` (one backward pass).

    A delay ``x`` at a node reaches its successor as ``max(0, x - gap)``, where ``gap`` is how much
    later the successor starts than the carer could arrive; so a node's slack is the smaller of
    its own and ``gap + slack`` of its successor. The tail is the return to base (shift end, span)
    and a break taken after returning.
    """
    n_tasks = d.n_tasks
    if s.n_served[v] == 0:
        n = s.first[v]
        while n >= 0:
            s.hard[n] = np.inf
            s.free[n] = np.inf
            n = s.succ[n]
        return
    m = d.mode[v]
    leave, back = route_times(d, s, v)
    tail = min(d.shift_end[v] - back, leave + d.max_span[v] - back)
    n = s.last[v]
    if n >= n_tasks:  # break after returning: it slips with the return
        s.hard[n] = d.latest[n] - s.start[n]
        s.free[n] = s.hard[n]
        s.wait[n] = max(0.0, s.start[n] - back)
        tail = min(tail, s.wait[n] + s.hard[n])
        n = s.pred[n]
    tail_free = tail
    while n >= 0:
        h = min(d.latest[n] - s.start[n], tail)
        own = np.inf
        if n < n_tasks:
            if np.isfinite(d.due[n]):
                own = max(0.0, d.due[n] - s.start[n])
            for k in range(d.out_ptr[n], d.out_ptr[n + 1]):
                b = d.out_to[k]
                if s.route_of[b] >= 0:
                    own = min(own, max(0.0, s.start[b] - s.start[n] - d.out_w[k]))
        f = min(own, tail_free, h)
        s.hard[n] = h
        s.free[n] = f
        p = s.pred[n]
        if p < 0:
            s.wait[n] = 0.0
            break
        if n >= n_tasks:
            arrive = s.start[p] + d.duration[p]
        else:
            t, here = _departure(d, s, p)
            arrive = t + d.travel_time[m, here, d.loc[n]]
        gap = max(0.0, s.start[n] - arrive)
        s.wait[n] = gap
        tail = gap + h
        tail_free = gap + f
        n = p


# --------------------------------------------------------------------------------------------
# incremental rises with an undo log


@njit(cache=True)
def log_mark(s: State) -> int:
    """Open a new undo level; returns the log position to roll back to."""
    s.counters[1] += 1
    return s.counters[0]


@njit(cache=True)
def _raise(s: State, n: int, value: float) -> bool:
    """Set ``start[n]`` (logging the old value once per level); False when the log is full."""
    if s.stamp[n] != s.counters[1]:
        k = s.counters[0]
        if k >= len(s.log_node):
            return False
        s.stamp[n] = s.counters[1]
        s.log_node[k] = n
        s.log_old[k] = s.start[n]
        s.counters[0] = k + 1
    s.start[n] = value
    return True


@njit(cache=True)
def rollback(s: State, mark: int) -> None:
    """Restore every start changed since ``mark``."""
    for k in range(s.counters[0] - 1, mark - 1, -1):
        s.start[s.log_node[k]] = s.log_old[k]
    s.counters[0] = mark
    s.counters[1] += 1  # later raises log afresh


@njit(cache=True)
def _push(s: State, n: int, head: int, size: int) -> int:
    if not s.queued[n]:
        s.queued[n] = True
        s.queue[(head + size) % len(s.queue)] = n
        size += 1
    return size


@njit(cache=True)
def propagate(d: Data, s: State, origin: int) -> bool:
    """Raise starts downstream of ``origin`` (just placed or raised) to the least fixed point.

    Returns False on a broken window or a positive cycle: before ``origin`` was placed the plan
    had a schedule, so any rise coming back to ``origin`` goes round a cycle.
    """
    head, size = ZERO, ZERO
    size = _push(s, origin, head, size)
    ok = True
    pops = 0
    limit = 8 * len(s.start) + 64
    while size > 0:
        n = s.queue[head]
        head = (head + 1) % len(s.queue)
        size -= 1
        s.queued[n] = False
        pops += 1
        if not ok or pops > limit:
            ok = False
            continue  # drain the queue so the flags are clean
        if s.start[n] > d.latest[n] + EPS:
            ok = False
            continue
        q = s.succ[n]
        if q >= 0:
            b = route_bound(d, s, q)
            if b > s.start[q] + EPS:
                if q == origin or not _raise(s, q, b):
                    ok = False
                    continue
                size = _push(s, q, head, size)
        if n < d.n_tasks:
            for k in range(d.out_ptr[n], d.out_ptr[n + 1]):
                b = d.out_to[k]
                if s.route_of[b] >= 0 and s.start[n] + d.out_w[k] > s.start[b] + EPS:
                    if b == origin or not _raise(s, b, s.start[n] + d.out_w[k]):
                        ok = False
                        break
                    size = _push(s, b, head, size)
    return ok


@njit(cache=True)
def _touched_routes(d: Data, s: State, mark: int, extra: int) -> int:
    """Routes of the nodes logged since ``mark`` (and route ``extra``) into ``s.touched``."""
    s.counters[1] += 1
    stamp = s.counters[1]
    n_t = 0
    if extra >= 0:
        s.route_mark[extra] = stamp
        s.touched[0] = extra
        n_t = 1
    for k in range(mark, s.counters[0]):
        v = s.route_of[s.log_node[k]]
        if v >= 0 and s.route_mark[v] != stamp:
            s.route_mark[v] = stamp
            s.touched[n_t] = v
            n_t += 1
    return n_t


@njit(cache=True)
def travel_delta(d: Data, s: State, t: int, v: int, after: int) -> float:
    """Travel cost added by task ``t`` in route ``v`` after node ``after`` (-1: first)."""
    m = d.mode[v]
    lt = d.loc[t]
    if s.n_served[v] == 0:
        return d.travel_cost[m, d.start_loc[v], lt] + d.travel_cost[m, lt, d.end_loc[v]]
    here = s.eloc[after] if after >= 0 else d.start_loc[v]
    nxt = s.succ[after] if after >= 0 else s.first[v]
    if nxt >= d.n_tasks:
        nxt = s.succ[nxt]
    there = d.loc[nxt] if nxt >= 0 else d.end_loc[v]
    return d.travel_cost[m, here, lt] + d.travel_cost[m, lt, there] - d.travel_cost[m, here, there]


@njit(cache=True)
def static_cost(d: Data, s: State, n: int, v: int, after: int) -> float:
    """Cost of node ``n`` at a place that does not depend on times (travel, carer, unserved)."""
    if n >= d.n_tasks:
        return 0.0
    c = travel_delta(d, s, n, v, after) + d.carer_cost[n, v] - d.unserved[n]
    if s.n_served[v] == 0:
        c += d.fixed[v]
    return c


@njit(cache=True)
def _late_delta(d: Data, s: State, mark: int, n: int) -> tuple[float, float]:
    """(lateness cost added, new largest lateness) from the starts logged since ``mark``."""
    add = 0.0
    worst = s.cost[MAX_LATE]
    for k in range(mark, s.counters[0]):
        x = s.log_node[k]
        if x >= d.n_tasks:
            continue
        new = max(0.0, s.start[x] - d.due[x])
        old = 0.0 if x == n else max(0.0, s.log_old[k] - d.due[x])
        add += d.late_cost[x] * (new - old)
        worst = max(worst, new)
    return add, worst


@njit(cache=True)
def place(d: Data, s: State, n: int, v: int, after: int) -> tuple[bool, float, int]:
    """Link node ``n`` into route ``v`` after ``after`` and raise the schedule to its least point.

    Returns (feasible, cost delta, log mark). The caller either keeps the change
    (:func:`settle`) or undoes it (:func:`unplace`).
    """
    static = static_cost(d, s, n, v, after)
    mark = log_mark(s)
    p_break = after >= d.n_tasks
    link(d, s, n, v, after)
    # a break that was taken after returning is now taken mid-round: start it afresh
    if p_break and not _raise(s, after, route_bound(d, s, after)):
        return False, np.inf, mark
    start = route_bound(d, s, n)
    if n < d.n_tasks:
        for k in range(d.in_ptr[n], d.in_ptr[n + 1]):
            a = d.in_from[k]
            if s.route_of[a] >= 0:
                start = max(start, s.start[a] + d.in_w[k])
    if not _raise(s, n, start):
        return False, np.inf, mark
    if not propagate(d, s, n):
        return False, np.inf, mark
    n_t = _touched_routes(d, s, mark, v)
    for i in range(n_t):
        if not _route_end_ok(d, s, s.touched[i]):
            return False, np.inf, mark
    late, worst = _late_delta(d, s, mark, n)
    delta = static + late + d.max_late_cost * (worst - s.cost[MAX_LATE])
    return True, delta, mark


@njit(cache=True)
def unplace(d: Data, s: State, n: int, mark: int) -> None:
    """Undo :func:`place`."""
    rollback(s, mark)
    unlink(d, s, n)


@njit(cache=True)
def _refresh_slacks(d: Data, s: State, mark: int, v: int) -> None:
    """Slacks of every route whose starts moved since ``mark``, and of their nodes' partners."""
    n_t = _touched_routes(d, s, mark, v)
    for i in range(n_t):
        route_slacks(d, s, s.touched[i])
    # a partner's free slack counts the gap to the moved node: refresh the partners' routes
    for k in range(mark, s.counters[0]):
        x = s.log_node[k]
        if x >= d.n_tasks:
            continue
        for j in range(d.in_ptr[x], d.in_ptr[x + 1]):
            a = d.in_from[j]
            if s.route_of[a] >= 0:
                route_slacks(d, s, s.route_of[a])


@njit(cache=True)
def insert(d: Data, s: State, n: int, v: int, after: int) -> int:
    """Insert node ``n`` in route ``v`` after ``after``, updating cost parts and slacks.

    Returns the undo mark (>= 0), or -1 when infeasible (then nothing changed). The change can be
    undone with :func:`uninsert` while later changes have been undone first; :func:`forget` keeps
    it for good.
    """
    static = 0.0
    was_empty = s.n_served[v] == 0
    if n < d.n_tasks:
        static = travel_delta(d, s, n, v, after)
    ok, _, mark = place(d, s, n, v, after)
    if not ok:
        unplace(d, s, n, mark)
        return -1
    late, worst = _late_delta(d, s, mark, n)
    if n < d.n_tasks:
        s.cost[TRAVEL] += static
        s.cost[UNSERVED] -= d.unserved[n]
        s.cost[CARER] += d.carer_cost[n, v]
        if was_empty:
            s.cost[FIXED] += d.fixed[v]
    s.cost[LATE] += late
    s.cost[MAX_LATE] = worst
    _refresh_slacks(d, s, mark, v)
    return mark


@njit(cache=True)
def uninsert(d: Data, s: State, n: int, mark: int, saved_cost: np.ndarray) -> None:
    """Undo :func:`insert` (``saved_cost``: the cost parts before it)."""
    v = s.route_of[n]
    rollback_to = s.counters[0]
    # starts go back first, then the slacks of the same routes are recomputed
    for k in range(rollback_to - 1, mark - 1, -1):
        s.start[s.log_node[k]] = s.log_old[k]
    unlink(d, s, n)
    s.cost[:] = saved_cost
    _refresh_slacks(d, s, mark, v)
    s.counters[0] = mark
    s.counters[1] += 1


@njit(cache=True)
def forget(d: Data, s: State, n: int, mark: int) -> None:
    """Keep the insertion of node ``n`` (and all since ``mark``) for good and free the undo log.

    Bumps the version of every route it changed, so cached prices there are recomputed.
    """
    n_t = _touched_routes(d, s, mark, s.route_of[n])
    for i in range(n_t):
        s.version[s.touched[i]] += 1
    s.counters[0] = mark
    s.counters[1] += 1


@njit(cache=True)
def insertion_cost(d: Data, s: State, n: int, v: int, after: int) -> float:
    """Exact cost delta of node ``n`` in route ``v`` after ``after`` (inf if infeasible)."""
    ok, delta, mark = place(d, s, n, v, after)
    unplace(d, s, n, mark)
    return delta if ok else np.inf


@njit(cache=True)
def quick_insertion(
    d: Data, s: State, t: int, v: int, after: int, static: float
) -> tuple[int, float]:
    """Price task ``t`` after ``after`` in route ``v`` without touching the plan, when possible.

    Returns ``(EXACT, cost)``, ``(INFEASIBLE, inf)`` or ``(NEEDS_PROPAGATION, lower bound)``.
    Exact when the new task raises no linked partner and the rise it causes at its successor is
    within the successor's free slack (nothing downstream changes cost or moves a partner).
    Infeasible when its own window or the successor's hard slack is broken. ``static`` is the
    part of the price that does not depend on times (:func:`static_cost`).
    """
    n_tasks = d.n_tasks
    m = d.mode[v]
    lt = d.loc[t]
    nxt = s.succ[after] if after >= 0 else s.first[v]
    if after >= n_tasks:
        return NEEDS_PROPAGATION, static
    if after < 0:
        t0, here = d.shift_start[v], d.start_loc[v]
    else:
        t0, here = s.start[after] + d.duration[after], d.loc[after]
    start = max(d.earliest[t], t0 + d.travel_time[m, here, lt])
    for k in range(d.in_ptr[t], d.in_ptr[t + 1]):
        a = d.in_from[k]
        if s.route_of[a] >= 0:
            start = max(start, s.start[a] + d.in_w[k])
    if start > d.latest[t] + EPS:
        return INFEASIBLE, np.inf
    late = max(0.0, start - d.due[t])
    bound = static + d.late_cost[t] * late + d.max_late_cost * max(0.0, late - s.cost[MAX_LATE])
    linked = False  # t itself moves a partner: priced by propagation
    for k in range(d.out_ptr[t], d.out_ptr[t + 1]):
        b = d.out_to[k]
        if s.route_of[b] >= 0 and start + d.out_w[k] > s.start[b] + EPS:
            linked = True
    if nxt >= n_tasks:
        return NEEDS_PROPAGATION, bound
    end = start + d.duration[t]
    if nxt < 0:
        back = end + d.travel_time[m, lt, d.end_loc[v]]
        if s.n_served[v] == 0:
            leave = start - d.travel_time[m, d.start_loc[v], lt]
        else:
            leave, _ = route_times(d, s, v)
        if back > d.shift_end[v] + EPS or back - leave > d.max_span[v] + EPS:
            return INFEASIBLE, np.inf
        return (NEEDS_PROPAGATION if linked else EXACT), bound
    if after < 0 and np.isfinite(d.max_span[v]):
        return NEEDS_PROPAGATION, bound  # the carer leaves at another time: span changes
    rise = end + d.travel_time[m, lt, d.loc[nxt]] - s.start[nxt]
    status, add, worst = EXACT, 0.0, late
    if rise > EPS:
        if rise > s.hard[nxt] + EPS:
            return INFEASIBLE, np.inf
        if rise > s.free[nxt] + EPS:
            status, add, down = _walk(d, s, nxt, rise)
            if status == INFEASIBLE:
                return INFEASIBLE, np.inf
            worst = max(worst, down)
    price = static + d.late_cost[t] * late + add
    price += d.max_late_cost * max(0.0, worst - s.cost[MAX_LATE])
    if linked:
        return NEEDS_PROPAGATION, price
    return status, price


@njit(cache=True)
def _walk(d: Data, s: State, x: int, rise: float) -> tuple[int, float, float]:
    """Follow a rise of ``start[x]`` down its route (each stop's wait absorbs some of it).

    Returns (status, lateness cost added, largest new lateness) over the stops it reaches;
    ``NEEDS_PROPAGATION`` as soon as it would move a linked partner (the costs so far are then a
    lower bound), ``INFEASIBLE`` if a hard rule breaks.
    """
    add, worst = 0.0, 0.0
    while x >= 0 and rise > EPS:
        if rise > s.hard[x] + EPS:
            return INFEASIBLE, add, worst
        if rise <= s.free[x] + EPS:
            break  # nothing from here on changes cost or moves a partner
        new = s.start[x] + rise
        if x < d.n_tasks:
            late = max(0.0, new - d.due[x])
            add += d.late_cost[x] * (late - max(0.0, s.start[x] - d.due[x]))
            worst = max(worst, late)
            for k in range(d.out_ptr[x], d.out_ptr[x + 1]):
                b = d.out_to[k]
                if s.route_of[b] >= 0 and new + d.out_w[k] > s.start[b] + EPS:
                    return NEEDS_PROPAGATION, add, worst
        x = s.succ[x]
        if x >= 0:
            rise -= s.wait[x]
    return EXACT, add, worst


# --------------------------------------------------------------------------------------------
# the search: scratch space, operators


DESTROY = ("random", "strings", "related", "worst", "route", "linked", "split")
REPAIR = ("greedy-random", "greedy-earliest", "greedy-hardest", "regret-2")
N_DESTROY = len(DESTROY)


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


def make_work(d: DataArrays, n_neighbours: int = 40) -> tuple[WorkArrays, Work]:
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
        trial_cost=np.zeros((maxg, N_COST)),
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
    after = NO_NODE
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
                if rise > s.hard[nxt] + EPS:
                    skip = True
                elif rise > 0.0:
                    was = max(0.0, s.start[nxt] - d.due[nxt])
                    now = max(0.0, s.start[nxt] + rise - d.due[nxt])
                    skip = own + d.late_cost[nxt] * (now - was) >= limit
        if not skip:
            static = fixed + travel_delta(d, s, t, v, after)
            priced += 1
            if static < limit:
                status, c = quick_insertion(d, s, t, v, after, static)
                if status == EXACT:
                    if c < w.route_cost[v]:
                        w.route_cost[v] = c
                        w.route_after[v] = after
                elif status == NEEDS_PROPAGATION:
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
        c = insertion_cost(d, s, t, v, w.cand_after[i])
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
    n_c = ZERO
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
    n_c = _quick_places(d, s, w, t, v, 0.0, ZERO, bound)
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
    mark = insert(d, s, t, v, after)
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
        uninsert(d, s, w.trial_task[i], w.trial_mark[i], w.trial_cost[i])


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
    missing, last = 0, NO_NODE
    for j in range(lo, hi):
        if s.route_of[d.group_task[j]] < 0:
            missing += 1
            last = d.group_task[j]
    w.plan_len[0] = 0
    if missing == 0:
        return 0.0
    if missing == 1:  # a lone task, or the one task of a unit whose partners stayed in place
        c = scan_task(d, s, w, last, blink, ONE)
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
    base = total_cost(d, s)
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
            if not _trial_insert(d, s, w, ZERO, t, v, lead_after[v]):
                continue
            depth = ONE
            ok = True
            for j in range(lo, hi):
                o = d.group_task[j]
                if s.route_of[o] >= 0:
                    continue
                scan_task(d, s, w, o, blink, ONE)
                u = _best_route(w)
                if u < 0 or not _trial_insert(d, s, w, depth, o, u, w.route_after[u]):
                    ok = False
                    break
                depth += 1
            if ok:
                c = total_cost(d, s) - base
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
        mark = insert(d, s, w.plan_task[i], w.plan_v[i], w.plan_after[i])
        if mark < 0:
            return False
        forget(d, s, w.plan_task[i], mark)
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
        best, best_after = np.inf, NO_NODE - 1
        after = NO_NODE
        while True:
            c = insertion_cost(d, s, b, v, after)
            if c < best:
                best, best_after = c, after
            nxt = s.first[v] if after < 0 else s.succ[after]
            if nxt < 0:
                break
            after = nxt
        if best_after == -2:
            return False
        mark = insert(d, s, b, v, best_after)
        if mark < 0:
            return False
        forget(d, s, b, mark)
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
        scan_task(d, s, w, t, 0.0, TWO)
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
            mark = insert(d, s, t, top_v[pick, 0], top_after[pick, 0])
            if mark >= 0:
                forget(d, s, t, mark)
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
            unlink(d, s, x)
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
        x = _first_task(d, s, v)
        while x != t:
            x = s.succ[x]
            if x < d.n_tasks:
                pos += 1
        lo = max(0, pos - np.random.randint(length))
        lo = min(lo, size - length)
        # collect first, then remove (removal changes the links)
        x = _first_task(d, s, v)
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
    unlink(d, s, t)


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
    full_schedule(d, s)
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
    return full_schedule(d, s)


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
    cur_cost = total_cost(d, cur)
    best_cost = total_cost(d, best)
    for i in range(n_iter):
        frac = i / max(1, n_iter)
        temp = temp_start * (temp_end / temp_start) ** frac if temp_start > 0 else 0.0
        copy_state(cur, trial)
        dop = _roulette(w.weights[:n_destroy] * w.enabled[:n_destroy])
        rop = _roulette(w.weights[n_destroy:] * w.enabled[n_destroy:])
        q = np.random.randint(remove_min, remove_max + 1)
        work0 = w.counters[3]
        destroy(d, trial, w, dop, q)
        full_schedule(d, trial)
        repair(d, trial, w, rop, blink, n_cand)
        ok = full_schedule(d, trial)
        c = total_cost(d, trial)
        w.counters[0] += 1
        score = 0.0
        if ok:
            if c < best_cost - 1e-9:
                best_cost = c
                copy_state(trial, best)
                w.counters[1] = w.counters[0]
                score = score_best
            if c < cur_cost - 1e-9:
                score = max(score, score_better)
            if c < cur_cost - temp * np.log(np.random.random()):
                if c != cur_cost:
                    score = max(score, score_accept)
                cur_cost = c
                copy_state(trial, cur)
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
