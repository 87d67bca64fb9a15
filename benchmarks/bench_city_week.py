"""A city's week: the whole chain's stage times and memory, and the week plan against days planned apart.

Ours is the full run of a scenario (``pipeline.run``: both arrangements' weeks as rotas, the walking
figures from the proposed plan): stage times, peak memory of this process and of the largest worker
(``resource.getrusage``), and per arrangement the travel per visit served, the visits unserved and
continuity of carer (distinct carers per person in the week, median and 90th percentile; share of a
person's visits by their two most frequent carers).

The baseline, measured in the same run on the same provider weeks (same visits, same rota of carers,
same ``[rounds]`` settings), plans every day on its own (``[rounds] week_template = false``). It
costs about seven template days per provider, so on Sheffield it is run on a few lots only
(``--baseline-lots``), said in the output; on Rutland and the demo it can cover every provider of
both arrangements (``--baseline-lots all``). The week plan passes when its travel per visit served is
within 2% of the baseline's (``--tolerance``).

Run::

    python -m benchmarks.bench_city_week --scenario demo --baseline-lots all --cap 300     # ~4 min
    python -m benchmarks.bench_city_week --scenario rutland --baseline-lots all            # ~8 min
    python -m benchmarks.bench_city_week --scenario sheffield --baseline-lots P01 P05
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from dataclasses import replace

import pandas as pd

from patchplan import pipeline, workforce
from patchplan.rounds import RETURN, continuity, plan_weeks
from patchplan.scenario import Scenario


def peak_mb() -> dict[str, float]:
    """Peak resident memory of this process and of its largest finished worker, MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"peak_mb_main": round(own), "peak_mb_largest_worker": round(workers)}


def quality(rounds: pd.DataFrame, visits: int, unserved: int) -> dict[str, float]:
    """Travel per visit served (min: every leg, and between visits only as the savings count it),
    unserved visits and continuity, from a week's rounds."""
    served = rounds.loc[rounds["visit_id"] != RETURN, "visit_id"].nunique()
    between = rounds.loc[(rounds["order"] > 1) & (rounds["visit_id"] != RETURN), "travel_min"]
    c = continuity(rounds).loc["total"]
    return {
        "visits": visits,
        "served": served,
        "unserved": unserved,
        "travel_per_visit_min": round(float(rounds["travel_min"].sum()) / served, 3)
        if served
        else float("nan"),
        "between_visits_per_visit_min": round(float(between.sum()) / served, 3)
        if served
        else float("nan"),
        "carers_per_person_median": c["carers_per_person_median"],
        "carers_per_person_p90": round(c["carers_per_person_p90"], 1),
        "top2_share": round(c["top2_share"], 3),
    }


def baseline_tasks(result, lots: list[str]) -> dict[str, list]:
    """The provider weeks of the run, rebuilt the way the pipeline builds them: the proposed
    arrangement's for ``lots`` (or every provider of both arrangements for ``["all"]``)."""
    sc, planned = result.scenario, result.planned_visits
    people = result.inputs.demand.people
    people = people[people["person_id"].isin(planned["person_id"])]
    person_patch = (
        planned.drop_duplicates("person_id").set_index("person_id")["visit_id"]
        .map(result.visit_patch)
    )  # fmt: skip
    alloc, providers = workforce.patch_allocation(
        people, person_patch, result.design.patches, sc.workforce, sc.study.seed
    )
    share = pipeline.walking_share_by_patch(
        result.walking[result.walking["patch_id"] != "total"], sc.workforce.walking_share,
        result.design.patches["patch_id"].tolist(),
    )  # fmt: skip
    every = lots == ["all"]
    if not every:
        providers = providers[providers["patch_id"].isin(lots)]
    tasks = {"proposed": pipeline._week_tasks(planned, alloc, providers, sc.workforce, share)}
    if every:
        alloc, providers = workforce.baseline_allocation(people, sc.workforce, sc.study.seed)
        tasks["today"] = pipeline._week_tasks(planned, alloc, providers, sc.workforce, 0.0)
    return tasks


