"""The whole chain for one scenario: boundaries → blocks → patches → rounds → savings.

:func:`run` is pure apart from reading inputs: it returns a :class:`StudyResult` and writes nothing
(``report.py`` and the CLI write the outputs). Each step calls the stage module that owns it; this
module only decides what flows where.

Each provider's week is planned as a rota (``rounds.plan_week``): its recurring calls once, as a
template day, and every planned day (``[study] days``, all seven by default) derived from it. When
fewer days than the week are planned, figures per week are scaled up by ``[savings] week_days``.
Long stages report progress within themselves (weeks done of weeks, elapsed, an estimate of what
is left) through ``progress``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import networkx as nx
import pandas as pd
import shapely

from patchplan import (
    CRS,
    baseline,
    boundaries,
    demand,
    feasibility,
    network,
    patches,
    publication,
    rounds,
    savings,
    workforce,
)
from patchplan.account import InputsAccount, build_account
from patchplan.checks import overlap_problem
from patchplan.errors import ScenarioError
from patchplan.interrupts import raise_if_interrupted
from patchplan.layout import LotLayout, check_layout, lock_pairs
from patchplan.matrix import StraightLineTravel, TravelTimes
from patchplan.scenario import Scenario

MODES = ("walk", "drive")
Progress = Callable[[str], None]


@dataclass
class StudyInputs:
    """Everything read for a study (EPSG:27700), before any stage runs."""

    areas: gpd.GeoDataFrame
    pcns: gpd.GeoDataFrame
    neighbourhoods: gpd.GeoDataFrame | None
    demand: demand.Demand
    travel: dict[str, TravelTimes]
    practices: gpd.GeoDataFrame | None = None
    existing: gpd.GeoDataFrame | None = None
    reports: dict[str, object] = field(default_factory=dict)
    places: gpd.GeoDataFrame | None = None
    roads: gpd.GeoDataFrame | None = None
    addresses: gpd.GeoDataFrame | None = None


@dataclass
class StudyResult:
    """The outputs of every stage, for the report, the maps and the Python API.

    ``walking`` is :func:`feasibility.walking_figures` (one row per patch and a ``"total"``);
    ``continuity`` has the ``today_`` and ``proposed_`` columns of :func:`rounds.continuity` by
    ``patch_id`` and ``"total"``.
    """

    scenario: Scenario
    inputs: StudyInputs
    blocks: gpd.GeoDataFrame
    adjacency: nx.Graph
    block_demand: pd.DataFrame
    design: patches.PatchDesign
    visit_patch: pd.Series
    planned_visits: gpd.GeoDataFrame
    proposed: rounds.RoundsResult
    today: rounds.RoundsResult
    walking: pd.DataFrame
    savings: pd.DataFrame
    summary: pd.DataFrame
    unserved: pd.DataFrame
    timings_s: dict[str, float] = field(default_factory=dict)
    existing_layout: pd.Series | None = None
    layouts: pd.DataFrame | None = None
    ranges: pd.DataFrame | None = None
    """Figures over several synthetic caseloads (``sweep.seed_ranges``), when run with seeds > 1."""
    explained: pd.DataFrame | None = None
    baseline: pd.DataFrame | None = None
    account: InputsAccount = field(default_factory=lambda: InputsAccount(()))
    continuity: pd.DataFrame | None = None

    @property
    def estimate(self) -> bool:
        """True when travel comes from the straight-line estimate rather than a street network."""
        return any(t.estimate for t in self.inputs.travel.values())

    @property
    def disclosure(self) -> publication.Disclosure:
        """Which lots' figures every published output withholds (``patchplan.publication``)."""
        return publication.withheld_areas(self.summary["people"])

    @property
    def time_limit_reached(self) -> bool:
        """True when a solver's wall-clock safety cap cut a search, so figures may vary by run."""
        return bool(self.summary.get("time_limit_reached", pd.Series(dtype=float)).fillna(0).any())

    @property
    def time_limit_note(self) -> str:
        """One sentence for every output when a safety cap was hit ("" otherwise)."""
        if not self.time_limit_reached:
            return ""
        lots = [str(p) for p, v in self.summary["time_limit_reached"].items() if v and p != "total"]
        where = f" (lots {', '.join(lots)})" if lots else ""
        return (
            f"A solver's wall-clock safety cap was reached{where}, so this machine's load may have "
            "cut a search short and the figures may differ between runs with the same seed; raise "
            "[rounds] time_limit_s (or run on a quieter machine) for results that repeat."
        )


