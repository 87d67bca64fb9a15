"""The committee report (one self-contained HTML page that prints to A4) and the study's tables.

:func:`write_outputs` writes everything for one study, each file atomically (``patchplan.io``),
published and INTERNAL outputs in separate folders as well as by name:

``<dir>/<name>/published/report.html``        the committee report: maps embedded, so the one
                                              file can be sent alone; prints to A4
``<dir>/<name>/published/maps/<name>.html``   lots map (``-savings``, ``-walkability`` beside it)
``<dir>/<name>/published/*.csv``              patches, summary, savings, explained (the saving
                                              decomposed), baseline (today's travel per visit),
                                              layouts, blocks, ranges (totals over several
                                              caseloads, when run with seeds > 1), inputs-account
                                              (every input row kept or left out, and why)
``<dir>/<name>/published/<name>.gpkg``        patches and blocks layers for QGIS
``<dir>/<name>/INTERNAL/``                    rounds map and ``*-INTERNAL.csv``: rounds, unserved
                                              visits, rejected input rows, and the per-lot tables
                                              (and per-lot ranges) with nothing withheld

Every published figure passes :func:`patchplan.publication.publishable` (primary and secondary
suppression); the INTERNAL folder locates individuals and is marked so inside and in every name.

The report is a list of sections (:data:`SECTIONS`); each is a function from a
:class:`ReportContext` to a :class:`Section` (or None to leave it out), so adding a section is
adding one function to the list.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import folium
import geopandas as gpd
import pandas as pd

from patchplan import __version__, io, maps
from patchplan.assumptions import plain_assumptions
from patchplan.baseline import PUBLISHED_TRAVEL
from patchplan.cache import scenario_fingerprint
from patchplan.pipeline import StudyResult
from patchplan.publication import (
    MIN_COUNT,
    TOTAL,
    Disclosure,
    publishable,
    withheld_areas,
    withheld_note,
)
from patchplan.savings import (
    ANCHORS,
    FACTOR_SOURCES,
    HOURLY_COSTS,
    METRES_PER_MILE,
    travel_cost_gbp,
)

ATTRIBUTIONS = (
    *maps.CREDITS,
    "NHS Digital practice and PCN tables and MHCLG's Indices of Deprivation: Open Government "
    "Licence v3.0.",
    "Maps drawn with Leaflet 1.9.4 (BSD 2-Clause licence).",
)
"""Data credits listed in the report (every map carries :data:`patchplan.maps.CREDITS`)."""

__all__ = [
    "ATTRIBUTIONS",
    "MIN_COUNT",
    "SECTIONS",
    "ReportContext",
    "Section",
    "build_maps",
    "committee_table",
    "layouts_table",
    "published_patches",
    "report_html",
    "write_outputs",
]

MAP_TITLES = {"": "Proposed lots", "-savings": "Carer travel saved", "-walkability": "Walking"}
"""Published maps by file suffix, in report order."""

MAP_CAPTIONS = {
    "": "Each lot in its own colour, labelled with the places it covers, its care hours and "
    "people a week and its providers; PCN boundaries dashed.",
    "-savings": "Hours of carer travel each lot saves a week: darker blue saves more; orange "
    "would mean more travel.",
    "-walkability": "Whether each lot can be worked on foot: dark blue walkable, light blue mixed, "
    "orange car-dependent.",
}
"""What each published map shows, in a sentence (its figure caption in the report)."""

LOT_KEEP = ("patch_id", "name", "pcn_ids", "providers", "n_blocks", "centre_block_id")
"""Columns of a lot shown even when its figures are withheld (design, not people)."""


# --------------------------------------------------------------------------------------------
# what is published


def published_patches(result: StudyResult) -> gpd.GeoDataFrame:
    """Patch polygons with the per-patch summary, unsuppressed (``publishable`` is applied by
    every published output that uses it)."""
    summary = result.summary.drop(index=TOTAL, errors="ignore")
    summary = summary.drop(
        columns=[c for c in summary.columns if c in result.design.patches.columns]
    )
    frame = result.design.patches.merge(summary, left_on="patch_id", right_index=True, how="left")
    return frame


def pcn_outlines(result: StudyResult) -> gpd.GeoDataFrame:
    """PCN areas for display: small areas that only carry a PCN id are dissolved into one per PCN."""
    pcns = result.inputs.pcns
    if "pcn_id" in pcns.columns:
        pcns = pcns[["pcn_id", "geometry"]].dissolve("pcn_id").reset_index()
        pcns = pcns.rename(columns={"pcn_id": "id"})
    return pcns


def _people(result: StudyResult) -> pd.Series:
    """People per lot (the one count every published output withholds by)."""
    return result.summary.drop(index=TOTAL, errors="ignore")["people"]


def _published_totals(frame: pd.DataFrame, disclosure: Disclosure) -> pd.DataFrame:
    """A whole-study table (no per-lot rows), its figures withheld only if the study is tiny."""
    if not disclosure.total_withheld:
        return frame
    out = frame.copy()
    numeric = out.select_dtypes("number").columns
    out[numeric] = float("nan")
    return out


def _savings_areas(result: StudyResult) -> gpd.GeoDataFrame:
    table = result.savings.drop(index=TOTAL).reset_index()
    people = result.design.patches[["patch_id", "people", "geometry"]]
    frame = people.merge(table, on="patch_id", how="left")
    if "name" in result.summary:
        frame["name"] = frame["patch_id"].map(result.summary["name"])
    return frame


def orientation(result: StudyResult) -> maps.Orientation:
    """Main roads and town names from the OSM file; neighbourhood names when there are none."""
    places = result.inputs.places
    if places is not None and not places.empty:
        places = places[places["place"].isin(("city", "town", "suburb", "village"))]
    else:
        hoods = result.inputs.neighbourhoods
        if hoods is not None and "name" in hoods.columns:
            places = gpd.GeoDataFrame(
                {"name": hoods["name"].astype(str)},
                geometry=hoods.geometry.representative_point(),
                crs=hoods.crs,
            )
    return maps.Orientation(roads=result.inputs.roads, places=places)


def build_maps(
    result: StudyResult, patches: gpd.GeoDataFrame | None = None
) -> dict[str, folium.Map]:
    """The maps of a study as ``folium.Map`` objects, keyed by file suffix (published first)."""
    study = result.scenario.study
    flags: dict = {"synthetic": study.synthetic, "estimate": result.estimate}
    patches = published_patches(result) if patches is None else patches
    orient = orientation(result)
    built = {
        "": maps.lots_map(
            patches,
            pcn_outlines(result),
            result.inputs.neighbourhoods,
            existing=result.inputs.existing,
            orientation=orient,
            title=f"{study.title}: proposed lots",
            **flags,
        ),
        "-savings": maps.savings_map(
            _savings_areas(result),
            orientation=orient,
            title=f"{study.title}: carer travel saved",
            **flags,
        ),
    }
    if "walk_class" in patches:
        built["-walkability"] = maps.walkability_map(
            patches,  # every lot, so the same lots are withheld as on the other maps
            orientation=orient,
            title=f"{study.title}: walking",
            **flags,
        )
    if result.scenario.outputs.internal_maps and not result.proposed.rounds.empty:
        built["-rounds-INTERNAL"] = maps.rounds_map(
            rounds_legs(result),
            result.design.patches,
            title=f"{study.title}: proposed rounds, day {study.days[0]}",
            **flags,
        )
    return built


def rounds_legs(result: StudyResult) -> gpd.GeoDataFrame:
    """Street geometry of the first planned day's proposed rounds (internal use only)."""
    from patchplan.rounds import legs_geometry

    day = result.scenario.study.days[0]
    keep = (result.proposed.rounds["day"] == day).to_numpy()
    subset = dataclasses.replace(
        result.proposed,
        rounds=result.proposed.rounds[keep].reset_index(drop=True),
        legs=result.proposed.legs[keep].reset_index(drop=True),
    )
    return legs_geometry(subset, result.inputs.travel)


