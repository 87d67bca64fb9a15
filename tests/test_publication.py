"""The one disclosure rule: a lot of 4 people can be recovered from no published output.

The end-to-end case is generated: the synthetic town with 60 people, its lots fixed so that one lot
is a single neighbourhood of exactly 4 people. Every published output (CSV, GeoPackage, report,
maps and the console table) must withhold it, and withhold a second lot with it, so that no total
minus the lots shown gives its count or hours.
"""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from patchplan import pipeline
from patchplan.cli import _summary_table
from patchplan.publication import MIN_COUNT, publishable, withheld_areas, withheld_note
from patchplan.report import write_outputs

# --------------------------------------------------------------------------------------------
# the rule


def test_a_small_area_and_the_next_smallest_are_withheld():
    people = pd.Series({"A": 40, "B": 4, "C": 12, "D": 30})
    d = withheld_areas(people)
    assert d.primary == ("B",) and d.secondary == ("C",)
    assert d.withheld_people == 16 and not d.total_withheld


def test_two_small_areas_that_together_hold_fewer_than_five_pull_in_a_third():
    d = withheld_areas(pd.Series({"A": 2, "B": 2, "C": 9, "D": 12}))
    assert set(d.withheld) == {"A", "B", "C"}


def test_nothing_is_withheld_when_every_area_is_large_enough():
    d = withheld_areas(pd.Series({"A": 5, "B": 6}))
    assert d.withheld == () and withheld_note(d) == ""


def test_a_tiny_study_withholds_its_total_too():
    table = pd.DataFrame(
        {"people": [2, 1, 3], "hours": [20.0, 5.0, 30.0]}, index=["A", "B", "total"]
    )
    out = publishable(table)
    assert out["withheld"].all() and out["hours"].isna().all()
    assert "Every figure is withheld" in withheld_note(out.attrs["disclosure"])


def test_publishable_keeps_identifiers_and_design_but_withholds_every_figure():
    table = pd.DataFrame(
        {
            "name": ["North", "South", "East"],
            "providers": [2, 2, 3],
            "people": [40, 3, 20],
            "hours_week": [600.0, 40.0, 300.0],
            "walk_class": ["walkable", "mixed", "car-dependent"],
        },
        index=pd.Index(["P01", "P02", "P03"], name="patch_id"),
    )
    out = publishable(table, keep=("name", "providers"))
    assert out.loc["P02", "name"] == "South" and out.loc["P02", "providers"] == 2
    assert out.loc[["P02", "P03"], ["people", "hours_week"]].isna().all().all()
    assert out.loc[["P02", "P03"], "walk_class"].isna().all()
    assert out.loc["P01", "hours_week"] == 600.0


@given(st.lists(st.integers(0, 40), min_size=1, max_size=12))
def test_no_withheld_area_can_be_singled_out_from_the_total(counts):
    people = pd.Series(counts, index=[f"A{i}" for i in range(len(counts))])
    d = withheld_areas(people)
    small = set(people[people < MIN_COUNT].index)
    assert small <= set(d.withheld)  # every small area is withheld
    with_people = people[list(d.withheld)][lambda s: s > 0]
    if d.total_withheld:
        assert people.sum() < MIN_COUNT
    elif len(with_people):
        # the total minus the areas shown is a sum of two or more areas with at least 5 people
        assert len(with_people) >= 2 and with_people.sum() >= MIN_COUNT
    shown = people.drop(index=list(d.withheld))
    assert (shown >= MIN_COUNT).all()


# --------------------------------------------------------------------------------------------
# a generated study with a lot of 4 people

SMALL_LOT = "P01"  # see conftest.small_lot_scenario


@pytest.fixture(scope="module")
def result(small_lot_scenario):
    return pipeline.run(small_lot_scenario)


@pytest.fixture(scope="module")
def outputs(result, tmp_path_factory):
    return write_outputs(result, tmp_path_factory.mktemp("privacy") / "outputs")


@pytest.fixture(scope="module")
def secret(result):
    """The small lot's true figures, and the lot withheld with it."""
    summary = result.summary
    assert summary.loc[SMALL_LOT, "people"] == 4
    disclosure = result.disclosure
    assert disclosure.primary == (SMALL_LOT,) and len(disclosure.secondary) == 1
    return summary, disclosure


FIGURES = ("people", "hours_week", "visits", "care_hours", "today_travel_min_lfl",
           "proposed_travel_min_lfl", "saved_travel_min", "saved_travel_pct", "walk_visit_share",
           "walking_carers", "walk_class")  # fmt: skip


