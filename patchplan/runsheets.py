"""Carers' run sheets, Excel-friendly rounds and rotas (all INTERNAL: they locate people's homes).

A :class:`RoundBook` gathers what every round output needs for some provider-days of a finished
study: one row per stop with the person's postcode or address, double-up partner and dependency,
the street route of the leg into it, the breaks and the labels. From it:

* :func:`runsheets_html`: one printable page per carer (A4 print CSS, phone-width layout, no
  external assets) for one provider-day: shift, each visit's start–end (HH:MM), person, postcode or
  address, duration, partner, dependency, break, and between visits the travel time and distance
  with turn-by-turn directions (:mod:`patchplan.directions`); totals walked and driven.
* :func:`rounds_table`: the same stops as an Excel-friendly table (HH:MM, whole metres, postcode).
* :func:`rota_table`: carers × time slots of one provider-day.
* :func:`index_html`: the index page of the provider-days written.
* :func:`write_round_outputs`: all of them, plus one GPX file per carer-day (:mod:`patchplan.gpx`)
  and the planner's map (:mod:`patchplan.planner_map`), under ``<outputs>/<name>/INTERNAL/rounds``.

Stops table (``RoundBook.stops``): the rows of ``RoundsResult.rounds`` (minutes after midnight,
minutes, metres) with ``provider_id``, ``kind`` ("visit" | "return"), ``duration`` (min),
``postcode``, ``address``, ``partner`` (the other carer of a double-up, "" otherwise),
``depends`` (e.g. "second visit 60–120 min after P1-D0-V1 (08:15)", "" when the visits table has
no ``follows`` for it), ``shift_start``, ``shift_end`` (min; NaN when the carer id does not
name a shift) and ``directions`` (text).
"""

from __future__ import annotations

import dataclasses
import html
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from patchplan import io, workforce
from patchplan.directions import describe, distance_text, leg_routes
from patchplan.matrix import Route
from patchplan.rounds import RETURN

__all__ = [
    "INTERNAL",
    "RoundBook",
    "clock",
    "index_html",
    "cached_result",
    "internal_folder",
    "result_cache",
    "round_book",
    "rota_table",
    "rounds_table",
    "runsheets_html",
    "store_result",
    "write_round_outputs",
]

INTERNAL = "INTERNAL — NOT FOR PUBLICATION"
"""The marking of every round output: each locates individual people's homes."""

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def clock(minutes: float) -> str:
    """Minutes after midnight as ``HH:MM`` (rounded to the minute); "" for a missing value."""
    if minutes is None or pd.isna(minutes):
        return ""
    m = int(round(float(minutes)))
    return f"{m // 60:02d}:{m % 60:02d}"


def day_label(day: int) -> str:
    """ "Monday (day 0)"."""
    return f"{DAY_NAMES[int(day) % 7]} (day {int(day)})"


def internal_folder(scenario) -> Path:
    """``<outputs dir>/<study name>/INTERNAL``: where every INTERNAL output and the result cache go."""
    return Path(scenario.outputs.dir) / scenario.study.name / "INTERNAL"


def result_cache(scenario):
    """The :class:`~patchplan.cache.ResultCache` of finished runs of ``scenario``'s study, in
    ``<outputs dir>/<name>/INTERNAL/results`` (results locate homes, so they stay INTERNAL)."""
    from patchplan.cache import ResultCache

    return ResultCache(internal_folder(scenario) / "results")


def cached_result(scenario):
    """The finished :class:`~patchplan.pipeline.StudyResult` of ``scenario`` from its result cache
    (keyed by :func:`~patchplan.cache.scenario_fingerprint`), or None when there is none; the
    result carries ``scenario`` itself, so its outputs go where the scenario now says."""
    from patchplan.cache import scenario_fingerprint

    result = result_cache(scenario).get(scenario_fingerprint(scenario))
    return None if result is None else dataclasses.replace(result, scenario=scenario)


def store_result(result) -> Path:
    """Keep a finished study in its result cache for :func:`cached_result`; returns the file."""
    from patchplan.cache import scenario_fingerprint

    return result_cache(result.scenario).put(scenario_fingerprint(result.scenario), result)


