"""Demand: the synthetic caseload (hand-made areas and real Sheffield), loading people and visits
with every bad row rejected with its reason, summaries by area and publication-safe counts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, box

from patchplan import CRS
from patchplan.boundaries import load_layer
from patchplan.demand import (
    Demand,
    DemandSettings,
    aggregate_for_publication,
    demand_by_area,
    load_demand,
    load_postcodes,
    synthesise_demand,
)
from patchplan.errors import DemandError

E0, N0 = 435_000.0, 387_000.0


def toy_areas() -> gpd.GeoDataFrame:
    """Six 500 m squares with residents aged 65+ and an IMD decile."""
    cells = [
        box(E0 + i * 500, N0 + j * 500, E0 + (i + 1) * 500, N0 + (j + 1) * 500)
        for j in range(2)
        for i in range(3)
    ]
    return gpd.GeoDataFrame(
        {
            "id": [f"A{k}" for k in range(6)],
            "pop65": [400, 100, 250, 0, 300, 150],
            "imd": [1, 10, 5, 3, 8, 2],
        },
        geometry=cells,
        crs=CRS,
    )


SMALL = DemandSettings(people=300, hours_week=300 * 15.6)


# --------------------------------------------------------------------------------------------------
# synthesise_demand
# --------------------------------------------------------------------------------------------------


def test_small_synthetic_caseload_meets_its_targets_and_the_contract():
    demand = synthesise_demand(
        toy_areas(), population_column="pop65", deprivation_column="imd", settings=SMALL, seed=3
    )
    people, visits = demand.people, demand.visits
    assert len(people) == 300 and people["person_id"].is_unique
    assert demand.hours_week == pytest.approx(300 * 15.6, rel=0.01)
    assert list(visits.columns[:8]) == [
        "visit_id",
        "person_id",
        "day",
        "earliest",
        "latest",
        "duration",
        "carers",
        "skills",
    ]
    assert visits["visit_id"].is_unique
    assert set(visits["day"]) == set(range(7))
    assert set(visits["duration"]) <= {30, 45, 60}  # no 15-minute calls
    assert set(visits["carers"]) == {1, 2}
    assert (visits["latest"] >= visits["earliest"]).all()
    assert visits.crs.to_epsg() == 27700 and people.crs.to_epsg() == 27700
    assert (people["area_id"] != "A3").all()  # no residents aged 65+, no clients
    calls_a_day = visits.groupby(["person_id", "day"]).size()
    assert calls_a_day.between(1, 4).all() and visits["person_id"].nunique() == 300
    assert demand.summary["double_up_share_visits"] == pytest.approx(0.10, abs=0.02)
    assert demand.rejects.empty and list(demand.rejects.columns) == [
        "source",
        "row",
        "record_id",
        "reason",
        "kind",
    ]


def test_some_calls_run_on_some_days_only():
    """About ``non_daily_share`` of people have one call that is not daily; 0 makes all daily."""
    visits = synthesise_demand(
        toy_areas(), population_column="pop65", settings=SMALL, seed=2
    ).visits
    call = visits["visit_id"].str.replace(r"-D\d-", "-", regex=True)  # person and call, not day
    days_run = visits.groupby(call)["day"].nunique()
    people_non_daily = days_run[days_run < 7].index.str.split("-").str[0].nunique()
    assert people_non_daily == pytest.approx(0.2 * 300, abs=20)
    assert set(days_run) <= {2, 3, 5, 7}
    weekday_only = visits[call.map(days_run).eq(5).to_numpy()]
    assert set(weekday_only["day"]) == set(range(5))  # weekdays only: family covers the weekend
    daily = synthesise_demand(
        toy_areas(), population_column="pop65", settings=replace(SMALL, non_daily_share=0.0), seed=2
    ).visits
    assert daily.groupby(["person_id"])["day"].nunique().eq(7).all()
    assert len(daily) == 7 * (daily["day"] == 0).sum()
    # the weekly hours are hit either way
    for v in (visits, daily):
        assert (v["duration"] * v["carers"]).sum() / 60 == pytest.approx(300 * 15.6, rel=0.01)


def test_a_persons_calls_in_a_day_never_overlap():
    visits = synthesise_demand(
        toy_areas(), population_column="pop65", settings=SMALL, seed=1
    ).visits
    day = visits[visits["day"] == 2].sort_values(["person_id", "earliest"])
    latest_end = day["latest"] + day["duration"]
    next_start = day.groupby("person_id")["earliest"].shift(-1)
    assert (latest_end[next_start.notna()] <= next_start[next_start.notna()]).all()


def test_synthesis_is_deterministic_from_the_seed():
    a = synthesise_demand(toy_areas(), population_column="pop65", settings=SMALL, seed=11)
    b = synthesise_demand(toy_areas(), population_column="pop65", settings=SMALL, seed=11)
    c = synthesise_demand(toy_areas(), population_column="pop65", settings=SMALL, seed=12)
    pd.testing.assert_frame_equal(a.visits, b.visits)
    assert a.people.geometry.equals(b.people.geometry)
    assert not a.people.geometry.equals(c.people.geometry)


def test_people_are_placed_at_addresses_of_their_area_or_inside_it():
    areas = toy_areas()
    addresses = gpd.GeoDataFrame(
        {"postcode": ["S1 1AA", "S1 1AB"], "area_id": ["A0", "A0"]},
        geometry=[Point(E0 + 100, N0 + 100), Point(E0 + 300, N0 + 200)],
        crs=CRS,
    )
    demand = synthesise_demand(
        areas, population_column="pop65", addresses=addresses, settings=SMALL
    )
    people = demand.people
    in_a0 = people["area_id"] == "A0"
    assert set(people.loc[in_a0, "address_id"]) <= {"S1 1AA", "S1 1AB"}
    assert (people.loc[~in_a0, "address_id"] == "").all()  # no address points there: random points
    assert demand.summary["people_at_addresses"] == in_a0.sum()
    by_area = demand_by_area(demand, areas)
    assert by_area.attrs["outside_people"] == []  # every random point lies inside its own area
    assert by_area.loc[people["area_id"].unique(), "people"].sum() == 300


def test_settings_that_cannot_reach_the_hours_are_an_error():
    with pytest.raises(DemandError, match="needs visits of .* min on average"):
        synthesise_demand(
            toy_areas(),
            population_column="pop65",
            settings=DemandSettings(people=100, hours_week=100),
        )
    with pytest.raises(DemandError, match="double_up_share"):
        synthesise_demand(
            toy_areas(), population_column="pop65", settings=DemandSettings(double_up_share=1.5)
        )
    with pytest.raises(DemandError, match="no positive values"):
        synthesise_demand(toy_areas().assign(pop65=0), population_column="pop65")


def test_demand_settings_fields_are_plain_typed_for_scenarios():
    import dataclasses
    import typing

    hints = typing.get_type_hints(DemandSettings)
    for f in dataclasses.fields(DemandSettings):
        assert hints[f.name] in (
            int,
            float,
            str,
            tuple[int, int],
            tuple[float, float, float, float],
            tuple[str, ...],
        )


# --------------------------------------------------------------------------------------------------
# load_demand: every bad row rejected with its reason, good rows kept
# --------------------------------------------------------------------------------------------------

CODEPOINT_ROWS = [
    '"S1 1AA",10,435732,387312,"E92000001","E19000001","E18000003","","E08000019","E05010862"',
    '"S1 1AD",10,435310,387623,"E92000001","E19000001","E18000003","","E08000019","E05010862"',
    '"S1 9ZZ",90,0,0,"E92000001","","","","",""',
]


@pytest.fixture
def postcode_file(tmp_path: Path) -> Path:
    path = tmp_path / "S.csv"  # as OS ships it: no header row
    path.write_text("\n".join(CODEPOINT_ROWS) + "\n")
    return path


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text.strip() + "\n")
    return path


PEOPLE = """
person_id,postcode,lat,lon,easting,northing
P1,S1 1AA,,,,
P2,s11ad,,,,
P3,,53.36,-1.47,,
P4,,,,436000,388000
P5,S99 9ZZ,,,,
P6,,,,,
P7,,,,436100,388100
P7,,,,436200,388200
P8,,,,436300,388300
P9,,95.0,-1.47,,
"""

VISITS = """
visit_id,person_id,day,earliest,latest,duration,carers,skills
V1,P1,0,08:00,09:00,30,1,
V2,P2,Tue,480,540,45,2,hoist
V3,P3,6,08:00,07:30,30,1,
V4,P3,6,12:00,12:30,30,1,
V5,P4,1,08:00,09:00,0,1,
V6,P4,1,23:30,23:45,45,1,
V7,P4,1,18:00,18:30,30,3,
V8,P4,2,17:00,17:30,30,1,
V9,P5,0,08:00,09:00,30,1,
V10,P7,0,08:00,09:00,30,1,
V11,P42,0,08:00,09:00,30,1,
V12,P1,8,08:00,09:00,30,1,
V13,P1,0,8h,09:00,30,1,
V13,P1,1,08:00,09:00,30,1,
"""


@pytest.fixture
def loaded(tmp_path: Path, postcode_file: Path) -> Demand:
    return load_demand(
        write(tmp_path, "people.csv", PEOPLE),
        write(tmp_path, "visits.csv", VISITS),
        postcodes=postcode_file,
    )


def reason(demand: Demand, source: str, record_id: str) -> str:
    hits = demand.rejects[
        (demand.rejects["source"] == source) & (demand.rejects["record_id"] == record_id)
    ]
    assert len(hits) >= 1, f"{source} {record_id} not rejected"
    return " | ".join(hits["reason"])


def test_good_rows_survive_with_their_locations(loaded: Demand):
    people = loaded.people.set_index("person_id")
    assert sorted(people.index) == ["P1", "P2", "P3", "P4"]
    assert people.loc["P1", "geometry"].equals(Point(435732, 387312))
    assert people.loc["P2", "geometry"].equals(Point(435310, 387623))  # postcode normalised
    assert people.loc["P4", "geometry"].equals(Point(436000, 388000))
    assert (
        people.loc["P3", "geometry"].distance(Point(435_370, 384_922)) < 5
    )  # Sheffield, 2 m Helmert
    assert people.loc["P3", "located_by"] == "lat/lon"
    visits = loaded.visits.set_index("visit_id")
    assert sorted(visits.index) == ["V1", "V2", "V4", "V8"]
    assert visits.loc[
        "V2", ["day", "earliest", "latest", "duration", "carers", "skills"]
    ].tolist() == [1, 480, 540, 45, 2, "hoist"]
    assert visits.loc["V1", "geometry"].equals(Point(435732, 387312))  # the person's home
    assert loaded.hours_week == pytest.approx((30 + 90 + 30 + 30) / 60)


def test_unknown_postcode_is_rejected(loaded: Demand):
    assert reason(loaded, "people.csv", "P5") == "unknown postcode S99 9ZZ"
    assert "person P5 was rejected (people.csv row 5)" in reason(loaded, "visits.csv", "V9")


def test_person_without_location_and_impossible_coordinates_are_rejected(loaded: Demand):
    assert reason(loaded, "people.csv", "P6").startswith("no location")
    assert (
        reason(loaded, "people.csv", "P9")
        == "lat/lon (95.0, -1.47) is not a point in Great Britain"
    )


def test_window_that_ends_before_it_starts_is_rejected(loaded: Demand):
    assert reason(loaded, "visits.csv", "V3") == "latest (07:30) is before earliest (08:00)"
    row = loaded.rejects.set_index("record_id").loc["V3", "row"]
    assert row == 3  # 1-based data row, header not counted


def test_non_positive_and_too_long_durations_are_rejected(loaded: Demand):
    assert reason(loaded, "visits.csv", "V5") == "duration 0 min must be more than 0"
    assert (
        reason(loaded, "visits.csv", "V6")
        == "duration 45 min starting at earliest (23:30) runs past midnight"
    )


def test_person_with_no_visits_is_rejected(loaded: Demand):
    assert (
        reason(loaded, "people.csv", "P8") == "no visits (none in the visits file, or all rejected)"
    )


def test_id_clashes_are_rejected_on_every_row(loaded: Demand):
    assert (
        reason(loaded, "people.csv", "P7")
        == "person_id P7 is used on rows 7, 8 | person_id P7 is used on rows 7, 8"
    )
    assert "person P7 was rejected" in reason(loaded, "visits.csv", "V10")
    assert reason(loaded, "visits.csv", "V13").count("visit_id V13 is used on rows 13, 14") == 2


def test_other_bad_visit_fields_are_rejected(loaded: Demand):
    assert reason(loaded, "visits.csv", "V7") == "carers '3' must be 1 or 2"
    assert reason(loaded, "visits.csv", "V11") == "person P42 is not in people.csv"
    assert (
        reason(loaded, "visits.csv", "V12") == "day '8' is not 0-6 (Monday = 0) or a weekday name"
    )


def test_nothing_is_dropped_silently(loaded: Demand):
    rejected_people = loaded.rejects[loaded.rejects["source"] == "people.csv"]
    rejected_visits = loaded.rejects[loaded.rejects["source"] == "visits.csv"]
    assert len(loaded.people) + len(rejected_people) == PEOPLE.strip().count("\n")
    assert len(loaded.visits) + len(rejected_visits) == VISITS.strip().count("\n")


def test_unreadable_inputs_raise_with_the_file_named(tmp_path: Path):
    people = write(tmp_path, "people.csv", "id,postcode\nP1,S1 1AA")
    visits = write(tmp_path, "visits.csv", VISITS)
    with pytest.raises(DemandError, match="people.csv: no column 'person_id'"):
        load_demand(people, visits)
    with pytest.raises(DemandError, match="file not found"):
        load_demand(tmp_path / "missing.csv", visits)
    people = write(tmp_path, "people2.csv", "person_id,easting,northing\nP1,436000,388000")
    bad_visits = write(tmp_path, "v.csv", "visit_id,person_id,day\nV1,P1,0")
    with pytest.raises(DemandError, match="v.csv: no column 'earliest', 'latest', 'duration'"):
        load_demand(people, bad_visits)


def test_load_demand_accepts_frames_and_point_layers():
    people = gpd.GeoDataFrame(
        {"person_id": ["A", "B"]}, geometry=[Point(E0, N0), Point(E0 + 10, N0)], crs=CRS
    )
    visits = pd.DataFrame(
        {
            "visit_id": ["1", "2"],
            "person_id": ["A", "B"],
            "day": [0, 0],
            "earliest": [480, 600],
            "latest": [540, 660],
            "duration": [30, 60],
        }
    )
    demand = load_demand(people, visits)
    assert demand.people["person_id"].tolist() == ["A", "B"]
    assert demand.visits["carers"].tolist() == [1, 1]  # no carers column: one carer
    assert demand.rejects.empty


def test_load_postcodes_reads_files_with_and_without_a_header(postcode_file: Path, tmp_path: Path):
    plain = load_postcodes(postcode_file)
    assert plain["postcode"].tolist() == ["S1 1AA", "S1 1AD"]  # S1 9ZZ has no coordinates
    assert plain.attrs["without_coordinates"] == 1
    headed = write(
        tmp_path,
        "h.csv",
        "Postcode,Positional_quality_indicator,Eastings,Northings,Country_code,"
        "NHS_regional_HA_code,NHS_HA_code,Admin_county_code,Admin_district_code,Admin_ward_code\n"
        + CODEPOINT_ROWS[0],
    )
    assert load_postcodes(headed)["geometry"].iloc[0].equals(Point(435732, 387312))


# --------------------------------------------------------------------------------------------------
# Summaries by area and publication
# --------------------------------------------------------------------------------------------------


def test_demand_by_area_reports_people_outside_every_area(loaded: Demand):
    areas = gpd.GeoDataFrame({"id": ["X"]}, geometry=[box(435000, 387000, 436001, 388001)], crs=CRS)
    table = demand_by_area(loaded, areas)
    assert table.index.tolist() == ["X"]  # only area ids: patch design can trust the index
    assert table.loc["X", "people"] == 3  # P1, P2, P4
    assert table.attrs["outside_people"] == ["P3"]
    assert table.attrs["outside_visits"] == 1 and table.attrs[
        "outside_hours_week"
    ] == pytest.approx(0.5)
    assert table["people"].sum() + 1 == len(loaded.people)
    assert table["hours_week"].sum() + 0.5 == pytest.approx(loaded.hours_week)
    published = aggregate_for_publication(loaded, areas, min_count=1)
    assert published.attrs["outside_people"] == 1


def test_publication_suppresses_small_counts():
    areas = toy_areas()
    demand = synthesise_demand(
        areas,
        population_column="pop65",
        settings=DemandSettings(people=40, hours_week=40 * 15.6),
        seed=2,
    )
    counts = demand_by_area(demand, areas)["people"]
    published = aggregate_for_publication(demand, areas, min_count=5).set_index("area_id")
    small = counts[counts < 5].index
    assert published.loc[small, "suppressed"].all()
    assert published.loc[small, ["people", "visits", "hours_week"]].isna().all().all()
    shown = published[~published["suppressed"]]
    assert (shown["people"] >= 5).all()
    assert shown["people"].sum() == counts[shown.index].sum()
    assert published.crs.to_epsg() == 27700


def test_a_single_suppressed_cell_gets_a_secondary_suppression():
    areas = toy_areas().iloc[:3]
    points = gpd.GeoDataFrame(
        {"person_id": [f"p{i}" for i in range(23)]},
        geometry=[Point(E0 + 10, N0 + 10)] * 2
        + [Point(E0 + 510, N0 + 10)] * 9
        + [Point(E0 + 1010, N0 + 10)] * 12,
        crs=CRS,
    )
    published = aggregate_for_publication(points, areas, min_count=5).set_index("area_id")
    assert published["suppressed"].tolist() == [True, True, False]
    assert published.loc["A2", "people"] == 12


# --------------------------------------------------------------------------------------------------
# Real data: Sheffield's default caseload
# --------------------------------------------------------------------------------------------------


def test_sheffield_default_caseload_matches_the_published_figures(shared_data: Path):
    lsoa, _ = load_layer(
        shared_data / "derived_sheffield/sheffield_lsoa2011_demand_base.gpkg",
        "LSOA11CD",
        "LSOA11NM",
    )
    postcodes = load_postcodes(
        shared_data / "os_codepoint_open/codepoint_open_2025_sheffield_E08000019.csv"
    )
    assert len(postcodes) == 11_806
    demand = synthesise_demand(
        lsoa,
        population_column="c21_pop_65plus",
        addresses=postcodes,
        deprivation_column="imd19_decile",
        seed=0,
    )
    assert demand.hours_week == pytest.approx(39_000, rel=0.02)
    assert len(demand.people) == 2_500
    assert demand.hours_week / len(demand.people) == pytest.approx(15.6, rel=0.02)
    city = shapely.union_all(lsoa.geometry.values)
    assert demand.people.geometry.intersects(city).all()  # every person inside Sheffield
    assert demand.summary["people_at_addresses"] == 2_500  # every LSOA has postcodes
    by_area = demand_by_area(demand, lsoa)
    assert by_area.attrs["outside_people"] == []
    # people are counted in the LSOA they were generated for
    assigned = demand.people["area_id"].value_counts().reindex(by_area.index, fill_value=0)
    assert (assigned == by_area["people"]).mean() > 0.98
    pop65 = lsoa.set_index("id")["c21_pop_65plus"].reindex(by_area.index)
    correlation = float(np.corrcoef(by_area["people"], pop65)[0, 1])
    print(
        f"Sheffield synthetic: {len(demand.people)} people, {demand.hours_week:,.0f} h/week, "
        f"{len(demand.visits):,} visits, r(people, 65+) = {correlation:.3f}"
    )
    assert correlation > 0.5
    assert demand.summary["double_up_share_visits"] == pytest.approx(0.10, abs=0.01)
