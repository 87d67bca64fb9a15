"""HHCRSP instances of Mankowska, Meisel & Bierwirth (2014): reader, best-known table, checker.

The format, the objective and the scoring rules are those of ``../shared/benchmarks/hhcrsp/README.md``:

* ``n`` patients (nodes ``1..n``), the depot is node 0 (and its copy ``N - 1``); caregivers leave
  the depot at time 0 and return to it; travel time = distance ``d``.
* A service ``(node, type)`` is done by one caregiver qualified for its type. A double-service
  patient's two services are done by two different caregivers, either **simultaneously** (same
  start, ``mind = maxd = 0``) or in **precedence**: the lower type starts first and the higher
  ``mind..maxd`` minutes later.
* Starts are the *least* start times of the routes: each service starts at the later of its arrival
  and ``e``; a simultaneous pair at the later of the two; a precedence pair's second at least
  ``mind`` after the first, the first delayed when the gap would exceed ``maxd``.
* Objective ``(D + T + Tmax) / 3``: ``D`` distance of all routes with return legs, ``T`` the sum of
  lateness ``max(0, start - l)`` over all services (a late double service counts twice), ``Tmax``
  the largest.

:func:`check` is independent of the search engine (plain Python over the instance arrays), so it can
judge the routes of any solver. :func:`to_sync_problem` turns an instance into the engine's
:class:`~patchplan.rounds.search.SyncProblem` for development; the benchmark proper will go through
``plan_rounds``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
HHCRSP = REPO.parent / "shared" / "benchmarks" / "hhcrsp"

Service = tuple[int, int]
"""A service: (patient node, service type 0..5)."""

TOLERANCE = 1e-6
"""Absolute tolerance (minutes) when checking simultaneous starts and precedence gaps."""


@dataclass(frozen=True)
class Instance:
    """One HHCRSP instance as printed in its file (depot = node 0; node ``N - 1`` is its copy).

    Attributes
    ----------
    name : file stem, e.g. ``InstanzCPLEX_HCSRP_10_2``.
    n_vehicles : caregivers ``V``.
    requests : (N, S) 0/1, service types requested by each node (depot rows are all 1).
    double : patient nodes with two services, in file order.
    qualified : (V, S) bool, caregiver may perform service type.
    xy : (N, 2) coordinates.
    distance : (N, N) travel distance = travel time (minutes).
    processing : (N, V, S) service times, minutes.
    mind, maxd : (N,) precedence gaps of double-service patients, minutes (0, 0 = simultaneous).
    e, l : (N,) service-start window (``l`` is soft: lateness beyond it is the tardiness).
    """

    name: str
    n_vehicles: int
    requests: np.ndarray
    double: tuple[int, ...]
    qualified: np.ndarray
    xy: np.ndarray
    distance: np.ndarray
    processing: np.ndarray
    mind: np.ndarray
    maxd: np.ndarray
    e: np.ndarray
    l: np.ndarray  # noqa: E741 (the paper's name)

    @property
    def n_patients(self) -> int:
        """Number of patients ``n`` (nodes ``1..n``)."""
        return len(self.e) - 2

    def services(self) -> list[Service]:
        """Every service to be done, as (node, type), in node then type order."""
        return [
            (i, int(s)) for i in range(1, self.n_patients + 1)
            for s in np.flatnonzero(self.requests[i])
        ]  # fmt: skip

    def pair(self, node: int) -> tuple[int, int, float, float] | None:
        """A double-service patient's (first type, second type, mind, maxd); None for a single."""
        if node not in self.double:
            return None
        low, high = (int(s) for s in np.flatnonzero(self.requests[node]))
        return low, high, float(self.mind[node]), float(self.maxd[node])