# --------------------------------------------------------------------------------------------
# inputs


def _network_travel(source, scenario: Scenario) -> dict[str, TravelTimes]:
    """Walk and drive travel on the street network built from ``source`` (file or graph)."""
    from patchplan.matrix import NetworkTravel
    from patchplan.network import load_network

    return {
        mode: NetworkTravel(load_network(source, mode, scenario.network), scenario.network)
        for mode in MODES
    }


def _town_inputs(scenario: Scenario) -> StudyInputs:
    from patchplan.examples.town import make_town

    town = make_town()
    travel = _network_travel(town.streets, scenario)
    caseload = demand.synthesise_demand(
        town.areas,
        population_column="pop_65plus",
        addresses=town.addresses,
        deprivation_column="imd_decile",
        settings=scenario.demand,
        seed=scenario.study.seed,
    )
    return StudyInputs(
        areas=town.areas,
        pcns=town.pcns,
        neighbourhoods=town.neighbourhoods,
        demand=caseload,
        travel=travel,
        practices=town.practices,
        existing=town.localities,
        roads=_main_roads(travel),
    )


def _main_roads(travel: dict[str, TravelTimes]) -> gpd.GeoDataFrame | None:
    """Main roads of the drive network, for orientation on maps (None without a network)."""
    graph = getattr(travel["drive"], "graph", None)
    return None if graph is None else network.main_roads(graph)


def _layer(scenario: Scenario, key: str, id_column: str, name_column: str | None = None):
    path = scenario.input_path(key)
    if path is None:
        return None, None
    if not path.exists():
        raise ScenarioError(f"[inputs] {key}: file not found: {path}")
    crs = getattr(scenario.inputs, f"{key}_crs") or None
    return boundaries.load_layer(path, id_column, name_column, crs, crs_key=f"[inputs] {key}_crs")


def _must_overlap(scenario: Scenario, areas: gpd.GeoDataFrame, **layers) -> None:
    """Every layer read (frame or GeoSeries) overlaps the small areas (the study area), or a
    ScenarioError names each one that does not."""
    study = areas.union_all()
    label = f"areas {scenario.input_path('areas').name}"  # type: ignore[union-attr]
    problems = [
        found
        for key, frame in layers.items()
        if frame is not None and len(frame)
        and (found := overlap_problem(key, scenario.input_path(key).name,  # type: ignore[union-attr]
                                      getattr(frame, "geometry", frame), study, label))
    ]  # fmt: skip
    if problems:
        raise ScenarioError(*problems)


def _file_travel(
    scenario: Scenario, areas: gpd.GeoDataFrame | None = None
) -> dict[str, TravelTimes]:
    network_file = scenario.input_path("network")
    if areas is not None and network_file is not None and network_file.is_file():
        from patchplan.network import file_extent

        extent = file_extent(network_file)
        if extent is not None:
            _must_overlap(scenario, areas, network=gpd.GeoSeries([shapely.box(*extent)], crs=CRS))
    if network_file is None:
        overhead = {"walk": 0.0, "drive": scenario.network.parking_min}
        return {m: StraightLineTravel(mode=m, stop_overhead_min=overhead[m]) for m in MODES}
    return _network_travel(network_file, scenario)


