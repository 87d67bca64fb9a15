"""The planner's map of the proposed rounds (INTERNAL: it locates people's homes).

One self-contained HTML file that works offline (Leaflet 1.9.4 inlined from
``patchplan/static``; the OpenStreetMap basemap appears when online) and stays small at city scale:

* choose a day, a provider and a carer from select lists; the map draws that provider's rounds, or
  one carer's round with numbered stops, their times, the legs along the streets and a list of the
  stops; a legend says what the marks mean;
* each provider-day's data is a separate compact JSON block parsed only when chosen; coordinates
  are WGS84 rounded to 1e-5 degrees (about 1 m) and delta-encoded as polylines (the encoded
  polyline format of web maps), and legs are simplified to within 1 m of the street path.

:func:`planner_map_html` returns the page; the writer is :func:`patchplan.runsheets.write_round_outputs`.
"""

from __future__ import annotations

import html
import json
from importlib import resources

import numpy as np
from pyproj import Transformer

from patchplan import CRS, DISPLAY_CRS

__all__ = ["encode_polyline", "planner_map_html"]

_TO_WGS84 = Transformer.from_crs(CRS, DISPLAY_CRS, always_xy=True)
SIMPLIFY_M = 1.0
"""Legs are simplified to within this many metres of their street path."""


