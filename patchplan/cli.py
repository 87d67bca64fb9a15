"""The ``patchplan`` command.

``patchplan demo``              the whole chain on the embedded synthetic town
``patchplan run SCENARIO``      the whole chain for a scenario file; writes maps, tables and report
``patchplan report SCENARIO``   the same, printing where the committee report is
``patchplan check SCENARIO``    check everything a run would (settings, input files, outputs) and
                                list every problem; exits 2 when there is one
``patchplan network FILE``      build (and cache) walk and drive networks from an OSM file, with stats
``patchplan sweep SCENARIO``    a what-if study: variants × seeds as tasks on Dask, compared in a report
``patchplan score SCENARIO``    score and plan lots edited by hand (``--layout``), or keep some (``--lock``)
``patchplan rounds SCENARIO``   carers' run sheets, GPX, rounds tables and rotas from a finished study

``run``, ``report`` and ``demo`` make the same checks first, hold a lock on the outputs folder
while they run (a second run on it stops with the first one's pid), and write all their outputs
at the end or none: Ctrl-C (SIGINT) or SIGTERM stops a run, writes nothing and exits 130 or 143.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pandas as pd
import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from patchplan import checks, io
from patchplan.errors import Interrupted, PatchplanError
from patchplan.interrupts import raise_if_interrupted, stop_on_signals
from patchplan.scenario import Scenario

if TYPE_CHECKING:
    from patchplan.layout import LotLayout

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0])
console = Console()
if not console.is_terminal:  # piped or logged: rich would assume 80 columns and cut the table
    console = Console(width=110)
ScenarioArg = Annotated[Path, typer.Argument(help="scenario TOML file")]


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]error:[/] {escape(str(exc))}")  # "[inputs] …" is not markup
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
    if value is None or pd.isna(value):
        return "withheld" if row.get("withheld", False) else "–"
    return fmt.format(value * scale)


def _table(title: str, caption: str | None = None) -> Table:
    """A table in the CLI's one style."""
    return Table(title=title, caption=caption, box=box.SIMPLE_HEAD, pad_edge=False)