def read_instance(path: Path) -> Instance:
    """Read an instance file (Kummer's keyword format, see the README).

    Raises
    ------
    ValueError
        Naming the file and the keyword when a block is missing or has the wrong size.
    """
    blocks: dict[str, list[list[float]]] = {}
    key = None
    for raw in Path(path).read_text().splitlines():
        tokens = raw.split()
        if not tokens:
            continue
        if tokens[0][0].isalpha():
            key = tokens[0]
            blocks[key] = []
        elif key is None:
            raise ValueError(f"{path}: numbers before the first keyword")
        else:
            blocks[key].append([float(t) for t in tokens])

    def block(name: str, rows: int | None = None, cols: int | None = None) -> np.ndarray:
        if name not in blocks:
            raise ValueError(f"{path}: keyword {name!r} missing")
        data = blocks[name]
        flat = [x for row in data for x in row]
        if rows is None:
            return np.array(flat)
        if len(flat) != rows * cols:
            raise ValueError(f"{path}: {name!r} holds {len(flat)} numbers, expected {rows}x{cols}")
        return np.array(flat).reshape(rows, cols)

    n_nodes = int(block("nbNodes")[0])
    n_veh = int(block("nbVehi")[0])
    n_serv = int(block("nbServi")[0])
    requests = block("r", n_nodes, n_serv).astype(int)
    double = tuple(int(x) - 1 for x in block("DS"))
    processing = block("p", n_nodes * n_veh, n_serv).reshape(n_nodes, n_veh, n_serv)
    inst = Instance(
        name=Path(path).stem,
        n_vehicles=n_veh,
        requests=requests,
        double=double,
        qualified=block("a", n_veh, n_serv).astype(bool),
        xy=np.column_stack([block("x"), block("y")]),
        distance=block("d", n_nodes, n_nodes),
        processing=processing,
        mind=block("mind"),
        maxd=block("maxd"),
        e=block("e"),
        l=block("l"),
    )
    for name, arr in (("x", inst.xy), ("mind", inst.mind), ("e", inst.e), ("l", inst.l)):
        if len(arr) != n_nodes:
            raise ValueError(f"{path}: {name!r} holds {len(arr)} values, expected {n_nodes}")
    for i in range(1, n_nodes - 1):
        want = 2 if i in double else 1
        if requests[i].sum() != want:
            raise ValueError(f"{path}: node {i} requests {requests[i].sum()} services, not {want}")
    return inst


def read_bks(path: Path | None = None) -> pd.DataFrame:
    """The best-known table ``bks.csv``, indexed by short name (A2 … G3)."""
    return pd.read_csv(path or HHCRSP / "bks.csv").set_index("name")


def instance_path(name: str, root: Path | None = None) -> Path:
    """File of an instance given its short name (``A2``) or file stem."""
    root = root or HHCRSP
    if (root / "instances" / f"{name}.txt").exists():
        return root / "instances" / f"{name}.txt"
    bks = read_bks(root / "bks.csv")
    return root / "instances" / f"{bks.loc[name, 'instance']}.txt"


# --------------------------------------------------------------------------------------------
# the independent checker


@dataclass
class Score:
    """A plan scored by the README's rules.

    Attributes
    ----------
    distance : ``D``, total travel distance with return legs.
    tardiness : ``T``, sum of lateness over all services.
    max_tardiness : ``Tmax``.
    objective : ``(D + T + Tmax) / 3``.
    problems : why the plan is invalid (empty when valid).
    start : start time of each service.
    """

    distance: float
    tardiness: float
    max_tardiness: float
    problems: list[str] = field(default_factory=list)
    start: dict[Service, float] = field(default_factory=dict)

    @property
    def objective(self) -> float:
        """``(D + T + Tmax) / 3``."""
        return (self.distance + self.tardiness + self.max_tardiness) / 3

    @property
    def valid(self) -> bool:
        """True when every rule holds."""
        return not self.problems