# --------------------------------------------------------------------------------------------
# the book: stops with everything a sheet needs


@dataclass
class RoundBook:
    """The proposed rounds of some provider-days, ready for sheets, GPX and the planner's map.

    Attributes
    ----------
    stops : one row per stop and return (columns in the module docstring), sorted by day,
        provider, carer and order; aligned with ``routes`` and ``legs``.
    routes : the street route of the leg into each stop (EPSG:27700).
    legs : ``from_x, from_y, to_x, to_y`` of each leg (EPSG:27700).
    breaks : ``carer_id, day, start, end`` (minutes after midnight) of the carers in ``stops``.
    title : the study's title.
    synthetic : the people and visits are generated.
    estimate : travel is the straight-line estimate (no street directions).
    week_start : ISO date of the Monday of the week the days fall in (GPX times).
    """

    stops: pd.DataFrame
    routes: list[Route]
    legs: pd.DataFrame
    breaks: pd.DataFrame
    title: str
    synthetic: bool
    estimate: bool
    week_start: str

    def provider_days(self) -> list[tuple[str, int]]:
        """(provider, day) pairs present, sorted."""
        pairs = self.stops[["provider_id", "day"]].drop_duplicates()
        return sorted((str(p), int(d)) for p, d in pairs.itertuples(index=False))

    def carers(self, provider: str, day: int) -> list[str]:
        """Carers of a provider-day, by shift then id."""
        mine = self.stops[(self.stops["provider_id"] == provider) & (self.stops["day"] == day)]
        first = mine.groupby("carer_id")["shift_start"].first().fillna(0)
        return sorted(first.index, key=lambda c: (first[c], c))

    def round_of(self, carer: str, day: int) -> pd.DataFrame:
        """The stops of one carer-day, in order (index positions into ``routes``)."""
        mask = (self.stops["carer_id"] == carer) & (self.stops["day"] == day)
        return self.stops[mask.to_numpy()]

    def break_of(self, carer: str, day: int) -> tuple[float, float] | None:
        b = self.breaks[(self.breaks["carer_id"] == carer) & (self.breaks["day"] == day)]
        return None if b.empty else (float(b["start"].iloc[0]), float(b["end"].iloc[0]))


def _people_places(people: pd.DataFrame) -> pd.DataFrame:
    """``postcode`` and ``address`` by ``person_id``: the file's own, else the address point used
    to place a synthetic person (a Code-Point postcode, or the demo town's address id)."""

    def text(*names: str) -> np.ndarray:
        for name in names:
            if name in people.columns:
                return people[name].fillna("").astype(str).to_numpy()
        return np.full(len(people), "", dtype=object)

    out = pd.DataFrame(
        {"postcode": text("postcode", "address_id"), "address": text("address")},
        index=people["person_id"].astype(str).to_numpy(),
    )
    return out[~out.index.duplicated()]


def _partners(rounds: pd.DataFrame) -> pd.Series:
    """For each stop row, the other carer serving the same visit (double-ups), else ""."""
    visits = rounds[rounds["visit_id"] != RETURN]
    carers = visits.groupby(["day", "visit_id"])["carer_id"].agg(list)
    out = []
    for row in rounds[["day", "visit_id", "carer_id"]].itertuples(index=False):
        others = [c for c in carers.get((row.day, row.visit_id), []) if c != row.carer_id]
        out.append(", ".join(others))
    return pd.Series(out, index=rounds.index, dtype=object)


