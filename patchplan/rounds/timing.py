"""Timing rounds without a solver: earliest starts along a fixed order, and cheapest insertion.

Used to derive a day from the week's template (:mod:`patchplan.rounds.week`): the template rounds,
less the calls absent that day, are re-timed here, and the day's other calls are inserted where the
timing says they fit. A provider-day has hundreds of visits and the week seven of them, so this
works on the day's arrays directly rather than checking each candidate with an OR-Tools model of
the whole day (``construct``), which costs far more per check.

The rules are the OR-Tools model's (``ortools_model``), in time units of the day problem:

* a carer leaves its base at ``shift_start`` at the earliest and is back by ``shift_end``;
  ``max_minutes`` bounds the time from leaving to returning;
* a visit starts within its window, after the travel (rounded-up units) from the previous stop;
* the break (``break_minutes``, starting within ``break_earliest``..``break_latest``) is taken
  between two stops, before leaving or after returning, never during a visit: a gap holding the
  break is at least travel + break long (OR-Tools' break intervals over slack);
* walking legs beyond reach are not allowed (``DayProblem.reachable``);
* linked copies (a double-up's two carers, visits that follow one another) are pinned to the start
  times that satisfy their link (:func:`time_routes` finds them; insertion keeps them).

:class:`RoundClock` gives each round's earliest schedule by a two-state pass (break not yet taken /
taken), exact for a fixed order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from patchplan.rounds.problem import DayProblem, Links

INF = np.iinfo(np.int64).max // 4


@dataclass
class Timing:
    """The earliest schedule of one round (time units).

    Attributes
    ----------
    starts : start of service of each stop, in route order.
    back : time back at base.
    break_start : start of the break (None when the carer has none).
    travel : travel of the round, base to base.
    """

    starts: list[int]
    back: int
    break_start: int | None
    travel: int


class RoundClock:
    """Times carers' rounds of one day problem (nodes as in :class:`DayProblem`)."""

    def __init__(self, day: DayProblem, scale: int):
        v, c = day.visits, day.carers
        nv = day.n_visit_nodes
        self.day, self.scale, self.nv = day, scale, nv
        self.loc = day.node_loc
        self.service = np.zeros(len(day.node_visit), dtype=np.int64)
        self.service[:nv] = v["duration"].to_numpy()[day.node_visit[:nv]] * scale
        self.lo = np.zeros(len(day.node_visit), dtype=np.int64)
        self.hi = np.full(len(day.node_visit), INF, dtype=np.int64)
        self.lo[:nv] = v["earliest"].to_numpy()[day.node_visit[:nv]] * scale
        self.hi[:nv] = v["latest"].to_numpy()[day.node_visit[:nv]] * scale
        modes = c["mode"].astype(str).tolist()
        self.units = [day.units[m] for m in modes]
        self.reach = [day.reachable[m] for m in modes]
        self.base = day.base_loc
        col = {k: c[k].to_numpy().astype(np.int64) * scale for k in (
            "shift_start", "shift_end", "max_minutes", "break_earliest", "break_latest",
            "break_minutes")}  # fmt: skip
        self.shift_start, self.shift_end = col["shift_start"], col["shift_end"]
        self.span = col["max_minutes"]
        self.break_earliest, self.break_latest = col["break_earliest"], col["break_latest"]
        self.break_minutes = col["break_minutes"]

    def time(self, j: int, route: list[int], lo: np.ndarray, hi: np.ndarray) -> Timing | None:
        """Earliest schedule of carer ``j`` serving ``route`` in order, or None if infeasible.

        ``lo``, ``hi`` are each node's start window (time units; pinned nodes have ``lo == hi``).
        """
        u, reach, base = self.units[j], self.reach[j], int(self.base[j])
        be, bl = int(self.break_earliest[j]), int(self.break_latest[j])
        bm = int(self.break_minutes[j])
        has_break = bm > 0
        t0, t1 = int(self.shift_start[j]), INF  # ready at the last stop: break not taken / taken
        s0: list[int] = []
        s1: list[int] = []
        via: list[int] = []  # break start if state 1 at a stop came by a break on its leg, else -1
        prev, travel = base, 0
        for node in route:
            loc = int(self.loc[node])
            if not reach[prev, loc]:
                return None
            tr = int(u[prev, loc])
            travel += tr
            low, high = int(lo[node]), int(hi[node])
            a1, brk = (max(low, t1 + tr) if t1 < INF else INF), -1
            if has_break and t0 < INF and max(be, t0) <= bl:
                c = max(low, be + bm, t0 + tr + bm)
                if c <= a1:  # on a tie the later break, so the stops before it stay earliest
                    a1, brk = c, max(be, t0)
            a0 = max(low, t0 + tr) if t0 < INF else INF
            a0 = a0 if a0 <= high else INF
            a1 = a1 if a1 <= high else INF
            if a0 >= INF and a1 >= INF:
                return None
            s0.append(a0)
            s1.append(a1)
            via.append(brk)
            svc = int(self.service[node])
            t0 = a0 + svc if a0 < INF else INF
            t1 = a1 + svc if a1 < INF else INF
            prev = loc
        if not reach[prev, base]:
            return None
        tr = int(u[prev, base])
        travel += tr
        end = int(self.shift_end[j])
        if not has_break:
            if t0 + tr > end:
                return None
            return self._timing(route, s0, t0 + tr, None, travel, u, base, 0, j)
        # finish in state 1, or take the break on the way back / after returning (state 0)
        options = []
        if t1 < INF:
            options.append((t1 + tr, -1, -1))
        if t0 < INF and max(be, t0 + tr) <= bl:
            options.append((t0 + tr, max(be, t0 + tr), len(route)))
        elif t0 < INF and max(be, t0) <= bl:
            options.append((max(t0 + tr, be) + bm, max(be, t0), len(route)))
        options = [o for o in options if o[0] <= end]
        if not options:
            return None
        back, brk, at = min(options)
        if at >= 0:  # the break comes after the last visit: every stop as early as it can be
            return self._timing(route, s0, back, brk, travel, u, base, 0, j)
        k = len(route) - 1  # walk back to the leg on which the break was taken
        while k >= 0 and via[k] < 0:
            k -= 1
        if k < 0:
            return None
        before_first = bm if k == 0 else 0
        return self._timing(route, s0[:k] + s1[k:], back, via[k], travel, u, base, before_first, j)

    def _timing(self, route, starts, back, brk, travel, u, base, before_first, j) -> Timing | None:
        """Check the span from leaving to returning and package the schedule."""
        if route:
            leave = starts[0] - int(u[base, self.loc[route[0]]]) - before_first
            if back - leave > int(self.span[j]):
                return None
        return Timing([int(s) for s in starts], int(back), brk, int(travel))


