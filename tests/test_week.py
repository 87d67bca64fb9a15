"""The week as a rota: recurring runs, carers' days off, calls fitted around, continuity counted."""

from __future__ import annotations

from dataclasses import replace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

from patchplan import CRS
from patchplan.matrix import StraightLineTravel
from patchplan.rounds import (
    RETURN,
    RoundsSettings,
    continuity,
    plan_week,
    recurring_calls,
)
from patchplan.rounds.problem import day_problem
from patchplan.rounds.timing import RoundClock
from patchplan.workforce import WorkforceSettings, rota, week_carers

TRAVEL = {"walk": StraightLineTravel("walk"), "drive": StraightLineTravel("drive")}
FAST = RoundsSettings(time_limit_s=60, solution_limit=200, seed_iterations=200)
EARLY, LATE = (420, 870), (900, 1350)


def visit(vid: str, person: str, day: int, earliest: int, xy, duration: int = 30, carers: int = 1,
          width: int = 60) -> dict:  # fmt: skip
    return {"visit_id": vid, "person_id": person, "day": day, "earliest": earliest,
            "latest": earliest + width, "duration": duration, "carers": carers, "skills": "",
            "x": float(xy[0]), "y": float(xy[1])}  # fmt: skip


def frame(rows: list[dict]) -> gpd.GeoDataFrame:
    df = pd.DataFrame(rows)
    return gpd.GeoDataFrame(
        df.drop(columns=["x", "y"]), geometry=gpd.points_from_xy(df["x"], df["y"]), crs=CRS
    )


def fleet(n_early: int, n_late: int, mode: str = "drive", xy=(0.0, 0.0)) -> gpd.GeoDataFrame:
    """Rounds like ``workforce.carers_for``'s: early and late shifts with a 30-minute break."""
    rows = []
    for s, ((start, end), n) in enumerate(((EARLY, n_early), (LATE, n_late)), start=1):
        rows += [{"carer_id": f"A-s{s}-{i + 1:02d}", "mode": mode, "shift_start": start,
                  "shift_end": end, "max_minutes": end - start, "break_earliest": start + 150,
                  "break_latest": start + 270, "break_minutes": 30, "skills": "",
                  "provider_id": "A"} for i in range(n)]  # fmt: skip
    return gpd.GeoDataFrame(rows, geometry=[Point(*xy)] * len(rows), crs=CRS)


def a_week(people: int = 12, seed: int = 0, doubles: bool = True) -> gpd.GeoDataFrame:
    """People within 1.5 km of the office with 2–4 daily calls; some calls on a few days only."""
    rng = np.random.default_rng(seed)
    windows = [(450, 0), (720, 1), (990, 2), (1230, 3)]
    rows = []
    for p in range(people):
        xy = rng.uniform(-1500, 1500, 2)
        calls = windows[: int(rng.integers(2, 5))]
        carers = 2 if doubles and p % 6 == 0 else 1
        some_days = int(rng.integers(len(calls))) if p % 3 == 1 else -1
        for k, (opens, slot) in enumerate(calls):
            start = opens + 15 * int(rng.integers(0, 4))
            days = sorted(rng.choice(7, 2, replace=False)) if k == some_days else range(7)
            rows += [visit(f"p{p}-D{d}-V{slot}", f"p{p}", int(d), start, xy, 30 + 15 * (k % 2),
                           carers) for d in days]  # fmt: skip
    return frame(rows)