# --------------------------------------------------------------------------------------------
# tables


def _table(frame: pd.DataFrame, caption: str, row_header: bool = True, note: str = "") -> str:
    """An accessible table: a caption, column headers with ``scope="col"``, and each row's first
    cell (the index) a row header with ``scope="row"``. Cells are text, escaped here."""
    esc = html.escape
    head = "".join(f'<th scope="col">{esc(str(c))}</th>' for c in frame.columns)
    if row_header:
        head = f'<th scope="col">{esc(str(frame.index.name or ""))}</th>' + head
    rows = []
    for label, row in frame.iterrows():
        cells = "".join(f"<td>{esc(str(v))}</td>" for v in row)
        first = f'<th scope="row">{esc(str(label))}</th>' if row_header else ""
        cls = ' class="total"' if str(label).startswith(("All ", "Total")) else ""
        rows.append(f"<tr{cls}>{first}{cells}</tr>")
    foot = f'<p class="note">{esc(note)}</p>' if note else ""
    return (
        f"<table><caption>{esc(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{foot}"
    )


def _cell(value, fmt: str) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)) or value == "":
        return "–"
    text = fmt.format(value)
    # a small negative rounded to nothing reads "-0": drop the sign
    if text.startswith("-") and not any(c in "123456789" for c in text):
        text = text[1:]
    return text


def _formatted(
    table: pd.DataFrame, columns: dict[str, tuple[str, str]], index: str
) -> pd.DataFrame:
    """``table``'s ``columns`` (name → (title, format)) as text under their titles; blanks as "–",
    and "withheld" on rows ``publishable`` withheld."""
    out = pd.DataFrame(index=table.index.rename(index))
    withheld = table["withheld"] if "withheld" in table else pd.Series(False, index=table.index)
    for col, (title, fmt) in columns.items():
        if col in table:
            out[title] = [
                "withheld" if hidden and pd.isna(v) else _cell(v, fmt)
                for v, hidden in zip(table[col], withheld, strict=True)
            ]
    return out


COMMITTEE_COLUMNS = {
    "people": ("People", "{:,.0f}"),
    "hours_week": ("Care hours a week", "{:,.0f}"),
    "providers": ("Providers", "{:,.0f}"),
    "pcn_ids": ("PCNs", "{}"),
    "today_travel_min_lfl": ("Carer travel today (hours a week)", "{:,.0f}"),
    "proposed_travel_min_lfl": ("Carer travel proposed (hours a week)", "{:,.0f}"),
    "saved_travel_pct": ("Travel saved", "{:.0f}%"),
    "walk_visit_share": ("Visits on foot", "{:.0%}"),
    "walk_class": ("Walking class", "{}"),
    "proposed_carers_per_person_median": ("Carers per person a week (median)", "{:.0f}"),
    "proposed_top2_share": ("Visits by a person's two most frequent carers", "{:.0%}"),
}
"""The per-lot figures of the report, with their headings and formats."""

