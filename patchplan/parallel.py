"""Running independent tasks (one per patch and day) in parallel processes.

One place for the scheduling decision, so every stage that fans out work does it the same way:
results come back in task order whatever the finishing order, and ``workers <= 1`` runs in this
process (simplest to debug, and what tests use). Workers ignore Ctrl-C; when the parent is
interrupted (or a task fails) the pool's workers are ended at once rather than left to finish.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import TypeVar

from patchplan.interrupts import quiet_worker

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
    pool = ProcessPoolExecutor(max_workers=min(workers, total), initializer=quiet_worker)
    try:
        futures = {pool.submit(fn, task): k for k, task in enumerate(tasks)}
        out: dict[int, R] = {}
        for done, future in enumerate(as_completed(futures), start=1):
            out[futures[future]] = future.result()
            if on_done:
                on_done(done, total)
        return [out[k] for k in range(total)]
    except BaseException:
        _end(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _end(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and end the workers now (Python 3.14 has this built in)."""
    terminate = getattr(pool, "terminate_workers", None)
    if terminate is not None:
        terminate()
        return
    workers = list((getattr(pool, "_processes", None) or {}).values())  # gone after shutdown
    pool.shutdown(wait=False, cancel_futures=True)
    for process in workers:
        process.terminate()
    for process in workers:
        process.join(timeout=10)
