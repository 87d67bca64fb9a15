"""GPX 1.1 files of carers' rounds, which phone navigation apps open (INTERNAL: they locate homes).

One file per carer and day (:func:`gpx_document`): a waypoint for the round's start and one per
visit, each with its planned time, and a track along the streets (the legs' street routes; straight
lines for the labelled straight-line estimate). Coordinates are WGS84 (EPSG:4326) as GPX requires,
to 6 decimals (about 0.1 m).

Dates: a study plans days of the week (0 = Monday) with no calendar date. GPX times need one, so
day ``d`` is the date ``[outputs] gpx_week_start`` + ``d`` days (a Monday; default 2024-01-01), and
the planned times are UK clock times (Europe/London) written in UTC as the GPX schema requires
(``2024-01-01T07:05:00Z``). Set ``gpx_week_start`` to the week the rounds will be worked.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from zoneinfo import ZoneInfo

import numpy as np
from pyproj import Transformer

from patchplan import CRS, DISPLAY_CRS

__all__ = ["GPX_NAMESPACE", "UK_TIME", "gpx_document", "planned_time"]

GPX_NAMESPACE = "http://www.topografix.com/GPX/1/1"
GPX_SCHEMA = "http://www.topografix.com/GPX/1/1/gpx.xsd"
UK_TIME = ZoneInfo("Europe/London")
CREATOR = "patchplan"

_TO_WGS84 = Transformer.from_crs(CRS, DISPLAY_CRS, always_xy=True)


def planned_time(week_start: str, day: int, minutes: float) -> dt.datetime:
    """The UTC instant of ``minutes`` after midnight (UK clock) on day ``day`` of the week
    starting on the Monday ``week_start`` (ISO date)."""
    date = dt.date.fromisoformat(week_start) + dt.timedelta(days=int(day))
    local = dt.datetime.combine(date, dt.time()) + dt.timedelta(minutes=round(float(minutes)))
    return local.replace(tzinfo=UK_TIME).astimezone(dt.UTC)


def _iso(instant: dt.datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def _lonlat(xy: np.ndarray) -> np.ndarray:
    lon, lat = _TO_WGS84.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def _point(parent: ET.Element, tag: str, lon: float, lat: float) -> ET.Element:
    return ET.SubElement(parent, tag, lat=f"{lat:.6f}", lon=f"{lon:.6f}")


def _text(parent: ET.Element, tag: str, text: str) -> None:
    ET.SubElement(parent, tag).text = text


def gpx_document(book, carer: str, day: int) -> str:
    """A GPX 1.1 document of one carer's round on one day.

    Parameters
    ----------
    book : a :class:`patchplan.runsheets.RoundBook` holding the carer-day.
    carer, day : which round.

    Returns
    -------
    str
        UTF-8 XML: ``metadata`` (name, INTERNAL marking), a ``wpt`` for the start and for each
        visit in order (name "2 08:00 P00112", planned start time in ``time``), and one ``trk``
        whose ``trkseg`` follows the legs in order.
    """
    from patchplan.runsheets import INTERNAL, clock

    stops = book.round_of(carer, day)
    if stops.empty:
        raise ValueError(f"no round for carer {carer!r} on day {day}")
    ET.register_namespace("", GPX_NAMESPACE)
    ns = f"{{{GPX_NAMESPACE}}}"
    root = ET.Element(f"{ns}gpx", version="1.1", creator=CREATOR)
    meta = ET.SubElement(root, f"{ns}metadata")
    _text(meta, f"{ns}name", f"{carer} day {day}")
    note = f"{INTERNAL}. Planned round of {carer}, {book.title}"
    if book.synthetic:
        note += " (SYNTHETIC people and visits)"
    if book.estimate:
        note += " (straight-line travel estimate: the track is not along the streets)"
    _text(meta, f"{ns}desc", note + ".")

    first = stops.iloc[0]
    legs = book.legs.loc[stops.index]
    start_xy = _lonlat(np.array([[legs["from_x"].iloc[0], legs["from_y"].iloc[0]]]))[0]
    leaves = first["arrival"] - first["travel_min"]
    wpt = _point(root, f"{ns}wpt", *start_xy)
    _text(wpt, f"{ns}time", _iso(planned_time(book.week_start, day, leaves)))
    _text(wpt, f"{ns}name", f"Start {clock(leaves)}")
    _text(wpt, f"{ns}type", "base")
    visits = stops[stops["kind"] == "visit"]
    where = _lonlat(legs.loc[visits.index, ["to_x", "to_y"]].to_numpy(dtype=float))
    for (lon, lat), row in zip(where, visits.itertuples(index=False), strict=True):
        wpt = _point(root, f"{ns}wpt", lon, lat)
        _text(wpt, f"{ns}time", _iso(planned_time(book.week_start, day, row.start)))
        _text(wpt, f"{ns}name", f"{row.order} {clock(row.start)} {row.person_id}")
        details = [f"{clock(row.start)}–{clock(row.end)}", f"{row.duration} min", row.visit_id]
        details += [p for p in (row.address, row.postcode) if p]
        if row.partner:
            details.append(f"double-up with {row.partner}")
        if row.depends:
            details.append(row.depends)
        _text(wpt, f"{ns}desc", " · ".join(details))
        _text(wpt, f"{ns}type", "visit")

    trk = ET.SubElement(root, f"{ns}trk")
    _text(trk, f"{ns}name", f"{carer} day {day} ({first['mode']})")
    seg = ET.SubElement(trk, f"{ns}trkseg")
    coords = [np.asarray(book.routes[i].geometry.coords) for i in stops.index]
    line = np.vstack(coords) if coords else np.zeros((0, 2))
    if len(line):
        keep = np.ones(len(line), dtype=bool)
        keep[1:] = np.any(np.diff(line, axis=0) != 0, axis=1)
        for lon, lat in _lonlat(line[keep]):
            _point(seg, f"{ns}trkpt", lon, lat)
    ET.indent(root, space=" ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
