"""Turn-by-turn directions along the street network, for carers' run sheets.

A leg's :class:`~patchplan.matrix.Route` (from ``NetworkTravel.route``) lists the street edges
walked or driven; :func:`steps` merges consecutive edges of one street into a :class:`Step` and
names the turn between streets from the edges' bearings; :func:`describe` writes them as one
sentence ("Walk 350 m east along Mill Road, then turn left onto Lime Street for 750 m.").
:func:`leg_routes` gives the route of every leg of a set of rounds, once, for the run sheets, the
GPX tracks and the planner's map.

Bearings are compass degrees clockwise from grid north (EPSG:27700); lengths are metres.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
from shapely.geometry import LineString, Point

from patchplan.errors import NetworkError
from patchplan.matrix import NetworkTravel, Route, RouteEdge, TravelTimes

log = logging.getLogger(__name__)

__all__ = ["Step", "describe", "distance_text", "leg_routes", "steps", "turn_of"]

VERBS = {"walk": "Walk", "drive": "Drive", "cycle": "Cycle"}
NO_STREETS = "Straight-line estimate: no street directions are available for this leg."
"""What a sheet says for a leg of the straight-line estimate, which knows no streets."""

_COMPASS = (
    "north",
    "north-east",
    "east",
    "south-east",
    "south",
    "south-west",
    "west",
    "north-west",
)


@dataclass(frozen=True)
class Step:
    """A stretch of one street, entered by a turn.

    Attributes
    ----------
    street : how to call it ("Mill Road", "A6003", "unnamed path")
    names : the OSM ``name`` of every edge merged into it (for checking directions against the
        network)
    length_m : metres along it
    turn : how it is entered: "start" for the first step, else "straight on", "bear left",
        "turn left", "sharp left", "make a U-turn" (and the same to the right)
    heading : compass heading at its start ("north", "south-east", …)
    """

    street: str
    names: tuple[str, ...]
    length_m: float
    turn: str
    heading: str


def turn_of(bearing_in: float, bearing_out: float) -> str:
    """The turn from travelling on ``bearing_in`` to ``bearing_out`` (degrees clockwise).

    Within 20° is straight on; to 45° a bear; to 135° a turn; to 170° a sharp turn; beyond, a
    U-turn.
    """
    delta = (bearing_out - bearing_in + 180.0) % 360.0 - 180.0
    size = abs(delta)
    if size <= 20:
        return "straight on"
    if size > 170:
        return "make a U-turn"
    side = "right" if delta > 0 else "left"
    if size <= 45:
        return f"bear {side}"
    if size <= 135:
        return f"turn {side}"
    return f"sharp {side}"


def _heading(bearing: float) -> str:
    return _COMPASS[int(((bearing % 360.0) + 22.5) // 45.0) % 8]


def steps(edges: Sequence[RouteEdge]) -> list[Step]:
    """Merge a route's edges into steps, one per street stretch, with the turn into each.

    Consecutive edges of one named street are one step however the street bends; consecutive
    unnamed edges are one step until a real turn (more than 45°), so a walker still hears "turn
    left onto an unnamed path".
    """
    out: list[Step] = []
    prev: RouteEdge | None = None
    for edge in edges:
        named = bool(edge.name or edge.ref)
        if prev is not None and out and edge.label == out[-1].street:
            turn = turn_of(prev.end_bearing, edge.start_bearing)
            if named or turn in ("straight on", "bear left", "bear right"):
                last = out[-1]
                out[-1] = Step(
                    last.street,
                    last.names + ((edge.name,) if edge.name else ()),
                    last.length_m + edge.length_m,
                    last.turn,
                    last.heading,
                )
                prev = edge
                continue
        turn = "start" if prev is None else turn_of(prev.end_bearing, edge.start_bearing)
        out.append(
            Step(
                edge.label,
                (edge.name,) if edge.name else (),
                edge.length_m,
                turn,
                _heading(edge.start_bearing),
            )
        )
        prev = edge
    return out


def distance_text(metres: float) -> str:
    """Metres for a reader: "80 m", "350 m" (tens under a kilometre), "1.2 km"."""
    if metres >= 1000:
        return f"{metres / 1000:.1f} km"
    return f"{max(10, round(metres, -1)):.0f} m" if metres >= 5 else f"{metres:.0f} m"


def _onto(street: str) -> str:
    return f"an {street}" if street.startswith("unnamed") else street


def describe(route: Route, mode: str) -> str:
    """The leg as one sentence of directions, or a plain statement when there are none.

    Examples: "Walk 1.0 km east along Mill Road, then turn left onto Lime Street for 750 m."; a
    straight-line estimate says :data:`NO_STREETS`; two points on the same street corner say so.
    """
    if route.estimate:
        return NO_STREETS
    if route.geometry.length == 0:
        return "Same place: no travel."
    verb = VERBS.get(mode, mode.capitalize())
    parts = steps(route.edges)
    if not parts:
        along = f" along {_onto(route.street_near)}" if route.street_near else ""
        return f"{verb} {distance_text(route.geometry.length)}{along} to the next door."
    first, rest = parts[0], parts[1:]
    text = f"{verb} {distance_text(first.length_m)} {first.heading} along {_onto(first.street)}"
    for step in rest:
        if step.turn == "straight on":
            text += (
                f", then straight on along {_onto(step.street)} for {distance_text(step.length_m)}"
            )
        else:
            text += (
                f", then {step.turn} onto {_onto(step.street)} for {distance_text(step.length_m)}"
            )
    return text + "."


def leg_routes(
    rounds: pd.DataFrame, legs: pd.DataFrame, travel: Mapping[str, TravelTimes]
) -> list[Route]:
    """The route of every leg of a set of rounds, aligned with ``rounds`` (EPSG:27700).

    Parameters
    ----------
    rounds : rows of ``RoundsResult.rounds`` (the ``mode`` column chooses the travel object).
    legs : the matching rows of ``RoundsResult.legs`` (``from_x, from_y, to_x, to_y``).
    travel : the study's travel objects by mode; one with a ``route`` method gives street routes,
        any other a straight line from its ``path``.

    Returns
    -------
    list of Route
        A leg that stays put (same point) is a zero-length route; a leg the network cannot route
        (a point that cannot be snapped) is drawn straight and marked ``estimate`` (logged).
    """
    cache: dict[tuple[str, float, float, float, float], Route] = {}
    out = []
    modes = rounds["mode"].astype(str).to_numpy()
    # a leg's network minutes are at most its planned travel (access and parking come on top),
    # so the street search can stop there rather than cover the whole city
    bounds = rounds["travel_min"].to_numpy(dtype=float) + 0.5
    for mode, leg, bound in zip(modes, legs.itertuples(index=False), bounds, strict=True):
        key = (mode, float(leg.from_x), float(leg.from_y), float(leg.to_x), float(leg.to_y))
        if key not in cache:
            a, b = Point(key[1], key[2]), Point(key[3], key[4])
            cache[key] = _route(travel[mode], a, b, bound)
        out.append(cache[key])
    return out


def _route(travel: TravelTimes, a: Point, b: Point, max_minutes: float) -> Route:
    if a.equals(b):
        return Route(LineString([a, b]), estimate=bool(travel.estimate))
    route = getattr(travel, "route", None)
    if route is None:
        return Route(travel.path(a, b), estimate=True)
    try:
        if isinstance(travel, NetworkTravel):
            return travel.route(a, b, max_minutes=max_minutes)
        return route(a, b)
    except NetworkError as exc:
        log.warning("no street route for a leg, drawn straight: %s", exc)
        return Route(LineString([a, b]), estimate=True)
