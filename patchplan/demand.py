"""People and their care visits: import with row-level validation, or a calibrated synthetic caseload.

Tables (see ``docs/data-contracts.md``; all geometry EPSG:27700)
----------------------------------------------------------------
people
    ``person_id`` (str), ``area_id`` (str, small area such as an LSOA; ``""`` when unknown),
    geometry (Point, the home). Synthetic people also carry ``address_id`` (the postcode or
    address point used).
visits
    ``visit_id`` (str), ``person_id`` (str), ``day`` (int 0–6, Monday = 0), ``earliest``,
    ``latest`` (int, minutes after midnight: the window for the *start* of the visit),
    ``duration`` (int, minutes), ``carers`` (int, 1 or 2), ``skills`` (str, comma-separated, may be
    ``""``), geometry (Point, the person's home). Care hours of a visit = ``duration * carers / 60``.
rejects
    ``source`` (file name or generator), ``row`` (int, 1-based data row not counting the header,
    or -1), ``record_id`` (str), ``reason`` (str, naming the row's values), ``kind`` (str, the
    reason's class, for counting). Every input row that is not used is here; the caller writes
    it beside the outputs with ``patchplan.io.write_csv``.
postcodes (:func:`load_postcodes`)
    ``postcode`` (str, ``"S1 1AA"`` form), ``positional_quality`` (int), ``admin_district_code``,
    ``admin_ward_code`` (str), geometry (Point). ``.attrs["rows_read"]`` and ``.attrs["rejects"]``
    (a rejects table: postcodes without usable coordinates) account for every row of the file.

Input files for :func:`load_demand`
-----------------------------------
people (CSV, or any vector file pyogrio reads, or a (Geo)DataFrame)
    ``person_id``; a location per row from the first of: ``postcode`` (needs ``postcodes=``),
    ``easting``/``northing`` (EPSG:27700, m), ``lat``/``lon`` (or ``latitude``/``longitude``,
    WGS84), or the feature geometry; optional ``area_id``; optional ``address`` (text). People keep
    ``postcode`` and ``address`` when the file has them, for carers' run sheets (INTERNAL).
visits (CSV or a DataFrame)
    ``visit_id``, ``person_id``, ``day`` (0–6 or a weekday name such as ``Mon``), ``earliest``,
    ``latest`` (``HH:MM`` or minutes after midnight), ``duration`` (minutes), ``carers`` (1 or 2,
    default 1 when the column is absent), optional ``skills``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from patchplan import CRS, GB_EXTENT_M
from patchplan._validate import at_least, between, collect, ordered, positive, share
from patchplan.errors import DemandError
from patchplan.publication import publishable

__all__ = [
    "Demand",
    "DemandSettings",
    "aggregate_for_publication",
    "demand_by_area",
    "grow_demand",
    "load_demand",
    "load_postcodes",
    "synthesise_demand",
]

MINUTES_PER_DAY = 24 * 60
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OUTSIDE = "<outside>"
"""Internal label for people inside none of the areas (reported in ``attrs``, never a row)."""

# Great Britain in British National Grid (m) and WGS84 (degrees): coordinates outside are typos.
_GB_EN = GB_EXTENT_M
_GB_LONLAT = (-9.0, 49.0, 2.5, 61.5)

REJECT_COLUMNS = ["source", "row", "record_id", "reason", "kind"]
"""Columns of a rejects table; ``kind`` is the reason's class ("unknown postcode", "bad day", …),
the same words for every row it applies to, so rejects can be counted by reason."""


@dataclass(frozen=True)
class DemandSettings:
    """How to synthesise a caseload when real client data cannot be shared.

    The defaults describe Sheffield's council-arranged home care. Each can be set in a scenario's
    ``[demand]`` table by field name.

    Attributes
    ----------
    people : int
        People receiving home care. Default 2,500: Sheffield's published figure for people
        supported by commissioned home care (as quoted in issue #4; about 2,500 people and 39,000
        hours a week).
    hours_week : float
        Care hours delivered per week, counting each carer of a double-up (hours). Default 39,000
        (same source), i.e. about 15.6 h per person per week. The generator hits it to within one
        visit's worth of minutes.
    double_up_share : float
        Share of visits needing two carers (0–1). Default 0.10: the issue's default; double-ups are
        assigned per person (someone hoisted needs two carers at every call), so the share is met
        by whole people.
    visit_minutes : tuple[int, int]
        Shortest and longest visit (minutes). Default (30, 60): no 15-minute calls, as UNISON's
        Ethical Care Charter requires; an hour is the usual longest personal-care call.
    visit_step_minutes : int
        Visit lengths are multiples of this (minutes). Default 15: councils commission care in
        quarter hours, so calls are 30, 45 or 60 minutes.
    visits_per_day_shares : tuple[float, float, float, float]
        Share of people with 1, 2, 3 and 4 visits a day. Default (0.15, 0.25, 0.25, 0.35), a mean of
        2.8 calls a day: an assumption consistent with the published 15.6 h per person a week
        (2.8 calls × ~43 min × 1.1 for double-ups × 7 days).
    visit_windows : tuple[str, ...]
        Ranges of planned *start* times for the morning, lunch, tea and bed calls (``HH:MM-HH:MM``).
        Defaults follow the usual home-care call pattern; they are spaced so that a 60-minute call
        started at the latest time ends before the next window opens.
    window_tolerance_minutes : int
        A visit may start this many minutes either side of its planned time, within its window
        (minutes). Default 30: the common contractual tolerance for home-care calls.
    deprivation_uplift : float
        Extra weight for deprivation: an area's share of people is proportional to its residents
        aged 65+ times ``1 + uplift × (10 − IMD decile) / 9``, so the most deprived decile (1) gets
        ``1 + uplift`` times the rate of the least deprived (10). Default 0.5: an assumption
        (council-funded care is means-tested and need rises with deprivation); set 0 to follow
        population alone.
    days : int
        Days of the week with care, from Monday (days 0 .. days-1). Default 7: home care runs every
        day.
    growth : float
        Demand growth as a fraction (0.2 = 20% more people and care hours; -0.1 = 10% fewer; more
        than -1). A synthetic caseload is generated with ``people`` and ``hours_week`` scaled by
        ``1 + growth`` over the same small-area weights; a real caseload is grown by
        :func:`grow_demand`. Default 0.
    non_daily_share : float
        Share of people (0–1) one of whose calls does not run every day, so the week varies. Half
        of them have it on weekdays only (family covers the weekend), the other half on two or
        three days drawn at random (a bath or shopping call). Default 0.2: an assumption (no
        published split of home-care packages by days of the week was found); 0 makes every call
        daily, as before.
    """

    people: int = 2500
    hours_week: float = 39_000.0
    double_up_share: float = 0.10
    visit_minutes: tuple[int, int] = (30, 60)
    visit_step_minutes: int = 15
    visits_per_day_shares: tuple[float, float, float, float] = (0.15, 0.25, 0.25, 0.35)
    visit_windows: tuple[str, ...] = ("07:00-10:00", "11:30-13:30", "16:00-18:00", "19:30-22:00")
    window_tolerance_minutes: int = 30
    deprivation_uplift: float = 0.5
    days: int = 7
    growth: float = 0.0
    non_daily_share: float = 0.2

    def grown(self) -> DemandSettings:
        """These settings with ``growth`` applied: people and weekly hours scaled by ``1 + growth``."""
        if self.growth == 0:
            return self
        factor = 1.0 + self.growth
        return replace(
            self,
            people=max(1, round(self.people * factor)),
            hours_week=self.hours_week * factor,
            growth=0.0,
        )

    def problems(self) -> list[str]:
        """Range and cross-field problems of these settings, each naming its key (empty when valid)."""
        low, high = self.visit_minutes
        shares = self.visits_per_day_shares
        return collect(
            at_least("people", self.people, 1),
            positive("hours_week", self.hours_week),
            share("double_up_share", self.double_up_share),
            positive("visit_minutes[0]", low),
            ordered("visit_minutes[0]", low, "visit_minutes[1]", high),
            positive("visit_step_minutes", self.visit_step_minutes),
            (at_least(f"visits_per_day_shares[{i}]", v, 0) for i, v in enumerate(shares)),
            None if any(v > 0 for v in shares) else "visits_per_day_shares must not be all zero",
            None
            if len(shares) <= len(self.visit_windows)
            else "visits_per_day_shares has more entries than visit_windows",
            (_window_problem(w) for w in self.visit_windows),
            at_least("window_tolerance_minutes", self.window_tolerance_minutes, 0),
            at_least("deprivation_uplift", self.deprivation_uplift, 0),
            between("days", self.days, 1, 7),
            None if self.growth > -1 else f"growth = {self.growth} must be more than -1 (-1 would remove everyone)",
            share("non_daily_share", self.non_daily_share),
        )


@dataclass
class Demand:
    """People, their visits and the rows that could not be used (see the module docstring).

    ``summary`` holds named figures about how the demand was made (units in the names).
    """

    people: gpd.GeoDataFrame
    visits: gpd.GeoDataFrame
    rejects: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def hours_week(self) -> float:
        """Care hours per week over all visits, counting both carers of a double-up (hours)."""
        return float((self.visits["duration"] * self.visits["carers"]).sum() / 60.0)


# --------------------------------------------------------------------------------------------------
# Postcodes
# --------------------------------------------------------------------------------------------------

CODEPOINT_COLUMNS = [
    "Postcode",
    "Positional_quality_indicator",
    "Eastings",
    "Northings",
    "Country_code",
    "NHS_regional_HA_code",
    "NHS_HA_code",
    "Admin_county_code",
    "Admin_district_code",
    "Admin_ward_code",
]
"""Code-Point Open columns, in file order (``Code-Point_Open_Column_Headers.csv``)."""


def normalise_postcode(values: pd.Series) -> pd.Series:
    """Postcodes in upper case with one space before the inward code (``"s11aa"`` → ``"S1 1AA"``)."""
    compact = values.astype("string").str.upper().str.replace(r"[^A-Z0-9]", "", regex=True)
    return (compact.str[:-3] + " " + compact.str[-3:]).where(compact.str.len() >= 5, compact)


def load_postcodes(path: str | os.PathLike[str]) -> gpd.GeoDataFrame:
    """Read an OS Code-Point Open CSV into postcode points (EPSG:27700).

    Works with the files as OS ships them (no header row) and with copies that have the header
    line. Postcodes without coordinates (positional quality 90, or easting/northing 0) cannot place
    anyone and are left out; their number is in ``.attrs["without_coordinates"]``.

    Parameters
    ----------
    path
        The CSV file.

    Returns
    -------
    GeoDataFrame ``postcode``, ``positional_quality``, ``admin_district_code``,
    ``admin_ward_code``, geometry (Point, m).
    """
    path = Path(path)
    if not path.exists():
        raise DemandError(f"{path}: postcode file not found")
    if not path.is_file():
        raise DemandError(f"{path}: is a folder, not a postcode file")
    try:
        with open(path, encoding="utf-8-sig") as fh:
            first = fh.readline()
        has_header = first.strip().strip('"').lower().startswith("postcode")
        table = pd.read_csv(
            path,
            header=0 if has_header else None,
            names=None if has_header else CODEPOINT_COLUMNS,
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
            index_col=False,
        )
    except Exception as exc:  # pandas raises many types for unreadable text
        raise DemandError(f"{path.name}: cannot read as a Code-Point Open CSV ({exc})") from exc
    missing = [c for c in ("Postcode", "Eastings", "Northings") if c not in table.columns]
    if missing:
        raise DemandError(
            f"{path.name}: not a Code-Point Open file (no column {', '.join(missing)})"
        )
    _unique_columns(table, path.name)
    postcode = normalise_postcode(table["Postcode"]).fillna("").astype(str)
    east = pd.to_numeric(table["Eastings"], errors="coerce")
    north = pd.to_numeric(table["Northings"], errors="coerce")
    quality = pd.to_numeric(table.get("Positional_quality_indicator"), errors="coerce")
    unreadable = east.isna() | north.isna()
    usable = ~unreadable & east.gt(0) & north.gt(0) & quality.ne(90)
    text = _text(table, "Eastings") + ", " + _text(table, "Northings")
    reason, kind = _first_reason(
        [
            (postcode == "", pd.Series("no postcode", index=table.index), "no postcode"),
            (unreadable, "easting/northing (" + text + ") are not numbers", "unreadable coordinates"),
            (~usable, "no coordinates (positional quality 90 or easting/northing 0)", "no coordinates"),
        ],
        table.index,
    )  # fmt: skip
    keep = (reason == "").to_numpy()
    out = gpd.GeoDataFrame(
        {
            "postcode": postcode.to_numpy()[keep],
            "positional_quality": quality[keep].fillna(-1).astype(int).to_numpy(),
            "admin_district_code": _text(table, "Admin_district_code").to_numpy()[keep],
            "admin_ward_code": _text(table, "Admin_ward_code").to_numpy()[keep],
        },
        geometry=gpd.points_from_xy(east[keep], north[keep]),
        crs=CRS,
    )
    rows = np.arange(1, len(table) + 1)
    out.attrs["rows_read"] = len(table)
    out.attrs["rejects"] = _rejects(
        path.name, rows[~keep], postcode[~keep], reason[~keep], kind[~keep]
    )
    out.attrs["without_coordinates"] = int((~keep).sum())
    out.attrs["source"] = path.name
    return out


# --------------------------------------------------------------------------------------------------
# Synthetic demand
# --------------------------------------------------------------------------------------------------


def synthesise_demand(
    areas: gpd.GeoDataFrame,
    *,
    population_column: str,
    addresses: gpd.GeoDataFrame | None = None,
    deprivation_column: str | None = None,
    settings: DemandSettings | None = None,
    seed: int = 0,
    id_column: str = "id",
    address_area_column: str = "area_id",
    address_id_column: str | None = None,
) -> Demand:
    """A realistic caseload over small areas, calibrated to published totals.

    People are spread over the areas by a multinomial draw with weights proportional to
    ``population_column`` (residents aged 65+), uplifted for deprivation (see
    :class:`DemandSettings`). Each person lives at a random address point of their area (e.g. a
    Code-Point Open postcode), or at a random point inside the area polygon when it has none.
    Each person has 1–4 calls a day in the morning / lunch / tea / bed windows, the same every day
    (but one call of ``non_daily_share`` of the people, which runs on some days only),
    30–60 minutes long; whole people are made double-ups until ``double_up_share`` of visits need
    two carers; visit lengths are then tuned so that weekly hours equal ``hours_week`` to within
    one visit step. With ``growth`` set, ``people`` and ``hours_week`` are first scaled by
    ``1 + growth`` (:meth:`DemandSettings.grown`); the areas' weights, and so the small-area
    pattern, stay the same.

    Parameters
    ----------
    areas
        Small areas with ``id_column``, ``population_column`` and geometry (EPSG:27700).
    population_column
        Residents aged 65+ (or any non-negative weight).
    addresses
        Candidate home points with the area id in ``address_area_column`` (assigned by
        point-in-polygon when the column is absent). Their id column (``address_id_column``, or
        ``postcode``, or ``id``) is kept in people's ``address_id``.
    deprivation_column
        IMD decile (1 = most deprived … 10); no uplift when ``None``.
    settings
        :class:`DemandSettings`; Sheffield's defaults when ``None``.
    seed
        Seed of the numpy Generator; the same inputs and seed give the same caseload.

    Returns
    -------
    Demand
        ``summary`` has ``people``, ``visits``, ``hours_week``, ``double_up_share_visits``,
        ``people_at_addresses``, ``people_at_random_points`` and ``correlation_with_population``
        (Pearson, people per area against ``population_column``).

    Raises
    ------
    DemandError
        Missing columns, no population, or settings that cannot reach ``hours_week``.
    """
    settings = settings or DemandSettings()
    _check_settings(settings)
    growth = settings.growth
    settings = settings.grown()
    rng = np.random.default_rng(seed)
    for column in (id_column, population_column, deprivation_column):
        if column is not None and column not in areas.columns:
            raise DemandError(f"areas: no column {column!r}")
    areas = areas.to_crs(CRS).sort_values(id_column).reset_index(drop=True)
    area_ids = areas[id_column].astype(str).to_numpy()
    weight = (
        pd.to_numeric(areas[population_column], errors="coerce").fillna(0).clip(lower=0).to_numpy()
    )
    if deprivation_column is not None:
        decile = pd.to_numeric(areas[deprivation_column], errors="coerce").fillna(10).clip(1, 10)
        weight = weight * (1 + settings.deprivation_uplift * (10 - decile.to_numpy()) / 9)
    if weight.sum() <= 0:
        raise DemandError(f"areas: column {population_column!r} has no positive values")

    per_area = rng.multinomial(settings.people, weight / weight.sum())
    person_area = np.repeat(np.arange(len(areas)), per_area)
    homes, address_ids, at_address = _place_people(
        areas, person_area, addresses, rng, id_column, address_area_column, address_id_column
    )
    width = max(5, len(str(settings.people)))
    person_ids = np.array([f"P{i:0{width}d}" for i in range(1, settings.people + 1)])
    people = gpd.GeoDataFrame(
        {"person_id": person_ids, "area_id": area_ids[person_area], "address_id": address_ids},
        geometry=homes,
        crs=CRS,
    )
    visits = _synthetic_visits(people, settings, rng)
    corr = (
        float(np.corrcoef(per_area, areas[population_column].fillna(0).to_numpy())[0, 1])
        if len(areas) > 1
        else float("nan")
    )
    demand = Demand(people=people, visits=visits, rejects=_empty_rejects())
    demand.summary = {
        "people": len(people),
        "visits": len(visits),
        "hours_week": demand.hours_week,
        "double_up_share_visits": float((visits["carers"] == 2).mean()) if len(visits) else 0.0,
        "people_at_addresses": int(at_address.sum()),
        "people_at_random_points": int((~at_address).sum()),
        "correlation_with_population": corr,
        "seed": seed,
        "growth": growth,
    }
    return demand


def _check_settings(settings: DemandSettings) -> None:
    problems = settings.problems()
    if problems:
        raise DemandError("demand settings: " + "; ".join(problems))


def _parse_window(text: str) -> tuple[int, int]:
    try:
        start, end = (_clock_to_minutes(part) for part in text.split("-"))
    except ValueError as exc:
        raise DemandError(f"demand settings: visit_windows: {text!r} is not HH:MM-HH:MM") from exc
    if end < start:
        raise DemandError(f"demand settings: visit_windows: {text!r} ends before it starts")
    return start, end


def _window_problem(text: str) -> str | None:
    try:
        _parse_window(text)
    except DemandError as exc:
        return str(exc).removeprefix("demand settings: ")
    return None


def _clock_to_minutes(text: str) -> int:
    hours, minutes = text.strip().split(":")
    value = int(hours) * 60 + int(minutes)
    if not 0 <= value <= MINUTES_PER_DAY or int(minutes) >= 60:
        raise ValueError(text)
    return value


def _place_people(
    areas: gpd.GeoDataFrame,
    person_area: np.ndarray,
    addresses: gpd.GeoDataFrame | None,
    rng: np.random.Generator,
    id_column: str,
    address_area_column: str,
    address_id_column: str | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Home point, address id and whether an address was used, for each person (vectorised)."""
    n = len(person_area)
    homes = np.empty(n, dtype=object)
    address_ids = np.full(n, "", dtype=object)
    at_address = np.zeros(n, dtype=bool)
    area_ids = areas[id_column].astype(str).to_numpy()
    if addresses is not None and len(addresses):
        points = addresses.to_crs(CRS)
        if address_area_column in points.columns:
            point_area = points[address_area_column].astype(str)
        else:
            joined = gpd.sjoin(
                points[["geometry"]], areas[[id_column, "geometry"]], how="left", predicate="within"
            )
            joined = joined[~joined.index.duplicated(keep="first")]
            point_area = joined[id_column].astype("string").fillna("").astype(str)
        id_col = address_id_column or next(
            (c for c in ("postcode", "id") if c in points.columns), None
        )
        point_ids = (
            points[id_col].astype(str).to_numpy() if id_col else np.arange(len(points)).astype(str)
        )
        code = pd.Categorical(
            point_area.to_numpy(), categories=area_ids
        ).codes  # -1 = not a study area
        order = np.argsort(code, kind="stable")
        code_sorted = code[order]
        counts = np.bincount(code_sorted[code_sorted >= 0], minlength=len(areas))
        starts = np.searchsorted(code_sorted, np.arange(len(areas)), side="left")
        has = counts[person_area] > 0
        pick = starts[person_area[has]] + np.floor(
            rng.random(has.sum()) * counts[person_area[has]]
        ).astype(int)
        chosen = order[pick]
        homes[has] = points.geometry.values[chosen]
        address_ids[has] = point_ids[chosen]
        at_address = has
    rest = np.flatnonzero(~at_address)
    if len(rest):
        per_area = np.bincount(person_area[rest], minlength=len(areas))
        sampled = areas.geometry.sample_points(per_area, rng=rng)
        parts = shapely.get_parts(sampled.dropna().values)
        # sample_points returns one (Multi)Point per area, in area order: hand them out in that order
        by_area = np.argsort(person_area[rest], kind="stable")
        homes[rest[by_area]] = parts
    return homes, address_ids, at_address