def encode_polyline(latlon: np.ndarray) -> str:
    """Encode (lat, lon) pairs in the encoded polyline format at 1e-5 degrees (about 1 m).

    Each coordinate is stored as the difference from the previous point, zig-zag coded in 5-bit
    chunks as printable characters (63–126), so a street path costs a few bytes a vertex.
    """
    ints = np.round(np.asarray(latlon, dtype=float) * 1e5).astype(np.int64)
    if len(ints) == 0:
        return ""
    deltas = np.diff(ints, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    out = []
    for value in deltas.ravel().tolist():
        value = ~(value << 1) if value < 0 else value << 1
        while value >= 0x20:
            out.append(chr((0x20 | (value & 0x1F)) + 63))
            value >>= 5
        out.append(chr(value + 63))
    return "".join(out)


def _latlon(xy: np.ndarray) -> np.ndarray:
    lon, lat = _TO_WGS84.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([lat, lon])


def _provider_day_data(book, provider: str, day: int) -> dict:
    """Compact data of one provider-day: per carer its mode, shift, base, stops and legs."""
    from patchplan.runsheets import clock

    carers = {}
    for carer in book.carers(provider, day):
        stops = book.round_of(carer, day)
        legs = book.legs.loc[stops.index]
        base = _latlon(legs[["from_x", "from_y"]].to_numpy(dtype=float)[:1])[0]
        visits = stops[stops["kind"] == "visit"]
        where = _latlon(legs.loc[visits.index, ["to_x", "to_y"]].to_numpy(dtype=float))
        first = stops.iloc[0]
        carers[carer] = {
            "m": str(first["mode"]),
            "h": ""
            if np.isnan(first["shift_start"])
            else f"{clock(first['shift_start'])}–{clock(first['shift_end'])}",
            "b": [round(float(base[0]), 5), round(float(base[1]), 5)],
            "s": [
                [
                    round(float(lat), 5),
                    round(float(lon), 5),
                    int(r.order),
                    clock(r.start),
                    clock(r.end),
                    str(r.person_id),
                    str(r.postcode or r.address),
                    str(r.partner),
                ]
                for (lat, lon), r in zip(where, visits.itertuples(index=False), strict=True)
            ],  # fmt: skip
            "l": [
                [
                    encode_polyline(_latlon(_coords(book.routes[i]))),
                    int(round(r.travel_min)),
                    int(round(r.travel_m)),
                ]
                for i, r in zip(stops.index, stops.itertuples(index=False), strict=True)
            ],  # fmt: skip
        }
    return {"c": carers}


def _coords(route) -> np.ndarray:
    line = route.geometry.simplify(SIMPLIFY_M, preserve_topology=False)
    coords = np.asarray(line.coords, dtype=float)
    return coords if len(coords) >= 2 else np.asarray(route.geometry.coords, dtype=float)


def _json(value) -> str:
    """JSON safe inside a ``<script>`` element (no ``</script>`` can close it early)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).replace("<", "\\u003c")


def planner_map_html(book) -> str:
    """The planner's map of every provider-day in ``book`` (a :class:`~patchplan.runsheets.RoundBook`).

    Returns one HTML page, marked INTERNAL, with select lists for day, provider and carer.
    """
    from patchplan.maps import OSM_ATTRIBUTION, PALETTE
    from patchplan.runsheets import INTERNAL, day_label

    pairs = book.provider_days()
    blocks: list[str] = []
    index: dict[str, dict[str, int]] = {}
    for n, (provider, day) in enumerate(pairs):
        data = _provider_day_data(book, provider, day)
        index.setdefault(str(day), {})[provider] = n
        blocks.append(f'<script type="application/json" id="pd{n}">{_json(data)}</script>')
    xy = book.legs[["from_x", "from_y"]].to_numpy(dtype=float)
    xy = np.vstack([xy, book.legs[["to_x", "to_y"]].to_numpy(dtype=float)])
    corners = _latlon(np.array([xy.min(axis=0), xy.max(axis=0)])) if len(xy) else np.zeros((2, 2))
    meta = {
        "index": index,
        "days": {str(d): day_label(d) for d in sorted({d for _, d in pairs})},
        "bounds": np.round(corners, 5).tolist(),
        "palette": list(PALETTE),
        "attribution": OSM_ATTRIBUTION,
    }
    static = resources.files("patchplan.static")
    css = (static / "leaflet.css").read_text(encoding="utf-8")
    js = (static / "leaflet.js").read_text(encoding="utf-8")
    flags = [INTERNAL]
    if book.synthetic:
        flags.append("SYNTHETIC DATA")
    if book.estimate:
        flags.append("STRAIGHT-LINE TRAVEL ESTIMATE: legs are not along the streets")
    flag_html = "".join(f'<span class="flag">{html.escape(f)}</span>' for f in flags)
    title = html.escape(f"{book.title}: planner's map of the proposed rounds")
    return _TEMPLATE.format(
        title=title,
        css=css,
        leaflet=js,
        flags=flag_html,
        meta=_json(meta),
        blocks="\n".join(blocks),
        app=_APP,
    )


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — INTERNAL</title>
<style>{css}</style>
<script>{leaflet}</script>
<style>
html,body{{height:100%;margin:0;font:13px/1.35 system-ui,sans-serif}}
#map{{position:absolute;inset:0}}
.pp-panel{{position:absolute;z-index:1000;background:rgba(255,255,255,.95);padding:8px 10px;
  border-radius:6px;box-shadow:0 1px 4px rgba(0,0,0,.35)}}
#controls{{top:10px;left:54px;width:300px;max-height:calc(100% - 40px);overflow:auto}}
#controls h1{{font-size:15px;margin:2px 0 6px}}
#controls label{{display:block;margin:4px 0}}
#controls select{{width:100%;font-size:13px}}
.flag{{display:inline-block;color:#fff;background:#b2182b;padding:1px 6px;border-radius:3px;
  font-weight:600;margin:0 4px 3px 0;font-size:11px}}
#legend{{bottom:24px;right:10px;max-width:240px}}
#legend div{{margin:2px 0}}
.sw{{display:inline-block;width:26px;height:0;border-top:3px solid #333;vertical-align:middle;
  margin-right:6px}}
.sw.walk{{border-top-style:dashed}}
.pp-stop{{background:#fff;border:2px solid #333;border-radius:11px;min-width:22px;height:22px;
  line-height:18px;text-align:center;font-weight:700;font-size:11px;box-sizing:border-box}}
.pp-stop.double{{box-shadow:0 0 0 3px #7a0177}}
.pp-base{{background:#111;width:12px;height:12px;border:2px solid #fff;box-sizing:border-box}}
#stops{{margin:6px 0 0;padding-left:22px}}
#stops li{{margin:1px 0}}
.muted{{color:#555}}
@media (max-width:600px){{#controls{{width:auto;right:10px}} #legend{{display:none}}}}
</style></head><body>
<div id="map"></div>
<div id="controls" class="pp-panel">{flags}<h1>{title}</h1>
<label>Day <select id="day"></select></label>
<label>Provider <select id="provider"></select></label>
<label>Carer <select id="carer"></select></label>
<div id="summary" class="muted"></div><ol id="stops"></ol></div>
<div id="legend" class="pp-panel"><b>Legend</b>
<div><span class="sw walk"></span>leg walked (along the streets)</div>
<div><span class="sw"></span>leg driven</div>
<div><span class="pp-stop" style="display:inline-block">3</span> stop number, in visit order
(<span class="pp-stop" style="display:inline-block;padding:0 3px">3/4</span> two visits at one address)</div>
<div><span class="pp-stop double" style="display:inline-block">2</span> double-up visit</div>
<div><span class="pp-base" style="display:inline-block"></span> start and end of the round</div>
<div class="muted">One colour per carer. Hover a stop for its times.</div></div>
<script type="application/json" id="meta">{meta}</script>
{blocks}
<script>{app}</script>
</body></html>
"""

_APP = r"""
(function(){
const meta = JSON.parse(document.getElementById('meta').textContent);
const map = L.map('map', {zoomControl: true, preferCanvas: false});
L.tileLayer('https://tile.openstreetmap.org/{z}/{x}/{y}.png',
  {maxZoom: 19, attribution: meta.attribution}).addTo(map);
L.control.scale({imperial: false}).addTo(map);
map.fitBounds(meta.bounds);
const layer = L.layerGroup().addTo(map);
const cache = {};
const $ = id => document.getElementById(id);
function esc(s){ return String(s).replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c])); }
function decode(str){
  let i = 0, lat = 0, lon = 0; const pts = [];
  while (i < str.length) {
    for (const k of [0, 1]) {
      let b, shift = 0, r = 0;
      do { b = str.charCodeAt(i++) - 63; r |= (b & 31) << shift; shift += 5; } while (b >= 32);
      const d = (r & 1) ? ~(r >> 1) : (r >> 1);
      if (k === 0) lat += d; else lon += d;
    }
    pts.push([lat / 1e5, lon / 1e5]);
  }
  return pts;
}
function data(day, provider){
  const n = meta.index[day][provider];
  if (!(n in cache)) cache[n] = JSON.parse(document.getElementById('pd' + n).textContent);
  return cache[n];
}
function fill(select, options){
  select.innerHTML = options.map(([v, t]) => '<option value="' + esc(v) + '">' + esc(t) + '</option>').join('');
}
function colour(i){ return meta.palette[i % meta.palette.length]; }
function draw(){
  const day = $('day').value, provider = $('provider').value, chosen = $('carer').value;
  const d = data(day, provider);
  const ids = Object.keys(d.c).sort();
  layer.clearLayers();
  const bounds = [];
  const list = [];
  ids.forEach((id, i) => {
    if (chosen && id !== chosen) return;
    const c = d.c[id], col = colour(i), one = !!chosen;
    c.l.forEach(([enc, mins, metres], k) => {
      const pts = decode(enc);
      pts.forEach(p => bounds.push(p));
      const what = k < c.s.length ? 'to stop ' + (k + 1) : 'back to base';
      L.polyline(pts, {color: col, weight: one ? 5 : 3, opacity: one ? 0.9 : 0.7,
        dashArray: c.m === 'walk' ? '7 6' : null})
        .bindTooltip(esc(id) + ': ' + what + ', ' + c.m + ' ' + mins + ' min, ' + metres + ' m')
        .addTo(layer);
    });
    L.marker(c.b, {icon: L.divIcon({className: 'pp-base', iconSize: [12, 12]})})
      .bindTooltip(esc(id) + ': start and end').addTo(layer);
    const places = new Map();  // stops at one address share a marker: "3/4"
    c.s.forEach(([lat, lon, order, start, end, person, place, partner]) => {
      bounds.push([lat, lon]);
      const tip = esc(id) + ' · stop ' + order + ' · ' + start + '–' + end + ' · ' + esc(person) +
        (place ? ' · ' + esc(place) : '') + (partner ? ' · with ' + esc(partner) : '');
      const key = lat + ',' + lon;
      if (!places.has(key)) places.set(key, {at: [lat, lon], orders: [], tips: [], double: false});
      const p = places.get(key);
      p.orders.push(order); p.tips.push(tip); p.double = p.double || !!partner;
      if (one) list.push('<li>' + start + '–' + end + ' ' + esc(person) + (partner ? ' (with ' + esc(partner) + ')' : '') + '</li>');
    });
    places.forEach(p => {
      if (one) {
        const label = p.orders.join('/'), wide = 14 + 8 * label.length;
        L.marker(p.at, {icon: L.divIcon({className: '', iconSize: [wide, 22], iconAnchor: [wide / 2, 11],
          html: '<div class="pp-stop' + (p.double ? ' double' : '') + '" style="border-color:' + col +
            ';width:' + wide + 'px;border-radius:11px">' + label + '</div>'})})
          .bindTooltip(p.tips.join('<br>')).addTo(layer);
      } else {
        L.circleMarker(p.at, {radius: 5, color: col, weight: 2, fillColor: '#fff', fillOpacity: 1})
          .bindTooltip(p.tips.join('<br>')).addTo(layer);
      }
    });
  });
  $('stops').innerHTML = list.join('');
  if (chosen) {
    const c = d.c[chosen];
    $('summary').textContent = chosen + ': ' + (c.m === 'walk' ? 'walks' : 'drives') +
      (c.h ? ', shift ' + c.h : '') + ', ' + c.s.length + ' visits';
  } else {
    $('summary').textContent = provider + ': ' + ids.length + ' carers, ' +
      ids.reduce((n, id) => n + d.c[id].s.length, 0) + ' visits';
  }
  if (bounds.length) map.fitBounds(bounds, {paddingTopLeft: [window.innerWidth > 700 ? 340 : 20, 30], paddingBottomRight: [30, 30], maxZoom: 17, animate: false});
}
function carers(){
  const d = data($('day').value, $('provider').value);
  const ids = Object.keys(d.c).sort();
  fill($('carer'), [['', 'All carers (' + ids.length + ')']].concat(ids.map(id =>
    [id, id + ' · ' + d.c[id].m + (d.c[id].h ? ' · ' + d.c[id].h : '') + ' · ' + d.c[id].s.length + ' visits'])));
  draw();
}
function providers(){
  fill($('provider'), Object.keys(meta.index[$('day').value]).sort().map(p => [p, p]));
  carers();
}
fill($('day'), Object.keys(meta.days).map(d => [d, meta.days[d]]));
$('day').onchange = providers;
$('provider').onchange = carers;
$('carer').onchange = draw;
if (Object.keys(meta.days).length) providers();
})();
"""
