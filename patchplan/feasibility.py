"""Can a patch be worked on foot? Walking-carer feasibility from real rounds.

:func:`walking_feasibility` plans a patch's day twice with :func:`patchplan.rounds.plan_rounds`:
with walking carers only, then with a mixed fleet (the same walkers plus as many drivers). It reports
the share of visits and care hours served on foot, the walking carers needed, the longest and mean
walking leg (minutes) and a class (walkers start from homes spread over the patch, drivers from
its base, and no walking leg is longer than ``max_walk_leg_min``): ``walkable`` (share of visits on foot ≥ ``walkable_share``),
``car-dependent`` (< ``car_dependent_share``) or ``mixed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
import pandas as pd
from shapely.geometry import Point

from patchplan._validate import at_least, at_most, between, collect, ordered, positive, share
from patchplan.matrix import TravelTimes
from patchplan.rounds import RETURN, RoundsSettings, plan_rounds
from patchplan.workforce import local_homes

__all__ = ["FeasibilitySettings", "walking_feasibility"]


@dataclass(frozen=True)
class FeasibilitySettings:
    """Settings of the walking-feasibility test (scenario section ``[feasibility]``).

    Attributes
    ----------
    walkable_share : share of visits served on foot at or above which a patch is walkable.
    car_dependent_share : share of visits on foot below which a patch is car-dependent.
    shift_start, shift_end : default carer shift, minutes after midnight.
    max_minutes : default longest round, minutes.
    break_earliest, break_latest, break_minutes : default break (start window and length, min).
    hours_per_carer : planned care hours per carer, used to size the fleet offered to the solver.
    spare_carers : carers offered beyond the sized fleet.
    time_limit_s, seed, solution_limit : solver limits for each of the two plans.
    max_walk_leg_min : longest walking leg, minutes (as ``RoundsSettings.max_walk_leg_min``).
    walkers_live_locally : walkers start and end at homes spread over the patch's visits
        (:func:`patchplan.workforce.local_homes`) rather than at the patch base.
    """

    walkable_share: float = 0.9
    car_dependent_share: float = 0.5
    shift_start: int = 420
    shift_end: int = 1320
    max_minutes: int = 600
    break_earliest: int = 720
    break_latest: int = 840
    break_minutes: int = 30
    hours_per_carer: float = 5.0
    spare_carers: int = 2
    time_limit_s: float = 20.0
    seed: int = 1
    solution_limit: int = 1_000
    max_walk_leg_min: float = 30.0
    walkers_live_locally: bool = True

    def problems(self) -> list[str]:
        """Range and cross-field problems of these settings, each naming its key (empty when valid)."""
        return collect(
            share("walkable_share", self.walkable_share),
            share("car_dependent_share", self.car_dependent_share),
            ordered("car_dependent_share", self.car_dependent_share,
                    "walkable_share", self.walkable_share),
            between("shift_start", self.shift_start, 0, 24 * 60),
            ordered("shift_start", self.shift_start, "shift_end", self.shift_end),
            at_most("shift_end", self.shift_end, 24 * 60),
            positive("max_minutes", self.max_minutes),
            ordered("break_earliest", self.break_earliest, "break_latest", self.break_latest),
            at_least("break_minutes", self.break_minutes, 0),
            positive("hours_per_carer", self.hours_per_carer),
            at_least("spare_carers", self.spare_carers, 0),
            positive("time_limit_s", self.time_limit_s),
            at_least("seed", self.seed, 0),
            at_least("solution_limit", self.solution_limit, 1),
            at_least("max_walk_leg_min", self.max_walk_leg_min, 0),
        )  # fmt: skip


def _fleet(
    n: int, mode: str, base: Point | list[Point], s: FeasibilitySettings, skills: str, crs
) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "carer_id": [f"{mode}-{k + 1:02d}" for k in range(n)],
            "mode": mode,
            "shift_start": s.shift_start,
            "shift_end": s.shift_end,
            "max_minutes": s.max_minutes,
            "break_earliest": s.break_earliest,
            "break_latest": s.break_latest,
            "break_minutes": s.break_minutes,
            "skills": skills,
            "provider_id": "",
        },
        geometry=list(base) if isinstance(base, list) else [base] * n,
        crs=crs,
    )


def walking_feasibility(
    visits: gpd.GeoDataFrame,
    base: Point,
    travel: dict[str, TravelTimes],
    settings: FeasibilitySettings | None = None,
) -> pd.Series:
    """Plan one patch-day on foot, then with a mixed fleet, and classify the patch.

    Parameters
    ----------
    visits : the patch's visits for one day (``docs/data-contracts.md``).
    base : the patch base where drivers (and, unless ``walkers_live_locally``, walkers) start and
        end (EPSG:27700).
    travel : ``{"walk": ..., "drive": ...}`` travel times (``drive`` only needed for the mixed plan;
        without it the mixed figures repeat the walking ones).
    settings : thresholds, carer defaults and solver limits.

    Returns
    -------
    pandas.Series
        ``visits``, ``care_hours``, ``visits_on_foot_share``, ``care_hours_on_foot_share``,
        ``walking_carers_needed``, ``longest_walk_leg_min``, ``mean_walk_leg_min``,
        ``mixed_visits_on_foot_share``, ``mixed_walking_carers``, ``mixed_driving_carers``,
        ``mixed_unserved``, ``estimate``, ``time_limit_reached`` (1 when a plan was cut by the
        wall-clock cap, so the figures may vary between runs) and ``class`` (walkable | mixed |
        car-dependent).
    """
    s = settings or FeasibilitySettings()
    rs = RoundsSettings(time_limit_s=s.time_limit_s, seed=s.seed, solution_limit=s.solution_limit,
                        max_walk_leg_min=s.max_walk_leg_min)  # fmt: skip
    hours = float((visits["duration"] * visits["carers"]).sum() / 60)
    n = max(2, math.ceil(hours / s.hours_per_carer) + s.spare_carers)
    skills = ",".join(
        sorted({k.strip() for t in visits["skills"] for k in str(t).split(",") if k.strip()})
    )
    homes = local_homes(visits, n) if s.walkers_live_locally and len(visits) else base
    walkers = _fleet(n, "walk", homes, s, skills, visits.crs)
    on_foot = plan_rounds(visits, walkers, {"walk": travel["walk"]}, rs)
    legs = on_foot.rounds[on_foot.rounds["visit_id"] != RETURN]
    all_legs = on_foot.rounds["travel_min"]
    share = on_foot.kpis["visits_served"] / len(visits) if len(visits) else 1.0
    out: dict[str, float | str] = {
        "visits": float(len(visits)),
        "care_hours": hours,
        "visits_on_foot_share": share,
        "care_hours_on_foot_share": on_foot.kpis["care_hours_served"] / hours if hours else 1.0,
        "walking_carers_needed": on_foot.kpis["carers_used"],
        "longest_walk_leg_min": float(all_legs.max()) if len(all_legs) else 0.0,
        "mean_walk_leg_min": float(legs["travel_min"].mean()) if len(legs) else 0.0,
    }
    if "drive" in travel:
        fleet = pd.concat(
            [walkers, _fleet(n, "drive", base, s, skills, visits.crs)], ignore_index=True
        )
        mixed = plan_rounds(visits, gpd.GeoDataFrame(fleet, crs=visits.crs), travel, rs)
        stops = mixed.rounds[mixed.rounds["visit_id"] != RETURN]
        walked = stops[stops["mode"] == "walk"]["visit_id"].nunique()
        out["mixed_visits_on_foot_share"] = walked / len(visits) if len(visits) else 1.0
        out["mixed_walking_carers"] = float(stops[stops["mode"] == "walk"]["carer_id"].nunique())
        out["mixed_driving_carers"] = float(stops[stops["mode"] == "drive"]["carer_id"].nunique())
        out["mixed_unserved"] = float(len(mixed.unserved))
        capped = max(on_foot.kpis["time_limit_reached"], mixed.kpis["time_limit_reached"])
    else:
        capped = on_foot.kpis["time_limit_reached"]
        out["mixed_visits_on_foot_share"] = share
        out["mixed_walking_carers"] = out["walking_carers_needed"]
        out["mixed_driving_carers"] = 0.0
        out["mixed_unserved"] = float(len(on_foot.unserved))
    out["estimate"] = float(any(getattr(t, "estimate", False) for t in travel.values()))
    out["time_limit_reached"] = float(capped)
    if share >= s.walkable_share:
        out["class"] = "walkable"
    elif share < s.car_dependent_share:
        out["class"] = "car-dependent"
    else:
        out["class"] = "mixed"
    return pd.Series(out, dtype=object)
