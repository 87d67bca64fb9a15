"""Everything a run would check, without running the chain: ``patchplan check``, and ``run``'s first step.

:func:`check_file` (or :func:`check_scenario` for a scenario already loaded) collects every problem
instead of stopping at the first:

* the scenario's settings: types, ranges and cross-field rules (each settings dataclass's
  ``problems()``, through :meth:`Scenario.parse <patchplan.scenario.Scenario.parse>`);
* every input file: present, readable, its columns, unique ids, a CRS stated in the file or
  declared by ``[inputs] <layer>_crs``, and that it overlaps the study area (the ``areas`` layer),
  so a layer with swapped latitude and longitude, from another region, or in British National Grid
  in a GeoJSON without a CRS is named (:func:`overlap_problem`);
* the people and visits: both or neither, readable, and some rows usable (rejected rows are notes:
  a run carries on without them and counts them in the inputs account);
* the outputs folders: writable, and not in use by another run.

Problems make ``check`` exit 2 and stop ``run`` before it starts; notes are printed and kept.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from patchplan import GB_EXTENT_M
from patchplan.errors import PatchplanError, ScenarioError
from patchplan.scenario import FILE_KEYS, Scenario

__all__ = ["CheckReport", "check_file", "check_scenario", "overlap_problem"]

MIN_OVERLAP_SHARE = 0.001
"""A polygon layer overlaps the study area when their intersection is at least this share of the
smaller of the two (a shared edge or a sliver is not an overlap)."""


@dataclass
class CheckReport:
    """What :func:`check_file` found.

    Attributes
    ----------
    scenario : the scenario as loaded (keys that could not be used keep their defaults), or None
        when the file could not be read at all.
    problems : every problem, each naming the file, table and key or input file.
    notes : things a run carries on past but reports (rejected rows, renamed study name).
    """

    scenario: Scenario | None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing stops a run."""
        return not self.problems

    def raise_for_problems(self) -> Scenario:
        """The scenario, or a :class:`ScenarioError` listing every problem."""
        if self.problems or self.scenario is None:
            raise ScenarioError(*(self.problems or ["scenario could not be read"]))
        return self.scenario


def check_file(path: str | os.PathLike[str]) -> CheckReport:
    """Check a scenario file and everything it names; see the module docstring."""
    file = Path(path)
    if not file.is_file():
        return CheckReport(None, [f"scenario file not found: {file}"])
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        return CheckReport(None, [f"{file.name}: not valid TOML: {exc}"])
    scenario, problems = Scenario.parse(data, file.resolve())
    report = check_scenario(scenario, settings=False)
    report.problems[:0] = problems
    raw_name = data.get("study", {}).get("name") if isinstance(data.get("study"), dict) else None
    if isinstance(raw_name, str) and raw_name != scenario.study.name:
        report.notes.append(
            f"[study] name {raw_name!r} is used in file names as {scenario.study.name!r}"
        )
    return report


def check_scenario(scenario: Scenario, *, settings: bool = True) -> CheckReport:
    """Check a loaded scenario's inputs and outputs (and its settings unless ``settings=False``)."""
    report = CheckReport(scenario, list(scenario.problems()) if settings else [])
    if scenario.inputs.source == "files":
        _InputCheck(scenario, report).run()
    report.problems.extend(_output_problems(scenario))
    report.problems.extend(_sweep_problems(scenario))
    return report


def _sweep_problems(scenario: Scenario) -> list[str]:
    """Every varied key and value of ``[sweep]``, checked as the sweep would plan them."""
    if scenario.sweep is None or not scenario.sweep.vary:
        return []
    from patchplan.sweep import plan_variants

    try:
        plan_variants(scenario)
    except PatchplanError as exc:
        return [str(exc)]
    return []


# --------------------------------------------------------------------------------------------------
# overlap with the study area


def _extent(bounds: Any) -> str:
    xmin, ymin, xmax, ymax = bounds
    return f"x {xmin:,.0f}..{xmax:,.0f}, y {ymin:,.0f}..{ymax:,.0f}"


