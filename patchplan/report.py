"""The committee summary: an HTML page with the maps, plus CSV and GeoPackage tables.

:func:`write_outputs` writes everything for one study, each file atomically (``patchplan.io``):

``<maps_dir>/<name>.html``                 lots map (published)
``<maps_dir>/<name>-savings.html``         travel saved per patch (published)
``<maps_dir>/<name>-walkability.html``     walking class per patch (published)
``<maps_dir>/<name>-rounds-INTERNAL.html`` carers' rounds, street by street (internal only)
``<out_dir>/<name>/report.html``           the committee page (embeds the published maps)
``<out_dir>/<name>/*.csv``                 patches, blocks, savings, rounds, unserved, rejects,
                                           layouts (proposed lots against today's areas)
``<out_dir>/<name>/<name>.gpkg``           patches and blocks layers for QGIS

Published outputs hold only area-level figures with counts under 5 people withheld.
"""

from __future__ import annotations

import dataclasses
import html
import os
from pathlib import Path

import folium
import geopandas as gpd
import pandas as pd

from patchplan import io, maps
from patchplan.pipeline import StudyResult
from patchplan.savings import ANCHORS, FACTOR_SOURCES

ATTRIBUTIONS = (
    "Street network © OpenStreetMap contributors, available under the Open Database Licence (ODbL).",
    "Contains OS data © Crown copyright and database right.",
    "Contains National Statistics data © Crown copyright and database right.",
    "ONS, NHS Digital and MHCLG data are used under the Open Government Licence v3.0.",
)
MIN_COUNT = 5


def published_patches(result: StudyResult) -> gpd.GeoDataFrame:
    """Patch polygons with the per-patch summary, ready for published maps and exports."""
    summary = result.summary.drop(index="total", errors="ignore")
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


def _savings_areas(result: StudyResult) -> gpd.GeoDataFrame:
    table = result.savings.drop(index="total").reset_index()
    people = result.design.patches[["patch_id", "people", "geometry"]]
    return people.merge(table, on="patch_id", how="left")


