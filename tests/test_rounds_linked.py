"""Home care's own routing problem: visits that follow one another, split-skill double-ups, soft
due times, and large days that strand no visit."""

from __future__ import annotations

import itertools
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

from patchplan import CRS
from patchplan.demand import load_demand
from patchplan.errors import RoundsError
from patchplan.matrix import StraightLineTravel
from patchplan.rounds import REASON_NO_SKILL, RETURN, RoundsSettings, plan_rounds

TRAVEL = {"walk": StraightLineTravel("walk"), "drive": StraightLineTravel("drive")}
FAST = RoundsSettings(time_limit_s=20, solution_limit=500, seed_iterations=300)


def visits_table(rows: list[dict]) -> gpd.GeoDataFrame:
    base = {"day": 0, "carers": 1, "skills": "", "duration": 30, "earliest": 420, "latest": 1200}
    recs = [{**base, "person_id": f"p{k}", **r} for k, r in enumerate(rows)]
    geom = [Point(r.pop("x"), r.pop("y")) for r in recs]
    return gpd.GeoDataFrame(recs, geometry=geom, crs=CRS)


def carers_table(skills: list[str], xy=(0.0, 0.0), **kw) -> gpd.GeoDataFrame:
    rec = {"mode": "drive", "shift_start": 420, "shift_end": 1320, "max_minutes": 900,
           "break_earliest": 0, "break_latest": 0, "break_minutes": 0}  # fmt: skip
    rows = [{**rec, **kw, "carer_id": f"c{j}", "skills": s} for j, s in enumerate(skills)]
    return gpd.GeoDataFrame(rows, geometry=[Point(*xy)] * len(rows), crs=CRS)


def stops_of(result) -> pd.DataFrame:
    return result.rounds[result.rounds.visit_id != RETURN]


def test_a_visit_follows_another_within_its_gap():
    # breakfast 08:00-08:30, medication 60-120 min after it; medication's own window opens first,
    # so without the link it could come before breakfast
    visits = visits_table([
        {"visit_id": "meds", "person_id": "p", "x": 500.0, "y": 0.0, "earliest": 420,
         "latest": 720, "follows": "breakfast", "gap_min": 60, "gap_max": 120},
        {"visit_id": "breakfast", "person_id": "p", "x": 500.0, "y": 0.0, "earliest": 480,
         "latest": 510},
        {"visit_id": "other", "x": -800.0, "y": 300.0, "earliest": 540, "latest": 600},
    ])  # fmt: skip
    result = plan_rounds(visits, carers_table(["", ""]), TRAVEL, FAST)
    start = stops_of(result).set_index("visit_id")["start"]
    assert result.unserved.empty
    assert 60 <= start["meds"] - start["breakfast"] <= 120


def test_a_double_up_can_ask_different_skills_of_its_two_carers():
    visits = visits_table([
        {"visit_id": "hoist+meds", "x": 800.0, "y": 0.0, "carers": 2, "skills": "hoist",
         "skills_2": "meds", "earliest": 540, "latest": 570},
        {"visit_id": "plain", "x": -300.0, "y": 0.0, "earliest": 600, "latest": 660},
    ])  # fmt: skip
    carers = carers_table(["hoist", "", "meds", ""])
    result = plan_rounds(visits, carers, TRAVEL, FAST)
    pair = stops_of(result).query("visit_id == 'hoist+meds'")
    assert result.unserved.empty
    assert set(pair.carer_id) == {"c0", "c2"}  # one with each skill, not two of either
    assert pair.start.nunique() == 1


def test_a_double_up_whose_second_skill_nobody_has_is_unserved_with_that_reason():
    visits = visits_table([{"visit_id": "v", "x": 100.0, "y": 0.0, "carers": 2,
                            "skills": "hoist", "skills_2": "peg"}])  # fmt: skip
    result = plan_rounds(visits, carers_table(["hoist", "hoist", ""]), TRAVEL, FAST)
    assert result.unserved.set_index("visit_id")["reason"]["v"] == REASON_NO_SKILL


def test_a_soft_due_time_puts_the_urgent_visit_first():
    # one carer, two visits at the same address with the same window; only one is due early
    visits = visits_table([
        {"visit_id": "later", "person_id": "a", "x": 900.0, "y": 0.0, "earliest": 480,
         "latest": 720, "due": 700},
        {"visit_id": "urgent", "person_id": "b", "x": 900.0, "y": 0.0, "earliest": 480,
         "latest": 720, "due": 490},
    ])  # fmt: skip
    settings = RoundsSettings(time_limit_s=10, lateness_cost_per_min=5)
    result = plan_rounds(visits, carers_table([""]), TRAVEL, settings)
    start = stops_of(result).set_index("visit_id")["start"]
    assert start["urgent"] < start["later"]
    assert start["urgent"] <= 490


