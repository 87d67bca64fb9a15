"""The comparison report of a what-if sweep: trade-off charts with ranges over seeds, and CSVs.

:func:`write_sweep_report` writes, each file atomically (``patchplan.io``), into
``<out_dir>/<name>/sweep/``:

``sweep-report.html``  one self-contained page: trade-off charts (each figure against K, or the first
                       varied key, one line per combination of the other varied keys, median and
                       5–95% band over seeds), a side-by-side table of chosen variants, the failed
                       tasks with their errors, and the method
``tasks.csv``          one row per variant and seed: varied values, status, error, runtime, peak
                       memory, and the total figures
``lots.csv``           one row per variant, seed and lot: the figures per lot
``ranges.csv``         one row per variant and figure: median, 5% and 95% over seeds (totals)

Charts are inline SVG drawn here (no plotting library, no script): each has a title and a
description for screen readers, a caption, a table of its data, and lines told apart by dash
pattern as well as colour. Tables have a caption and headers with ``scope``. The page holds only
figures for whole lots and studies: no person is located.

:func:`ranges_section` is the same ranges table for a single scenario's committee report when it
is run over several seeds.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pandas as pd

from patchplan import io
from patchplan.sweep import BAND, TOTAL, SweepResult, value_from_text

__all__ = [
    "band_chart",
    "html_table",
    "range_text",
    "ranges_section",
    "sweep_html",
    "write_sweep_report",
]


def _pct(v: float) -> str:
    return f"{100 * v:.0f}%"


def _number(digits: int) -> Callable[[float], str]:
    return lambda v: f"{v:,.{digits}f}"


FIGURE_TEXT: dict[str, tuple[str, str, Callable[[float], str]]] = {
    "travel_saved_pct": ("Travel saved", "% of today's carer travel", lambda v: f"{v:.1f}%"),
    "travel_saved_h": ("Carer travel saved", "hours a week", _number(0)),
    "travel_today_h": ("Carer travel today", "hours a week", _number(0)),
    "travel_proposed_h": ("Carer travel, proposed lots", "hours a week", _number(0)),
    "balance_dev": ("Worst lot balance", "± of the mean lot's hours", _pct),
    "pcn_alignment": ("Care hours aligned with their PCN", "share of care hours", _pct),
    "walk_share": ("Visits reached on foot", "share of visits, mixed workforce", _pct),
    "walk_visit_share": ("Visits walking carers could reach", "share of visits", _pct),
    "carers_needed": ("Carers needed", "carers on the busiest planned day", _number(0)),
    "unserved_visits": ("Visits not planned", "visits, planned days", _number(0)),
    "continuity_carers_per_person": ("Continuity", "distinct carers per person", _number(2)),
    "hours_week": ("Care hours", "hours a week", _number(0)),
    "people": ("People", "people", _number(0)),
}
"""Figure → (title, unit, formatter) for every figure a sweep reports."""

CHARTS = (
    "travel_saved_pct",
    "balance_dev",
    "walk_share",
    "continuity_carers_per_person",
    "carers_needed",
    "travel_saved_h",
)
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
"""Okabe–Ito colours, distinguishable with the common colour-vision deficiencies."""
DASHES = ("", "6 3", "2 3", "8 3 2 3", "1 2", "10 4", "4 2 1 2", "3 6")
MAX_SERIES = len(COLOURS)
MAX_COMPARED = 12


# --------------------------------------------------------------------------------------------
# tables


def html_table(
    frame: pd.DataFrame, caption: str, *, index_title: str = "", row_headers: bool = True
) -> str:
    """An accessible HTML table: a caption, column headers with ``scope="col"`` and the index as
    row headers with ``scope="row"``; cells are escaped text (format them first)."""
    esc = html.escape
    head = "".join(f'<th scope="col">{esc(str(c))}</th>' for c in frame.columns)
    corner = f'<th scope="col">{esc(index_title)}</th>' if row_headers else ""
    rows = []
    for key, row in frame.iterrows():
        first = f'<th scope="row">{esc(str(key))}</th>' if row_headers else ""
        cells = "".join(f"<td>{esc('–' if _blank(v) else str(v))}</td>" for v in row)
        rows.append(f"<tr>{first}{cells}</tr>")
    return (
        f'<table class="pp-table"><caption>{esc(caption)}</caption>'
        f"<thead><tr>{corner}{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def range_text(median: float, low: float, high: float, fmt: Callable[[float], str]) -> str:
    """ "median (low to high)" as text, or the median alone when the range is one value."""
    if _blank(median):
        return "–"
    if low == high:
        return fmt(median)
    return f"{fmt(median)} ({fmt(low)} to {fmt(high)})"


# --------------------------------------------------------------------------------------------
# charts


@dataclass
class ChartSeries:
    """One line of a band chart: medians and the 5–95% band at each x."""

    name: str
    x: list[object]
    median: list[float]
    low: list[float]
    high: list[float]


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (steps of 1, 2 or 5 × 10^n) covering [low, high]."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0, 1.0]
    if high - low < 1e-12:
        low, high = low - 0.5 * (abs(low) or 1), high + 0.5 * (abs(high) or 1)
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value < high + step * 0.999:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _is_numeric(values: Sequence[object]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def band_chart(
    series: Sequence[ChartSeries],
    *,
    chart_id: str,
    title: str,
    x_label: str,
    y_label: str,
    y_format: Callable[[float], str],
) -> str:
    """An inline SVG line chart of medians with shaded 5–95% bands and whiskers at each point.

    Numeric x values are placed to scale; others (e.g. a PCN policy) evenly, in the order given.
    The SVG carries ``role="img"``, a ``<title>`` and a ``<desc>`` listing every value.
    """
    esc = html.escape
    shown = list(series[:MAX_SERIES])
    width, left, right, top, plot_h = 720, 78, 24, 16, 240
    legend_top = top + plot_h + 56
    height = legend_top + 20 * len(shown) + 6
    plot_w = width - left - right
    xs = list(dict.fromkeys(x for s in series for x in s.x))
    numeric = _is_numeric(xs)
    if numeric:
        x_lo, x_hi = min(map(_sort_key, xs)), max(map(_sort_key, xs))
        span = (x_hi - x_lo) or 1.0

        def px(x: object) -> float:
            offset = 0.5 if x_hi == x_lo else (_sort_key(x) - x_lo) / span
            return left + plot_w * offset

    else:

        def px(x: object) -> float:
            return left + plot_w * ((xs.index(x) + 0.5) / len(xs))

    values = [v for s in series for v in (*s.low, *s.high, *s.median) if not _blank(v)]
    ticks = _nice_ticks(min(values, default=0.0), max(values, default=1.0))
    y_lo, y_hi = ticks[0], ticks[-1]

    def py(y: float) -> float:
        return top + plot_h * (1 - (y - y_lo) / ((y_hi - y_lo) or 1.0))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-labelledby="{chart_id}-t {chart_id}-d" class="pp-chart">',
        f'<title id="{chart_id}-t">{esc(title)}</title>',
        f'<desc id="{chart_id}-d">{esc(_describe(series, x_label, y_format))}</desc>',
    ]
    for t in ticks:
        y = py(t)
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#ddd" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="12" '
            f'fill="#333">{esc(y_format(t))}</text>'
        )
    for x in xs:
        parts.append(
            f'<text x="{px(x):.1f}" y="{top + plot_h + 18}" text-anchor="middle" '
            f'font-size="12" fill="#333">{esc(_x_text(x))}</text>'
        )
    parts.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}" stroke="#555"/>')
    parts.append(
        f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" '
        f'y2="{top + plot_h}" stroke="#555"/>'
    )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h + 38}" '
        f'text-anchor="middle" font-size="13" fill="#222">{esc(x_label)}</text>'
    )
    parts.append(
        f'<text transform="translate(14 {top + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle" font-size="12" fill="#222">{esc(y_label)}</text>'
    )
    for i, s in enumerate(shown):
        colour, dash = COLOURS[i], DASHES[i]
        points = [
            (px(x), m, lo, hi)
            for x, m, lo, hi in zip(s.x, s.median, s.low, s.high, strict=True)
            if not _blank(m)
        ]
        if len(points) > 1:
            upper = " ".join(f"{x:.1f},{py(hi):.1f}" for x, _, _, hi in points)
            lower = " ".join(f"{x:.1f},{py(lo):.1f}" for x, _, lo, _ in reversed(points))
            parts.append(
                f'<polygon points="{upper} {lower}" fill="{colour}" fill-opacity="0.15" '
                'stroke="none"/>'
            )
            line = " ".join(f"{x:.1f},{py(m):.1f}" for x, m, _, _ in points)
            parts.append(
                f'<polyline points="{line}" fill="none" stroke="{colour}" '
                f'stroke-width="2.2" stroke-dasharray="{dash}"/>'
            )
        for x, m, lo, hi in points:
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{py(lo):.1f}" y2="{py(hi):.1f}" '
                f'stroke="{colour}" stroke-width="1.2"/>'
            )
            parts.append(f'<circle cx="{x:.1f}" cy="{py(m):.1f}" r="3.5" fill="{colour}"/>')
        ly, lx = legend_top + 20 * i, left
        parts.append(
            f'<line x1="{lx}" x2="{lx + 28}" y1="{ly}" y2="{ly}" stroke="{colour}" '
            f'stroke-width="2.2" stroke-dasharray="{dash}"/>'
        )
        parts.append(f'<circle cx="{lx + 14}" cy="{ly}" r="3.5" fill="{colour}"/>')
        parts.append(
            f'<text x="{lx + 36}" y="{ly + 4}" font-size="12" fill="#222">{esc(s.name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _x_text(x: object) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _describe(series: Sequence[ChartSeries], x_label: str, fmt: Callable[[float], str]) -> str:
    """Every value of a chart as a sentence per line, for screen readers."""
    lines = []
    for s in series:
        points = "; ".join(
            f"{x_label} {_x_text(x)}: {range_text(m, lo, hi, fmt)}"
            for x, m, lo, hi in zip(s.x, s.median, s.low, s.high, strict=True)
        )
        lines.append(f"{s.name}: {points}.")
    return " ".join(lines) + " Values are medians over seeds, with the 5–95% range in brackets."


# --------------------------------------------------------------------------------------------
# the page


def _x_key(result: SweepResult) -> str | None:
    if "patches.k" in result.varied:
        return "patches.k"
    return result.varied[0] if result.varied else None


def _series(ranges: pd.DataFrame, figure: str, x_key: str, others: list[str]) -> list[ChartSeries]:
    rows = ranges[ranges["figure"] == figure]
    out = []
    groups = rows.groupby(others, sort=False, dropna=False) if others else [((), rows)]
    for key, group in groups:
        keys = key if isinstance(key, tuple) else (key,)
        name = ", ".join(
            f"{o.partition('.')[2]}={_x_text(v)}" for o, v in zip(others, keys, strict=True)
        )
        ordered = (
            group.sort_values(x_key, key=lambda c: c.map(_sort_key))
            if _is_numeric(group[x_key].tolist())
            else group
        )
        out.append(
            ChartSeries(
                name or "median",
                ordered[x_key].tolist(),
                ordered["median"].tolist(),
                ordered["p05"].tolist(),
                ordered["p95"].tolist(),
            )
        )
    return out


def _sort_key(value: object) -> float:
    """A numeric x value as a float (callers check :func:`_is_numeric` first)."""
    return float(cast(float, value))


def _chart_block(result: SweepResult, ranges: pd.DataFrame, figure: str, n: int) -> str:
    x_key = _x_key(result)
    assert x_key is not None
    others = [k for k in result.varied if k != x_key]
    title, unit, fmt = FIGURE_TEXT[figure]
    series = _series(ranges, figure, x_key, others)
    if not series or ranges[ranges["figure"] == figure].empty:
        return ""
    x_label = "K (lots)" if x_key == "patches.k" else x_key
    chart = band_chart(
        series,
        chart_id=f"chart-{n}",
        title=f"{title} against {x_label}",
        x_label=x_label,
        y_label=unit,
        y_format=fmt,
    )
    more = (
        f" Only the first {MAX_SERIES} of {len(series)} lines are drawn; the table has all."
        if len(series) > MAX_SERIES
        else ""
    )
    data = pd.DataFrame(
        {
            f"{s.name} at {x_label} {_x_text(x)}": [range_text(m, lo, hi, fmt)]
            for s in series
            for x, m, lo, hi in zip(s.x, s.median, s.low, s.high, strict=True)
        }
    ).T.rename(columns={0: f"{title}: median (5% to 95%)"})
    return (
        f"<figure><h3>{html.escape(title)}</h3>{chart}<figcaption>{html.escape(title)} "
        f"({html.escape(unit)}) against "
        f"{html.escape(x_label)}: the line is the median over seeds, the shaded band and whiskers "
        f"the 5–95% range.{more}</figcaption>"
        f"<details><summary>Data for this chart</summary>"
        f"{html_table(data, f'{title} by variant', index_title='Variant')}</details></figure>"
    )


def _matches(values: dict[str, object], wanted: str) -> bool:
    for item in wanted.split(","):
        name, _, text = item.partition("=")
        name = name.strip()
        if name not in values:
            return False
        value = values[name]
        if value != value_from_text(text.strip()) and _x_text(value) != text.strip():
            return False
    return True


def compared_variants(result: SweepResult) -> list[int]:
    """Variant indexes for the side-by-side table: those matching ``[sweep] compare``, else all
    (at most :data:`MAX_COMPARED`)."""
    seen: dict[int, dict[str, object]] = {}
    for s in result.summaries:
        seen.setdefault(s.index, s.values)
    wanted = result.settings.compare
    chosen = [i for i, v in seen.items() if not wanted or any(_matches(v, w) for w in wanted)]
    return chosen[:MAX_COMPARED]


SIDE_BY_SIDE = (
    "travel_saved_pct",
    "travel_saved_h",
    "travel_today_h",
    "travel_proposed_h",
    "balance_dev",
    "pcn_alignment",
    "walk_share",
    "walk_visit_share",
    "carers_needed",
    "unserved_visits",
    "continuity_carers_per_person",
    "hours_week",
)


def side_by_side(result: SweepResult, ranges: pd.DataFrame) -> pd.DataFrame:
    """Chosen variants as columns, figures as rows: "median (5% to 95%)" over seeds, as text."""
    chosen = compared_variants(result)
    tasks = result.tasks()
    columns = {}
    for index in chosen:
        rows = ranges[ranges["variant"] == index].set_index("figure")
        mine = tasks[tasks["variant"] == index]
        label = mine["label"].iloc[0]
        cells = {}
        for figure in SIDE_BY_SIDE:
            title, unit, fmt = FIGURE_TEXT[figure]
            if figure in rows.index:
                r = rows.loc[figure]
                cells[f"{title} ({unit})"] = range_text(r["median"], r["p05"], r["p95"], fmt)
            else:
                cells[f"{title} ({unit})"] = "–"
        ok = mine[mine["status"] == "ok"]
        cells["Seeds finished / failed"] = f"{len(ok)} / {len(mine) - len(ok)}"
        cells["Runtime per task (s, median)"] = (
            f"{ok['runtime_s'].median():,.1f}" if len(ok) else "–"
        )
        columns[label] = cells
    return pd.DataFrame(columns)


def _assumptions(result: SweepResult) -> str:
    rows = {
        name: ", ".join(_x_text(v) for v in dict.fromkeys(s.values[name] for s in result.summaries))
        for name in result.varied
    }
    seeds = sorted({s.seed for s in result.summaries})
    rows["study.seed (caseloads)"] = ", ".join(map(str, seeds))
    frame = pd.DataFrame({"Values tried": rows})
    return html_table(frame, "What was varied", index_title="Setting")


def sweep_html(result: SweepResult) -> str:
    """The comparison page of a sweep (see the module docstring)."""
    esc = html.escape
    study = result.scenario.study
    ranges = result.ranges()
    ok = [s for s in result.summaries if s.status == "ok"]
    flags = []
    if study.synthetic:
        flags.append("The people and visits are SYNTHETIC, generated from small-area population.")
    if any(s.estimate for s in ok):
        flags.append("Travel times are a STRAIGHT-LINE ESTIMATE, not a street network.")
    n_variants = len({s.index for s in result.summaries})
    n_seeds = result.settings.seeds
    runtimes = pd.Series([s.runtime_s for s in ok if not s.from_cache], dtype=float)
    memory = pd.Series([s.peak_memory_mb for s in ok], dtype=float)
    facts = [
        ("Variants", f"{n_variants}"),
        ("Caseloads (seeds) each", f"{n_seeds}"),
        ("Tasks", f"{len(result.summaries)}"),
        (
            "Computed / from cache / failed",
            f"{result.computed - result.failed} / {result.cached} / {result.failed}",
        ),
        ("Wall time", f"{result.wall_s:,.0f} s"),
        ("Runtime per task (median)", f"{runtimes.median():,.1f} s" if len(runtimes) else "–"),
        (
            "Peak memory of a task (largest)",
            f"{memory.max():,.0f} MB" if memory.notna().any() else "–",
        ),
    ]
    capped = sum(s.time_limit_reached for s in ok)
    if capped:
        facts.append(("Tasks cut by a time cap (may not repeat)", f"{capped}"))
    cards = "".join(
        f'<div class="card"><div class="v">{esc(v)}</div><div class="k">{esc(k)}</div></div>'
        for k, v in facts
    )
    charts = ""
    if _x_key(result) is not None and not ranges.empty:
        blocks = [_chart_block(result, ranges, f, i) for i, f in enumerate(CHARTS)]
        charts = "<h2>Trade-offs</h2>" + "".join(blocks)
        if "continuity_carers_per_person" not in set(ranges["figure"]):
            charts += (
                "<p>Continuity is not charted: it needs more than one planned day "
                "(<code>[study] days</code>).</p>"
            )
    table = side_by_side(result, ranges)
    compared = ""
    if not table.empty:
        note = (
            ""
            if len(compared_variants(result)) == n_variants
            else f" Showing {table.shape[1]} of {n_variants} variants (choose with "
            "<code>[sweep] compare</code>)."
        )
        compared = (
            '<h2 id="side-by-side">Variants side by side</h2>'
            '<div class="scroll" role="region" aria-labelledby="side-by-side" tabindex="0">'
            + html_table(
                table,
                "Chosen variants: median over seeds (5% to 95%)",
                index_title="Figure (per week)",
            )
            + "</div>"
            + f"<p>Figures are for the whole study area, a week.{note}</p>"
        )
    failures = result.failures()
    failed = (
        "<p>None: every task finished.</p>"
        if failures.empty
        else html_table(
            failures.set_index("label")[["seed", "error"]].rename(
                columns={"seed": "Seed", "error": "Error"}
            ),
            "Tasks that failed, with their error",
            index_title="Variant",
        )
    )
    method = (
        f"Each variant was run once per synthetic caseload (seed) as one task of the whole chain: "
        f"caseload, blocks, lots, walking test, rounds today and proposed, savings. The seed also "
        f"starts the lot search and shares people among providers. Ranges are the {BAND[0]:.0f}th "
        f"to {BAND[1]:.0f}th percentiles over the seeds that finished (linear interpolation; with "
        f"few seeds they are close to the lowest and highest). Lots are numbered north to south "
        f"in every run. Tasks ran on {result.where}; a task that needs more memory than its "
        f"worker's limit is stopped and listed as failed. Finished tasks are kept in "
        f"{result.cache_dir} by a fingerprint of their settings and input files, so a rerun "
        f"computes only what is missing."
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(study.title)}: what-if sweep</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#222}}
.flag{{background:#b2182b;color:#fff;padding:.4rem .7rem;border-radius:4px;margin:.3rem 0}}
.cards{{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:.6rem;margin:1rem 0}}
.card{{border:1px solid #ddd;border-radius:6px;padding:.6rem .8rem}} .v{{font-size:1.3rem;font-weight:600}} .k{{color:#555}}
.pp-table{{border-collapse:collapse;font-size:13px;margin:.5rem 0}} .pp-table caption{{text-align:left;font-weight:600;padding:.3rem 0}}
.pp-table td,.pp-table th{{padding:3px 8px;border-bottom:1px solid #eee;text-align:right}} .pp-table th[scope=row]{{text-align:left;min-width:14rem}}
.scroll{{overflow-x:auto}} .scroll:focus{{outline:2px solid #0072B2}}
figure{{margin:1.2rem 0}} figcaption{{color:#444;font-size:14px}} .pp-chart{{max-width:760px;display:block}} h3{{margin:.2rem 0}}
</style></head><body>
<h1>{esc(study.title)}: what-if sweep</h1>
{"".join(f'<p class="flag">{esc(f)}</p>' for f in flags)}
<div class="cards">{cards}</div>
{_assumptions(result)}
{charts}
{compared}
<h2>Failed tasks</h2>{failed}
<h2>Method</h2><p>{esc(method)}</p>
<p>Tables: <code>tasks.csv</code> (one row per task), <code>lots.csv</code> (per lot),
<code>ranges.csv</code> (medians and ranges).</p>
</body></html>"""


