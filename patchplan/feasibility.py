"""Walking figures per patch, from the proposed rounds and the one carer model.

There is no separate walking fleet: the proposed arrangement's carers (``workforce``: shifts, breaks,
peak-hour sizing, walkers living near their rounds) are planned once with the ``[rounds]``
settings, and the walking figures are read from that plan.

* **Visits on foot** (:func:`walking_figures`) — the one definition used everywhere: the share of a
  patch's visits served in the proposed week that walking carers made (each carer of a double-up
  counts as one stop). The total is the same ratio over every patch (on-foot stops ÷ stops), not an
  average of shares.
* **Walking class** — decided before planning by a cheap test (:func:`walking_reach`, no routing):
  the share of a patch's visits within ``max_walk_leg_min`` on foot, there and back, of a walking
  carer's home (the rule by which the rounds let a walker serve a visit). ``walkable``: at least
  ``walkable_share``; ``car-dependent``: under ``car_dependent_share``, and then no walking carers
  are planned there; ``mixed`` between.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from patchplan._validate import collect, ordered, share
from patchplan.matrix import TravelTimes
from patchplan.rounds import RETURN

__all__ = ["FeasibilitySettings", "walking_classes", "walking_figures", "walking_reach"]

WALK_CLASSES = ("walkable", "mixed", "car-dependent")


@dataclass(frozen=True)
class FeasibilitySettings:
    """Thresholds of the walking classes (scenario section ``[feasibility]``).

    Attributes
    ----------
    walkable_share : share of a patch's visits within a walk of walking carers' homes at or above
        which the patch is walkable (0–1).
    car_dependent_share : share below which the patch is car-dependent and gets no walking carers.
    """

    walkable_share: float = 0.9
    car_dependent_share: float = 0.5

    def thresholds(self, max_walk_leg_min: float) -> str:
        """The classes in words, for the report."""
        walk = f"within a {max_walk_leg_min:.0f}-minute walk (there and back) of a walking carer's home"
        return (
            f"walkable: at least {self.walkable_share:.0%} of the lot's visits are {walk}; "
            f"car-dependent: fewer than {self.car_dependent_share:.0%} (no walking carers are "
            f"planned there); mixed: in between"
        )

    def problems(self) -> list[str]:
        """Range and cross-field problems of these settings, each naming its key (empty when valid)."""
        return collect(
            share("walkable_share", self.walkable_share),
            share("car_dependent_share", self.car_dependent_share),
            ordered("car_dependent_share", self.car_dependent_share,
                    "walkable_share", self.walkable_share),
        )  # fmt: skip


def walking_reach(
    visits: pd.DataFrame, homes: gpd.GeoSeries, walk: TravelTimes, max_walk_leg_min: float
) -> np.ndarray:
    """Per visit, whether some walking carer's home reaches it on foot both ways (bool array).

    Parameters
    ----------
    visits : visits with Point geometry (EPSG:27700).
    homes : where walking carers start and end (EPSG:27700).
    walk : walking travel times.
    max_walk_leg_min : longest walk allowed for one leg, minutes (0 = no limit).
    """
    if len(visits) == 0 or len(homes) == 0:
        return np.zeros(len(visits), dtype=bool)
    xy = np.column_stack([visits.geometry.x.to_numpy(), visits.geometry.y.to_numpy()])
    places, inverse = np.unique(xy, axis=0, return_inverse=True)
    crs = getattr(visits, "crs", None)
    points = gpd.GeoSeries(gpd.points_from_xy(places[:, 0], places[:, 1]), crs=crs)
    homes = gpd.GeoSeries(homes.drop_duplicates().to_numpy(), crs=crs)
    there, back = walk.matrix(homes, points), walk.matrix(points, homes)
    limit = max_walk_leg_min if max_walk_leg_min > 0 else np.inf
    ok = there.reachable & (np.nan_to_num(there.minutes, nan=np.inf) <= limit)
    ok &= (back.reachable & (np.nan_to_num(back.minutes, nan=np.inf) <= limit)).T
    return ok.any(axis=0)[inverse.reshape(-1)]


def walking_classes(reach: pd.DataFrame, settings: FeasibilitySettings) -> pd.DataFrame:
    """Each patch's walking class from its visits within walking reach.

    Parameters
    ----------
    reach : ``patch_id``, ``visits``, ``visits_in_walking_reach`` (counts).

    Returns
    -------
    DataFrame ``patch_id``, ``walk_reach_share`` (0–1), ``walk_class``.
    """
    table = reach.groupby("patch_id")[["visits", "visits_in_walking_reach"]].sum()
    share = table["visits_in_walking_reach"] / table["visits"].where(table["visits"] > 0)
    share = share.fillna(0.0)
    walk_class = np.where(
        share >= settings.walkable_share,
        "walkable",
        np.where(share < settings.car_dependent_share, "car-dependent", "mixed"),
    )
    return pd.DataFrame(
        {"patch_id": table.index, "walk_reach_share": share.to_numpy(), "walk_class": walk_class}
    ).reset_index(drop=True)


def walking_figures(
    rounds: pd.DataFrame, visits: pd.DataFrame, visit_patch: pd.Series, classes: pd.DataFrame
) -> pd.DataFrame:
    """Walking figures per patch and in total, from the proposed rounds.

    Parameters
    ----------
    rounds : the proposed rounds (``RoundsResult.rounds``) over the planned days.
    visits : the visits planned (for durations).
    visit_patch : ``visit_id`` → ``patch_id``.
    classes : :func:`walking_classes` (``patch_id``, ``walk_reach_share``, ``walk_class``).

    Returns
    -------
    DataFrame indexed by ``patch_id`` plus ``"total"``: ``stops``, ``stops_on_foot`` (carer
    visits made), ``walk_visit_share`` (stops on foot ÷ stops: *visits on foot*),
    ``walk_hours_share`` (care hours on foot ÷ care hours served), ``walking_carers`` (distinct
    walkers with a visit), ``longest_walk_leg_min``, ``mean_walk_leg_min`` (walking legs between
    visits), ``walk_reach_share`` and ``walk_class`` (from ``classes``; blank in the total).
    """
    stops = rounds[rounds["visit_id"] != RETURN].copy()
    stops["patch_id"] = stops["visit_id"].map(visit_patch)
    stops = stops.dropna(subset=["patch_id"])
    stops["minutes"] = stops["visit_id"].map(visits.set_index("visit_id")["duration"]).astype(float)
    stops["on_foot"] = stops["mode"] == "walk"
    legs = stops[stops["on_foot"] & (stops["order"] > 1)]

    def figures(s: pd.DataFrame, legs: pd.DataFrame) -> dict[str, float]:
        walked = s[s["on_foot"]]
        return {
            "stops": float(len(s)),
            "stops_on_foot": float(len(walked)),
            "walk_visit_share": len(walked) / len(s) if len(s) else float("nan"),
            "walk_hours_share": float(walked["minutes"].sum() / s["minutes"].sum())
            if s["minutes"].sum() > 0
            else float("nan"),
            "walking_carers": float(walked["carer_id"].nunique()),
            "longest_walk_leg_min": float(legs["travel_min"].max()) if len(legs) else 0.0,
            "mean_walk_leg_min": float(legs["travel_min"].mean()) if len(legs) else 0.0,
        }

    rows = {p: figures(s, legs[legs["patch_id"] == p]) for p, s in stops.groupby("patch_id")}
    for p in classes["patch_id"]:
        rows.setdefault(p, figures(stops.iloc[:0], legs.iloc[:0]))
    order = [*sorted(rows), "total"]
    rows["total"] = figures(stops, legs)
    table = pd.DataFrame.from_dict(rows, orient="index").loc[order]
    table.index.name = "patch_id"
    return table.join(classes.set_index("patch_id")[["walk_reach_share", "walk_class"]])
