"""A small study generated into a folder: boundary layers, a caseload and a scenario file.

Four 1 km squares of small areas near Sheffield (British National Grid), two PCNs (west and
east), two neighbourhoods (south and north), and 12 people (3 per square) with one visit each on
Monday. Tests change one thing (a column name, a CRS, a far-away layer, a bad setting) and check
that it is named. Nothing here reads ../shared.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from shapely.geometry import box

X0, Y0 = 430_000.0, 385_000.0
"""South-west corner of the study area (EPSG:27700, m): Sheffield."""
KM = 1000.0


def squares() -> gpd.GeoDataFrame:
    """Four small areas A1 (SW), A2 (SE), A3 (NW), A4 (NE) with a 65+ population."""
    cells = [(0, 0), (1, 0), (0, 1), (1, 1)]
    return gpd.GeoDataFrame(
        {"code": ["A1", "A2", "A3", "A4"], "pop": [100, 120, 80, 90]},
        geometry=[
            box(X0 + i * KM, Y0 + j * KM, X0 + (i + 1) * KM, Y0 + (j + 1) * KM) for i, j in cells
        ],
        crs="EPSG:27700",
    )


def pcns() -> gpd.GeoDataFrame:
    """Two PCNs: west and east halves."""
    return gpd.GeoDataFrame(
        {"code": ["PCN1", "PCN2"]},
        geometry=[box(X0, Y0, X0 + KM, Y0 + 2 * KM), box(X0 + KM, Y0, X0 + 2 * KM, Y0 + 2 * KM)],
        crs="EPSG:27700",
    )


def neighbourhoods() -> gpd.GeoDataFrame:
    """Two neighbourhoods: south and north halves."""
    return gpd.GeoDataFrame(
        {"code": ["N1", "N2"], "label": ["South", "North"]},
        geometry=[box(X0, Y0, X0 + 2 * KM, Y0 + KM), box(X0, Y0 + KM, X0 + 2 * KM, Y0 + 2 * KM)],
        crs="EPSG:27700",
    )


def people() -> pd.DataFrame:
    """Three people in each square, at easting/northing."""
    rows = []
    for n, (i, j) in enumerate([(0, 0), (1, 0), (0, 1), (1, 1)]):
        for k in range(3):
            rows.append(
                {
                    "person_id": f"P{3 * n + k + 1:02d}",
                    "easting": X0 + i * KM + 250 + 250 * k,
                    "northing": Y0 + j * KM + 300 + 200 * k,
                }
            )
    return pd.DataFrame(rows)


def visits(people_table: pd.DataFrame) -> pd.DataFrame:
    """One 30-minute morning visit each on Monday."""
    return pd.DataFrame(
        {
            "visit_id": [f"V{p}" for p in people_table["person_id"]],
            "person_id": people_table["person_id"],
            "day": 0,
            "earliest": "08:00",
            "latest": "10:30",
            "duration": 30,
            "carers": 1,
        }
    )


def write_layer(frame: gpd.GeoDataFrame, path: Path) -> Path:
    """Write a layer (GeoPackage or GeoJSON by suffix)."""
    frame.to_file(path, engine="pyogrio")
    return path


def write_geojson_without_crs(frame: gpd.GeoDataFrame, path: Path) -> Path:
    """A GeoJSON whose coordinates are the frame's own (e.g. BNG metres) and with no ``crs`` member."""
    data = json.loads(frame.to_json(drop_id=True))
    data.pop("crs", None)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def toml_value(value: Any) -> str:
    """A Python value as TOML (strings, numbers, booleans and lists of them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic strings
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(value)


def toml_text(sections: dict[str, dict[str, Any]]) -> str:
    """Sections of key = value as a TOML document."""
    out = []
    for name, table in sections.items():
        out.append(f"[{name}]")
        out.extend(f"{key} = {toml_value(value)}" for key, value in table.items())
    return "\n".join(out) + "\n"


def scenario_sections(**changes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The generated study's scenario tables, with ``changes`` merged per table (None drops a key)."""
    sections: dict[str, dict[str, Any]] = {
        "study": {"name": "generated", "title": "Generated study", "seed": 1, "days": [0],
                  "synthetic": False},
        "inputs": {"source": "files", "base_dir": ".", "areas": "areas.gpkg", "area_id": "code",
                   "population_column": "pop", "pcns": "pcns.gpkg", "pcn_id": "code",
                   "neighbourhoods": "neighbourhoods.gpkg", "neighbourhood_id": "code",
                   "neighbourhood_name": "label", "people": "people.csv", "visits": "visits.csv"},
        "patches": {"k": 2, "time_limit_s": 2.0, "balance_tolerance": 0.2},
        "rounds": {"time_limit_s": 5.0, "solution_limit": 100, "seed_iterations": 100,
                   "workers": 1},
        "workforce": {"providers_today": 2, "providers_per_patch": 1},
        "outputs": {"dir": "out", "maps_dir": "out/maps", "internal_maps": False},
    }  # fmt: skip
    for name, table in changes.items():
        merged = {**sections.get(name, {}), **table}
        sections[name] = {k: v for k, v in merged.items() if v is not None}
    return sections


def write_study(folder: Path, **changes: dict[str, Any]) -> Path:
    """Write the scenario into ``folder`` with the generated study's files it lacks (files already
    there, e.g. broken on purpose by a test, are kept); return the scenario path."""
    folder.mkdir(parents=True, exist_ok=True)
    table = people()
    for name, write in (
        ("areas.gpkg", lambda path: write_layer(squares(), path)),
        ("pcns.gpkg", lambda path: write_layer(pcns(), path)),
        ("neighbourhoods.gpkg", lambda path: write_layer(neighbourhoods(), path)),
        ("people.csv", lambda path: table.to_csv(path, index=False)),
        ("visits.csv", lambda path: visits(table).to_csv(path, index=False)),
    ):
        if not (folder / name).exists():
            write(folder / name)
    scenario = folder / "study.toml"
    scenario.write_text(toml_text(scenario_sections(**changes)), encoding="utf-8")
    return scenario
