"""Range rules for settings, worded once: each returns a problem naming the key, or ``None``.

Every settings dataclass lists its own rules in a ``problems()`` method built from these, so a rule
lives beside the setting it guards and ``patchplan check`` can report every broken one at once::

    def problems(self) -> list[str]:
        return collect(at_least("k", self.k, 0), share("walking_share", self.walking_share))

A problem reads ``"<key> must ..., got <value>"``; the scenario loader prefixes the file and table.
Numbers must also be finite: TOML accepts ``nan`` and ``inf``, which no setting means.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "at_least",
    "at_most",
    "between",
    "collect",
    "one_of",
    "ordered",
    "positive",
    "share",
    "unique",
]


def _show(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else repr(value)


def _finite(key: str, value: float) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{key} must be a number, got {value!r}"
    return None if math.isfinite(value) else f"{key} must be a finite number, got {_show(value)}"


def at_least(key: str, value: float, low: float) -> str | None:
    """``value >= low``."""
    return _finite(key, value) or (
        None if value >= low else f"{key} must be at least {low:g}, got {_show(value)}"
    )


def at_most(key: str, value: float, high: float) -> str | None:
    """``value <= high``."""
    return _finite(key, value) or (
        None if value <= high else f"{key} must be at most {high:g}, got {_show(value)}"
    )


def positive(key: str, value: float) -> str | None:
    """``value > 0``."""
    return _finite(key, value) or (
        None if value > 0 else f"{key} must be positive, got {_show(value)}"
    )


def between(key: str, value: float, low: float, high: float) -> str | None:
    """``low <= value <= high``."""
    return _finite(key, value) or (
        None
        if low <= value <= high
        else f"{key} must be between {low:g} and {high:g}, got {_show(value)}"
    )


def share(key: str, value: float) -> str | None:
    """A share: between 0 and 1."""
    return between(key, value, 0.0, 1.0)


def ordered(low_key: str, low: float, high_key: str, high: float) -> str | None:
    """``low <= high`` for two settings that bound a range."""
    if _finite(low_key, low) or _finite(high_key, high):
        return None  # reported by the settings' own rules
    return (
        None
        if low <= high
        else f"{low_key} ({_show(low)}) must not exceed {high_key} ({_show(high)})"
    )


def one_of(key: str, value: Any, options: Sequence[Any]) -> str | None:
    """``value`` is one of ``options``."""
    if value in options:
        return None
    return f"{key} must be one of {', '.join(map(repr, options))}, got {value!r}"


def unique(key: str, values: Iterable[Any]) -> str | None:
    """No value listed twice."""
    counts = Counter(values)
    twice = sorted((v for v, n in counts.items() if n > 1), key=str)
    return None if not twice else f"{key} lists {', '.join(map(repr, twice))} more than once"


def collect(*found: str | None | Iterable[str | None]) -> list[str]:
    """The problems found, in order, without the ``None`` of rules that passed."""
    out: list[str] = []
    for item in found:
        if item is None:
            continue
        if isinstance(item, str):
            out.append(item)
        else:
            out.extend(p for p in item if p)
    return out
