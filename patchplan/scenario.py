"""One scenario file (TOML) describing a study's inputs and settings, validated once at load.

Each TOML table maps onto the settings dataclass of the stage that owns it, by field name::

    [study]        StudySettings        (this module)
    [inputs]       InputSettings        (this module)
    [network]      network.NetworkSettings
    [demand]       demand.DemandSettings
    [patches]      patches.PatchSettings
    [rounds]       rounds.RoundsSettings
    [feasibility]  feasibility.FeasibilitySettings
    [workforce]    workforce.WorkforceSettings
    [savings]      savings.SavingsSettings
    [sweep]        sweep.SweepSettings  (what-if studies: ``patchplan sweep``)
    [baseline]     baseline.BaselineSettings
    [outputs]      OutputSettings       (this module)

A key that is not a field, or a value of the wrong type, is a :class:`ScenarioError` naming the file,
the table and the key. Relative paths in ``[inputs]`` resolve against ``inputs.base_dir``, which itself
resolves against the scenario file's folder; ``$VARS``, ``${VAR:-default}`` (the default when the
variable is unset or empty) and ``~`` are expanded.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from patchplan._validate import at_least, between, collect, one_of, unique
from patchplan.errors import PatchplanError, ScenarioError
from patchplan.io import safe_name


@dataclass(frozen=True)
class StudySettings:
    """What the study is.

    Attributes
    ----------
    name : short name, used for output file names
    title : the title shown on maps and in the report
    seed : seed for every random choice (same seed, same results)
    days : days of the week to plan rounds for (0 = Monday); all seven by default, planned as a
        weekly rota; with fewer, figures are scaled up to a week
    synthetic : True when the people and visits are generated, not real; shown on every output
    notes : free text shown in the report's method notes
    """

    name: str = "study"
    title: str = "patchplan study"
    seed: int = 0
    days: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)
    synthetic: bool = True
    notes: str = ""

    def __post_init__(self) -> None:
        # the name becomes file names: keep it a plain name inside the outputs folder
        object.__setattr__(self, "name", safe_name(self.name))

    def problems(self) -> list[str]:
        """Range and cross-field problems of these settings, each naming its key (empty when valid)."""
        return collect(
            None
            if self.days
            else "days must list at least one day to plan (0 = Monday … 6 = Sunday)",
            (between(f"days[{i}]", d, 0, 6) for i, d in enumerate(self.days)),
            unique("days", self.days),
            at_least("seed", self.seed, 0),
        )


@dataclass(frozen=True)
class InputSettings:
    """Where the data comes from. ``source = "town"`` uses the embedded synthetic town.

    Attributes
    ----------
    source : "town" (embedded synthetic demo) or "files"
    base_dir : folder that relative paths below resolve against
    network : OpenStreetMap .osm/.osm.pbf/.graphml file; "" uses the labelled straight-line estimate
    areas : small areas with population (e.g. LSOAs), used for demand and as blocks if no neighbourhoods
    area_id : id column in ``areas``
    population_column : residents aged 65+ in ``areas``
    deprivation_column : IMD decile or rank in ``areas`` ("" for none)
    pcn_column : column in ``areas`` that names each area's PCN ("" when ``pcns`` is a layer); when
        ``areas`` lacks it but ``practices`` has it, each area takes its nearest practice's PCN
    pcns : PCN boundary layer ("" when ``pcn_column`` is used)
    pcn_id : id column in ``pcns``
    neighbourhoods : neighbourhood layer ("" to use the small areas as neighbourhoods)
    neighbourhood_id : id column in ``neighbourhoods``
    neighbourhood_name : name column in ``neighbourhoods``
    addresses : Code-Point Open style postcode CSV for placing people ("" for random points in areas)
    people, visits : a real caseload (CSV or GeoPackage); "" to synthesise one
    existing : today's patch or locality layer to score alongside ours ("" for none)
    existing_id : id column in ``existing``
    practices : GP practice points (optional; shown on maps)
    areas_crs, pcns_crs, neighbourhoods_crs, existing_crs, people_crs, practices_crs : the CRS
        (e.g. ``"EPSG:27700"``) of that layer's file when the file states none; also used when a
        GeoJSON's implied WGS84 cannot hold its coordinates (British National Grid metres in a
        GeoJSON without a ``crs`` member). A file that states its own CRS keeps it.

    A people file needs a visits file and the other way round: patchplan does not invent visits
    for real people; with neither, the caseload is synthesised (``[demand]``).
    """

    source: str = "town"
    base_dir: str = "."
    network: str = ""
    areas: str = ""
    area_id: str = "id"
    population_column: str = "pop_65plus"
    deprivation_column: str = ""
    pcn_column: str = ""
    pcns: str = ""
    pcn_id: str = "id"
    neighbourhoods: str = ""
    neighbourhood_id: str = "id"
    neighbourhood_name: str = ""
    addresses: str = ""
    people: str = ""
    visits: str = ""
    existing: str = ""
    existing_id: str = "id"
    practices: str = ""
    areas_crs: str = ""
    pcns_crs: str = ""
    neighbourhoods_crs: str = ""
    existing_crs: str = ""
    people_crs: str = ""
    practices_crs: str = ""

    def problems(self) -> list[str]:
        """Range and cross-field problems of these settings, each naming its key (empty when valid)."""
        files = self.source == "files"
        return collect(
            one_of("source", self.source, SOURCES),
            (f"{key} contains a NUL character" for key in FILE_KEYS if "\0" in getattr(self, key)),
            (_crs_problem(f"{key}_crs", getattr(self, f"{key}_crs")) for key in CRS_KEYS),
            None
            if not files or self.areas
            else "areas: a small-area layer with population is required when source = 'files'",
            None
            if not files or self.pcn_column or self.pcns
            else "pcns: give either a pcns layer or a pcn_column in areas",
            None
            if not files or bool(self.people) == bool(self.visits)
            else (
                "people: a people file needs a visits file (patchplan does not invent visits for "
                "real people): give visits, or remove people to synthesise a caseload"
                if self.people
                else "visits: a visits file needs the people file that locates them: give people"
            ),
        )

    @property
    def real_caseload(self) -> bool:
        """True when people and visits are read from files rather than synthesised."""
        return self.source == "files" and bool(self.people) and bool(self.visits)


SOURCES = ("town", "files")
FILE_KEYS = ("network", "areas", "pcns", "neighbourhoods", "addresses", "people", "visits",
             "existing", "practices")  # fmt: skip
"""``[inputs]`` keys that name a file."""
CRS_KEYS = ("areas", "pcns", "neighbourhoods", "existing", "people", "practices")
"""``[inputs]`` layer keys that take a ``<key>_crs`` for files without a CRS."""


def _crs_problem(key: str, value: str) -> str | None:
    if not value:
        return None
    from pyproj import CRS as ProjCRS
    from pyproj.exceptions import CRSError

    try:
        ProjCRS.from_user_input(value)
    except CRSError:
        return f"{key} {value!r} is not a CRS (e.g. 'EPSG:27700' for British National Grid)"
    return None


@dataclass(frozen=True)
class OutputSettings:
    """Where results go.

    Attributes
    ----------
    dir : output folder (relative to the working directory); a study writes to
        ``<dir>/<name>/published`` and ``<dir>/<name>/INTERNAL``
    maps_dir : folder for the published HTML maps ("" = ``<dir>/<name>/published/maps``); the
        INTERNAL rounds map always goes to the INTERNAL folder
    internal_maps : also write the INTERNAL rounds map (shows individual visit locations)
    round_sheets : also write carers' run sheets, GPX tracks, Excel-friendly rounds and rotas and
        the planner's map, under ``<dir>/<name>/INTERNAL/rounds`` (they locate individual homes)
    gpx_week_start : the Monday (ISO date, ``YYYY-MM-DD``) of the week the planned days fall in,
        for the date and time of GPX waypoints: the study plans days of the week (0 = Monday) with
        no calendar date, so day ``d`` is this date + ``d`` days, times UK local clock time
    """

    dir: str = "outputs"
    maps_dir: str = ""
    internal_maps: bool = True
    round_sheets: bool = True
    gpx_week_start: str = "2024-01-01"

    def __post_init__(self) -> None:
        import datetime

        try:
            monday = datetime.date.fromisoformat(self.gpx_week_start)
        except ValueError:
            raise ValueError(
                f"gpx_week_start: expected a date such as 2024-01-01, got {self.gpx_week_start!r}"
            ) from None
        if monday.weekday() != 0:
            raise ValueError(
                f"gpx_week_start: {self.gpx_week_start} is a {monday:%A}; give the Monday of the week"
            )

    def problems(self) -> list[str]:
        """Problems of these settings, each naming its key (empty when valid)."""
        return collect(
            None if self.dir.strip() else "dir must name a folder",
        )


def settings_problems(section: str, settings: Any) -> list[str]:
    """Range and cross-field problems of one section's settings, each naming its key."""
    own = getattr(settings, "problems", None)
    return list(own()) if callable(own) else []


