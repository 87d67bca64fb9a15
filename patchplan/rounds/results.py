"""Plans of parts of days, their assembly into a :class:`RoundsResult`, and the KPIs.

Whatever solver planned a part, it hands back a :class:`DayPlan` built by :func:`day_plan` from
carer routes (visit copies in order) with their start times, so every solver's rounds are laid out,
timed and costed the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import LineString, Point

from patchplan.matrix import TravelTimes
from patchplan.rounds.model import (
    BREAK_COLUMNS,
    LEG_COLUMNS,
    REASON_CAPACITY,
    REASON_TIME_LIMIT,
    RETURN,
    ROUNDS_COLUMNS,
    UNSERVED_COLUMNS,
    RoundsResult,
    RoundsSettings,
)
from patchplan.rounds.problem import DayProblem


@dataclass
class DayPlan:
    """The plan of one problem (a day, or a part of one).

    Attributes
    ----------
    rounds, legs, breaks, unserved : tables with ``ROUNDS_COLUMNS``, ``LEG_COLUMNS``,
        ``BREAK_COLUMNS``, ``UNSERVED_COLUMNS``.
    routes : carer id -> the visit copies served in order, as ``(visit_id, slot)``.
    objective : the solver's objective (its own units; for comparison within a solver only).
    elapsed_s : wall-clock seconds.
    capped : the wall-clock safety cap cut the search (the plan may differ between runs).
    estimate : travel came from the straight-line estimate.
    solver : which search produced the plan ("or-tools", "linked search", "none").
    work : the search's work count (OR-Tools search branches, or linked-search iterations), the
        deterministic measure of effort that budgets are shared in.
    """

    rounds: pd.DataFrame
    legs: pd.DataFrame
    breaks: pd.DataFrame
    unserved: pd.DataFrame
    routes: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    objective: float = 0.0
    elapsed_s: float = 0.0
    capped: bool = False
    estimate: bool = False
    solver: str = "none"
    work: int = 0


def empty_plan(unserved: pd.DataFrame | None = None, estimate: bool = False) -> DayPlan:
    """A plan with no rounds, only (optionally) unserved visits."""
    return DayPlan(
        pd.DataFrame(columns=ROUNDS_COLUMNS),
        pd.DataFrame(columns=LEG_COLUMNS),
        pd.DataFrame(columns=BREAK_COLUMNS),
        unserved if unserved is not None else pd.DataFrame(columns=UNSERVED_COLUMNS),
        estimate=estimate,
    )


def unserved_table(visits: pd.DataFrame, positions: Sequence[int], reasons: Sequence[str]
                   ) -> pd.DataFrame:  # fmt: skip
    """``UNSERVED_COLUMNS`` rows for visits at ``positions`` with their reasons."""
    rows = visits.iloc[list(positions)]
    return pd.DataFrame(
        {
            "visit_id": rows["visit_id"].astype(str).to_numpy(),
            "person_id": rows["person_id"].astype(str).to_numpy(),
            "day": rows["day"].astype(int).to_numpy(),
            "reason": list(reasons),
        },
        columns=UNSERVED_COLUMNS,
    )


def day_plan(
    day: DayProblem,
    routes: list[list[int]],
    starts: dict[int, int],
    breaks: dict[int, int],
    reasons: list[str | None],
    scale: int,
    *,
    objective: float,
    elapsed_s: float,
    capped: bool,
    solver: str,
    work: int = 0,
) -> DayPlan:
    """Lay out carers' routes as tables.

    Parameters
    ----------
    routes : per carer position, the visit-copy nodes in order.
    starts : node -> start of service, and for each used carer's *end* the key
        ``-(carer position + 1)`` -> the time back at base (time units).
    breaks : carer position -> break start (time units), for breaks taken.
    reasons : per visit, the reason no carer could serve it (None when some could); a visit no
        route holds gets this reason, else "capacity exhausted", or the time cap's when ``capped``.
    """
    v, c = day.visits, day.carers
    rows, legs, brk = [], [], []
    served: set[int] = set()
    day_no = int(v["day"].iat[0]) if len(v) else 0
    for j, route in enumerate(routes):
        if not route:
            continue
        carer = c.iloc[j]
        mode = str(carer["mode"])
        units, metres = day.units[mode], day.metres[mode]
        prev_loc = day.base_loc[j]
        prev_end = starts[route[0]] - int(units[prev_loc, day.node_loc[route[0]]])
        for order, node in enumerate([*route, None], start=1):
            loc = day.base_loc[j] if node is None else day.node_loc[node]
            travel = int(units[prev_loc, loc])
            arrival = prev_end + travel
            if node is None:
                visit_id, person_id, duration = RETURN, "", 0
                start = max(arrival, starts.get(-(j + 1), arrival))
            else:
                served.add(int(day.node_visit[node]))
                row = v.iloc[day.node_visit[node]]
                visit_id, person_id = str(row["visit_id"]), str(row["person_id"])
                duration, start = int(row["duration"]) * scale, starts[node]
            rows.append((str(carer["carer_id"]), day_no, order, visit_id, person_id,
                         arrival / scale, start / scale, (start + duration) / scale,
                         (start - arrival) / scale, travel / scale,
                         float(metres[prev_loc, loc]), mode))  # fmt: skip
            legs.append((*day.locs[prev_loc], *day.locs[loc]))
            prev_loc, prev_end = loc, start + duration
    for j, s in breaks.items():
        length = int(c["break_minutes"].iat[j]) * scale
        brk.append((str(c["carer_id"].iat[j]), day_no, s / scale, (s + length) / scale))
    fallback = REASON_TIME_LIMIT if capped else REASON_CAPACITY
    left = [i for i in range(len(v)) if i not in served]
    unserved = unserved_table(v, left, [reasons[i] or fallback for i in left])
    plan_routes = {
        str(c["carer_id"].iat[j]): [
            (str(v["visit_id"].iat[day.node_visit[n]]), int(day.node_slot[n])) for n in route
        ]
        for j, route in enumerate(routes)
        if route
    }
    return DayPlan(
        pd.DataFrame(rows, columns=ROUNDS_COLUMNS),
        pd.DataFrame(legs, columns=LEG_COLUMNS),
        pd.DataFrame(brk, columns=BREAK_COLUMNS),
        unserved,
        plan_routes,
        float(objective),
        float(elapsed_s),
        bool(capped),
        day.estimate,
        solver,
        int(work),
    )


def assemble(plans: Sequence[DayPlan], visits: pd.DataFrame, settings: RoundsSettings,
             estimate: bool) -> RoundsResult:  # fmt: skip
    """Stack the plans of every part and day into one result with its KPIs."""

    def stack(name: str, columns: list[str]) -> pd.DataFrame:
        frames = [getattr(p, name) for p in plans if len(getattr(p, name))]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)

    rounds = stack("rounds", ROUNDS_COLUMNS).astype(
        {"carer_id": str, "day": int, "order": int, "visit_id": str, "person_id": str, "mode": str}
    )
    for col in ("arrival", "start", "end", "wait", "travel_min", "travel_m"):
        rounds[col] = rounds[col].astype(float)
    unserved = stack("unserved", UNSERVED_COLUMNS).astype(
        {"visit_id": str, "person_id": str, "day": int, "reason": str}
    )
    breaks = stack("breaks", BREAK_COLUMNS)
    legs = stack("legs", LEG_COLUMNS)
    vtab = pd.DataFrame(
        {
            "visit_id": visits["visit_id"].astype(str).to_numpy(),
            "person_id": visits["person_id"].astype(str).to_numpy(),
            "day": visits["day"].astype(int).to_numpy(),
            "earliest": visits["earliest"].to_numpy(),
            "duration": visits["duration"].to_numpy(),
            "carers": visits["carers"].astype(int).to_numpy(),
        }
    )
    result = RoundsResult(rounds, unserved, {}, breaks, legs, vtab)
    result.kpis = kpis(result, settings)
    result.kpis["objective"] = float(sum(p.objective for p in plans))
    result.kpis["solve_s"] = float(sum(p.elapsed_s for p in plans))
    result.kpis["estimate"] = float(estimate or any(p.estimate for p in plans))
    result.kpis["time_limit_reached"] = float(any(p.capped for p in plans))
    result.kpis["search_work"] = float(sum(p.work for p in plans))
    return result


def kpis(result: RoundsResult, settings: RoundsSettings) -> dict[str, float]:
    """Named figures of a result (minutes, metres, shares), units in the names."""
    r, vt = result.rounds, result.visits
    stops = r[r["visit_id"] != RETURN]
    first = r[r["order"] == 1]
    last = r[r["visit_id"] == RETURN]
    leave = (first.set_index(["carer_id", "day"])["arrival"]
             - first.set_index(["carer_id", "day"])["travel_min"])  # fmt: skip
    back = last.set_index(["carer_id", "day"])["end"]
    paid = float((back - leave).sum()) if len(last) else 0.0
    travel = float(r["travel_min"].sum())
    served = stops.drop_duplicates(["visit_id"])
    info = vt.set_index("visit_id")
    earliest = info.loc[stops["visit_id"], "earliest"].to_numpy() if len(stops) else np.array([])
    punctual = stops["start"].to_numpy() <= earliest + settings.punctuality_tolerance_min + 1e-9
    hours_served = float((info.loc[served["visit_id"], "duration"]
                          * info.loc[served["visit_id"], "carers"]).sum() / 60)  # fmt: skip
    hours_all = float((vt["duration"] * vt["carers"]).sum() / 60)
    per_person = stops.groupby("person_id")["carer_id"].nunique()
    return {
        "visits": float(len(vt)),
        "visits_served": float(len(served)),
        "visits_unserved": float(len(result.unserved)),
        "care_hours": hours_all,
        "care_hours_served": hours_served,
        "carer_rounds": float(len(last)),
        "carers_used": float(r["carer_id"].nunique()),
        "paid_min": paid,
        "travel_min": travel,
        "travel_m": float(r["travel_m"].sum()),
        "wait_min": float(r["wait"].sum()),
        "travel_share_of_paid_time": travel / paid if paid > 0 else 0.0,
        "visits_per_carer_hour": len(stops) / (paid / 60) if paid > 0 else 0.0,
        "punctuality_share": float(punctual.mean()) if len(stops) else 1.0,
        "continuity_carers_per_person_week": float(per_person.mean()) if len(per_person) else 0.0,
    }


def combine_results(results: Sequence[RoundsResult], settings: RoundsSettings | None = None
                    ) -> RoundsResult:  # fmt: skip
    """Stack several results (e.g. the days of one patch) and recompute the KPIs over all of them.

    Continuity (distinct carers per person) is then counted across the days combined.
    """
    settings = settings or RoundsSettings()
    res = RoundsResult(
        pd.concat([r.rounds for r in results], ignore_index=True),
        pd.concat([r.unserved for r in results], ignore_index=True),
        {},
        pd.concat([r.breaks for r in results], ignore_index=True),
        pd.concat([r.legs for r in results], ignore_index=True),
        pd.concat([r.visits for r in results], ignore_index=True),
    )
    res.kpis = kpis(res, settings)
    for key in ("objective", "solve_s", "search_work"):
        res.kpis[key] = float(sum(r.kpis.get(key, 0.0) for r in results))
    res.kpis["estimate"] = float(any(r.kpis.get("estimate", 0.0) for r in results))
    res.kpis["time_limit_reached"] = float(
        any(r.kpis.get("time_limit_reached", 0.0) for r in results)
    )
    return res


def legs_geometry(result: RoundsResult, travel: dict[str, TravelTimes]) -> gpd.GeoDataFrame:
    """The street path of every leg of the rounds, for maps (EPSG:27700).

    Parameters
    ----------
    result : rounds to draw.
    travel : the same travel objects as used for planning; ``travel[mode].path`` draws each leg.

    Returns
    -------
    GeoDataFrame with the columns of ``result.rounds`` and a LineString geometry per leg.
    """
    geoms = []
    for (_, row), (_, leg) in zip(result.rounds.iterrows(), result.legs.iterrows(), strict=True):
        a, b = Point(leg.from_x, leg.from_y), Point(leg.to_x, leg.to_y)
        geoms.append(LineString([a, b]) if a.equals(b) else travel[row["mode"]].path(a, b))
    return gpd.GeoDataFrame(result.rounds.copy(), geometry=geoms, crs="EPSG:27700")


CONTINUITY_COLUMNS = [
    "people", "carers_per_person_median", "carers_per_person_p90", "carers_per_person_mean",
    "top2_share",
]  # fmt: skip


def continuity(rounds: pd.DataFrame, visit_group: pd.Series | None = None) -> pd.DataFrame:
    """Continuity of carer over the rounds (a week), per group of people and in total.

    For each person served: the distinct carers who visited them, and the share of their carer
    visits (each carer of a double-up counts) made by their two most frequent carers.

    Parameters
    ----------
    rounds : a rounds table (``ROUNDS_COLUMNS``) over the days to count (a week).
    visit_group : ``visit_id`` → group (e.g. the lot of the person's home); a person's group is
        that of their first visit. None: only the total.

    Returns
    -------
    DataFrame indexed by group, plus ``"total"`` (all people): ``people``,
    ``carers_per_person_median``, ``carers_per_person_p90`` (90th percentile, linear
    interpolation), ``carers_per_person_mean``, ``top2_share`` (mean over people, 0–1).
    """
    stops = rounds[rounds["visit_id"] != RETURN]
    pairs = stops.groupby(["person_id", "carer_id"]).size().rename("visits").reset_index()
    pairs = pairs.sort_values(["person_id", "visits", "carer_id"], ascending=[True, False, True])
    top2 = pairs[pairs.groupby("person_id").cumcount() < 2].groupby("person_id")["visits"].sum()
    person = pd.DataFrame({
        "carers": pairs.groupby("person_id").size(),
        "top2_share": top2 / pairs.groupby("person_id")["visits"].sum(),
    })  # fmt: skip
    if visit_group is not None:
        first = stops.sort_values(["day", "start", "visit_id"]).drop_duplicates("person_id")
        person["group"] = first.set_index("person_id")["visit_id"].map(visit_group)

    def figures(frame: pd.DataFrame) -> dict[str, float]:
        c = frame["carers"].to_numpy(dtype=float)
        return {
            "people": float(len(frame)),
            "carers_per_person_median": float(np.median(c)) if len(c) else float("nan"),
            "carers_per_person_p90": float(np.percentile(c, 90)) if len(c) else float("nan"),
            "carers_per_person_mean": float(c.mean()) if len(c) else float("nan"),
            "top2_share": float(frame["top2_share"].mean()) if len(c) else float("nan"),
        }

    rows = {}
    if visit_group is not None:
        for group, frame in person.dropna(subset=["group"]).groupby("group"):
            rows[group] = figures(frame)
    rows["total"] = figures(person)
    table = pd.DataFrame.from_dict(rows, orient="index", columns=CONTINUITY_COLUMNS)
    table.index.name = "group"
    return table
