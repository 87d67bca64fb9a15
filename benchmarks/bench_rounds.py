"""Solomon VRPTW benchmark of :mod:`patchplan.rounds` against a textbook OR-Tools model.

Each Solomon instance is read into *our* model (a customer is a visit, the fleet is identical driving
carers with a capacity, travel is Euclidean via ``StraightLineTravel`` at 1 metre per minute) and
solved by :func:`patchplan.rounds.plan_rounds`; the textbook model (PATH_CHEAPEST_ARC + guided local
search, default parameters, droppable visits) runs at the same limits. Distances are recomputed in
double precision from the routes and compared with the ``gap_reference_distance`` of ``bks.csv``
(distance-only best known, with the README's correction for R109).

Run (long: instances × limits × 2 models)::

    python -m benchmarks.bench_rounds --limits 10 60 --out bench_rounds.csv
    python -m benchmarks.bench_rounds --instances C101 R101 --limits 5 --models ours
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from shapely.geometry import Point

from patchplan.matrix import StraightLineTravel
from patchplan.rounds import RETURN, RoundsSettings, plan_rounds

REPO = Path(__file__).resolve().parents[1]
VRPTW = REPO.parent / "shared" / "benchmarks" / "vrptw"
SCALE = 100  # internal time units per Solomon time unit (0.01 precision)


def read_solomon(path: Path) -> dict:
    """Parse a Solomon text file into arrays (coordinates, demand, windows, service, fleet)."""
    lines = [ln.split() for ln in path.read_text().splitlines()]
    rows = [ln for ln in lines if len(ln) == 7 and all(_is_number(t) for t in ln)]
    fleet = next(ln for ln in lines if len(ln) == 2 and all(t.isdigit() for t in ln))
    a = np.array(rows, dtype=float)
    return {
        "name": path.stem,
        "vehicles": int(fleet[0]),
        "capacity": int(fleet[1]),
        "xy": a[:, 1:3],
        "demand": a[:, 3].astype(int),
        "ready": a[:, 4].astype(int),
        "due": a[:, 5].astype(int),
        "service": a[:, 6].astype(int),
    }


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def to_model(inst: dict) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, dict]:
    """Solomon instance → our visits, carers and travel (1 m per minute, circuity 1)."""
    xy = inst["xy"]
    n = len(xy) - 1
    visits = gpd.GeoDataFrame(
        {
            "visit_id": [str(i) for i in range(1, n + 1)],
            "person_id": [str(i) for i in range(1, n + 1)],
            "day": 0,
            "earliest": inst["ready"][1:],
            "latest": inst["due"][1:],
            "duration": inst["service"][1:],
            "carers": 1,
            "skills": "",
            "demand": inst["demand"][1:],
        },
        geometry=[Point(x, y) for x, y in xy[1:]],
        crs="EPSG:27700",
    )
    k = inst["vehicles"]
    carers = gpd.GeoDataFrame(
        {
            "carer_id": [f"V{j:02d}" for j in range(k)],
            "mode": "drive",
            "shift_start": int(inst["ready"][0]),
            "shift_end": int(inst["due"][0]),
            "max_minutes": int(inst["due"][0] - inst["ready"][0]),
            "break_earliest": 0,
            "break_latest": 0,
            "break_minutes": 0,
            "skills": "",
            "provider_id": "solomon",
            "capacity": inst["capacity"],
        },
        geometry=[Point(*xy[0])] * k,
        crs="EPSG:27700",
    )
    # 1 metre per minute: speed 0.06 km/h, no circuity → minutes = metres = Euclidean distance
    travel = {"drive": StraightLineTravel("drive", speed_kmh=0.06, circuity=1.0)}
    return visits, carers, travel


def _euclid(inst: dict) -> np.ndarray:
    xy = inst["xy"]
    return np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])


def check_routes(inst: dict, routes: list[list[int]]) -> tuple[float, float, int]:
    """Distance (double precision), worst lateness (time units) and customers served."""
    d = _euclid(inst)
    dist, late, served = 0.0, 0.0, 0
    for route in routes:
        if not route:
            continue
        t, prev = float(inst["ready"][0]), 0
        for c in route:
            t = max(t + d[prev, c], float(inst["ready"][c]))
            late = max(late, t - inst["due"][c])
            dist += d[prev, c]
            t += inst["service"][c]
            prev = c
        dist += d[prev, 0]
        late = max(late, t + d[prev, 0] - inst["due"][0])
        served += len(route)
    return dist, late, served


def solve_ours(inst: dict, limit_s: float) -> list[list[int]]:
    """Our model: ``plan_rounds`` with distance-only costs (no carer fixed cost)."""
    visits, carers, travel = to_model(inst)
    settings = RoundsSettings(
        time_limit_s=limit_s,
        carer_fixed_cost_min=0,
        unserved_penalty_min=100_000,
        time_units_per_min=SCALE,
        deterministic=False,
    )
    result = plan_rounds(visits, carers, travel, settings)
    r = result.rounds[result.rounds["visit_id"] != RETURN]
    return [[int(v) for v in g.sort_values("order")["visit_id"]] for _, g in r.groupby("carer_id")]


def solve_textbook(inst: dict, limit_s: float) -> list[list[int]]:
    """The OR-Tools VRPTW example: PATH_CHEAPEST_ARC + GUIDED_LOCAL_SEARCH, droppable visits."""
    d = np.round(_euclid(inst) * SCALE).astype(int).tolist()
    n = len(inst["xy"])
    service = (inst["service"] * SCALE).tolist()
    manager = pywrapcp.RoutingIndexManager(n, inst["vehicles"], 0)
    routing = pywrapcp.RoutingModel(manager)

    def dist_cb(i: int, j: int) -> int:
        return d[manager.IndexToNode(i)][manager.IndexToNode(j)]

    def time_cb(i: int, j: int) -> int:
        a, b = manager.IndexToNode(i), manager.IndexToNode(j)
        return d[a][b] + service[a]

    def demand_cb(i: int) -> int:
        return int(inst["demand"][manager.IndexToNode(i)])

    routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitCallback(dist_cb))
    horizon = int(inst["due"][0]) * SCALE
    routing.AddDimension(routing.RegisterTransitCallback(time_cb), horizon, horizon, False, "time")
    tdim = routing.GetDimensionOrDie("time")
    routing.AddDimensionWithVehicleCapacity(
        routing.RegisterUnaryTransitCallback(demand_cb), 0,
        [inst["capacity"]] * inst["vehicles"], True, "load",
    )  # fmt: skip
    for node in range(1, n):
        index = manager.NodeToIndex(node)
        tdim.CumulVar(index).SetRange(
            int(inst["ready"][node]) * SCALE, int(inst["due"][node]) * SCALE
        )
        routing.AddDisjunction([index], 10_000_000)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    params.time_limit.FromMilliseconds(int(limit_s * 1000))
    solution = routing.SolveWithParameters(params)
    routes = []
    if solution is None:
        return routes
    for v in range(inst["vehicles"]):
        index, route = solution.Value(routing.NextVar(routing.Start(v))), []
        while not routing.IsEnd(index):
            route.append(manager.IndexToNode(index))
            index = solution.Value(routing.NextVar(index))
        routes.append(route)
    return routes


SOLVERS = {"ours": solve_ours, "textbook": solve_textbook}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", nargs="*", help="names, e.g. C101 R101 (default: all)")
    parser.add_argument("--limits", nargs="*", type=float, default=[10.0, 60.0], help="seconds")
    parser.add_argument("--models", nargs="*", default=list(SOLVERS), choices=list(SOLVERS))
    parser.add_argument("--dir", type=Path, default=VRPTW)
    parser.add_argument("--out", type=Path, help="CSV of results (written after each solve)")
    args = parser.parse_args(argv)
    bks = pd.read_csv(args.dir / "bks.csv").set_index("instance")
    names = args.instances or list(bks.index)
    rows = []
    for name in names:
        inst = read_solomon(args.dir / "solomon" / f"{name}.txt")
        ref = float(bks.loc[name, "gap_reference_distance"])
        for limit in args.limits:
            for model in args.models:
                t0 = time.monotonic()
                routes = SOLVERS[model](inst, limit)
                wall = time.monotonic() - t0
                dist, late, served = check_routes(inst, routes)
                complete = served == len(inst["xy"]) - 1
                rows.append(
                    {
                        "instance": name, "limit_s": limit, "model": model,
                        "vehicles": sum(1 for r in routes if r), "distance": round(dist, 2),
                        "served": served, "max_late": round(late, 4),
                        "gap_pct": round(100 * (dist / ref - 1), 2) if complete else math.nan,
                        "reference": ref, "wall_s": round(wall, 1),
                    }
                )  # fmt: skip
                print(pd.DataFrame(rows[-1:]).to_string(index=False, header=len(rows) == 1))
                sys.stdout.flush()
                if args.out:
                    pd.DataFrame(rows).to_csv(args.out, index=False)
    table = pd.DataFrame(rows)
    summary = table.pivot_table(index="instance", columns=["limit_s", "model"], values="gap_pct")
    print("\ngap to distance-only reference, %\n", summary.round(2).to_string())
    print("\nmean gap, %\n", table.groupby(["limit_s", "model"])["gap_pct"].mean().round(2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