def assert_no_subtraction_recovers_the_small_lot(table: pd.DataFrame, id_col: str, secret):
    summary, disclosure = secret
    rows = table.set_index(id_col)
    withheld = list(disclosure.withheld)
    figures = [c for c in FIGURES if c in rows.columns]
    assert figures, "the table holds per-lot figures"
    assert rows.loc[withheld, figures].isna().all().all(), "withheld lots show no figure"
    shown = rows.drop(index=[*withheld, "total"], errors="ignore")
    assert shown[figures].notna().any().any()
    if "total" in rows.index:
        for col in ("people", "hours_week", "care_hours", "visits"):
            if col in rows.columns and col in summary.columns:
                gap = rows.loc["total", col] - shown[col].sum()
                # the total minus the lots shown is the two withheld lots together, never one
                assert gap == pytest.approx(summary.loc[withheld, col].sum())
                assert gap != pytest.approx(summary.loc[SMALL_LOT, col])


def test_published_csvs_withhold_the_small_lot_and_one_more(outputs, secret):
    for key, id_col in (("patches", "patch_id"), ("summary", "patch_id"), ("savings", "patch_id")):
        table = pd.read_csv(outputs[key])
        assert_no_subtraction_recovers_the_small_lot(table, id_col, secret)


def test_the_geopackage_withholds_the_small_lot_and_one_more(outputs, secret):
    layer = gpd.read_file(outputs["gpkg"], layer="patches")
    assert_no_subtraction_recovers_the_small_lot(layer, "patch_id", secret)


def test_internal_tables_keep_every_figure_and_say_so_by_name_and_folder(outputs):
    table = pd.read_csv(outputs["summary-INTERNAL"]).set_index("patch_id")
    assert table.loc[SMALL_LOT, "people"] == 4
    assert outputs["summary-INTERNAL"].parent.name == "INTERNAL"


def _row(report: str, label: str) -> list[str]:
    """The cells of every table row whose header starts with ``label``."""
    rows = re.findall(r'<tr[^>]*><th scope="row">([^<]*)</th>(.*?)</tr>', report)
    return [c for head, cells in rows if head.startswith(label)
            for c in re.findall(r"<td>([^<]*)</td>", cells)]  # fmt: skip


def test_the_report_withholds_the_small_lot_and_says_so_in_its_totals(outputs, secret):
    summary, disclosure = secret
    report = outputs["report"].read_text()
    for lot in disclosure.withheld:
        cells = _row(report, f"{lot} ")
        assert cells and all(c in ("withheld", "2") or c.startswith("PCN") for c in cells), cells
    totals = _row(report, "All lots")
    assert f"{summary.loc['total', 'people']:,.0f}" in totals
    note = withheld_note(disclosure)
    assert "withheld" in note and "The totals include the 2 withheld lots" in note
    assert note in report.replace("&#x27;", "'")


def _features(map_html: str) -> list[dict]:
    """The GeoJSON features' properties in a Folium map."""
    return [
        json.loads(m)
        for m in re.findall(r'"properties": (\{[^{}]*\})', map_html)
        if '"lot"' in m or '"patch_id"' in m
    ]


def test_published_maps_withhold_the_small_lot_and_one_more(outputs, result, secret):
    summary, disclosure = secret
    hours = f"{summary.loc[SMALL_LOT, 'hours_week']:,.0f}"
    for key in ("map-lots", "map-savings", "map-walkability"):
        text = outputs[key].read_text()
        features = _features(text)
        assert features, key
        for props in features:
            lot = props.get("patch_id") or props["lot"].split()[0]
            values = [v for k, v in props.items() if k not in ("patch_id", "lot", "lot_providers")]
            if lot in disclosure.withheld:
                assert all(v == "withheld" for v in values), (key, props)
            else:
                assert all(v != "withheld" for v in values), (key, props)
        assert f"{hours} care hours a week" not in text and "4 people" not in text, key
        assert text.count("figures withheld") == 2, key


def test_the_console_table_withholds_the_small_lot_and_says_what_is_withheld(result, secret):
    _, disclosure = secret
    console = Console(record=True, width=160)
    console.print(_summary_table(result))
    text = console.export_text()
    lines = {line.split()[0]: line for line in text.splitlines() if line.split()}
    for lot in disclosure.withheld:
        assert lines[lot].count("withheld") >= 5, lines[lot]
    assert " 60 " in lines["total"]  # the total is shown: it cannot single out one lot
    assert "The totals include the 2 withheld lots" in " ".join(text.split())


def test_no_published_file_holds_the_small_lots_people_count_beside_its_id(outputs):
    for key, path in outputs.items():
        if "INTERNAL" in key or path.suffix not in (".csv", ".html"):
            continue
        text = path.read_text()
        assert not re.search(rf"{SMALL_LOT}[^\n<]{{0,40}}\b4 people", text), key
        assert np.all([f"{SMALL_LOT},4" not in line for line in text.splitlines()]), key