def _file_inputs(scenario: Scenario) -> StudyInputs:
    inp = scenario.inputs
    areas, area_report = _layer(scenario, "areas", inp.area_id)
    if areas is None:
        raise ScenarioError("[inputs] areas: a small-area layer with population is required")
    reports: dict[str, object] = {"areas": area_report}
    practices = None
    if (path := scenario.input_path("practices")) is not None:
        practices = boundaries.load_points(
            path, inp.practices_crs or None, crs_key="[inputs] practices_crs"
        )
    if inp.pcn_column and inp.pcn_column not in areas.columns:
        # No area→PCN column (e.g. Rutland): each small area takes the PCN of the practice nearest
        # its representative point, the usual proxy for the CCG's best-match assignment.
        if practices is None or inp.pcn_column not in practices.columns:
            raise ScenarioError(
                f"[inputs] pcn_column: {inp.pcn_column!r} is a column of neither areas nor practices"
            )
        points = gpd.GeoDataFrame(geometry=areas.representative_point(), crs=CRS)
        nearest = gpd.sjoin_nearest(points, practices[[inp.pcn_column, "geometry"]], how="left")
        nearest = nearest.sort_values(inp.pcn_column, kind="stable")
        areas[inp.pcn_column] = nearest[~nearest.index.duplicated()][inp.pcn_column].astype(str)
        reports["pcn_assignment"] = "nearest practice to each small area"
    if inp.pcn_column:
        pcns = areas.rename(columns={inp.pcn_column: "pcn_id"})
    else:
        pcns, reports["pcns"] = _layer(scenario, "pcns", inp.pcn_id)
        if pcns is None:
            raise ScenarioError("[inputs] give either pcn_column (in areas) or a pcns layer")
    neighbourhoods, reports["neighbourhoods"] = _layer(
        scenario, "neighbourhoods", inp.neighbourhood_id, inp.neighbourhood_name or None
    )
    existing, reports["existing"] = _layer(scenario, "existing", inp.existing_id)
    people_path, visits_path = scenario.input_path("people"), scenario.input_path("visits")
    address_path = scenario.input_path("addresses")
    addresses = demand.load_postcodes(address_path) if address_path else None
    if bool(people_path) != bool(visits_path):
        raise ScenarioError(*inp.problems())  # people without visits, or the other way round
    if people_path and visits_path:
        caseload = demand.load_demand(
            people_path, visits_path, postcodes=addresses, crs=inp.people_crs or None
        )
        caseload = demand.grow_demand(caseload, scenario.demand.growth, scenario.study.seed)
    else:
        caseload = demand.synthesise_demand(
            areas,
            population_column=inp.population_column,
            addresses=addresses,
            deprivation_column=inp.deprivation_column or None,
            settings=scenario.demand,
            seed=scenario.study.seed,
        )
    _must_overlap(
        scenario, areas, pcns=None if inp.pcn_column else pcns, neighbourhoods=neighbourhoods,
        existing=existing, practices=practices, addresses=addresses,
        people=caseload.people if people_path else None,
    )  # fmt: skip
    travel = _file_travel(scenario, areas)
    network_file = scenario.input_path("network")
    osm_file = network_file is not None and not network_file.name.lower().endswith(".graphml")
    return StudyInputs(
        areas=areas,
        pcns=pcns,
        neighbourhoods=neighbourhoods,
        demand=caseload,
        travel=travel,
        practices=practices,
        existing=existing,
        reports=reports,
        places=network.place_names(network_file) if osm_file and network_file else None,
        roads=_main_roads(travel),
        addresses=addresses,
    )


def load_inputs(scenario: Scenario) -> StudyInputs:
    """Read (or, for the demo, generate) every input the scenario names."""
    if scenario.inputs.source == "town":
        return _town_inputs(scenario)
    if scenario.inputs.source == "files":
        return _file_inputs(scenario)
    raise ScenarioError(
        f"[inputs] source: expected 'town' or 'files', got {scenario.inputs.source!r}"
    )


# --------------------------------------------------------------------------------------------
# stages


def make_blocks(inputs: StudyInputs, scenario: Scenario) -> gpd.GeoDataFrame:
    """PCN × neighbourhood blocks, or small areas carrying their PCN when there is no PCN layer."""
    if scenario.inputs.pcn_column:
        return boundaries.make_blocks(inputs.pcns, None, pcn_column="pcn_id")
    return boundaries.make_blocks(inputs.pcns, inputs.neighbourhoods)


PROPOSED_LAYOUT = "proposed lots"
EXISTING_LAYOUT = "today's areas"