def time_routes(
    clock: RoundClock,
    routes: list[list[int]],
    links: Links,
    lo: np.ndarray,
    hi: np.ndarray,
    max_passes: int = 200,
) -> tuple[dict[int, Timing], np.ndarray] | None:
    """Earliest schedules of every route with every link satisfied, or None.

    Starts are pushed later until each link holds (``gap_min <= start[b] - start[a] <= gap_max``
    for links whose two copies are both placed), a monotone fixed point; returns the timings by
    carer position and the raised ``lo``.
    """
    lo = lo.copy()
    where = {n: j for j, r in enumerate(routes) for n in r}
    timings: dict[int, Timing] = {}
    dirty = {j for j, r in enumerate(routes) if r}
    for _ in range(max_passes):
        for j in sorted(dirty):
            t = clock.time(j, routes[j], lo, hi)
            if t is None:
                return None
            timings[j] = t
        start = {
            n: timings[j].starts[k] for j, r in enumerate(routes) if r for k, n in enumerate(r)
        }
        dirty = set()
        for a, b, gmin, gmax in zip(links.a, links.b, links.gap_min, links.gap_max, strict=True):
            if a not in start or b not in start:
                continue
            gap = start[b] - start[a]
            if gap < gmin:
                lo[b] = max(lo[b], start[a] + int(np.ceil(gmin)))
                dirty.add(where[b])
            elif gap > gmax:
                lo[a] = max(lo[a], start[b] - int(np.floor(gmax)))
                dirty.add(where[a])
        if not dirty:
            return timings, lo
    return None