def _dependencies(rounds: pd.DataFrame, visits: pd.DataFrame) -> pd.Series:
    """ "second visit 60–120 min after <visit> (HH:MM)" for visits whose ``follows`` names
    another visit (optional columns ``follows``, ``gap_min``, ``gap_max``, minutes); "" else."""
    if "follows" not in visits.columns:
        return pd.Series("", index=rounds.index, dtype=object)
    info = visits.drop_duplicates("visit_id").set_index("visit_id")
    starts = rounds[rounds["visit_id"] != RETURN].groupby("visit_id")["start"].first()
    out = []
    for vid in rounds["visit_id"]:
        first = info["follows"].get(vid) if vid in info.index else None
        if first is None or pd.isna(first) or str(first).strip() == "":
            out.append("")
            continue
        lo = info["gap_min"].get(vid) if "gap_min" in info else None
        hi = info["gap_max"].get(vid) if "gap_max" in info else None
        when = f" ({clock(starts[first])})" if first in starts.index else ""
        if lo == hi == 0:
            out.append(f"starts together with {first}{when}, by another carer")
            continue
        if lo is not None and not pd.isna(lo) and hi is not None and not pd.isna(hi):
            gap = f"{lo:.0f}–{hi:.0f} min after"
        elif lo is not None and not pd.isna(lo):
            gap = f"at least {lo:.0f} min after"
        elif hi is not None and not pd.isna(hi):
            gap = f"at most {hi:.0f} min after"
        else:
            gap = "after"
        out.append(f"second visit {gap} {first}{when}")
    return pd.Series(out, index=rounds.index, dtype=object)


def round_book(
    result,
    providers: Iterable[str] | None = None,
    days: Iterable[int] | None = None,
    *,
    directions: bool = True,
) -> RoundBook:
    """The proposed rounds of a finished study, for the chosen providers and days (default all).

    Parameters
    ----------
    result : a :class:`patchplan.pipeline.StudyResult`.
    providers, days : keep only these provider ids and days of the week.
    directions : work out each leg's street route and directions (the slow part on a large
        network); without, legs are straight lines and sheets give no directions.

    Raises
    ------
    PatchplanError
        A provider or day asked for has no rounds (the message lists those that have).
    """
    from patchplan.errors import PatchplanError

    proposed = result.proposed
    rounds = proposed.rounds.reset_index(drop=True)
    legs = proposed.legs.reset_index(drop=True)
    provider = rounds["carer_id"].map(workforce.provider_of)
    keep = np.ones(len(rounds), dtype=bool)
    for name, wanted, column in (
        ("provider", providers, provider),
        ("day", days, rounds["day"]),
    ):
        if wanted is None:
            continue
        asked: list[object] = list(wanted)
        have = sorted(set(column))
        missing = [w for w in asked if w not in have]
        if missing:
            raise PatchplanError(
                f"no proposed rounds for {name} {missing[0]!r}; "
                f"{name}s with rounds: {', '.join(map(str, have))}"
            )
        keep &= column.isin(asked).to_numpy()
    rounds, legs, provider = rounds[keep], legs[keep], provider[keep]
    order = np.lexsort(
        (rounds["order"].to_numpy(), rounds["carer_id"].to_numpy(), provider.to_numpy(),
         rounds["day"].to_numpy())
    )  # fmt: skip
    rounds = rounds.iloc[order].reset_index(drop=True)
    legs = legs.iloc[order].reset_index(drop=True)
    provider = provider.iloc[order].reset_index(drop=True)

    places = _people_places(result.inputs.demand.people)
    visits = result.planned_visits
    duration = visits.drop_duplicates("visit_id").set_index("visit_id")["duration"]
    stops = rounds.copy()
    stops.insert(0, "provider_id", provider.to_numpy())
    stops["kind"] = np.where(stops["visit_id"] == RETURN, "return", "visit")
    stops["duration"] = stops["visit_id"].map(duration).fillna(0).astype(int)
    stops["postcode"] = stops["person_id"].map(places["postcode"]).fillna("")
    stops["address"] = stops["person_id"].map(places["address"]).fillna("")
    stops["partner"] = _partners(stops)
    stops["depends"] = _dependencies(stops, visits)
    shifts = {
        c: workforce.shift_of(c, result.scenario.workforce) or (np.nan, np.nan)
        for c in stops["carer_id"].unique()
    }
    stops["shift_start"] = stops["carer_id"].map(lambda c: shifts[c][0]).astype(float)
    stops["shift_end"] = stops["carer_id"].map(lambda c: shifts[c][1]).astype(float)
    estimate = bool(result.estimate)
    if directions:
        routes = leg_routes(stops, legs, result.inputs.travel)
        stops["directions"] = [describe(r, m) for r, m in zip(routes, stops["mode"], strict=True)]
    else:
        routes = [_straight(leg, estimate) for leg in legs.itertuples(index=False)]
        stops["directions"] = ""
    used = set(zip(stops["carer_id"], stops["day"], strict=True))
    breaks = proposed.breaks[
        [
            (c, d) in used
            for c, d in zip(proposed.breaks["carer_id"], proposed.breaks["day"], strict=True)
        ]
    ].reset_index(drop=True)
    study = result.scenario.study
    return RoundBook(
        stops=stops,
        routes=routes,
        legs=legs,
        breaks=breaks,
        title=study.title,
        synthetic=bool(study.synthetic),
        estimate=estimate,
        week_start=result.scenario.outputs.gpx_week_start,
    )