def compare_with_existing(
    design: patches.PatchDesign,
    existing: gpd.GeoDataFrame | None,
    blocks: gpd.GeoDataFrame,
    adjacency: nx.Graph,
    block_demand: pd.DataFrame,
    travel: TravelTimes,
    scenario: Scenario,
) -> tuple[pd.Series | None, pd.DataFrame | None]:
    """Today's areas (``[inputs] existing``, e.g. contract localities) scored beside the proposed lots.

    Each block goes to the existing area it mostly lies in. Returns that layout (``block_id`` →
    area id) and :func:`patches.compare_layouts` of the two, or ``(None, None)`` without a layer.
    """
    if existing is None or existing.empty:
        return None, None
    layout = boundaries.assign_blocks(blocks, existing)
    table = patches.compare_layouts(
        {PROPOSED_LAYOUT: design.layout, EXISTING_LAYOUT: layout},
        blocks, block_demand, travel, scenario.patches, adjacency,
    )  # fmt: skip
    return layout, table


def visits_by_patch(
    visits: gpd.GeoDataFrame, blocks: gpd.GeoDataFrame, layout: pd.Series
) -> tuple[pd.Series, pd.DataFrame]:
    """``visit_id`` → ``patch_id`` by the block each home lies in; visits outside every block are
    returned separately with the reason."""
    # A home exactly on a shared boundary touches two blocks: take the first block id, so the
    # choice is deterministic (``within`` would match neither).
    homes = gpd.sjoin(
        visits[["visit_id", "geometry"]],
        blocks[["block_id", "geometry"]],
        how="left",
        predicate="intersects",
    )
    homes = homes.sort_values(["visit_id", "block_id"]).drop_duplicates("visit_id")
    patch = homes.set_index("visit_id")["block_id"].map(layout)
    outside = visits[visits["visit_id"].isin(patch[patch.isna()].index)]
    unserved = pd.DataFrame(
        {
            "visit_id": outside["visit_id"],
            "person_id": outside["person_id"],
            "day": outside["day"],
            "reason": "home outside the study area's blocks",
        }
    )
    return patch.dropna(), unserved


def _tasks(
    visits: gpd.GeoDataFrame,
    allocation: pd.DataFrame,
    providers: gpd.GeoDataFrame,
    travel: dict[str, TravelTimes],
    settings: workforce.WorkforceSettings,
    walking_share: float | pd.Series,
    base_legs_unpaid: bool = False,
):
    """One rounds problem per provider and day: that provider's visits and carers.

    ``walking_share`` is one share for every provider, or a Series by ``patch_id`` (providers then
    need a ``patch_id`` column). ``base_legs_unpaid``: see :func:`workforce.carers_for`.
    """
    provider_of = allocation.set_index("person_id")["provider_id"]
    with_provider = visits.assign(provider_id=visits["person_id"].map(provider_of))
    tasks = []
    for provider in providers.sort_values("provider_id").itertuples():
        mine = with_provider[with_provider["provider_id"] == provider.provider_id]
        share = (
            float(walking_share.get(provider.patch_id, 0.0))
            if isinstance(walking_share, pd.Series)
            else float(walking_share)
        )
        for day in sorted(mine["day"].unique()):
            day_visits = mine[mine["day"] == day].drop(columns="provider_id")
            carers = workforce.carers_for(
                day_visits,
                provider.provider_id,
                provider.geometry,
                settings,
                share,
                base_legs_unpaid,
            )
            tasks.append((day_visits, carers, travel))
    return tasks


def _week_tasks(
    visits: gpd.GeoDataFrame,
    allocation: pd.DataFrame,
    providers: gpd.GeoDataFrame,
    settings: workforce.WorkforceSettings,
    walking_share: float | pd.Series,
    base_legs_unpaid: bool = False,
) -> list[tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]]:
    """One week per provider: its visits and its carers on the rota (``workforce.week_carers``).

    ``walking_share`` is one share for every provider, or a Series by ``patch_id``.
    """
    provider_of = allocation.set_index("person_id")["provider_id"]
    by_provider = visits["person_id"].map(provider_of)
    days = sorted(int(d) for d in pd.unique(visits["day"]))
    tasks = []
    for provider in providers.sort_values("provider_id").itertuples():
        mine = visits[(by_provider == provider.provider_id).to_numpy()]
        if len(mine) == 0:
            continue
        share = (
            float(walking_share.get(provider.patch_id, 0.0))
            if isinstance(walking_share, pd.Series)
            else float(walking_share)
        )
        carers = workforce.week_carers(
            mine, provider.provider_id, provider.geometry, settings, share, days, base_legs_unpaid
        )
        tasks.append((mine, carers))
    return tasks


