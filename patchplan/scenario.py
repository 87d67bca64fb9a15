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

from patchplan.errors import ScenarioError


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


@dataclass(frozen=True)
class OutputSettings:
    """Where results go.

    Attributes
    ----------
    dir : output folder (relative to the working directory)
    maps_dir : folder for the HTML maps
    internal_maps : also write the INTERNAL rounds map (shows individual visit locations)
    """

    dir: str = "outputs"
    maps_dir: str = "outputs/maps"
    internal_maps: bool = True


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


def build_settings(cls: type, table: dict[str, Any], where: str) -> Any:
    """Build the settings dataclass ``cls`` from a TOML table, naming any bad key."""
    if not isinstance(table, dict):
        raise ScenarioError(f"{where}: expected a table, got {table!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - fields)
    if unknown:
        raise ScenarioError(
            f"{where}: unknown key {unknown[0]!r} (known keys: {', '.join(sorted(fields))})"
        )
    values = {key: _coerce(value, hints[key], f"{where} {key}") for key, value in table.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"{where}: {exc}") from exc


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
    outputs: OutputSettings = field(default_factory=OutputSettings)
    path: Path | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path | None = None) -> Scenario:
        """Validate a parsed TOML document; missing tables take every default."""
        name = path.name if path else "scenario"
        unknown = sorted(set(data) - set(SECTIONS))
        if unknown:
            raise ScenarioError(
                f"{name}: unknown table [{unknown[0]}] (known tables: {', '.join(SECTIONS)})"
            )
        settings = {
            section: build_settings(
                _settings_class(section), data.get(section, {}), f"{name} [{section}]"
            )
            for section in SECTIONS
        }
        return cls(**settings, path=path)

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
        return dataclasses.replace(self, **updates)
