"""Pair-aware first solutions for OR-Tools: double-ups placed two carers at a time, then singles.

Routing's own insertion heuristics cannot place two coupled copies at once, so double-up pairs are
placed here first: candidate positions come from forward/backward time slack on each route
(windows and shift; copies already placed are pinned to their common start), and the cheapest few
are checked by OR-Tools (``ReadAssignmentFromRoutes``) under every constraint. Singles follow by
cheapest checked insertion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Insertion:
    """What the insertion heuristics need of a day, in time units.

    Attributes
    ----------
    routing, manager : the closed OR-Tools model and its index manager (checks candidates).
    units : mode -> travel time units between *nodes*.
    service : per node, service time units (0 at bases).
    allowed : (visit copies, carers) bool.
    carers : the carers table (positional).
    node_visit : node -> visit position.
    lo, hi : per node, earliest and latest start (pinned when a pair is placed).
    scale : time units per minute.
    """

    routing: object
    manager: object
    units: dict[str, np.ndarray]
    service: np.ndarray
    allowed: np.ndarray
    carers: pd.DataFrame
    node_visit: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    scale: int

    def check(self, routes: list[list[int]]):
        """OR-Tools' assignment for these node routes, or None when they break a constraint."""
        idx = [[self.manager.NodeToIndex(n) for n in r] for r in routes]  # type: ignore[attr-defined]
        return self.routing.ReadAssignmentFromRoutes(idx, True)  # type: ignore[attr-defined]

    def slots(self, routes: list[list[int]], j: int, node: int) -> list[tuple[int, int, int, int]]:
        """Feasible positions for ``node`` in carer ``j``'s route: (position, earliest, latest, cost)."""
        units = self.units[str(self.carers["mode"].iat[j])]
        service, lo_w, hi_w = self.service, self.lo, self.hi
        start_node = len(lo_w) - len(self.carers) + j
        seq = [start_node, *routes[j], start_node]
        lo = np.empty(len(seq))
        hi = np.empty(len(seq))
        lo[0] = int(self.carers["shift_start"].iat[j]) * self.scale
        for k in range(1, len(seq)):
            arrive = lo[k - 1] + service[seq[k - 1]] * (k > 1) + units[seq[k - 1], seq[k]]
            lo[k] = max(arrive, lo_w[seq[k]]) if k < len(seq) - 1 else arrive
        hi[-1] = int(self.carers["shift_end"].iat[j]) * self.scale
        for k in range(len(seq) - 2, -1, -1):
            latest = hi[k + 1] - units[seq[k], seq[k + 1]] - service[seq[k]] * (k > 0)
            hi[k] = min(latest, hi_w[seq[k]]) if k > 0 else latest
        out = []
        for k in range(len(seq) - 1):
            p, q = seq[k], seq[k + 1]
            e = max(lo_w[node], lo[k] + service[p] * (k > 0) + units[p, node])
            latest = min(hi_w[node], hi[k + 1] - units[node, q] - service[node])
            if e <= latest:
                out.append(
                    (k, int(e), int(latest), int(units[p, node] + units[node, q] - units[p, q]))
                )
        return out


def insert_pairs(ins: Insertion, routes: list[list[int]], pairs: list[tuple[int, int]],
                 tries: int = 6):  # fmt: skip
    """Greedy insertion of double-up pairs ``(slot 0 node, slot 1 node)``: two carers, one start.

    Pairs with the narrowest windows go first. Returns the routes and the last OR-Tools assignment
    accepted (None if no pair was placed).
    """
    best = None
    for a_node, b_node in sorted(pairs, key=lambda p: (ins.hi[p[0]] - ins.lo[p[0]], p[0])):
        slots_a = {
            j: ins.slots(routes, j, a_node) for j in map(int, np.flatnonzero(ins.allowed[a_node]))
        }
        slots_b = {
            j: ins.slots(routes, j, b_node) for j in map(int, np.flatnonzero(ins.allowed[b_node]))
        }
        cands = [
            (c1 + c2, j1, p1, j2, p2, max(lo1, lo2))
            for j1, s1 in slots_a.items()
            for j2, s2 in slots_b.items()
            if j1 != j2
            for p1, lo1, hi1, c1 in s1
            for p2, lo2, hi2, c2 in s2
            if max(lo1, lo2) <= min(hi1, hi2)
        ]
        cands.sort()
        for _, j1, p1, j2, p2, t in cands[:tries]:
            trial = [list(r) for r in routes]
            trial[j1].insert(p1, a_node)
            trial[j2].insert(p2, b_node)
            assignment = ins.check(trial)
            if assignment is not None:
                routes, best = trial, assignment
                ins.lo[a_node] = ins.hi[a_node] = ins.lo[b_node] = ins.hi[b_node] = t
                break
    return routes, best


def insert_singles(ins: Insertion, routes: list[list[int]], singles: list[int], tries: int = 4):
    """Greedy cheapest insertion of single visit copies around the placed pairs, checked by OR-Tools."""
    best = None
    for n in sorted(singles, key=lambda n: (ins.hi[n] - ins.lo[n], n)):
        cands = sorted(
            (cost, j, p)
            for j in map(int, np.flatnonzero(ins.allowed[n]))
            for p, _, _, cost in ins.slots(routes, j, n)
        )
        for _, j, p in cands[:tries]:
            trial = [list(r) for r in routes]
            trial[j].insert(p, n)
            assignment = ins.check(trial)
            if assignment is not None:
                routes, best = trial, assignment
                break
    return routes, best
