"""Our nouns for rounds: the visits and carers tables, settings, results and their validation.

Visits (``docs/data-contracts.md``): ``visit_id, person_id, day, earliest, latest`` (minutes after
midnight; the window for the *start* of service, hard), ``duration`` (minutes), ``carers`` (1 or 2),
``skills`` (comma-separated, required of every carer on the visit) and geometry. Optional:

* ``skills_2``: for a double-up whose second carer needs other skills than the first ("one carer
  with moving-and-handling, one with medication"); the first slot then needs ``skills``, the second
  ``skills_2``. Empty means both slots need ``skills``.
* ``follows``, ``gap_min``, ``gap_max``: this visit starts between ``gap_min`` and ``gap_max``
  minutes after the start of visit ``follows`` (same person, same day): medication 60–120 minutes
  after breakfast, say. ``gap_min = gap_max = 0`` starts the two together (by different carers,
  as a double-up with two visits).
* ``due``: a soft due time (minutes after midnight): starting later costs
  ``lateness_cost_per_min`` per minute; the hard ``latest`` still holds.
* ``preferred_carers`` (comma-separated carer ids; service by anyone else costs
  ``continuity_cost_min``) and ``demand`` (int, with ``capacity`` on carers).

Carers: ``carer_id, mode, shift_start, shift_end, max_minutes, break_earliest, break_latest,
break_minutes, skills`` and geometry (the base where the round starts and ends).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from patchplan._validate import at_least, collect, positive, share
from patchplan.demand import link_problems
from patchplan.errors import RoundsError
from patchplan.matrix import TravelTimes

RETURN = "<return>"
"""``visit_id`` of the final row of each round: the leg back to base."""

REASON_NO_SKILL = "no carer with the skill"
REASON_UNREACHABLE = "unreachable on this mode"
REASON_NO_WINDOW = "no time window fits any shift"
REASON_CAPACITY = "capacity exhausted"
REASON_TIME_LIMIT = "not placed before the time limit (raise [rounds] time_limit_s)"
REASON_LINK = "its linked visit could not be served"

ROUNDS_COLUMNS = [
    "carer_id", "day", "order", "visit_id", "person_id", "arrival", "start", "end", "wait",
    "travel_min", "travel_m", "mode",
]  # fmt: skip
UNSERVED_COLUMNS = ["visit_id", "person_id", "day", "reason"]
BREAK_COLUMNS = ["carer_id", "day", "start", "end"]
LEG_COLUMNS = ["from_x", "from_y", "to_x", "to_y"]

VISIT_COLUMNS = ["visit_id", "person_id", "day", "earliest", "latest", "duration", "carers"]
CARER_COLUMNS = [
    "carer_id", "mode", "shift_start", "shift_end", "max_minutes",
    "break_earliest", "break_latest", "break_minutes", "skills",
]  # fmt: skip

CARER_KIND = [
    "mode", "shift_start", "shift_end", "max_minutes", "break_earliest", "break_latest",
    "break_minutes", "skills",
]  # fmt: skip
"""Columns that make carers interchangeable when a large day is shared out (apart from base)."""

BIG_COST = 10**9


@dataclass(frozen=True)
class RoundsSettings:
    """Settings of the rounds solver (scenario section ``[rounds]``).

    Attributes
    ----------
    time_limit_s : wall-clock limit for one (patch, day), seconds, shared by its parts and the
        repair pass (a safety cap when ``deterministic``).
    seed : random seed (PyVRP seeding, the linked-visit search).
    carer_fixed_cost_min : cost of using a carer at all, in minutes of travel, so rounds are not
        spread thin.
    continuity_cost_min : cost, in minutes of travel, of a visit served by a carer outside the
        person's ``preferred_carers``.
    unserved_penalty_min : cost, in minutes of travel, of leaving one visit copy unserved.
    punctuality_tolerance_min : a visit is punctual if it starts at most this many minutes after
        its ``earliest`` (KPI; also the soft bound of ``lateness_cost_per_min`` for visits
        without a ``due`` time).
    lateness_cost_per_min : cost per minute of starting after a visit's ``due`` time (or after
        ``earliest + punctuality_tolerance_min`` when the visits have no ``due``; 0 = windows are
        the only timing rule).
    max_lateness_cost_per_min : cost per minute of the day's *largest* lateness, so no one person
        bears a long delay to save others a short one (0 = none).
    workers : processes for :func:`plan_many` (1 = in this process).
    time_units_per_min : internal time resolution (1 = whole minutes; 100 for the Solomon
        benchmark, where distances need 0.01 precision).
    deterministic : stop on work counts (``seed_iterations``, ``solution_limit``) rather than time.
    solution_limit : accepted OR-Tools local-search solutions before stopping (when deterministic).
    seed_with_pyvrp : seed OR-Tools with PyVRP routes when PyVRP is installed.
    seed_iterations : PyVRP iterations for the seed (when deterministic).
    seed_time_share : share of ``time_limit_s`` given to the PyVRP seed (when not deterministic).
    stall_solutions : when deterministic, also stop guided local search after this many accepted
        solutions in a row without a new best objective (0 = only ``solution_limit``).
    scheduling_filters : let OR-Tools filter moves with its LP/MIP schedulers (breaks, soft
        bounds). Off by default: with breaks they cost ~100 µs per candidate move; feasibility is
        still enforced by OR-Tools' constraint propagation on every move accepted.
    branch_limit : when deterministic, search-tree branches allowed for one (patch, day), shared by
        its parts in proportion to their visits (a work count: a 100-visit part takes about
        10,000; 0 = no limit).
    max_walk_leg_min : longest walk a walking carer is asked to make for one leg, minutes; longer
        walks count as unreachable on foot (0 = no limit).
    max_visits_per_problem : a day with more visit copies than this is cut into compact
        geographic parts, each planned with its share of the carers; the visits they leave are then
        offered to every carer with slack (0 = never cut).
    linked_search : days with double-ups or linked visits are planned by the linked-visit search
        (:mod:`patchplan.rounds.search`) when it is available; False keeps them on OR-Tools.
    linked_iterations : iterations of the linked-visit search for one (patch, day) (a work count).
    week_template : :func:`~patchplan.rounds.plan_week` plans a provider's recurring calls once, as
        a template day, and derives each day from it (recurring runs: the same round takes a
        person's call every day). False plans every day on its own (the baseline it is measured
        against).
    recurring_min_share : a person's call (same window, duration, carers and skills) goes into the
        template day when it runs on more than this share of the planned days; the others are
        inserted day by day. Default 0: every call has its place in the template, and each day only
        leaves out the calls it does not have, which measured closer to days planned apart than
        inserting the calls that run on a few days (``benchmarks/bench_city_week.py``).
    """

    time_limit_s: float = 10.0
    seed: int = 1
    carer_fixed_cost_min: int = 60
    continuity_cost_min: int = 15
    unserved_penalty_min: int = 10_000
    punctuality_tolerance_min: int = 30
    lateness_cost_per_min: int = 0
    max_lateness_cost_per_min: int = 0
    workers: int = 1
    time_units_per_min: int = 1
    deterministic: bool = True
    solution_limit: int = 3_000
    seed_with_pyvrp: bool = True
    seed_iterations: int = 2_000
    seed_time_share: float = 0.5
    stall_solutions: int = 10
    scheduling_filters: bool = False
    max_visits_per_problem: int = 100
    max_walk_leg_min: float = 30.0
    branch_limit: int = 2_000_000
    linked_search: bool = True
    linked_iterations: int = 2_000
    week_template: bool = True
    recurring_min_share: float = 0.0

    def problems(self) -> list[str]:
        """Range problems of these settings, each naming its key (empty when valid)."""
        return collect(
            positive("time_limit_s", self.time_limit_s),
            at_least("seed", self.seed, 0),
            at_least("carer_fixed_cost_min", self.carer_fixed_cost_min, 0),
            at_least("continuity_cost_min", self.continuity_cost_min, 0),
            at_least("unserved_penalty_min", self.unserved_penalty_min, 1),
            at_least("punctuality_tolerance_min", self.punctuality_tolerance_min, 0),
            at_least("lateness_cost_per_min", self.lateness_cost_per_min, 0),
            at_least("max_lateness_cost_per_min", self.max_lateness_cost_per_min, 0),
            at_least("workers", self.workers, 1),
            at_least("time_units_per_min", self.time_units_per_min, 1),
            at_least("solution_limit", self.solution_limit, 1),
            at_least("seed_iterations", self.seed_iterations, 1),
            share("seed_time_share", self.seed_time_share),
            at_least("stall_solutions", self.stall_solutions, 0),
            at_least("max_visits_per_problem", self.max_visits_per_problem, 0),
            at_least("max_walk_leg_min", self.max_walk_leg_min, 0),
            at_least("branch_limit", self.branch_limit, 0),
            at_least("linked_iterations", self.linked_iterations, 1),
        )


@dataclass
class RoundsResult:
    """Rounds for one or more (patch, day) problems.

    Attributes
    ----------
    rounds : DataFrame, columns ``ROUNDS_COLUMNS`` (minutes after midnight, minutes, metres).
    unserved : DataFrame ``visit_id, person_id, day, reason``.
    kpis : named figures, units in the names.
    breaks : DataFrame ``carer_id, day, start, end`` (minutes after midnight) of breaks taken.
    legs : DataFrame ``from_x, from_y, to_x, to_y`` (EPSG:27700 metres), aligned with ``rounds``,
        the end points of each leg; :func:`legs_geometry` turns them into street paths.
    visits : the visits planned (ids, day, earliest, duration, carers), for the KPIs.
    """

    rounds: pd.DataFrame
    unserved: pd.DataFrame
    kpis: dict[str, float]
    breaks: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=BREAK_COLUMNS))
    legs: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=LEG_COLUMNS))
    visits: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)


def split_ids(text: object) -> frozenset[str]:
    """A comma-separated cell as a set of ids (empty for blank or missing)."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return frozenset()
    return frozenset(s.strip() for s in str(text).split(",") if s.strip())


