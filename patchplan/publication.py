"""The one disclosure rule for every published output: primary and secondary suppression.

Care recipients are few in a small area, so a published table, map or total must never let a reader
work out how many people (or how many care hours) an area with fewer than :data:`MIN_COUNT` people
has. :func:`withheld_areas` decides which areas' figures are withheld, and :func:`publishable`
applies that decision to a table; every published output (maps, the report, the published CSV and
GeoPackage layers, the console summary) goes through :func:`publishable`, so the rule lives here
only.

The rule
--------
* **Primary**: an area with fewer than ``min_count`` people is withheld.
* **Secondary**: while the withheld areas could be told apart from a published total (only one of
  them has people) or together hold fewer than ``min_count`` people, the next smallest area is
  withheld too. The total minus the areas shown is then a sum over two or more areas that together
  hold at least ``min_count`` people, from which no single area's figure can be recovered.
* **Totals**: shown when the whole table holds at least ``min_count`` people, withheld otherwise.
* Every figure of a withheld area is withheld (counts, hours, travel, shares, classes): anything
  computed from its people or visits. Only the columns a caller names in ``keep`` (identifiers,
  names, geometry, design choices such as the number of providers) stay.

Withheld figures are NaN (``None`` in text columns) and the row's ``withheld`` column is True;
:func:`withheld_note` says in plain words what was withheld, for the report and the console.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["MIN_COUNT", "TOTAL", "Disclosure", "publishable", "withheld_areas", "withheld_note"]

MIN_COUNT = 5
"""Fewest people an area must hold for its figures to be published."""

TOTAL = "total"
"""Row label of a table's total row (``savings.compare`` and ``pipeline.summarise`` use it)."""


@dataclass(frozen=True)
class Disclosure:
    """Which areas' figures are withheld, and why.

    Attributes
    ----------
    primary : ids of areas with fewer than ``min_count`` people
    secondary : ids withheld so the primary ones cannot be recovered from a total
    min_count : the threshold, people
    total_withheld : True when the whole table holds fewer than ``min_count`` people
    withheld_people : people in the withheld areas together (published only when at least
        ``min_count``, which the rule ensures unless the total is withheld too)
    """

    primary: tuple[str, ...] = ()
    secondary: tuple[str, ...] = ()
    min_count: int = MIN_COUNT
    total_withheld: bool = False
    withheld_people: float = 0.0

    @property
    def withheld(self) -> tuple[str, ...]:
        """Every withheld id, primary first."""
        return self.primary + self.secondary


def withheld_areas(people: pd.Series, min_count: int = MIN_COUNT) -> Disclosure:
    """Decide which areas' figures are withheld, from the people per area.

    Parameters
    ----------
    people : people per area, indexed by area id (a total row labelled ``"total"`` is ignored)
    min_count : fewest people an area must hold to be published

    Returns
    -------
    Disclosure
    """
    counts = pd.to_numeric(people.drop(index=TOTAL, errors="ignore"), errors="coerce").fillna(0)
    counts.index = counts.index.map(str)
    primary = counts[counts < min_count].sort_values(kind="stable")
    withheld = list(primary.index)
    others = counts.drop(index=withheld).sort_values(kind="stable")
    secondary: list[str] = []

    def exposed() -> bool:  # could a withheld area be told apart from the total?
        with_people = counts[withheld][counts[withheld] > 0]
        return len(with_people) > 0 and (len(with_people) < 2 or with_people.sum() < min_count)

    while exposed() and len(others):
        secondary.append(others.index[0])
        withheld.append(others.index[0])
        others = others.iloc[1:]
    return Disclosure(
        primary=tuple(primary.index),
        secondary=tuple(secondary),
        min_count=min_count,
        total_withheld=bool(counts.sum() < min_count),
        withheld_people=float(counts[withheld].sum()) if withheld else 0.0,
    )


def publishable(
    table: pd.DataFrame,
    people: str | pd.Series = "people",
    *,
    keep: Iterable[str] = (),
    id_column: str | None = None,
    min_count: int = MIN_COUNT,
) -> pd.DataFrame:
    """A copy of ``table`` safe to publish: every figure of a withheld area (and total) withheld.

    Parameters
    ----------
    table : one row per area (plus optionally a ``"total"`` row), identified by its index or by
        ``id_column``
    people : the column of ``table`` with people per area, or a Series of people by area id
    keep : columns shown even for a withheld area (identifiers, names, geometry, design choices);
        ``id_column`` and ``geometry`` are always kept
    id_column : column holding the area id (default: the index)
    min_count : fewest people an area must hold to be published

    Returns
    -------
    DataFrame (GeoDataFrame when given one) with the same rows and columns plus ``withheld``
    (bool); withheld figures are NaN, or None in text columns. ``.attrs["disclosure"]`` holds the
    :class:`Disclosure`.
    """
    ids = (table[id_column] if id_column else table.index.to_series()).map(str)
    counts = table[people] if isinstance(people, str) else people.reindex(ids.to_numpy())
    counts = pd.Series(np.asarray(counts, dtype=float), index=ids.to_numpy())
    disclosure = withheld_areas(counts[ids.to_numpy() != TOTAL], min_count)
    hidden = np.array(ids.isin(disclosure.withheld)) | (
        np.array(ids == TOTAL) & disclosure.total_withheld
    )
    kept = set(keep) | {"geometry", "withheld"} | ({id_column} if id_column else set())
    out = table.copy()
    for col in out.columns:
        if col in kept or not hidden.any():
            continue
        if pd.api.types.is_numeric_dtype(out[col]) and not pd.api.types.is_bool_dtype(out[col]):
            out[col] = out[col].astype(float).where(~hidden)
        else:
            out[col] = out[col].astype(object).where(~hidden, None)
    out["withheld"] = hidden
    out.attrs["disclosure"] = disclosure
    return out


def withheld_note(disclosure: Disclosure, noun: str = "lot") -> str:
    """What was withheld and why, in one or two plain sentences ("" when nothing was)."""
    if not disclosure.withheld and not disclosure.total_withheld:
        return ""
    if disclosure.total_withheld:
        return (
            f"Every figure is withheld: the study holds fewer than {disclosure.min_count} people."
        )
    plural = f"{noun}s"
    primary = ", ".join(disclosure.primary)
    text = (
        f"Figures for {primary} are withheld because "
        f"{'it holds' if len(disclosure.primary) == 1 else 'each holds'} fewer than "
        f"{disclosure.min_count} people."
    )
    if disclosure.secondary:
        text += (
            f" Figures for {', '.join(disclosure.secondary)} are withheld too, so that no withheld "
            f"figure can be worked out from the totals."
        )
    text += (
        f" The totals include the {len(disclosure.withheld)} withheld {plural}"
        f" ({disclosure.withheld_people:,.0f} people together)."
    )
    return text
