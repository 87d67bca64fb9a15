"""Folium maps for committee papers and provider planners.

Each map is one self-contained HTML file: Leaflet's JavaScript and CSS are inlined (from
``patchplan/static``, Leaflet 1.9.4, BSD-2-Clause), so the map works offline; the OpenStreetMap
basemap appears when the reader is online.

Published maps (:func:`lots_map`, :func:`savings_map`, :func:`walkability_map`) only accept areas
(polygons) with a ``people`` count, and withhold figures through
:func:`patchplan.publication.publishable` (the one disclosure rule), so no individual can be
located and no withheld figure recovered. Every map carries the OpenStreetMap, Ordnance Survey and
ONS credits (:data:`CREDITS`), colour-blind-safe colours, legends in hours a week, and, given an
:class:`Orientation`, main roads and place names to find one's way offline. In print, map controls
are hidden. :func:`rounds_map` shows carers' rounds street by street and is marked INTERNAL — NOT
FOR PUBLICATION.

Input frames are in EPSG:27700; this is the only module that converts to EPSG:4326.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from importlib import resources

import branca.element as be
import folium
import geopandas as gpd
import pandas as pd

from patchplan import DISPLAY_CRS
from patchplan.publication import MIN_COUNT, publishable

PALETTE = (
    "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
    "#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#882255", "#AA4499",
)  # fmt: skip
"""Qualitative colours for lots and carers: Okabe–Ito (without black), then Paul Tol's muted set;
both are told apart with the common colour-vision deficiencies."""

WALK_CLASS_COLOURS = {"walkable": "#0072B2", "mixed": "#56B4E9", "car-dependent": "#E69F00"}
"""Walking classes: dark blue, light blue, orange (ordered by lightness, no red/green pair)."""

SAVED_COLOUR, MORE_TRAVEL_COLOUR, NO_CHANGE_COLOUR = "#2166ac", "#b35806", "#f7f7f7"
"""Diverging blue (travel saved) – white – orange (more travel), safe for colour-blind readers."""

WITHHELD_COLOUR = "#d9d9d9"
"""Fill of an area whose figures are withheld (``patchplan.publication``)."""

NOT_ASSESSED_COLOUR = "#ffffff"
"""Fill of a lot the walking test did not cover."""

OSM_ATTRIBUTION = "© OpenStreetMap contributors (ODbL)"
CREDITS = (
    "© OpenStreetMap contributors (Open Database Licence)",
    "Contains OS data © Crown copyright and database right",
    "Contains ONS data © Crown copyright and database right (Open Government Licence v3.0)",
)
"""Credits shown on every map (and in the report): OpenStreetMap, Ordnance Survey, ONS."""


@dataclass(frozen=True)
class Orientation:
    """What a reader finds their way by when the basemap is offline (EPSG:27700).

    Attributes
    ----------
    roads : main roads, LineStrings (optional ``name``), drawn as grey lines
    places : named points (``name``): towns and villages from the OSM file, or neighbourhood
        names, drawn as labels
    """

    roads: gpd.GeoDataFrame | None = None
    places: gpd.GeoDataFrame | None = None


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
.pp-title{top:10px;left:55px;max-width:55%;padding:6px 10px}
.pp-title h1{font-size:15px;margin:0 0 2px}
.pp-legend{bottom:34px;right:10px;max-width:40%}
.pp-credits{bottom:4px;left:4px;right:4px;padding:2px 8px;font-size:10.5px;color:#333;
  border-radius:3px}
.pp-swatch{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:middle;
  border:1px solid #555}
.pp-road{display:inline-block;width:18px;height:0;margin-right:6px;vertical-align:middle;
  border-top:3px solid #6b6b6b}
.pp-flag{color:#fff;background:#b2182b;padding:1px 6px;border-radius:3px;font-weight:600}
.pp-note{color:#444;font-size:12px}
.pp-label{font:600 12px system-ui,sans-serif;color:#111;text-shadow:0 0 3px #fff,0 0 3px #fff;
  white-space:nowrap}
.pp-place{font:italic 11px system-ui,sans-serif;color:#333;text-shadow:0 0 2px #fff,0 0 2px #fff;
  white-space:nowrap}
.leaflet-container .leaflet-control-attribution{display:none}
.leaflet-bottom.leaflet-left .leaflet-control-scale{margin-bottom:40px}
@media print{
  .leaflet-control-zoom,.leaflet-control-layers{display:none!important}
  .pp-panel{box-shadow:none}
  .pp-label,.pp-place{text-shadow:none}
}
</style>"""