def check(inst: Instance, routes: list[list[Service]]) -> Score:
    """Score routes (per caregiver, the services in visiting order) and list broken rules.

    Checks: every requested service served exactly once, by a caregiver qualified for its type; the
    two services of a double patient by different caregivers; simultaneous pairs start together and
    precedence pairs keep ``mind <= t_high - t_low <= maxd``; the routes admit a schedule (no cycle
    of caregivers waiting on each other). Start times are the least ones (README).
    """
    problems: list[str] = []
    if len(routes) > inst.n_vehicles:
        problems.append(f"{len(routes)} routes for {inst.n_vehicles} caregivers")
    wanted = set(inst.services())
    who: dict[Service, int] = {}
    for v, route in enumerate(routes):
        for svc in route:
            node, s = svc
            if svc not in wanted:
                problems.append(f"caregiver {v}: {svc} is not a requested service")
            elif svc in who:
                problems.append(f"{svc} served twice (caregivers {who[svc]} and {v})")
            elif not inst.qualified[v, s]:
                problems.append(f"caregiver {v} is not qualified for {svc}")
            who.setdefault(svc, v)
    problems += [f"{svc} not served" for svc in sorted(wanted - set(who))]
    for node in inst.double:
        low, high, _, _ = inst.pair(node)
        a, b = who.get((node, low)), who.get((node, high))
        if a is not None and a == b:
            problems.append(f"patient {node}: both services by caregiver {a}")

    start, cyclic = least_starts(inst, routes, who)
    if cyclic:
        problems.append("the routes admit no schedule (caregivers wait on each other in a cycle)")
    for node in inst.double:
        low, high, mind, maxd = inst.pair(node)
        if (node, low) in start and (node, high) in start:
            gap = start[(node, high)] - start[(node, low)]
            if not (mind - TOLERANCE <= gap <= maxd + TOLERANCE):
                problems.append(f"patient {node}: gap {gap:.4f} outside [{mind}, {maxd}]")

    distance = 0.0
    for route in routes:
        nodes = [0] + [svc[0] for svc in route] + [0]
        if route:
            distance += sum(inst.distance[i, j] for i, j in zip(nodes, nodes[1:], strict=False))
    late = [max(0.0, t - inst.l[svc[0]]) for svc, t in start.items()]
    return Score(distance, sum(late), max(late, default=0.0), problems, start)


def least_starts(
    inst: Instance, routes: list[list[Service]], who: dict[Service, int]
) -> tuple[dict[Service, float], bool]:
    """Least start times of every routed service, and whether they do not exist (a cycle).

    Label-correcting sweeps: each sweep walks every route from the depot (start = later of arrival,
    ``e`` and the current bound from the partner), then tightens the pair bounds. Bounds only grow,
    so the sweeps reach the least fixed point; a longest path uses each pair bound at most once, so
    more than (number of pair bounds + 2) sweeps means a positive cycle.
    """
    start: dict[Service, float] = {svc: float(inst.e[svc[0]]) for r in routes for svc in r}
    bounds = []  # (from, to, w): start[to] >= start[from] + w
    for node in inst.double:
        low, high, mind, maxd = inst.pair(node)
        a, b = (node, low), (node, high)
        if a in who and b in who:
            bounds += [(a, b, mind), (b, a, -maxd)]
    for _ in range(len(bounds) + 3):
        changed = False
        for v, route in enumerate(routes):
            t, here = 0.0, 0
            for svc in route:
                node, s = svc
                arrive = max(t + inst.distance[here, node], start[svc])
                if arrive > start[svc] + 1e-9:
                    start[svc], changed = arrive, True
                t = start[svc] + inst.processing[node, v, s]
                here = node
        for a, b, w in bounds:
            if start[a] + w > start[b] + 1e-9:
                start[b], changed = start[a] + w, True
        if not changed:
            return start, False
    return start, True


