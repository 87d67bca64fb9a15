"""Run sheets, GPX, Excel-friendly rounds, rotas and the planner's map of the demo town's rounds.

The demo study runs once for this module (the lighter settings of ``test_demo.py``) from a scenario
file in a temporary folder, so the ``patchplan rounds`` command can find its cached result.
"""

from __future__ import annotations

import dataclasses
import io as stdio
import re
import tomllib
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lxml import etree
from lxml import html as lhtml
from shapely.geometry import LineString
from typer.testing import CliRunner

from patchplan import gpx, pipeline, runsheets, workforce
from patchplan.cli import app
from patchplan.directions import NO_STREETS
from patchplan.matrix import StraightLineTravel
from patchplan.network import street_label
from patchplan.rounds import RETURN
from patchplan.scenario import Scenario

GPX_XSD = Path(__file__).parent / "data" / "gpx.xsd"
CLOCK = re.compile(r"^\d\d:\d\d$")
LIGHT = {
    "demand": {"people": 120, "hours_week": 1872.0},
    "rounds": {"time_limit_s": 8.0, "solution_limit": 400, "seed_iterations": 500},
}


def _toml(data: dict) -> str:
    """A TOML document of tables of plain values (enough for a scenario file)."""

    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    return "\n".join(
        f"[{section}]\n" + "".join(f"{k} = {value(v)}\n" for k, v in table.items())
        for section, table in data.items()
    )


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The demo study, light settings, from a scenario file whose outputs go to a temporary folder."""
    root = tmp_path_factory.mktemp("rounds")
    data = tomllib.loads((resources.files("patchplan.examples") / "demo.toml").read_text())
    for section, values in LIGHT.items():
        data.setdefault(section, {}).update(values)
    data["outputs"] = {"dir": str(root / "outputs"), "maps_dir": str(root / "maps")}
    path = root / "demo-light.toml"
    path.write_text(_toml(data))
    scenario = Scenario.load(path)
    return path, pipeline.run(scenario)


@pytest.fixture(scope="module")
def result(study):
    return study[1]


@pytest.fixture(scope="module")
def written(result, tmp_path_factory):
    return runsheets.write_round_outputs(result, tmp_path_factory.mktemp("sheets"))


@pytest.fixture(scope="module")
def book(result):
    return runsheets.round_book(result)


def _sheet_stops(path: Path) -> list[tuple[str, str, str]]:
    """(carer, visit, HH:MM–HH:MM) of every stop on every carer's sheet in a run-sheets file."""
    doc = lhtml.parse(str(path))
    out = []
    for sheet in doc.xpath('//section[@class="sheet"]'):
        carer = sheet.get("id").rsplit("-day", 1)[0]
        for stop in sheet.xpath('.//div[@class="stop"]'):
            when = stop.xpath('.//span[@class="when"]')[0].text_content()
            out.append((carer, stop.get("data-visit"), when))
    return out


def test_every_visit_is_on_one_sheet_per_carer_and_double_ups_on_both_at_one_time(result, written):
    rounds = result.proposed.rounds
    stops = rounds[rounds["visit_id"] != RETURN]
    sheets = [p for k, p in written.items() if k.endswith("-sheets")]
    seen = [s for p in sheets for s in _sheet_stops(p)]
    table = pd.DataFrame(seen, columns=["carer_id", "visit_id", "when"])
    assert not table.duplicated(["carer_id", "visit_id"]).any()  # once per carer
    assert sorted(zip(table["carer_id"], table["visit_id"], strict=True)) == sorted(
        zip(stops["carer_id"], stops["visit_id"], strict=True)
    )
    carers = result.planned_visits.set_index("visit_id")["carers"]
    per_visit = table.groupby("visit_id")
    assert (per_visit.size() == carers.reindex(per_visit.size().index)).all()
    doubles = carers[carers == 2].index.intersection(table["visit_id"])
    assert len(doubles) > 0
    assert (per_visit["when"].nunique()[doubles] == 1).all()  # same HH:MM on both sheets
    for carer, visit, _ in seen:
        if visit in doubles:
            partner = set(table.loc[table["visit_id"] == visit, "carer_id"]) - {carer}
            day = int(result.planned_visits.set_index("visit_id").at[visit, "day"])
            sheet = written[f"{workforce.provider_of(carer)}-day{day}-sheets"].read_text()
            assert f"Double-up with {partner.pop()}" in sheet