def compare(result, lots: list[str], tolerance: float) -> pd.DataFrame:
    """Week plan against days planned apart on the same provider weeks, both timed here."""
    rows = []
    travel = result.inputs.travel
    for arrangement, tasks in baseline_tasks(result, lots).items():
        jobs = [(v, c, travel) for v, c in tasks]
        visits = sum(len(v) for v, _ in tasks)
        for label, settings in (
            ("week plan", result.scenario.rounds),
            ("days apart", replace(result.scenario.rounds, week_template=False)),
        ):
            t0 = time.perf_counter()
            weeks = plan_weeks(jobs, settings)
            seconds = time.perf_counter() - t0
            rounds = pd.concat([w.plan.rounds for w in weeks], ignore_index=True)
            unserved = sum(len(w.plan.unserved) for w in weeks)
            capped = any(w.plan.kpis["time_limit_reached"] for w in weeks)
            rows.append({"arrangement": arrangement, "plan": label, "provider_weeks": len(tasks),
                         "seconds": round(seconds, 1), **quality(rounds, visits, unserved),
                         "capped": capped})  # fmt: skip
    table = pd.DataFrame(rows)
    ours = table[table["plan"] == "week plan"].set_index("arrangement")
    theirs = table[table["plan"] == "days apart"].set_index("arrangement")
    gap = ours["travel_per_visit_min"] / theirs["travel_per_visit_min"] - 1
    between = ours["between_visits_per_visit_min"] / theirs["between_visits_per_visit_min"] - 1
    mine = table["plan"] == "week plan"
    table["travel_gap_pct"] = table["arrangement"].map(100 * gap).where(mine).round(2)
    table["between_gap_pct"] = table["arrangement"].map(100 * between).where(mine).round(2)
    table["pass"] = table["travel_gap_pct"].map(
        lambda g: "" if pd.isna(g) else ("yes" if g <= 100 * tolerance else "NO")
    )
    table["speed_up"] = table["arrangement"].map(
        theirs["seconds"] / ours["seconds"]
    ).where(table["plan"] == "week plan").round(1)  # fmt: skip
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="sheffield", help="example name or TOML file")
    parser.add_argument("--baseline-lots", nargs="*", default=["P01", "P05"],
                        help="proposed lots whose provider weeks are also planned day by day "
                             "('all': every provider of both arrangements; none: skip)")  # fmt: skip
    parser.add_argument("--tolerance", type=float, default=0.02)
    parser.add_argument("--cap", type=float, default=0.0,
                        help="[rounds] time_limit_s for every plan (0: the scenario's); raise it "
                             "on a busy machine so both sides stop on work counts, not the clock")  # fmt: skip
    args = parser.parse_args(argv)
    load = ", ".join(f"{x:.1f}" for x in __import__("os").getloadavg())
    sc = (Scenario.load(args.scenario) if args.scenario.endswith(".toml")
          else Scenario.example(args.scenario))  # fmt: skip
    if args.cap > 0:
        sc = sc.replace(rounds={"time_limit_s": args.cap})
    print(
        f"{sc.study.title}: days {list(sc.study.days)}, {sc.rounds.workers} workers, "
        f"load average at start {load}",
        flush=True,
    )
    t0 = time.perf_counter()
    result = pipeline.run(sc, progress=lambda m: print(f"  {time.perf_counter() - t0:7.1f} s  {m}",
                                                       flush=True))  # fmt: skip
    total = time.perf_counter() - t0
    print("\nStage times (s):")
    print(pd.Series({**result.timings_s, "total": round(total, 1)}).to_string())
    print("\nPeak memory (MB):", peak_mb())
    rows = []
    for name, planned in (("today", result.today), ("proposed", result.proposed)):
        k = planned.kpis
        rows.append({"arrangement": name, **quality(planned.rounds, int(k["visits"]),
                                                    int(k["visits_unserved"])),
                     "template_s": round(k.get("template_s", 0.0), 1),
                     "derive_s": round(k.get("derive_s", 0.0), 1),
                     "template_round_share": round(k.get("template_round_share", 0.0), 3),
                     "capped": bool(k["time_limit_reached"])})  # fmt: skip
    print("\nThe week plan of the full run:")
    print(pd.DataFrame(rows).to_string(index=False))
    walk = result.summary.loc["total", "walk_visit_share"]
    print(f"Visits on foot (proposed, per-lot total): {walk:.1%}")
    lots = [x for x in args.baseline_lots if x.lower() != "none"]
    unknown = set(lots) - set(result.design.patches["patch_id"]) - {"all"}
    if unknown:
        print(f"no such lots: {', '.join(sorted(unknown))}")
        return 2
    if lots:
        which = ("every provider of both arrangements" if lots == ["all"]
                 else f"the proposed providers of lots {', '.join(lots)} only "
                      "(the full day-by-day baseline is too slow to run here)")  # fmt: skip
        print(f"\nWeek plan against every day planned apart, on {which}:")
        table = compare(result, lots, args.tolerance)
        print(table.to_string(index=False))
        print("\nPeak memory after the baseline (MB):", peak_mb())
        if (table["pass"] == "NO").any():
            print(f"FAIL: travel per visit more than {args.tolerance:.0%} above days planned apart")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
