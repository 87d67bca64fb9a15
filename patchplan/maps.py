"""Folium maps for committee papers and provider planners.

Each map is one self-contained HTML file: Leaflet's JavaScript and CSS are inlined (from
``patchplan/static``, Leaflet 1.9.4, BSD-2-Clause), so the map works offline; the OpenStreetMap
basemap appears when the reader is online.

Published maps (:func:`lots_map`, :func:`savings_map`, :func:`walkability_map`) only accept areas
(polygons) and suppress any count below ``min_count`` people, so no individual can be located.
:func:`rounds_map` shows carers' rounds street by street and is marked INTERNAL — NOT FOR
PUBLICATION.

Input frames are in EPSG:27700; this is the only module that converts to EPSG:4326.
"""

from __future__ import annotations

import html
from importlib import resources

import branca.element as be
import folium
import geopandas as gpd
import pandas as pd

from patchplan import DISPLAY_CRS

PALETTE = (
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
    "#1f78b4", "#b2df8a", "#fb9a99", "#fdbf6f", "#cab2d6", "#8dd3c7", "#bebada",
)  # fmt: skip
"""Qualitative colours for patches and carers (ColorBrewer Dark2 + Paired + Set3)."""

WALK_CLASS_COLOURS = {"walkable": "#1a9641", "mixed": "#fdae61", "car-dependent": "#d7191c"}
OSM_ATTRIBUTION = "© OpenStreetMap contributors (ODbL)"


class OfflineMap(folium.Map):
    """A ``folium.Map`` whose Leaflet library is inlined instead of fetched from a CDN."""

    default_js: list[tuple[str, str]] = []
    default_css: list[tuple[str, str]] = []

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        static = resources.files("patchplan.static")
        css = (static / "leaflet.css").read_text(encoding="utf-8")
        js = (static / "leaflet.js").read_text(encoding="utf-8")
        header = self.get_root().header  # type: ignore[attr-defined]  # the root is a Figure
        header.add_child(be.Element(f"<style>{css}</style>"), name="leaflet_css_inline")
        header.add_child(be.Element(f"<script>{js}</script>"), name="leaflet_js_inline")
        header.add_child(be.Element(_BASE_STYLE), name="patchplan_style")


_BASE_STYLE = """<style>
.pp-panel{position:fixed;z-index:1000;background:rgba(255,255,255,.93);padding:8px 12px;
  border-radius:6px;box-shadow:0 1px 4px rgba(0,0,0,.3);font:13px/1.35 system-ui,sans-serif;}
.pp-title{top:10px;left:55px;max-width:60%}
.pp-title h1{font-size:16px;margin:0 0 2px}
.pp-legend{bottom:28px;right:10px}
.pp-swatch{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:middle;
  border:1px solid #555}
.pp-flag{color:#fff;background:#b2182b;padding:1px 6px;border-radius:3px;font-weight:600}
.pp-note{color:#444;font-size:12px}
.pp-label{font:600 12px system-ui,sans-serif;color:#111;text-shadow:0 0 3px #fff,0 0 3px #fff;
  white-space:nowrap}
</style>"""


class PublicationError(ValueError):
    """A published map was given individual-level data."""