LOT_TABLES = (
    ("Each proposed lot: who it serves and who serves it, a week",
     ("People", "Care hours a week", "Providers", "PCNs", "Walking class")),
    ("Each proposed lot: carer travel, a week, like for like",
     ("Carer travel today (hours a week)", "Carer travel proposed (hours a week)", "Travel saved",
      "Visits on foot")),
    ("Each proposed lot: continuity of carer over the week",
     ("Carers per person a week (median)", "Visits by a person's two most frequent carers")),
)  # fmt: skip
"""The per-lot table is shown as two narrower tables that fit an A4 page."""


def _lot_labels(table: pd.DataFrame) -> pd.Index:
    names = table["name"] if "name" in table else pd.Series("", index=table.index)
    return pd.Index(
        [
            "All lots" if pid == TOTAL else f"{pid} {'' if pd.isna(n) else n}".strip()
            for pid, n in zip(table.index, names, strict=True)
        ]
    )


def committee_table(summary: pd.DataFrame, min_count: int = MIN_COUNT) -> pd.DataFrame:
    """The per-lot table with readable headers and units, lots labelled with the places they
    cover; every figure of a withheld lot reads "withheld" (:func:`publishable`)."""
    table = publishable(summary, "people", keep=LOT_KEEP, min_count=min_count)
    for col in ("today_travel_min_lfl", "proposed_travel_min_lfl"):
        if col in table:
            table[col] = table[col] / 60.0
    out = _formatted(table, COMMITTEE_COLUMNS, "Lot")
    out.index = _lot_labels(table).rename("Lot")
    if "PCNs" in out:
        out["PCNs"] = out["PCNs"].str.replace(",", ", ")
    return out


LAYOUT_COLUMNS = {
    "areas": ("Areas", "{:,.0f}"),
    "worst_balance": ("Worst balance (± of mean hours)", "{:.0%}"),
    "contiguous_areas": ("Areas in one piece", "{:,.0f}"),
    "pcn_alignment": ("Care hours aligned with their PCN", "{:.0%}"),
    "travel_min_per_leg": ("Travel per leg (min)", "{:.1f}"),
    "walk_share": ("Legs within walking reach", "{:.0%}"),
}


def layouts_table(layouts: pd.DataFrame) -> pd.DataFrame:
    """The proposed lots and today's areas side by side, with readable headers and units."""
    out = _formatted(layouts, LAYOUT_COLUMNS, "Layout")
    out.index = out.index.map(lambda s: str(s)[:1].upper() + str(s)[1:])
    return out


# --------------------------------------------------------------------------------------------
# the week: visits on foot and continuity of carer


def _week_headline(result: StudyResult) -> list[tuple[str, str]]:
    """Headline cards read from the summary's total row (the per-lot totals)."""
    total = result.summary.loc["total"]
    cards = []
    if pd.notna(total.get("walk_visit_share")):
        cards.append(("Visits on foot, proposed", f"{total['walk_visit_share']:.0%}"))
    if pd.notna(total.get("proposed_carers_per_person_median")):
        cards.append((
            "Carers per person a week (median), today → proposed",
            f"{total['today_carers_per_person_median']:.0f} → "
            f"{total['proposed_carers_per_person_median']:.0f}",
        ))  # fmt: skip
    return cards


CONTINUITY_COLUMNS = {
    f"{arr}_{col}": (f"{title}, {arr}", fmt)
    for arr in ("today", "proposed")
    for col, title, fmt in (
        ("carers_per_person_median", "Carers per person a week (median)", "{:.0f}"),
        ("carers_per_person_p90", "Carers per person a week (90th percentile)", "{:.0f}"),
        ("top2_share", "Visits by the two most frequent carers", "{:.0%}"),
    )
}


def continuity_section(ctx: ReportContext) -> Section | None:
    """Continuity of carer per lot, both arrangements (withheld as the lot table is)."""
    result = ctx.result
    if result.continuity is None:
        return None
    shown = publishable(result.summary, "people", keep=LOT_KEEP)
    table = _formatted(shown, CONTINUITY_COLUMNS, "Lot")
    table.index = _lot_labels(shown).rename("Lot")
    body = _table(table, "Continuity of carer over the week, per lot")
    body += _p(
        "Over the planned week, for each person: how many different carers visited them, and the "
        "share of their visits (each carer of a double-up counted) made by their two most "
        "frequent carers. Both arrangements are planned as the same kind of weekly rota, so the "
        "difference between them comes from the lots."
    )
    return Section("continuity", "Continuity of carer", body)


def walking_section(ctx: ReportContext) -> Section:
    """How visits on foot are counted and how the walking classes are drawn."""
    result = ctx.result
    walk = result.scenario.feasibility.thresholds(result.scenario.rounds.max_walk_leg_min)
    return Section("walking", "Walking", _p(
        "Visits on foot are the share of a lot's visits in the proposed plan made by walking "
        "carers (the total is over all lots' visits). Walking classes are decided before planning "
        f"from where walking carers live: {walk}."
    ))  # fmt: skip


def _week_tables(result: StudyResult, people: pd.Series) -> dict[str, pd.DataFrame]:
    """The walking figures and continuity per lot, for CSV, withheld as every published table."""
    walking = result.walking.set_index("patch_id") if "patch_id" in result.walking else result.walking
    tables = {"walking": publishable(walking, people).reset_index()}
    if result.continuity is not None:
        tables["continuity"] = publishable(result.continuity, people).reset_index()
    return tables