def assert_valid(plan, visits: pd.DataFrame, carers_week: pd.DataFrame) -> None:
    """Every round keeps windows, shifts, breaks and double-ups, worked by that day's carer."""
    r = plan.rounds
    info = visits.set_index("visit_id")[["earliest", "latest", "duration", "carers"]]
    stops = r[r["visit_id"] != RETURN].join(info, on="visit_id")
    assert (stops["start"] >= stops["earliest"]).all() and (stops["start"] <= stops["latest"]).all()
    assert (stops["arrival"] <= stops["start"]).all()
    assert np.allclose(stops["end"], stops["start"] + stops["duration"])
    doubles = stops[stops["carers"] == 2].groupby("visit_id")
    assert (doubles["carer_id"].nunique() == 2).all() and (doubles["start"].nunique() == 1).all()
    week = carers_week.set_index(["carer_id", "day"])
    for (cid, day), g in r.groupby(["carer_id", "day"]):
        c = week.loc[(cid, day)]  # the carer works that day
        g = g.sort_values("order")
        leave = g["arrival"].iat[0] - g["travel_min"].iat[0]
        assert leave >= c["shift_start"] and g["arrival"].iat[-1] <= c["shift_end"]
        ends = np.r_[leave, g["end"].to_numpy()[:-1]]
        assert np.allclose(g["arrival"].to_numpy(), ends + g["travel_min"].to_numpy())
        brk = plan.breaks[(plan.breaks["carer_id"] == cid) & (plan.breaks["day"] == day)]
        assert len(brk) == 1
        b0, b1 = brk["start"].iat[0], brk["end"].iat[0]
        assert c["break_earliest"] <= b0 <= c["break_latest"]
        served = g[g["visit_id"] != RETURN]
        assert not ((served["start"] < b1) & (served["end"] > b0)).any(), "a break in a visit"
        # the gap holding the break also holds the travel of its leg (the tables show the latest
        # departure, but a carer may leave from the start of the shift)
        gap_start = np.r_[c["shift_start"], served["end"].to_numpy()]
        gap_end = np.r_[served["start"].to_numpy(), g["arrival"].iat[-1]]
        inside = (gap_start <= b0) & (b1 <= gap_end)
        if inside.any():
            k = int(np.flatnonzero(inside)[0])
            if k < len(gap_end) - 1:
                assert gap_end[k] - gap_start[k] >= g["travel_min"].iat[k] + (b1 - b0)
        else:
            assert b0 >= g["arrival"].iat[-1]  # after returning


# ------------------------------------------------------------------------------------ the rota


def test_days_off_are_staggered_and_covered_by_a_relief_of_the_same_kind():
    rounds = pd.concat([fleet(7, 3), fleet(2, 0, mode="walk").assign(
        carer_id=lambda f: f["carer_id"] + "w")], ignore_index=True)  # fmt: skip
    week = rota(rounds, range(7), days_per_week=5)
    assert not week.duplicated(["round_id", "day"]).any()
    assert len(week) == 7 * len(rounds)  # every round worked every day
    assert not week.duplicated(["carer_id", "day"]).any()  # nobody works two rounds in a day
    assert week.groupby("carer_id")["day"].nunique().max() <= 5  # days off honoured
    regular = week[week["carer_id"] == week["round_id"]]
    assert (regular.groupby("round_id")["day"].nunique() == 5).all()
    # staggered: of the seven early drivers, two are off on each day
    early = regular[regular["round_id"].str.match(r"A-s1-\d\d$")]
    assert (early.groupby("day").size() == 5).all()
    relief = week[week["carer_id"] != week["round_id"]]
    kind_of = (
        rounds.set_index("carer_id")[["mode", "shift_start"]].astype(str).agg("|".join, axis=1)
    )
    assert (relief.groupby("carer_id")["round_id"].agg(lambda r: kind_of[r].nunique()) == 1).all()
    # the same relief takes a round on both of its regular's days off where possible
    assert relief.groupby("round_id")["carer_id"].nunique().max() <= 2
    assert relief.groupby("round_id")["carer_id"].nunique().mean() < 1.5
    assert (rota(rounds, range(7), 7)["carer_id"] == rota(rounds, range(7), 7)["round_id"]).all()


def test_week_carers_are_sized_on_the_busiest_day():
    visits = a_week(people=20, seed=3)
    monday = visits[visits["day"] == 0]
    carers = week_carers(visits, "A", Point(0, 0), WorkforceSettings(), days=range(7))
    work = (visits["duration"] * visits["carers"]).groupby(visits["day"]).sum()
    assert carers["round_id"].nunique() >= carers["round_id"].str.len().size // 7
    assert set(carers["day"]) == set(range(7))
    if work.idxmax() == 0:
        assert (carers["day"] == 0).sum() >= len(monday) // 10


# ---------------------------------------------------------------------------- calls and timing