def test_two_visits_linked_0_to_0_start_together_with_two_carers():
    visits = visits_table([
        {"visit_id": "wash", "person_id": "p", "x": 700.0, "y": 0.0, "skills": "a"},
        {"visit_id": "dress", "person_id": "p", "x": 700.0, "y": 0.0, "skills": "b",
         "follows": "wash", "gap_min": 0, "gap_max": 0},
    ])  # fmt: skip
    result = plan_rounds(visits, carers_table(["a", "b", "a,b"]), TRAVEL, FAST)
    stops = stops_of(result).set_index("visit_id")
    assert result.unserved.empty
    assert stops.loc["wash", "start"] == stops.loc["dress", "start"]
    assert stops.loc["wash", "carer_id"] != stops.loc["dress", "carer_id"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"follows": "nope"}, "not among the visits"),
        ({"follows": "a1", "gap_min": 90, "gap_max": 60}, "gap_min (90) must be between"),
        ({"follows": "b1"}, "of another person"),
    ],
)
def test_a_broken_link_is_refused_by_the_planner(change, message):
    visits = visits_table([
        {"visit_id": "a1", "person_id": "A", "x": 0.0, "y": 0.0},
        {"visit_id": "a2", "person_id": "A", "x": 0.0, "y": 0.0, "follows": "", "gap_min": 0,
         "gap_max": 0},
        {"visit_id": "b1", "person_id": "B", "x": 10.0, "y": 0.0},
    ])  # fmt: skip
    for key, value in change.items():
        visits.loc[1, key] = value
    with pytest.raises(RoundsError, match=re.escape(message)):
        plan_rounds(visits, carers_table([""]), TRAVEL, FAST)


def test_bad_dependency_rows_are_rejected_with_the_row_and_reason():
    people = gpd.GeoDataFrame({"person_id": ["A", "B"]},
                              geometry=[Point(430_000, 387_000), Point(430_100, 387_000)],
                              crs=CRS)  # fmt: skip
    visits = pd.DataFrame({
        "visit_id": ["a1", "a2", "a3", "a4", "b1", "a5"],
        "person_id": ["A", "A", "A", "A", "B", "A"],
        "day": 0, "earliest": "08:00", "latest": "09:00", "duration": 30,
        "follows": ["", "a1", "zz", "a1", "a1", "a3"],
        "gap_min": [0, 60, 0, 120, 0, 0], "gap_max": [0, 120, 0, 60, 0, 0],
    })  # fmt: skip
    demand = load_demand(people, visits)
    assert sorted(demand.visits["visit_id"]) == ["a1", "a2"]
    rejects = demand.rejects.set_index("record_id")
    assert "'zz'" in rejects.loc["a3", "reason"]
    assert "gap_min (120) must be between 0 and gap_max (60)" in rejects.loc["a4", "reason"]
    assert "another person" in rejects.loc["b1", "reason"]
    assert "'a3'" in rejects.loc["a5", "reason"]  # follows a rejected visit: rejected too
    assert rejects.loc["a4", "row"] == 4


def test_a_rare_skill_needed_in_two_far_apart_clusters_is_not_stranded():
    # the repro: one carer holds skill X; X visits sit in two clusters 9 km apart; the day
    # is cut into parts, and the X carer can only be in one of them
    rng = np.random.default_rng(3)
    rows = []
    for c, cx in enumerate((-4_500.0, 4_500.0)):
        for i in range(40):
            rows.append({"visit_id": f"k{c}-{i}", "x": cx + rng.uniform(-600, 600),
                         "y": rng.uniform(-600, 600), "earliest": int(rng.integers(420, 1000)),
                         "skills": "X" if i < 3 else ""})  # fmt: skip
    for r in rows:
        r["latest"] = r["earliest"] + 120
    visits = visits_table(rows)
    carers = carers_table(["X"] + [""] * 11)
    settings = RoundsSettings(time_limit_s=60, max_visits_per_problem=40)
    result = plan_rounds(visits, carers, TRAVEL, settings)
    x_visits = set(visits.visit_id[visits.skills == "X"])
    served = set(stops_of(result).visit_id)
    assert x_visits <= served
    assert stops_of(result).set_index("visit_id").loc[sorted(x_visits), "carer_id"].eq("c0").all()


def test_a_day_cut_into_parts_stays_within_its_work_budget():
    rng = np.random.default_rng(5)
    rows = [{"visit_id": f"v{i}", "x": float(x), "y": float(y), "earliest": int(e),
             "latest": int(e) + 60}
            for i, (x, y, e) in enumerate(zip(*rng.uniform(-3000, 3000, (2, 120)),
                                              rng.integers(420, 1100, 120), strict=True))]  # fmt: skip
    visits = visits_table(rows)
    settings = RoundsSettings(time_limit_s=120, max_visits_per_problem=40, branch_limit=30_000)
    result = plan_rounds(visits, carers_table([""] * 16), TRAVEL, settings)
    assert result.kpis["search_work"] <= settings.branch_limit
    assert result.kpis["time_limit_reached"] == 0
    assert set(stops_of(result).visit_id) | set(result.unserved.visit_id) == set(visits.visit_id)


# --------------------------------------------------------------------------------------------
# brute force: tiny days whose optimum is known by enumeration