def overlap_problem(
    key: str, label: str, geometry: gpd.GeoSeries | BaseGeometry, study_area: BaseGeometry,
    study_label: str,
) -> str | None:  # fmt: skip
    """A problem naming ``key`` and its file ``label`` when it does not overlap the study area.

    Polygons must share at least :data:`MIN_OVERLAP_SHARE` of the smaller area with it; points
    (or a network's extent box) must have one point inside it. Both in EPSG:27700.
    """
    shapes = geometry if isinstance(geometry, BaseGeometry) else geometry.union_all()
    if shapes is None or shapes.is_empty or study_area.is_empty:
        return None
    polygonal = shapes.geom_type in ("Polygon", "MultiPolygon")
    if polygonal:
        smaller = min(shapes.area, study_area.area)
        overlaps = shapely.intersection(shapes, study_area).area >= MIN_OVERLAP_SHARE * smaller
    else:
        overlaps = shapely.intersects(shapes, study_area)
    if overlaps:
        return None
    away = shapely.distance(shapely.envelope(shapes), shapely.envelope(study_area)) / 1000
    where = f"{away:,.0f} km from it" if away >= 1 else "beside it"
    return (
        f"[inputs] {key} {label} does not overlap the study area ({study_label}, "
        f"{_extent(study_area.bounds)} in EPSG:27700): it lies at {_extent(shapes.bounds)}, "
        f"{where}. Is its CRS right (latitude and longitude swapped, or British National Grid "
        f"metres read as degrees?), or is it another region?"
    )


# --------------------------------------------------------------------------------------------------
# inputs


