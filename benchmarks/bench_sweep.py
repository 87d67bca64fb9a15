"""Sweeps at scale: the same what-if sweep run three ways in one run, on the demo town and Rutland.

1. **sequential**: every task one after another in this process (the baseline);
2. **LocalCluster**: ``distributed.LocalCluster`` with ``--workers`` worker processes, one thread each;
3. **scheduler + workers**: a ``dask scheduler`` and ``--workers`` separately started ``dask worker``
   processes on localhost, connected by address: the path a multi-machine cluster takes.

Each sweep has at least 40 tasks (variants × seeds: K over five values × two walking shares × four
caseloads). Every mode starts from an empty cache; a fourth line reruns the LocalCluster sweep on its
own cache (a resumed sweep: nothing left to compute). Reported per area and mode: wall time,
speed-up against sequential, tasks finished and failed, the median and total task runtime (the
per-task cost the national estimate in ``benchmarks/README.md`` uses), the largest peak memory of a
task, the machine's load average (``os.getloadavg``) before and after, and whether the figures are
identical to the sequential run's (runs are deterministic, so they must be).

Run (hours on a quiet 2-core machine; see ``benchmarks/README.md``)::

    python -m benchmarks.bench_sweep                                 # demo and Rutland, 40 tasks each
    python -m benchmarks.bench_sweep --areas demo                    # the demo town only
    python -m benchmarks.bench_sweep --quick                         # 2 tasks on the demo: a check
    python -m benchmarks.bench_sweep --areas sheffield --modes sequential --seeds 1 --k 7
                                                                     # per-task cost of a large area

Rutland reads ``../shared/data`` (or ``PATCHPLAN_SHARED``) and is skipped, with the reason, when it is
absent.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from patchplan import sweep
from patchplan.cache import ResultCache
from patchplan.scenario import Scenario
from patchplan.sweep import SweepResult, SweepSettings

AREAS: dict[str, dict[str, Any]] = {
    "demo": {"k": "2..6", "walking_share": [0.3, 0.6], "seeds": 4},
    "rutland": {"k": "2..6", "walking_share": [0.15, 0.3], "seeds": 4},
    "sheffield": {"k": "6..10", "walking_share": [0.3, 0.6], "seeds": 4},
}
"""What each area's sweep varies: 5 K values × 2 walking shares × 4 seeds = 40 tasks."""
MODES = ("sequential", "local", "processes")


def missing_data(scenario: Scenario) -> str | None:
    """Why an example cannot run here (its input files are absent), or None."""
    if scenario.inputs.source != "files":
        return None
    path = scenario.input_path("areas")
    if path is None or not path.exists():
        return f"{scenario.study.name}: input not found at {path} (set PATCHPLAN_SHARED)"
    return None


def settings_for(area: str, args: argparse.Namespace) -> SweepSettings:
    spec = AREAS[area]
    vary: dict[str, Any] = {"patches.k": args.k or (3 if args.quick else spec["k"])}
    if not args.quick:
        vary["workforce.walking_share"] = spec["walking_share"]
    seeds = args.seeds or (2 if args.quick else spec["seeds"])
    return SweepSettings(vary=vary, seeds=seeds, workers=args.workers,
                         memory_limit_gb=args.memory_gb)  # fmt: skip


def scenario_for(area: str, args: argparse.Namespace) -> Scenario:
    scenario = Scenario.example(area)
    if args.quick:
        scenario = scenario.replace(
            demand={"people": 60, "hours_week": 936.0},
            rounds={"solution_limit": 60, "seed_iterations": 60},
            feasibility={"solution_limit": 30},
            patches={"exact_max_blocks": 0, "starts": 2},
        )
    if args.solution_limit:
        scenario = scenario.replace(
            rounds={"solution_limit": args.solution_limit, "seed_iterations": args.solution_limit},
            feasibility={"solution_limit": args.solution_limit},
        )
    return scenario