SECTIONS: dict[str, tuple[str, str]] = {
    "study": ("patchplan.scenario", "StudySettings"),
    "inputs": ("patchplan.scenario", "InputSettings"),
    "network": ("patchplan.network", "NetworkSettings"),
    "demand": ("patchplan.demand", "DemandSettings"),
    "patches": ("patchplan.patches", "PatchSettings"),
    "rounds": ("patchplan.rounds", "RoundsSettings"),
    "feasibility": ("patchplan.feasibility", "FeasibilitySettings"),
    "workforce": ("patchplan.workforce", "WorkforceSettings"),
    "savings": ("patchplan.savings", "SavingsSettings"),
    "sweep": ("patchplan.sweep", "SweepSettings"),
    "baseline": ("patchplan.baseline", "BaselineSettings"),
    "outputs": ("patchplan.scenario", "OutputSettings"),
}


_DEFAULTED_VAR = re.compile(r"\$\{(\w+):-([^}]*)\}")


def _expand(text: str) -> str:
    """Expand ``${VAR:-default}``, then ``$VAR``/``${VAR}`` and ``~``, as a POSIX shell would."""
    text = _DEFAULTED_VAR.sub(lambda m: os.environ.get(m[1]) or m[2], text)
    return os.path.expanduser(os.path.expandvars(text))