class _InputCheck:
    """The ``[inputs]`` files of one scenario, each opened once, problems collected."""

    def __init__(self, scenario: Scenario, report: CheckReport) -> None:
        self.scenario, self.report = scenario, report
        self.inputs = scenario.inputs
        self.study_area: BaseGeometry | None = None
        self.study_label = ""

    def problem(self, text: str) -> None:
        self.report.problems.append(text)

    def must_overlap(self, key: str, label: str, geometry: gpd.GeoSeries | BaseGeometry) -> None:
        """A problem when ``key``'s file ``label`` misses the study area (once there is one)."""
        if self.study_area is not None:
            found = overlap_problem(key, label, geometry, self.study_area, self.study_label)
            if found:
                self.problem(found)

    def run(self) -> None:
        paths = self.paths()
        self.check_areas(paths.get("areas"))
        for key, id_column, name_column in (
            ("pcns", self.inputs.pcn_id, None),
            (
                "neighbourhoods",
                self.inputs.neighbourhood_id,
                self.inputs.neighbourhood_name or None,
            ),
            ("existing", self.inputs.existing_id, None),
        ):
            if key in paths:
                self.check_layer(key, paths[key], id_column, name_column)
        practices = self.check_practices(paths.get("practices"))
        self.check_pcn_column(practices)
        postcodes = self.check_addresses(paths.get("addresses"))
        if "people" in paths and "visits" in paths:
            self.check_caseload(paths["people"], paths["visits"], postcodes)
        if "network" in paths:
            self.check_network(paths["network"])

    def paths(self) -> dict[str, Path]:
        """Every file key that names an existing file; a missing one is a problem."""
        found = {}
        for key in FILE_KEYS:
            try:
                path = self.scenario.input_path(key)
            except (ValueError, OSError) as exc:
                self.problem(f"[inputs] {key}: not a usable path ({exc})")
                continue
            if path is None:
                continue
            if not path.exists():
                self.problem(f"[inputs] {key}: file not found: {path}")
            elif not path.is_file():
                self.problem(f"[inputs] {key}: is a folder, not a file: {path}")
            elif not os.access(path, os.R_OK):
                self.problem(f"[inputs] {key}: cannot be read: {path}")
            else:
                found[key] = path
        return found

    def crs(self, key: str) -> str | None:
        return getattr(self.inputs, f"{key}_crs") or None

    def load(self, key: str, path: Path, id_column: str, name_column: str | None = None):
        from patchplan.boundaries import load_layer

        try:
            frame, _ = load_layer(
                path, id_column, name_column, self.crs(key), check_topology=False,
                crs_key=f"[inputs] {key}_crs",
            )  # fmt: skip
        except PatchplanError as exc:
            self.problem(f"[inputs] {key}: {exc}")
            return None
        return frame

    def check_areas(self, path: Path | None) -> None:
        if path is None:
            return
        areas = self.load("areas", path, self.inputs.area_id)
        if areas is None:
            return
        union = areas.union_all()
        gb = shapely.box(*GB_EXTENT_M)
        if not union.intersects(gb):
            self.problem(
                f"[inputs] areas {path.name} lies outside Great Britain ({_extent(union.bounds)} in "
                "EPSG:27700): is its CRS right (latitude and longitude swapped?)"
            )
            return
        self.study_area, self.study_label = union, f"areas {path.name}"
        if not self.inputs.real_caseload:
            self.check_population(areas, path)

    def check_population(self, areas: gpd.GeoDataFrame, path: Path) -> None:
        inp = self.inputs
        for key in ("population_column", "deprivation_column"):
            column = getattr(inp, key)
            if column and column not in areas.columns:
                self.problem(f"[inputs] {key}: {path.name} has no column {column!r}")
        if inp.population_column not in areas.columns:
            return
        population = pd.to_numeric(areas[inp.population_column], errors="coerce")
        unusable = int((population.isna() | (population < 0)).sum())
        if not (population > 0).any():
            self.problem(
                f"[inputs] population_column: {path.name} column {inp.population_column!r} has no "
                "positive values, so no caseload can be synthesised"
            )
        elif unusable:
            self.report.notes.append(
                f"areas {path.name}: {unusable} areas have no usable {inp.population_column!r} "
                "(missing or negative) and get no synthetic people; the inputs account counts them"
            )

    def check_layer(self, key: str, path: Path, id_column: str, name_column: str | None) -> None:
        frame = self.load(key, path, id_column, name_column)
        if frame is not None:
            self.must_overlap(key, path.name, frame.geometry)

    def check_practices(self, path: Path | None) -> gpd.GeoDataFrame | None:
        if path is None:
            return None
        from patchplan.boundaries import load_points

        try:
            practices = load_points(path, self.crs("practices"), crs_key="[inputs] practices_crs")
        except PatchplanError as exc:
            self.problem(f"[inputs] practices: {exc}")
            return None
        self.must_overlap("practices", path.name, practices.geometry)
        return practices

    def check_pcn_column(self, practices: gpd.GeoDataFrame | None) -> None:
        column = self.inputs.pcn_column
        areas = self.scenario.input_path("areas")
        if not column or areas is None or not areas.is_file():
            return
        try:
            import pyogrio

            in_areas = column in pyogrio.read_info(areas)["fields"]
        except Exception:  # unreadable: already a problem of its own
            return
        if not in_areas and (practices is None or column not in practices.columns):
            self.problem(
                f"[inputs] pcn_column: {column!r} is a column of neither areas nor practices"
            )

    def check_addresses(self, path: Path | None) -> gpd.GeoDataFrame | None:
        if path is None:
            return None
        from patchplan.demand import load_postcodes

        try:
            postcodes = load_postcodes(path)
        except PatchplanError as exc:
            self.problem(f"[inputs] addresses: {exc}")
            return None
        if len(postcodes) == 0:
            self.problem(f"[inputs] addresses: {path.name} has no postcode with coordinates")
        else:
            self.must_overlap("addresses", path.name, postcodes.geometry)
        return postcodes

    def check_caseload(self, people: Path, visits: Path, postcodes) -> None:
        from patchplan.demand import load_demand

        try:
            caseload = load_demand(people, visits, postcodes, crs=self.crs("people"))
        except PatchplanError as exc:
            self.problem(f"[inputs] people/visits: {exc}")
            return
        if len(caseload.visits) == 0:
            self.problem(
                f"[inputs] visits: no usable visit in {visits.name} with {people.name} "
                f"({len(caseload.rejects)} rows rejected, e.g. "
                f"{'; '.join(caseload.rejects['reason'].head(3))})"
            )
            return
        if len(caseload.rejects):
            counts = caseload.rejects.groupby(["source", "kind"]).size()
            self.report.notes.append(
                "rows a run will leave out (listed in rejects.csv, counted in the inputs account): "
                + "; ".join(f"{src} {kind}: {n}" for (src, kind), n in counts.items())
            )
        self.must_overlap("people", people.name, caseload.people.geometry)

    def check_network(self, path: Path) -> None:
        from patchplan.network import file_extent

        try:
            extent = file_extent(path)
        except PatchplanError as exc:
            self.problem(f"[inputs] network: {exc}")
            return
        if extent is None:
            self.problem(f"[inputs] network: {path.name} holds no nodes")
        elif not np.isfinite(extent).all():
            self.problem(f"[inputs] network: {path.name} cannot be placed in British National Grid")
        else:
            self.must_overlap("network", path.name, shapely.box(*extent))


# --------------------------------------------------------------------------------------------------
# outputs


def _output_problems(scenario: Scenario) -> list[str]:
    """The outputs folders can be written (trying it in the nearest folder that exists) and no
    other run holds them."""
    from patchplan.io import lock_holder

    problems = []
    for key in ("dir", "maps_dir"):
        if not getattr(scenario.outputs, key):
            continue  # maps_dir "" = the maps go under dir
        folder = Path(getattr(scenario.outputs, key))
        existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
        if not existing.is_dir():
            problems.append(
                f"[outputs] {key}: cannot write {folder}: {existing} is a file, not a folder"
            )
            continue
        try:
            with tempfile.TemporaryFile(dir=existing, prefix=".patchplan-check-"):
                pass
        except OSError as exc:
            problems.append(f"[outputs] {key}: cannot write {folder} ({existing}: {exc.strerror})")
            continue
        holder = lock_holder(folder) if key == "dir" else None
        if holder is not None:
            problems.append(
                f"[outputs] {key}: {folder} is in use by another patchplan run (pid {holder})"
            )
    return problems
