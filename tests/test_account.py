"""The inputs account: every row read is kept or counted out with its reason, and boundary repairs,
overlaps and gaps are counted with their areas; shown in the CLI, a CSV and the report."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely
import study_files as sf
from shapely.geometry import Polygon, box
from typer.testing import CliRunner

from patchplan import account as acc
from patchplan import demand, pipeline
from patchplan.cli import app
from patchplan.scenario import Scenario

X0, Y0, KM = sf.X0, sf.Y0, sf.KM
HOLE = box(X0 + 400, Y0 + 400, X0 + 500, Y0 + 500)
BOWTIE = Polygon(
    [(X0 + KM, Y0), (X0 + 2 * KM, Y0 + 2 * KM), (X0 + 2 * KM, Y0), (X0 + KM, Y0 + 2 * KM)]
)


def write_messy_study(folder):
    """The generated study with rows to reject, people outside the blocks, overlapping PCNs with a
    hole, and today's areas with a self-intersecting polygon."""
    good = sf.people()
    people = pd.concat(
        [
            good,
            pd.DataFrame(
                {
                    "person_id": ["PF", "PH", "PP", "PD", "PD"],
                    "easting": [X0 - 30_000, X0 + 450, None, X0 + 100, X0 + 120],
                    "northing": [Y0, Y0 + 450, None, Y0 + 100, Y0 + 120],
                    "postcode": ["", "", "S1 1AA", "", ""],
                }
            ),
        ],
        ignore_index=True,
    )
    visits = sf.visits(good)
    extra = sf.visits(pd.DataFrame({"person_id": ["PF", "PH", "PP", "PD", "P01", "ZZ", "P02"]}))
    extra["visit_id"] = ["VPF", "VPH", "VPP", "VPD", "VBADDAY", "VNOONE", "VLATE"]
    extra.loc[extra["visit_id"] == "VBADDAY", "day"] = 9
    extra.loc[extra["visit_id"] == "VLATE", "latest"] = "07:00"
    folder.mkdir(parents=True, exist_ok=True)
    people.to_csv(folder / "people.csv", index=False)
    pd.concat([visits, extra], ignore_index=True).to_csv(folder / "visits.csv", index=False)
    west = box(X0, Y0, X0 + KM, Y0 + 2 * KM).difference(HOLE)
    east = box(X0 + KM - 100, Y0, X0 + 2 * KM, Y0 + 2 * KM)  # 100 m into the west PCN
    sf.write_layer(
        gpd.GeoDataFrame({"code": ["PCN1", "PCN2"]}, geometry=[west, east], crs="EPSG:27700"),
        folder / "pcns.gpkg",
    )
    sf.write_layer(
        gpd.GeoDataFrame(
            {"area": ["W", "E"]},
            geometry=[box(X0, Y0, X0 + KM, Y0 + 2 * KM), BOWTIE],
            crs="EPSG:27700",
        ),
        folder / "localities.gpkg",
    )
    return sf.write_study(folder, inputs={"existing": "localities.gpkg", "existing_id": "area"})


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("messy")
    scenario = write_messy_study(folder)
    return folder, scenario, pipeline.run(Scenario.load(scenario))


def test_every_row_read_is_kept_or_rejected_with_its_reason(messy):
    _, _, result = messy
    account = result.account
    assert account.imbalances() == []
    assert account.count("people", acc.READ) == 17 and account.count("people", acc.ACCEPTED) == 14
    assert account.count("people", acc.REJECTED, "duplicate person_id") == 2
    assert account.count("people", acc.REJECTED, "postcode but no postcode file") == 1
    assert account.count("visits", acc.READ) == 19 and account.count("visits", acc.ACCEPTED) == 14
    assert account.count("visits", acc.REJECTED, "person rejected") == 2
    assert account.count("visits", acc.REJECTED, "bad day") == 1
    assert account.count("visits", acc.REJECTED, "person not in the people file") == 1
    assert account.count("visits", acc.REJECTED, "latest before earliest") == 1


def test_people_outside_every_block_are_counted_with_their_visits(messy):
    _, _, result = messy
    account = result.account
    assert account.count("people", acc.OUTSIDE) == 2  # 30 km away, and in the hole in PCN1
    assert account.count("visits", acc.OUTSIDE) == 2
    assert account.count("people", acc.INSIDE) == 12
    line = next(x for x in account.lines if x.input == "people" and x.measure == acc.OUTSIDE)
    assert line.detail == "1.0 care hours a week"  # 2 visits of 30 minutes; no person is named


def test_overlaps_and_gaps_between_pcns_are_counted_with_their_areas(messy):
    _, _, result = messy
    table = result.account.table().set_index(["input", "measure"])
    assert table.loc[("pcns", acc.OVERLAP), "count"] == 1
    assert table.loc[("pcns", acc.OVERLAP), "area_m2"] == pytest.approx(100 * 2 * KM)
    assert table.loc[("pcns", acc.GAP), "count"] == 1
    assert table.loc[("pcns", acc.GAP), "area_m2"] == pytest.approx(HOLE.area)


def test_a_repaired_polygon_is_counted_with_its_area_change(messy):
    _, _, result = messy
    line = next(
        x for x in result.account.lines if x.input == "existing" and x.measure == acc.REPAIRED
    )
    fixed = shapely.make_valid(BOWTIE, method="structure", keep_collapsed=False)
    assert line.count == 1 and "E " in line.detail
    assert line.area_m2 == pytest.approx(fixed.area - BOWTIE.area)
    assert abs(line.area_m2) > 0.25 * fixed.area  # a change no report may hide


def test_the_account_is_in_the_cli_the_csv_and_the_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scenario = write_messy_study(tmp_path)
    outcome = CliRunner().invoke(app, ["run", str(scenario)])
    assert outcome.exit_code == 0, outcome.output
    assert "Inputs account" in outcome.output and "latest before earliest" in outcome.output
    table = pd.read_csv(
        tmp_path / "out" / "generated" / "published" / "inputs-account.csv", keep_default_na=False
    )
    assert list(table.columns) == acc.ACCOUNT_COLUMNS
    rejected = table[(table["input"] == "visits") & (table["measure"] == "rejected")]
    assert rejected["count"].sum() == 5
    report = (tmp_path / "out" / "generated" / "published" / "report.html").read_text(
        encoding="utf-8"
    )
    assert (
        "Inputs account</h2>" in report and "<caption>Rows read = accepted + rejected" in report
    )
    assert "person not in the people file" in report
    assert "8 input rows were rejected and 2 people live outside every block" in report
    assert "S1 1AA" not in report and "PF" not in report  # published: no postcode or person id


def test_areas_without_a_usable_population_are_counted_for_a_synthetic_caseload():
    areas = sf.squares().rename(columns={"code": "id"}).astype({"pop": float})
    areas.loc[1, "pop"] = float("nan")
    caseload = demand.synthesise_demand(
        areas, population_column="pop", settings=demand.DemandSettings(people=20, hours_week=312.0)
    )
    blocks = areas.rename(columns={"id": "block_id"})
    account = acc.build_account(
        caseload, demand.demand_by_area(caseload, blocks, "block_id"),
        areas=areas, population_column="pop",
    )  # fmt: skip
    assert account.count("areas", acc.NO_POPULATION) == 1
    assert account.count("people", acc.GENERATED) == 20 == account.count("people", acc.INSIDE)
    assert account.imbalances() == []
