"""HHCRSP benchmark (Mankowska et al. 2014): our linked-visit search against an OR-Tools baseline.

Per instance and time limit, both models plan the same instance in the same run and their routes
are scored by the independent checker of :mod:`benchmarks.hhcrsp` (``(D + T + Tmax) / 3`` with least
start times; every service served once by a qualified caregiver, double services on two
caregivers, simultaneous starts equal, precedence gaps within ``[mind, maxd]``, no waiting cycle).

* ``ours``: :func:`patchplan.rounds.plan_rounds` on the instance read into patchplan's own tables
  (:mod:`benchmarks.hhcrsp_model`: double-ups with split skills, ``follows`` links with gaps, soft
  ``due`` times), so the product itself is measured; it plans such a day with the linked-visit
  search, stopped by the wall clock at ``limit`` (construction included), seed 1, one process.
* ``ortools``: OR-Tools routing with the maintainers' pair recipe and no construction of ours: a
  node per service, a time dimension (travel + service, waiting allowed, start >= e), a soft upper
  bound ``l`` on each start costing 1 per minute late, simultaneous pairs ``cumul_a == cumul_b``,
  precedence ``mind <= cumul_b - cumul_a <= maxd`` (``solver.Add``), the two services of a
  patient on different vehicles with equal active flags, droppable services at a large penalty
  (so a first solution exists), PARALLEL_CHEAPEST_INSERTION then guided local search for the
  whole limit. **Tmax cannot be put in OR-Tools' objective** (it minimises D + T); its routes are
  scored with Tmax by the checker all the same. Times are scaled by 100 to integers.

The table gives the gap to the best known value and whether the result is no worse than
Mankowska et al.'s published value: her AVNS value where her best came from AVNS, else her best
value (CPLEX on A–B, MN on C2, LS on E2), within the 0.1 rounding of her tables.

Run (long: 19 instances × limits × models; on a quiet machine)::

    python -m benchmarks.bench_hhcrsp --limits 10 60 --out bench_hhcrsp.csv
    python -m benchmarks.bench_hhcrsp --instances A2 B3 C3 --limits 10 --models ours
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from benchmarks.hhcrsp import (
    HHCRSP,
    Instance,
    Service,
    check,
    gap_pct,
    read_bks,
    read_instance,
    to_sync_problem,
)

SCALE = 100
"""OR-Tools time and cost units per minute."""

ROUNDING = 0.05
"""Half the 0.1 precision of Mankowska et al.'s printed values."""


def solve_ours(inst: Instance, limit_s: float, seed: int = 1) -> list[list[Service]]:
    """patchplan's rounds for the instance (our model, our solver) for ``limit_s`` seconds."""
    from benchmarks.hhcrsp_model import TRAVEL, services_of, settings_for, to_tables
    from patchplan.rounds import plan_rounds

    visits, carers = to_tables(inst)
    result = plan_rounds(visits, carers, TRAVEL, settings_for(limit_s, seed=seed))
    return services_of(inst, result)


def solve_ortools(inst: Instance, limit_s: float, seed: int = 1) -> list[list[Service]]:
    """OR-Tools routing with the pair recipe (see the module docstring)."""
    services = inst.services()
    n_veh = inst.n_vehicles
    nodes = [0] + [svc[0] for svc in services]  # routing node -> instance node (0 = depot)
    types = [-1] + [svc[1] for svc in services]
    dist = np.round(inst.distance[np.ix_(nodes, nodes)] * SCALE).astype(np.int64)
    service = np.array([0] + [inst.processing[i, 0, s] for i, s in services]) * SCALE
    transit = (dist + service.astype(np.int64)[:, None]).tolist()
    manager = pywrapcp.RoutingIndexManager(len(nodes), n_veh, 0)
    routing = pywrapcp.RoutingModel(manager)
    solver = routing.solver()
    routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitMatrix(dist.tolist()))
    horizon = int((inst.l.max() + 2000) * SCALE)
    routing.AddDimension(routing.RegisterTransitMatrix(transit), horizon, horizon, True, "time")
    time_dim = routing.GetDimensionOrDie("time")
    penalty = 10**9
    index_of = {}
    for k, (i, s) in enumerate(services, start=1):
        index = manager.NodeToIndex(k)
        index_of[(i, s)] = index
        time_dim.CumulVar(index).SetMin(int(inst.e[i] * SCALE))
        time_dim.SetCumulVarSoftUpperBound(index, int(inst.l[i] * SCALE), 1)
        banned = [v for v in range(n_veh) if not inst.qualified[v, s]]
        if banned:
            routing.VehicleVar(index).RemoveValues(banned)
        routing.AddDisjunction([index], penalty)
    for node in inst.double:
        low, high, mind, maxd = inst.pair(node)
        a, b = index_of[(node, low)], index_of[(node, high)]
        ta, tb = time_dim.CumulVar(a), time_dim.CumulVar(b)
        if mind == maxd == 0:
            solver.Add(ta == tb)
        else:
            solver.Add(tb - ta >= int(round(mind * SCALE)))
            solver.Add(tb - ta <= int(round(maxd * SCALE)))
        solver.Add(routing.ActiveVar(a) == routing.ActiveVar(b))
        solver.Add(
            solver.IsDifferentVar(routing.VehicleVar(a), routing.VehicleVar(b))
            >= routing.ActiveVar(a)
        )
    for v in range(n_veh):
        routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(routing.End(v)))
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = (
        routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    )
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    params.time_limit.FromMilliseconds(int(limit_s * 1000))
    solution = routing.SolveWithParameters(params)
    routes: list[list[Service]] = [[] for _ in range(n_veh)]
    if solution is None:
        return routes
    for v in range(n_veh):
        index = solution.Value(routing.NextVar(routing.Start(v)))
        while not routing.IsEnd(index):
            k = manager.IndexToNode(index)
            routes[v].append((nodes[k], types[k]))
            index = solution.Value(routing.NextVar(index))
    return routes