def _straight(leg, estimate: bool) -> Route:
    from shapely.geometry import LineString

    return Route(LineString([(leg.from_x, leg.from_y), (leg.to_x, leg.to_y)]), estimate=estimate)


# --------------------------------------------------------------------------------------------
# run sheets (HTML)

_SHEET_CSS = """
@page { size: A4; margin: 12mm 12mm 14mm; }
* { box-sizing: border-box; }
body { font: 15px/1.4 system-ui, "DejaVu Sans", sans-serif; color: #111; margin: 0 auto;
  max-width: 46rem; padding: .6rem; }
.flag { display: inline-block; background: #b2182b; color: #fff; padding: 1px 6px;
  border-radius: 3px; font-weight: 700; font-size: 12px; margin: 0 4px 4px 0; }
.flag.info { background: #555; }
h1 { font-size: 20px; margin: .2rem 0; }
h2 { font-size: 17px; margin: .2rem 0; }
.sheet { break-after: page; page-break-after: always; padding-bottom: .6rem; }
.sheet:last-of-type { break-after: auto; page-break-after: auto; }
.facts { margin: .2rem 0 .5rem; color: #222; }
.facts span { white-space: nowrap; margin-right: .9rem; }
.stop, .break, .return { break-inside: avoid; page-break-inside: avoid; border-top: 1px solid #bbb;
  padding: .35rem 0 .4rem; }
.leg { color: #333; font-size: 13px; margin-bottom: .15rem; }
.leg b { color: #111; }
.visit { font-size: 16px; }
.when { font-weight: 700; display: inline-block; min-width: 7.2rem; }
.note { font-size: 13px; margin-left: 7.2rem; }
.partner { color: #7a0177; font-weight: 600; }
.ref { font-size: 11px; color: #555; margin-left: 7.2rem; }
.break { background: #f3f3f3; font-weight: 600; padding-left: .4rem; }
.totals { border-top: 2px solid #111; padding-top: .3rem; font-weight: 600; }
nav a { margin-right: .6rem; }
@media (max-width: 560px) {
  body { font-size: 14px; padding: .4rem; }
  .when { display: block; }
  .note, .ref { margin-left: 0; }
}
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  nav, .noprint { display: none; }
  a { color: inherit; text-decoration: none; }
}
"""


def _flags(book: RoundBook) -> str:
    flags = [f'<span class="flag">{INTERNAL}</span>']
    if book.synthetic:
        flags.append('<span class="flag info">SYNTHETIC PEOPLE AND VISITS</span>')
    if book.estimate:
        flags.append('<span class="flag info">STRAIGHT-LINE TRAVEL ESTIMATE</span>')
    return "".join(flags)


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_SHEET_CSS}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def _minutes(m: float) -> str:
    m = int(round(m))
    return f"{m // 60} h {m % 60:02d} min" if m >= 60 else f"{m} min"


def _leg_text(row, to: str) -> str:
    """ "To stop 2: walk 3 min, 170 m. <directions>" for the leg into a stop."""
    esc = html.escape
    verb = {"walk": "walk", "drive": "drive", "cycle": "cycle"}.get(row.mode, row.mode)
    if row.travel_m <= 0 and row.travel_min <= 0:
        what = "same place, no travel." if row.order > 1 else "the round starts here."
        return f'<div class="leg"><b>{esc(to)}:</b> {what}</div>'
    text = (
        f"<b>{esc(to)}:</b> {verb} {_minutes(row.travel_min)}, "
        f"{esc(distance_text(row.travel_m))}. {esc(row.directions)}"
    )
    if row.mode == "drive":
        text += " Park."
    if row.wait > 0.5:
        text += f" Arrive {clock(row.arrival)}, wait {_minutes(row.wait)}."
    return f'<div class="leg">{text}</div>'