def _synthetic_visits(
    people: gpd.GeoDataFrame, settings: DemandSettings, rng: np.random.Generator
) -> gpd.GeoDataFrame:
    """Call patterns per person, repeated on the days each call runs, tuned to ``hours_week``."""
    n = len(people)
    windows = np.array([_parse_window(w) for w in settings.visit_windows])
    shares = np.asarray(settings.visits_per_day_shares, dtype=float)
    calls = rng.choice(np.arange(1, len(shares) + 1), size=n, p=shares / shares.sum())
    # which windows a person with k calls uses: morning first, then tea, lunch, bed
    slot_sets = {1: (0,), 2: (0, 2), 3: (0, 1, 2), 4: (0, 1, 2, 3)}
    person = np.repeat(np.arange(n), calls)
    slot = (
        np.concatenate([slot_sets.get(int(k), tuple(range(int(k)))) for k in calls])
        if n
        else np.array([], int)
    )
    n_calls = len(person)

    # double-ups: whole people, in random order, until the share of daily calls is reached
    carers_person = np.ones(n, dtype=int)
    if settings.double_up_share > 0:
        order = rng.permutation(n)
        cumulative = np.cumsum(calls[order])
        n_double = (
            int(np.searchsorted(cumulative, settings.double_up_share * n_calls, side="left")) + 1
        )
        carers_person[order[: min(n_double, n)]] = 2
    carers = carers_person[person]

    runs = _days_run(person, calls, settings, rng)  # (calls, days): the days each call runs
    weight = carers * runs.sum(axis=1)  # carer-days a week each call's minutes count for

    low, high = settings.visit_minutes
    step = settings.visit_step_minutes
    lengths = np.arange(low, high + 1, step)
    target_week = settings.hours_week * 60.0  # carer-minutes a week
    needed_mean = target_week / max(weight.sum(), 1)
    if not lengths[0] <= needed_mean <= lengths[-1]:
        raise DemandError(
            f"demand settings: {settings.hours_week:g} h/week for {settings.people} people needs visits of "
            f"{needed_mean:.0f} min on average, outside visit_minutes {settings.visit_minutes}; "
            "change visits_per_day_shares, visit_minutes or hours_week"
        )
    # binomial over the allowed lengths with the needed mean, then exact tuning
    p = (needed_mean - lengths[0]) / (lengths[-1] - lengths[0]) if len(lengths) > 1 else 0.0
    duration = lengths[0] + step * rng.binomial(len(lengths) - 1, p, size=n_calls)
    duration = _tune_durations(duration, weight, target_week, lengths[0], lengths[-1], step, rng)

    planned_slots = (windows[slot, 1] - windows[slot, 0]) // step + 1
    planned = windows[slot, 0] + step * np.floor(rng.random(n_calls) * planned_slots).astype(int)
    tol = settings.window_tolerance_minutes
    earliest = np.maximum(planned - tol, windows[slot, 0])
    latest = np.minimum(planned + tol, windows[slot, 1])

    days = settings.days
    pid = people["person_id"].to_numpy()
    keep = runs.T.ravel()  # day by day, every call in order
    call_w = np.tile(np.arange(n_calls), days)[keep]
    person_w = person[call_w]
    day_w = np.repeat(np.arange(days), n_calls)[keep]
    slot_w = slot[call_w]
    visit_ids = [f"{p}-D{d}-V{s + 1}" for p, d, s in zip(pid[person_w], day_w, slot_w, strict=True)]
    return gpd.GeoDataFrame(
        {
            "visit_id": visit_ids,
            "person_id": pid[person_w],
            "day": day_w.astype(int),
            "earliest": earliest[call_w].astype(int),
            "latest": latest[call_w].astype(int),
            "duration": duration[call_w].astype(int),
            "carers": carers[call_w].astype(int),
            "skills": "",
        },
        geometry=people.geometry.values[person_w],
        crs=CRS,
    )