def _least_schedule(routes, info, units, links):
    """Least start times for fixed routes (None when a window or link cannot hold)."""
    start = {v: info[v]["earliest"] for r in routes for v in r}
    for _ in range(50):
        changed = False
        for r in routes:
            t, prev = 420, "base"
            for v in r:
                arrive = t + units[prev][v]
                new = max(start[v], arrive)
                for a, b, lo, _hi in links:
                    if b == v and a in start:
                        new = max(new, start[a] + lo)
                    if a == v and b in start:
                        new = max(new, start[b] - _hi)
                if new != start[v]:
                    start[v], changed = new, True
                t, prev = start[v] + info[v]["duration"], v
        if not changed:
            break
    else:
        return None
    ok = all(start[v] <= info[v]["latest"] for v in start)
    ok &= all(lo <= start[b] - start[a] <= hi for a, b, lo, hi in links)
    return start if ok else None


def _brute_force(visits: pd.DataFrame, n_carers: int, links) -> float:
    ids = list(visits.visit_id)
    pts = {"base": (0.0, 0.0), **{v: (g.x, g.y) for v, g in zip(ids, visits.geometry,
                                                                   strict=True)}}  # fmt: skip
    names = list(pts)
    series = gpd.GeoSeries([Point(*pts[n]) for n in names], crs=CRS)
    minutes = TRAVEL["drive"].matrix(series).minutes
    units = {a: {b: int(np.ceil(minutes[i, j] - 1e-6)) for j, b in enumerate(names)}
             for i, a in enumerate(names)}  # fmt: skip
    info = visits.set_index("visit_id").to_dict("index")
    best = np.inf
    for perm in itertools.permutations(ids):
        for cuts in itertools.combinations_with_replacement(range(len(ids) + 1), n_carers - 1):
            bounds = [0, *cuts, len(ids)]
            routes = [list(perm[bounds[k]:bounds[k + 1]]) for k in range(n_carers)]
            if _least_schedule(routes, info, units, links) is None:
                continue
            travel = sum(units["base"][r[0]] + sum(units[a][b] for a, b in itertools.pairwise(r))
                         + units[r[-1]]["base"] for r in routes if r)  # fmt: skip
            best = min(best, travel + 60 * sum(1 for r in routes if r))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tiny_days_with_precedence_gaps_are_solved_optimally(seed):
    rng = np.random.default_rng(seed)
    rows = [{"visit_id": f"v{i}", "person_id": f"p{i}", "x": float(x), "y": float(y),
             "earliest": int(e), "latest": int(e) + 45}
            for i, (x, y, e) in enumerate(zip(*rng.uniform(-2500, 2500, (2, 5)),
                                              rng.integers(420, 560, 5), strict=True))]  # fmt: skip
    rows[3].update(person_id="p0", follows="v0", gap_min=40, gap_max=90, latest=700)
    visits = visits_table(rows)
    links = [("v0", "v3", 40, 90)]
    expected = _brute_force(visits.drop(columns="geometry").assign(geometry=visits.geometry), 2,
                            links)  # fmt: skip
    result = plan_rounds(visits, carers_table(["", ""]), TRAVEL, FAST)
    assert result.unserved.empty
    got = result.kpis["travel_min"] + 60 * result.kpis["carers_used"]
    assert got == pytest.approx(expected)
    start = stops_of(result).set_index("visit_id")["start"]
    assert 40 <= start["v3"] - start["v0"] <= 90


def test_a_repaired_day_serves_every_visit_at_most_once_per_carer_slot():
    # a cut day, short of carers, with many double-ups and linked pairs: the repair pass replans
    # some carers' rounds and must never leave a copy with a carer outside it and serve it again
    rng = np.random.default_rng(11)
    rows = []
    for i in range(90):
        e = int(rng.integers(420, 1100))
        rows.append({"visit_id": f"v{i}", "x": float(rng.uniform(-3000, 3000)),
                     "y": float(rng.uniform(-3000, 3000)), "earliest": e, "latest": e + 60,
                     "carers": 2 if i % 4 == 0 else 1})  # fmt: skip
    for i in range(1, 90, 6):
        if rows[i]["carers"] == 1 and rows[i - 1]["carers"] == 1:
            rows[i].update(person_id="p" + str(i - 1), follows=f"v{i - 1}", gap_min=30,
                           gap_max=120, x=rows[i - 1]["x"], y=rows[i - 1]["y"], latest=1260)
    visits = visits_table(rows)
    if "follows" in visits:
        visits["follows"] = visits["follows"].fillna("")
        visits[["gap_min", "gap_max"]] = visits[["gap_min", "gap_max"]].fillna(0)
    settings = RoundsSettings(time_limit_s=120, max_visits_per_problem=30)
    result = plan_rounds(visits, carers_table([""] * 9), TRAVEL, settings)
    served = stops_of(result).groupby("visit_id").size()
    need = visits.set_index("visit_id")["carers"]
    assert (served <= need.reindex(served.index)).all()
    assert set(served.index) | set(result.unserved.visit_id) == set(visits.visit_id)
