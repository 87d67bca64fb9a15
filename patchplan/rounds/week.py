"""The week as a rota: a provider's recurring calls planned once, and each day derived from them.

Home care runs on a weekly rota in which most packages repeat daily. :func:`plan_week`:

1. finds each visit's **call** (the same person, window, duration, carers and skills on other days)
   and the calls that **recur**: on more than ``recurring_min_share`` of the planned days
   (:func:`recurring_calls`; by default every call, however few its days);
2. plans the recurring calls once, as a **template day**, with the day planner
   (:func:`~patchplan.rounds.decompose.plan_day`): one carer per **round** of the rota;
3. derives each day from it: every round keeps its template calls that run that day (taking calls
   out keeps a round feasible; the shorter rounds are re-timed and, where it shortens them,
   reordered), worked by the carer the rota puts on it that day (its regular carer, or the relief
   covering their day off), so the same carer takes a person's 08:00 call on every day they work
   (**recurring runs**); the day's other calls (not recurring, or left out of the template) are
   fitted around them by cheapest insertion (:mod:`~patchplan.rounds.timing`), a round that
   already serves the person preferred by ``continuity_cost_min``, room made by moving one visit
   of a nearby round before an unused round is opened; rounds the day has left short are closed
   when other rounds take their visits for less travel.

The carers of the week (``carers_week``) are the carers table with ``round_id`` and ``day``: one
row per carer and day worked (``patchplan.workforce.rota`` makes them). Without ``round_id`` each
carer is its own round; without ``day`` every carer works every day.

With ``week_template = False`` every day is planned on its own with that day's carers (the
baseline the week plan is measured against, ``benchmarks/bench_city_week.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from patchplan.errors import RoundsError
from patchplan.matrix import TravelTimes
from patchplan.parallel import map_tasks
from patchplan.rounds.decompose import plan_day
from patchplan.rounds.model import (
    REASON_NO_WINDOW,
    RETURN,
    RoundsResult,
    RoundsSettings,
    validate,
)
from patchplan.rounds.problem import DayProblem, Links, day_problem, eligibility
from patchplan.rounds.results import (
    DayPlan,
    assemble,
    combine_results,
    day_plan,
    empty_plan,
    unserved_table,
)
from patchplan.rounds.solvers import solve_problem
from patchplan.rounds.timing import Insertion, RoundClock, Timing, improve_route, time_routes

CALL_COLUMNS = ["person_id", "earliest", "latest", "duration", "carers", "skills"]
"""What makes two visits of a person on different days the same call (plus ``skills_2``)."""


@dataclass
class WeekResult:
    """A provider's week.

    Attributes
    ----------
    plan : every day's rounds, unserved visits and KPIs (``carer_id`` is whoever works the round
        that day).
    template : the template day's rounds (``carer_id`` is the round, ``visit_id`` the call).
    calls : per visit: ``visit_id``, ``call_id``, ``recurring`` (bool), ``round_id`` (the round
        that served it, "" if unserved; two, comma-separated, for a double-up) and
        ``template_round`` (the round(s) the template gave its call, "" if none).
    kpis : ``recurring_visit_share`` (visits of recurring calls), ``template_round_share`` (served
        visits of recurring calls served on their template round), ``visits_inserted``,
        ``template_s`` and ``derive_s`` (seconds).
    """

    plan: RoundsResult
    template: RoundsResult | None
    calls: pd.DataFrame
    kpis: dict[str, float] = field(default_factory=dict)


@dataclass
class Template:
    """The template day's plan as each day needs it.

    Attributes
    ----------
    routes : round -> its visit copies in order, as ``(call_id, slot)``.
    starts : ``(call_id, slot)`` -> planned start (minutes after midnight).
    capped : the wall-clock safety cap cut the template's search.
    """

    routes: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    starts: dict[tuple[str, int], float] = field(default_factory=dict)
    capped: bool = False


def recurring_calls(visits: pd.DataFrame, min_share: float = 0.5) -> pd.DataFrame:
    """Each visit's call and whether it recurs on more than ``min_share`` of the planned days.

    A call is a person's visit with the same window, duration, carers and skills (and
    ``skills_2``) on other days; two such visits on one day are two calls. A visit that follows a
    visit which does not recur does not recur either (the template keeps links whole), nor do two
    visits that start together unless both recur.

    Returns
    -------
    DataFrame aligned with ``visits``: ``visit_id``, ``call_id`` (the call's first visit id, by
    day), ``days`` (days the call runs), ``recurring`` (bool).
    """
    cols = CALL_COLUMNS + (["skills_2"] if "skills_2" in visits.columns else [])
    key_frame = visits[cols].astype(str)
    nth = key_frame.assign(_day=visits["day"].to_numpy()).groupby(cols + ["_day"]).cumcount()
    key = key_frame.agg("|".join, axis=1) + "|" + nth.astype(str)
    order = np.lexsort((visits["visit_id"].astype(str).to_numpy(), visits["day"].to_numpy()))
    first_id = (
        pd.Series(visits["visit_id"].astype(str).to_numpy()[order], index=key.to_numpy()[order])
        .groupby(level=0)
        .first()
    )
    days = max(1, visits["day"].nunique())
    runs = visits.groupby(key.to_numpy())["day"].nunique()
    out = pd.DataFrame(
        {
            "visit_id": visits["visit_id"].astype(str).to_numpy(),
            "call_id": first_id.reindex(key.to_numpy()).to_numpy(),
            "days": runs.reindex(key.to_numpy()).to_numpy().astype(int),
        },
        index=visits.index,
    )
    out["recurring"] = out["days"] > min_share * days
    if "follows" in visits.columns:
        _links_whole(visits, out)
    return out


def _links_whole(visits: pd.DataFrame, calls: pd.DataFrame) -> None:
    """A follower of a non-recurring visit, and both of a start-together pair, recur together."""
    recurring = pd.Series(calls["recurring"].to_numpy(), index=calls["visit_id"].to_numpy())
    follows = visits["follows"].where(visits["follows"].notna(), "").astype(str).to_numpy()
    together = (visits.get("gap_min", 0) == 0) & (visits.get("gap_max", 0) == 0)
    for _ in range(len(visits)):  # until nothing changes (chains of links)
        changed = False
        for i, other in enumerate(follows):
            if not other or other not in recurring.index:
                continue
            me = calls["visit_id"].iat[i]
            if recurring[me] and not recurring[other]:
                recurring[me], changed = False, True
            elif bool(np.asarray(together)[i]) and recurring[other] and not recurring[me]:
                recurring[other], changed = False, True
        if not changed:
            break
    calls["recurring"] = recurring.reindex(calls["visit_id"].to_numpy()).to_numpy()


def _week_carers(carers_week: pd.DataFrame, days: list[int]) -> pd.DataFrame:
    """``carers_week`` with ``round_id`` and ``day`` (filled in when absent), checked."""
    week = carers_week.copy()
    if "round_id" not in week.columns:
        week["round_id"] = week["carer_id"].astype(str)
    if "day" not in week.columns:
        week = pd.concat([week.assign(day=d) for d in days], ignore_index=True)
    week["round_id"] = week["round_id"].astype(str)
    for keys, what in ((["round_id", "day"], "round"), (["carer_id", "day"], "carer")):
        dup = week[week.duplicated(keys)]
        if len(dup):
            r = dup.iloc[0]
            raise RoundsError(
                f"carers of the week: {what} {r[keys[0]]!r} is worked twice on day {r['day']}"
            )
    return week


def _rounds_table(week: pd.DataFrame) -> pd.DataFrame:
    """One row per round (its first row in ``week``), ``carer_id`` = ``round_id``."""
    rounds = week.drop_duplicates("round_id").drop(columns="day").reset_index(drop=True)
    rounds["carer_id"] = rounds["round_id"]
    return rounds


def plan_week(
    visits: pd.DataFrame,
    carers_week: pd.DataFrame,
    travel: dict[str, TravelTimes],
    settings: RoundsSettings | None = None,
) -> WeekResult:
    """Plan a provider's week: the template day of its recurring calls, then each day from it.

    Parameters
    ----------
    visits : the week's visits (``docs/data-contracts.md``), ``day`` 0–6.
    carers_week : the carers table with ``round_id`` and ``day`` (one row per carer and day
        worked); geometry is where the round starts and ends.
    travel : one :class:`~patchplan.matrix.TravelTimes` per carer mode.
    settings : solver settings (``week_template``, ``recurring_min_share``; the template day gets
        one day's ``time_limit_s`` and ``branch_limit``).

    Returns
    -------
    WeekResult

    Raises
    ------
    RoundsError
        A malformed table, or a round or carer worked twice on one day.
    """
    settings = settings or RoundsSettings()
    days = sorted(int(d) for d in pd.unique(visits["day"])) if len(visits) else []
    week = _week_carers(carers_week, days)
    rounds = _rounds_table(week)
    validate(visits, rounds, travel)
    calls = recurring_calls(visits, settings.recurring_min_share)
    estimate = any(bool(getattr(t, "estimate", False)) for t in travel.values())
    if not settings.week_template:
        return _days_apart(visits, week, travel, settings, calls, estimate)

    t0 = time.monotonic()
    template_visits = _template_visits(visits, calls)
    template_result, template = _plan_template(template_visits, rounds, travel, settings, estimate)
    template_s = time.monotonic() - t0
    person_of_call = dict(zip(template_visits["visit_id"], template_visits["person_id"],
                              strict=True))  # fmt: skip
    knows = {r: {person_of_call[c] for c, _ in route} for r, route in template.routes.items()}
    plans: list[DayPlan] = []
    inserted = 0
    for d in days:
        t_day = time.monotonic()
        day_visits = visits[visits["day"] == d].reset_index(drop=True)
        workers = _workers(week, rounds, d)
        plan, n_inserted = derive_day(
            day_visits, workers, template, calls.set_index("visit_id")["call_id"], knows, travel,
            settings,
        )  # fmt: skip
        inserted += n_inserted
        plans.append(replace(plan, elapsed_s=time.monotonic() - t_day + (template_s if d == days[0] else 0.0)))  # fmt: skip
    derive_s = time.monotonic() - t0 - template_s
    result = assemble(plans, visits, settings, estimate)
    calls = _served_rounds(calls, result, week, template.routes)
    kpis = _week_kpis(calls, inserted, template_s, derive_s)
    return WeekResult(result, template_result, calls, kpis)


def _template_visits(visits: pd.DataFrame, calls: pd.DataFrame) -> pd.DataFrame:
    """One visit per recurring call (its first), ``visit_id`` = the call, links between calls."""
    rec = calls["recurring"].to_numpy()
    first = rec & (calls["visit_id"] == calls["call_id"]).to_numpy()
    template = visits[first].copy()
    template["visit_id"] = calls.loc[first, "call_id"].to_numpy()
    if "follows" in template.columns:
        call_of = dict(zip(calls["visit_id"], calls["call_id"], strict=True))
        template["follows"] = [call_of.get(str(f), "") if isinstance(f, str) and f else f
                               for f in template["follows"]]  # fmt: skip
    return template.reset_index(drop=True)


def _plan_template(
    template_visits: pd.DataFrame,
    rounds: pd.DataFrame,
    travel: dict[str, TravelTimes],
    settings: RoundsSettings,
    estimate: bool,
) -> tuple[RoundsResult | None, Template]:
    """The template day planned by the day planner: its result, and its routes and start times."""
    if len(template_visits) == 0:
        return None, Template()
    day = day_problem(template_visits, rounds, travel, settings.time_units_per_min,
                      settings.max_walk_leg_min)  # fmt: skip
    plans = plan_day(day, settings, solve_problem)
    result = assemble(plans, template_visits, settings, estimate)
    start = result.rounds.set_index(["carer_id", "visit_id"])["start"]
    # Each copy once: the day planner's repair pass can leave a double-up's copy in the round of
    # a carer it did not re-plan while serving both copies again; the later plan is the whole one.
    seen: set[tuple[str, int]] = set()
    routes: dict[str, list[tuple[str, int]]] = {}
    for p in reversed(plans):
        for cid, route in p.routes.items():
            routes[cid] = [copy for copy in route if copy not in seen]
            seen.update(route)
    starts = {copy: float(start[(r, copy[0])]) for r, route in routes.items() for copy in route}
    return result, Template(routes, starts, any(p.capped for p in plans))


def _workers(week: pd.DataFrame, rounds: pd.DataFrame, day: int) -> pd.DataFrame:
    """The day's carers in the rounds' order: each round's row for the carer working it."""
    today = week[week["day"] == day].set_index("round_id")
    order = [r for r in rounds["round_id"] if r in today.index]
    return today.loc[order].reset_index()


def derive_day(
    visits: pd.DataFrame,
    workers: pd.DataFrame,
    template: Template,
    call_of: pd.Series,
    knows: dict[str, set[str]],
    travel: dict[str, TravelTimes],
    settings: RoundsSettings,
) -> tuple[DayPlan, int]:
    """One day from the template: its rounds kept where their calls run, other calls inserted.

    Parameters
    ----------
    visits : the day's visits.
    workers : the day's carers with ``round_id`` (one per round worked).
    template : the template day's routes and start times.
    call_of : ``visit_id`` → ``call_id``.
    knows : round → the people it serves (updated with the calls inserted).

    Returns
    -------
    The day's plan and how many visits were inserted.
    """
    scale = settings.time_units_per_min
    if len(visits) == 0:
        return empty_plan(), 0
    if len(workers) == 0:  # nobody works that day
        reasons = [REASON_NO_WINDOW] * len(visits)
        return empty_plan(unserved_table(visits, range(len(visits)), reasons)), 0
    day = day_problem(visits, workers, travel, scale, settings.max_walk_leg_min)
    elig = eligibility(day, scale)
    clock = RoundClock(day, scale)
    first = np.concatenate([[0], np.cumsum(visits["carers"].to_numpy().astype(int))[:-1]])
    at = {call_of.get(str(v), str(v)): i for i, v in enumerate(visits["visit_id"].astype(str))}
    round_ids = workers["round_id"].astype(str).tolist()
    routes, starts = template.routes, template.starts
    kept: list[list[int]] = []
    for j, r in enumerate(round_ids):
        nodes = []
        for call, slot in routes.get(r, []):
            i = at.get(call)
            if i is not None and elig.allowed[first[i] + slot, j]:
                nodes.append(int(first[i] + slot))
        kept.append(nodes)
    links = day.links(scale)
    kept = _whole_links(kept, links)
    timed = time_routes(clock, kept, links, clock.lo, clock.hi)
    if timed is None:  # linked copies at their template times, which the shorter rounds keep
        pinned_lo, pinned_hi = clock.lo.copy(), clock.hi.copy()
        slot_of = {n: (str(visits["visit_id"].iat[day.node_visit[n]]), int(day.node_slot[n]))
                   for r in kept for n in r}  # fmt: skip
        for n in set(links.a.tolist()) | set(links.b.tolist()):
            vid, slot = slot_of.get(n, ("", 0))
            at_time = starts.get((call_of.get(vid, vid), slot))
            if at_time is not None:
                pinned_lo[n] = pinned_hi[n] = round(at_time * scale)
        timed = time_routes(clock, kept, links, pinned_lo, pinned_hi)
    if timed is None:  # links the shorter rounds cannot keep: their copies are inserted afresh
        linked = set(links.a.tolist()) | set(links.b.tolist())
        kept = [[n for n in r if n not in linked] for r in kept]
        timed = time_routes(clock, kept, links, clock.lo, clock.hi)
    if timed is None:  # cannot happen when travel keeps the triangle inequality; never crash
        kept = [[] for _ in round_ids]
        timed = ({}, clock.lo.copy())
    timings, lo = timed
    hi = clock.hi.copy()
    _pin_links(kept, timings, links, lo, hi)
    people = visits["person_id"].astype(str).to_numpy()[day.node_visit[: day.n_visit_nodes]]
    placed = {n for r in kept for n in r}
    todo = [i for i in range(len(visits)) if elig.servable[i] and first[i] not in placed]
    penalty = np.zeros(elig.allowed.shape, dtype=np.int64)
    cost = settings.continuity_cost_min * scale
    for i in todo:
        for n in range(first[i], first[i] + int(visits["carers"].iat[i])):
            penalty[n] = [0 if people[n] in knows.get(r, ()) else cost for r in round_ids]
    ins = Insertion(clock, kept, timings, lo, hi, elig.allowed, penalty,
                    open_cost=settings.carer_fixed_cost_min * scale)  # fmt: skip
    inserted = _insert(ins, visits, first, todo, links)
    _close_short_rounds(ins, links, people, knows, round_ids, cost)
    for j, route in enumerate(ins.routes):  # rounds that lost or gained calls today: reorder
        if route and len(route) != len(routes.get(round_ids[j], [])):
            ins.routes[j], ins.timings[j] = improve_route(clock, route, ins.timings[j], j, lo, hi)
    for j, route in enumerate(ins.routes):
        knows.setdefault(round_ids[j], set()).update(people[n] for n in route)
    return _layout(day, ins, elig.reasons, scale, template.capped), inserted


SHORT_ROUND = 4
"""A derived day's rounds with at most this many visits are closed if others take them for less."""


def _close_short_rounds(ins: Insertion, links: Links, people: np.ndarray,
                        knows: dict[str, set[str]], round_ids: list[str], cost: int) -> None:  # fmt: skip
    """Close rounds the day has left short (calls absent, a quiet day) when other working rounds
    can take their visits for less travel, ``continuity_cost_min`` counted as travel for each visit
    going to a round that does not already serve the person."""
    linked = set(links.a.tolist()) | set(links.b.tolist())
    short = [j for j, r in enumerate(ins.routes) if 0 < len(r) <= SHORT_ROUND
             and not linked.intersection(r)]  # fmt: skip
    for j in sorted(short, key=lambda j: (len(ins.routes[j]), j)):
        for n in ins.routes[j]:
            ins.penalty[n] = [0 if people[n] in knows.get(r, ()) else cost for r in round_ids]
        ins.close_round(j)


def _whole_links(routes: list[list[int]], links: Links) -> list[list[int]]:
    """Routes less any copy whose start-together partner is not placed (both or neither)."""
    placed = {n for r in routes for n in r}
    drop: set[int] = set()
    for a, b, together in zip(links.a, links.b, links.together, strict=True):
        if together and (a in placed) != (b in placed):
            drop.update((int(a), int(b)))
    return [[n for n in r if n not in drop] for r in routes] if drop else routes


def _pin_links(routes, timings, links: Links, lo: np.ndarray, hi: np.ndarray) -> None:
    """Pin placed linked copies to their starts, so inserting around them keeps every link."""
    start = {n: timings[j].starts[k] for j, r in enumerate(routes) if r for k, n in enumerate(r)}
    for a, b in zip(links.a, links.b, strict=True):
        if a in start and b in start:
            lo[a] = hi[a] = start[a]
            lo[b] = hi[b] = start[b]


def _insert(ins: Insertion, visits: pd.DataFrame, first: np.ndarray, todo: list[int],
            links: Links) -> int:  # fmt: skip
    """Insert the day's other calls: start-together pairs first, then singles, narrowest window
    first; a copy linked to a placed one is given the window its link allows and pinned."""
    pairs = {
        (int(a), int(b)) for a, b, t in zip(links.a, links.b, links.together, strict=True) if t
    }
    node_of = {}
    for i in todo:
        node_of[int(first[i])] = i
        if int(visits["carers"].iat[i]) == 2:
            node_of[int(first[i]) + 1] = i
    mine = sorted(p for p in pairs if p[0] in node_of and p[1] in node_of)
    in_pair = {n for p in mine for n in p}
    singles = [n for n in node_of if n not in in_pair]
    width = ins.hi - ins.lo
    count = 0
    for a, b in sorted(mine, key=lambda p: (int(width[p[0]]), p)):
        count += ins.insert_pair(a, b)
    for n in sorted(singles, key=lambda n: (int(width[n]), n)):
        saved = ins.lo[n], ins.hi[n]
        if not _link_window(ins, n, links):
            continue
        if ins.insert_single(n):
            count += 1
            if _is_linked(n, links):
                j = next(j for j, r in enumerate(ins.routes) if n in r)
                ins.lo[n] = ins.hi[n] = ins.timings[j].starts[ins.routes[j].index(n)]
        else:
            ins.lo[n], ins.hi[n] = saved
    return count


def _is_linked(n: int, links: Links) -> bool:
    return bool((links.a == n).any() or (links.b == n).any())


def _link_window(ins: Insertion, n: int, links: Links) -> bool:
    """Narrow ``n``'s window to what its links to placed copies allow; False if nothing is left."""
    start = {m: ins.timings[j].starts[k] for j, r in enumerate(ins.routes) if r
             for k, m in enumerate(r)}  # fmt: skip
    for a, b, gmin, gmax in zip(links.a, links.b, links.gap_min, links.gap_max, strict=True):
        if b == n and a in start:
            ins.lo[n] = max(ins.lo[n], start[a] + int(np.ceil(gmin)))
            ins.hi[n] = min(ins.hi[n], start[a] + int(np.floor(gmax)))
        elif a == n and b in start:
            ins.lo[n] = max(ins.lo[n], start[b] - int(np.floor(gmax)))
            ins.hi[n] = min(ins.hi[n], start[b] - int(np.ceil(gmin)))
    return bool(ins.lo[n] <= ins.hi[n])


def _layout(day: DayProblem, ins: Insertion, reasons: list[str | None], scale: int,
            capped: bool) -> DayPlan:  # fmt: skip
    """The day's rounds as tables (``results.day_plan``), from the insertion's timings."""
    starts: dict[int, int] = {}
    breaks: dict[int, int] = {}
    travel = 0
    for j, route in enumerate(ins.routes):
        if not route:
            continue
        t: Timing = ins.timings[j]
        starts.update(zip(route, t.starts, strict=True))
        starts[-(j + 1)] = t.back
        travel += t.travel
        if t.break_start is not None:
            breaks[j] = t.break_start
    return day_plan(day, ins.routes, starts, breaks, reasons, scale, objective=travel / scale,
                    elapsed_s=0.0, capped=capped, solver="week template")  # fmt: skip


def _served_rounds(calls: pd.DataFrame, result: RoundsResult, week: pd.DataFrame,
                   routes: dict[str, list[tuple[str, int]]]) -> pd.DataFrame:  # fmt: skip
    """``calls`` with the rounds that served each visit and the rounds its call has in the
    template (comma-separated, sorted: two for a double-up)."""
    stops = result.rounds[result.rounds["visit_id"] != RETURN]
    round_of = week.set_index(["carer_id", "day"])["round_id"]
    keys = pd.MultiIndex.from_arrays([stops["carer_id"], stops["day"].astype(int)])
    served = pd.Series(round_of.reindex(keys).to_numpy(), index=stops["visit_id"].to_numpy())
    by_visit = served.groupby(level=0).agg(lambda r: ",".join(sorted(r)))
    template: dict[str, list[str]] = {}
    for r, route in routes.items():
        for call, _ in route:
            template.setdefault(call, []).append(r)
    out = calls.copy()
    out["round_id"] = by_visit.reindex(out["visit_id"].to_numpy()).fillna("").to_numpy()
    out["template_round"] = [",".join(sorted(template.get(c, []))) for c in out["call_id"]]
    return out


def _week_kpis(calls: pd.DataFrame, inserted: int, template_s: float, derive_s: float
               ) -> dict[str, float]:  # fmt: skip
    rec = calls[calls["recurring"] & (calls["round_id"] != "")]
    return {
        "recurring_visit_share": float(calls["recurring"].mean()) if len(calls) else 0.0,
        "template_round_share": float((rec["round_id"] == rec["template_round"]).mean())
        if len(rec)
        else 0.0,
        "visits_inserted": float(inserted),
        "template_s": float(template_s),
        "derive_s": float(derive_s),
    }


def _days_apart(visits, week, travel, settings, calls, estimate) -> WeekResult:
    """Every day planned on its own with that day's carers (the baseline)."""
    from patchplan.rounds import plan_rounds

    t0 = time.monotonic()
    rounds = _rounds_table(week)
    results = [
        plan_rounds(
            visits[visits["day"] == d],
            _workers(week, rounds, int(d)).drop(columns=["round_id", "day"]),
            travel,
            settings,
        )  # fmt: skip
        for d in sorted(pd.unique(visits["day"]))
    ]
    result = combine_results(results, settings)
    calls = _served_rounds(calls, result, week, {})
    return WeekResult(result, None, calls, _week_kpis(calls, 0, 0.0, time.monotonic() - t0))


def _plan_week_task(task: tuple) -> WeekResult:
    visits, carers_week, travel, settings = task
    return plan_week(visits, carers_week, travel, settings)


def plan_weeks(
    tasks: Sequence[tuple[pd.DataFrame, pd.DataFrame, dict[str, TravelTimes]]],
    settings: RoundsSettings | None = None,
    on_done: Callable[[int, int], None] | None = None,
) -> list[WeekResult]:
    """Plan independent weeks (one per provider) in parallel processes, largest first.

    Parameters
    ----------
    tasks : ``(visits, carers_week, travel)`` triples; travel objects must be picklable.
    settings : ``settings.workers`` processes (1 = in this process).
    on_done : called with (weeks done, weeks) as each finishes.

    Returns
    -------
    list of WeekResult, in the order of ``tasks``.
    """
    settings = settings or RoundsSettings()
    # the biggest weeks start first, so no process is left with a long one at the end
    order = sorted(range(len(tasks)), key=lambda k: (-len(tasks[k][0]), k))
    jobs = [(*tasks[k], settings) for k in order]
    results = map_tasks(_plan_week_task, jobs, settings.workers, on_done=on_done)
    out: list[WeekResult | None] = [None] * len(tasks)
    for k, res in zip(order, results, strict=True):
        out[k] = res
    return [r for r in out if r is not None]