def test_a_call_recurs_when_it_runs_on_most_days():
    rows = [visit(f"a{d}", "a", d, 480, (0, 0)) for d in range(7)]  # daily
    rows += [visit(f"b{d}", "b", d, 720, (0, 0)) for d in range(5)]  # weekdays only
    rows += [visit(f"c{d}", "c", d, 720, (0, 0)) for d in (1, 4)]  # twice a week
    rows += [visit(f"d{d}-{k}", "d", d, 480, (0, 0)) for d in range(7) for k in (0, 1)]  # two a day
    calls = recurring_calls(frame(rows), 0.5).set_index("visit_id")
    assert calls.loc["a3", "call_id"] == "a0" and calls.loc["a3", "recurring"]
    assert calls.loc["b4", "recurring"] and calls.loc["b4", "days"] == 5
    assert not calls.loc["c4", "recurring"] and calls.loc["c4", "call_id"] == "c1"
    assert calls.loc[["d0-0", "d0-1"], "call_id"].nunique() == 2  # two calls, not one


def _clock(windows: list[tuple[int, int, int]], break_latest: int):
    visits = frame([visit(f"v{k}", f"p{k}", 0, lo, (0, 0), duration=dur, width=hi - lo)
                    for k, (lo, hi, dur) in enumerate(windows)])  # fmt: skip
    carers = fleet(1, 0).assign(shift_end=900, max_minutes=480, break_earliest=540,
                                break_latest=break_latest)  # fmt: skip
    day = day_problem(visits, carers, TRAVEL, 1)
    clock = RoundClock(day, 1)
    return clock, list(range(len(windows)))


def test_a_round_is_timed_as_early_as_it_can_be_with_its_break():
    # three visits at the office; the break (30 min from 09:00 to 09:40 at the latest) fits only
    # between the second and third visit, which then waits for it
    clock, route = _clock([(420, 430, 60), (480, 600, 60), (560, 700, 30)], break_latest=580)
    t = clock.time(0, route, clock.lo, clock.hi)
    assert t.starts == [420, 480, 570] and t.break_start == 540 and t.back == 600
    # later breaks allowed: the round ends sooner with the break after it
    clock, route = _clock([(420, 430, 60), (480, 600, 60), (560, 700, 30)], break_latest=600)
    t = clock.time(0, route, clock.lo, clock.hi)
    assert t.starts == [420, 480, 560] and t.break_start == 590 and t.back == 590
    # the last visit cannot wait for a break before it: the break comes after the round
    clock, route = _clock([(420, 430, 60), (480, 600, 60), (560, 565, 30)], break_latest=600)
    t = clock.time(0, route, clock.lo, clock.hi)
    assert t.starts == [420, 480, 560] and t.break_start == 590 and t.back == 590
    clock, route = _clock([(420, 430, 60), (480, 600, 60), (560, 565, 30)], break_latest=580)
    assert clock.time(0, route, clock.lo, clock.hi) is None  # no room for the break at all


# ---------------------------------------------------------------------------------- the week


@pytest.fixture(scope="module")
def small_week():
    visits = a_week()
    carers = rota(fleet(7, 4), range(7), days_per_week=5)
    return visits, carers, plan_week(visits, carers, TRAVEL, FAST)


def test_every_call_takes_the_same_round_every_day(small_week):
    visits, carers, week = small_week
    assert week.plan.kpis["visits_unserved"] == 0
    calls = week.calls
    assert calls["recurring"].all()  # by default every call has its place in the template
    assert (calls["round_id"] == calls["template_round"]).all()
    assert week.kpis["template_round_share"] == 1.0 and week.kpis["visits_inserted"] == 0
    assert_valid(week.plan, visits, carers)


def test_calls_on_a_few_days_are_fitted_around_the_recurring_runs(small_week):
    visits, carers, _ = small_week
    week = plan_week(visits, carers, TRAVEL, replace(FAST, recurring_min_share=0.5))
    calls = week.calls
    recurring = calls[calls["recurring"]]
    assert (recurring["round_id"] == recurring["template_round"]).all()
    assert week.kpis["visits_inserted"] == (~calls["recurring"]).sum() > 0
    assert week.plan.kpis["visits_unserved"] == 0
    assert_valid(week.plan, visits, carers)