MODELS = {"ours": solve_ours, "ortools": solve_ortools}


def reference(row: pd.Series) -> tuple[float, str]:
    """Mankowska et al.'s published value to beat: AVNS where known, else her best."""
    if not math.isnan(row["mk2014_avns"]):
        return float(row["mk2014_avns"]), str(row["mk2014_avns_variant"])
    return float(row["mk2014_best"]), str(row["mk2014_best_method"])


def run(names: list[str], limits: list[float], models: list[str], seed: int, out: Path | None):
    """Solve every (instance, limit, model) and score it; returns the rows."""
    bks = read_bks()
    rows = []
    for name in names:
        row = bks.loc[name]
        inst = read_instance(HHCRSP / "instances" / f"{row['instance']}.txt")
        ref, ref_method = reference(row)
        for limit in limits:
            result = {"instance": name, "n": inst.n_patients, "limit_s": limit}
            for model in models:
                t0 = time.monotonic()
                routes = MODELS[model](inst, limit, seed)
                wall = time.monotonic() - t0
                score = check(inst, routes)
                obj = score.objective if score.valid else math.nan
                result.update({
                    f"{model}_D": round(score.distance, 3),
                    f"{model}_T": round(score.tardiness, 3),
                    f"{model}_Tmax": round(score.max_tardiness, 3),
                    f"{model}_obj": round(score.objective, 3),
                    f"{model}_valid": score.valid,
                    f"{model}_gap_pct": round(gap_pct(obj, row["bks_obj"]), 2),
                    f"{model}_le_mk2014": bool(obj <= ref + ROUNDING),
                    f"{model}_wall_s": round(wall, 1),
                    f"{model}_problems": "; ".join(score.problems[:3]),
                })  # fmt: skip
            result.update({"bks": row["bks_obj"], "mk2014": ref, "mk2014_method": ref_method})
            rows.append(result)
            print(_line(result, models), flush=True)
            if out:
                pd.DataFrame(rows).to_csv(out, index=False)
    return rows


def _line(r: dict, models: list[str]) -> str:
    parts = [f"{r['instance']:>3} n={r['n']:<3} {r['limit_s']:>4.0f}s"]
    for m in models:
        parts.append(f"{m} {r[f'{m}_obj']:9.2f} ({r[f'{m}_gap_pct']:+6.2f}%, "
                     f"{'valid' if r[f'{m}_valid'] else 'INVALID'})")  # fmt: skip
    parts.append(f"bks {r['bks']:.2f}  mk2014 {r['mk2014']} ({r['mk2014_method']})")
    return "  ".join(parts)


def markdown(rows: list[dict], models: list[str]) -> str:
    """The results as a markdown table, one line per (instance, limit)."""
    head = ["instance", "n", "limit s"]
    for m in models:
        head += [f"{m} D / T / Tmax", f"{m} obj", f"{m} valid", f"{m} gap %", f"{m} ≤ MK2014"]
    head += ["BKS", "MK2014 (method)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["instance"], str(r["n"]), f"{r['limit_s']:.0f}"]
        for m in models:
            cells += [
                f"{r[f'{m}_D']:.2f} / {r[f'{m}_T']:.2f} / {r[f'{m}_Tmax']:.2f}",
                f"{r[f'{m}_obj']:.2f}",
                "yes" if r[f"{m}_valid"] else "**no**",
                f"{r[f'{m}_gap_pct']:.2f}",
                "yes" if r[f"{m}_le_mk2014"] else "**no**",
            ]
        cells += [f"{r['bks']}", f"{r['mk2014']} ({r['mk2014_method']})"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(rows: list[dict], models: list[str]) -> str:
    """Mean gap, plans valid and instances no worse than Mankowska et al., per model and limit."""
    table = pd.DataFrame(rows)
    out = []
    for limit, part in table.groupby("limit_s"):
        for m in models:
            out.append(
                f"{m} at {limit:.0f} s: mean gap to BKS {part[f'{m}_gap_pct'].mean():.2f}%, "
                f"valid {int(part[f'{m}_valid'].sum())}/{len(part)}, "
                f"no worse than Mankowska 2014 on {int(part[f'{m}_le_mk2014'].sum())}/{len(part)}"
            )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", nargs="*", help="short names, e.g. A2 C3 (default: all)")
    parser.add_argument("--limits", nargs="*", type=float, default=[10.0, 60.0], help="seconds")
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="CSV of results (written after each instance)")
    args = parser.parse_args(argv)
    names = args.instances or list(read_bks().index)
    if "ours" in args.models:  # load (or compile) the numba kernel outside the timed runs
        from patchplan.rounds.search import MaxIterations, solve

        problem, _ = to_sync_problem(
            read_instance(HHCRSP / "instances" / "InstanzCPLEX_HCSRP_10_2.txt")
        )
        solve(problem, stop=MaxIterations(50))
    print("OR-Tools cannot minimise Tmax (its objective is D + T); its routes are scored with "
          "Tmax by the checker all the same.\n")  # fmt: skip
    rows = run(names, args.limits, args.models, args.seed, args.out)
    print()
    print(markdown(rows, args.models))
    print()
    print(summary(rows, args.models))
    if args.out:
        args.out.with_suffix(".md").write_text(
            markdown(rows, args.models) + "\n\n" + summary(rows, args.models) + "\n"
        )
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
