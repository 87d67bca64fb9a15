"""The inputs account: every row and feature read, what was kept, and what was left out and why.

Built once per study (:func:`build_account`) from what the stages already measured (the demand
rejects, the boundary :class:`~patchplan.boundaries.LayerReport`, the people outside every block)
and shown the same way everywhere: the CLI after a run, ``inputs-account.csv`` and a section of
the report. Nothing leaves the totals without a line here:

* for each file of rows (people, visits, addresses): ``rows read`` = ``accepted`` + the
  ``rejected`` lines (one per reason); a synthetic caseload is ``generated`` instead;
* people and visits accepted (or generated) = ``inside the blocks`` + ``outside every block``;
* for each boundary layer: ``features read``, ``repaired`` (with the area change, m²),
  ``overlap`` and ``gap`` between its features (with their areas, m²), and, for the small areas a
  caseload is synthesised from, those with ``no usable population``.

Table (``InputsAccount.table()``, ``docs/data-contracts.md``): ``input``, ``source`` (file name,
or ``synthetic``), ``measure``, ``reason`` (why rows were rejected, "" otherwise), ``count``,
``area_m2`` (NaN where no area applies), ``detail`` (row numbers of rejected rows; the largest
boundary items with their ids and areas). No line names a person or a postcode: the account is
published in the report (``rejects.csv`` has the rows themselves, for analysts).
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from patchplan.boundaries import LayerReport
    from patchplan.demand import Demand

__all__ = ["ACCOUNT_COLUMNS", "AccountLine", "InputsAccount", "build_account"]

ACCOUNT_COLUMNS = ["input", "source", "measure", "reason", "count", "area_m2", "detail"]

READ = "rows read"
ACCEPTED = "accepted"
REJECTED = "rejected"
GENERATED = "generated"
INSIDE = "inside the blocks"
OUTSIDE = "outside every block"
FEATURES = "features read"
NO_POPULATION = "no usable population"
REPAIRED = "repaired"
OVERLAP = "overlap"
GAP = "gap"

DETAIL_ITEMS = 10
"""Items named in a line's ``detail`` (the largest first); the count and area cover them all."""


@dataclass(frozen=True)
class AccountLine:
    """One figure of the account (see the module docstring for the measures)."""

    input: str
    source: str
    measure: str
    count: int
    reason: str = ""
    area_m2: float = math.nan
    detail: str = ""


@dataclass(frozen=True)
class InputsAccount:
    """Every input's rows and features: read, kept, left out (with the reason), repaired."""

    lines: tuple[AccountLine, ...]

    def table(self) -> pd.DataFrame:
        """The account as a table with :data:`ACCOUNT_COLUMNS`."""
        rows = [{c: getattr(line, c) for c in ACCOUNT_COLUMNS} for line in self.lines]
        table = pd.DataFrame(rows, columns=ACCOUNT_COLUMNS)
        return table.astype({"count": int, "area_m2": float})

    def count(self, input: str, measure: str, reason: str | None = None) -> int:
        """The total ``count`` of ``input``'s lines with ``measure`` (and ``reason`` when given)."""
        if reason is None:
            return self.total(measure, input)
        return sum(
            line.count
            for line in self.lines
            if line.input == input and line.measure == measure and line.reason == reason
        )

    def imbalances(self) -> list[str]:
        """Where the totals do not add up (empty when every row is accounted for)."""
        found = []
        for input in sorted({line.input for line in self.lines}):
            read, kept = self.count(input, READ), self.count(input, ACCEPTED)
            rejected = self.count(input, REJECTED)
            if any(line.input == input and line.measure == READ for line in self.lines) and (
                read != kept + rejected
            ):
                found.append(f"{input}: {read} rows read but {kept} accepted + {rejected} rejected")
            placed = self.count(input, INSIDE) + self.count(input, OUTSIDE)
            made = kept + self.count(input, GENERATED)
            if any(line.input == input and line.measure == INSIDE for line in self.lines) and (
                placed != made
            ):
                found.append(f"{input}: {made} kept but {placed} inside or outside the blocks")
        return found

    def total(self, measure: str, input: str | None = None) -> int:
        """The total ``count`` of the lines with ``measure`` (of one ``input``, or of all)."""
        return sum(
            line.count
            for line in self.lines
            if line.measure == measure and (input is None or line.input == input)
        )

    def to_html(self, caption: str) -> str:
        """The account as an HTML table with ``caption`` (areas in hectares)."""
        table = self.table()
        hectares = ["" if math.isnan(a) else f"{a / 10_000:,.2f}" for a in table["area_m2"]]
        table.insert(table.columns.get_loc("area_m2"), "area (ha)", hectares)
        table = table.drop(columns="area_m2")
        table["count"] = [f"{c:,}" for c in table["count"]]
        body = table.to_html(index=False, border=0, classes="pp-table", escape=True)
        return body.replace(">", f"><caption>{html.escape(caption)}</caption>", 1)


