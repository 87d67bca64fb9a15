"""Who serves the visits: providers, their bases and their carers, today and under the proposed patches.

Two arrangements are modelled with the same visits so the rounds solver can compare them fairly:

* **today** (:func:`baseline_allocation`): many providers spread across the whole area, each person
  placed with one provider at random in proportion to market share, every carer driving. This is how
  English home care was commissioned before patch-based contracts (Sheffield had dozens of providers
  working citywide before 2024).
* **proposed** (:func:`patch_allocation`): 2–3 providers per patch, each with an office where a
  provider would put one (:func:`office_site`: the home address in the patch with the most people
  within ``office_radius_m``, i.e. in its main built-up area, never a centroid on open land),
  people shared among them, and a mixed workforce in which a share of carers walk.

When the journeys from base to the first visit and back from the last are not paid (``[savings]
base_legs = false``, as UK home-care pay counts travel), :func:`carers_for` lets a carer's day start
up to ``unpaid_travel_min`` before the shift and end as long after it, so no visit is dropped only
because its carer could not get there from, or back to, a distant base within the shift.

Tables (see ``docs/data-contracts.md``):

* **allocation**: DataFrame ``person_id``, ``provider_id``, ``patch_id`` ("" for today's arrangement).
* **providers**: GeoDataFrame ``provider_id``, ``patch_id``, geometry (Point: the office or base).
* **carers**: GeoDataFrame as in the contract (``carer_id``, ``mode``, ``shift_start``, ``shift_end``,
  ``max_minutes``, ``break_earliest``, ``break_latest``, ``break_minutes``, ``skills``, ``provider_id``,
  geometry = the base).
* **week carers** (:func:`rota`, :func:`week_carers`): the carers table with one row per carer and
  day worked, plus ``round_id`` (the round the carer works that day: its regular carer's id) and
  ``day`` (0–6). ``rounds.plan_week`` plans from it.

Times are minutes after midnight, durations minutes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from shapely.geometry import Point

from patchplan import CRS
from patchplan._validate import at_least, at_most, collect, ordered, positive, share
from patchplan.demand import MINUTES_PER_DAY
from patchplan.errors import ScenarioError
from patchplan.rounds import compact_groups
from patchplan.rounds.model import CARER_KIND

CARER_COLUMNS = [
    "carer_id",
    "mode",
    "shift_start",
    "shift_end",
    "max_minutes",
    "break_earliest",
    "break_latest",
    "break_minutes",
    "skills",
    "provider_id",
]


@dataclass(frozen=True)
class WorkforceSettings:
    """How providers and carers are set up.

    Attributes
    ----------
    providers_today : providers working across the whole area today (0 = about one per 60 people)
    market_share_skew : Zipf exponent of today's market shares (0 = equal shares; 1 = a few large
        providers and a long tail, as in most English councils' home-care markets)
    providers_per_patch : providers sharing each proposed patch (the brief: 2–3)
    walking_share : share of carers in the proposed patches who work on foot (0–1); none in a patch
        the walking test finds car-dependent
    shifts : (start, end) minutes after midnight of each shift pattern; the default is the split
        day common in home care: an early shift 07:00–14:30 and a late shift 15:00–22:30
    break_minutes : unpaid break in a shift, minutes (0 = none)
    break_window : (earliest, latest) start of the break, minutes after the shift starts
    utilisation : the share of a shift a carer spends in visits when planning fleet size; the solver
        then uses as few carers as it can (a fixed cost per carer), so this only bounds the fleet
    spare_carers : extra carers per provider and shift beyond the computed need
    peak_hour_sizing : size each shift for its busiest hour as well as its average: a shift needs
        at least the care minutes whose windows open in its busiest 60 minutes ÷ (60 ×
        ``utilisation``) carers, since most visits cluster at getting-up, meal and bed times
    walkers_live_locally : walking carers start and end their round near it, at homes spread over
        the provider's visits (:func:`local_homes`), as non-driving carers recruited from the
        neighbourhood do; drivers start at the provider's office. When False, everyone starts at
        the office, and a walker can only serve visits within a walk of it.
    office_radius_m : a proposed provider's office is the home address in its patch with the most
        people within this distance, metres (:func:`office_site`)
    unpaid_travel_min : when the journeys from base to the first visit and back from the last are
        unpaid (``carers_for(..., base_legs_unpaid=True)``), minutes a carer's day may start before
        the shift and end after it for them. The rounds model bounds the whole day, base legs
        included, so a visit could in principle use this time too; with the default shifts and
        visit windows none can (no window opens before 07:00, the late shift cannot reach a lunch
        call, and the next window after the early shift opens at 16:00).
    days_per_week : days a carer works in a week (1–7); on the others a relief carer of the same
        kind works their round (:func:`rota`). Default 5: a full-time carer's five days of seven,
        days off staggered so that each day has about the same number of rounds to cover.
    """

    providers_today: int = 0
    market_share_skew: float = 1.0
    providers_per_patch: int = 2
    walking_share: float = 0.5
    shifts: tuple[tuple[int, int], ...] = ((420, 870), (900, 1350))
    break_minutes: int = 30
    break_window: tuple[int, int] = (150, 270)
    utilisation: float = 0.55
    spare_carers: int = 1
    peak_hour_sizing: bool = True
    walkers_live_locally: bool = True
    office_radius_m: float = 1500.0
    unpaid_travel_min: int = 60
    days_per_week: int = 5

    def problems(self) -> list[str]:
        """Range and cross-field problems of these settings, each naming its key (empty when valid)."""
        lo, hi = self.break_window
        return collect(
            at_least("providers_today", self.providers_today, 0),
            at_least("market_share_skew", self.market_share_skew, 0),
            at_least("providers_per_patch", self.providers_per_patch, 1),
            share("walking_share", self.walking_share),
            None if self.shifts else "shifts must list at least one (start, end) shift",
            (_shift_problem(i, start, end) for i, (start, end) in enumerate(self.shifts)),
            at_least("break_minutes", self.break_minutes, 0),
            at_least("break_window[0]", lo, 0),
            ordered("break_window[0]", lo, "break_window[1]", hi),
            positive("utilisation", self.utilisation)
            or at_most("utilisation", self.utilisation, 1),
            at_least("spare_carers", self.spare_carers, 0),
            at_least("days_per_week", self.days_per_week, 1)
            or at_most("days_per_week", self.days_per_week, 7),
        )


def _shift_problem(i: int, start: int, end: int) -> str | None:
    if 0 <= start < end <= MINUTES_PER_DAY:
        return None
    return f"shifts[{i}] = ({start}, {end}) must be 0 <= start < end <= {MINUTES_PER_DAY} (minutes after midnight)"


_CARER_ID = re.compile(r"^(?P<provider>.+)-s(?P<shift>\d+)-(?P<number>\d+)$")
_RELIEF_ID = re.compile(r"^(?P<provider>.+)-R(?P<number>\d+)$")


def carer_id(provider_id: str, shift: int, number: int) -> str:
    """The id of a provider's ``number``-th carer on shift ``shift`` (both 1-based), e.g.
    ``"P03-A-s1-04"``: the provider and the shift can be read back from it."""
    return f"{provider_id}-s{shift}-{number:02d}"


def provider_of(carer: str) -> str:
    """The provider id in a carer id made by :func:`carer_id` or a relief carer's id from
    :func:`rota` ("" for any other id)."""
    match = _CARER_ID.match(str(carer)) or _RELIEF_ID.match(str(carer))
    return match["provider"] if match else ""


def shift_of(carer: str, settings: WorkforceSettings) -> tuple[int, int] | None:
    """The (start, end) of a carer's shift, minutes after midnight, from its id and
    ``settings.shifts``; None for an id not made by :func:`carer_id` or an unknown shift."""
    match = _CARER_ID.match(str(carer))
    if match is None or not 1 <= int(match["shift"]) <= len(settings.shifts):
        return None
    start, end = settings.shifts[int(match["shift"]) - 1]
    return int(start), int(end)


def _base_points(people: gpd.GeoDataFrame, count: int, rng: np.random.Generator) -> gpd.GeoSeries:
    """Provider offices near where people live: a random person's home, jittered by up to 200 m."""
    picks = rng.choice(len(people), size=count, replace=len(people) < count)
    xy = np.column_stack([people.geometry.x.to_numpy()[picks], people.geometry.y.to_numpy()[picks]])
    xy = xy + rng.uniform(-200, 200, size=xy.shape)
    return gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=CRS)


