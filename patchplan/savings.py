"""Today's arrangement against the proposed patches: travel, distance, money, CO2 and carer time.

Both arrangements serve the same visits with the same rounds solver and limits; only who serves whom
changes (see ``workforce.py``). :func:`compare` turns the two sets of rounds into weekly figures per
patch and in total.

Travel is between visits only unless ``base_legs`` (see :class:`SavingsSettings`).

Attribution to patches: each leg is charged to the patch of the visit it arrives at; the return leg
to base is charged to the patch of the round's last visit. Today's rounds cross patch lines freely,
so a patch's "today" figure is the travel spent reaching its visits under today's arrangement.

Like for like: when an arrangement leaves visits unserved, its measured travel is for fewer visits,
and a plan that drops its hardest visits would look cheap. So each arrangement's travel in a patch
is scaled to *every* visit of that patch at the travel per visit it achieved (``measured × visits /
visits served``), and the savings are differences of those like-for-like figures. When both serve
every visit the scaling is 1 and the savings are the plain differences.

Output columns of :func:`compare` (one row per patch plus ``"total"``), all per **week**:

``visits``, ``care_hours``; for ``today_`` and ``proposed_``: ``visits_served``, ``travel_min``,
``travel_km``, ``drive_km`` (as measured, for the visits served), ``travel_min_lfl``,
``drive_km_lfl`` (like for like: scaled to every visit), ``walk_share`` (share of visits served
reached on foot); then ``saved_travel_min``, ``saved_travel_pct``, ``carer_hours_released``,
``care_hours_deliverable`` (the released hours as care at ``care_share_of_paid_time``),
``saved_cost_gbp`` (time at ``hourly_cost_gbp`` plus mileage at ``mileage_gbp_per_mile``),
``saved_co2_kg``, all from the like-for-like figures. The total row sums the patches. A patch
where one arrangement served nothing takes the other's like-for-like figures (no saving claimed).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

METRES_PER_MILE = 1609.344
RETURN_LEG = "<return>"


@dataclass(frozen=True)
class SavingsSettings:
    """Money and emissions factors for the savings.

    Attributes
    ----------
    hourly_cost_gbp : cost of an hour of carer time, £ (default £21: Sheffield's 2024 Care and
        Wellbeing Service hourly rate, used as the value of an hour not spent travelling)
    mileage_gbp_per_mile : mileage paid per mile driven, £ (default 45p: HMRC's approved mileage
        allowance for cars, first 10,000 miles)
    co2_kg_per_km : kg CO2e per car km (default 0.168: UK Government GHG Conversion Factors for
        Company Reporting, passenger vehicles, average car, unknown fuel, about 0.17 kg/km in recent
        years; update to the current year's factor)
    care_share_of_paid_time : share of released carer hours that become care hours (0–1); the rest
        is the travel that any extra visits would themselves need
    week_days : days a week the service runs; when fewer days are planned, figures are scaled up
        by ``week_days / days planned`` (none when the whole week is planned: the figures are then
        exact)
    base_legs : also count the legs from a carer's base to the first visit and from the last
        visit back (True). The default, False, counts only travel between visits, as UK home-care
        pay does (the journey to the first call and home from the last is commuting), so the
        saving does not rest on where offices and carers' homes are assumed to be. The visits
        served, and so the like-for-like scaling, are the same either way.
    """

    hourly_cost_gbp: float = 21.0
    mileage_gbp_per_mile: float = 0.45
    co2_kg_per_km: float = 0.168
    care_share_of_paid_time: float = 0.8
    week_days: int = 7
    base_legs: bool = False


def _attributed_legs(rounds: pd.DataFrame, visit_patch: pd.Series) -> pd.DataFrame:
    """Each leg with the patch it is charged to (return legs take the round's last visit's patch)."""
    legs = rounds.copy()
    # An empty round table from a day that served nothing has no numeric dtype: coerce, so totals
    # stay numbers when it is stacked with the others.
    legs[["travel_min", "travel_m"]] = legs[["travel_min", "travel_m"]].astype(float)
    legs["patch_id"] = legs["visit_id"].map(visit_patch)
    is_return = legs["visit_id"] == RETURN_LEG
    legs.loc[is_return, "patch_id"] = pd.NA
    legs = legs.sort_values(["day", "carer_id", "order"], kind="stable")
    legs["patch_id"] = legs.groupby(["day", "carer_id"])["patch_id"].ffill()
    return legs.dropna(subset=["patch_id"])


def _travel_by_patch(
    rounds: pd.DataFrame, visit_patch: pd.Series, scale: float, base_legs: bool = True
) -> pd.DataFrame:
    legs = _attributed_legs(rounds, visit_patch)
    if not base_legs:  # keep the visits (for counts) but not the travel from and back to base
        from_base = (legs["order"] == 1) | (legs["visit_id"] == RETURN_LEG)
        legs.loc[from_base, ["travel_min", "travel_m"]] = 0.0
    legs["drive_m"] = legs["travel_m"].where(legs["mode"] == "drive", 0.0)
    visits = legs[legs["visit_id"] != RETURN_LEG]
    per_patch = legs.groupby("patch_id").agg(
        travel_min=("travel_min", "sum"), travel_m=("travel_m", "sum"), drive_m=("drive_m", "sum")
    )
    walked = visits.assign(on_foot=visits["mode"] == "walk").groupby("patch_id")["on_foot"].mean()
    served = visits.groupby("patch_id")["visit_id"].nunique()
    out = pd.DataFrame(
        {
            "visits_served": served * scale,
            "travel_min": per_patch["travel_min"] * scale,
            "travel_km": per_patch["travel_m"] * scale / 1000.0,
            "drive_km": per_patch["drive_m"] * scale / 1000.0,
            "walk_share": walked,
        }
    )
    return out


def compare(
    today: pd.DataFrame,
    proposed: pd.DataFrame,
    visits: pd.DataFrame,
    visit_patch: pd.Series,
    settings: SavingsSettings = SavingsSettings(),
    days_planned: int = 1,
) -> pd.DataFrame:
    """Weekly savings per patch and in total, from the rounds of today's and the proposed arrangement.

    Parameters
    ----------
    today, proposed : rounds tables (``rounds.RoundsResult.rounds``) over the same planned days
    visits : the visits both arrangements were asked to serve (for visits and care hours per patch)
    visit_patch : ``visit_id`` → ``patch_id``
    settings : money and emissions factors
    days_planned : how many days the rounds cover; figures are scaled by ``week_days / days_planned``
        when that is more than 1 (a whole week planned is not scaled)
    """
    scale = max(1.0, settings.week_days / days_planned)
    planned = visits.assign(patch_id=visits["visit_id"].map(visit_patch))
    base = planned.groupby("patch_id").agg(visits=("visit_id", "size"))
    base["care_hours"] = (
        planned.assign(h=planned["duration"] * planned["carers"] / 60.0)
        .groupby("patch_id")["h"]
        .sum()
    )
    base = base * scale
    before = _travel_by_patch(today, visit_patch, scale, settings.base_legs).add_prefix("today_")
    after = _travel_by_patch(proposed, visit_patch, scale, settings.base_legs).add_prefix(
        "proposed_"
    )
    table = base.join(before, how="left").join(after, how="left")
    numeric = [c for c in table.columns if not c.endswith("walk_share")]
    table[numeric] = table[numeric].fillna(0.0)
    for prefix in ("today_", "proposed_"):
        served = table[f"{prefix}visits_served"]
        factor = table["visits"] / served.where(served > 0)  # NaN: served nothing in the patch
        table[f"{prefix}travel_min_lfl"] = table[f"{prefix}travel_min"] * factor
        table[f"{prefix}drive_km_lfl"] = table[f"{prefix}drive_km"] * factor
    # An arrangement that served none of a patch's visits has no travel per visit: it is taken as
    # equal to the other's, so that patch claims no saving either way.
    for col in ("travel_min_lfl", "drive_km_lfl"):
        today_col, proposed_col = table[f"today_{col}"], table[f"proposed_{col}"]
        table[f"today_{col}"] = today_col.fillna(proposed_col).fillna(0.0)
        table[f"proposed_{col}"] = proposed_col.fillna(today_col).fillna(0.0)

    total = table.sum(numeric_only=True)
    for prefix, frame in (("today_", today), ("proposed_", proposed)):
        served = frame[frame["visit_id"] != RETURN_LEG]
        total[f"{prefix}walk_share"] = (
            float((served["mode"] == "walk").mean()) if len(served) else 0.0
        )
    table.loc["total"] = total
    table.index.name = "patch_id"
    return _add_savings(table, settings)


def _add_savings(table: pd.DataFrame, settings: SavingsSettings) -> pd.DataFrame:
    out = table.copy()
    today_min = out["today_travel_min_lfl"]
    out["saved_travel_min"] = today_min - out["proposed_travel_min_lfl"]
    out["saved_travel_pct"] = 100.0 * out["saved_travel_min"] / today_min.where(today_min > 0)
    out["carer_hours_released"] = out["saved_travel_min"] / 60.0
    out["care_hours_deliverable"] = out["carer_hours_released"] * settings.care_share_of_paid_time
    saved_drive_km = out["today_drive_km_lfl"] - out["proposed_drive_km_lfl"]
    out["saved_cost_gbp"] = (
        out["carer_hours_released"] * settings.hourly_cost_gbp
        + saved_drive_km * 1000.0 / METRES_PER_MILE * settings.mileage_gbp_per_mile
    )
    out["saved_co2_kg"] = saved_drive_km * settings.co2_kg_per_km
    return out


ANCHORS = (
    ("UK carers drive about 4.3 miles between visits on average", "Homecare Association"),
    (
        "Travel can reach 17% of home-care costs in shire counties",
        "Homecare Association / UKHCA costing work",
    ),
    ("Optimised assignment cut carer travel by 37%", "Montreal home-care routing study"),
)
"""Published figures shown beside our savings in the report, with their sources."""

FACTOR_SOURCES = (
    ("hourly_cost_gbp", "Sheffield City Council's 2024 Care and Wellbeing Service rate (£21 an hour)"),
    ("mileage_gbp_per_mile", "HMRC approved mileage allowance payments, cars, first 10,000 miles"),
    ("co2_kg_per_km", "UK Government GHG Conversion Factors for Company Reporting (DESNZ), "
                      "passenger vehicles, average car, unknown fuel, kg CO2e per km"),
)  # fmt: skip
"""Where each money and emissions factor comes from, for the report and the docs."""
