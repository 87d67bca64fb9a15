"""Running independent tasks (one per patch and day) in parallel processes.

One place for the scheduling decision, so every stage that fans out work does it the same way:
results come back in task order whatever the finishing order, and ``workers <= 1`` runs in this
process (simplest to debug, and what tests use).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_tasks(fn: Callable[[T], R], tasks: Sequence[T], workers: int) -> list[R]:
    """``[fn(t) for t in tasks]``, spread over up to ``workers`` processes; order is kept.

    ``fn`` must be a module-level function and every task picklable.
    """
    if workers <= 1 or len(tasks) <= 1:
        return [fn(t) for t in tasks]
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
        return list(pool.map(fn, tasks))