def office_site(homes: gpd.GeoSeries, radius_m: float = 1500.0) -> Point | None:
    """Where a provider would put its office: the home with the most other homes within ``radius_m``.

    Ties go to the home with the smallest total distance to all the others (the medoid), then to
    the first listed. The office is thus an address in the area's main built-up part, on its
    streets, rather than a centroid that can fall on open land. None when there are no homes.
    EPSG:27700, metres.
    """
    if len(homes) == 0:
        return None
    xy = np.column_stack([homes.x.to_numpy(), homes.y.to_numpy()])
    nearby = np.asarray(cKDTree(xy).query_ball_point(xy, radius_m, return_length=True))
    best = np.flatnonzero(nearby == nearby.max())
    if len(best) > 1:
        spread = np.linalg.norm(xy[best, None, :] - xy[None, :, :], axis=2).sum(axis=1)
        best = best[np.argsort(spread, kind="stable")]
    return Point(xy[best[0]])


def _office_near(centre: Point, i: int, count: int, area) -> Point:
    """The ``i``-th of ``count`` offices: the first at ``centre``, others 150 m around it if inside."""
    if i == 0:
        return centre
    angle = 2 * math.pi * i / count
    office = Point(centre.x + 150 * math.cos(angle), centre.y + 150 * math.sin(angle))
    return office if area.contains(office) else centre


