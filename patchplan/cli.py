"""The ``patchplan`` command.

``patchplan demo``              the whole chain on the embedded synthetic town
``patchplan run SCENARIO``      the whole chain for a scenario file; writes maps, tables and report
``patchplan report SCENARIO``   the same, printing where the committee report is
``patchplan check SCENARIO``    check everything a run would (settings, input files, outputs) and
                                list every problem; exits 2 when there is one
``patchplan network FILE``      build (and cache) walk and drive networks from an OSM file, with stats
``patchplan rounds SCENARIO``   carers' run sheets, GPX, rounds tables and rotas from a finished study

``run``, ``report`` and ``demo`` make the same checks first, hold a lock on the outputs folder
while they run (a second run on it stops with the first one's pid), and write all their outputs
at the end or none: Ctrl-C (SIGINT) or SIGTERM stops a run, writes nothing and exits 130 or 143.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from patchplan import checks, io
from patchplan.errors import Interrupted, PatchplanError
from patchplan.interrupts import raise_if_interrupted, stop_on_signals
from patchplan.scenario import Scenario

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0])
console = Console()
if not console.is_terminal:  # piped or logged: rich would assume 80 columns and cut the table
    console = Console(width=110)
ScenarioArg = Annotated[Path, typer.Argument(help="scenario TOML file")]


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]error:[/] {escape(str(exc))}")
    raise typer.Exit(code=2)


def _report_check(report: checks.CheckReport, where: object) -> None:
    """Print a check's notes and problems; exit 2 when there is a problem."""
    for note in report.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    if report.problems:
        count = len(report.problems)
        console.print(
            f"[bold red]error:[/] {escape(str(where))}: {count} problem{'s' * (count > 1)}"
        )
        for problem in report.problems:
            console.print(f"  - {escape(problem)}")
        raise typer.Exit(code=2)


def _cell(row: pd.Series, key: str, fmt: str = "{:,.0f}", scale: float = 1.0) -> str:
    value = row.get(key)
    return "–" if value is None or pd.isna(value) else fmt.format(value * scale)


def _summary_table(result) -> Table:
    table = Table(
        title=f"{result.scenario.study.title}: per lot, a week",
        caption="today / new: carer travel hours a week, like for like; on foot: share of visits "
        "walking carers reach",
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
            style="bold" if patch_id == "total" else None,
        )
    return table


