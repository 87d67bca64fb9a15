"""The ``patchplan`` command.

``patchplan demo``              the whole chain on the embedded synthetic town
``patchplan run SCENARIO``      the whole chain for a scenario file; writes maps, tables and report
``patchplan report SCENARIO``   the same, printing where the committee report is
``patchplan check SCENARIO``    validate a scenario file without running it
``patchplan network FILE``      build (and cache) walk and drive networks from an OSM file, with stats
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich import box
from rich.console import Console
from rich.table import Table

from patchplan.errors import PatchplanError
from patchplan.scenario import Scenario

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0])
console = Console()
if not console.is_terminal:  # piped or logged: rich would assume 80 columns and cut the table
    console = Console(width=110)
ScenarioArg = Annotated[Path, typer.Argument(help="scenario TOML file")]


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(code=2)


def _cell(row: pd.Series, key: str, fmt: str = "{:,.0f}", scale: float = 1.0) -> str:
    value = row.get(key)
    return "–" if value is None or pd.isna(value) else fmt.format(value * scale)


def _summary_table(result) -> Table:
    table = Table(
        title=f"{result.scenario.study.title}: per lot, a week",
        caption="today / new: carer travel hours a week, like for like; on foot: share of visits "
        "made by walking carers; carers: distinct carers per person in the week (median, today → "
        "new); top 2: share of a person's visits by their two most frequent carers (new)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    headers = (
        "lot",
        "care h",
        "people",
        "prov.",
        "today h",
        "new h",
        "saved",
        "on foot",
        "class",
        "carers",
        "top 2",
    )
    for col in headers:
        right = col not in ("lot", "class")
        table.add_column(col, justify="right" if right else "left", no_wrap=True)
    for patch_id, row in result.summary.iterrows():
        num = partial(_cell, row)
        table.add_row(
            str(patch_id),
            num("hours_week"),
            num("people"),
            num("providers"),
            num("today_travel_min_lfl", scale=1 / 60),
            num("proposed_travel_min_lfl", scale=1 / 60),
            num("saved_travel_pct", "{:.0f}%"),
            "–"
            if pd.isna(row.get("walk_visit_share", float("nan")))
            else f"{100 * row['walk_visit_share']:.0f}%",
            str(row.get("walk_class", "")) if patch_id != "total" else "",
            f"{num('today_carers_per_person_median')}→{num('proposed_carers_per_person_median')}",
            num("proposed_top2_share", "{:.0%}"),
            style="bold" if patch_id == "total" else None,
        )
    return table


def _run(scenario: Scenario) -> dict[str, Path]:
    from patchplan.pipeline import run
    from patchplan.report import write_outputs

    flags = []
    if scenario.study.synthetic:
        flags.append("SYNTHETIC people and visits")
    console.print(
        f"[bold]{scenario.study.title}[/]" + (f"  [red]({'; '.join(flags)})[/]" if flags else "")
    )
    with console.status("running") as status:

        def progress(message: str) -> None:
            status.update(message)
            console.log(message)

        result = run(scenario, progress=progress)
    if result.estimate:
        console.print(
            "[red]Travel times are a STRAIGHT-LINE ESTIMATE (no street network given).[/]"
        )
    written = write_outputs(result)
    console.print(_summary_table(result))
    unserved = result.unserved.groupby(["arrangement", "reason"]).size()
    if len(unserved):
        console.print("Visits not planned:", unserved.to_dict())
    console.print(f"Lots map: [bold]{written['map-lots']}[/]")
    console.print(f"Report:   [bold]{written['report']}[/]")
    return written


@app.command()
def demo() -> None:
    """Run the whole chain on the embedded synthetic town; write outputs/maps/demo.html."""
    try:
        _run(Scenario.example("demo"))
    except PatchplanError as exc:
        _fail(exc)


@app.command("run")
def run_scenario(scenario: ScenarioArg) -> None:
    """Run the whole chain for a scenario file."""
    try:
        _run(Scenario.load(scenario))
    except PatchplanError as exc:
        _fail(exc)


@app.command()
def report(scenario: ScenarioArg) -> None:
    """Run a scenario and write the committee report (HTML, maps, CSV and GeoPackage)."""
    run_scenario(scenario)


@app.command()
def check(scenario: ScenarioArg) -> None:
    """Validate a scenario file: every key known, every value of the right type, inputs present."""
    try:
        sc = Scenario.load(scenario)
        missing = [
            key for key in ("network", "areas", "pcns", "neighbourhoods", "addresses", "people", "visits", "existing", "practices")
            if (path := sc.input_path(key)) is not None and not path.exists()
        ]  # fmt: skip
    except PatchplanError as exc:
        _fail(exc)
    if missing:
        _fail(
            PatchplanError(
                f"{scenario}: [inputs] files not found: "
                + ", ".join(f"{k} = {sc.input_path(k)}" for k in missing)
            )
        )
    console.print(f"[green]ok[/] {scenario}")


@app.command()
def network(source: Annotated[str, typer.Argument(help=".osm, .osm.pbf or .graphml file")]) -> None:
    """Build the walk and drive networks of an OSM file (cached for later runs) and print their size."""
    from patchplan.network import load_network

    try:
        for mode in ("walk", "drive"):
            graph = load_network(source, mode)
            console.print(
                f"{mode}: {graph.number_of_nodes():,} nodes, {graph.number_of_edges():,} edges"
                f" (dropped outside the largest strongly connected component: {graph.graph.get('dropped_nodes', 0):,} nodes)"
            )
    except PatchplanError as exc:
        _fail(exc)


if __name__ == "__main__":
    app()
