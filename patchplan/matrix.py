"""Travel-time matrices between points, on a street network or by the labelled straight-line estimate.

Every downstream stage asks a :class:`TravelTimes` object for a :class:`TravelMatrix`; it never needs
to know whether the times come from an OpenStreetMap network or from the estimate, except that
``estimate=True`` must be shown wherever such figures are published.

Units: minutes and metres. Points are in EPSG:27700.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import LineString, Point

REJECT_COLUMNS = ["side", "position", "distance_m", "reason"]

DEFAULT_SPEED_KMH = {"walk": 4.5, "cycle": 14.0, "drive": 30.0}
"""Door-to-door planning speeds for the straight-line estimate, km/h (urban driving averages ~30 km/h)."""

DEFAULT_CIRCUITY = {"walk": 1.3, "cycle": 1.3, "drive": 1.4}
"""Network distance ÷ crow-fly distance. UK urban studies find 1.2–1.4 (walking) and 1.3–1.5 (driving)."""


@dataclass(frozen=True)
class TravelMatrix:
    """Many-to-many travel times (minutes) and distances (metres) for one mode.

    Where ``reachable`` is False the pair has no route (or a point could not be snapped) and
    ``minutes``/``metres`` hold NaN: callers must check ``reachable`` and never use those values.
    """

    minutes: np.ndarray
    metres: np.ndarray
    reachable: np.ndarray
    mode: str
    estimate: bool = False
    rejects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECT_COLUMNS))

    @property
    def n_unreachable(self) -> int:
        """Number of origin–destination pairs with no route."""
        return int((~self.reachable).sum())

    @property
    def shape(self) -> tuple[int, int]:
        return self.minutes.shape  # type: ignore[return-value]


@runtime_checkable
class TravelTimes(Protocol):
    """Anything that gives travel-time matrices and leg geometries for one mode."""

    mode: str
    estimate: bool

    def matrix(self, origins: gpd.GeoSeries, destinations: gpd.GeoSeries | None = None) -> TravelMatrix:
        """Travel from every origin to every destination (default: origins to origins)."""
        ...

    def path(self, origin: Point, destination: Point) -> LineString:
        """The geometry of the leg from ``origin`` to ``destination`` (EPSG:27700)."""
        ...


def _coords(points: gpd.GeoSeries) -> np.ndarray:
    return np.column_stack([points.x.to_numpy(), points.y.to_numpy()])


@dataclass(frozen=True)
class StraightLineTravel:
    """The straight-line estimate: crow-fly distance × circuity, at a constant door-to-door speed.

    For areas with no network file (e.g. Sheffield until a South Yorkshire extract is supplied).
    Every figure from it is an *estimate* and is labelled so.

    Attributes
    ----------
    mode : walk | cycle | drive
    speed_kmh : average speed, km/h (default from ``DEFAULT_SPEED_KMH``)
    circuity : network ÷ crow-fly distance ratio (default from ``DEFAULT_CIRCUITY``)
    stop_overhead_min : minutes added to every leg between distinct points (parking, walk to the door)
    """

    mode: str = "drive"
    speed_kmh: float | None = None
    circuity: float | None = None
    stop_overhead_min: float = 0.0
    estimate: bool = True

    @property
    def speed_m_per_min(self) -> float:
        kmh = self.speed_kmh if self.speed_kmh is not None else DEFAULT_SPEED_KMH[self.mode]
        return kmh * 1000.0 / 60.0

    @property
    def circuity_factor(self) -> float:
        return self.circuity if self.circuity is not None else DEFAULT_CIRCUITY[self.mode]

    def matrix(self, origins: gpd.GeoSeries, destinations: gpd.GeoSeries | None = None) -> TravelMatrix:
        """Estimated travel between points: metres = crow-fly × circuity; minutes = metres ÷ speed + overhead."""
        a = _coords(origins)
        b = a if destinations is None else _coords(destinations)
        crow = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
        metres = crow * self.circuity_factor
        minutes = metres / self.speed_m_per_min + np.where(crow > 0, self.stop_overhead_min, 0.0)
        return TravelMatrix(
            minutes=minutes,
            metres=metres,
            reachable=np.ones_like(metres, dtype=bool),
            mode=self.mode,
            estimate=True,
        )

    def path(self, origin: Point, destination: Point) -> LineString:
        """A straight segment: the estimate knows no streets."""
        return LineString([origin, destination])