def test_the_week_plan_serves_what_days_planned_apart_serve(small_week):
    visits, carers, week = small_week
    apart = plan_week(visits, carers, TRAVEL, replace(FAST, week_template=False))
    assert week.plan.kpis["visits_served"] >= apart.plan.kpis["visits_served"]
    assert_valid(apart.plan, visits, carers)
    ours = continuity(week.plan.rounds).loc["total"]
    theirs = continuity(apart.plan.rounds).loc["total"]
    assert ours["carers_per_person_median"] < theirs["carers_per_person_median"]
    assert ours["top2_share"] > theirs["top2_share"]


@pytest.mark.parametrize(("seed", "recurring_min_share"), [(1, 0.0), (2, 0.5)])
def test_busy_weeks_with_walkers_stay_valid(seed, recurring_min_share):
    visits = a_week(people=24, seed=seed)
    carers = week_carers(visits, "A", Point(0, 0), WorkforceSettings(), walking_share=0.5)
    settings = replace(FAST, recurring_min_share=recurring_min_share)
    week = plan_week(visits, carers, TRAVEL, settings)
    assert_valid(week.plan, visits, carers)
    assert week.plan.kpis["visits_served"] >= 0.98 * len(visits)
    again = plan_week(visits, carers, TRAVEL, settings)
    assert again.plan.rounds.equals(week.plan.rounds)  # the same seed gives the same week


def test_a_carer_off_that_day_is_never_planned():
    visits = a_week(people=8, seed=4)
    carers = rota(fleet(3, 3), range(7), days_per_week=4)
    week = plan_week(visits, carers, TRAVEL, FAST)
    worked = set(zip(carers["carer_id"], carers["day"], strict=True))
    assert set(zip(week.plan.rounds["carer_id"], week.plan.rounds["day"], strict=True)) <= worked
    assert week.plan.rounds.groupby("carer_id")["day"].nunique().max() <= 4


# ------------------------------------------------------------------------------- continuity


def test_continuity_matches_a_hand_count():
    def stops(person: str, carers: dict[str, int]) -> list[dict]:
        out, day = [], 0
        for carer, n in carers.items():
            for _ in range(n):
                out.append({"carer_id": carer, "day": day % 7, "visit_id": f"{person}{day}",
                            "person_id": person, "start": 480.0})  # fmt: skip
                day += 1
        return out

    rounds = pd.DataFrame(
        stops("A", {"c1": 5, "c2": 2}) + stops("B", {"c1": 3, "c2": 2, "c3": 2})
        + stops("C", {"c3": 1}) + [{"carer_id": "c1", "day": 0, "visit_id": RETURN,
                                    "person_id": "", "start": 600.0}]
    )  # fmt: skip
    lot = {v: ("L1" if v[0] in "AB" else "L2") for v in rounds["visit_id"]}
    table = continuity(rounds, pd.Series(lot))
    assert table.loc["L1", "people"] == 2 and table.loc["L2", "people"] == 1
    assert table.loc["L1", "carers_per_person_median"] == 2.5
    assert table.loc["L1", "carers_per_person_p90"] == pytest.approx(2.9)
    assert table.loc["L1", "top2_share"] == pytest.approx((1 + 5 / 7) / 2)
    assert table.loc["total", "carers_per_person_median"] == 2
    assert table.loc["total", "carers_per_person_p90"] == pytest.approx(2.8)
    assert table.loc["total", "top2_share"] == pytest.approx((1 + 5 / 7 + 1) / 3)


def test_a_day_nobody_works_leaves_its_visits_unserved_with_a_reason():
    visits = a_week(people=4, seed=5, doubles=False)
    carers = rota(fleet(3, 3), range(7), days_per_week=7)
    week = plan_week(visits, carers[carers["day"] != 3], TRAVEL, FAST)
    unserved = week.plan.unserved
    assert set(unserved["visit_id"]) == set(visits.loc[visits["day"] == 3, "visit_id"])
    assert (unserved["reason"] == "no time window fits any shift").all()
    assert (week.plan.rounds["day"] != 3).all()