def _summary_table(result) -> Table:
    """The per-lot table, withheld as every published output is (``patchplan.publication``)."""
    from patchplan.publication import publishable, withheld_note

    summary = publishable(
        result.summary, "people", keep=("name", "pcn_ids", "providers", "n_blocks")
    )
    note = withheld_note(summary.attrs["disclosure"])
    table = _table(
        f"{result.scenario.study.title}: per lot, a week",
        "today / new: carer travel hours a week, like for like; on foot: share of visits "
        "made by walking carers; carers: distinct carers per person in the week (median, today → "
        "new); top 2: share of a person's visits by their two most frequent carers (new)"
        + (f"\n{note}" if note else ""),
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
        table.add_column(col, justify="right" if right else "left", no_wrap=col != "lot")
    for patch_id, row in summary.iterrows():
        num = partial(_cell, row)
        walk_class = row.get("walk_class")
        klass = "" if walk_class is None or pd.isna(walk_class) else str(walk_class)
        klass = "withheld" if row["withheld"] else klass
        name = "" if pd.isna(row.get("name", "")) else str(row.get("name", ""))
        table.add_row(
            f"{patch_id} {name}".strip(),
            num("hours_week"),
            num("people"),
            num("providers"),
            num("today_travel_min_lfl", scale=1 / 60),
            num("proposed_travel_min_lfl", scale=1 / 60),
            num("saved_travel_pct", "{:.0f}%"),
            num("walk_visit_share", "{:.0f}%", scale=100),
            klass if patch_id != "total" else "",
            f"{num('today_carers_per_person_median')}→{num('proposed_carers_per_person_median')}",
            num("proposed_top2_share", "{:.0%}"),
            style="bold" if patch_id == "total" else None,
        )
    return table


@contextmanager
def _task_bar(what: str) -> Iterator[Callable]:
    """A rich progress bar counting a sweep's tasks; yields the sweep's progress callback."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(what, total=None, failed=0)
        failed = 0

        def advance(summary, done: int, total: int) -> None:
            nonlocal failed
            failed += summary.status != "ok"
            bar.update(task, completed=done, total=total, failed=failed)
            if summary.status != "ok":
                console.print(
                    f"[red]failed[/] {escape(summary.label)}, seed {summary.seed}: "
                    f"{escape(summary.error)}"
                )

        yield advance


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
    out = Path(scenario.outputs.dir)
    if not scenario.outputs.maps_dir:  # "" = beside the report, under the outputs folder
        return [out]
    maps = Path(scenario.outputs.maps_dir)
    inside = out.resolve() in (maps.resolve(), *maps.resolve().parents)
    return [out] if inside else [out, maps]


def _guarded(
    check: Callable[[], checks.CheckReport], where: object, seeds: int | None = None, **run: Any
) -> None:
    """Check, then run; a stop signal ends the run with 128 + its number and nothing written.

    ``seeds`` (default ``[sweep] seeds``) > 1 also runs the study over that many caseloads;
    ``run`` passes ``layout`` or ``locks`` on to :func:`_run`.
    """
    with stop_on_signals():
        try:
            report = check()
            _report_check(report, where)
            sc = report.raise_for_problems()
            _run(sc, seeds=seeds if seeds is not None else sc.sweep.seeds, **run)
        except Interrupted as exc:
            console.print(f"[bold red]interrupted[/] ({exc}): nothing was written")
            raise typer.Exit(code=exc.exit_code) from None
        except PatchplanError as exc:
            _fail(exc)


def _run(
    scenario: Scenario,
    *,
    seeds: int = 1,
    layout: LotLayout | None = None,
    locks: LotLayout | None = None,
) -> dict[str, Path]:
    from patchplan.pipeline import run
    from patchplan.report import write_outputs

    flags = []
    if scenario.study.synthetic:
        flags.append("SYNTHETIC people and visits")
    console.print(
        f"[bold]{scenario.study.title}[/]" + (f"  [red]({'; '.join(flags)})[/]" if flags else "")
    )
    with contextlib.ExitStack() as held:
        for root in _output_roots(scenario):
            held.enter_context(io.folder_lock(root))
        with console.status("running") as status:

            def progress(message: str) -> None:
                status.update(message)
                console.log(message)

            result = run(scenario, progress=progress, layout=layout, locks=locks)
        if seeds > 1:
            from patchplan.sweep import seed_ranges

            with _task_bar(f"{seeds} caseloads") as advance:
                result.ranges = seed_ranges(result.scenario, seeds, base=result, progress=advance)
        raise_if_interrupted()
        with io.all_or_nothing():
            written = write_outputs(result)
            # Lots edited or locked by hand are not in the scenario's fingerprint: their results
            # are not kept for ``patchplan rounds``, which would reuse one edit's rounds for another.
            written.update(_round_outputs(result, keep=layout is None and locks is None))
    if result.estimate:
        console.print(
            "[red]Travel times are a STRAIGHT-LINE ESTIMATE (no street network given).[/]"
        )
    if layout is not None or locks is not None:
        console.print(_score_table(result))
    console.print(_summary_table(result))
    if result.time_limit_note:
        console.print(f"[red]{escape(result.time_limit_note)}[/]")
    console.print(_account_table(result))
    unserved = result.unserved.groupby(["arrangement", "reason"]).size()
    if len(unserved):
        console.print("Visits not planned:", unserved.to_dict())
    console.print(f"Report:   [bold]{written['report']}[/] (one file, maps embedded)")
    console.print(f"Lots map: [bold]{written['map-lots']}[/]")
    console.print(f"INTERNAL: [bold]{written['rounds-INTERNAL'].parent}[/] (not for publication)")
    if "index" in written:
        console.print(f"Rounds (INTERNAL): [bold]{written['index']}[/]")
    return written


def _round_outputs(result, keep: bool = True) -> dict[str, Path]:
    """Keep the finished study for ``patchplan rounds`` (when ``keep``) and write its round
    outputs (INTERNAL)."""
    from patchplan.runsheets import store_result, write_round_outputs

    if keep:
        store_result(result)
    if not result.scenario.outputs.round_sheets or result.proposed.rounds.empty:
        return {}
    return write_round_outputs(result)


@app.command()
def demo() -> None:
    """Run the whole chain on the embedded synthetic town; write outputs/maps/demo.html."""
    _guarded(lambda: checks.check_scenario(Scenario.example("demo")), "demo")


SeedsOption = Annotated[
    int | None,
    typer.Option("--seeds", help="caseloads (seeds) to run for ranges; default [sweep] seeds"),
]


@app.command("run")
def run_scenario(scenario: ScenarioArg, seeds: SeedsOption = None) -> None:
    """Check a scenario file, then run the whole chain for it (with --seeds N > 1, also over N
    caseloads)."""
    _guarded(lambda: checks.check_file(scenario), scenario, seeds)


@app.command()
def report(scenario: ScenarioArg, seeds: SeedsOption = None) -> None:
    """Run a scenario and write the committee report (HTML, maps, CSV and GeoPackage)."""
    run_scenario(scenario, seeds)


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


def _score_table(result) -> Table:
    """Each lot scored with the patches yardstick (hand-edited or partly locked lots)."""
    table = _table(
        f"{result.scenario.study.title}: lots scored ({result.design.method})",
        "balance: care hours above or below the mean lot; PCN: share of care hours in "
        "the lot holding most of their PCN; travel: expected minutes between two visits",
    )
    for col in ("lot", "care h", "blocks", "balance", "one piece", "PCN", "travel min", "walkable"):
        table.add_column(col, justify="left" if col == "lot" else "right", no_wrap=True)
    for lot, row in result.design.score.iterrows():
        num = partial(_cell, row)
        table.add_row(
            str(lot),
            num("hours_week"),
            num("n_blocks"),
            num("balance_dev", "{:+.0%}"),
            "yes" if row["contiguous"] else "NO",
            num("pcn_alignment", "{:.0%}"),
            num("travel_min_per_leg", "{:.1f}"),
            num("walk_share", "{:.0%}"),
            style="bold" if lot == "all" else None,
        )
    return table


@app.command()
def score(
    scenario: ScenarioArg,
    layout: Annotated[
        Path | None,
        typer.Option(
            "--layout",
            help="lots to score and plan as they are: .gpkg or .csv of block_id → patch_id",
        ),
    ] = None,
    lock: Annotated[
        Path | None,
        typer.Option(
            "--lock", help="blocks to keep in their lots (.gpkg or .csv); the rest are re-optimised"
        ),
    ] = None,
    layer: Annotated[str | None, typer.Option(help="layer of a multi-layer file")] = None,
) -> None:
    """Score lots edited by hand with the same yardstick, then plan rounds and savings on them.

    Outputs go under the study name with "-edited" (--layout) or "-locked" (--lock) added.
    """
    from patchplan.layout import read_layout

    if (layout is None) == (lock is None):
        _fail(PatchplanError("give either --layout (lots as drawn) or --lock (blocks to keep)"))
    try:
        sc = Scenario.load(scenario)
        lots = read_layout(layout or lock, layer)  # type: ignore[arg-type]
        suffix = "-edited" if layout is not None else "-locked"
        sc = sc.replace(
            study={"name": sc.study.name + suffix, "title": f"{sc.study.title} ({suffix[1:]} lots)"}
        )
    except PatchplanError as exc:
        _fail(exc)
    given = {"layout": lots} if layout is not None else {"locks": lots}
    _guarded(lambda: checks.check_scenario(sc), scenario, 1, **given)


@app.command("sweep")
def sweep_command(
    scenario: ScenarioArg,
    vary: Annotated[
        list[str] | None,
        typer.Option(
            "--vary",
            help="section.key=values: a range 3..8 or '0..0.2 step 0.1', or "
            "items 0.3,0.5,0.7 (repeat for more keys; adds to [sweep.vary])",
        ),
    ] = None,
    seeds: Annotated[int | None, typer.Option(help="caseloads per variant")] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="existing Dask scheduler, e.g. tcp://HOST:8786")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="LocalCluster workers (0 = a core each)")
    ] = None,
    memory_limit_gb: Annotated[
        float | None, typer.Option(help="memory per LocalCluster worker, GB (0 = equal shares)")
    ] = None,
    sequential: Annotated[
        bool, typer.Option(help="run the tasks one by one in this process (to debug one)")
    ] = False,
) -> None:
    """Run a what-if study: every variant × seed as a Dask task, then a comparison report.

    Exits with code 1 when a task failed (the others finish and the report lists it).
    """
    import dataclasses

    from patchplan.sweep import SweepSettings, plan_variants, sweep, vary_options
    from patchplan.sweep_report import write_sweep_report

    try:
        sc = Scenario.load(scenario)
        base: SweepSettings = sc.sweep
        changes: dict[str, Any] = {
            k: v
            for k, v in (
                ("seeds", seeds),
                ("scheduler", scheduler),
                ("workers", workers),
                ("memory_limit_gb", memory_limit_gb),
            )
            if v is not None
        }
        try:
            settings = dataclasses.replace(
                base, vary={**base.vary, **vary_options(vary or [])}, **changes
            )
        except ValueError as exc:
            raise PatchplanError(f"[sweep]: {exc}") from exc
        n = len(plan_variants(sc, settings))
        console.print(
            f"[bold]{sc.study.title}[/]: {n // settings.seeds} variants × "
            f"{settings.seeds} seeds = {n} tasks"
        )
        with _task_bar("tasks") as advance:
            result = sweep(sc, settings, sequential=sequential, progress=advance)
        written = write_sweep_report(result)
    except PatchplanError as exc:
        _fail(exc)
    console.print(f"Ran on {result.where}.")
    console.print(
        f"{result.computed - result.failed} computed, {result.cached} from the cache, "
        f"{result.failed} failed, in {result.wall_s:,.0f} s."
    )
    console.print(_sweep_table(result))
    console.print(f"Report: [bold]{written['report']}[/]")
    if result.failed:
        raise typer.Exit(code=1)


def _sweep_table(result) -> Table:
    """Travel saved, balance, walking and carers per variant: median and range over seeds."""
    from patchplan.sweep_report import FIGURE_TEXT, range_text

    shown = ("travel_saved_pct", "balance_dev", "walk_share", "carers_needed", "unserved_visits")
    table = _table("Variants: median (5% to 95%) over seeds, whole area, a week")
    table.add_column("variant", no_wrap=True)
    for figure in shown:
        table.add_column(FIGURE_TEXT[figure][0], justify="right")
    ranges = result.ranges()
    for (label, _), rows in ranges.groupby(["label", "variant"], sort=False):
        rows = rows.set_index("figure")
        cells = []
        for figure in shown:
            fmt = FIGURE_TEXT[figure][2]
            if figure not in rows.index:
                cells.append("–")
                continue
            r = rows.loc[figure]
            cells.append(range_text(r["median"], r["p05"], r["p95"], fmt))
        table.add_row(str(label), *cells)
    return table


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