def _days_run(
    person: np.ndarray, calls: np.ndarray, settings: DemandSettings, rng: np.random.Generator
) -> np.ndarray:
    """Which days each call runs (calls × ``settings.days`` bool): every day, except one call of
    ``non_daily_share`` of the people, on weekdays only or on two or three random days."""
    days = settings.days
    runs = np.ones((len(person), days), dtype=bool)
    if settings.non_daily_share <= 0 or days < 2 or len(calls) == 0:
        return runs
    first = np.concatenate([[0], np.cumsum(calls)[:-1]])
    chosen = np.flatnonzero(rng.random(len(calls)) < settings.non_daily_share)
    which = first[chosen] + np.floor(rng.random(len(chosen)) * calls[chosen]).astype(int)
    weekdays = rng.random(len(chosen)) < 0.5
    for call, weekday_only in zip(which, weekdays, strict=True):
        if weekday_only and days > 5:
            runs[call, 5:] = False
        else:
            on = rng.choice(days, size=min(days, int(rng.integers(2, 4))), replace=False)
            runs[call] = np.isin(np.arange(days), on)
    return runs


def _tune_durations(
    duration: np.ndarray,
    weight: np.ndarray,
    target: float,
    low: int,
    high: int,
    step: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Move randomly chosen calls up or down a step until weighted minutes hit ``target``.

    ``weight`` is each call's carer-days a week; calls of the most common weight (single-carer
    calls every day) are moved first, others only when none of those can move.
    """
    duration = duration.copy()
    unit = int(np.bincount(weight).argmax()) if len(weight) else 1
    for _ in range(4):
        gap = target - float((duration * weight).sum())
        moves = int(round(gap / (step * unit)))
        if moves == 0:
            break
        direction = 1 if moves > 0 else -1
        movable = np.flatnonzero(
            (weight == unit) & ((duration < high) if direction > 0 else (duration > low))
        )
        if len(movable) == 0:
            movable = np.flatnonzero((duration < high) if direction > 0 else (duration > low))
            per_move = 2 * step * unit
            moves = int(round(gap / per_move))
            if moves == 0:
                break
        chosen = rng.choice(movable, size=min(abs(moves), len(movable)), replace=False)
        duration[chosen] += direction * step
    return duration


# --------------------------------------------------------------------------------------------------
# Loading real demand
# --------------------------------------------------------------------------------------------------


def load_demand(
    people: str | os.PathLike[str] | pd.DataFrame,
    visits: str | os.PathLike[str] | pd.DataFrame,
    postcodes: str | os.PathLike[str] | gpd.GeoDataFrame | None = None,
    *,
    crs: str | None = None,
) -> Demand:
    """Read people and visits, locate people, and put every unusable row in ``rejects``.

    Parameters
    ----------
    people, visits
        Paths (CSV, or a vector file for people) or frames; columns in the module docstring.
    postcodes
        Code-Point Open file (:func:`load_postcodes`) or postcode points with a ``postcode``
        column; needed when people are located by postcode.
    crs
        CRS of a people GeoDataFrame / vector file without one.

    Returns
    -------
    Demand
        Good people (each with at least one good visit) and good visits; ``rejects`` lists each
        bad row with its 1-based row number and reason. People rejected take their visits with
        them (each visit rejected with a reason naming the person's row). ``summary`` holds
        ``people_rows_read`` and ``visits_rows_read`` (with ``people_source``, ``visits_source``):
        rows read = rows kept + rows rejected, for each file.

    Raises
    ------
    DemandError
        A file is missing or unreadable, or lacks a required column (row problems never raise).
    """
    people_table, people_src = _read_table(people, "people", crs)
    visits_table, visits_src = _read_table(visits, "visits", None)
    if isinstance(postcodes, str | os.PathLike):
        postcodes = load_postcodes(postcodes)
    rejects: list[pd.DataFrame] = []

    located, people_rejects = _locate_people(people_table, people_src, postcodes)
    rejects.append(people_rejects)
    good_visits, visit_rejects = _validate_visits(
        visits_table, visits_src, located, people_table, people_src
    )
    rejects.append(visit_rejects)

    with_visits = located["person_id"].isin(good_visits["person_id"])
    if (~with_visits).any():
        lonely = located[~with_visits]
        rejects.append(
            _rejects(
                people_src,
                lonely["_row"],
                lonely["person_id"],
                "no visits (none in the visits file, or all rejected)",
                "no visits",
            )
        )
    located = located[with_visits]

    homes = located.set_index("person_id").geometry
    good_visits = gpd.GeoDataFrame(
        good_visits.assign(geometry=homes.reindex(good_visits["person_id"]).values),
        geometry="geometry",
        crs=CRS,
    )
    people_out = gpd.GeoDataFrame(
        located.drop(columns="_row"), geometry="geometry", crs=CRS
    ).reset_index(drop=True)
    all_rejects = pd.concat([r for r in rejects if len(r)] or [_empty_rejects()], ignore_index=True)
    demand = Demand(
        people=people_out, visits=good_visits.reset_index(drop=True), rejects=all_rejects
    )
    demand.summary = {
        "people": len(people_out),
        "visits": len(good_visits),
        "hours_week": demand.hours_week,
        "rejected_rows": len(all_rejects),
        "people_source": people_src,
        "people_rows_read": len(people_table),
        "visits_source": visits_src,
        "visits_rows_read": len(visits_table),
    }
    return demand


def grow_demand(demand: Demand, growth: float, seed: int = 0) -> Demand:
    """A caseload grown (or shrunk) by ``growth``, keeping its small-area pattern.

    For a real caseload, which cannot be regenerated: with ``growth > 0``, ``round(growth ×
    people)`` people are drawn at random (with replacement) and each is copied with their visits,
    at the same home and in the same area (new ids end ``-g1``, ``-g2``, …); with ``growth < 0``,
    that many people are removed with their visits. People are drawn uniformly, so every area keeps
    its share of people and care hours in expectation, and hours scale by ``1 + growth`` in
    expectation (not exactly, as for a synthetic caseload).

    Parameters
    ----------
    demand : the caseload.
    growth : fraction, more than -1 (0.2 = 20% more people).
    seed : seed of the draw; the same caseload, growth and seed give the same result.

    Raises
    ------
    DemandError
        When ``growth`` is -1 or less.
    """
    if not growth > -1:
        raise DemandError(f"demand growth = {growth} must be more than -1")
    people, visits = demand.people, demand.visits
    change = round(abs(growth) * len(people))
    if change == 0:
        return demand
    rng = np.random.default_rng([seed, 303])
    if growth < 0:
        gone = set(people["person_id"].to_numpy()[rng.choice(len(people), change, replace=False)])
        people = people[~people["person_id"].isin(gone)]
        visits = visits[~visits["person_id"].isin(gone)]
    else:
        picked = people.iloc[np.sort(rng.integers(0, len(people), change))]
        suffix = "-g" + (picked.groupby("person_id").cumcount() + 1).astype(str)
        clones = picked.assign(person_id=picked["person_id"].astype(str) + suffix)
        pairs = pd.DataFrame(
            {"person_id": picked["person_id"].to_numpy(), "suffix": suffix.to_numpy()}
        )
        cloned_visits = visits.merge(pairs, on="person_id")
        cloned_visits["person_id"] = (
            cloned_visits["person_id"].astype(str) + cloned_visits["suffix"]
        )
        cloned_visits["visit_id"] = cloned_visits["visit_id"].astype(str) + cloned_visits.pop(
            "suffix"
        )
        people = pd.concat([people, clones], ignore_index=True)
        visits = pd.concat([visits, cloned_visits[visits.columns]], ignore_index=True)
    grown = Demand(
        people=gpd.GeoDataFrame(people, geometry="geometry", crs=CRS).reset_index(drop=True),
        visits=gpd.GeoDataFrame(visits, geometry="geometry", crs=CRS).reset_index(drop=True),
        rejects=demand.rejects,
        summary=dict(demand.summary),
    )
    grown.summary.update(
        people=len(grown.people), visits=len(grown.visits), hours_week=grown.hours_week,
        growth=growth,
    )  # fmt: skip
    return grown


def _read_table(source: Any, kind: str, crs: str | None) -> tuple[pd.DataFrame, str]:
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
        label = str(source.attrs.get("source", kind))
    else:
        path = Path(source)
        label = path.name
        if not path.exists():
            raise DemandError(f"{path}: {kind} file not found")
        if not path.is_file():
            raise DemandError(f"{path}: is a folder, not a {kind} file")
        try:
            if path.suffix.lower() in (".csv", ".txt"):
                frame = pd.read_csv(
                    path, dtype=str, keep_default_na=False, encoding="utf-8-sig", index_col=False
                )
            else:
                frame = gpd.read_file(path, engine="pyogrio")
        except Exception as exc:  # pandas and pyogrio raise many types for unreadable files
            raise DemandError(f"{label}: cannot read {kind} ({exc})") from exc
    if isinstance(frame, gpd.GeoDataFrame) and frame.crs is None and frame.geometry.notna().any():
        if crs is None:
            raise DemandError(
                f"{label}: the layer has no CRS; state the one it is in ([inputs] {kind}_crs)"
            )
        frame = frame.set_crs(crs)
    geometry = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
    frame.columns = [str(c).strip().lower() if c != geometry else c for c in frame.columns]
    _unique_columns(frame, label)
    frame = frame.drop(columns=[c for c in frame.columns if c == "_row"])  # our row counter
    frame["_row"] = np.arange(1, len(frame) + 1)
    return frame.reset_index(drop=True), label


def _unique_columns(frame: pd.DataFrame, label: str) -> None:
    """Column names (compared in lower case) appear once: otherwise a column is ambiguous."""
    names = pd.Index([str(c).strip().lower() for c in frame.columns])
    twice = names[names.duplicated()]
    if len(twice):
        raise DemandError(f"{label}: column {twice[0]!r} appears more than once")


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series("", index=frame.index, dtype=str)
    return frame[column].astype("string").fillna("").str.strip().astype(str)


def _rejects(source: str, rows: Any, ids: Any, reasons: Any, kinds: Any) -> pd.DataFrame:
    frame = pd.DataFrame(
        {"row": np.asarray(rows, dtype=int), "record_id": np.asarray(ids, dtype=object)}
    )
    frame.insert(0, "source", source)
    for column, values in (("reason", reasons), ("kind", kinds)):
        frame[column] = values if isinstance(values, str) else np.asarray(values, dtype=object)
    frame["record_id"] = frame["record_id"].astype(str)
    return frame[REJECT_COLUMNS]


def _empty_rejects() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": pd.Series(dtype=str),
            "row": pd.Series(dtype=int),
            "record_id": pd.Series(dtype=str),
            "reason": pd.Series(dtype=str),
            "kind": pd.Series(dtype=str),
        }
    )


def _first_reason(
    reasons: list[tuple[pd.Series, pd.Series | str, str]], index: pd.Index
) -> tuple[pd.Series, pd.Series]:
    """Combine (mask, reason, kind) triples: each row gets the first reason that applies and its
    kind, else ``""`` for both."""
    out = pd.Series("", index=index, dtype=object)
    kinds = pd.Series("", index=index, dtype=object)
    for mask, reason, kind in reasons:
        take = mask.fillna(False).astype(bool) & (out == "")
        out[take] = reason[take] if isinstance(reason, pd.Series) else reason
        kinds[take] = kind
    return out, kinds


def _locate_people(
    table: pd.DataFrame, source: str, postcodes: gpd.GeoDataFrame | None
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    if "person_id" not in table.columns:
        raise DemandError(
            f"{source}: no column 'person_id' (columns: {', '.join(c for c in table.columns if c != '_row')})"
        )
    idx = table.index
    pid = _text(table, "person_id")
    rows = table["_row"]
    x = pd.Series(np.nan, index=idx)
    y = pd.Series(np.nan, index=idx)
    how = pd.Series("", index=idx, dtype=object)

    postcode = normalise_postcode(_text(table, "postcode")).fillna("").astype(str)
    has_pc = postcode != ""
    known = pd.Series(False, index=idx)
    if has_pc.any() and postcodes is not None:
        pc_points = postcodes.to_crs(CRS).drop_duplicates("postcode").set_index("postcode").geometry
        found = pc_points.reindex(postcode[has_pc].to_numpy())
        hit = found.notna().to_numpy()
        where = postcode[has_pc].index[hit]
        x[where] = shapely.get_x(found.values[hit])
        y[where] = shapely.get_y(found.values[hit])
        known[where] = True
        how[where] = "postcode"

    east = pd.to_numeric(_text(table, "easting"), errors="coerce")
    north = pd.to_numeric(_text(table, "northing"), errors="coerce")
    has_en = (_text(table, "easting") != "") | (_text(table, "northing") != "")
    en_ok = east.between(_GB_EN[0], _GB_EN[2]) & north.between(_GB_EN[1], _GB_EN[3])
    use_en = ~has_pc & has_en & en_ok
    x[use_en], y[use_en] = east[use_en], north[use_en]
    how[use_en] = "easting/northing"

    lat_col = "lat" if "lat" in table.columns else "latitude"
    lon_col = "lon" if "lon" in table.columns else "longitude"
    lat = pd.to_numeric(_text(table, lat_col), errors="coerce")
    lon = pd.to_numeric(_text(table, lon_col), errors="coerce")
    has_ll = (_text(table, lat_col) != "") | (_text(table, lon_col) != "")
    ll_ok = lon.between(_GB_LONLAT[0], _GB_LONLAT[2]) & lat.between(_GB_LONLAT[1], _GB_LONLAT[3])
    use_ll = ~has_pc & ~has_en & has_ll & ll_ok
    if use_ll.any():
        transformer = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
        ex, ny = transformer.transform(lon[use_ll].to_numpy(), lat[use_ll].to_numpy())
        x[use_ll], y[use_ll] = ex, ny
        how[use_ll] = "lat/lon"

    has_geom = pd.Series(False, index=idx)
    if isinstance(table, gpd.GeoDataFrame):
        geom = table.geometry.to_crs(CRS)
        has_geom = pd.Series(geom.notna().to_numpy() & ~geom.is_empty.to_numpy(), index=idx)
        point_geom = has_geom & (geom.geom_type == "Point").to_numpy()
        use_geom = ~has_pc & ~has_en & ~has_ll & point_geom
        x[use_geom], y[use_geom] = (
            shapely.get_x(geom[use_geom].values),
            shapely.get_y(geom[use_geom].values),
        )
        how[use_geom] = "geometry"

    dup = pid.duplicated(keep=False) & (pid != "")
    dup_rows = rows.groupby(pid).agg(lambda r: ", ".join(map(str, r)))
    reason, kind = _first_reason(
        [
            (pid == "", "missing person_id", "missing person_id"),
            (
                dup,
                "person_id " + pid + " is used on rows " + pid.map(dup_rows).fillna(""),
                "duplicate person_id",
            ),
            (
                has_pc & (postcodes is None),
                "postcode " + postcode + " given but no postcode file was supplied",
                "postcode but no postcode file",
            ),
            (has_pc & ~known, "unknown postcode " + postcode, "unknown postcode"),
            (
                ~has_pc & has_en & ~en_ok,
                "easting/northing ("
                + _text(table, "easting")
                + ", "
                + _text(table, "northing")
                + ") is not a point in Great Britain",
                "easting/northing outside Great Britain",
            ),
            (
                ~has_pc & ~has_en & has_ll & ~ll_ok,
                "lat/lon ("
                + _text(table, lat_col)
                + ", "
                + _text(table, lon_col)
                + ") is not a point in Great Britain",
                "lat/lon outside Great Britain",
            ),
            (
                how == "",
                "no location: give a postcode, easting/northing or lat/lon",
                "no location",
            ),
        ],
        idx,
    )
    bad = reason != ""
    rejects = _rejects(source, rows[bad], pid[bad], reason[bad], kind[bad])
    good = table[~bad]
    located = gpd.GeoDataFrame(
        {
            "person_id": pid[~bad].to_numpy(),
            "area_id": _text(good, "area_id").to_numpy(),
            "located_by": how[~bad].to_numpy(),
            "_row": rows[~bad].to_numpy(),
        },
        geometry=gpd.points_from_xy(x[~bad], y[~bad]),
        crs=CRS,
    )
    # kept for carers' run sheets (INTERNAL): where to go, in the words the file gives
    if "postcode" in table.columns:
        located.insert(2, "postcode", postcode[~bad].to_numpy())
    if "address" in table.columns:
        located.insert(2, "address", _text(good, "address").to_numpy())
    return located, rejects


def _parse_times(values: pd.Series) -> pd.Series:
    """``HH:MM`` or whole minutes → minutes after midnight (NaN when unreadable)."""
    text = values.astype(str).str.strip()
    minutes = pd.to_numeric(text, errors="coerce")
    clock = text.str.extract(r"^(\d{1,2}):(\d{2})$").astype(float)
    from_clock = clock[0] * 60 + clock[1]
    from_clock[clock[1] >= 60] = np.nan
    out = minutes.where(minutes.notna(), from_clock)
    out[(out < 0) | (out > MINUTES_PER_DAY) | (out != np.floor(out))] = np.nan
    return out


def _clock(minutes: pd.Series) -> pd.Series:
    m = minutes.fillna(0).astype(int)
    return (m // 60).map("{:02d}".format) + ":" + (m % 60).map("{:02d}".format)


def _validate_visits(
    table: pd.DataFrame,
    source: str,
    people: gpd.GeoDataFrame,
    people_table: pd.DataFrame,
    people_source: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    required = ["visit_id", "person_id", "day", "earliest", "latest", "duration"]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DemandError(
            f"{source}: no column {', '.join(map(repr, missing))} (columns: {', '.join(c for c in table.columns if c != '_row')})"
        )
    idx = table.index
    rows = table["_row"]
    vid = _text(table, "visit_id")
    pid = _text(table, "person_id")
    day_text = _text(table, "day")
    day = pd.to_numeric(day_text, errors="coerce")
    by_name = day_text.str[:3].str.lower().map({n: i for i, n in enumerate(DAY_NAMES)})
    day = day.where(day.notna(), by_name)
    day_ok = day.notna() & day.between(0, 6) & (day == np.floor(day.fillna(0)))
    earliest = _parse_times(_text(table, "earliest"))
    latest = _parse_times(_text(table, "latest"))
    duration = pd.to_numeric(_text(table, "duration"), errors="coerce")
    carers_text = _text(table, "carers").replace("", "1")
    carers = pd.to_numeric(carers_text, errors="coerce")

    all_people = _text(people_table, "person_id")
    person_rows = people_table["_row"].groupby(all_people).first()
    located = set(people["person_id"])
    dup = vid.duplicated(keep=False) & (vid != "")
    dup_rows = rows.groupby(vid).agg(lambda r: ", ".join(map(str, r)))
    times_ok = earliest.notna() & latest.notna()
    minutes = duration.astype("string").fillna("")
    reason, kind = _first_reason(
        [
            (vid == "", "missing visit_id", "missing visit_id"),
            (
                dup,
                "visit_id " + vid + " is used on rows " + vid.map(dup_rows).fillna(""),
                "duplicate visit_id",
            ),
            (pid == "", "missing person_id", "missing person_id"),
            (
                ~pid.isin(all_people),
                "person " + pid + f" is not in {people_source}",
                "person not in the people file",
            ),
            (
                ~pid.isin(located),
                "person "
                + pid
                + f" was rejected ({people_source} row "
                + pid.map(person_rows).astype("Int64").astype("string").fillna("?")
                + ")",
                "person rejected",
            ),
            (
                ~day_ok,
                "day " + day_text.map(repr) + " is not 0-6 (Monday = 0) or a weekday name",
                "bad day",
            ),
            (
                earliest.isna(),
                "earliest "
                + _text(table, "earliest").map(repr)
                + " is not HH:MM or minutes after midnight",
                "bad earliest",
            ),
            (
                latest.isna(),
                "latest "
                + _text(table, "latest").map(repr)
                + " is not HH:MM or minutes after midnight",
                "bad latest",
            ),
            (
                times_ok & (latest < earliest),
                "latest (" + _clock(latest) + ") is before earliest (" + _clock(earliest) + ")",
                "latest before earliest",
            ),
            (
                duration.isna(),
                "duration " + _text(table, "duration").map(repr) + " is not a number of minutes",
                "bad duration",
            ),
            (duration <= 0, "duration " + minutes + " min must be more than 0", "bad duration"),
            (
                duration != np.floor(duration.fillna(0)),
                "duration " + minutes + " min must be whole minutes",
                "bad duration",
            ),
            (
                times_ok & (earliest + duration > MINUTES_PER_DAY),
                "duration "
                + minutes
                + " min starting at earliest ("
                + _clock(earliest)
                + ") runs past midnight",
                "runs past midnight",
            ),
            (
                ~carers.isin([1, 2]),
                "carers " + carers_text.map(repr) + " must be 1 or 2",
                "bad carers",
            ),
        ],
        idx,
    )
    bad = reason != ""
    rejects = _rejects(source, rows[bad], vid[bad], reason[bad], kind[bad])
    ok = ~bad
    good = pd.DataFrame(
        {
            "visit_id": vid[ok].to_numpy(),
            "person_id": pid[ok].to_numpy(),
            "day": day[ok].astype(int).to_numpy(),
            "earliest": earliest[ok].astype(int).to_numpy(),
            "latest": latest[ok].astype(int).to_numpy(),
            "duration": duration[ok].astype(int).to_numpy(),
            "carers": carers[ok].astype(int).to_numpy(),
            "skills": _text(table, "skills")[ok].to_numpy(),
        }
    )
    good, timing_rejects = _visit_timing(good, table[ok], source, rows[ok].to_numpy())
    return good, pd.concat([rejects, timing_rejects], ignore_index=True)


OPTIONAL_VISIT_COLUMNS = ("skills_2", "follows", "gap_min", "gap_max", "due")
"""Visit columns for split-skill double-ups, linked visits and soft due times (may be absent)."""


def _visit_timing(
    good: pd.DataFrame, table: pd.DataFrame, source: str, rows: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the optional columns of good visit rows; reject rows whose link or due is unusable.

    A visit linked to a rejected one is rejected too (repeated until no link dangles), so no
    accepted visit ever follows a visit that is not planned.
    """
    present = [c for c in OPTIONAL_VISIT_COLUMNS if c in table.columns]
    if not present:
        return good, _empty_rejects()
    good = good.copy()
    for col in ("skills_2", "follows"):
        if col in table.columns:
            good[col] = _text(table, col).to_numpy()
    for col in ("gap_min", "gap_max"):
        if col in table.columns:
            good[col] = pd.to_numeric(
                _text(table, col).replace("", "0"), errors="coerce"
            ).to_numpy()
    reason = pd.Series("", index=good.index, dtype=object)
    kind = pd.Series("bad link", index=good.index, dtype=object)
    if "due" in table.columns:
        due_text = _text(table, "due").reset_index(drop=True)
        due = _parse_times(due_text.where(due_text != "", "0"))
        good["due"] = due.where(due_text != "").to_numpy()
        bad_due = due.isna().to_numpy()
        reason[bad_due] = (
            "due " + due_text[bad_due].map(repr) + " is not HH:MM or minutes"
        ).to_numpy()
        kind[bad_due] = "bad due"
    if "follows" in good.columns:
        for col in ("gap_min", "gap_max"):
            if col not in good.columns:
                good[col] = 0.0
        keep = reason == ""
        while True:
            links = link_problems(good[keep])
            if not (links != "").any():
                break
            reason[links.index[links != ""]] = links[links != ""]
            keep = reason == ""
    bad = (reason != "").to_numpy()
    rejects = _rejects(source, pd.Series(rows[bad]), good["visit_id"][bad], reason[bad], kind[bad])
    return good[~bad].reset_index(drop=True), rejects


def _given(value: object) -> bool:
    """A cell holds a value (not None, NaN or empty)."""
    return not (value is None or (isinstance(value, float) and np.isnan(value)) or value == "")


def link_problems(visits: pd.DataFrame) -> pd.Series:
    """Why each visit's ``follows`` link is unusable ("" when it is fine or absent), by row.

    A link names another visit of the same person on the same day that needs one carer, with
    ``0 <= gap_min <= gap_max`` minutes between their starts. The visits reader rejects rows with
    these reasons; the rounds planner raises them.
    """
    reasons = pd.Series("", index=visits.index, dtype=object)
    if "follows" not in visits.columns:
        return reasons
    ids = visits["visit_id"].astype(str)
    first = ~ids.duplicated()
    by_id = visits[first].set_index(ids[first])
    gap_min, gap_max = (
        pd.to_numeric(visits[c], errors="coerce") if c in visits.columns
        else pd.Series(0.0, index=visits.index)
        for c in ("gap_min", "gap_max")
    )  # fmt: skip
    for i, follows in visits["follows"].items():
        if not _given(follows):
            continue
        other, row = str(follows), visits.loc[i]
        lo, hi = gap_min[i], gap_max[i]
        if other not in by_id.index:
            reasons[i] = f"follows visit {other!r}, which is not among the visits planned"
        elif other == str(row["visit_id"]):
            reasons[i] = "follows itself"
        elif str(by_id.loc[other, "person_id"]) != str(row["person_id"]):
            reasons[i] = f"follows visit {other!r} of another person"
        elif int(by_id.loc[other, "day"]) != int(row["day"]):
            reasons[i] = f"follows visit {other!r} on another day"
        elif pd.isna(lo) or pd.isna(hi):
            reasons[i] = "gap_min and gap_max must be numbers of minutes"
        elif lo < 0 or lo > hi:
            reasons[i] = f"gap_min ({lo:g}) must be between 0 and gap_max ({hi:g})"
        elif int(row["carers"]) != 1 or int(by_id.loc[other, "carers"]) != 1:
            reasons[i] = "a linked visit must need one carer (use skills_2 for a double-up)"
    return reasons


# --------------------------------------------------------------------------------------------------
# Summaries by area
# --------------------------------------------------------------------------------------------------


def demand_by_area(demand: Demand, areas: gpd.GeoDataFrame, id_column: str = "id") -> pd.DataFrame:
    """People, visits and weekly care hours per area, by point-in-polygon of people's homes.

    Parameters
    ----------
    demand
        The caseload.
    areas
        Polygons with ``id_column`` (EPSG:27700 or any CRS; reprojected).
    id_column
        Area id column.

    Returns
    -------
    DataFrame indexed by area id (str, every area, zeros included, nothing else): ``people``,
    ``visits``, ``hours_week`` (hours, both carers of a double-up counted). People inside no area
    are not lost but reported beside the table: their ids in ``.attrs["outside_people"]``, their
    visits and hours in ``.attrs["outside_visits"]`` and ``.attrs["outside_hours_week"]``. A home on
    a shared boundary counts once, for the first area by id.
    """
    areas = areas.to_crs(CRS)
    ids = areas[id_column].astype(str)
    person_area = _area_of_people(demand.people, areas, id_column)
    visits = demand.visits
    hours = visits["duration"].to_numpy() * visits["carers"].to_numpy() / 60.0
    visit_area = person_area.reindex(visits["person_id"].to_numpy()).fillna(OUTSIDE).to_numpy()
    order = sorted(ids.unique())
    people_count = person_area.value_counts()
    out = pd.DataFrame(
        {
            "people": people_count,
            "visits": pd.Series(visit_area).value_counts(),
            "hours_week": pd.Series(hours).groupby(visit_area).sum(),
        }
    )
    outside = out.loc[OUTSIDE] if OUTSIDE in out.index else pd.Series(0.0, index=out.columns)
    out = out.reindex(order).fillna(0)
    out["people"] = out["people"].astype(int)
    out["visits"] = out["visits"].astype(int)
    out.index.name = "area_id"
    out.attrs["outside_people"] = person_area.index[person_area == OUTSIDE].tolist()
    out.attrs["outside_visits"] = int(np.nan_to_num(outside["visits"]))
    out.attrs["outside_hours_week"] = float(np.nan_to_num(outside["hours_week"]))
    return out


def _area_of_people(people: gpd.GeoDataFrame, areas: gpd.GeoDataFrame, id_column: str) -> pd.Series:
    """Area id per person (indexed by person_id); ``"<outside>"`` when in none."""
    homes = people[["person_id", "geometry"]].to_crs(CRS).reset_index(drop=True)
    polys = areas[[id_column, "geometry"]].assign(_id=areas[id_column].astype(str))
    joined = gpd.sjoin(homes, polys[["_id", "geometry"]], how="left", predicate="intersects")
    joined = joined.sort_values(["person_id", "_id"]).drop_duplicates("person_id")
    return (
        joined.set_index("person_id")["_id"]
        .astype("string")
        .fillna(OUTSIDE)
        .astype(str)
        .reindex(homes["person_id"])
    )


def aggregate_for_publication(
    demand: Demand | gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame,
    min_count: int = 5,
    *,
    id_column: str = "id",
) -> gpd.GeoDataFrame:
    """Counts and hours per area, safe to publish: small numbers suppressed.

    Parameters
    ----------
    demand
        A :class:`Demand`, or bare people points (then only ``people`` is counted).
    areas
        Polygons with ``id_column``.
    min_count
        Areas withheld by :func:`patchplan.publication.publishable` (fewer people than this, and
        the next smallest where needed so none can be recovered from the total) have ``people``,
        ``visits`` and ``hours_week`` set to NaN and ``suppressed = True``.

    Returns
    -------
    GeoDataFrame ``area_id``, ``people``, ``visits``, ``hours_week`` (rounded to whole hours),
    ``suppressed`` (bool), geometry. People outside every area are counted in
    ``.attrs["outside_people"]`` (a number) and never mapped.
    """
    if isinstance(demand, Demand):
        table = demand_by_area(demand, areas, id_column)
    else:
        empty = gpd.GeoDataFrame(
            {"visit_id": [], "person_id": [], "duration": [], "carers": []}, geometry=[], crs=CRS
        )
        points = demand.copy()
        if "person_id" not in points.columns:
            points["person_id"] = np.arange(len(points)).astype(str)
        table = demand_by_area(Demand(points, empty, _empty_rejects()), areas, id_column)
        table[["visits", "hours_week"]] = np.nan
    outside = len(table.attrs["outside_people"])
    out = table.astype(float)
    out["hours_week"] = out["hours_week"].round(0)
    out = publishable(out, "people", min_count=min_count)
    out = out.rename(columns={"withheld": "suppressed"})
    geoms = (
        areas.to_crs(CRS)
        .assign(_id=areas[id_column].astype(str))
        .drop_duplicates("_id")
        .set_index("_id")
        .geometry
    )
    result = gpd.GeoDataFrame(out.reset_index(), geometry=geoms.reindex(out.index).values, crs=CRS)
    result.attrs["outside_people"] = outside
    result.attrs["min_count"] = min_count
    return result