def baseline_allocation(
    people: gpd.GeoDataFrame, settings: WorkforceSettings, seed: int = 0
) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """Today's arrangement: every person with one of many citywide providers, by market share.

    Returns the allocation and the providers (bases placed where people live).
    """
    rng = np.random.default_rng([seed, 101])
    count = settings.providers_today or max(2, round(len(people) / 60))
    shares = 1.0 / np.arange(1, count + 1) ** settings.market_share_skew
    shares /= shares.sum()
    ids = [f"T{i + 1:02d}" for i in range(count)]
    choice = rng.choice(count, size=len(people), p=shares)
    allocation = pd.DataFrame(
        {
            "person_id": people["person_id"].to_numpy(),
            "provider_id": np.array(ids)[choice],
            "patch_id": "",
        }
    )
    providers = gpd.GeoDataFrame(
        {"provider_id": ids, "patch_id": ""}, geometry=_base_points(people, count, rng), crs=CRS
    )
    return allocation, providers


def patch_allocation(
    people: gpd.GeoDataFrame,
    person_patch: pd.Series,
    patches: gpd.GeoDataFrame,
    settings: WorkforceSettings,
    seed: int = 0,
) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """The proposed arrangement: each patch's people shared among its providers, based in the patch.

    ``person_patch`` maps ``person_id`` to ``patch_id``. The first provider's office is the
    patch's :func:`office_site` over its people's homes (the patch's representative point when it
    has none); the others sit 150 m around it, inside the patch, so providers do not share an
    office.
    """
    rng = np.random.default_rng([seed, 202])
    rows, bases, alloc = [], [], []
    for patch in patches.sort_values("patch_id").itertuples():
        inside = people[person_patch.reindex(people["person_id"]).to_numpy() == patch.patch_id]
        centre = office_site(inside.geometry, settings.office_radius_m)
        if centre is None:
            centre = patch.geometry.representative_point()
        ids = [f"{patch.patch_id}-{chr(65 + i)}" for i in range(settings.providers_per_patch)]
        for i, pid in enumerate(ids):
            rows.append({"provider_id": pid, "patch_id": patch.patch_id})
            bases.append(_office_near(centre, i, len(ids), patch.geometry))
        order = rng.permutation(len(inside))
        providers_for = np.array(ids)[order % len(ids)]
        alloc.append(
            pd.DataFrame(
                {
                    "person_id": inside["person_id"].to_numpy(),
                    "provider_id": providers_for,
                    "patch_id": patch.patch_id,
                }
            )
        )
    allocation = (
        pd.concat(alloc, ignore_index=True)
        if alloc
        else pd.DataFrame(columns=["person_id", "provider_id", "patch_id"])
    )
    return allocation, gpd.GeoDataFrame(rows, geometry=bases, crs=CRS)


