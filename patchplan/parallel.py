"""Running independent tasks (one per patch and day) in parallel processes.

One place for the scheduling decision, so every stage that fans out work does it the same way:
results come back in task order whatever the finishing order, and ``workers <= 1`` runs in this
process (simplest to debug, and what tests use).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_tasks(
    fn: Callable[[T], R],
    tasks: Sequence[T],
    workers: int,
    on_done: Callable[[int, int], None] | None = None,
) -> list[R]:
    """``[fn(t) for t in tasks]``, spread over up to ``workers`` processes; order is kept.

    ``fn`` must be a module-level function and every task picklable. Tasks start in order.
    ``on_done(done, total)`` is called in this process as each task finishes (for progress).
    """
    total = len(tasks)
    if workers <= 1 or total <= 1:
        results = []
        for k, task in enumerate(tasks, start=1):
            results.append(fn(task))
            if on_done:
                on_done(k, total)
        return results
    with ProcessPoolExecutor(max_workers=min(workers, total)) as pool:
        futures = {pool.submit(fn, task): k for k, task in enumerate(tasks)}
        out: dict[int, R] = {}
        for done, future in enumerate(as_completed(futures), start=1):
            out[futures[future]] = future.result()
            if on_done:
                on_done(done, total)
    return [out[k] for k in range(total)]