def validate(visits: pd.DataFrame, carers: pd.DataFrame, travel: dict[str, TravelTimes]) -> None:
    """Raise :class:`RoundsError` naming the first malformed column, id, row or mode."""
    for name, frame, cols in (("visits", visits, VISIT_COLUMNS), ("carers", carers, CARER_COLUMNS)):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise RoundsError(f"{name} table lacks column(s) {', '.join(missing)}")
        if "geometry" not in frame.columns:
            raise RoundsError(f"{name} table has no geometry")
    for name, frame, key in (("visits", visits, "visit_id"), ("carers", carers, "carer_id")):
        dup = frame[key][frame[key].duplicated()]
        if len(dup):
            raise RoundsError(f"{name}: duplicate {key} {dup.iloc[0]!r}")
    bad = visits[visits["latest"] < visits["earliest"]]
    if len(bad):
        r = bad.iloc[0]
        raise RoundsError(
            f"visit {r.visit_id}: latest ({r.latest}) is before earliest ({r.earliest})"
        )
    bad = visits[~visits["carers"].isin([1, 2])]
    if len(bad):
        raise RoundsError(f"visit {bad.iloc[0].visit_id}: carers must be 1 or 2")
    bad = visits[visits["duration"] < 0]
    if len(bad):
        raise RoundsError(f"visit {bad.iloc[0].visit_id}: negative duration")
    links = link_problems(visits)
    if (links != "").any():
        i = links.index[links != ""][0]
        raise RoundsError(f"visit {visits.loc[i, 'visit_id']}: {links[i]}")
    bad = carers[carers["shift_end"] < carers["shift_start"]]
    if len(bad):
        raise RoundsError(f"carer {bad.iloc[0].carer_id}: shift_end is before shift_start")
    missing_modes = sorted(set(carers["mode"]) - set(travel))
    if missing_modes:
        raise RoundsError(f"no travel times given for mode(s) {', '.join(missing_modes)}")