@dataclass
class Insertion:
    """Cheapest insertion of visit copies into timed routes (numpy screen, exact timing check).

    Attributes
    ----------
    clock : times routes.
    routes : visit-copy nodes per carer position (changed in place).
    timings : current schedule per used carer position.
    lo, hi : start windows per node (pinned copies have ``lo == hi``).
    allowed : (visit copies, carers) who may serve each copy.
    penalty : (visit copies, carers) extra cost of a carer taking a copy (continuity), time units.
    open_cost : extra cost of a copy opening an unused round (the model's fixed cost per carer).
    tries : exact checks per copy, cheapest screened candidates first.
    """

    clock: RoundClock
    routes: list[list[int]]
    timings: dict[int, Timing]
    lo: np.ndarray
    hi: np.ndarray
    allowed: np.ndarray
    penalty: np.ndarray
    open_cost: int = 0
    tries: int = 8

    def candidates(
        self, node: int, exclude: int = -1, only: int = -1
    ) -> list[tuple[int, int, int]]:
        """Screened ``(cost, carer, position)`` for ``node``, cheapest first (``only``: one carer).

        The screen is necessary, not sufficient: the node's window against the earliest time the
        carer can reach it, and the next stop's latest start against the detour.
        """
        clock = self.clock
        out: list[tuple[int, int, int]] = []
        loc, svc = int(clock.loc[node]), int(clock.service[node])
        carers = (
            [only] if only >= 0 and self.allowed[node, only] else np.flatnonzero(self.allowed[node])
        )
        for j in map(int, carers):
            if j == exclude:
                continue
            route = self.routes[j]
            u, reach = clock.units[j], clock.reach[j]
            base = int(clock.base[j])
            locs = np.array([base, *(int(clock.loc[n]) for n in route), base])
            prev, nxt = locs[:-1], locs[1:]
            if route:
                t = self.timings[j]
                ready = np.array([int(clock.shift_start[j]),
                                  *(s + int(clock.service[n]) for s, n in zip(t.starts, route, strict=True))])  # fmt: skip
                next_hi = np.array([*(int(self.hi[n]) for n in route), int(clock.shift_end[j])])
            else:
                ready = np.array([int(clock.shift_start[j])])
                next_hi = np.array([int(clock.shift_end[j])])
            ok = reach[prev, loc] & reach[loc, nxt]
            start = np.maximum(ready + u[prev, loc], self.lo[node])
            ok &= start <= self.hi[node]
            ok &= start + svc + u[loc, nxt] <= next_hi
            detour = u[prev, loc] + u[loc, nxt] - u[prev, nxt]
            cost = detour + int(self.penalty[node, j]) + (0 if route else self.open_cost)
            out.extend((int(cost[p]), j, int(p)) for p in np.flatnonzero(ok))
        out.sort()
        return out

    def trial(self, j: int, p: int, node: int) -> Timing | None:
        """Carer ``j``'s schedule with ``node`` inserted at position ``p``, or None."""
        route = self.routes[j]
        return self.clock.time(j, [*route[:p], node, *route[p:]], self.lo, self.hi)

    def place(self, j: int, p: int, node: int, timing: Timing) -> None:
        self.routes[j].insert(p, node)
        self.timings[j] = timing

    def insert_single(self, node: int) -> bool:
        """Insert one copy where it costs least; False when nothing fits.

        Rounds already working come first: the ``tries`` cheapest screened positions, then the
        cheapest of every other such carer in turn, so a copy that fits is not left out for want of
        trying. Then room is made in a nearby round by moving one of its visits elsewhere
        (:meth:`eject_for`), and only then does the copy open an unused round.
        """
        cands = self.candidates(node)
        if self._first_fit(node, [c for c in cands if self.routes[c[1]]]):
            return True
        if self.eject_for(node):
            return True
        return self._first_fit(node, [c for c in cands if not self.routes[c[1]]])

    def _first_fit(self, node: int, cands: list[tuple[int, int, int]]) -> bool:
        """Place ``node`` at the first candidate that times; the first ``tries``, then one a carer."""
        checked: set[int] = set()
        for k, (_, j, p) in enumerate(cands):
            if k >= self.tries and j in checked:
                continue
            checked.add(j)
            if self._try(j, p, node):
                return True
        return False

    def eject_for(self, node: int, near: int = 6) -> bool:
        """Room for ``node`` in one of the ``near`` nearest working rounds, made by moving one of
        that round's visits (not a linked copy) to another working round; False if none works."""
        clock, loc = self.clock, int(self.clock.loc[node])
        working = [int(j) for j in np.flatnonzero(self.allowed[node]) if self.routes[j]]

        def gap(j: int) -> int:
            return min(int(clock.units[j][clock.loc[m], loc]) for m in self.routes[j])

        for k in sorted(working, key=lambda j: (gap(j), j))[:near]:
            route, timing = self.routes[k], self.timings[k]
            for i, m in enumerate(route):
                rest = route[:i] + route[i + 1 :]
                if self.lo[m] == self.hi[m] or not rest:
                    continue
                shorter = clock.time(k, rest, self.lo, self.hi)
                if shorter is None:
                    continue
                self.routes[k], self.timings[k] = rest, shorter
                if self._first_fit(node, self.candidates(node, only=k)):
                    elsewhere = [c for c in self.candidates(m, exclude=k) if self.routes[c[1]]]
                    if self._first_fit(m, elsewhere):
                        return True
                self.routes[k], self.timings[k] = route, timing
        return False

    def _try(self, j: int, p: int, node: int) -> bool:
        timing = self.trial(j, p, node)
        if timing is None:
            return False
        self.place(j, p, node, timing)
        return True

    def close_round(self, j: int) -> bool:
        """Move every visit of carer ``j``'s round into other working rounds if that shortens the
        travel, each visit's ``penalty`` counted as travel; False, and nothing changed, otherwise."""
        nodes = list(self.routes[j])
        saved_routes = [list(r) for r in self.routes]
        saved_timings = dict(self.timings)
        gain = self.timings[j].travel
        self.routes[j] = []
        del self.timings[j]
        spent = 0
        for n in nodes:
            placed = False
            for _, k, p in [c for c in self.candidates(n, exclude=j) if self.routes[c[1]]][
                : self.tries
            ]:
                timing = self.trial(k, p, n)
                if timing is not None:
                    spent += timing.travel - self.timings[k].travel + int(self.penalty[n, k])
                    self.place(k, p, n, timing)
                    placed = True
                    break
            if not placed or spent >= gain:
                self.routes, self.timings = saved_routes, saved_timings
                return False
        return True

    def insert_pair(self, a: int, b: int, pairs: int = 12) -> bool:
        """Insert two copies that start together with two different carers; False if none fits.

        For the cheapest pairs of screened positions (two working rounds first, then pairs with an
        unused round), each copy's earliest start is found on its own; both are then pinned to the
        later of the two and checked again.
        """
        ca, cb = self._spread(self.candidates(a)), self._spread(self.candidates(b))
        combos = sorted(
            (x[0] + y[0], x[1], x[2], y[1], y[2]) for x in ca for y in cb if x[1] != y[1]
        )
        both_working = [c for c in combos if self.routes[c[1]] and self.routes[c[3]]]
        with_unused = [c for c in combos if not (self.routes[c[1]] and self.routes[c[3]])]
        for _, j1, p1, j2, p2 in both_working[:pairs] + with_unused[:pairs]:
            t1, t2 = self.trial(j1, p1, a), self.trial(j2, p2, b)
            if t1 is None or t2 is None:
                continue
            at = max(t1.starts[p1], t2.starts[p2])
            saved = self.lo[[a, b]].copy(), self.hi[[a, b]].copy()
            self.lo[[a, b]] = at
            self.hi[[a, b]] = at
            t1, t2 = self.trial(j1, p1, a), self.trial(j2, p2, b)
            if t1 is not None and t2 is not None:
                self.place(j1, p1, a, t1)
                self.place(j2, p2, b, t2)
                return True
            self.lo[[a, b]], self.hi[[a, b]] = saved
        return False

    def _spread(self, cands: list[tuple[int, int, int]], per_carer: int = 2
                ) -> list[tuple[int, int, int]]:  # fmt: skip
        """The cheapest ``per_carer`` positions of each carer, for the ``tries`` cheapest working
        carers and as many unused ones."""
        seen: dict[int, int] = {}
        working: list[tuple[int, int, int]] = []
        unused: list[tuple[int, int, int]] = []
        for c in cands:
            if seen.get(c[1], 0) >= per_carer:
                continue
            seen[c[1]] = seen.get(c[1], 0) + 1
            (working if self.routes[c[1]] else unused).append(c)
        limit = self.tries * per_carer
        return working[:limit] + unused[:limit]