def _stage_progress(progress: Progress | None, stage: str) -> Callable[[int, int], None] | None:
    """``on_done(done, total)`` reporting ``stage: done/total weeks, elapsed, about what is left``."""
    if progress is None:
        return None
    clock = time.perf_counter()

    def on_done(done: int, total: int) -> None:
        elapsed = time.perf_counter() - clock
        left = elapsed / done * (total - done)
        progress(
            f"{stage}: {done}/{total} provider weeks, {elapsed:.0f} s, about {left:.0f} s left"
        )

    return on_done


def plan_arrangement(
    visits: gpd.GeoDataFrame,
    allocation: pd.DataFrame,
    providers: gpd.GeoDataFrame,
    travel: dict[str, TravelTimes],
    scenario: Scenario,
    walking_share: float | pd.Series,
    progress: Progress | None = None,
    stage: str = "rounds",
    *,
    capped: set[str] | None = None,
) -> rounds.RoundsResult:
    """Every provider's week of one arrangement (today's or the proposed), as a rota.

    A carer's day follows what pay counts: when travel from and back to base is unpaid
    (``[savings] base_legs = false``) it may start before and end after the shift for it.
    ``kpis["time_limit_reached"]`` is 1 when the wall-clock safety cap cut any provider's search;
    the ids of those providers are added to ``capped`` when it is given.

    The KPIs of the combined result add the week's: ``template_s`` and ``derive_s`` (summed
    seconds), ``template_round_share`` and ``recurring_visit_share`` (over every visit).
    """
    tasks = _week_tasks(
        visits, allocation, providers, scenario.workforce, walking_share,
        base_legs_unpaid=not scenario.savings.base_legs,
    )  # fmt: skip
    weeks = rounds.plan_weeks(
        [(v, c, travel) for v, c in tasks], scenario.rounds, _stage_progress(progress, stage)
    )
    result = rounds.combine_results([w.plan for w in weeks], scenario.rounds)
    cut = {
        str(carers["provider_id"].iloc[0])
        for (_, carers), week in zip(tasks, weeks, strict=True)
        if week.plan.kpis.get("time_limit_reached") and len(carers)
    }
    result.kpis["time_limit_reached"] = float(bool(cut))
    if capped is not None:
        capped |= cut
    calls = pd.concat([w.calls for w in weeks], ignore_index=True) if weeks else None
    for key in ("template_s", "derive_s"):
        result.kpis[key] = float(sum(w.kpis.get(key, 0.0) for w in weeks))
    if calls is not None and len(calls):
        recurring = calls[calls["recurring"] & (calls["round_id"] != "")]
        result.kpis["recurring_visit_share"] = float(calls["recurring"].mean())
        result.kpis["template_round_share"] = (
            float((recurring["round_id"] == recurring["template_round"]).mean())
            if len(recurring)
            else 0.0
        )
    return result