def _account_table(result) -> Table:
    table = Table(
        title="Inputs account: rows and features read, kept and left out",
        caption="also in inputs-account.csv and the report",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for col in ("input", "source", "measure", "reason", "count", "area ha"):
        table.add_column(col, justify="right" if col in ("count", "area ha") else "left")
    for line in result.account.lines:
        area = "" if pd.isna(line.area_m2) else f"{line.area_m2 / 10_000:,.2f}"
        style = (
            "red" if line.count and line.measure in ("rejected", "outside every block") else None
        )
        table.add_row(
            line.input, escape(line.source), line.measure, escape(line.reason), f"{line.count:,}",
            area, style=style,
        )  # fmt: skip
    return table


def _output_roots(scenario: Scenario) -> list[Path]:
    """The folders a run writes under: the outputs folder, and the maps folder when outside it."""
    out, maps = Path(scenario.outputs.dir), Path(scenario.outputs.maps_dir)
    inside = out.resolve() in (maps.resolve(), *maps.resolve().parents)
    return [out] if inside else [out, maps]


def _guarded(check: Callable[[], checks.CheckReport], where: object) -> None:
    """Check, then run; a stop signal ends the run with 128 + its number and nothing written."""
    with stop_on_signals():
        try:
            report = check()
            _report_check(report, where)
            _run(report.raise_for_problems())
        except Interrupted as exc:
            console.print(f"[bold red]interrupted[/] ({exc}): nothing was written")
            raise typer.Exit(code=exc.exit_code) from None
        except PatchplanError as exc:
            _fail(exc)


def _run(scenario: Scenario) -> dict[str, Path]:
    from patchplan.pipeline import run
    from patchplan.report import write_outputs

    flags = []
    if scenario.study.synthetic:
        flags.append("SYNTHETIC people and visits")
    console.print(
        f"[bold]{scenario.study.title}[/]" + (f"  [red]({'; '.join(flags)})[/]" if flags else "")
    )
    with contextlib.ExitStack() as locks:
        for root in _output_roots(scenario):
            locks.enter_context(io.folder_lock(root))
        with console.status("running") as status:

            def progress(message: str) -> None:
                status.update(message)
                console.log(message)

            result = run(scenario, progress=progress)
        raise_if_interrupted()
        with io.all_or_nothing():
            written = write_outputs(result)
            written.update(_round_outputs(result))
    if result.estimate:
        console.print(
            "[red]Travel times are a STRAIGHT-LINE ESTIMATE (no street network given).[/]"
        )
    console.print(_summary_table(result))
    if result.time_limit_note:
        console.print(f"[red]{escape(result.time_limit_note)}[/]")
    console.print(_account_table(result))
    unserved = result.unserved.groupby(["arrangement", "reason"]).size()
    if len(unserved):
        console.print("Visits not planned:", unserved.to_dict())
    console.print(f"Lots map: [bold]{written['map-lots']}[/]")
    console.print(f"Report:   [bold]{written['report']}[/]")
    if "index" in written:
        console.print(f"Rounds (INTERNAL): [bold]{written['index']}[/]")
    return written


def _round_outputs(result) -> dict[str, Path]:
    """Keep the finished study for ``patchplan rounds`` and write its round outputs (INTERNAL)."""
    from patchplan.runsheets import store_result, write_round_outputs

    store_result(result)
    if not result.scenario.outputs.round_sheets or result.proposed.rounds.empty:
        return {}
    return write_round_outputs(result)


@app.command()
def demo() -> None:
    """Run the whole chain on the embedded synthetic town; write outputs/maps/demo.html."""
    _guarded(lambda: checks.check_scenario(Scenario.example("demo")), "demo")


@app.command("run")
def run_scenario(scenario: ScenarioArg) -> None:
    """Check a scenario file, then run the whole chain for it."""
    _guarded(lambda: checks.check_file(scenario), scenario)


@app.command()
def report(scenario: ScenarioArg) -> None:
    """Run a scenario and write the committee report (HTML, maps, CSV and GeoPackage)."""
    run_scenario(scenario)


@app.command()
def check(scenario: ScenarioArg) -> None:
    """Check everything a run would, without running it, and list every problem (exit 2 if any).

    Settings (types, ranges, rules between keys); every input file (readable, columns, unique
    ids, a CRS, overlap with the study area); the outputs folders (writable, not in use).
    """
    _report_check(checks.check_file(scenario), scenario)
    console.print(f"[green]ok[/] {escape(str(scenario))}")


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


@app.command("rounds")
def round_sheets(
    scenario: ScenarioArg,
    provider: Annotated[
        list[str] | None, typer.Option(help="provider id such as P03-A (repeat for more)")
    ] = None,
    day: Annotated[list[int] | None, typer.Option(help="day of the week, 0 = Monday")] = None,
) -> None:
    """Write carers' run sheets, GPX tracks, rounds tables and rotas (INTERNAL) from a finished
    study; the study runs first only when no finished run of it is cached."""
    from patchplan.runsheets import cached_result, store_result, write_round_outputs

    try:
        sc = Scenario.load(scenario)
        result = cached_result(sc)
        if result is None:
            console.print(
                f"No finished run of {sc.study.name} with these settings and inputs is cached: "
                "running the study first."
            )
            from patchplan.pipeline import run

            with console.status("running"):
                result = run(sc, progress=console.log)
            store_result(result)
        written = write_round_outputs(result, providers=provider, days=day)
    except PatchplanError as exc:
        _fail(exc)
    sheets = [p for k, p in written.items() if k.endswith("-sheets")]
    console.print(
        f"{len(sheets)} run sheet file(s), {sum(k.startswith('gpx-') for k in written)} GPX file(s)"
    )
    for path in sheets:
        console.print(f"  {path}")
    console.print(f"Index: [bold]{written['index']}[/]")


if __name__ == "__main__":
    app()