def _display(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return frame.to_crs(DISPLAY_CRS)


def _new_map(frame: gpd.GeoDataFrame) -> OfflineMap:
    minx, miny, maxx, maxy = _display(frame).total_bounds
    fmap = OfflineMap(tiles=None, control_scale=True, prefer_canvas=False)
    folium.TileLayer("OpenStreetMap", name="Basemap (online only)", attr=OSM_ATTRIBUTION).add_to(
        fmap
    )
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    return fmap


def _panel(fmap: folium.Map, css_class: str, inner_html: str) -> None:
    fmap.get_root().html.add_child(  # type: ignore[attr-defined]  # the root is a Figure
        be.Element(f'<div class="pp-panel {css_class}">{inner_html}</div>')
    )


def _title(
    fmap: folium.Map,
    title: str,
    subtitle: str = "",
    *,
    synthetic: bool = False,
    estimate: bool = False,
    internal: bool = False,
) -> None:
    flags = []
    if internal:
        flags.append('<span class="pp-flag">INTERNAL — NOT FOR PUBLICATION</span>')
    if synthetic:
        flags.append('<span class="pp-flag">SYNTHETIC DATA</span>')
    if estimate:
        flags.append('<span class="pp-flag">STRAIGHT-LINE TRAVEL ESTIMATE</span>')
    body = f"<h1>{html.escape(title)}</h1>"
    if subtitle:
        body += f'<div class="pp-note">{html.escape(subtitle)}</div>'
    if flags:
        body += "<div>" + " ".join(flags) + "</div>"
    _panel(fmap, "pp-title", body)


def _legend(fmap: folium.Map, heading: str, items: list[tuple[str, str]]) -> None:
    rows = "".join(
        f'<div><span class="pp-swatch" style="background:{c}"></span>{html.escape(label)}</div>'
        for label, c in items
    )
    _panel(fmap, "pp-legend", f"<b>{html.escape(heading)}</b>{rows}")


def _require_areas(frame: gpd.GeoDataFrame, what: str) -> None:
    kinds = set(frame.geometry.geom_type.dropna())
    if not kinds <= {"Polygon", "MultiPolygon"}:
        raise PublicationError(f"{what}: published maps take areas only, got {sorted(kinds)}")


def suppress_small(frame: pd.DataFrame, columns: list[str], min_count: int = 5) -> pd.DataFrame:
    """Withhold ``columns`` where fewer than ``min_count`` people are counted (``people`` column).

    The people count itself reads "<5"; every other figure reads "withheld".
    """
    out = frame.copy()
    small = out["people"] < min_count
    for col in columns:
        shown = f"<{min_count}" if col == "people" else "withheld"
        out[col] = out[col].astype(object).where(~small, shown)
    return out


def _fmt(value, digits: int = 0) -> str:
    if isinstance(value, str):
        return value
    if pd.isna(value):
        return "–"
    return f"{value:,.{digits}f}"


def _geojson(
    frame: gpd.GeoDataFrame, name: str, style, fields: list[str], aliases: list[str], show=True
):
    display = _display(frame)
    keep = [c for c in display.columns if c == "geometry" or c in fields]
    return folium.GeoJson(
        display[keep],
        name=name,
        style_function=style,
        highlight_function=lambda _: {"weight": 3, "fillOpacity": 0.65},
        tooltip=folium.GeoJsonTooltip(fields=fields, aliases=aliases, sticky=True),
        show=show,
    )


def _outlines(
    fmap: folium.Map, layer: gpd.GeoDataFrame | None, name: str, colour: str, dash: str, show: bool
):
    if layer is None or layer.empty:
        return
    label = "name" if "name" in layer.columns else "id"
    folium.GeoJson(
        _display(layer[[label, "geometry"]]),
        name=name,
        style_function=lambda _: {"color": colour, "weight": 2, "fill": False, "dashArray": dash},
        tooltip=folium.GeoJsonTooltip(fields=[label], aliases=[name]),
        show=show,
    ).add_to(fmap)


def _labels(fmap: folium.Map, frame: gpd.GeoDataFrame, text: pd.Series, name: str) -> None:
    group = folium.FeatureGroup(name=name, show=True)
    points = _display(
        gpd.GeoDataFrame(geometry=frame.geometry.representative_point(), crs=frame.crs)
    )
    for point, label in zip(points.geometry, text, strict=True):
        icon = folium.DivIcon(
            html=f'<div class="pp-label">{label}</div>', icon_size=(160, 52), icon_anchor=(40, 26)
        )
        folium.Marker([point.y, point.x], icon=icon).add_to(group)
    group.add_to(fmap)


def lots_map(
    patches: gpd.GeoDataFrame,
    pcns: gpd.GeoDataFrame | None = None,
    neighbourhoods: gpd.GeoDataFrame | None = None,
    *,
    existing: gpd.GeoDataFrame | None = None,
    title: str = "Proposed home-care patches",
    synthetic: bool = False,
    estimate: bool = False,
    min_count: int = 5,
) -> folium.Map:
    """The lots: patches coloured and labelled, PCNs and neighbourhoods as toggleable outlines.

    ``patches`` needs ``patch_id``, ``hours_week``, ``people`` and optionally ``providers``.
    ``existing`` (boundary layer: ``id``/``name``, geometry), when given, adds today's areas (e.g.
    contract localities) as a toggleable outline layer, "Today's areas".
    """
    _require_areas(patches, "lots_map patches")
    frame = patches.sort_values("patch_id").reset_index(drop=True)
    if "providers" not in frame.columns:
        frame["providers"] = pd.NA
    shown = suppress_small(frame, ["people", "hours_week"], min_count)
    shown["hours"] = shown["hours_week"].map(_fmt)
    shown["persons"] = shown["people"].map(_fmt)
    shown["lot_providers"] = shown["providers"].map(_fmt)
    colours = {pid: PALETTE[i % len(PALETTE)] for i, pid in enumerate(frame["patch_id"])}
    fmap = _new_map(frame)
    _geojson(
        shown,
        "Patches (lots)",
        lambda f: {
            "fillColor": colours[f["properties"]["patch_id"]],
            "color": "#333",
            "weight": 1.5,
            "fillOpacity": 0.45,
        },
        ["patch_id", "hours", "persons", "lot_providers"],
        ["Patch", "Care hours a week", "People", "Providers"],
    ).add_to(fmap)
    _outlines(fmap, neighbourhoods, "Neighbourhoods", "#555", "2 4", show=False)
    _outlines(fmap, pcns, "PCN boundaries", "#08306b", "6 3", show=True)
    _outlines(fmap, existing, "Today's areas", "#b35806", "1 5", show=False)
    _labels(
        fmap,
        frame,
        shown["patch_id"]
        + "<br>"
        + shown["hours"]
        + " h/wk · "
        + shown["persons"]
        + " people"
        + frame["providers"].map(lambda n: "" if pd.isna(n) else f"<br>{int(n)} providers"),
        "Patch labels",
    )
    _title(
        fmap, title, f"{len(frame)} lots; hours and people per lot (counts under {min_count} withheld)",
        synthetic=synthetic, estimate=estimate,
    )  # fmt: skip
    _legend(fmap, "Patches", [(pid, colours[pid]) for pid in frame["patch_id"]])
    folium.LayerControl(collapsed=False).add_to(fmap)
    return fmap


def _ramp(value: float, low: float, high: float) -> str:
    """A diverging red (worse) → white → green (saved) colour for ``value`` within [low, high]."""
    if pd.isna(value):
        return "#cccccc"
    span = max(abs(low), abs(high), 1e-9)
    t = max(-1.0, min(1.0, value / span))
    if t >= 0:
        r, g, b = (int(255 - t * (255 - c)) for c in (26, 150, 65))
    else:
        r, g, b = (int(255 + t * (255 - c)) for c in (215, 25, 28))
    return f"#{r:02x}{g:02x}{b:02x}"


def savings_map(
    areas: gpd.GeoDataFrame,
    *,
    value: str = "saved_travel_min",
    title: str = "Carer travel saved by the proposed patches",
    synthetic: bool = False,
    estimate: bool = False,
    min_count: int = 5,
) -> folium.Map:
    """Choropleth of weekly travel minutes saved per area (patch or block).

    ``areas`` needs ``patch_id`` or ``block_id``, ``people``, ``value`` and optionally
    ``saved_travel_pct``, ``today_travel_min_lfl`` and ``proposed_travel_min_lfl`` (like-for-like
    travel, ``savings.py``).
    """
    _require_areas(areas, "savings_map areas")
    key = "patch_id" if "patch_id" in areas.columns else "block_id"
    frame = areas.reset_index(drop=True)
    cols = [
        c
        for c in (value, "saved_travel_pct", "today_travel_min_lfl", "proposed_travel_min_lfl")
        if c in frame
    ]
    shown = suppress_small(frame, cols, min_count)
    for col in cols:
        shown[f"{col}_text"] = shown[col].map(_fmt)
    low, high = frame.loc[frame["people"] >= min_count, value].agg(["min", "max"]).fillna(0)
    fill = {
        k: _ramp(v if p >= min_count else float("nan"), low, high)
        for k, v, p in zip(frame[key], frame[value], frame["people"], strict=True)
    }
    fmap = _new_map(frame)
    _geojson(
        shown,
        "Travel saved",
        lambda f: {
            "fillColor": fill[f["properties"][key]],
            "color": "#444",
            "weight": 1,
            "fillOpacity": 0.7,
        },
        [key] + [f"{c}_text" for c in cols],
        ["Area"] + [_SAVINGS_ALIASES.get(c, c) for c in cols],
    ).add_to(fmap)
    _title(
        fmap,
        title,
        "Minutes of carer travel saved per week",
        synthetic=synthetic,
        estimate=estimate,
    )
    _legend(
        fmap,
        "Minutes saved a week",
        [(f"{_fmt(high)} saved", _ramp(high, low, high)), ("no change", _ramp(0, low, high)),
         (f"{_fmt(low)}", _ramp(low, low, high)), (f"withheld (<{min_count} people)", "#cccccc")],
    )  # fmt: skip
    folium.LayerControl(collapsed=False).add_to(fmap)
    return fmap


_SAVINGS_ALIASES = {
    "saved_travel_min": "Travel saved (min/week)",
    "saved_travel_pct": "Travel saved (%)",
    "today_travel_min_lfl": "Travel today (min/week)",
    "proposed_travel_min_lfl": "Travel proposed (min/week)",
}


def walkability_map(
    patches: gpd.GeoDataFrame,
    *,
    title: str = "Can each patch be worked on foot?",
    synthetic: bool = False,
    estimate: bool = False,
) -> folium.Map:
    """Patches coloured by walking class, with the share of visits and care hours served on foot.

    ``patches`` needs ``patch_id``, ``walk_class`` (walkable | mixed | car-dependent) and
    ``walk_visit_share``, ``walk_hours_share`` (0–1); optionally ``walking_carers``.
    """
    _require_areas(patches, "walkability_map patches")
    frame = patches.reset_index(drop=True).copy()
    frame["visits_on_foot"] = (100 * frame["walk_visit_share"]).map(lambda v: f"{_fmt(v)}%")
    frame["hours_on_foot"] = (100 * frame["walk_hours_share"]).map(lambda v: f"{_fmt(v)}%")
    fields = ["patch_id", "walk_class", "visits_on_foot", "hours_on_foot"]
    aliases = ["Patch", "Class", "Visits on foot", "Care hours on foot"]
    if "walking_carers" in frame:
        frame["walkers"] = frame["walking_carers"].map(_fmt)
        fields.append("walkers")
        aliases.append("Walking carers needed")
    fmap = _new_map(frame)
    _geojson(
        frame,
        "Walking class",
        lambda f: {
            "fillColor": WALK_CLASS_COLOURS.get(f["properties"]["walk_class"], "#999"),
            "color": "#333", "weight": 1.5, "fillOpacity": 0.55,
        },
        fields,
        aliases,
    ).add_to(fmap)  # fmt: skip
    _labels(
        fmap,
        frame,
        frame["patch_id"] + "<br>" + frame["visits_on_foot"] + " on foot",
        "Patch labels",
    )
    _title(
        fmap,
        title,
        "Planned with walking carers first, then a mixed fleet",
        synthetic=synthetic,
        estimate=estimate,
    )
    _legend(fmap, "Walking class", [(k, v) for k, v in WALK_CLASS_COLOURS.items()])
    folium.LayerControl(collapsed=False).add_to(fmap)
    return fmap


def rounds_map(
    legs: gpd.GeoDataFrame,
    patches: gpd.GeoDataFrame | None = None,
    *,
    title: str = "Carers' rounds",
    synthetic: bool = False,
    estimate: bool = False,
) -> folium.Map:
    """INTERNAL: each carer's round along the streets, one colour per carer, stops numbered.

    ``legs`` is a GeoDataFrame of LineStrings with ``carer_id``, ``order``, ``visit_id``,
    ``mode``, ``start`` (minutes after midnight) and ``travel_min``. It locates individual
    homes, so this map is never for publication.
    """
    frame = legs.reset_index(drop=True)
    carers = sorted(frame["carer_id"].unique())
    colours = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(carers)}
    fmap = _new_map(frame if patches is None else patches)
    if patches is not None:
        _outlines(
            fmap, patches.rename(columns={"patch_id": "name"}), "Patches", "#333", "4 2", show=True
        )
    display = _display(frame)
    display["when"] = display["start"].map(
        lambda m: "" if pd.isna(m) else f"{int(m) // 60:02d}:{int(m) % 60:02d}"
    )
    for carer in carers:
        group = folium.FeatureGroup(name=f"{carer}", show=True)
        for row in display[display["carer_id"] == carer].itertuples():
            coords = [(y, x) for x, y in row.geometry.coords]
            tip = f"{carer} · stop {row.order} · {row.visit_id} · {row.when} · {row.mode} {row.travel_min:.0f} min"
            folium.PolyLine(
                coords, color=colours[carer], weight=4, opacity=0.85, tooltip=tip,
                dash_array="6 6" if row.mode == "walk" else None,
            ).add_to(group)  # fmt: skip
        group.add_to(fmap)
    _title(
        fmap, title, "One colour per carer; dashed legs are walked",
        synthetic=synthetic, estimate=estimate, internal=True,
    )  # fmt: skip
    folium.LayerControl(collapsed=True).add_to(fmap)
    return fmap
