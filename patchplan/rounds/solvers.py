"""Which solver plans a problem: one home for the choice, used by the day and the week planners."""

from __future__ import annotations

from patchplan.rounds.linked import available, solve_linked
from patchplan.rounds.model import RoundsSettings
from patchplan.rounds.ortools_model import solve_day
from patchplan.rounds.problem import DayProblem
from patchplan.rounds.results import DayPlan


def solve_problem(
    day: DayProblem, settings: RoundsSettings, initial: list[list[int]] | None
) -> DayPlan:
    """Plan one problem with the solver suited to it: the linked-visit search when the problem has
    double-ups or linked visits (and the search is available), else OR-Tools seeded by PyVRP."""
    if settings.linked_search and len(day.links(settings.time_units_per_min)) and available():
        return solve_linked(day, settings, initial)
    return solve_day(day, settings, initial)
