"""Carers' daily visit rounds: a model of our own nouns (visit, carer, round) over the solvers.

:func:`plan_rounds` takes the visits and carers tables of ``docs/data-contracts.md`` and one
:class:`~patchplan.matrix.TravelTimes` per travel mode, and returns a :class:`RoundsResult`: the
rounds, the visits that could not be served (with their true reason), the breaks taken and KPIs.
Nothing outside this package sees a routing index.

Model
-----
* A **visit** has a hard window for the *start* of service (``earliest``..``latest``, minutes after
  midnight), a ``duration`` and required ``skills``. A **double-up** (``carers == 2``) is served by
  two different carers starting together; its second carer may need other skills (``skills_2``).
  A visit may **follow** another of the same person by ``gap_min``..``gap_max`` minutes between
  starts (0–0: the two start together). An optional soft ``due`` time makes lateness cost
  ``lateness_cost_per_min``; ``max_lateness_cost_per_min`` prices the day's largest lateness.
* A **carer** starts and ends at its base, travels by its ``mode``, works within
  ``shift_start``..``shift_end`` and at most ``max_minutes`` from leaving to returning, and takes a
  break of ``break_minutes`` starting within ``break_earliest``..``break_latest`` between two stops
  (or before leaving / after returning). Walking legs longer than ``max_walk_leg_min`` count as
  unreachable on foot.
* Travel minutes are rounded *up* to time units of ``1 / time_units_per_min`` minutes, so a
  planned arrival is never earlier than the matrix says.
* **Unserved** visits: each visit is first checked against every carer (skills, reach, window
  against the shift); the first check that rules out every carer gives the reason. A visit the
  search leaves out is "capacity exhausted", or "not placed before the time limit" when the
  wall-clock safety cap cut the search.

Solvers
-------
Days of single visits: PyVRP's hybrid genetic search on a relaxed copy seeds OR-Tools, which adds
breaks and continuity and improves by guided local search (``ortools_model``, ``seed``). Days with
double-ups or linked visits: our pair-aware construction then OR-Tools with the links as
constraints (``construct``); the linked-visit search (``search``) where available. Large days are
cut into parts and repaired (``decompose``). With ``deterministic=True`` (the default) every search
stops on work counts; ``time_limit_s`` is a safety cap for a whole (patch, day), and reaching it is
reported in ``kpis["time_limit_reached"]``.

The week (``week``): a provider's recurring calls are planned once as a template day and each day
is derived from it, worked by the carers of a weekly rota (:func:`plan_week`);
:func:`continuity` counts carers per person over the week.

Tables
------
``rounds``: ``carer_id, day, order, visit_id, person_id, arrival, start, end, wait, travel_min,
travel_m, mode`` (minutes after midnight / minutes / metres; the leg *into* the stop; a final
``"<return>"`` row per carer). ``unserved``: ``visit_id, person_id, day, reason``. ``breaks``:
``carer_id, day, start, end``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from patchplan.matrix import TravelTimes
from patchplan.parallel import map_tasks
from patchplan.rounds.decompose import compact_groups, plan_day
from patchplan.rounds.model import (
    REASON_CAPACITY,
    REASON_LINK,
    REASON_NO_SKILL,
    REASON_NO_WINDOW,
    REASON_TIME_LIMIT,
    REASON_UNREACHABLE,
    RETURN,
    RoundsResult,
    RoundsSettings,
    validate,
)
from patchplan.rounds.problem import day_problem
from patchplan.rounds.results import (
    DayPlan,
    assemble,
    combine_results,
    continuity,
    legs_geometry,
    unserved_table,
)
from patchplan.rounds.results import empty_plan as _empty_plan
from patchplan.rounds.solvers import solve_problem
from patchplan.rounds.week import WeekResult, plan_week, plan_weeks, recurring_calls

__all__ = [
    "REASON_CAPACITY",
    "REASON_LINK",
    "REASON_NO_SKILL",
    "REASON_NO_WINDOW",
    "REASON_TIME_LIMIT",
    "REASON_UNREACHABLE",
    "RETURN",
    "RoundsResult",
    "RoundsSettings",
    "WeekResult",
    "combine_results",
    "compact_groups",
    "continuity",
    "legs_geometry",
    "plan_many",
    "plan_rounds",
    "plan_week",
    "plan_weeks",
    "recurring_calls",
]


def plan_rounds(
    visits: pd.DataFrame,
    carers: pd.DataFrame,
    travel: dict[str, TravelTimes],
    settings: RoundsSettings | None = None,
) -> RoundsResult:
    """Plan carers' rounds for the visits of one or more days.

    Each day in ``visits`` is planned on its own, with every carer available (a ``day`` column on
    ``carers``, if present, restricts a carer to that day).

    Parameters
    ----------
    visits : GeoDataFrame of visits (``docs/data-contracts.md``; optional ``skills_2``,
        ``follows``/``gap_min``/``gap_max``, ``due``, ``preferred_carers``, ``demand``).
    carers : GeoDataFrame of carers; geometry is the base where each round starts and ends.
    travel : one :class:`~patchplan.matrix.TravelTimes` per carer mode; each is asked for one
        matrix over all distinct locations of a day.
    settings : solver settings; defaults to ``RoundsSettings()``.

    Returns
    -------
    RoundsResult
        Rounds, unserved visits with reasons, breaks, KPIs.

    Raises
    ------
    RoundsError
        If a table is malformed (missing columns, duplicate ids, inverted windows, a broken link,
        a mode with no travel times). Individual impossible visits are reported in ``unserved``.
    """
    settings = settings or RoundsSettings()
    validate(visits, carers, travel)
    plans: list[DayPlan] = []
    for d in sorted(pd.unique(visits["day"])) if len(visits) else []:
        day_visits = visits[visits["day"] == d].reset_index(drop=True)
        day_carers = carers[carers["day"] == d] if "day" in carers.columns else carers
        day_carers = day_carers.reset_index(drop=True)
        if len(day_carers) == 0:
            reasons = [REASON_NO_WINDOW] * len(day_visits)
            plans.append(_empty_plan(unserved_table(day_visits, range(len(day_visits)), reasons)))
            continue
        day = day_problem(day_visits, day_carers, travel, settings.time_units_per_min,
                          settings.max_walk_leg_min)  # fmt: skip
        plans.extend(plan_day(day, settings, solve_problem))
    estimate = any(bool(getattr(t, "estimate", False)) for t in travel.values())
    return assemble(plans, visits, settings, estimate)


def _plan_task(task: tuple) -> RoundsResult:
    visits, carers, travel, settings = task
    return plan_rounds(visits, carers, travel, settings)


def plan_many(
    tasks: Sequence[tuple[pd.DataFrame, pd.DataFrame, dict[str, TravelTimes]]],
    settings: RoundsSettings | None = None,
) -> list[RoundsResult]:
    """Plan independent problems (e.g. one per patch and day) in parallel processes.

    Parameters
    ----------
    tasks : ``(visits, carers, travel)`` triples; travel objects must be picklable.
    settings : ``settings.workers`` processes (1 = in this process, in order).

    Returns
    -------
    list of RoundsResult, in the order of ``tasks`` whatever the finishing order.
    """
    settings = settings or RoundsSettings()
    jobs = [(v, c, t, settings) for v, c, t in tasks]
    return map_tasks(_plan_task, jobs, settings.workers)
