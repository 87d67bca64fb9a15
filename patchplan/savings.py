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
``travel_km``, ``drive_km`` (as measured, for the visits served), ``legs_between`` and
``between_km`` (legs from one visit to the next, and their km, whatever ``base_legs`` says),
``travel_min_lfl``, ``drive_km_lfl`` (like for like: scaled to every visit), ``walk_share`` (share
of visits served reached on foot); then ``saved_travel_min``, ``saved_travel_pct``, ``carer_hours_released``,
``care_hours_deliverable`` (the released hours as care at ``care_share_of_paid_time``),
``saved_cost_gbp`` (time at ``hourly_cost_gbp`` plus mileage at ``mileage_gbp_per_mile``),
``saved_co2_kg``, all from the like-for-like figures. The total row sums the patches. A patch
where one arrangement served nothing takes the other's like-for-like figures (no saving claimed).

:func:`explain` states the saving two ways (``[baseline]``, ``patchplan.baseline``): the effect of
the patches alone (both arrangements planned by the same optimiser: the savings above) and the
saving against today *as observed* (e.g. from electronic call monitoring), decomposed into
today as observed → today with optimised rounds → proposed lots, in hours, miles, £ and kg CO2 a
week. :func:`per_visit` gives an arrangement's travel per visit and between visits, the figures
compared with observed and published ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from patchplan._validate import at_least, between, collect, share

if TYPE_CHECKING:
    from patchplan.baseline import BaselineSettings

METRES_PER_MILE = 1609.344
RETURN_LEG = "<return>"

