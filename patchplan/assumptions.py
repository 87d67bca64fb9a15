"""A study's assumptions in plain words, with units, grouped by the stage that uses them.

The committee report lists these instead of a dump of settings: each line says what was assumed
and in what unit ("Carers' shifts: 07:00–14:30 and 15:00–22:30, with an unpaid 30-minute break").
Solver limits are summarised in one line; file locations and cache folders are never shown (the
scenario fingerprint identifies the exact settings and inputs).
"""

from __future__ import annotations

from collections.abc import Mapping

from patchplan.scenario import Scenario

__all__ = ["clock", "plain_assumptions"]

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
PCN_POLICIES = {
    "nest": "each lot is made of whole PCN areas",
    "align": "lots follow PCN boundaries where they can (splitting a PCN costs "
    "{cost:g} minutes of travel per care hour it moves)",
    "free": "lots ignore PCN boundaries",
}


def clock(minutes: float) -> str:
    """Minutes after midnight as "HH:MM"."""
    m = int(round(minutes))
    return f"{m // 60:02d}:{m % 60:02d}"


def _share(x: float) -> str:
    return f"{100 * x:.0f}%"


def _days(days) -> str:
    names = [DAY_NAMES[d % 7] for d in days]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def plain_assumptions(
    scenario: Scenario, travel: Mapping[str, object] | None = None
) -> list[tuple[str, list[str]]]:
    """The assumptions of ``scenario`` as (stage, sentences), in the order the stages run.

    ``travel`` (mode → ``TravelTimes``) says whether travel is on streets or the straight-line
    estimate, and the estimate's speeds.
    """
    sc = scenario
    study, demand, patches, rounds = sc.study, sc.demand, sc.patches, sc.rounds
    work, feas, sav, base, net = sc.workforce, sc.feasibility, sc.savings, sc.baseline, sc.network
    out: list[tuple[str, list[str]]] = []

    lines = [
        f"Rounds are planned for {_days(study.days)} and scaled to a week "
        f"({sav.week_days} service days a week).",
        f"Random seed {study.seed}: the same settings, inputs and seed give the same results.",
    ]
    if study.synthetic:
        lines.append(
            f"People and visits are synthetic: {demand.people:,} people receiving "
            f"{demand.hours_week:,.0f} care hours a week (counting both carers of a double-up), "
            f"placed in proportion to residents aged 65 and over, with "
            f"{_share(demand.deprivation_uplift)} more in the most deprived areas than the least."
        )
        lines.append(
            f"Visits last {demand.visit_minutes[0]}–{demand.visit_minutes[1]} minutes in "
            f"{demand.visit_step_minutes}-minute steps; {_share(demand.double_up_share)} of visits "
            f"need two carers; people have 1 to 4 calls a day (shares "
            f"{', '.join(_share(s) for s in demand.visits_per_day_shares)}), each starting within "
            f"{demand.window_tolerance_minutes} minutes of its planned time in the windows "
            f"{', '.join(demand.visit_windows)}."
        )
    else:
        lines.append("People and visits are the council's own caseload.")
    out.append(("Study and caseload", lines))

    lines = []
    if travel and all(getattr(t, "estimate", False) for t in travel.values()):
        for mode in ("walk", "drive"):
            t = travel.get(mode)
            if t is None:
                continue
            speed = getattr(t, "speed_m_per_min", 0.0) * 60.0 / 1000.0
            circuity = getattr(t, "circuity_factor", 1.0)
            lines.append(
                f"{'Walking' if mode == 'walk' else 'Driving'} is a straight-line estimate: "
                f"crow-fly distance × {circuity:.2f} for the way streets wind, at {speed:.1f} km/h"
                + (
                    f", plus {t.stop_overhead_min:g} minutes to park at each stop."  # type: ignore[attr-defined]
                    if getattr(t, "stop_overhead_min", 0.0)
                    else "."
                )
            )
    else:
        lines += [
            f"Travel follows OpenStreetMap streets: walking at {net.walk_speed_kmh:g} km/h (steps "
            f"take {net.steps_penalty:g}× as long), driving at each road's speed limit or its "
            f"class's usual speed, × {net.drive_urban_factor:g} on roads of "
            f"{net.drive_urban_limit_kmh:g} km/h or less and × {net.drive_rural_factor:g} on "
            f"faster ones.",
            f"Each drive between two addresses adds {net.parking_min:g} minutes to park and walk "
            f"to the door; an address more than {net.snap_max_m:,.0f} m from a street is left out.",
        ]
    out.append(("Travel", lines))

    out.append(
        (
            "Lots",
            [
                f"{patches.k or 'As many'} lots, each within ±{_share(patches.balance_tolerance)} "
                f"of the average weekly care hours, each in one piece; "
                + PCN_POLICIES.get(patches.pcn_policy, patches.pcn_policy).format(
                    cost=patches.pcn_split_cost_min
                )
                + ".",
                f"A visit is within walking reach when it is at most {patches.walk_threshold_min:g} "
                f"minutes' walk away at {patches.walk_speed_kmh:g} km/h.",
            ],
        )
    )

    shifts = " and ".join(f"{clock(a)}–{clock(b)}" for a, b in work.shifts)
    lines = [
        f"Today: {work.providers_today or 'about one provider per 60 people'} providers work "
        f"across the whole area and every carer drives; proposed: {work.providers_per_patch} "
        f"providers per lot, and {_share(work.walking_share)} of carers walk in lots that are not "
        f"car-dependent.",
        f"Carers' shifts: {shifts}, with an unpaid {work.break_minutes}-minute break; each "
        f"provider has enough carers for its visits at {_share(work.utilisation)} of a shift in "
        f"visits"
        + (", and for its busiest hour" if work.peak_hour_sizing else "")
        + f", plus {work.spare_carers} spare per shift.",
        f"A proposed provider's office is the address in its lot with the most people within "
        f"{work.office_radius_m:,.0f} m (its main built-up area).",
    ]
    if work.walkers_live_locally:
        lines.append("Walking carers live near their rounds; drivers start at the office.")
    if not sav.base_legs:
        lines.append(
            f"The journeys to the first visit and home from the last are unpaid, so a carer may "
            f"set off up to {work.unpaid_travel_min} minutes before the shift and get back as long "
            f"after it."
        )
    out.append(("Providers and carers", lines))

    out.append(
        (
            "Rounds",
            [
                "Both arrangements are planned by the same optimiser (OR-Tools routing, seeded by "
                "PyVRP) on the same visits, keeping every visit inside its time window and every "
                "carer inside their shift.",
                f"A carer on foot walks at most {rounds.max_walk_leg_min:g} minutes between two "
                f"stops; days of more than {rounds.max_visits_per_problem} visits are planned in "
                f"compact parts.",
                f"A lot is walkable when walking carers reach at least "
                f"{_share(feas.walkable_share)} of its visits, car-dependent below "
                f"{_share(feas.car_dependent_share)}.",
            ],
        )
    )

    lines = [
        f"Carer time: £{sav.hourly_cost_gbp:,.2f} an hour ({sav.hourly_cost_name}); mileage: "
        f"£{sav.mileage_gbp_per_mile:,.2f} a mile driven (HMRC's approved rate); emissions: "
        f"{sav.co2_kg_per_km:g} kg CO2e per km driven (UK Government conversion factors). "
        f"Sources are listed at the end.",
        f"{_share(sav.care_share_of_paid_time)} of the carer hours released could become care "
        f"hours; the rest is the travel extra visits would need.",
        (
            "Travel counts every leg, including the journey to the first visit and back from the last."
            if sav.base_legs
            else "Travel counts only the legs between visits, as home-care pay does; the journey "
            "to the first visit and home from the last is not counted."
        ),
    ]
    out.append(("Savings", lines))

    if base.observed:
        observed = []
        if base.observed_miles_per_visit:
            observed.append(f"{base.observed_miles_per_visit:g} miles driven per visit")
        if base.observed_travel_min_per_visit:
            observed.append(f"{base.observed_travel_min_per_visit:g} minutes of travel per visit")
        lines = [
            f"Today as observed: {' and '.join(observed)}"
            + (f" ({base.source})." if base.source else ".")
        ]
    else:
        lines = [
            "No observed figures for today were given ([baseline] observed_miles_per_visit, "
            "observed_travel_min_per_visit), so the saving is stated against today as modelled only."
        ]
    out.append(("Today as observed", lines))
    return out
