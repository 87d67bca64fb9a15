"""patchplan: home-care contract patches, walking and driving rounds, and their savings.

The stages run one way: boundaries → blocks → patches → rounds → savings → maps, fed by
demand and by travel-time matrices on OpenStreetMap networks. See ``docs/data-contracts.md``.
"""

__version__ = "0.1.0"

CRS = "EPSG:27700"
"""British National Grid: every distance and geometry between stages is in this CRS (metres)."""

GB_EXTENT_M = (0.0, 0.0, 700_000.0, 1_300_000.0)
"""Great Britain in British National Grid, ``(xmin, ymin, xmax, ymax)`` in metres: data outside lies
in another country or has the wrong CRS."""

DISPLAY_CRS = "EPSG:4326"
"""WGS84, used only inside ``maps.py`` for display."""