# --------------------------------------------------------------------------------------------------
# building it


def _detail(items: Iterable[tuple[str, float]]) -> str:
    """The first :data:`DETAIL_ITEMS` ``(label, m²)`` pairs as text."""
    items = list(items)
    text = "; ".join(f"{label} {area:,.0f} m²" for label, area in items[:DETAIL_ITEMS])
    return text + (f"; … {len(items) - DETAIL_ITEMS} more" if len(items) > DETAIL_ITEMS else "")


def _rows(
    input: str, source: str, read: int, kept: int, rejects: pd.DataFrame
) -> list[AccountLine]:
    lines = [
        AccountLine(input, source, READ, int(read)),
        AccountLine(input, source, ACCEPTED, int(kept)),
    ]
    if len(rejects):
        by_kind = rejects.groupby("kind", sort=True)
        for kind, group in by_kind:
            rows = ", ".join(map(str, group["row"].iloc[:DETAIL_ITEMS]))
            more = f" … {len(group) - DETAIL_ITEMS} more" if len(group) > DETAIL_ITEMS else ""
            lines.append(
                AccountLine(
                    input, source, REJECTED, len(group), str(kind), detail=f"rows {rows}{more}"
                )
            )
    return lines


def _caseload(demand: Demand) -> list[AccountLine]:
    summary, rejects = demand.summary, demand.rejects
    if "people_rows_read" not in summary:  # synthesised
        return [
            AccountLine("people", "synthetic", GENERATED, len(demand.people)),
            AccountLine("visits", "synthetic", GENERATED, len(demand.visits)),
        ]
    lines = []
    for input, kept in (("people", len(demand.people)), ("visits", len(demand.visits))):
        source = str(summary[f"{input}_source"])
        mine = rejects[rejects["source"] == source] if len(rejects) else rejects
        if input == "visits" and summary["people_source"] == source:
            mine = mine.iloc[0:0]  # one file for both: its rejects are counted under people
        lines += _rows(input, source, summary[f"{input}_rows_read"], kept, mine)
    return lines


def _outside(demand: Demand, block_demand: pd.DataFrame) -> list[AccountLine]:
    source = str(demand.summary.get("people_source", "synthetic"))
    visits_source = str(demand.summary.get("visits_source", "synthetic"))
    outside_people = len(block_demand.attrs.get("outside_people", []))
    outside_visits = int(block_demand.attrs.get("outside_visits", 0))
    hours = float(block_demand.attrs.get("outside_hours_week", 0.0))
    detail = f"{hours:,.1f} care hours a week" if outside_visits else ""
    return [
        AccountLine("people", source, INSIDE, len(demand.people) - outside_people),
        AccountLine("people", source, OUTSIDE, outside_people, detail=detail),
        AccountLine("visits", visits_source, INSIDE, len(demand.visits) - outside_visits),
        AccountLine("visits", visits_source, OUTSIDE, outside_visits, detail=detail),
    ]