HOURLY_COSTS = {
    "sheffield-2024": (
        21.0,
        "Sheffield's 2024 rate",
        "Sheffield City Council's 2024 Care and Wellbeing Service hourly rate (£21.00), the "
        "price the council pays per hour of care, used as the value of an hour of carer time",
    ),
    "hca-minimum-2025-26": (
        32.14,
        "the Homecare Association's minimum price for 2025/26",
        "Homecare Association, Minimum Price for Homecare, England, April 2025 to March 2026 "
        "(£32.14 an hour, published December 2024): the least a council should pay per hour of "
        "care for a provider to pay the National Living Wage for all working time, travel and "
        "mileage, on-costs and a sustainable business",
    ),
}
"""Named hourly costs for ``[savings] hourly_cost_basis``: key → (£ an hour, short name, source)."""


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
        served, and so the like-for-like scaling, are the same either way; carers' days are then
        allowed to end after the shift for the unpaid drive back (``workforce.py``).
    hourly_cost_basis : a named hourly cost from :data:`HOURLY_COSTS` instead of
        ``hourly_cost_gbp``: "sheffield-2024" (£21.00) or "hca-minimum-2025-26" (the Homecare
        Association's Minimum Price for Homecare 2025/26, £32.14, which also covers on-costs,
        mileage and the provider's overheads, so it values an hour at what a council should pay
        for it). "" (the default) uses ``hourly_cost_gbp`` as given.
    """

    hourly_cost_gbp: float = 21.0
    mileage_gbp_per_mile: float = 0.45
    co2_kg_per_km: float = 0.168
    care_share_of_paid_time: float = 0.8
    week_days: int = 7
    base_legs: bool = False
    hourly_cost_basis: str = ""

    def __post_init__(self) -> None:
        if not self.hourly_cost_basis:
            return
        if self.hourly_cost_basis not in HOURLY_COSTS:
            raise ValueError(
                f"hourly_cost_basis: {self.hourly_cost_basis!r} is not one of "
                f"{', '.join(repr(k) for k in HOURLY_COSTS)}"
            )
        rate = HOURLY_COSTS[self.hourly_cost_basis][0]
        if self.hourly_cost_gbp not in (SavingsSettings.hourly_cost_gbp, rate):
            raise ValueError(
                f"give hourly_cost_gbp ({self.hourly_cost_gbp:g}) or hourly_cost_basis "
                f"({self.hourly_cost_basis!r}), not both"
            )
        object.__setattr__(self, "hourly_cost_gbp", rate)

    @property
    def hourly_cost_name(self) -> str:
        """What the hourly cost is, in a few words ("Sheffield's 2024 rate")."""
        basis = self.hourly_cost_basis
        if not basis and self.hourly_cost_gbp == HOURLY_COSTS["sheffield-2024"][0]:
            basis = "sheffield-2024"
        return HOURLY_COSTS[basis][1] if basis else "set in the scenario"

    def problems(self) -> list[str]:
        """Range problems of these settings, each naming its key (empty when valid)."""
        return collect(
            at_least("hourly_cost_gbp", self.hourly_cost_gbp, 0),
            at_least("mileage_gbp_per_mile", self.mileage_gbp_per_mile, 0),
            at_least("co2_kg_per_km", self.co2_kg_per_km, 0),
            share("care_share_of_paid_time", self.care_share_of_paid_time),
            between("week_days", self.week_days, 1, 7),
        )


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
    between = (legs["order"] > 1) & (legs["visit_id"] != RETURN_LEG)
    legs["between_m"] = legs["travel_m"].where(between, 0.0)
    legs["between"] = between.astype(float)
    if not base_legs:  # keep the visits (for counts) but not the travel from and back to base
        from_base = (legs["order"] == 1) | (legs["visit_id"] == RETURN_LEG)
        legs.loc[from_base, ["travel_min", "travel_m"]] = 0.0
    legs["drive_m"] = legs["travel_m"].where(legs["mode"] == "drive", 0.0)
    visits = legs[legs["visit_id"] != RETURN_LEG]
    per_patch = legs.groupby("patch_id").agg(
        travel_min=("travel_min", "sum"), travel_m=("travel_m", "sum"), drive_m=("drive_m", "sum"),
        between=("between", "sum"), between_m=("between_m", "sum"),
    )  # fmt: skip
    walked = visits.assign(on_foot=visits["mode"] == "walk").groupby("patch_id")["on_foot"].mean()
    served = visits.groupby("patch_id")["visit_id"].nunique()
    out = pd.DataFrame(
        {
            "visits_served": served * scale,
            "travel_min": per_patch["travel_min"] * scale,
            "travel_km": per_patch["travel_m"] * scale / 1000.0,
            "drive_km": per_patch["drive_m"] * scale / 1000.0,
            "legs_between": per_patch["between"] * scale,
            "between_km": per_patch["between_m"] * scale / 1000.0,
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
    out["saved_cost_gbp"] = travel_cost_gbp(out["carer_hours_released"], saved_drive_km, settings)
    out["saved_co2_kg"] = saved_drive_km * settings.co2_kg_per_km
    return out


def travel_cost_gbp(hours, drive_km, settings: SavingsSettings):
    """Cost of carer travel, £: time at ``hourly_cost_gbp`` plus mileage at ``mileage_gbp_per_mile``.

    ``hours`` of carer travel and ``drive_km`` km driven (numbers or Series).
    """
    miles = drive_km * 1000.0 / METRES_PER_MILE
    return hours * settings.hourly_cost_gbp + miles * settings.mileage_gbp_per_mile


def per_visit(table: pd.DataFrame, prefix: str = "today_") -> dict[str, float]:
    """An arrangement's travel per visit, over the whole study (the ``"total"`` row of :func:`compare`).

    Returns ``miles_per_visit`` (miles driven ÷ visits served), ``miles_between_visits`` (miles of
    the legs from one visit to the next ÷ those legs, all modes), ``travel_min_per_visit``
    (minutes ÷ visits served); which legs count follows ``[savings] base_legs`` except for
    ``miles_between_visits``. NaN where nothing was served.
    """
    total = table.loc["total"]
    served = total[f"{prefix}visits_served"]
    legs = total[f"{prefix}legs_between"]
    km_per_mile = METRES_PER_MILE / 1000.0
    return {
        "miles_per_visit": total[f"{prefix}drive_km"] / km_per_mile / served
        if served
        else float("nan"),
        "miles_between_visits": total[f"{prefix}between_km"] / km_per_mile / legs
        if legs
        else float("nan"),
        "travel_min_per_visit": total[f"{prefix}travel_min"] / served if served else float("nan"),
    }


EXPLAIN_ROWS = {
    "today_observed": "Today, as observed",
    "today_modelled": "Today, with optimised rounds (modelled)",
    "proposed": "Proposed lots (modelled)",
    "saved_by_optimised_rounds": "Saved by optimising today's rounds alone",
    "saved_by_patches": "Saved by the patches (both arrangements optimised)",
    "saved_against_observed": "Saved against today as observed",
}
"""Rows of :func:`explain`, in order, with their labels."""


def explain(
    table: pd.DataFrame, settings: SavingsSettings, baseline: BaselineSettings | None = None
) -> pd.DataFrame:
    """The saving decomposed: today as observed → today with optimised rounds → proposed lots.

    Parameters
    ----------
    table : :func:`compare`'s table (its ``"total"`` row is used)
    settings : money and emissions factors
    baseline : what the council observes today (``[baseline]``); without observed figures the rows
        that need them are left out

    Returns
    -------
    DataFrame indexed by step (:data:`EXPLAIN_ROWS`, observed rows only when observed), columns
    ``label``, ``kind`` ("travel" for an arrangement's travel, "saving" for a difference),
    ``travel_hours``, ``drive_miles``, ``cost_gbp`` (:func:`travel_cost_gbp`), ``co2_kg``, all a
    week and like for like (every visit served). ``.attrs["observed_note"]`` says how observed
    figures were completed when only miles or only minutes were given.
    """
    total = table.loc["total"]
    km_per_mile = METRES_PER_MILE / 1000.0
    levels = {
        "today_modelled": (total["today_travel_min_lfl"] / 60.0, total["today_drive_km_lfl"]),
        "proposed": (total["proposed_travel_min_lfl"] / 60.0, total["proposed_drive_km_lfl"]),
    }
    note = ""
    observed = _observed_week(total, baseline)
    if observed is not None:
        levels = {"today_observed": observed[:2], **levels}
        note = observed[2]
    rows = {
        step: {"kind": "travel", "travel_hours": h, "drive_km": km}
        for step, (h, km) in levels.items()
    }
    steps = [("saved_by_patches", "today_modelled", "proposed")]
    if observed is not None:
        steps = [("saved_by_optimised_rounds", "today_observed", "today_modelled"), *steps,
                 ("saved_against_observed", "today_observed", "proposed")]  # fmt: skip
    for step, before, after in steps:
        rows[step] = {
            "kind": "saving",
            "travel_hours": rows[before]["travel_hours"] - rows[after]["travel_hours"],
            "drive_km": rows[before]["drive_km"] - rows[after]["drive_km"],
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out = out.reindex([k for k in EXPLAIN_ROWS if k in out.index])
    out.index.name = "step"
    out.insert(0, "label", [EXPLAIN_ROWS[k] for k in out.index])
    out["drive_miles"] = out["drive_km"] / km_per_mile
    out["cost_gbp"] = travel_cost_gbp(out["travel_hours"], out["drive_km"], settings)
    out["co2_kg"] = out["drive_km"] * settings.co2_kg_per_km
    out = out.drop(columns="drive_km")
    out.attrs["observed_note"] = note
    return out


def _observed_week(total: pd.Series, baseline: BaselineSettings | None):
    """(travel hours, km driven, note) a week for every visit at today's observed rates, or None.

    A missing observed figure is completed at the modelled today's minutes per mile driven.
    """
    if baseline is None or not baseline.observed:
        return None
    visits = total["visits"]
    km_per_mile = METRES_PER_MILE / 1000.0
    miles, minutes = baseline.observed_miles_per_visit, baseline.observed_travel_min_per_visit
    modelled_miles = total["today_drive_km_lfl"] / km_per_mile
    min_per_mile = total["today_travel_min_lfl"] / modelled_miles if modelled_miles else 0.0
    note = ""
    if not minutes:
        minutes = miles * min_per_mile
        note = (
            f"Observed travel time is not given: it is taken as the observed miles at today's "
            f"modelled {min_per_mile:.1f} minutes per mile."
        )
    elif not miles:
        miles = minutes / min_per_mile if min_per_mile else 0.0
        note = (
            f"Observed miles are not given: they are taken as the observed travel time at today's "
            f"modelled {min_per_mile:.1f} minutes per mile."
        )
    return visits * minutes / 60.0, visits * miles * km_per_mile, note


ANCHORS = (
    (
        "Travel can reach 17% of home-care costs in shire counties",
        "Homecare Association / UKHCA costing work",
    ),
    ("Optimised assignment cut carer travel by 37%", "Montreal home-care routing study"),
)
"""Published findings shown beside our savings in the report, with their sources (published travel
per visit, to compare with today's, is in ``patchplan.baseline.PUBLISHED_TRAVEL``)."""

FACTOR_SOURCES = (
    ("hourly_cost_gbp", "Default £21.00 an hour: " + HOURLY_COSTS["sheffield-2024"][2] + ". "
                        "Alternative: " + HOURLY_COSTS["hca-minimum-2025-26"][2] + " "
                        "([savings] hourly_cost_basis = \"hca-minimum-2025-26\")."),
    ("mileage_gbp_per_mile", "HMRC approved mileage allowance payments (AMAP), cars and vans, "
                             "45p a mile for the first 10,000 business miles in a tax year "
                             "(unchanged since 2011/12; gov.uk, 'Travel — mileage and fuel rates "
                             "and allowances')"),
    ("co2_kg_per_km", "UK Government GHG Conversion Factors for Company Reporting (DESNZ, 2023 "
                      "set), passenger vehicles, average car, unknown fuel: 0.168 kg CO2e per km; "
                      "check it against the current year's table before publishing"),
)  # fmt: skip
"""Where each money and emissions factor comes from, for the report and the docs."""