def read_route_file(path: Path) -> tuple[list[list[Service]], dict[str, float]]:
    """Routes and header values of a GECCO 2020 route file (``solution-<n>-<k>-<seed>.txt``).

    Arcs are ``<from> <to> <caregiver> <service type at to>``; a caregiver's arcs are listed in
    visiting order from the depot, ending at node 0.
    """
    header: dict[str, float] = {}
    arcs: dict[int, list[tuple[int, int]]] = {}
    for line in Path(path).read_text().splitlines():
        if line.startswith("# Cost"):
            parts = line[1:].replace("=", " ").split()
            header = {parts[i]: float(parts[i + 1]) for i in range(0, len(parts), 2)}
        elif line and not line.startswith("#"):
            tokens = [int(t) for t in line.split()]
            if len(tokens) == 4:
                _, to, v, s = tokens
                arcs.setdefault(v, []).append((to, s))
    n_veh = max(arcs, default=-1) + 1
    routes = [[(to, s) for to, s in arcs.get(v, []) if to != 0] for v in range(n_veh)]
    return routes, header


# --------------------------------------------------------------------------------------------
# development bridge: instance -> engine arrays


def to_sync_problem(inst: Instance, unserved_cost: float = 1e5):
    """The instance as a :class:`~patchplan.rounds.search.SyncProblem`, and the task → service map.

    Services are tasks; a double patient's two services are linked (simultaneous gap [0, 0], or
    precedence [mind, maxd] from the lower type to the higher), on different carers, served together.
    Costs are a third of the objective's terms: travel cost ``d / 3``, lateness cost ``1 / 3`` per
    minute beyond ``l``, ``1 / 3`` per minute of the largest lateness; shifts are unbounded.
    """
    from patchplan.rounds.search import SyncProblem

    services = inst.services()
    task_of = {svc: t for t, svc in enumerate(services)}
    n_tasks, n_veh = len(services), inst.n_vehicles
    nodes = np.array([svc[0] for svc in services])
    types = np.array([svc[1] for svc in services])
    link_a, link_b, gmin, gmax = [], [], [], []
    for node in inst.double:
        low, high, mind, maxd = inst.pair(node)
        link_a.append(task_of[(node, low)])
        link_b.append(task_of[(node, high)])
        gmin.append(mind)
        gmax.append(maxd)
    n_links = len(link_a)
    inf = np.full(n_veh, np.inf)
    problem = SyncProblem(
        task_loc=nodes,
        earliest=inst.e[nodes].astype(float),
        latest=np.full(n_tasks, np.inf),
        due=inst.l[nodes].astype(float),
        lateness_cost=np.full(n_tasks, 1 / 3),
        duration=inst.processing[nodes, 0, types].astype(float),
        unserved_cost=np.full(n_tasks, float(unserved_cost)),
        allowed=inst.qualified[:, types].T.copy(),
        task_carer_cost=np.zeros((n_tasks, n_veh)),
        link_a=np.array(link_a, dtype=np.int64),
        link_b=np.array(link_b, dtype=np.int64),
        gap_min=np.array(gmin, dtype=float),
        gap_max=np.array(gmax, dtype=float),
        link_other_carer=np.ones(n_links, dtype=bool),
        link_together=np.ones(n_links, dtype=bool),
        start_loc=np.zeros(n_veh, dtype=np.int64),
        end_loc=np.zeros(n_veh, dtype=np.int64),
        shift_start=np.zeros(n_veh),
        shift_end=inf.copy(),
        max_span=inf.copy(),
        mode=np.zeros(n_veh, dtype=np.int64),
        fixed_cost=np.zeros(n_veh),
        break_earliest=np.zeros(n_veh),
        break_latest=np.zeros(n_veh),
        break_duration=np.zeros(n_veh),
        travel_time=inst.distance[None, :, :].astype(float),
        travel_cost=inst.distance[None, :, :] / 3,
        max_lateness_cost=1 / 3,
    )
    return problem, services


def routes_of(solution, services: list[Service]) -> list[list[Service]]:
    """The engine's routes (task indices per carer) as services per caregiver, for :func:`check`."""
    return [[services[int(t)] for t in route] for route in solution.routes]


def gap_pct(value: float, best: float) -> float:
    """Relative gap to a best-known value, in percent."""
    return 100.0 * (value / best - 1.0) if best and math.isfinite(value) else math.nan