def _stop_html(row) -> str:
    esc = html.escape
    place = " · ".join(esc(p) for p in (row.address, row.postcode) if p) or "no address on file"
    parts = [
        f'<div class="stop" data-visit="{esc(row.visit_id)}">',
        _leg_text(row, f"To stop {row.order}"),
        f'<div class="visit"><span class="when">{clock(row.start)}–{clock(row.end)}</span> '
        f"<b>{row.order}. {esc(row.person_id)}</b> · {place} · {row.duration} min</div>",
    ]
    if row.partner:
        parts.append(
            f'<div class="note partner">Double-up with {esc(row.partner)}: '
            f"both start at {clock(row.start)}</div>"
        )
    if row.depends:
        parts.append(f'<div class="note">{esc(row.depends)}</div>')
    parts.append(f'<div class="ref">visit {esc(row.visit_id)}</div></div>')
    return "".join(parts)


def _totals(stops: pd.DataFrame) -> dict[str, float]:
    """Metres walked and driven (every leg, to the first visit and back included)."""
    by_mode = stops.groupby("mode")["travel_m"].sum()
    return {m: float(by_mode.get(m, 0.0)) for m in ("walk", "drive")}


def _sheet_html(book: RoundBook, carer: str, day: int) -> str:
    esc = html.escape
    stops = book.round_of(carer, day)
    mode = str(stops["mode"].iloc[0])
    first = stops.iloc[0]
    back = stops[stops["kind"] == "return"]
    leaves = first["arrival"] - first["travel_min"]
    brk = book.break_of(carer, day)
    totals = _totals(stops)
    shift = (
        f"{clock(first['shift_start'])}–{clock(first['shift_end'])}"
        if not pd.isna(first["shift_start"])
        else "not recorded"
    )
    visits = stops[stops["kind"] == "visit"]
    facts = [
        f"{'Walks' if mode == 'walk' else 'Drives' if mode == 'drive' else mode}",
        f"Shift {shift}",
        f"Leaves {clock(leaves)}",
        f"Back {clock(back['arrival'].iloc[0]) if len(back) else '–'}",
        f"{len(visits)} visits",
        f"Break {clock(brk[0])}–{clock(brk[1])}" if brk else "No break",
        f"Walking {distance_text(totals['walk'])}",
        f"Driving {distance_text(totals['drive'])}",
    ]
    body = [
        f'<section class="sheet" id="{esc(carer)}-day{day}">',
        _flags(book),
        f"<h1>Run sheet: {esc(carer)}</h1>",
        f'<div class="facts">{esc(str(first["provider_id"]))} · {day_label(day)} · '
        + " ".join(f"<span>{esc(f)}</span>" for f in facts)
        + "</div>",
    ]
    pending = f'<div class="break">Break {clock(brk[0])}–{clock(brk[1])}</div>' if brk else ""
    for row in stops.itertuples(index=False):
        if pending and brk and row.start >= brk[1] - 1e-9:  # the break falls before this stop
            body.append(pending)
            pending = ""
        if row.kind == "return":
            body.append(
                '<div class="return">'
                + _leg_text(row, "Back to base")
                + f'<div class="visit"><span class="when">{clock(row.arrival)}</span> '
                "back at base</div></div>"
            )
        else:
            body.append(_stop_html(row))
    if pending:
        body.append(pending)
    body.append(
        f'<div class="totals">Day total: walking {distance_text(totals["walk"])}, driving '
        f"{distance_text(totals['drive'])}, travel {_minutes(stops['travel_min'].sum())} "
        "(to the first visit and back included).</div>"
    )
    if book.estimate:
        body.append(
            '<p class="note">Travel is the straight-line estimate: times and distances are '
            "approximate and no street directions are available.</p>"
        )
    body.append("</section>")
    return "".join(body)