def local_homes(visits: pd.DataFrame, count: int) -> list[Point]:
    """``count`` home points spread over the visits, for carers who live near their rounds.

    The visits are cut into compact groups of about equal care minutes
    (:func:`patchplan.rounds.compact_groups`) and each group's home is the visit address nearest
    the group's care-weighted centre (so it is on the street network wherever the visits are); with
    more carers than groups, homes repeat in group order. EPSG:27700.
    """
    if count <= 0 or len(visits) == 0:
        return []
    xy = np.column_stack([visits.geometry.x.to_numpy(), visits.geometry.y.to_numpy()])
    work = (visits["duration"] * visits["carers"]).to_numpy(dtype=float)
    homes = []
    for g in compact_groups(xy, work, count):
        centre = np.average(xy[g], axis=0, weights=work[g] if work[g].sum() > 0 else None)
        nearest = g[np.argmin(np.linalg.norm(xy[g] - centre, axis=1))]
        homes.append(Point(xy[nearest]))
    return [homes[i % len(homes)] for i in range(count)]


def _busiest_hour(visits: pd.DataFrame) -> float:
    """Most care minutes (duration × carers) whose windows open within any 60 minutes."""
    opens = visits["earliest"].to_numpy()
    work = (visits["duration"] * visits["carers"]).to_numpy(dtype=float)
    order = np.argsort(opens, kind="stable")
    opens, cum = opens[order], np.concatenate([[0.0], np.cumsum(work[order])])
    ends = np.searchsorted(opens, opens + 60, side="left")
    return float((cum[ends] - cum[np.arange(len(opens))]).max()) if len(opens) else 0.0


def carers_for(
    visits: pd.DataFrame,
    provider: pd.Series,
    base,
    settings: WorkforceSettings,
    walking_share: float = 0.0,
    base_legs_unpaid: bool = False,
) -> gpd.GeoDataFrame:
    """A provider's carers for one day: enough per shift for its visits there, plus spares.

    The need per shift is the care minutes (duration × carers) whose window opens in that shift,
    divided by the shift's working minutes × ``utilisation``, and, with ``peak_hour_sizing``, at
    least what its busiest hour needs (:func:`_busiest_hour` ÷ (60 × ``utilisation``)). ``walking_share`` of each shift's
    carers walk, the rest drive (rounded so that a share of 0.5 with one carer gives a driver).
    Drivers start at ``base``; walkers too, or at :func:`local_homes` over the shift's visits when
    ``settings.walkers_live_locally``. With ``base_legs_unpaid`` (the journeys to the first visit
    and home from the last are not paid), ``shift_start`` is brought forward and ``shift_end`` put
    back by ``settings.unpaid_travel_min`` (``max_minutes`` grows by twice that), so neither journey
    rules a visit out.
    """
    extra = settings.unpaid_travel_min if base_legs_unpaid else 0
    rows, homes = [], []
    for s, (start, end) in enumerate(settings.shifts):
        in_shift = visits[(visits["earliest"] >= start) & (visits["earliest"] < end)]
        care_min = float((in_shift["duration"] * in_shift["carers"]).sum())
        working = (end - start - settings.break_minutes) * settings.utilisation
        need = math.ceil(care_min / working) if care_min > 0 else 0
        if settings.peak_hour_sizing and need:
            need = max(need, math.ceil(_busiest_hour(in_shift) / (60 * settings.utilisation)))
        need += settings.spare_carers if need else 0
        walkers = math.floor(need * walking_share)
        local = local_homes(in_shift, walkers) if settings.walkers_live_locally else []
        homes.extend(local + [base] * (need - len(local)))
        for i in range(need):
            rows.append(
                {
                    "carer_id": carer_id(provider, s + 1, i + 1),
                    "mode": "walk" if i < walkers else "drive",
                    "shift_start": start - extra,
                    "shift_end": end + extra,
                    "max_minutes": end - start + 2 * extra,
                    "break_earliest": start + settings.break_window[0],
                    "break_latest": start + settings.break_window[1],
                    "break_minutes": settings.break_minutes,
                    "skills": "",
                    "provider_id": provider,
                }
            )
    frame = pd.DataFrame(rows, columns=CARER_COLUMNS)
    return gpd.GeoDataFrame(frame, geometry=homes, crs=CRS)


