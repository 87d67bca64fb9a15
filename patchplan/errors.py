"""Exception classes. Messages name the file, the row or id, and the problem, so an analyst can act."""


class PatchplanError(Exception):
    """Base class for every error patchplan raises on purpose."""


class ScenarioError(PatchplanError):
    """A scenario file is missing, malformed, or has an unknown or ill-typed key."""


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