def _settings_class(section: str) -> type:
    module, name = SECTIONS[section]
    return getattr(importlib.import_module(module), name)


def _describe(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert TOML forms (lists → tuples)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in args:
            if option is type(None):
                if value is None:
                    return None
                continue
            try:
                return _coerce(value, option, where)
            except ScenarioError as exc:
                errors.append(str(exc))
        raise ScenarioError(errors[0] if errors else f"{where}: unexpected value {value!r}")
    if tp is typing.Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ScenarioError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(f"{where}: expected a whole number, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScenarioError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ScenarioError(f"{where}: expected text, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ScenarioError(f"{where}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ScenarioError(f"{where}: expected a list of {len(args)} values, got {value!r}")
        return tuple(
            _coerce(v, a, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if origin is dict:
        if not isinstance(value, dict):
            raise ScenarioError(f"{where}: expected a table, got {value!r}")
        key_tp, val_tp = args or (str, Any)
        return {
            _coerce(k, key_tp, where): _coerce(v, val_tp, f"{where}.{k}") for k, v in value.items()
        }
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ScenarioError(f"{where}: expected {_describe(tp)}, got {value!r}")
    return value


def collect_settings(cls: type, table: Any, where: str, section: str = "") -> tuple[Any, list[str]]:
    """Build the settings dataclass ``cls`` from a TOML table, with every problem found.

    A key that is unknown, ill-typed or out of range is named in the problems (prefixed with
    ``where``); the object returned keeps the default for a key that could not be used, so later
    checks can still run.
    """
    if not isinstance(table, dict):
        return cls(), [f"{where}: expected a table, got {table!r}"]
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    problems = [
        f"{where}: unknown key {key!r} (known keys: {', '.join(sorted(fields))})"
        for key in sorted(set(table) - fields, key=str)
    ]
    values = {}
    for key in sorted(set(table) & fields):
        try:
            values[key] = _coerce(table[key], hints[key], f"{where} {key}")
        except ScenarioError as exc:
            problems.extend(exc.problems)
    try:
        settings = cls(**values)
    except (TypeError, ValueError, PatchplanError) as exc:
        return cls(), [*problems, f"{where}: {exc}"]
    problems.extend(f"{where} {p}" for p in settings_problems(section, settings))
    return settings, problems


def build_settings(cls: type, table: dict[str, Any], where: str, section: str = "") -> Any:
    """Build the settings dataclass ``cls`` from a TOML table; a :class:`ScenarioError` names every bad key."""
    settings, problems = collect_settings(cls, table, where, section)
    if problems:
        raise ScenarioError(*problems)
    return settings


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: one settings object per stage, plus where it was read from."""

    study: StudySettings = field(default_factory=StudySettings)
    inputs: InputSettings = field(default_factory=InputSettings)
    network: Any = None
    demand: Any = None
    patches: Any = None
    rounds: Any = None
    feasibility: Any = None
    workforce: Any = None
    savings: Any = None
    sweep: Any = None
    baseline: Any = None
    outputs: OutputSettings = field(default_factory=OutputSettings)
    path: Path | None = None

    @classmethod
    def parse(cls, data: dict[str, Any], path: Path | None = None) -> tuple[Scenario, list[str]]:
        """A scenario from a parsed TOML document, and every problem found in it.

        Keys that could not be used keep their defaults in the scenario returned, so the inputs
        can still be checked (``patchplan check`` reports everything at once).
        """
        name = path.name if path else "scenario"
        problems = [
            f"{name}: unknown table [{table}] (known tables: {', '.join(SECTIONS)})"
            for table in sorted(set(data) - set(SECTIONS), key=str)
        ]
        settings = {}
        for section in SECTIONS:
            settings[section], found = collect_settings(
                _settings_class(section), data.get(section, {}), f"{name} [{section}]", section
            )
            problems.extend(found)
        scenario = cls(**settings, path=path)
        problems.extend(f"{name} {p}" for p in scenario.cross_problems())
        return scenario, problems

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path | None = None) -> Scenario:
        """Validate a parsed TOML document; missing tables take every default.

        Raises
        ------
        ScenarioError
            Naming every unknown table, unknown, ill-typed or out-of-range key and broken
            cross-field rule (``.problems`` lists them).
        """
        scenario, problems = cls.parse(data, path)
        if problems:
            raise ScenarioError(*problems)
        return scenario

    def problems(self) -> list[str]:
        """Every range and cross-field problem of this scenario's settings."""
        found = [
            f"[{section}] {p}"
            for section in SECTIONS
            for p in settings_problems(section, getattr(self, section))
        ]
        return found + self.cross_problems()

    def cross_problems(self) -> list[str]:
        """Rules between sections: what the study plans must exist in what it reads or makes."""
        study, inputs, caseload = self.study, self.inputs, self.demand
        problems = []
        if inputs.real_caseload and study.synthetic:
            problems.append(
                "[study] synthetic = true, but [inputs] people and visits are a real caseload: "
                "set synthetic = false"
            )
        if not inputs.real_caseload and not study.synthetic:
            problems.append(
                "[study] synthetic = false, but the caseload is generated (no [inputs] people and "
                "visits): set synthetic = true, so every output says so"
            )
        if not inputs.real_caseload and caseload is not None:
            missing = [d for d in study.days if isinstance(d, int) and d >= caseload.days]
            if missing:
                problems.append(
                    f"[study] days {missing} have no visits: the synthetic caseload has visits on "
                    f"days 0-{caseload.days - 1} only ([demand] days = {caseload.days})"
                )
        return problems

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Scenario:
        """Read and validate a scenario file."""
        file = Path(path)
        if not file.is_file():
            raise ScenarioError(f"scenario file not found: {file}")
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(f"{file.name}: not valid TOML: {exc}") from exc
        return cls.from_dict(data, file.resolve())

    @classmethod
    def example(cls, name: str) -> Scenario:
        """Load a scenario shipped in ``patchplan/examples`` (``demo``, ``rutland``, ``sheffield``)."""
        ref = resources.files("patchplan.examples") / f"{name}.toml"
        if not ref.is_file():
            raise ScenarioError(f"no example scenario called {name!r}")
        with resources.as_file(ref) as file:
            return cls.load(file)

    def input_path(self, key: str) -> Path | None:
        """The resolved path of an ``[inputs]`` file key, or None when the key is empty."""
        value = getattr(self.inputs, key)
        if not value:
            return None
        here = self.path.parent if self.path else Path.cwd()
        base = Path(_expand(self.inputs.base_dir))
        base = base if base.is_absolute() else here / base
        file = Path(_expand(value))
        return (file if file.is_absolute() else base / file).resolve()

    def replace(self, **sections: Any) -> Scenario:
        """A copy with whole sections or single settings replaced, e.g. ``replace(patches={"k": 4})``."""
        updates = {}
        for section, value in sections.items():
            current = getattr(self, section)
            updates[section] = (
                dataclasses.replace(current, **value) if isinstance(value, dict) else value
            )
        changed = dataclasses.replace(self, **updates)
        problems = changed.problems()
        if problems:
            raise ScenarioError(*problems)
        return changed