def walking_by_patch(
    visits: gpd.GeoDataFrame,
    visit_patch: pd.Series,
    allocation: pd.DataFrame,
    providers: gpd.GeoDataFrame,
    travel: dict[str, TravelTimes],
    scenario: Scenario,
) -> pd.DataFrame:
    """Each patch's walking class before planning, from the proposed carers (no routing).

    The proposed providers' rotas at ``[workforce] walking_share`` give the walking carers' homes;
    :func:`feasibility.walking_reach` counts the visits within ``[rounds] max_walk_leg_min`` of
    them. Returns :func:`feasibility.walking_classes`: ``patch_id``, ``walk_reach_share``,
    ``walk_class``.
    """
    rows = []
    share = scenario.workforce.walking_share
    patch_of = providers.set_index("provider_id")["patch_id"]
    for mine, carers in _week_tasks(visits, allocation, providers, scenario.workforce, share):
        homes = carers[carers["mode"] == "walk"].drop_duplicates("round_id").geometry
        reach = feasibility.walking_reach(
            mine, homes, travel["walk"], scenario.rounds.max_walk_leg_min
        )
        patch = patch_of.get(str(carers["provider_id"].iat[0]))
        rows.append(
            {"patch_id": patch, "visits": len(mine), "visits_in_walking_reach": reach.sum()}
        )
    for patch in sorted(set(visit_patch) - {r["patch_id"] for r in rows}):
        rows.append({"patch_id": patch, "visits": 0, "visits_in_walking_reach": 0})
    return feasibility.walking_classes(pd.DataFrame(rows), scenario.feasibility)


def walking_share_by_patch(
    walking: pd.DataFrame, share: float, patch_ids: Sequence[str]
) -> pd.Series:
    """Share of each patch's carers who walk in the proposed arrangement, by ``patch_id``.

    ``share`` (``[workforce] walking_share``) in walkable and mixed patches, and in patches
    without a class; none in car-dependent ones, where under ``[feasibility]
    car_dependent_share`` of the visits are within a walk of the walking carers' homes.
    """
    car_dependent = set(walking.loc[walking["walk_class"] == "car-dependent", "patch_id"])
    return pd.Series(
        [0.0 if p in car_dependent else float(share) for p in patch_ids],
        index=pd.Index(list(patch_ids), name="patch_id"),
    )


def summarise(
    design: patches.PatchDesign,
    walking: pd.DataFrame,
    savings_table: pd.DataFrame,
    providers: gpd.GeoDataFrame,
    names: pd.Series | None = None,
    continuity: pd.DataFrame | None = None,
    capped_patches: Sequence[str] = (),
    capped_elsewhere: bool = False,
) -> pd.DataFrame:
    """One row per patch and a total: name, hours, people, providers, travel today and proposed,
    walking and continuity of carer.

    ``names`` (``patch_id`` → the places a lot covers, :func:`patches.lot_names`) fills ``name``.
    ``walking`` is :func:`feasibility.walking_figures` (with ``patch_id`` as a column or index) and
    ``continuity`` the ``today_`` and ``proposed_`` columns of :func:`rounds.continuity`, both with
    a ``"total"`` row; the total row takes their totals, so every ratio in it is over all the
    visits or people (never a sum or an average of the lots' ratios).
    ``time_limit_reached`` is 1 for a lot whose proposed rounds hit a wall-clock safety cap
    (``capped_patches``), and for the total when any search did (``capped_elsewhere`` for today's
    arrangement, which spans lots).
    """
    table = design.patches.drop(columns="geometry").set_index("patch_id")[
        ["hours_week", "people", "n_blocks", "pcn_ids"]
    ]
    if names is not None:
        table.insert(0, "name", names.reindex(table.index).fillna(""))
    table["providers"] = providers.groupby("patch_id").size()
    cols = [
        "today_travel_min_lfl", "proposed_travel_min_lfl", "today_visits_served",
        "proposed_visits_served", "saved_travel_pct",
    ]  # fmt: skip
    table = table.join(savings_table[cols], how="left")
    total = table.sum(numeric_only=True)
    total["saved_travel_pct"] = savings_table.loc["total", "saved_travel_pct"]
    extra = []
    if not walking.empty:
        w = walking.set_index("patch_id") if "patch_id" in walking.columns else walking
        keep = ["walk_visit_share", "walk_hours_share", "walking_carers", "walk_reach_share",
                "walk_class"]  # fmt: skip
        extra.append(w[[c for c in keep if c in w.columns]])
    if continuity is not None:
        extra.append(continuity)
    for frame in extra:
        table = table.join(frame.drop(index="total", errors="ignore"), how="left")
        if "total" in frame.index:
            for col in frame.columns:
                total[col] = frame.loc["total", col]
    capped = set(capped_patches)
    table["time_limit_reached"] = [float(p in capped) for p in table.index]
    total["time_limit_reached"] = float(bool(capped) or capped_elsewhere)
    table.loc["total"] = total
    if "walk_class" in table:
        table.loc["total", "walk_class"] = ""
    return table


