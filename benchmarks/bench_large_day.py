"""Large days: our rounds in geographic parts against one OR-Tools model of the whole day.

Real provider-days from the Sheffield scenario (real postcodes, synthetic caseload, straight-line
travel estimate): today's citywide providers and the proposed lots' providers, 100-800 visits each.
Ours is :func:`patchplan.rounds.plan_rounds` with its defaults (days over
``max_visits_per_problem`` = 100 visit copies are cut into compact parts, each planned with its
share of the carers, leftovers offered to idle carers). The baseline is the same model, solver and
limits on the whole day at once (``max_visits_per_problem = 0``). Both get the same wall-clock cap.

Reported per day: seconds, visits served and travel minutes per visit served; the ratio columns
are baseline ÷ ours for time and ours ÷ baseline for travel per visit.

``--against or-tools`` instead compares the engine for days with double-ups (every Sheffield day
has them: about 10% of visits): ours (the linked-visit search, ``[rounds] linked_search = true``)
against the previous engine on the same parts (our pair-aware construction, then OR-Tools guided
local search, ``linked_search = false``).

Run::

    python -m benchmarks.bench_large_day                # 4 days, 120 s cap, parts vs whole day
    python -m benchmarks.bench_large_day --sizes 120 210 --cap 60
    python -m benchmarks.bench_large_day --against or-tools --cap 600
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace

import pandas as pd

from patchplan import boundaries, demand, patches, pipeline, workforce
from patchplan.rounds import RoundsSettings, plan_rounds
from patchplan.scenario import Scenario


def sheffield_days() -> list[tuple[str, tuple]]:
    """Every provider-day of the Sheffield scenario, today's and proposed, labelled."""
    sc = Scenario.example("sheffield").replace(study={"days": (0,)})  # Monday, as measured
    inputs = pipeline.load_inputs(sc)
    blocks = pipeline.make_blocks(inputs, sc)
    adjacency = boundaries.block_adjacency(blocks)
    block_demand = demand.demand_by_area(inputs.demand, blocks, id_column="block_id")
    design = patches.design_patches(
        blocks, adjacency, block_demand, inputs.travel["drive"], sc.patches, seed=sc.study.seed
    )
    visits = inputs.demand.visits
    planned = visits[visits["day"].isin(sc.study.days)]
    visit_patch, _ = pipeline.visits_by_patch(planned, blocks, design.layout)
    planned = planned[planned["visit_id"].isin(visit_patch.index)]
    person_patch = (
        planned.drop_duplicates("person_id").set_index("person_id")["visit_id"].map(visit_patch)
    )
    people = inputs.demand.people
    people = people[people["person_id"].isin(person_patch.index)]
    w = sc.workforce
    out = []
    alloc, providers = workforce.baseline_allocation(people, w, sc.study.seed)
    for task in pipeline._tasks(planned, alloc, providers, inputs.travel, w, 0.0):
        out.append(("today", task))
    alloc, providers = workforce.patch_allocation(
        people, person_patch, design.patches, w, sc.study.seed
    )
    for task in pipeline._tasks(planned, alloc, providers, inputs.travel, w, w.walking_share):
        out.append(("proposed", task))
    return out


def measure(task: tuple, settings: RoundsSettings) -> dict:
    visits, carers, travel = task
    t0 = time.perf_counter()
    result = plan_rounds(visits, carers, travel, settings)
    seconds = time.perf_counter() - t0
    served = result.kpis["visits_served"]
    return {
        "s": seconds,
        "served": int(served),
        "travel_per_visit": result.kpis["travel_min"] / served if served else float("nan"),
        "capped": bool(result.kpis["time_limit_reached"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", nargs="*", type=int, default=[120, 210, 350, 450],
        help="pick the provider-day nearest each of these visit counts",
    )  # fmt: skip
    parser.add_argument("--cap", type=float, default=120.0, help="wall-clock cap per day, s")
    parser.add_argument(
        "--against", choices=["whole-day", "or-tools"], default="whole-day",
        help="baseline: one model of the whole day, or the OR-Tools engine on the same parts",
    )  # fmt: skip
    args = parser.parse_args(argv)

    days = sheffield_days()
    chosen = []
    for size in args.sizes:
        label, task = min(days, key=lambda d: (abs(len(d[1][0]) - size), d[0]))
        chosen.append((label, task))
    ours = RoundsSettings(time_limit_s=args.cap, solution_limit=500, seed_iterations=500)
    if args.against == "whole-day":
        whole = replace(ours, max_visits_per_problem=0)
    else:
        whole = replace(ours, linked_search=False)
    print(f"baseline: {args.against}; load average {os.getloadavg()[0]:.2f}", flush=True)
    rows = []
    for label, task in chosen:
        a = measure(task, ours)
        b = measure(task, whole)
        rows.append(
            {
                "day": f"{label} {task[1]['provider_id'].iat[0]}",
                "visits": len(task[0]),
                "carers": len(task[1]),
                "ours_s": round(a["s"], 1),
                "whole_s": round(b["s"], 1),
                "speed_up": round(b["s"] / a["s"], 1),
                "ours_served": a["served"],
                "whole_served": b["served"],
                "doubles": int((task[0]["carers"] == 2).sum()),
                "ours_travel_per_visit": round(a["travel_per_visit"], 2),
                "whole_travel_per_visit": round(b["travel_per_visit"], 2),
                "travel_ratio": round(a["travel_per_visit"] / b["travel_per_visit"], 3)
                if b["served"]
                else float("nan"),
                "ours_capped": a["capped"],
                "whole_capped": b["capped"],
            }
        )
        print(pd.DataFrame([rows[-1]]).to_string(index=False, header=len(rows) == 1), flush=True)
    print()
    print(pd.DataFrame(rows).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