def test_sheets_show_shift_break_times_postcodes_and_day_totals(result, book, written):
    provider, day = book.provider_days()[0]
    text = written[f"{provider}-day{day}-sheets"].read_text()
    assert runsheets.INTERNAL in text and "SYNTHETIC" in text
    assert "Shift 07:00–14:30" in text and "Break " in text and "Day total: walking" in text
    postcodes = result.inputs.demand.people.set_index("person_id")["address_id"]
    mine = book.stops[(book.stops["provider_id"] == provider) & (book.stops["kind"] == "visit")]
    for person in mine["person_id"]:
        assert postcodes[person] in text
    assert re.search(r"To stop 2:</b> (walk|drive) \d+ min, [\d.]+ k?m\. ", text)


def test_walked_and_driven_totals_add_up_the_legs(book):
    walked = book.stops.loc[book.stops["mode"] == "walk", "travel_m"].sum()
    table = runsheets.rounds_table(book)
    legs = table[table["kind"] != "break"]
    assert legs.loc[legs["mode"] == "walk", "travel_m"].astype(int).sum() == pytest.approx(
        walked, abs=len(legs)
    )


def test_directions_name_only_streets_along_the_leg(result, book):
    """Every street a sheet names lies under the leg's drawn path (checked on the graph itself)."""
    named = re.compile(r"(?:along|onto) (?:an )?(.+?)(?= for |, then|\.$| to the next door)")
    checked = 0
    for i, row in enumerate(book.stops.itertuples(index=False)):
        route = book.routes[i]
        if not route.edges:
            continue
        graph = result.inputs.travel[row.mode].graph
        path = route.geometry.buffer(0.5)
        under = {
            street_label(d)
            for u, v, d in graph.edges(data=True)
            if path.contains(
                d.get("geometry")
                or LineString([(graph.nodes[u]["x"], graph.nodes[u]["y"]),
                               (graph.nodes[v]["x"], graph.nodes[v]["y"])])
            )
        }  # fmt: skip
        streets = named.findall(row.directions)
        assert streets, row.directions
        assert set(streets) <= under, (row.directions, under)
        checked += 1
        if checked >= 40:
            break
    assert checked >= 20


def test_dependencies_show_the_gap_when_the_visits_table_has_them(result):
    visits = result.planned_visits.copy()
    served = result.proposed.rounds
    served = served[served["visit_id"] != RETURN].drop_duplicates("visit_id")
    person = served["person_id"].value_counts().index[0]
    first, second = sorted(served.loc[served["person_id"] == person, "visit_id"])[:2]
    visits["follows"] = np.where(visits["visit_id"] == second, first, "")
    visits["gap_min"] = np.where(visits["visit_id"] == second, 60.0, np.nan)
    visits["gap_max"] = np.where(visits["visit_id"] == second, 120.0, np.nan)
    book = runsheets.round_book(dataclasses.replace(result, planned_visits=visits))
    row = book.stops[book.stops["visit_id"] == second].iloc[0]
    assert row["depends"].startswith(f"second visit 60–120 min after {first} (")
    assert (book.stops.loc[book.stops["visit_id"] != second, "depends"] == "").all()
    html = runsheets.runsheets_html(book, row["provider_id"], int(row["day"]))
    assert f"second visit 60–120 min after {first}" in html
    plain = runsheets.round_book(result)
    assert (plain.stops["depends"] == "").all()  # no columns, nothing shown