def build_maps(
    result: StudyResult, patches: gpd.GeoDataFrame | None = None
) -> dict[str, folium.Map]:
    """The four maps of a study as ``folium.Map`` objects, keyed by file suffix."""
    study = result.scenario.study
    synthetic, estimate = study.synthetic, result.estimate
    patches = published_patches(result) if patches is None else patches
    built = {
        "": maps.lots_map(
            patches,
            pcn_outlines(result),
            result.inputs.neighbourhoods,
            existing=result.inputs.existing,
            title=f"{study.title}: proposed lots",
            synthetic=synthetic,
            estimate=estimate,
        ),
        "-savings": maps.savings_map(
            _savings_areas(result),
            title=f"{study.title}: carer travel saved",
            synthetic=synthetic,
            estimate=estimate,
        ),
    }
    if "walk_class" in patches:
        built["-walkability"] = maps.walkability_map(
            patches.dropna(subset=["walk_class"]),
            title=f"{study.title}: walking",
            synthetic=synthetic,
            estimate=estimate,
        )
    if result.scenario.outputs.internal_maps and not result.proposed.rounds.empty:
        legs = rounds_legs(result)
        built["-rounds-INTERNAL"] = maps.rounds_map(
            legs,
            result.design.patches,
            title=f"{study.title}: proposed rounds, day {study.days[0]}",
            synthetic=synthetic,
            estimate=estimate,
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


def _table_html(frame: pd.DataFrame, digits: int = 1) -> str:
    return frame.to_html(
        classes="pp-table",
        float_format=lambda v: f"{v:,.{digits}f}",
        na_rep="–",
        border=0,
        escape=True,
    )


def _assumptions(result: StudyResult) -> pd.DataFrame:
    rows = []
    sc = result.scenario
    for section in ("study", "demand", "patches", "rounds", "workforce", "savings", "network"):
        settings = getattr(sc, section)
        for f in dataclasses.fields(settings):
            value = getattr(settings, f.name)
            rows.append({"section": section, "setting": f.name, "value": str(value)})
    return pd.DataFrame(rows)


COMMITTEE_COLUMNS = {
    "hours_week": ("Care hours a week", "{:,.0f}"),
    "people": ("People", "{:,.0f}"),
    "providers": ("Providers", "{:,.0f}"),
    "pcn_ids": ("PCNs", "{}"),
    "today_travel_min_lfl": ("Travel today (h/week)", "{:,.0f}"),
    "proposed_travel_min_lfl": ("Travel proposed (h/week)", "{:,.0f}"),
    "saved_travel_pct": ("Travel saved", "{:.0f}%"),
    "walk_visit_share": ("Visits on foot", "{:.0%}"),
    "walk_class": ("Walking class", "{}"),
    "proposed_carers_per_person_median": ("Carers per person a week (median)", "{:.0f}"),
    "proposed_top2_share": ("Visits by a person's two most frequent carers", "{:.0%}"),
}


def _formatted(
    table: pd.DataFrame, columns: dict[str, tuple[str, str]], index: str
) -> pd.DataFrame:
    """``table``'s ``columns`` (name → (title, format)) as text under their titles; blanks as "–"."""
    out = pd.DataFrame(index=table.index.rename(index))
    for col, (title, fmt) in columns.items():
        if col in table:
            out[title] = ["–" if pd.isna(v) or v == "" else fmt.format(v) for v in table[col]]
    return out


def committee_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The per-lot table with readable headers and units; figures for fewer than 5 people withheld."""
    table = summary.copy()
    for col in ("today_travel_min_lfl", "proposed_travel_min_lfl"):
        table[col] = table[col] / 60.0
    out = _formatted(table, COMMITTEE_COLUMNS, "Lot")
    if "PCNs" in out:
        out["PCNs"] = out["PCNs"].str.replace(",", ", ")
    small = table["people"] < MIN_COUNT
    out.loc[small, ["People", "Care hours a week"]] = "withheld"
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
    return _formatted(layouts, LAYOUT_COLUMNS, "")


# -- the week: visits on foot and continuity of carer (issue #12) ------------------------------


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


def _week_html(result: StudyResult) -> str:
    """Continuity of carer per lot and how the walking classes are drawn."""
    parts = []
    if result.continuity is not None:
        table = result.summary.reindex(columns=list(CONTINUITY_COLUMNS))
        people = result.summary["people"]
        table.loc[(people < MIN_COUNT).to_numpy()] = float("nan")  # withheld, as the lot table
        parts.append(
            "<h2>Continuity of carer</h2>"
            f"{_formatted(table, CONTINUITY_COLUMNS, 'Lot').to_html(classes='pp-table', border=0)}"
            "<p>Over the planned week, for each person: how many different carers visited them, "
            "and the share of their visits (each carer of a double-up counted) made by their two "
            "most frequent carers. Both arrangements are planned as the same kind of weekly rota, "
            "so the difference between them comes from the lots.</p>"
        )
    walk = result.scenario.feasibility.thresholds(result.scenario.rounds.max_walk_leg_min)
    parts.append(
        "<h2>Walking</h2><p>Visits on foot are the share of a lot's visits in the proposed plan "
        "made by walking carers (the total is over all lots' visits). Walking classes, decided "
        f"before planning from where walking carers live: {html.escape(walk)}.</p>"
    )
    return "".join(parts)


def _week_tables(result: StudyResult) -> dict[str, pd.DataFrame]:
    """The walking figures and continuity per lot, for CSV."""
    tables = {"walking": result.walking}
    if result.continuity is not None:
        tables["continuity"] = result.continuity.reset_index()
    return tables


def report_html(result: StudyResult, map_files: dict[str, Path], report_dir: Path) -> str:
    """The committee page: headline figures, summary table, maps, method notes, attributions."""
    study = result.scenario.study
    total = result.savings.loc["total"]
    flags = []
    if study.synthetic:
        flags.append(
            "The people and visits are SYNTHETIC, generated from small-area population; no real person is shown."
        )
    if result.estimate:
        flags.append(
            "Travel times are a STRAIGHT-LINE ESTIMATE (crow-fly distance × circuity at mode speed), not a street network."
        )
    headline = [
        ("Proposed lots", f"{len(result.design.patches)}"),
        ("Care hours a week", f"{total['care_hours']:,.0f}"),
        ("Carer travel a week, today", f"{total['today_travel_min_lfl'] / 60:,.0f} h"),
        ("Carer travel a week, proposed", f"{total['proposed_travel_min_lfl'] / 60:,.0f} h"),
        ("Travel saved", f"{total['saved_travel_pct']:.0f}%"),
        ("Carer hours released a week", f"{total['carer_hours_released']:,.0f}"),
        ("Saving a week", f"£{total['saved_cost_gbp']:,.0f}"),
        ("CO2 avoided a week", f"{total['saved_co2_kg']:,.0f} kg"),
        *_week_headline(result),
    ]
    cards = "".join(
        f'<div class="card"><div class="v">{html.escape(v)}</div><div class="k">{html.escape(k)}</div></div>'
        for k, v in headline
    )
    summary = committee_table(result.summary)
    frames = "".join(
        f'<h3>{html.escape(title)}</h3><iframe src="{html.escape(os.path.relpath(map_files[key], report_dir))}" loading="lazy"></iframe>'
        for key, title in (
            ("", "Proposed lots"),
            ("-savings", "Travel saved"),
            ("-walkability", "Walking"),
        )
        if key in map_files
    )
    anchors = "".join(
        f"<li>{html.escape(a)} <span class='src'>({html.escape(s)})</span></li>" for a, s in ANCHORS
    )
    design = result.design
    gap = "" if design.gap is None else f" Proven optimality gap: {100 * design.gap:.1f}%."
    method = (
        f"Blocks are the overlay of PCN areas and neighbourhoods ({len(result.blocks)} blocks). "
        f"They were grouped into {len(design.patches)} contiguous patches balanced on weekly care hours "
        f"(±{100 * result.scenario.patches.balance_tolerance:.0f}%), PCN policy '{result.scenario.patches.pcn_policy}', "
        f"by {design.method}.{gap} Rounds for today's arrangement (providers across the whole area, carers driving) "
        f"and for the proposed lots (providers per lot, a mixed walking and driving workforce) were planned with the "
        f"same OR-Tools solver on the same visits for day(s) {', '.join(map(str, study.days))}"
        f"{'' if len(study.days) >= result.scenario.savings.week_days else ' and scaled to a week'}. "
        "Each provider's week is a rota: its calls are planned once as a template day and every day is "
        "derived from it (the same round takes a person's call each day, worked by its regular carer or, on "
        f"their days off, a relief; carers work {result.scenario.workforce.days_per_week} days a week), and "
        "calls the template could not place are fitted around those rounds. "
        f"Drivers' rounds start and end at their provider's office; walking carers' start and end near their round "
        f"(homes spread over the lot's visits), as non-driving carers recruited locally do. "
        + (
            "Every leg counts as travel, including the first and the last, so the saving depends on where offices and homes are. "
            if result.scenario.savings.base_legs
            else "Travel is counted between visits only, as home-care pay does: the journey to the first visit and home from the last is left out. "
        )
        + "Fleets are sized for each shift's busiest hour."
    )
    unserved = (
        result.unserved.groupby(["arrangement", "reason"]).size().rename("visits").reset_index()
    )
    layouts = ""
    if result.layouts is not None:
        layouts = (
            "<h2>Proposed lots against today's areas</h2>"
            f"{_table_html(layouts_table(result.layouts))}"
            "<p>Both scored with the same yardstick on the same blocks (each block counted in the "
            "existing area it mostly lies in): balance is the largest gap between an area's care "
            "hours and the average; travel per leg is the expected time between two visits drawn "
            "from the same area; walkable legs are those within walking reach.</p>"
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(study.title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#222}}
h1{{margin-bottom:.2rem}} .flag{{background:#b2182b;color:#fff;padding:.4rem .7rem;border-radius:4px;margin:.3rem 0}}
.cards{{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:.6rem;margin:1rem 0}}
.card{{border:1px solid #ddd;border-radius:6px;padding:.6rem .8rem}} .v{{font-size:1.4rem;font-weight:600}} .k{{color:#555}}
.pp-table{{border-collapse:collapse;font-size:13px}} .pp-table td,.pp-table th{{padding:3px 8px;border-bottom:1px solid #eee;text-align:right}}
iframe{{width:100%;height:520px;border:1px solid #ccc;border-radius:6px}} .src{{color:#666}}
</style></head><body>
<h1>{html.escape(study.title)}</h1>
{"".join(f'<div class="flag">{html.escape(f)}</div>' for f in flags)}
<div class="cards">{cards}</div>
<h2>Per lot</h2>{summary.to_html(classes="pp-table", border=0, escape=True, na_rep="–")}
<p>Counts under {MIN_COUNT} people are withheld. Travel is carer hours a week for all the lot's visits (see the method for which legs count): where an arrangement left visits unplanned (see below), its travel per visit planned is scaled up to all the lot's visits, so a dropped visit never reads as a saving. Walking share is the share of visits reached on foot.</p>
{layouts}{_week_html(result)}<h2>Maps</h2>{frames}
<h2>Savings beside published figures</h2><ul>{anchors}</ul>
<h2>Method</h2><p>{html.escape(method)}</p>
<p>{html.escape(study.notes)}</p>
<h2>Visits not planned</h2>{_table_html(unserved) if len(unserved) else "<p>None: every visit was planned in both arrangements.</p>"}
<h2>Assumptions</h2>{_table_html(_assumptions(result))}
<p>Sources of the savings factors:</p><ul>{"".join(f"<li><code>{html.escape(k)}</code>: {html.escape(s)}</li>" for k, s in FACTOR_SOURCES)}</ul>
<h2>Data</h2><ul>{"".join(f"<li>{html.escape(a)}</li>" for a in ATTRIBUTIONS)}</ul>
<p class="src">Made with patchplan. Runtime: {sum(result.timings_s.values()):.0f} s.</p>
</body></html>"""


def write_outputs(
    result: StudyResult,
    out_dir: str | os.PathLike[str] | None = None,
    maps_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Path]:
    """Write the maps, tables and report of a study; return their paths by name."""
    name = result.scenario.study.name
    out = Path(out_dir or result.scenario.outputs.dir) / name
    map_root = Path(maps_dir or result.scenario.outputs.maps_dir)
    written: dict[str, Path] = {}
    map_files: dict[str, Path] = {}
    patches = published_patches(result)
    for suffix, fmap in build_maps(result, patches).items():
        map_files[suffix] = io.write_map(fmap, map_root / f"{name}{suffix}.html")
        written[f"map{suffix or '-lots'}"] = map_files[suffix]

    tables = {
        "patches": patches,
        "blocks": result.blocks.merge(
            result.design.layout.rename("patch_id"), left_on="block_id", right_index=True
        ),
        "savings": result.savings.reset_index(),
        "summary": result.summary.reset_index(),
        "rounds-INTERNAL": result.proposed.rounds,
        "rounds-today-INTERNAL": result.today.rounds,
        "unserved": result.unserved,
        **({"layouts": result.layouts.reset_index()} if result.layouts is not None else {}),
        **_week_tables(result),
        "rejects": result.inputs.demand.rejects,
    }
    for key, frame in tables.items():
        written[key] = io.write_csv(frame, out / f"{key}.csv")
    layers = {"patches": patches, "blocks": tables["blocks"]}
    written["gpkg"] = io.write_gpkg(layers, out / f"{name}.gpkg")
    written["report"] = io.write_text(out / "report.html", report_html(result, map_files, out))
    return written