EXPLAINED_COLUMNS = {
    "travel_hours": ("Carer travel (hours a week)", "{:,.0f}"),
    "drive_miles": ("Miles driven a week", "{:,.0f}"),
    "cost_gbp": ("Cost of travel (£ a week)", "£{:,.0f}"),
    "co2_kg": ("CO2 (kg a week)", "{:,.0f}"),
}


def explained_table(explained: pd.DataFrame) -> pd.DataFrame:
    """The savings decomposition with readable headers and units."""
    out = _formatted(explained, EXPLAINED_COLUMNS, "")
    out.index = pd.Index(explained["label"], name="Arrangement or saving")
    return out


def baseline_table(calibration: pd.DataFrame) -> pd.DataFrame:
    """Today's travel per visit: modelled, observed and published, with units in the labels."""
    fmt = "{:,.2f}"
    out = pd.DataFrame(index=pd.Index(calibration["label"], name="Measure"))
    out["Today, modelled"] = [_cell(v, fmt) for v in calibration["modelled_today"]]
    out["Today, observed"] = [
        "not given" if pd.isna(v) else fmt.format(v) for v in calibration["observed"]
    ]
    out["Published UK figure"] = [_cell(v, fmt) for v in calibration["published"]]
    out["Proposed lots, modelled"] = [_cell(v, fmt) for v in calibration["modelled_proposed"]]
    return out


# --------------------------------------------------------------------------------------------
# the report


@dataclass(frozen=True)
class Section:
    """One section of the report: an ``id`` for links, a title (an ``<h2>``) and its HTML body."""

    id: str
    title: str
    body: str


@dataclass
class ReportContext:
    """What every section reads: the study, its maps (rendered HTML by file suffix), the disclosure
    decision, and the report's date and scenario fingerprint."""

    result: StudyResult
    maps: dict[str, str] = field(default_factory=dict)
    date: dt.date = field(default_factory=dt.date.today)
    fingerprint: str = ""

    @property
    def disclosure(self) -> Disclosure:
        return withheld_areas(_people(self.result))

    @property
    def total(self) -> pd.Series:
        return self.result.savings.loc[TOTAL]


SectionBuilder = Callable[[ReportContext], Section | None]