def runsheets_html(book: RoundBook, provider: str, day: int) -> str:
    """One provider-day's run sheets, one carer a page when printed (A4), as one HTML file."""
    carers = book.carers(provider, day)
    nav = "".join(f'<a href="#{html.escape(c)}-day{day}">{html.escape(c)}</a>' for c in carers)
    sheets = "".join(_sheet_html(book, c, day) for c in carers)
    title = f"{book.title}: run sheets {provider}, {day_label(day)} — INTERNAL"
    intro = (
        f'<nav class="noprint">{_flags(book)}<h2>{html.escape(book.title)}: {html.escape(provider)}, '
        f"{day_label(day)}</h2>{len(carers)} carers: {nav}</nav>"
    )
    return _page(title, intro + sheets)


# --------------------------------------------------------------------------------------------
# Excel-friendly tables

ROUNDS_TABLE_COLUMNS = [
    "provider", "carer", "mode", "day", "stop", "kind", "visit", "person", "postcode", "address",
    "arrive", "start", "end", "duration_min", "wait_min", "travel_min", "travel_m", "partner",
    "depends", "shift",
]  # fmt: skip


def rounds_table(
    book: RoundBook, provider: str | None = None, day: int | None = None
) -> pd.DataFrame:
    """The stops (and breaks) as an Excel-friendly table: HH:MM times, whole minutes and metres.

    Columns ``ROUNDS_TABLE_COLUMNS``; ``kind`` is visit, break or return; a break row sits
    where the break falls in the round.
    """
    stops = book.stops
    if provider is not None:
        stops = stops[stops["provider_id"] == provider]
    if day is not None:
        stops = stops[stops["day"] == day]
    rows = []
    for (carer, d), group in stops.groupby(["carer_id", "day"], sort=False):
        brk = book.break_of(str(carer), int(d))
        for r in group.itertuples(index=False):
            if brk is not None and r.start >= brk[1] - 1e-9:
                rows.append(_break_row(r, brk))
                brk = None
            rows.append(
                {
                    "provider": r.provider_id, "carer": r.carer_id, "mode": r.mode,
                    "day": r.day, "stop": r.order, "kind": r.kind,
                    "visit": "" if r.kind == "return" else r.visit_id,
                    "person": r.person_id, "postcode": r.postcode, "address": r.address,
                    "arrive": clock(r.arrival),
                    "start": clock(r.start) if r.kind == "visit" else "",
                    "end": clock(r.end) if r.kind == "visit" else "",
                    "duration_min": r.duration, "wait_min": int(round(r.wait)),
                    "travel_min": int(round(r.travel_min)), "travel_m": int(round(r.travel_m)),
                    "partner": r.partner, "depends": r.depends, "shift": _shift_text(r),
                }
            )  # fmt: skip
        if brk is not None:
            rows.append(_break_row(group.iloc[-1], brk))
    return pd.DataFrame(rows, columns=ROUNDS_TABLE_COLUMNS)


def _shift_text(r) -> str:
    return "" if pd.isna(r.shift_start) else f"{clock(r.shift_start)}–{clock(r.shift_end)}"


def _break_row(r, brk: tuple[float, float]) -> dict:
    return {
        "provider": r.provider_id, "carer": r.carer_id, "mode": r.mode, "day": r.day,
        "stop": "", "kind": "break", "visit": "", "person": "", "postcode": "", "address": "",
        "arrive": "", "start": clock(brk[0]), "end": clock(brk[1]),
        "duration_min": int(round(brk[1] - brk[0])), "wait_min": "", "travel_min": "",
        "travel_m": "", "partner": "", "depends": "", "shift": _shift_text(r),
    }  # fmt: skip


_ROTA_RANK = {"wait": 1, "travel": 2, "break": 3}
"""Ties in a rota slot go to a visit (rank 4), then the break, travel, waiting."""


