"""Today as the council observes it, beside today as modelled and beside published UK figures.

Today's arrangement is modelled by the same optimiser as the proposed one, which isolates the effect
of the patches but plans today's rounds far better than most are planned in practice. The
``[baseline]`` settings (:class:`BaselineSettings`) hold what a council observes today, typically
from its providers' electronic call monitoring (ECM) or mileage claims; ``savings.explain`` then
states the saving against today as observed too.

:data:`PUBLISHED_TRAVEL` is the one place the published UK figures on carers' travel are cited.
:func:`calibration` sets modelled today beside observed and published figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from patchplan.savings import per_visit

__all__ = ["PUBLISHED_TRAVEL", "BaselineSettings", "PublishedFigure", "calibration"]


@dataclass(frozen=True)
class BaselineSettings:
    """What a council observes today (scenario section ``[baseline]``); all optional.

    Attributes
    ----------
    observed_miles_per_visit : miles driven by carers per visit today (total miles ÷ visits), from
        electronic call monitoring or mileage claims; 0 = not observed
    observed_travel_min_per_visit : minutes of carer travel per visit today (total travel time ÷
        visits); 0 = not observed. When only one of the two is given, the other is completed at
        today's modelled minutes per mile, and the report says so.
    source : where the observed figures come from, shown in the report (e.g. "ECM, all
        framework providers, January–March 2025")

    Observed figures should count the same legs as ``[savings] base_legs``: by default only the
    travel between visits (paid travel), not the journey to the first visit or home from the last.
    """

    observed_miles_per_visit: float = 0.0
    observed_travel_min_per_visit: float = 0.0
    source: str = ""

    def __post_init__(self) -> None:
        for name in ("observed_miles_per_visit", "observed_travel_min_per_visit"):
            if getattr(self, name) < 0:
                raise ValueError(
                    f"{name}: must be 0 (not observed) or more, got {getattr(self, name)}"
                )

    @property
    def observed(self) -> bool:
        """True when at least one observed figure is given."""
        return self.observed_miles_per_visit > 0 or self.observed_travel_min_per_visit > 0


@dataclass(frozen=True)
class PublishedFigure:
    """A published UK figure on home carers' travel.

    Attributes
    ----------
    measure : the :func:`patchplan.savings.per_visit` key it compares with
    value : the figure, in the measure's unit (miles)
    source : who published it, and where
    """

    measure: str
    value: float
    source: str


PUBLISHED_TRAVEL = (
    PublishedFigure(
        "miles_between_visits",
        4.3,
        "Homecare Association: UK home-care workers drive on average 4.3 miles between visits",
    ),
    PublishedFigure(
        "miles_per_visit",
        3.06,
        'The Access Group, "The Hidden Dynamics of Homecare" (2018): 3.06 miles per visit',
    ),
)
"""Published UK figures on carers' travel (the one place they are cited)."""

MEASURES = {
    "miles_per_visit": "Miles driven per visit",
    "miles_between_visits": "Miles between one visit and the next",
    "travel_min_per_visit": "Minutes of travel per visit",
}
"""The travel-per-visit measures compared, with their labels (units in the labels)."""


def calibration(savings_table: pd.DataFrame, settings: BaselineSettings) -> pd.DataFrame:
    """Today's travel per visit: modelled, observed, and published UK figures, side by side.

    Parameters
    ----------
    savings_table : :func:`patchplan.savings.compare`'s table
    settings : the observed figures (``[baseline]``)

    Returns
    -------
    DataFrame indexed by measure (:data:`MEASURES`), columns ``label``, ``modelled_today``,
    ``modelled_proposed``, ``observed`` (NaN when not given) and ``published`` (NaN when there is
    none), ``published_source``.
    """
    today = per_visit(savings_table, "today_")
    proposed = per_visit(savings_table, "proposed_")
    observed = {
        "miles_per_visit": settings.observed_miles_per_visit or float("nan"),
        "travel_min_per_visit": settings.observed_travel_min_per_visit or float("nan"),
    }
    published = {f.measure: f for f in PUBLISHED_TRAVEL}
    rows = [
        {
            "measure": key,
            "label": label,
            "modelled_today": today[key],
            "modelled_proposed": proposed[key],
            "observed": observed.get(key, float("nan")),
            "published": published[key].value if key in published else float("nan"),
            "published_source": published[key].source if key in published else "",
        }
        for key, label in MEASURES.items()
    ]
    return pd.DataFrame(rows).set_index("measure")