def place_hours(
    blocks: gpd.GeoDataFrame, layout: pd.Series, block_demand: pd.DataFrame, inputs: StudyInputs
) -> pd.DataFrame:
    """Care hours a week by lot and place, to name lots by (:func:`patches.lot_names`).

    With a named neighbourhood layer, each block's hours count for its neighbourhood. Otherwise
    each person's hours count for the OSM place (city, town, suburb or village) nearest their home.
    Without either, there are no places (an empty table).

    Returns a DataFrame ``patch_id``, ``place``, ``hours_week``.
    """
    columns = ["patch_id", "place", "hours_week"]
    hoods = inputs.neighbourhoods
    if hoods is not None and "name" in hoods.columns and "neighbourhood_id" in blocks.columns:
        named = hoods.assign(id=hoods["id"].astype(str)).set_index("id")["name"]
        named = named[named.astype(str) != named.index]  # ids standing in for names say nothing
        if len(named):
            ids = blocks.set_index("block_id")["neighbourhood_id"].astype(str)
            return pd.DataFrame(
                {
                    "patch_id": layout.reindex(ids.index).to_numpy(),
                    "place": ids.map(named).to_numpy(),
                    "hours_week": block_demand["hours_week"]
                    .reindex(ids.index)
                    .fillna(0)
                    .to_numpy(),
                }
            )
    places = inputs.places
    if places is None or places.empty:
        return pd.DataFrame(columns=columns)
    places = places.loc[places["rank"] <= network.PLACE_RANK["village"], ["name", "geometry"]]
    visits = inputs.demand.visits
    hours = (visits["duration"] * visits["carers"] / 60.0).groupby(visits["person_id"]).sum()
    people = inputs.demand.people[["person_id", "geometry"]]
    people = gpd.sjoin(people, blocks[["block_id", "geometry"]], predicate="within")
    people = people.drop(columns="index_right").drop_duplicates("person_id")
    people = gpd.sjoin_nearest(people, places, how="left").drop_duplicates("person_id")
    return pd.DataFrame(
        {
            "patch_id": people["block_id"].map(layout).to_numpy(),
            "place": people["name"].to_numpy(),
            "hours_week": people["person_id"].map(hours).fillna(0).to_numpy(),
        }
    )


