"""Timing kernel of the synchronised-visits search: least schedules and insertion costs (numba).

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

Two evaluations share these rules:

* :func:`full_schedule` recomputes a whole plan (label-correcting sweeps), checks every hard rule
  and sums the cost. Used after removals, which can only *lower* starts.
* :func:`insertion_cost` prices one node inserted at one place. Insertions only *raise* starts
  (given the triangle inequality), so a worklist propagates the rise from the new node, with an
  undo log; a rise reaching the new node again is a positive cycle. Most candidate places are
  settled without touching the plan by :func:`quick_insertion`: per-node slacks (how far a start
  may slip before a hard rule breaks, and before any cost or linked visit is touched) and waits,
  walked down the route while no linked visit has to move.

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
    """Fill ``s.cost`` from the schedule; False if a window, shift, span, break or 'together'
    rule breaks."""
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
                here = d.loc[n]
                s.cost[CARER] += d.carer_cost[n, v]
                late = s.start[n] - d.due[n]
                if late > 0:
                    s.cost[LATE] += d.late_cost[n] * late
                    s.cost[MAX_LATE] = max(s.cost[MAX_LATE], late)
            n = s.succ[n]
        s.cost[TRAVEL] += d.travel_cost[m, here, d.end_loc[v]]
        ok = ok and _route_end_ok(d, s, v)
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