def test_straight_line_sheets_say_there_are_no_street_directions(result):
    travel = {m: StraightLineTravel(mode=m) for m in ("walk", "drive")}
    inputs = dataclasses.replace(result.inputs, travel=travel)
    book = runsheets.round_book(dataclasses.replace(result, inputs=inputs))
    assert book.estimate
    moving = book.stops[book.stops["travel_m"] > 0]
    assert (moving["directions"] == NO_STREETS).all()
    provider, day = book.provider_days()[0]
    assert "no street directions are available" in runsheets.runsheets_html(book, provider, day)


def test_excel_rounds_are_marked_internal_with_clock_times_whole_metres_and_postcodes(written):
    path = next(p for k, p in written.items() if k.endswith("-rounds"))
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only with the mark
    assert raw.decode("utf-8-sig").splitlines()[0].startswith(runsheets.INTERNAL)
    assert "INTERNAL" in path.name
    table = pd.read_csv(path, skiprows=1, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(table.columns) == runsheets.ROUNDS_TABLE_COLUMNS
    visits = table[table["kind"] == "visit"]
    assert visits["start"].str.match(CLOCK).all() and visits["end"].str.match(CLOCK).all()
    assert visits["travel_m"].str.fullmatch(r"\d+").all()
    assert (visits["postcode"] != "").all()
    assert (table["kind"] == "break").any()


def test_rota_has_one_row_per_carer_and_shows_each_visit(book, written):
    provider, day = book.provider_days()[0]
    rota = pd.read_csv(written[f"{provider}-day{day}-rota"], skiprows=1, encoding="utf-8-sig",
                       dtype=str, keep_default_na=False)  # fmt: skip
    assert list(rota["carer"]) == book.carers(provider, day)
    slots = [c for c in rota.columns if CLOCK.match(c)]
    assert len(slots) > 10
    for carer in book.carers(provider, day):
        people = set(book.round_of(carer, day).query("kind == 'visit'")["person_id"])
        cells = {c.replace(" ×2", "") for c in rota.loc[rota["carer"] == carer, slots].iloc[0]}
        assert people <= cells
        assert "break" in cells


def test_gpx_files_validate_against_the_gpx_1_1_schema(book, written):
    schema = etree.XMLSchema(etree.parse(str(GPX_XSD)))
    files = [p for k, p in written.items() if k.startswith("gpx-")]
    assert len(files) == book.stops.groupby(["carer_id", "day"]).ngroups
    ns = {"g": gpx.GPX_NAMESPACE}
    for path in files:
        doc = etree.parse(str(path))
        assert schema.validate(doc), (path.name, schema.error_log)
        assert "INTERNAL" in path.name
    doc = etree.parse(str(files[0]))
    carer = files[0].name.split("-day")[0]
    stops = book.round_of(carer, 0).query("kind == 'visit'")
    wpts = doc.findall("g:wpt", ns)
    assert len(wpts) == len(stops) + 1  # the start, then each visit
    times = [w.findtext("g:time", namespaces=ns) for w in wpts[1:]]
    assert times == [f"2024-01-01T{runsheets.clock(s)}:00Z" for s in stops["start"]]
    assert len(doc.findall("g:trk/g:trkseg/g:trkpt", ns)) > len(stops)
    lat = float(wpts[1].get("lat"))
    assert 53 < lat < 55  # the demo town lies off the Yorkshire coast


def test_gpx_times_are_uk_clock_times_in_utc():
    assert gpx.planned_time("2024-07-01", 2, 8 * 60).isoformat() == "2024-07-03T07:00:00+00:00"
    assert gpx.planned_time("2024-01-01", 0, 8 * 60).isoformat() == "2024-01-01T08:00:00+00:00"


def test_gpx_week_start_must_be_a_monday():
    from patchplan.errors import ScenarioError

    with pytest.raises(ScenarioError, match="gpx_week_start: 2024-01-02 is a Tuesday"):
        Scenario.from_dict({"outputs": {"gpx_week_start": "2024-01-02"}})


def test_rounds_command_writes_one_provider_day_from_the_cached_study(study, result):
    path, _ = study
    scenario = Scenario.load(path)
    assert runsheets.cached_result(scenario) is None
    runsheets.store_result(result)
    assert runsheets.cached_result(scenario) is not None
    changed = scenario.replace(workforce={"walking_share": 0.25})
    assert runsheets.cached_result(changed) is None  # other settings, other results
    provider = runsheets.round_book(result, directions=False).provider_days()[1][0]
    outcome = CliRunner().invoke(app, ["rounds", str(path), "--provider", provider, "--day", "0"])
    assert outcome.exit_code == 0, outcome.output
    assert "running the study" not in outcome.output
    folder = runsheets.internal_folder(scenario) / "rounds"
    sheets = sorted(p.name for p in folder.glob("*-runsheets-INTERNAL.html"))
    assert sheets == [f"{provider}-day0-runsheets-INTERNAL.html"]
    index = (folder / "index-INTERNAL.html").read_text()
    assert f"{provider}-day0-runsheets-INTERNAL.html" in index
    bad = CliRunner().invoke(app, ["rounds", str(path), "--provider", "NOPE"])
    assert bad.exit_code == 2 and "providers with rounds" in bad.output


def test_carer_ids_name_their_provider_and_shift():
    from patchplan.workforce import WorkforceSettings, carer_id, provider_of, shift_of

    settings = WorkforceSettings()
    assert carer_id("P03-A", 2, 4) == "P03-A-s2-04"
    assert provider_of("P03-A-s2-04") == "P03-A" and provider_of("T01-s1-12") == "T01"
    assert shift_of("P03-A-s2-04", settings) == settings.shifts[1]
    assert provider_of("carer 7") == "" and shift_of("P03-A-s9-01", settings) is None


def test_polylines_encode_as_web_maps_decode_them():
    """The encoded polyline format's published example (precision 1e-5 degrees)."""
    from patchplan.planner_map import encode_polyline

    points = np.array([[38.5, -120.2], [40.7, -120.95], [43.252, -126.453]])
    assert encode_polyline(points) == "_p~iF~ps|U_ulLnnqC_mqNvxq`@"


def test_people_keep_their_postcode_and_address_for_run_sheets():
    import geopandas as gpd
    from shapely.geometry import Point

    from patchplan.demand import load_demand

    postcodes = gpd.GeoDataFrame(
        {"postcode": ["S10 2HH"]}, geometry=[Point(433_000, 386_000)], crs="EPSG:27700"
    )
    people = pd.DataFrame(
        {"person_id": ["A"], "postcode": ["s102hh"], "address": ["12 Broomhall Road"]}
    )
    visits = pd.DataFrame(
        {"visit_id": ["A1"], "person_id": ["A"], "day": ["Mon"], "earliest": ["08:00"],
         "latest": ["08:30"], "duration": ["30"]}
    )  # fmt: skip
    demand = load_demand(people, visits, postcodes=postcodes)
    row = demand.people.iloc[0]
    assert (row["postcode"], row["address"]) == ("S10 2HH", "12 Broomhall Road")
    places = runsheets._people_places(demand.people)
    assert places.loc["A"].tolist() == ["S10 2HH", "12 Broomhall Road"]


# --------------------------------------------------------------------------------------------
# in the browser


def _not_blank(page) -> float:
    from PIL import Image

    image = np.asarray(Image.open(stdio.BytesIO(page.screenshot())).convert("L"), dtype=float)
    return float(image.std())


@pytest.mark.browser
def test_planner_map_shows_a_chosen_carers_numbered_stops(written, book, open_page):
    path = written["planner-map"]
    assert path.stat().st_size < 2_000_000
    page, console_errors, page_errors, remote = open_page(path)
    assert page_errors == [] and console_errors == []
    assert all("leaflet" not in url for url in remote)
    assert page.locator("#provider option").count() == len({p for p, _ in book.provider_days()})
    provider, day = book.provider_days()[1]
    carer = book.carers(provider, day)[0]
    page.select_option("#day", str(day))
    page.select_option("#provider", provider)
    page.select_option("#carer", carer)
    page.wait_for_timeout(200)
    visits = book.round_of(carer, day).query("kind == 'visit'")
    markers = page.locator(".leaflet-marker-pane .pp-stop").all_inner_texts()
    numbers = [int(n) for label in markers for n in label.split("/")]  # "3/4": one address
    assert sorted(numbers) == sorted(visits["order"])
    assert len(markers) == len(book.legs.loc[visits.index, ["to_x", "to_y"]].drop_duplicates())
    assert page.locator("#stops li").count() == len(visits)
    assert page.locator("path.leaflet-interactive").count() >= len(visits)
    assert "INTERNAL" in page.locator("#controls").inner_text()
    assert _not_blank(page) > 5.0
    assert console_errors == [] and page_errors == []


def _long_round(book):
    """A provider-day's visits as one carer's round: a sheet running over several A4 pages."""
    provider, day = book.provider_days()[0]
    stops = book.stops
    mine = stops[(stops["provider_id"] == provider) & (stops["day"] == day)]
    mine = mine[mine["kind"] == "visit"].drop_duplicates("visit_id").copy()
    mine["carer_id"] = "LONG-ROUND"
    mine["order"] = np.arange(1, len(mine) + 1)
    return dataclasses.replace(book, stops=mine), provider, day


@pytest.mark.browser
@pytest.mark.parametrize("which", ["provider-day", "long round"])
def test_run_sheets_print_on_a4_without_splitting_a_stop(which, written, book, browser, tmp_path):
    from pypdf import PdfReader

    if which == "long round":
        book, provider, day = _long_round(book)
        sheet = tmp_path / "long.html"
        sheet.write_text(runsheets.runsheets_html(book, provider, day))
    else:
        provider, day = book.provider_days()[0]
        sheet = written[f"{provider}-day{day}-sheets"]
    page = browser.new_page()
    page.goto(sheet.resolve().as_uri())
    page.emulate_media(media="print")
    page.set_viewport_size({"width": 718, "height": 1000})  # A4 less 12 mm margins, at 96 dpi
    blocks = page.evaluate(
        """() => [...document.querySelectorAll('.stop, .break, .return')].map(e =>
             [getComputedStyle(e).breakInside, e.getBoundingClientRect().height])"""
    )
    assert blocks and all(rule == "avoid" for rule, _ in blocks)
    assert max(h for _, h in blocks) < 0.5 * 1047  # each fits well within a page's 271 mm
    pdf = tmp_path / "sheets.pdf"
    page.pdf(path=str(pdf), format="A4")
    page.close()
    pages = [" ".join(p.extract_text().split()) for p in PdfReader(pdf).pages]
    carers = book.carers(provider, day)
    assert len(pages) >= len(carers) + (3 if which == "long round" else 0)
    starts = [next(i for i, t in enumerate(pages) if f"Run sheet: {c}" in t) for c in carers]
    for carer, first, last in zip(carers, starts, [*starts[1:], len(pages)], strict=True):
        for row in book.round_of(carer, day).query("kind == 'visit'").itertuples():
            top = [i for i in range(first, last) if f"To stop {row.order}:" in pages[i]]
            bottom = [i for i in range(first, last) if f"visit {row.visit_id}" in pages[i]]
            assert len(top) == 1 and top == bottom, (carer, row.visit_id, top, bottom)


@pytest.mark.browser
def test_run_sheets_fit_a_phone_screen_and_need_nothing_from_the_network(written, book, browser):
    provider, day = book.provider_days()[0]
    sheet = written[f"{provider}-day{day}-sheets"]
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", sheet.read_text())
    page = browser.new_page(viewport={"width": 375, "height": 800})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(sheet.resolve().as_uri())
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    page.close()
    assert overflow <= 0
    assert all(url.startswith("file:") for url in requests)