def rota_table(book: RoundBook, provider: str, day: int, slot_min: int = 15) -> pd.DataFrame:
    """Carers × time slots of one provider-day: what each carer does in each slot.

    A cell holds the person visited (``P00012``, with " ×2" for a double-up), "travel", "wait",
    "break" or "" (not working), whichever fills most of the slot. Columns: ``carer``, ``mode``,
    ``shift``, then one per slot start (``HH:MM``), ``slot_min`` minutes wide, from the earliest
    activity to the latest.
    """
    stops = book.stops[(book.stops["provider_id"] == provider) & (book.stops["day"] == day)]
    carers = book.carers(provider, day)
    spans: dict[str, list[tuple[float, float, str]]] = {}
    for carer in carers:
        mine = stops[stops["carer_id"] == carer]
        acts = []
        for r in mine.itertuples(index=False):
            acts.append((r.arrival - r.travel_min, r.arrival, "travel"))
            if r.kind == "visit":
                acts.append((r.arrival, r.start, "wait"))
                acts.append((r.start, r.end, r.person_id + (" ×2" if r.partner else "")))
        brk = book.break_of(carer, day)
        if brk:
            acts.append((brk[0], brk[1], "break"))
        spans[carer] = [a for a in acts if a[1] > a[0]]
    every = [a for acts in spans.values() for a in acts]
    if not every:
        return pd.DataFrame(columns=["carer", "mode", "shift"])
    lo = math.floor(min(a[0] for a in every) / slot_min) * slot_min
    hi = math.ceil(max(a[1] for a in every) / slot_min) * slot_min
    slots = list(range(int(lo), int(hi), slot_min))
    rows = []
    for carer in carers:
        first = stops[stops["carer_id"] == carer].iloc[0]
        row = {"carer": carer, "mode": first["mode"], "shift": _shift_text(first)}
        for s in slots:
            cover: dict[str, float] = {}
            for a, b, what in spans[carer]:
                overlap = min(b, s + slot_min) - max(a, s)
                if overlap > 0:
                    cover[what] = cover.get(what, 0.0) + overlap
            row[clock(s)] = (
                max(cover, key=lambda w: (cover[w], _ROTA_RANK.get(w, 4))) if cover else ""
            )
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# index and writing


def _files(provider: str, day: int) -> dict[str, str]:
    stem = f"{provider}-day{day}"
    return {
        "sheets": f"{stem}-runsheets-INTERNAL.html",
        "rounds": f"{stem}-rounds-INTERNAL.csv",
        "rota": f"{stem}-rota-INTERNAL.csv",
    }


def gpx_name(carer: str, day: int) -> str:
    """File name of a carer-day's GPX track (in the ``gpx`` folder)."""
    return f"{carer}-day{day}-INTERNAL.gpx"