class PublicationError(ValueError):
    """A published map was given individual-level data, or no people count to withhold by."""


def _display(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return frame.to_crs(DISPLAY_CRS)


def _new_map(frame: gpd.GeoDataFrame) -> OfflineMap:
    minx, miny, maxx, maxy = _display(frame).total_bounds
    fmap = OfflineMap(tiles=None, control_scale=True, prefer_canvas=False, zoom_snap=0.25)
    folium.TileLayer("OpenStreetMap", name="Basemap (online only)", attr=OSM_ATTRIBUTION).add_to(
        fmap
    )
    # keep the areas clear of the title panel (top) and the credits (bottom)
    fmap.fit_bounds(
        [[miny, minx], [maxy, maxx]], padding_top_left=(10, 80), padding_bottom_right=(10, 40)
    )
    _panel(fmap, "pp-credits", " · ".join(html.escape(c) for c in CREDITS))
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


def _legend(
    fmap: folium.Map, heading: str, items: list[tuple[str, str]], roads: bool = False
) -> None:
    rows = "".join(
        f'<div><span class="pp-swatch" style="background:{c}"></span>{html.escape(label)}</div>'
        for label, c in items
    )
    if roads:
        rows += '<div><span class="pp-road"></span>Main road</div>'
    _panel(fmap, "pp-legend", f"<b>{html.escape(heading)}</b>{rows}")


def _require_areas(frame: gpd.GeoDataFrame, what: str) -> None:
    kinds = set(frame.geometry.geom_type.dropna())
    if not kinds <= {"Polygon", "MultiPolygon"}:
        raise PublicationError(f"{what}: published maps take areas only, got {sorted(kinds)}")
    if "people" not in frame.columns:
        raise PublicationError(
            f"{what}: a 'people' column is needed to withhold areas with few people"
        )


def _fmt(value, digits: int = 0, scale: float = 1.0, suffix: str = "") -> str:
    if isinstance(value, str):
        return value
    if value is None or pd.isna(value):
        return "–"
    return f"{value * scale:,.{digits}f}{suffix}"


def _shown(frame: pd.DataFrame, col: str, **fmt) -> pd.Series:
    """``col`` as text for tooltips and labels: "withheld" on withheld rows."""
    text = frame[col].map(lambda v: _fmt(v, **fmt))
    return text.where(~frame["withheld"], "withheld")


def _geojson(
    frame: gpd.GeoDataFrame,
    name: str,
    style,
    fields: list[str],
    aliases: list[str],
    show=True,
    key: str = "patch_id",
):
    """Areas with a tooltip of ``fields``; properties are those fields and ``key`` (for styling)."""
    display = _display(frame)
    keep = [c for c in display.columns if c in ("geometry", key) or c in fields]
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


def _text_markers(
    fmap: folium.Map, points: gpd.GeoSeries, texts, name: str, css: str, size=(160, 52)
) -> None:
    group = folium.FeatureGroup(name=name, show=True)
    shown = _display(gpd.GeoDataFrame(geometry=points, crs=points.crs))
    for point, text in zip(shown.geometry, texts, strict=True):
        icon = folium.DivIcon(
            html=f'<div class="{css}">{text}</div>',
            icon_size=size,
            icon_anchor=(size[0] // 4, size[1] // 2),
        )
        folium.Marker([point.y, point.x], icon=icon, interactive=False, keyboard=False).add_to(
            group
        )
    group.add_to(fmap)


def _labels(fmap: folium.Map, frame: gpd.GeoDataFrame, text: pd.Series, name: str) -> None:
    _text_markers(fmap, frame.geometry.representative_point(), text, name, "pp-label")


def _orient(fmap: folium.Map, orientation: Orientation | None) -> bool:
    """Draw main roads and place names; True when roads were drawn (for the legend)."""
    if orientation is None:
        return False
    roads = orientation.roads
    drew_roads = roads is not None and not roads.empty
    if roads is not None and drew_roads:
        folium.GeoJson(
            _display(roads[["geometry"]]),
            name="Main roads",
            style_function=lambda _: {"color": "#6b6b6b", "weight": 2.5, "opacity": 0.8},
            interactive=False,
        ).add_to(fmap)
    places = orientation.places
    if places is not None and not places.empty:
        _text_markers(
            fmap, places.geometry, places["name"].map(html.escape), "Place names", "pp-place",
            size=(140, 16),
        )  # fmt: skip
    return drew_roads


def _lot_label(frame: pd.DataFrame) -> pd.Series:
    """The lot as "P03 Firth Park & Shiregreen" when lots are named, else its id."""
    if "name" not in frame.columns:
        return frame["patch_id"].astype(str)
    names = frame["name"].fillna("").astype(str)
    return (frame["patch_id"].astype(str) + " " + names).str.strip()


def lots_map(
    patches: gpd.GeoDataFrame,
    pcns: gpd.GeoDataFrame | None = None,
    neighbourhoods: gpd.GeoDataFrame | None = None,
    *,
    existing: gpd.GeoDataFrame | None = None,
    orientation: Orientation | None = None,
    title: str = "Proposed home-care patches",
    synthetic: bool = False,
    estimate: bool = False,
    min_count: int = MIN_COUNT,
) -> folium.Map:
    """The lots: patches coloured and labelled, PCNs and neighbourhoods as toggleable outlines.

    ``patches`` needs ``patch_id``, ``hours_week``, ``people`` and optionally ``name`` (the places
    a lot covers) and ``providers``. Figures are withheld by :func:`patchplan.publication.publishable`.
    ``existing`` (boundary layer: ``id``/``name``, geometry), when given, adds today's areas (e.g.
    contract localities) as a toggleable outline layer, "Today's areas". ``orientation`` adds
    main roads and place names.
    """
    _require_areas(patches, "lots_map patches")
    frame = patches.sort_values("patch_id").reset_index(drop=True)
    if "providers" not in frame.columns:
        frame["providers"] = pd.NA
    keep = ["patch_id", "name", "providers", "pcn_ids"]
    shown = publishable(frame, "people", keep=keep, id_column="patch_id", min_count=min_count)
    shown["lot"] = _lot_label(shown)
    shown["hours"] = _shown(shown, "hours_week")
    shown["persons"] = _shown(shown, "people")
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
        ["lot", "hours", "persons", "lot_providers"],
        ["Lot", "Care hours a week", "People", "Providers"],
    ).add_to(fmap)
    _outlines(fmap, neighbourhoods, "Neighbourhoods", "#555", "2 4", show=False)
    _outlines(fmap, pcns, "PCN boundaries", "#08306b", "6 3", show=True)
    _outlines(fmap, existing, "Today's areas", "#6a3d9a", "1 5", show=False)
    roads = _orient(fmap, orientation)
    figures = (shown["hours"] + " care hours a week · " + shown["persons"] + " people").where(
        ~shown["withheld"], "figures withheld"
    )
    _labels(
        fmap,
        frame,
        shown["lot"].map(html.escape)
        + "<br>"
        + figures
        + frame["providers"].map(lambda n: "" if pd.isna(n) else f"<br>{int(n)} providers"),
        "Lot labels",
    )
    _title(
        fmap, title,
        f"{len(frame)} lots; care hours a week and people per lot "
        f"(figures for fewer than {min_count} people withheld)",
        synthetic=synthetic, estimate=estimate,
    )  # fmt: skip
    _legend(fmap, "Lots", [(label, colours[pid]) for pid, label in
                           zip(frame["patch_id"], shown["lot"], strict=True)], roads=roads)  # fmt: skip
    folium.LayerControl(collapsed=True).add_to(fmap)
    return fmap


def _ramp(value: float, low: float, high: float) -> str:
    """Diverging blue (travel saved) → white → orange (more travel) for ``value`` in [low, high]."""
    if pd.isna(value):
        return WITHHELD_COLOUR
    span = max(abs(low), abs(high), 1e-9)
    t = max(-1.0, min(1.0, value / span))
    end = SAVED_COLOUR if t >= 0 else MORE_TRAVEL_COLOUR
    mid = [int(NO_CHANGE_COLOUR[i : i + 2], 16) for i in (1, 3, 5)]
    far = [int(end[i : i + 2], 16) for i in (1, 3, 5)]
    r, g, b = (round(m + abs(t) * (f - m)) for m, f in zip(mid, far, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


_SAVINGS_FIELDS = {
    "saved_travel_min": ("Carer travel saved (hours a week)", 1 / 60, 0, ""),
    "saved_travel_pct": ("Carer travel saved", 1.0, 0, "%"),
    "today_travel_min_lfl": ("Carer travel today (hours a week)", 1 / 60, 0, ""),
    "proposed_travel_min_lfl": ("Carer travel proposed (hours a week)", 1 / 60, 0, ""),
}


def savings_map(
    areas: gpd.GeoDataFrame,
    *,
    value: str = "saved_travel_min",
    orientation: Orientation | None = None,
    title: str = "Carer travel saved by the proposed patches",
    synthetic: bool = False,
    estimate: bool = False,
    min_count: int = MIN_COUNT,
) -> folium.Map:
    """Choropleth of carer travel saved per area (patch or block), in hours a week.

    ``areas`` needs ``patch_id`` or ``block_id``, ``people``, ``value`` (weekly minutes saved) and
    optionally ``name``, ``saved_travel_pct``, ``today_travel_min_lfl`` and
    ``proposed_travel_min_lfl`` (like-for-like travel, ``savings.py``). Figures are withheld by
    :func:`patchplan.publication.publishable`.
    """
    _require_areas(areas, "savings_map areas")
    key = "patch_id" if "patch_id" in areas.columns else "block_id"
    frame = areas.reset_index(drop=True)
    shown = publishable(frame, "people", keep=[key, "name"], id_column=key, min_count=min_count)
    cols = [c for c in dict.fromkeys([value, *_SAVINGS_FIELDS]) if c in frame]
    for col in cols:
        _, scale, digits, suffix = _SAVINGS_FIELDS.get(col, (col, 1.0, 0, ""))
        shown[f"{col}_text"] = _shown(shown, col, scale=scale, digits=digits, suffix=suffix)
    shown["lot"] = _lot_label(shown) if key == "patch_id" else shown[key]
    low, high = shown[value].agg(["min", "max"]).fillna(0)
    fill = dict(zip(shown[key], shown[value].map(lambda v: _ramp(v, low, high)), strict=True))
    fmap = _new_map(frame)
    _geojson(
        shown,
        "Travel saved",
        lambda f: {
            "fillColor": fill[f["properties"][key]],
            "color": "#444",
            "weight": 1,
            "fillOpacity": 0.75,
        },
        ["lot"] + [f"{c}_text" for c in cols],
        ["Area"] + [_SAVINGS_FIELDS.get(c, (c,))[0] for c in cols],
        key=key,
    ).add_to(fmap)
    roads = _orient(fmap, orientation)
    if key == "patch_id":
        hours = _shown(shown, value, scale=1 / 60) + " h a week saved"
        _labels(fmap, frame, shown["lot"].map(html.escape) + "<br>" + hours.where(
            ~shown["withheld"], "figures withheld"), "Lot labels")  # fmt: skip
    _title(
        fmap, title, "Hours of carer travel saved each week, like for like (all visits served)",
        synthetic=synthetic, estimate=estimate,
    )  # fmt: skip
    items = [(f"{_fmt(high / 60)} hours a week saved", _ramp(high, low, high)),
             ("no change", _ramp(0, low, high))]  # fmt: skip
    if -low / 60 >= 0.5:
        items.append((f"{_fmt(-low / 60)} hours a week more travel", _ramp(low, low, high)))
    if shown["withheld"].any():
        items.append((f"withheld (under {min_count} people, or to protect them)", WITHHELD_COLOUR))
    _legend(fmap, "Carer travel saved", items, roads=roads)
    folium.LayerControl(collapsed=True).add_to(fmap)
    return fmap


def walkability_map(
    patches: gpd.GeoDataFrame,
    *,
    orientation: Orientation | None = None,
    title: str = "Can each patch be worked on foot?",
    synthetic: bool = False,
    estimate: bool = False,
    min_count: int = MIN_COUNT,
) -> folium.Map:
    """Patches coloured by walking class, with the share of visits and care hours served on foot.

    ``patches`` needs ``patch_id``, ``people``, ``walk_class`` (walkable | mixed | car-dependent;
    missing for a lot the walking test did not cover) and ``walk_visit_share``,
    ``walk_hours_share`` (0–1); optionally ``name`` and ``walking_carers``. Give every lot, so the
    figures withheld (:func:`patchplan.publication.publishable`) are the same as on the other maps.
    """
    _require_areas(patches, "walkability_map patches")
    frame = patches.reset_index(drop=True)
    shown = publishable(frame, "people", keep=["patch_id", "name"], id_column="patch_id",
                        min_count=min_count)  # fmt: skip
    shown["lot"] = _lot_label(shown)
    shown["visits_on_foot"] = _shown(shown, "walk_visit_share", scale=100, suffix="%")
    shown["hours_on_foot"] = _shown(shown, "walk_hours_share", scale=100, suffix="%")
    shown["class_text"] = (
        shown["walk_class"].fillna("not assessed").where(~shown["withheld"], "withheld")
    )
    fields = ["lot", "class_text", "visits_on_foot", "hours_on_foot"]
    aliases = ["Lot", "Walking class", "Visits on foot", "Care hours on foot"]
    if "walking_carers" in shown:
        shown["walkers"] = _shown(shown, "walking_carers")
        fields.append("walkers")
        aliases.append("Walking carers needed")
    fill = {
        pid: WITHHELD_COLOUR if hidden else WALK_CLASS_COLOURS.get(str(c), NOT_ASSESSED_COLOUR)
        for pid, c, hidden in zip(shown["patch_id"], shown["walk_class"], shown["withheld"],
                                  strict=True)
    }  # fmt: skip
    fmap = _new_map(frame)
    _geojson(
        shown,
        "Walking class",
        lambda f: {
            "fillColor": fill[f["properties"]["patch_id"]],
            "color": "#333", "weight": 1.5, "fillOpacity": 0.6,
        },
        fields,
        aliases,
    ).add_to(fmap)  # fmt: skip
    roads = _orient(fmap, orientation)
    _labels(
        fmap,
        frame,
        shown["lot"].map(html.escape)
        + "<br>"
        + (shown["visits_on_foot"] + " of visits on foot").where(
            ~shown["withheld"], "figures withheld"
        ),
        "Lot labels",
    )
    _title(
        fmap,
        title,
        "Share of visits walking carers reach (planned with walking carers first, then a mixed fleet)",
        synthetic=synthetic,
        estimate=estimate,
    )
    items = list(WALK_CLASS_COLOURS.items())
    if (shown["class_text"] == "not assessed").any():
        items.append(("not assessed (no visits on the day tested)", NOT_ASSESSED_COLOUR))
    if shown["withheld"].any():
        items.append((f"withheld (under {min_count} people, or to protect them)", WITHHELD_COLOUR))
    _legend(fmap, "Walking class", items, roads=roads)
    folium.LayerControl(collapsed=True).add_to(fmap)
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