def _p(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def _hours(minutes: float) -> str:
    return f"{minutes / 60:,.0f}"


def _share(value) -> str:
    return _cell(value, "{:.0%}")


def summary_section(ctx: ReportContext) -> Section:
    """The headline: what the lots save, both ways, and the caveats a reader must see first."""
    result, total = ctx.result, ctx.total
    lots = result.summary.loc[TOTAL]  # walking and continuity: the per-lot table's total row
    study = result.scenario.study
    flags = []
    if study.synthetic:
        flags.append(
            "The people and visits are SYNTHETIC, generated from small-area population; no real "
            "person is shown."
        )
    if result.estimate:
        flags.append(
            "Travel times are a STRAIGHT-LINE ESTIMATE (crow-fly distance × circuity at mode "
            "speed), not a street network."
        )
    if result.time_limit_note:
        flags.append(result.time_limit_note)
    if ctx.disclosure.total_withheld:
        return Section("summary", "Summary", "".join(_p(f) for f in flags) + _p(
            withheld_note(ctx.disclosure)))  # fmt: skip
    explained = result.explained
    against = (
        explained.loc["saved_against_observed"]
        if explained is not None and "saved_against_observed" in explained.index
        else None
    )
    text = (
        f"The {len(result.design.patches)} proposed lots would save "
        f"{_hours(total['saved_travel_min'])} hours of carer travel a week "
        f"({total['saved_travel_pct']:.0f}% of today's as modelled), worth "
        f"£{total['saved_cost_gbp']:,.0f} a week, and avoid {total['saved_co2_kg']:,.0f} kg of "
        f"CO2 a week, with both arrangements planned by the same optimiser (the effect of the "
        f"patches alone)."
    )
    if against is not None:
        text += (
            f" Against today as observed the saving is {against['travel_hours']:,.0f} hours, "
            f"{against['drive_miles']:,.0f} miles, £{against['cost_gbp']:,.0f} and "
            f"{against['co2_kg']:,.0f} kg of CO2 a week."
        )
    else:
        text += (
            " No observed figures for today were given, so the saving against today as observed "
            "is not stated (see “Today: modelled, observed and published”)."
        )
    figures = pd.DataFrame(
        {
            "Figure": [
                "Proposed lots",
                "Care hours a week",
                "Carer travel today (hours a week)",
                "Carer travel proposed (hours a week)",
                "Travel saved",
                "Carer hours released a week",
                "Cost of travel saved (£ a week)",
                "CO2 avoided (kg a week)",
                "Visits reached on foot, proposed",
                "Carers per person a week (median), today → proposed",
            ],
            "Value": [
                f"{len(result.design.patches)}",
                f"{total['care_hours']:,.0f}",
                _hours(total["today_travel_min_lfl"]),
                _hours(total["proposed_travel_min_lfl"]),
                f"{total['saved_travel_pct']:.0f}%",
                f"{total['carer_hours_released']:,.0f}",
                f"£{total['saved_cost_gbp']:,.0f}",
                f"{total['saved_co2_kg']:,.0f}",
                _share(lots.get("walk_visit_share")),
                f"{_cell(lots.get('today_carers_per_person_median'), '{:.0f}')} → "
                f"{_cell(lots.get('proposed_carers_per_person_median'), '{:.0f}')}",
            ],
        }
    ).set_index("Figure")
    body = "".join(f'<p class="flag">{html.escape(f)}</p>' for f in flags)
    body += _p(text)
    body += _table(figures, "Key figures for the whole study, a week", row_header=True)
    note = withheld_note(ctx.disclosure)
    if note:
        body += _p(note)
    return Section("summary", "Summary", body)


def savings_section(ctx: ReportContext) -> Section | None:
    """The saving decomposed: today as observed → today optimised → proposed lots."""
    explained = ctx.result.explained
    if explained is None:
        return None
    settings = ctx.result.scenario.savings
    shown = _published_totals(explained, ctx.disclosure)
    body = _p(
        "The saving is stated two ways. The effect of the patches alone compares today's "
        "arrangement and the proposed lots with both planned by the same optimiser on the same "
        "visits. Against today as observed, it also counts what better planning of today's rounds "
        "would save; that part needs no new contracts."
    )
    body += _table(
        explained_table(shown),
        "Carer travel a week, like for like (every visit served): each arrangement, then the "
        "savings between them",
        note=explained.attrs.get("observed_note", ""),
    )
    hca = settings.hourly_cost_basis != "hca-minimum-2025-26"
    rate = HOURLY_COSTS["hca-minimum-2025-26" if hca else "sheffield-2024"][0]
    row = explained.loc["saved_by_patches"]
    alt = travel_cost_gbp(
        row["travel_hours"],
        row["drive_miles"] * METRES_PER_MILE / 1000.0,
        dataclasses.replace(settings, hourly_cost_basis="", hourly_cost_gbp=rate),
    )
    if not ctx.disclosure.total_withheld:
        body += _p(
            f"Carer time is valued at £{settings.hourly_cost_gbp:,.2f} an hour. At £{rate:,.2f} an "
            f"hour ({'the Homecare Association minimum price for 2025/26' if hca else 'Sheffield’s 2024 rate'}), "
            f"the saving from the patches would be £{alt:,.0f} a week."
        )
    return Section("savings", "Savings explained", body)


def baseline_section(ctx: ReportContext) -> Section | None:
    """Today as modelled beside today as observed and the published UK figures."""
    calibration = ctx.result.baseline
    if calibration is None:
        return None
    base = ctx.result.scenario.baseline
    body = _p(
        "Today's rounds are modelled by the same optimiser as the proposed ones, so they are "
        "likely to be planned better than today's rounds are in practice. The table sets them "
        "beside what the council observes (from electronic call monitoring or mileage claims, "
        "[baseline] settings) and beside published UK figures."
    )
    source = f"Observed figures: {base.source}. " if base.observed and base.source else ""
    body += _table(
        baseline_table(_published_totals(calibration, ctx.disclosure)),
        "Travel per visit: today as modelled, today as observed, published UK figures, and the "
        "proposed lots",
        note=source + "The published figures' sources are listed under Sources.",
    )
    return Section("today", "Today: modelled, observed and published", body)


def lots_section(ctx: ReportContext) -> Section:
    """The per-lot table, with what is withheld and why."""
    table = committee_table(ctx.result.summary)
    note = withheld_note(ctx.disclosure)
    body = _p("Lots are named after the places holding most of their care hours.")
    for caption, columns in LOT_TABLES:
        body += _table(table[[c for c in columns if c in table]], caption)
    body += _p(note) if note else ""
    body += _p(
        f"Figures for fewer than {MIN_COUNT} people are withheld, and others with them where a "
        "withheld figure could otherwise be worked out from a total. Carer travel is for all the "
        "lot's visits (see the definitions): where an arrangement left visits unplanned, its "
        "travel per visit planned is scaled up to all visits, so a dropped visit never reads as "
        "a saving."
    )
    return Section("lots", "Per lot", body)


def layouts_section(ctx: ReportContext) -> Section | None:
    """The proposed lots scored beside today's areas with the same yardstick."""
    layouts = ctx.result.layouts
    if layouts is None:
        return None
    body = _table(
        layouts_table(_published_totals(layouts, ctx.disclosure)),
        "The proposed lots and today's areas, scored on the same blocks",
        note="Each block is counted in the existing area it mostly lies in. Balance is the "
        "largest gap between an area's care hours and the average; travel per leg is the "
        "expected time between two visits drawn from the same area; walkable legs are those "
        "within walking reach.",
    )
    return Section("layouts", "Proposed lots against today's areas", body)


def maps_section(ctx: ReportContext) -> Section | None:
    """The published maps, embedded so the report works as a single file."""
    figures = []
    for suffix, title in MAP_TITLES.items():
        if suffix not in ctx.maps:
            continue
        figures.append(
            f'<figure class="map"><h3>{html.escape(title)}</h3>'
            f'<iframe class="map-frame" title="Map: {html.escape(title)}" '
            f'srcdoc="{html.escape(ctx.maps[suffix], quote=True)}"></iframe>'
            f"<figcaption>{html.escape(MAP_CAPTIONS[suffix])}</figcaption></figure>"
        )
    if not figures:
        return None
    intro = _p(
        "Each map shows lots only, never a person's home; figures for fewer than "
        f"{MIN_COUNT} people are withheld. Roads and place names help find one's way; the "
        "background map appears only when online. Each map carries its data credits."
    )
    return Section("maps", "Maps", intro + "".join(figures))


def unserved_section(ctx: ReportContext) -> Section:
    """Visits neither arrangement could plan, by reason (whole-study counts)."""
    unserved = ctx.result.unserved
    counts = unserved.groupby(["arrangement", "reason"]).size()
    if not len(counts):
        return Section("unserved", "Visits not planned", _p(
            "None: every visit was planned in both arrangements."))  # fmt: skip
    frame = counts.rename("Visits").reset_index()
    frame["arrangement"] = frame["arrangement"].str.capitalize()
    frame["Visits"] = frame["Visits"].map(lambda v: f"{v:,}")
    frame = frame.rename(columns={"arrangement": "Arrangement", "reason": "Reason"})
    frame = frame.set_index("Arrangement")
    return Section(
        "unserved",
        "Visits not planned",
        _table(frame, "Visits of the planned days left out of the rounds, by reason"),
    )


def method_section(ctx: ReportContext) -> Section:
    """How the lots, rounds and savings were made, in a paragraph."""
    result = ctx.result
    design, study, sc = result.design, result.scenario.study, result.scenario
    gap = "" if design.gap is None else f" Proven optimality gap: {100 * design.gap:.1f}%."
    text = (
        f"Blocks are the overlay of PCN areas and neighbourhoods ({len(result.blocks)} blocks). "
        f"They were grouped into {len(design.patches)} contiguous lots balanced on weekly care "
        f"hours (±{100 * sc.patches.balance_tolerance:.0f}%), PCN policy "
        f"'{sc.patches.pcn_policy}', by {design.method}.{gap} Rounds for today's arrangement "
        f"(providers across the whole area, carers driving) and for the proposed lots (providers "
        f"per lot, a mixed walking and driving workforce) were planned with the same solvers on "
        f"the same visits{'' if len(study.days) >= sc.savings.week_days else ', then scaled to a week'}. Each provider's week is a rota: its calls are planned once as "
        f"a template day and every day is derived from it (the same round takes a person's call "
        f"each day, worked by its regular carer or, on their days off, a relief; carers work "
        f"{sc.workforce.days_per_week} days a week), and calls the template could not place are "
        f"fitted around those rounds. Drivers' rounds start and end at their "
        f"provider's office (for the proposed lots, the address in the lot with most people "
        f"nearby); walking carers' start and end near their round. "
        + (
            "Every leg counts as travel, including the first and the last, so the saving depends "
            "on where offices and homes are. "
            if sc.savings.base_legs
            else "Travel is counted between visits only, as home-care pay does: the journey to "
            "the first visit and home from the last is left out, and may fall outside the shift. "
        )
        + "Fleets are sized for each shift's busiest hour."
    )
    body = _p(text)
    if study.notes:
        body += _p(study.notes)
    return Section("method", "Method", body)


def assumptions_section(ctx: ReportContext) -> Section:
    """The assumptions in plain words with units, grouped by stage."""
    groups = plain_assumptions(ctx.result.scenario, ctx.result.inputs.travel)
    body = "".join(
        f"<h3>{html.escape(stage)}</h3><ul>"
        + "".join(f"<li>{html.escape(line)}</li>" for line in lines)
        + "</ul>"
        for stage, lines in groups
    )
    body += _p(
        "Every setting is in the scenario file; the scenario fingerprint on this report "
        "identifies the exact settings and input files used."
    )
    return Section("assumptions", "Assumptions", body)


DEFINITIONS = (
    ("Care hours", "Hours of care delivered a week, counting both carers of a visit that needs two."),
    ("Carer travel", "Hours a week carers spend travelling, for every visit of the planned days "
     "scaled to a week. Which legs count is stated in the method. Like for like: where an "
     "arrangement left visits unplanned, its travel per visit planned is scaled to all visits."),
    ("Travel saved", "Carer travel today minus carer travel proposed, as a share of today's."),
    ("Carer hours released", "Hours of carer travel saved a week; the share that could become care "
     "is in the assumptions."),
    ("Cost of travel", "Carer travel at the hourly cost plus miles driven at the mileage rate (see "
     "assumptions), £ a week."),
    ("CO2", "Miles driven × the emissions factor, kg CO2e a week; walking emits none."),
    ("Miles driven per visit", "Miles driven ÷ visits served, counting the legs stated in the "
     "method."),
    ("Miles between visits", "Miles of the legs from one visit to the next ÷ those legs."),
    ("Visits on foot (walking carers only)", "Share of a lot's visits that carers on foot could "
     "reach when planned with walking carers first."),
    ("Visits on foot (mixed workforce)", "Share of visits reached on foot in the proposed rounds."),
    ("Walking class", "Walkable: walking carers reach most visits; car-dependent: they reach under "
     "the threshold in the assumptions; mixed between."),
    ("Withheld", f"A figure for fewer than {MIN_COUNT} people, or one that would let such a figure "
     "be worked out from a total; totals include withheld lots."),
)  # fmt: skip
"""Every figure of the report, defined once."""


def definitions_section(ctx: ReportContext) -> Section:
    """Every figure of the report, defined once."""
    items = "".join(
        f"<dt>{html.escape(term)}</dt><dd>{html.escape(text)}</dd>" for term, text in DEFINITIONS
    )
    return Section("definitions", "Definitions", f"<dl>{items}</dl>")


def sources_section(ctx: ReportContext) -> Section:
    """Where every published figure and factor comes from (cited once, here)."""
    items = [f.source for f in PUBLISHED_TRAVEL]
    items += [f"{finding} ({source})" for finding, source in ANCHORS]
    factors = [text for _, text in FACTOR_SOURCES]
    body = "<h3>Published figures</h3><ul>" + "".join(
        f"<li>{html.escape(i)}</li>" for i in items
    ) + "</ul><h3>Money and emissions factors</h3><ul>" + "".join(
        f"<li>{html.escape(i)}</li>" for i in factors
    ) + "</ul>"  # fmt: skip
    return Section("sources", "Sources", body)


def credits_section(ctx: ReportContext) -> Section:
    """Data credits and licences."""
    body = "<ul>" + "".join(f"<li>{html.escape(a)}</li>" for a in ATTRIBUTIONS) + "</ul>"
    return Section("credits", "Data and credits", body)


def inputs_account_section(ctx: ReportContext) -> Section:
    """The inputs account: every input row kept or left out, and why (counts, never a person)."""
    account = ctx.result.account
    rejected = account.total("rejected")
    outside = account.total("outside every block", "people")
    lead = (
        f"{rejected:,} input rows were rejected and {outside:,} people live outside every block; "
        "each is counted below with the reason."
        if rejected or outside
        else "Every input row was used: none was rejected and nobody lives outside the blocks."
    )
    caption = (
        "Rows read = accepted + rejected; people and visits = inside the blocks + outside every "
        "block; boundary repairs, overlaps and gaps with their areas (rejected rows are listed "
        "in the INTERNAL rejects-INTERNAL.csv)."
    )
    return Section("inputs", "Inputs account", f"<p>{html.escape(lead)}</p>{account.to_html(caption)}")




def ranges_report_section(ctx: ReportContext) -> Section | None:
    """Figures over several synthetic caseloads, when the study was run with seeds > 1."""
    ranges = ctx.result.ranges
    if ranges is None or ranges.empty:
        return None
    from patchplan.sweep_report import ranges_section

    seeds = int(ranges.attrs.get("seeds", ranges["seeds"].max()))
    body = ranges_section(ranges).split("</h2>", 1)[-1]  # the section supplies its own heading
    return Section("ranges", f"Ranges over {seeds} synthetic caseloads", body)


def _ranges_tables(ranges: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Study totals over caseloads (published) and per-lot ranges (INTERNAL: a lot's figures over
    caseloads are not withheld lot by lot)."""
    from patchplan.sweep import TOTAL

    return ranges[ranges["patch_id"] == TOTAL], ranges


SECTIONS: list[SectionBuilder] = [
    summary_section,
    savings_section,
    baseline_section,
    lots_section,
    continuity_section,
    walking_section,
    ranges_report_section,
    layouts_section,
    maps_section,
    unserved_section,
    inputs_account_section,
    method_section,
    assumptions_section,
    definitions_section,
    sources_section,
    credits_section,
]
"""The report's sections in order; add one by adding its builder here."""

_STYLE = """
:root{color-scheme:light}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5rem auto;
  max-width:700px;padding:0 1rem;color:#1a1a1a;background:#fff}
header p{margin:.2rem 0;color:#444}
h1{font-size:1.6rem;margin:0 0 .3rem} h2{margin-top:2rem;border-bottom:1px solid #ccc}
h3{font-size:1.05rem;margin:1.2rem 0 .4rem}
nav ol{columns:2;padding-left:1.2rem;margin:.4rem 0}
.flag{background:#b2182b;color:#fff;padding:.4rem .7rem;border-radius:4px}
table{border-collapse:collapse;font-size:13px;margin:.6rem 0;width:100%}
caption{text-align:left;font-weight:600;padding:.2rem 0 .4rem}
th,td{padding:3px 6px;border-bottom:1px solid #ddd;text-align:right;vertical-align:top}
th[scope=row],thead th:first-child{text-align:left}
thead th{border-bottom:2px solid #888}
tr.total th,tr.total td{font-weight:700;border-top:2px solid #888}
.note{font-size:13px;color:#444}
figure.map{margin:1rem 0}
.map-frame{width:100%;height:480px;border:1px solid #bbb;border-radius:4px;display:block}
figcaption{font-size:11px;color:#444;margin-top:.2rem}
dt{font-weight:600;margin-top:.4rem} dd{margin-left:1rem}
footer{margin-top:2rem;font-size:12px;color:#444;border-top:1px solid #ccc;padding-top:.4rem}
code{font-size:12px}
@media print{
  body{margin:0;max-width:none;padding:0;font-size:10pt}
  h2{break-after:avoid} h3{break-after:avoid}
  table,figure,dl{break-inside:avoid}
  table{font-size:8.5pt}
  .map-frame{height:118mm}
  a{color:inherit;text-decoration:none}
  nav{break-after:avoid}
}
"""


def _page_css(ctx: ReportContext) -> str:
    """A4 pages with our own footer; page margin boxes also turn off the browser's header and
    footer (date, title, file path)."""
    left = f"patchplan {__version__} · scenario {ctx.fingerprint[:12]}".replace('"', "")
    return (
        "@page{size:A4;margin:14mm 14mm 16mm;"
        f'@bottom-left{{content:"{left}";font:8pt system-ui,sans-serif;color:#444}}'
        '@bottom-right{content:"Page " counter(page) " of " counter(pages);'
        "font:8pt system-ui,sans-serif;color:#444}}"
    )


def report_html(
    result: StudyResult,
    map_html: dict[str, str] | None = None,
    *,
    sections: Sequence[SectionBuilder] = SECTIONS,
    date: dt.date | None = None,
) -> str:
    """The committee report as one self-contained HTML page.

    Parameters
    ----------
    result : the study
    map_html : rendered published maps by file suffix ("", "-savings", "-walkability"), embedded
        in the page (built from ``result`` when None)
    sections : the section builders, in order (default :data:`SECTIONS`)
    date : the report's date (default today)
    """
    if map_html is None:
        map_html = {
            k: m.get_root().render() for k, m in build_maps(result).items() if k in MAP_TITLES
        }
    ctx = ReportContext(
        result=result,
        maps={k: v for k, v in map_html.items() if k in MAP_TITLES},
        date=date or dt.date.today(),
        fingerprint=scenario_fingerprint(result.scenario),
    )
    built = [s for s in (make(ctx) for make in sections) if s is not None]
    study = result.scenario.study
    esc = html.escape
    nav = "".join(f'<li><a href="#{s.id}">{esc(s.title)}</a></li>' for s in built)
    body = "".join(
        f'<section id="{s.id}" aria-labelledby="{s.id}-h"><h2 id="{s.id}-h">{esc(s.title)}</h2>'
        f"{s.body}</section>"
        for s in built
    )
    when = f"{ctx.date.day} {ctx.date:%B %Y}"
    return f"""<!doctype html>
<html lang="en-GB"><head><meta charset="utf-8"><title>{esc(study.title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{_page_css(ctx)}{_STYLE}</style></head><body>
<header><h1>{esc(study.title)}</h1>
<p>Home-care lots: a report for committee · {esc(when)}</p>
<p>Made with patchplan {esc(__version__)} · scenario fingerprint <code>{esc(ctx.fingerprint[:12])}</code></p></header>
<nav aria-label="Contents"><h2 id="contents">Contents</h2><ol>{nav}</ol></nav>
<main>{body}</main>
<footer><p>patchplan {esc(__version__)}, {esc(when)}. Scenario fingerprint (settings, input
files and version): <code>{esc(ctx.fingerprint)}</code>.</p></footer>
</body></html>"""


# --------------------------------------------------------------------------------------------
# writing


INTERNAL_README = """INTERNAL — NOT FOR PUBLICATION

The files in this folder locate individual people's homes and visits (rounds, unserved visits,
rejected input rows) or hold figures for fewer than {min_count} people (the per-lot tables with
nothing withheld). Keep them within the council and its providers. The published outputs are in
the sibling folder "published".
"""


def write_outputs(
    result: StudyResult,
    out_dir: str | os.PathLike[str] | None = None,
    maps_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Path]:
    """Write the maps, tables and report of a study; return their paths by name.

    Published outputs go to ``<out_dir>/<name>/published`` (maps to ``published/maps``, or to
    ``maps_dir`` / ``[outputs] maps_dir`` when given), INTERNAL ones to ``<out_dir>/<name>/INTERNAL``.
    """
    name = result.scenario.study.name
    out = Path(out_dir or result.scenario.outputs.dir) / name
    published, internal = out / "published", out / "INTERNAL"
    map_root = Path(maps_dir or result.scenario.outputs.maps_dir or published / "maps")
    written: dict[str, Path] = {}
    patches = published_patches(result)
    rendered = {k: m.get_root().render() for k, m in build_maps(result, patches).items()}
    for suffix, text in rendered.items():
        folder = internal if suffix.endswith("INTERNAL") else map_root
        written[f"map{suffix or '-lots'}"] = io.write_text(folder / f"{name}{suffix}.html", text)

    people = _people(result)
    disclosure = withheld_areas(people)
    blocks = result.blocks.merge(
        result.design.layout.rename("patch_id"), left_on="block_id", right_index=True
    )
    public = {
        "patches": publishable(patches, "people", keep=LOT_KEEP, id_column="patch_id"),
        "summary": publishable(result.summary, "people", keep=LOT_KEEP).reset_index(),
        "savings": publishable(result.savings, people).reset_index(),
        "blocks": blocks,
    }
    if result.explained is not None:
        public["explained"] = _published_totals(result.explained, disclosure).reset_index()
    if result.baseline is not None:
        public["baseline"] = _published_totals(result.baseline, disclosure).reset_index()
    if result.layouts is not None:
        public["layouts"] = _published_totals(result.layouts, disclosure).reset_index()
    public["inputs-account"] = result.account.table()
    public.update(_week_tables(result, people))
    for key, frame in public.items():
        written[key] = io.write_csv(frame, published / f"{key}.csv")
    layers = {"patches": public["patches"], "blocks": blocks}
    written["gpkg"] = io.write_gpkg(layers, published / f"{name}.gpkg")
    report = report_html(result, rendered)
    written["report"] = io.write_text(published / "report.html", report)

    private = {
        "rounds-INTERNAL": result.proposed.rounds,
        "rounds-today-INTERNAL": result.today.rounds,
        "unserved-INTERNAL": result.unserved,
        "rejects-INTERNAL": result.inputs.demand.rejects,
        "summary-INTERNAL": result.summary.reset_index(),
        "savings-INTERNAL": result.savings.reset_index(),
    }
    if result.ranges is not None:
        public_ranges, private["ranges-INTERNAL"] = _ranges_tables(result.ranges)
        written["ranges"] = io.write_csv(public_ranges, published / "ranges.csv")
    for key, frame in private.items():
        written[key] = io.write_csv(frame, internal / f"{key}.csv")
    written["readme-INTERNAL"] = io.write_text(
        internal / "README-INTERNAL.txt", INTERNAL_README.format(min_count=MIN_COUNT)
    )
    return written