def _layer(input: str, report: LayerReport) -> list[AccountLine]:
    source = report.source
    lines = [AccountLine(input, source, FEATURES, report.n_features + len(report.rejected))]
    for reason, group in report.rejected.groupby("reason", sort=True):
        ids = ", ".join(group["id"].astype(str)[:DETAIL_ITEMS])
        lines.append(AccountLine(input, source, REJECTED, len(group), str(reason), detail=ids))
    repairs = report.repairs
    if len(repairs):
        ranked = repairs.reindex(repairs["area_change_m2"].abs().sort_values(ascending=False).index)
        detail = "; ".join(
            f"{r.id} {r.area_before_m2:,.0f} → {r.area_after_m2:,.0f} m²"
            for r in ranked.head(DETAIL_ITEMS).itertuples()
        )
        lines.append(AccountLine(input, source, REPAIRED, len(repairs),
                                 area_m2=float(repairs["area_change_m2"].sum()), detail=detail))  # fmt: skip
    if len(report.overlaps):
        pairs = ((f"{r.id_a}/{r.id_b}", r.area_m2) for r in report.overlaps.itertuples())
        lines.append(AccountLine(input, source, OVERLAP, len(report.overlaps),
                                 area_m2=report.overlap_m2, detail=_detail(pairs)))  # fmt: skip
    if len(report.gaps):
        holes = ((f"gap by {r.ids or '?'}", r.area_m2) for r in report.gaps.itertuples())
        lines.append(AccountLine(input, source, GAP, len(report.gaps),
                                 area_m2=report.gap_m2, detail=_detail(holes)))  # fmt: skip
    return lines


def _addresses(postcodes: Any) -> list[AccountLine]:
    if postcodes is None or "rows_read" not in postcodes.attrs:
        return []
    return _rows(
        "addresses", str(postcodes.attrs.get("source", "addresses")),
        postcodes.attrs["rows_read"], len(postcodes), postcodes.attrs["rejects"],
    )  # fmt: skip


def _population(areas: Any, column: str, source: str) -> list[AccountLine]:
    if areas is None or column not in getattr(areas, "columns", ()):
        return []
    values = pd.to_numeric(areas[column], errors="coerce")
    bad = areas.loc[(values.isna() | (values < 0)).to_numpy(), "id"].astype(str)
    if not len(bad):
        return []
    return [AccountLine("areas", source, NO_POPULATION, len(bad),
                        detail=f"{column!r} missing or negative for {', '.join(bad[:DETAIL_ITEMS])}")]  # fmt: skip


def build_account(
    demand: Demand,
    block_demand: pd.DataFrame,
    layers: dict[str, LayerReport] | None = None,
    *,
    addresses: Any = None,
    areas: Any = None,
    population_column: str | None = None,
) -> InputsAccount:
    """The inputs account of one study.

    Parameters
    ----------
    demand : the caseload, read (:func:`patchplan.demand.load_demand`) or synthesised.
    block_demand : :func:`patchplan.demand.demand_by_area` over the blocks (its ``attrs`` count
        the people and visits outside every block).
    layers : the :class:`~patchplan.boundaries.LayerReport` of each boundary layer read, by input key.
    addresses : the postcodes read (:func:`patchplan.demand.load_postcodes`), if any.
    areas, population_column : the small areas and their population column, when a caseload was
        synthesised from them (areas without a usable value get no people).
    """
    lines = _caseload(demand) + _outside(demand, block_demand) + _addresses(addresses)
    for key, report in (layers or {}).items():
        lines += _layer(key, report)
    if population_column and "people_rows_read" not in demand.summary:
        source = (layers or {}).get("areas")
        lines += _population(areas, population_column, source.source if source else "areas")
    return InputsAccount(tuple(lines))