def improve_route(clock: RoundClock, route: list[int], timing: Timing, j: int, lo: np.ndarray,
                  hi: np.ndarray, passes: int = 2) -> tuple[list[int], Timing]:  # fmt: skip
    """Carer ``j``'s route reordered by moving single stops (or-opt) while that shortens its travel.

    Each pass screens every move by its travel change and times the improving ones, best first;
    the carer and its visits are kept (continuity is untouched).
    """
    u = clock.units[j]
    base = int(clock.base[j])
    for _ in range(passes):
        n = len(route)
        if n < 3:
            break
        locs = np.array([base, *(int(clock.loc[x]) for x in route), base])
        moves: list[tuple[int, int, int]] = []
        for k in range(n):  # take stop k out ...
            a, x, b = locs[k], locs[k + 1], locs[k + 2]
            gain = u[a, x] + u[x, b] - u[a, b]
            rest = np.delete(locs, k + 1)
            # ... and put it between rest[p] and rest[p + 1]
            add = u[rest[:-1], x] + u[x, rest[1:]] - u[rest[:-1], rest[1:]]
            moves.extend(
                (int(add[q] - gain), k, int(q)) for q in np.flatnonzero(add < gain) if q != k
            )
        moved = False
        for _, k, at in sorted(moves)[:8]:
            trial = [*route[:k], *route[k + 1 :]]
            trial.insert(at, route[k])
            timed = clock.time(j, trial, lo, hi)
            if timed is not None and timed.travel < timing.travel:
                route, timing, moved = trial, timed, True
                break
        if not moved:
            break
    return route, timing