def run(
    scenario: Scenario,
    progress: Progress | None = None,
    *,
    layout: LotLayout | None = None,
    locks: LotLayout | None = None,
) -> StudyResult:
    """Run the whole chain for ``scenario`` and return every stage's output.

    Parameters
    ----------
    scenario : the study.
    progress : called with a message after each stage.
    layout : lots given instead of designed (e.g. edited by hand, :func:`patchplan.layout.read_layout`):
        checked against the blocks (:func:`patchplan.layout.check_layout`), scored with the same
        yardstick, then planned and compared like designed lots.
    locks : blocks kept in their lots while the rest are designed: added to ``[patches] locked``
        (the result's scenario carries them).
    """
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 2)
        clock = now
        if progress:
            progress(f"{name}: {timings[name]:.1f} s")
        raise_if_interrupted()  # a signal whose exception a solver's callback swallowed

    seed = scenario.study.seed
    inputs = load_inputs(scenario)
    lap("inputs")

    blocks = make_blocks(inputs, scenario)
    adjacency = boundaries.block_adjacency(blocks)
    block_demand = demand.demand_by_area(inputs.demand, blocks, id_column="block_id")
    account = build_account(
        inputs.demand, block_demand,
        {k: r for k, r in inputs.reports.items() if isinstance(r, boundaries.LayerReport)},
        addresses=inputs.addresses, areas=inputs.areas,
        population_column=scenario.inputs.population_column if scenario.inputs.source == "files" else None,
    )  # fmt: skip
    lap("blocks")

    if locks is not None:
        kept = lock_pairs(locks, blocks, scenario.patches.k)
        scenario = scenario.replace(patches={"locked": (*scenario.patches.lock_pairs(), *kept)})
    if layout is not None:
        design = patches.design_from_layout(
            check_layout(layout, blocks, adjacency, scenario.patches.k),
            blocks, adjacency, block_demand, inputs.travel["drive"], scenario.patches,
        )  # fmt: skip
    else:
        design = patches.design_patches(
            blocks, adjacency, block_demand, inputs.travel["drive"], scenario.patches, seed=seed
        )
    existing_layout, layouts = compare_with_existing(
        design, inputs.existing, blocks, adjacency, block_demand, inputs.travel["drive"], scenario
    )
    lap("patches")

    visits = inputs.demand.visits
    planned = visits[visits["day"].isin(scenario.study.days)]
    visit_patch, outside = visits_by_patch(planned, blocks, design.layout)
    planned = planned[planned["visit_id"].isin(visit_patch.index)]
    people = inputs.demand.people
    person_patch = (
        planned.drop_duplicates("person_id").set_index("person_id")["visit_id"].map(visit_patch)
    )
    people_in = people[people["person_id"].isin(person_patch.index)]

    proposed_alloc, proposed_providers = workforce.patch_allocation(
        people_in, person_patch, design.patches, scenario.workforce, seed
    )
    classes = walking_by_patch(
        planned, visit_patch, proposed_alloc, proposed_providers, inputs.travel, scenario
    )
    lap("walking reach")

    capped_proposed: set[str] = set()
    proposed = plan_arrangement(
        planned,
        proposed_alloc,
        proposed_providers,
        inputs.travel,
        scenario,
        walking_share_by_patch(
            classes, scenario.workforce.walking_share, design.patches["patch_id"].tolist()
        ),
        progress,
        "rounds (proposed)",
        capped=capped_proposed,
    )
    walking = feasibility.walking_figures(proposed.rounds, planned, visit_patch, classes)
    lap("rounds (proposed)")

    today_alloc, today_providers = workforce.baseline_allocation(
        people_in, scenario.workforce, seed
    )
    capped_today: set[str] = set()
    today = plan_arrangement(
        planned, today_alloc, today_providers, inputs.travel, scenario, 0.0, progress,
        "rounds (today)", capped=capped_today,
    )  # fmt: skip
    lap("rounds (today)")

    savings_table = savings.compare(
        today.rounds,
        proposed.rounds,
        planned,
        visit_patch,
        scenario.savings,
        len(scenario.study.days),
    )
    continuity = pd.concat(
        [rounds.continuity(today.rounds, visit_patch).add_prefix("today_"),
         rounds.continuity(proposed.rounds, visit_patch).add_prefix("proposed_")], axis=1,
    )  # fmt: skip
    continuity.index.name = "patch_id"
    names = patches.lot_names(place_hours(blocks, design.layout, block_demand, inputs))
    patch_of_provider = proposed_providers.set_index("provider_id")["patch_id"]
    summary = summarise(
        design, walking, savings_table, proposed_providers, names, continuity,
        capped_patches=sorted(patch_of_provider.reindex(sorted(capped_proposed)).dropna()),
        capped_elsewhere=bool(capped_today),
    )  # fmt: skip
    explained = savings.explain(savings_table, scenario.savings, scenario.baseline)
    calibration = baseline.calibration(savings_table, scenario.baseline)
    unserved = pd.concat([outside.assign(arrangement="both"), proposed.unserved.assign(arrangement="proposed"),
                          today.unserved.assign(arrangement="today")], ignore_index=True)  # fmt: skip
    lap("savings")
    return StudyResult(
        scenario=scenario,
        inputs=inputs,
        blocks=blocks,
        adjacency=adjacency,
        block_demand=block_demand,
        design=design,
        visit_patch=visit_patch,
        planned_visits=planned,
        proposed=proposed,
        today=today,
        walking=walking.reset_index(),
        savings=savings_table,
        summary=summary,
        unserved=unserved,
        timings_s=timings,
        existing_layout=existing_layout,
        layouts=layouts,
        explained=explained,
        baseline=calibration,
        account=account,
        continuity=continuity,
    )
