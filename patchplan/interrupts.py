"""Stopping a run on SIGINT (Ctrl-C) or SIGTERM: promptly, and never swallowed by a solver.

The CLI runs a study inside :func:`stop_on_signals`: either signal then raises
:class:`~patchplan.errors.Interrupted` in the main thread, the CLI writes nothing and exits
``128 + signal`` (130 for SIGINT, 143 for SIGTERM). Three places need help to honour that:

* native solvers that do not return to Python while they search. CP-SAT would even catch SIGINT
  itself, stop, and return its best solution as if nothing had happened (and leave SIGINT
  unhandled afterwards). :func:`stoppable` asks the solver to stop when a signal comes, and the
  signal is raised as soon as the solver returns;
* exceptions raised inside solver callbacks (OR-Tools routing calls back into Python) come back
  only when the search ends; :func:`raise_if_interrupted` re-raises a signal whose exception a
  library may have dropped on the way;
* worker processes (:mod:`patchplan.parallel`) ignore SIGINT (:func:`quiet_worker`): the parent
  decides, and ends them.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
from collections.abc import Callable, Iterator

from patchplan.errors import Interrupted

__all__ = ["quiet_worker", "raise_if_interrupted", "stop_on_signals", "stoppable"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: list[int] = []


def _raise(signum: int, frame: object) -> None:
    _received.append(signum)
    raise Interrupted(signum)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise :class:`Interrupted` (previous handlers restored after).

    Only the main thread can set signal handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    _received.clear()
    for s in STOP_SIGNALS:
        signal.signal(s, _raise)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def raise_if_interrupted() -> None:
    """Raise :class:`Interrupted` if a stop signal came during :func:`stop_on_signals`.

    Its exception is normally raised at once; this catches the case where a library swallowed it
    (an exception raised inside a native solver's Python callback can be lost).
    """
    if _received:
        raise Interrupted(_received[0])


@contextlib.contextmanager
def stoppable(stop: Callable[[], None]) -> Iterator[None]:
    """Run a native solver in the block so that SIGINT/SIGTERM stop it at once.

    A watcher thread listens on Python's signal wake-up fd (written by the C-level handler whichever
    thread the signal lands on) and calls ``stop()`` (e.g. CP-SAT's ``solver.stop_search``, safe
    from another thread while the solver has released the GIL). The Python handler then runs as
    the solver returns and raises, so whatever the solver returned is never used. Outside the main
    thread the block runs as it is and the signal arrives when the solver returns.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    previous = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            ready, _, _ = select.select([read_fd], [], [], 0.05)
            if ready and set(os.read(read_fd, 64)) & set(STOP_SIGNALS):
                stop()
                return

    watcher = threading.Thread(target=watch, name="patchplan-stop-watcher", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
        signal.set_wakeup_fd(previous)
        os.close(read_fd)
        os.close(write_fd)


def quiet_worker() -> None:
    """Initialiser for worker processes: ignore SIGINT (the parent handles Ctrl-C and ends its
    workers) and die at once on SIGTERM (the parent's handler is not theirs)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
