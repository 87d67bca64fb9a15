"""Savings arithmetic on a tiny case checked by hand."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from patchplan.savings import SavingsSettings, compare

ALL_LEGS = SavingsSettings(week_days=1, base_legs=True)  # the hand-worked figures count every leg

COLUMNS = [
    "carer_id",
    "day",
    "order",
    "visit_id",
    "person_id",
    "arrival",
    "start",
    "end",
    "wait",
    "travel_min",
    "travel_m",
    "mode",
]


def legs(rows):
    return pd.DataFrame([dict(zip(COLUMNS, r, strict=True)) for r in rows])


@pytest.fixture
def case():
    visits = pd.DataFrame(
        {
            "visit_id": ["v1", "v2", "v3"],
            "person_id": ["a", "b", "c"],
            "day": 0,
            "duration": [30, 60, 30],
            "carers": [1, 1, 2],
        }
    )
    visit_patch = pd.Series({"v1": "P01", "v2": "P01", "v3": "P02"})
    # Today: one driver does everything: 10 + 20 + 30 min of driving and 10 back (km: 5, 10, 15, 5).
    today = legs([
        ("T1", 0, 1, "v1", "a", 0, 0, 0, 0, 10.0, 5000.0, "drive"),
        ("T1", 0, 2, "v2", "b", 0, 0, 0, 0, 20.0, 10000.0, "drive"),
        ("T1", 0, 3, "v3", "c", 0, 0, 0, 0, 30.0, 15000.0, "drive"),
        ("T1", 0, 4, "<return>", "", 0, 0, 0, 0, 10.0, 5000.0, "drive"),
    ])  # fmt: skip
    # Proposed: P01 walked (5 + 5 + 5 back, 1 km total... 0.4+0.4+0.4), P02 driven (8 there, 8 back, 4 km each).
    proposed = legs([
        ("W1", 0, 1, "v1", "a", 0, 0, 0, 0, 5.0, 400.0, "walk"),
        ("W1", 0, 2, "v2", "b", 0, 0, 0, 0, 5.0, 400.0, "walk"),
        ("W1", 0, 3, "<return>", "", 0, 0, 0, 0, 5.0, 400.0, "walk"),
        ("D1", 0, 1, "v3", "c", 0, 0, 0, 0, 8.0, 4000.0, "drive"),
        ("D1", 0, 2, "<return>", "", 0, 0, 0, 0, 8.0, 4000.0, "drive"),
    ])  # fmt: skip
    return visits, visit_patch, today, proposed


def test_travel_is_charged_to_the_patch_of_the_visit_reached(case):
    visits, visit_patch, today, proposed = case
    table = compare(today, proposed, visits, visit_patch, ALL_LEGS, days_planned=1)
    # Today's return leg follows the last visit (v3, in P02).
    assert table.loc["P01", "today_travel_min"] == 30.0
    assert table.loc["P02", "today_travel_min"] == 40.0
    assert table.loc["P01", "proposed_travel_min"] == 15.0
    assert table.loc["P02", "proposed_travel_min"] == 16.0
    assert table.loc["total", "saved_travel_min"] == 70.0 - 31.0


def test_money_co2_and_hours_by_hand(case):
    visits, visit_patch, today, proposed = case
    s = SavingsSettings(
        base_legs=True,
        hourly_cost_gbp=21.0,
        mileage_gbp_per_mile=0.45,
        co2_kg_per_km=0.168,
        care_share_of_paid_time=0.8,
        week_days=1,
    )
    total = compare(today, proposed, visits, visit_patch, s, days_planned=1).loc["total"]
    saved_hours = 39.0 / 60.0
    saved_drive_km = 35.0 - 8.0  # walking km cost nothing
    assert total["carer_hours_released"] == pytest.approx(saved_hours)
    assert total["care_hours_deliverable"] == pytest.approx(0.8 * saved_hours)
    assert total["saved_cost_gbp"] == pytest.approx(
        saved_hours * 21.0 + saved_drive_km / 1.609344 * 0.45
    )
    assert total["saved_co2_kg"] == pytest.approx(saved_drive_km * 0.168)
    assert total["saved_travel_pct"] == pytest.approx(100 * 39.0 / 70.0)
    assert total["care_hours"] == pytest.approx((30 + 60 + 2 * 30) / 60)


def test_walk_share_and_weekly_scaling(case):
    visits, visit_patch, today, proposed = case
    table = compare(
        today, proposed, visits, visit_patch, replace(ALL_LEGS, week_days=7), days_planned=1
    )
    assert table.loc["P01", "proposed_walk_share"] == 1.0
    assert table.loc["P02", "proposed_walk_share"] == 0.0
    assert table.loc["total", "proposed_walk_share"] == pytest.approx(2 / 3)
    assert table.loc["total", "today_walk_share"] == 0.0
    assert table.loc["total", "today_travel_min"] == pytest.approx(7 * 70.0)
    assert table.loc["total", "visits"] == pytest.approx(7 * 3)


def test_a_whole_week_planned_is_not_scaled(case):
    visits, visit_patch, today, proposed = case
    week = replace(ALL_LEGS, week_days=7)
    for days in (7, 9):  # the whole week, or more days than the service runs: never scaled down
        table = compare(today, proposed, visits, visit_patch, week, days_planned=days)
        assert table.loc["total", "today_travel_min"] == pytest.approx(70.0)
        assert table.loc["total", "visits"] == 3


def test_a_day_that_served_nothing_keeps_totals_numeric(case):
    """An empty rounds table (no numeric dtype) stacked with real rounds must not blank the totals."""
    visits, visit_patch, today, proposed = case
    stacked = pd.concat([today, pd.DataFrame([], columns=COLUMNS)], ignore_index=True)
    table = compare(stacked, proposed, visits, visit_patch, ALL_LEGS, days_planned=1)
    assert table.loc["total", "today_travel_min"] == 70.0
    assert table.loc["total", "saved_travel_min"] == 39.0


def test_visits_left_unserved_never_read_as_a_saving(case):
    """Proposed drops v2: its measured travel is for one of P01's two visits, so it is doubled."""
    visits, visit_patch, today, proposed = case
    dropped = proposed[proposed.visit_id != "v2"].copy()
    dropped.loc[dropped.visit_id == "<return>", "travel_min"] = [7.0, 8.0]
    table = compare(today, dropped, visits, visit_patch, ALL_LEGS)
    p01 = table.loc["P01"]
    assert p01["proposed_visits_served"] == 1 and p01["today_visits_served"] == 2
    assert p01["proposed_travel_min"] == 5.0 + 7.0  # as measured
    assert p01["proposed_travel_min_lfl"] == pytest.approx(2 * 12.0)  # scaled to both visits
    assert p01["saved_travel_min"] == pytest.approx(30.0 - 24.0)
    # P02 served in both: no scaling
    assert table.loc["P02", "proposed_travel_min_lfl"] == 16.0
    assert table.loc["total", "saved_travel_min"] == pytest.approx(70.0 - 24.0 - 16.0)
    # dropping everything would otherwise look like a 100% saving
    nothing = compare(today, dropped.iloc[:0], visits, visit_patch, ALL_LEGS)
    assert nothing.loc["total", "proposed_visits_served"] == 0
    assert nothing.loc["total", "saved_travel_min"] == pytest.approx(0.0)


def test_travel_between_visits_only_leaves_out_the_legs_from_and_back_to_base(case):
    visits, visit_patch, today, proposed = case
    s = SavingsSettings(week_days=1)
    assert not s.base_legs  # the default: only paid travel, between visits
    table = compare(today, proposed, visits, visit_patch, s)
    # today: only v1 → v2 (20, P01) and v2 → v3 (30, P02) are between visits
    assert table.loc["P01", "today_travel_min"] == 20.0
    assert table.loc["P02", "today_travel_min"] == 30.0
    # proposed: the walker's v1 → v2 (5); the driver has one visit, so nothing between visits
    assert table.loc["P01", "proposed_travel_min"] == 5.0
    assert table.loc["P02", "proposed_travel_min"] == 0.0
    assert table.loc["total", "saved_travel_min"] == 50.0 - 5.0
    assert table.loc["total", "today_visits_served"] == 3  # the visits still count
    assert table.loc["total", "saved_co2_kg"] == pytest.approx((10.0 + 15.0) * 0.168)