def measure(mode: str, scenario: Scenario, settings: SweepSettings, folder: Path,
            args: argparse.Namespace) -> tuple[dict[str, Any], SweepResult]:  # fmt: skip
    """One sweep in one mode, from an empty cache; its timings, load and task costs."""
    cache = ResultCache(folder / mode)
    load_before = os.getloadavg()
    start = time.perf_counter()
    if mode == "sequential":
        result = sweep.sweep(scenario, settings, sequential=True, cache=cache)
    elif mode == "local":
        result = sweep.sweep(scenario, settings, cache=cache)
    else:
        with sweep.scheduler_processes(args.workers, args.memory_gb or 4.0,
                                       folder=folder / "dask") as address:  # fmt: skip
            on_cluster = dataclasses.replace(settings, scheduler=address)
            result = sweep.sweep(scenario, on_cluster, cache=cache)
    wall = time.perf_counter() - start
    tasks = result.tasks()
    done = tasks[tasks["status"] == "ok"]
    row = {
        "mode": mode,
        "where": result.where,
        "tasks": len(tasks),
        "finished": len(done),
        "failed": int(result.failed),
        "wall_s": round(wall, 1),
        "task_median_s": round(float(done["runtime_s"].median()), 2) if len(done) else None,
        "task_total_s": round(float(done["runtime_s"].sum()), 1),
        "peak_memory_mb": round(float(done["peak_memory_mb"].max()), 0) if len(done) else None,
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in os.getloadavg()],
    }
    return row, result


def same_figures(a: SweepResult, b: SweepResult) -> float:
    """Largest absolute difference between two sweeps' figures (0.0 when identical)."""
    cols = ["label", "seed", "patch_id"]
    left = a.figures().sort_values(cols).reset_index(drop=True)
    right = b.figures().sort_values(cols).reset_index(drop=True)
    if left[cols].to_dict() != right[cols].to_dict():
        return float("inf")
    diff = (left[list(sweep.FIGURES)] - right[list(sweep.FIGURES)]).abs().to_numpy()
    return float(np.nanmax(diff)) if np.isfinite(diff).any() else 0.0


def run_area(area: str, args: argparse.Namespace, folder: Path) -> list[dict[str, Any]]:
    scenario = scenario_for(area, args)
    if (reason := missing_data(scenario)) is not None:
        print(f"skipped {area}: {reason}", flush=True)
        return [{"area": area, "mode": "skipped", "where": reason}]
    settings = settings_for(area, args)
    n = len(sweep.plan_variants(scenario, settings))
    print(f"\n{area}: {n} tasks ({settings.vary}, seeds {settings.seeds})", flush=True)
    rows, results = [], {}
    for mode in args.modes:
        row, results[mode] = measure(mode, scenario, settings, folder / area, args)
        rows.append({"area": area, **row})
        print(f"  {mode}: {row['wall_s']} s, {row['finished']}/{row['tasks']} finished, "
              f"load {row['load_before']} -> {row['load_after']}", flush=True)  # fmt: skip
    if "local" in results:
        start = time.perf_counter()
        again = sweep.sweep(scenario, settings, cache=ResultCache(folder / area / "local"))
        rows.append({"area": area, "mode": "local, resumed (all cached)", "where": again.where,
                     "tasks": len(again.summaries), "finished": again.cached,
                     "wall_s": round(time.perf_counter() - start, 1)})  # fmt: skip
    base = results.get("sequential")
    base_wall = next((r["wall_s"] for r in rows if r["mode"] == "sequential"), None)
    for row in rows:
        if base_wall and row["wall_s"]:
            row["speed_up"] = round(base_wall / row["wall_s"], 2)
        if base is not None and row["mode"] in results:
            row["max_figure_diff"] = same_figures(base, results[row["mode"]])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--areas", nargs="+", default=["demo", "rutland"], choices=list(AREAS))
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes")
    parser.add_argument("--memory-gb", type=float, default=0.0,
                        help="memory limit per worker, GB (0 = an equal share; 4 for the "
                             "separately started workers)")  # fmt: skip
    parser.add_argument("--seeds", type=int, default=0, help="caseloads per variant (default 4)")
    parser.add_argument("--k", default="", help="K values instead of the area's, e.g. 7 or 3..5")
    parser.add_argument("--solution-limit", type=int, default=0,
                        help="lighter rounds and walking plans (work counts) for every task")  # fmt: skip
    parser.add_argument("--quick", action="store_true",
                        help="2 tasks on a small demo: checks the script, measures nothing")  # fmt: skip
    parser.add_argument("--out", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.areas = ["demo"]
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        rows = [row for area in args.areas for row in run_area(area, args, Path(tmp))]
    table = pd.DataFrame(rows)
    shown = [c for c in ("area", "mode", "tasks", "finished", "failed", "wall_s", "speed_up",
                         "task_median_s", "task_total_s", "peak_memory_mb", "load_before",
                         "load_after", "max_figure_diff") if c in table]  # fmt: skip
    print()
    print(table[shown].to_markdown(index=False) if _has_tabulate() else table[shown].to_string())
    print()
    for row in rows:
        print(f"{row['area']} {row['mode']}: {row.get('where', '')}")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2, default=str))
    return 0


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