def rota(fleet: gpd.GeoDataFrame, days: Sequence[int], days_per_week: int) -> gpd.GeoDataFrame:
    """The week's carers: each round worked by its regular carer, relief carers on their days off.

    Each row of ``fleet`` is a **round** (``round_id`` = its ``carer_id``) worked by its regular
    carer on ``days_per_week`` days of seven. Days off are staggered within each kind of round
    (mode, shift, break, skills: ``CARER_KIND``): the ``k``-th round's regular carer is off on the
    ``7 - days_per_week`` days from ``k × (7 - days_per_week)`` (mod 7). A **relief** carer of the
    same kind works a round on its regular carer's day off: the relief who already works that round
    on another day if free, else the relief who joined last (so one relief covers neighbouring
    rounds), else a new one; no relief works more than ``days_per_week`` days. A relief starts
    where the round does (its office, or the home area of its walking regular).

    Parameters
    ----------
    fleet : carers table (:func:`carers_for`), one row per round.
    days : days of the week planned (0 = Monday).
    days_per_week : days each carer works (7 = no days off, no relief).

    Returns
    -------
    GeoDataFrame
        ``fleet``'s columns for every carer and day worked, with ``round_id`` and ``day``; relief
        carers are ``<provider>-R<nn>``.
    """
    if not 1 <= days_per_week <= 7:
        raise ScenarioError(f"[workforce] days_per_week = {days_per_week}: expected 1 to 7")
    planned = sorted({int(d) for d in days})
    off_count = 7 - days_per_week
    kinds = fleet[CARER_KIND].astype(str).agg("|".join, axis=1).tolist()
    providers = fleet["provider_id"].astype(str).tolist()
    regulars = fleet["carer_id"].astype(str).tolist()
    rows: list[tuple[int, int, str]] = []  # (round position, day, carer id)
    reliefs: dict[tuple[str, str], list[_Relief]] = {}  # (provider, kind) -> its reliefs
    count: dict[str, int] = {}
    nth: dict[tuple[str, str], int] = {}
    for pos, (provider, kind) in enumerate(zip(providers, kinds, strict=True)):
        k = nth[provider, kind] = nth.get((provider, kind), -1) + 1
        off = {(k * off_count + i) % 7 for i in range(off_count)}
        team = reliefs.setdefault((provider, kind), [])
        for day in planned:
            if day not in off:
                rows.append((pos, day, regulars[pos]))
                continue
            free = [r for r in team if day not in r.days and len(r.days) < days_per_week]
            same = [r for r in free if pos in r.rounds]
            who = same[0] if same else free[-1] if free else None
            if who is None:
                count[provider] = count.get(provider, 0) + 1
                who = _Relief(f"{provider}-R{count[provider]:02d}", set(), set())
                team.append(who)
            who.days.add(day)
            who.rounds.add(pos)
            rows.append((pos, day, who.carer_id))
    positions = [r[0] for r in rows]
    week = fleet.iloc[positions].reset_index(drop=True)
    week.insert(0, "round_id", [regulars[p] for p in positions])
    week["carer_id"] = [r[2] for r in rows]
    week["day"] = np.array([r[1] for r in rows], dtype=int)
    return week


@dataclass
class _Relief:
    carer_id: str
    days: set[int]
    rounds: set[int]


def busiest_day(visits: pd.DataFrame) -> pd.DataFrame:
    """The visits of the day with the most care minutes (duration × carers; the first on ties)."""
    if len(visits) == 0:
        return visits
    work = (visits["duration"] * visits["carers"]).groupby(visits["day"]).sum()
    return visits[visits["day"] == work.idxmax()]


def week_carers(
    visits: pd.DataFrame,
    provider: str,
    base,
    settings: WorkforceSettings,
    walking_share: float = 0.0,
    days: Sequence[int] | None = None,
    base_legs_unpaid: bool = False,
) -> gpd.GeoDataFrame:
    """A provider's carers for the week: rounds sized on its busiest day, worked on a rota.

    The rounds are :func:`carers_for` the provider's busiest day (:func:`busiest_day`), so every
    day's calls fit the same rounds; :func:`rota` gives each round its regular carer on
    ``settings.days_per_week`` days and relief carers on the others. ``days`` defaults to the
    days of ``visits``. ``base_legs_unpaid`` as for :func:`carers_for`.
    """
    fleet = carers_for(
        busiest_day(visits), provider, base, settings, walking_share, base_legs_unpaid
    )
    planned = sorted(pd.unique(visits["day"])) if days is None else days
    return rota(fleet, planned, settings.days_per_week)
