"""The committee report: one self-contained page, accessible, printing to A4 without a file path.

The study is the generated town whose lot P01 holds 4 people (``conftest.small_lot_scenario``),
with today's travel as observed given in ``[baseline]``. Browser tests open the report in Debian's
Chromium through Playwright and check it with axe-core (npm's ``axe-core``, installed once into
``.cache/npm`` under the repository; MPL-2.0).
"""

from __future__ import annotations

import io as stdio
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from patchplan import pipeline
from patchplan.report import SECTIONS, Section, report_html, write_outputs

REPO = Path(__file__).resolve().parents[1]
AXE_VERSION = "4.14.1"
OBSERVED = {"observed_miles_per_visit": 3.5, "observed_travel_min_per_visit": 14.0,
            "source": "ECM, all providers, January to March"}  # fmt: skip


@pytest.fixture(scope="module")
def result(small_lot_scenario):
    return pipeline.run(small_lot_scenario.replace(baseline=OBSERVED))


@pytest.fixture(scope="module")
def outputs(result, tmp_path_factory):
    return write_outputs(result, tmp_path_factory.mktemp("report") / "outputs")


@pytest.fixture(scope="module")
def report(outputs) -> str:
    return outputs["report"].read_text()


def _row(report: str, label: str) -> list[str]:
    rows = re.findall(r'<tr[^>]*><th scope="row">([^<]*)</th>(.*?)</tr>', report)
    return [c for head, cells in rows if head == label
            for c in re.findall(r"<td>([^<]*)</td>", cells)]  # fmt: skip


def test_against_today_as_observed_uses_the_observed_figures(result, report):
    total = result.savings.loc["total"]
    visits = total["visits"]
    observed_hours = visits * OBSERVED["observed_travel_min_per_visit"] / 60
    observed_miles = visits * OBSERVED["observed_miles_per_visit"]
    hours, miles, cost, co2 = _row(report, "Today, as observed")
    assert hours == f"{observed_hours:,.0f}" and miles == f"{observed_miles:,.0f}"
    saved = _row(report, "Saved against today as observed")
    assert saved[0] == f"{observed_hours - total['proposed_travel_min_lfl'] / 60:,.0f}"
    patches_alone = _row(report, "Saved by the patches (both arrangements optimised)")
    assert patches_alone[0] == f"{total['carer_hours_released']:,.0f}"
    assert "Against today as observed the saving is" in report
    assert "ECM, all providers, January to March" in report
    # today's modelled travel per visit is shown beside the observed and the published figures
    miles_row = _row(report, "Miles driven per visit")
    assert miles_row[1] == "3.50" and miles_row[2] == "3.06"


def test_the_report_is_one_file_with_the_maps_embedded_and_no_file_path(outputs, report):
    assert report.count('<iframe class="map-frame"') == 3
    assert 'src="' not in report.split("<main>")[1].split("srcdoc")[0]
    assert "../maps" not in report and "file://" not in report
    out_root = str(outputs["report"].parents[2])
    assert out_root not in report and str(REPO) not in report and str(Path.home()) not in report
    assert 'lang="en-GB"' in report and "<main>" in report and "<nav" in report
    assert re.search(r"scenario fingerprint <code>[0-9a-f]{12}</code>", report)
    assert "patchplan 0.1.0" in report


def test_assumptions_are_plain_words_grouped_by_stage(report):
    assumptions = report.split('id="assumptions-h"')[1].split("</section>")[0]
    for stage in ("Study and caseload", "Travel", "Lots", "Providers and carers", "Rounds",
                  "Savings", "Today as observed"):  # fmt: skip
        assert f"<h3>{stage}</h3>" in assumptions
    assert "07:00–14:30 and 15:00–22:30" in assumptions
    assert "cache" not in assumptions and "((" not in assumptions and "True" not in assumptions


def test_lots_are_named_after_the_places_they_cover(result, report):
    names = result.summary.drop(index="total")["name"]
    assert (names.str.len() > 0).all()
    for patch_id, name in names.items():
        assert f"{patch_id} {name}".replace("&", "&amp;") in report


def test_a_section_is_added_by_adding_one_function(result):
    def extra(ctx):
        return Section("extra", "Inputs account", "<p>12 rows rejected.</p>")

    page = report_html(result, {}, sections=[*SECTIONS, extra])
    assert '<section id="extra"' in page and '<a href="#extra">Inputs account</a>' in page


# --------------------------------------------------------------------------------------------
# in the browser


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's ``axe.min.js``, installed with npm into ``.cache/npm`` on first use."""
    folder = REPO / ".cache" / "npm"
    script = folder / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm not found: install Node.js and npm to run the accessibility check")
        subprocess.run(
            [npm, "install", "--prefix", str(folder), f"axe-core@{AXE_VERSION}",
             "--no-audit", "--no-fund", "--no-save", "--silent"],
            check=True, timeout=300,
        )  # fmt: skip
    return script.read_text(encoding="utf-8")


@pytest.fixture
def report_alone(outputs, tmp_path) -> Path:
    """The report copied alone into an empty folder, as when it is sent by e-mail."""
    alone = tmp_path / "sent" / "report.html"
    alone.parent.mkdir()
    shutil.copy(outputs["report"], alone)
    return alone


@pytest.mark.browser
def test_axe_finds_no_serious_accessibility_violations(open_page, report_alone, axe_source):
    page, console_errors, page_errors, _ = open_page(report_alone)
    assert page_errors == [] and console_errors == []
    for frame in page.frames:  # the report and each embedded map
        frame.evaluate(axe_source)
    results = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    serious = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == []
    assert len(page.frames) == 4  # the three maps ran inside the one file


@pytest.mark.browser
def test_the_report_prints_to_a4_with_every_map_and_no_file_path(open_page, report_alone):
    from PIL import Image
    from pypdf import PdfReader

    page, _, page_errors, _ = open_page(report_alone)
    assert page_errors == []
    for frame in page.frames[1:]:
        assert frame.locator("path.leaflet-interactive").count() >= 3  # every lot drawn
    page.emulate_media(media="print")
    for frame in page.locator("iframe.map-frame").all():
        shot = np.asarray(Image.open(stdio.BytesIO(frame.screenshot())).convert("L"), dtype=float)
        assert shot.std() > 10.0  # coloured lots, not a blank box
    # as printed with the browser's "headers and footers" on: the report's own footer (page margin
    # boxes) replaces the browser's date, title and file path
    pdf = PdfReader(stdio.BytesIO(page.pdf(format="A4", display_header_footer=True)))
    assert 4 <= len(pdf.pages) <= 20
    width, height = (float(v) for v in pdf.pages[0].mediabox.upper_right)
    assert width == pytest.approx(595.3, abs=1.5) and height == pytest.approx(841.9, abs=1.5)  # A4
    text = "\n".join(p.extract_text() for p in pdf.pages)
    for path in (str(report_alone.parent), str(REPO), str(Path.home()), "file:"):
        assert path not in text
    assert "Page 1 of" in text and "patchplan 0.1.0" in text  # our own footer, not the browser's
    for title in ("proposed lots", "carer travel saved", "walking"):  # printed inside each map
        assert f"Synthetic town (demo): {title}" in text
    assert text.count("Contains OS data © Crown copyright") >= 3  # each map carries its credits
    map_controls = page.frames[1].locator(".leaflet-control-layers")
    assert map_controls.evaluate("e => getComputedStyle(e).display") == "none"