def write_sweep_report(
    result: SweepResult, out_dir: str | os.PathLike[str] | None = None
) -> dict[str, Path]:
    """Write the sweep's page and tables; return their paths by name."""
    scenario = result.scenario
    out = Path(out_dir or scenario.outputs.dir) / scenario.study.name / "sweep"
    return {
        "tasks": io.write_csv(result.tasks(), out / "tasks.csv"),
        "lots": io.write_csv(result.figures(), out / "lots.csv"),
        "ranges": io.write_csv(result.ranges(), out / "ranges.csv"),
        "report": io.write_text(out / "sweep-report.html", sweep_html(result)),
    }


def ranges_section(ranges: pd.DataFrame) -> str:
    """The committee report's section of figures over several synthetic caseloads (totals).

    ``ranges`` is :func:`patchplan.sweep.seed_ranges`'s table (with its ``attrs``)."""
    seeds = int(ranges.attrs.get("seeds", ranges["seeds"].max()))
    failures = list(ranges.attrs.get("failures", []))
    total = ranges[ranges["patch_id"] == TOTAL].set_index("figure")
    rows = {}
    for figure, (title, unit, fmt) in FIGURE_TEXT.items():
        if figure not in total.index:
            continue
        r = total.loc[figure]
        this = r.get("this_run", float("nan"))
        rows[f"{title} ({unit})"] = {
            "This run": "–" if _blank(this) else fmt(this),
            "Median": fmt(r["median"]),
            f"{BAND[0]:.0f}%": fmt(r["p05"]),
            f"{BAND[1]:.0f}%": fmt(r["p95"]),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    return (
        f"<h2>Ranges over {seeds} synthetic caseloads</h2>"
        + html_table(
            table,
            f"The whole study, a week: this run and the range over {seeds} seeds",
            index_title="Figure",
        )
        + f"<p>The same scenario was run on {seeds} caseloads drawn from the same small-area "
        "pattern with different seeds; each run also re-designs the lots. The range is the "
        f"{BAND[0]:.0f}th to {BAND[1]:.0f}th percentile. Per-lot ranges are in the INTERNAL "
        "<code>ranges-INTERNAL.csv</code> (not for publication).</p>"
        + (
            f"<p>{len(failures)} of {seeds} caseloads failed and are left out of the ranges:</p>"
            "<ul>" + "".join(f"<li>{html.escape(f)}</li>" for f in failures) + "</ul>"
            if failures
            else ""
        )
    )