def index_html(book: RoundBook, written: Sequence[tuple[str, int]], map_file: str | None) -> str:
    """The index of the provider-days written: run sheets, tables, GPX per carer, totals."""
    esc = html.escape
    rows = []
    for provider, day in written:
        files = _files(provider, day)
        mine = book.stops[(book.stops["provider_id"] == provider) & (book.stops["day"] == day)]
        totals = _totals(mine)
        gpx = " ".join(
            f'<a href="gpx/{esc(gpx_name(c, day))}">{esc(c)}</a>'
            for c in book.carers(provider, day)
        )
        rows.append(
            f"<tr><td>{esc(provider)}</td><td>{day_label(day)}</td>"
            f"<td>{mine['carer_id'].nunique()}</td><td>{int((mine['kind'] == 'visit').sum())}</td>"
            f"<td>{distance_text(totals['walk'])}</td><td>{distance_text(totals['drive'])}</td>"
            f'<td><a href="{esc(files["sheets"])}">run sheets</a> · '
            f'<a href="{esc(files["rounds"])}">rounds (CSV)</a> · '
            f'<a href="{esc(files["rota"])}">rota (CSV)</a></td><td class="gpx">{gpx}</td></tr>'
        )
    planner = (
        f'<p><a href="{esc(map_file)}">Planner\'s map</a> (choose a provider and a carer)</p>'
        if map_file
        else ""
    )
    body = (
        f"{_flags(book)}<h1>{esc(book.title)}: proposed rounds</h1>{planner}"
        "<p>Run sheets print one carer a page on A4 and read on a phone; the CSV files open in "
        "Excel (times HH:MM, distances in metres); the GPX files open in phone navigation apps. "
        f"GPX dates: day 0 is Monday {esc(book.week_start)}.</p>"
        "<table><thead><tr><th>Provider</th><th>Day</th><th>Carers</th><th>Visits</th>"
        "<th>Walking</th><th>Driving</th><th>Files</th><th>GPX per carer</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        "<style>table{border-collapse:collapse;font-size:13px}td,th{border-bottom:1px solid #ddd;"
        "padding:3px 6px;text-align:left;vertical-align:top}td a{white-space:nowrap}td.gpx{font-size:11px}</style>"
    )
    return _page(f"{book.title}: proposed rounds — INTERNAL", body)


def write_round_outputs(
    result,
    folder: str | os.PathLike[str] | None = None,
    providers: Iterable[str] | None = None,
    days: Iterable[int] | None = None,
) -> dict[str, Path]:
    """Write the round outputs of a finished study, atomically, under an INTERNAL folder.

    For each provider-day (all, or those chosen): ``<provider>-day<d>-runsheets-INTERNAL.html``,
    ``…-rounds-INTERNAL.csv``, ``…-rota-INTERNAL.csv`` and ``gpx/<carer>-day<d>-INTERNAL.gpx`` per
    carer; then ``index-INTERNAL.html`` over every provider-day whose run sheets are in the
    folder, and, when every provider is written, ``planner-map-INTERNAL.html``.

    Parameters
    ----------
    result : a :class:`patchplan.pipeline.StudyResult`.
    folder : default ``<outputs dir>/<name>/INTERNAL/rounds``.
    providers, days : restrict to these (e.g. one provider's Monday).

    Returns
    -------
    dict of name → path written.
    """
    from patchplan import gpx, planner_map

    out = Path(folder) if folder is not None else internal_folder(result.scenario) / "rounds"
    book = round_book(result, providers, days)
    written: dict[str, Path] = {}
    for provider, day in book.provider_days():
        files = _files(provider, day)
        key = f"{provider}-day{day}"
        written[f"{key}-sheets"] = io.write_text(
            out / files["sheets"], runsheets_html(book, provider, day)
        )
        written[f"{key}-rounds"] = io.write_csv(
            rounds_table(book, provider, day),
            out / files["rounds"],
            note=_csv_note(book),
            excel=True,
        )
        written[f"{key}-rota"] = io.write_csv(
            rota_table(book, provider, day), out / files["rota"], note=_csv_note(book), excel=True
        )
        for carer in book.carers(provider, day):
            written[f"gpx-{carer}-day{day}"] = io.write_text(
                out / "gpx" / gpx_name(carer, day), gpx.gpx_document(book, carer, day)
            )
    map_file = "planner-map-INTERNAL.html"
    if providers is None:
        written["planner-map"] = io.write_text(out / map_file, planner_map.planner_map_html(book))
    on_disk = [pd_ for pd_ in _all_provider_days(result) if (out / _files(*pd_)["sheets"]).exists()]
    has_map = (out / map_file).exists()
    written["index"] = io.write_text(
        out / "index-INTERNAL.html",
        index_html(_book_for_index(book, result, on_disk), on_disk, map_file if has_map else None),
    )
    return written


def _csv_note(book: RoundBook) -> str:
    flags = " (SYNTHETIC people and visits)" if book.synthetic else ""
    est = " (straight-line travel estimate)" if book.estimate else ""
    return f"{INTERNAL}: carers' rounds locating people's homes{flags}{est}"


def _all_provider_days(result) -> list[tuple[str, int]]:
    rounds = result.proposed.rounds
    pairs = {
        (workforce.provider_of(c), int(d))
        for c, d in zip(rounds["carer_id"], rounds["day"], strict=True)
    }
    return sorted(pairs)


def _book_for_index(book: RoundBook, result, on_disk: list[tuple[str, int]]) -> RoundBook:
    """A book covering every provider-day on disk (without directions, which the index needs not)."""
    if set(on_disk) <= set(book.provider_days()):
        return book
    full = round_book(result, directions=False)
    return dataclasses.replace(full, week_start=book.week_start)
