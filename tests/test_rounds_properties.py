"""No plan ever breaks a rule: property-based days with double-ups, links, skills and breaks.

Every returned plan is checked from its tables alone, by rules written here independently of the
solvers: windows, shifts, spans, breaks, skills (per double-up slot), links and double-ups.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

from patchplan import CRS
from patchplan.matrix import StraightLineTravel
from patchplan.rounds import RETURN, RoundsSettings, plan_rounds
from patchplan.rounds.model import split_ids

TRAVEL = {"walk": StraightLineTravel("walk"), "drive": StraightLineTravel("drive")}
FAST = RoundsSettings(time_limit_s=10, solution_limit=200, seed_iterations=200,
                      linked_iterations=300, lateness_cost_per_min=1)  # fmt: skip
SKILLS = ["", "", "hoist", "meds"]


@st.composite
def days(draw):
    """A small day: visits (some double-ups, some linked pairs) and carers with skills and breaks."""
    seed = draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(3, 9))
    rows = []
    for i in range(n):
        e = int(rng.integers(420, 1080))
        rows.append({
            "visit_id": f"v{i}", "person_id": f"p{i}", "day": 0,
            "x": float(rng.uniform(-1500, 1500)), "y": float(rng.uniform(-1500, 1500)),
            "earliest": e, "latest": e + int(rng.choice([30, 60, 120])),
            "duration": int(rng.choice([15, 30, 45])), "carers": 1,
            "skills": str(rng.choice(SKILLS)), "skills_2": "", "follows": "",
            "gap_min": 0.0, "gap_max": 0.0, "due": float(e + 15),
        })  # fmt: skip
    for i in range(1, n, 3):  # every third visit follows the one before, for the same person
        lo = float(rng.choice([0, 30, 60]))
        rows[i].update(person_id=rows[i - 1]["person_id"], follows=rows[i - 1]["visit_id"],
                       gap_min=lo, gap_max=lo + float(rng.choice([0, 60])),
                       x=rows[i - 1]["x"], y=rows[i - 1]["y"], latest=1260)  # fmt: skip
    for i in range(2, n, 4):  # some double-ups, a few with split skills
        if not rows[i]["follows"] and not any(r["follows"] == rows[i]["visit_id"] for r in rows):
            rows[i].update(carers=2, skills_2=str(rng.choice(["", "meds"])))
    visits = gpd.GeoDataFrame(
        [{k: v for k, v in r.items() if k not in ("x", "y")} for r in rows],
        geometry=[Point(r["x"], r["y"]) for r in rows], crs=CRS,
    )  # fmt: skip
    m = draw(st.integers(2, 4))
    carers = gpd.GeoDataFrame([{
        "carer_id": f"c{j}", "mode": str(rng.choice(["drive", "walk"])),
        "shift_start": 420, "shift_end": int(rng.choice([900, 1320])),
        "max_minutes": int(rng.choice([480, 900])),
        "break_earliest": 660, "break_latest": 780, "break_minutes": int(rng.choice([0, 30])),
        "skills": ",".join(sorted({str(rng.choice(SKILLS)), str(rng.choice(SKILLS))} - {""})),
    } for j in range(m)], geometry=[Point(0.0, 0.0)] * m, crs=CRS)  # fmt: skip
    return visits, carers


def check_plan(visits: pd.DataFrame, carers: pd.DataFrame, result) -> None:
    """Assert every hard rule on the plan's tables."""
    r = result.rounds
    v = visits.set_index("visit_id")
    c = carers.set_index("carer_id")
    stops = r[r.visit_id != RETURN]
    # every visit served exactly as often as it needs carers, or reported unserved
    counts = stops.groupby("visit_id").size()
    for vid, row in v.iterrows():
        assert counts.get(vid, 0) in (0, row.carers), vid
        assert (counts.get(vid, 0) == row.carers) != (vid in set(result.unserved.visit_id)), vid
    for vid, group in stops.groupby("visit_id"):
        row = v.loc[vid]
        assert (group.start >= row.earliest - 1e-9).all() and (group.start <= row.latest + 1e-9).all()
        assert group.start.nunique() == 1 and group.carer_id.nunique() == len(group)
        held = [split_ids(c.loc[k, "skills"]) for k in group.carer_id]
        need = [split_ids(row.skills), split_ids(row.skills_2) or split_ids(row.skills)]
        if len(group) == 1:
            assert need[0] <= held[0], vid
        else:
            assert (need[0] <= held[0] and need[1] <= held[1]) or (
                need[0] <= held[1] and need[1] <= held[0]
            ), vid
    start = stops.drop_duplicates("visit_id").set_index("visit_id")["start"]
    for vid, row in v[v.follows != ""].iterrows():
        a, b = row.follows, vid
        if a in start.index and b in start.index:
            assert row.gap_min - 1e-9 <= start[b] - start[a] <= row.gap_max + 1e-9, (a, b)
        if row.gap_min == row.gap_max == 0:
            assert (a in start.index) == (b in start.index), (a, b)
    for cid, route in r.groupby("carer_id"):
        route = route.sort_values("order")
        shift = c.loc[cid]
        leave = route.arrival.iat[0] - route.travel_min.iat[0]
        assert leave >= shift.shift_start - 1e-9 and route.end.iat[-1] <= shift.shift_end + 1e-9
        assert route.end.iat[-1] - leave <= shift.max_minutes + 1e-9
        assert (route.start >= route.arrival - 1e-9).all()
        ends = np.r_[leave, route.end.to_numpy()[:-1]]
        assert np.allclose(route.arrival.to_numpy(), ends + route.travel_min.to_numpy())
        assert (route["mode"] == shift["mode"]).all()
        brk = result.breaks[result.breaks.carer_id == cid]
        for b in brk.itertuples():
            assert shift.break_earliest - 1e-9 <= b.start <= shift.break_latest + 1e-9
            work = route[route.visit_id != RETURN]
            assert ((work.end <= b.start + 1e-9) | (work.start >= b.end - 1e-9)).all()


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(days())
def test_no_plan_breaks_a_window_shift_break_skill_or_link(day):
    visits, carers = day
    check_plan(visits, carers, plan_rounds(visits, carers, TRAVEL, FAST))


@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(days())
def test_the_or_tools_path_keeps_every_rule_too(day):
    visits, carers = day
    settings_ = RoundsSettings(time_limit_s=10, solution_limit=200, seed_iterations=200,
                               linked_search=False)  # fmt: skip
    check_plan(visits, carers, plan_rounds(visits, carers, TRAVEL, settings_))
