"""An HHCRSP instance in patchplan's own nouns: visits, carers, travel and rounds settings.

The benchmark must measure the product, so an instance goes through :func:`plan_rounds` like a
council's day would:

* a single-service patient is a visit needing skill ``s<type>``;
* a **simultaneous** double service is a double-up whose two carers need different skills
  (``skills`` / ``skills_2``);
* a **precedence** double service is two visits, the higher type's ``follows`` the lower's with
  ``gap_min = mind``, ``gap_max = maxd``;
* ``e`` is the earliest start, ``l`` the soft ``due`` time; there is no hard latest, shift or span
  (set far beyond any route);
* caregivers are carers with skills ``s<type>`` for their qualifications, based at the depot;
* travel is the instance's Euclidean distance, one minute per unit (``StraightLineTravel`` at
  1 m/min, circuity 1, on the x, y coordinates);
* the objective ``D + T + Tmax`` (a third of it is the published value) is our travel cost plus
  ``lateness_cost_per_min = 1`` and ``max_lateness_cost_per_min = 1``, no fixed cost per carer.

:func:`services_of` reads the rounds back as services per caregiver, for the independent checker.
"""

from __future__ import annotations

from dataclasses import replace

import geopandas as gpd
import pandas as pd
from shapely.geometry import Point

from benchmarks.hhcrsp import Instance, Service
from patchplan.matrix import StraightLineTravel
from patchplan.rounds import RETURN, RoundsResult, RoundsSettings

SCALE = 1000
"""Internal time units per minute: travel is rounded up to 0.001, so the search sees ``D`` to
within 0.001 per leg (the checker recomputes it exactly)."""
OPEN = 3_000
"""Minutes: hard latest starts and shift ends far beyond any route (the instances have none)."""

TRAVEL = {"drive": StraightLineTravel("drive", speed_kmh=0.06, circuity=1.0)}  # 1 unit per minute

SETTINGS = RoundsSettings(
    time_units_per_min=SCALE,
    carer_fixed_cost_min=0,
    continuity_cost_min=0,
    unserved_penalty_min=100_000,
    lateness_cost_per_min=1,
    max_lateness_cost_per_min=1,
    max_visits_per_problem=0,  # one problem, as the literature solves it
    deterministic=False,
    seed_with_pyvrp=False,
)


def settings_for(limit_s: float, **changes) -> RoundsSettings:
    """Benchmark settings with a wall-clock limit (seconds) for the whole instance."""
    return replace(SETTINGS, time_limit_s=limit_s, linked_iterations=10**9, **changes)


def to_tables(inst: Instance) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The instance's visits and carers tables (``docs/data-contracts.md``)."""
    rows = []
    for node in range(1, inst.n_patients + 1):
        base = {
            "person_id": str(node), "day": 0, "earliest": float(inst.e[node]), "latest": OPEN,
            "due": float(inst.l[node]), "carers": 1, "skills_2": "", "follows": "",
            "gap_min": 0.0, "gap_max": 0.0, "x": inst.xy[node, 0], "y": inst.xy[node, 1],
        }  # fmt: skip
        pair = inst.pair(node)
        if pair is None:
            (s,) = (int(t) for t in inst.requests[node].nonzero()[0])
            rows.append({**base, "visit_id": str(node), "skills": f"s{s}",
                         "duration": _duration(inst, node, s)})  # fmt: skip
            continue
        low, high, mind, maxd = pair
        if mind == maxd == 0:
            rows.append({**base, "visit_id": str(node), "carers": 2, "skills": f"s{low}",
                         "skills_2": f"s{high}", "duration": _duration(inst, node, low)})  # fmt: skip
        else:
            rows.append({**base, "visit_id": f"{node}.{low}", "skills": f"s{low}",
                         "duration": _duration(inst, node, low)})  # fmt: skip
            rows.append({**base, "visit_id": f"{node}.{high}", "skills": f"s{high}",
                         "duration": _duration(inst, node, high), "follows": f"{node}.{low}",
                         "gap_min": mind, "gap_max": maxd})  # fmt: skip
    visits = pd.DataFrame(rows)
    visits = gpd.GeoDataFrame(
        visits.drop(columns=["x", "y"]), geometry=gpd.points_from_xy(visits.x, visits.y)
    )
    carers = gpd.GeoDataFrame(
        {
            "carer_id": [str(v) for v in range(inst.n_vehicles)],
            "mode": "drive", "shift_start": 0, "shift_end": OPEN, "max_minutes": OPEN,
            "break_earliest": 0, "break_latest": 0, "break_minutes": 0,
            "skills": [",".join(f"s{s}" for s in q.nonzero()[0]) for q in inst.qualified],
        },  # fmt: skip
        geometry=[Point(*inst.xy[0])] * inst.n_vehicles,
    )
    return visits, carers


def _duration(inst: Instance, node: int, service: int) -> int:
    """Service minutes (every caregiver's are equal in these files; whole minutes)."""
    minutes = inst.processing[node, :, service]
    if minutes.min() != minutes.max() or minutes[0] != int(minutes[0]):
        raise ValueError(f"{inst.name}: node {node} service {service}: unequal or fractional times")
    return int(minutes[0])


def services_of(inst: Instance, result: RoundsResult) -> list[list[Service]]:
    """Each caregiver's services in visiting order, from the rounds (for the checker).

    A double-up's slot is not in the rounds table: the caregiver takes the type it is qualified
    for, the lower type when qualified for both (and its partner the other).
    """
    stops = result.rounds[result.rounds.visit_id != RETURN]
    taken: dict[str, int] = {}
    routes: list[list[Service]] = [[] for _ in range(inst.n_vehicles)]
    for row in stops.sort_values(["carer_id", "order"]).itertuples():
        v, vid = int(row.carer_id), str(row.visit_id)
        node_text, _, type_text = vid.partition(".")
        node = int(node_text)
        if type_text:
            routes[v].append((node, int(type_text)))
            continue
        types = [int(t) for t in inst.requests[node].nonzero()[0]]
        if len(types) == 1:
            routes[v].append((node, types[0]))
            continue
        mine = [s for s in types if inst.qualified[v, s] and s != taken.get(vid)]
        other = _partner(stops, vid, v)
        if len(mine) > 1 and other is not None:  # give the partner what only it can do
            theirs = [s for s in types if inst.qualified[other, s]]
            mine = [s for s in mine if len(theirs) > 1 or s not in theirs] or mine
        taken[vid] = mine[0]
        routes[v].append((node, mine[0]))
    return routes


def _partner(stops: pd.DataFrame, visit_id: str, carer: int) -> int | None:
    others = stops.loc[(stops.visit_id == visit_id) & (stops.carer_id != str(carer)), "carer_id"]
    return int(others.iat[0]) if len(others) else None
