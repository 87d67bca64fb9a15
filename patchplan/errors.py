"""Exception classes. Messages name the file, the row or id, and the problem, so an analyst can act."""

from __future__ import annotations

import signal


class PatchplanError(Exception):
    """Base class for every error patchplan raises on purpose."""


class ScenarioError(PatchplanError):
    """A scenario file is missing, malformed, or has an unknown, ill-typed or out-of-range key.

    ``problems`` lists every problem found (``patchplan check`` collects them all before raising);
    the message is the one problem, or all of them one per line.
    """

    def __init__(self, *problems: str) -> None:
        self.problems = list(problems)
        if len(problems) == 1:
            message = problems[0]
        else:
            message = f"{len(problems)} problems:\n" + "\n".join(f"  - {p}" for p in problems)
        super().__init__(message)


class BoundaryError(PatchplanError):
    """A boundary layer cannot be used: missing CRS, no features, unusable ids or geometries."""


class DemandError(PatchplanError):
    """The people or visits input cannot be read at all (row-level problems go to rejects instead)."""


class NetworkError(PatchplanError):
    """A street network cannot be built: missing, empty or corrupt file, no highways, or offline."""


class PatchDesignError(PatchplanError):
    """The requested patches cannot exist: names the constraint that fails."""


class RoundsError(PatchplanError):
    """A rounds model is malformed (individual impossible visits are reported, not raised)."""


class LayoutError(PatchplanError):
    """A hand-edited lot layout cannot be used: names the file, the block or lot, and the problem."""


class SweepError(PatchplanError):
    """A sweep cannot start: a bad ``[sweep]`` key or ``--vary`` option, or no scheduler to reach."""


class OutputsError(PatchplanError):
    """The outputs folder cannot be written: not writable, or in use by another run (names its pid)."""


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped a run. Not an error: the CLI exits with ``128 + signum``.

    A ``KeyboardInterrupt`` (so a ``BaseException``), so no ``except Exception`` in a library can
    swallow it.
    """

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        super().__init__(f"stopped by {signal.Signals(self.signum).name}")

    def __reduce__(self):  # picklable across process pools
        return (type(self), (self.signum,))

    @property
    def exit_code(self) -> int:
        """The shell's code for a process ended by this signal: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum
