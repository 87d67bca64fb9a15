"""Boundary layers, PCN areas, blocks and adjacency: hand-made layers, then real Sheffield, Bradford
and Southwark data from ``../shared/data``."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, Polygon, box

from patchplan import CRS
from patchplan.boundaries import (
    UNASSIGNED,
    assign_blocks,
    block_adjacency,
    load_layer,
    make_blocks,
    pcn_areas_from_practices,
    pcn_areas_from_table,
    practices_at_postcodes,
)
from patchplan.demand import load_postcodes
from patchplan.errors import BoundaryError

E0, N0 = 430_000.0, 380_000.0  # somewhere in Sheffield, EPSG:27700


def squares(ids: list[str], boxes: list[tuple[float, float, float, float]], crs: str | None = CRS):
    geoms = [box(E0 + a, N0 + b, E0 + c, N0 + d) for a, b, c, d in boxes]
    return gpd.GeoDataFrame(
        {"code": ids, "label": [f"Area {i}" for i in ids]}, geometry=geoms, crs=crs
    )


def grid(n: int, size: float, prefix: str) -> gpd.GeoDataFrame:
    cells = [
        (i * size, j * size, (i + 1) * size, (j + 1) * size) for j in range(n) for i in range(n)
    ]
    return squares([f"{prefix}{k}" for k in range(n * n)], cells)


# --------------------------------------------------------------------------------------------------
# load_layer on hand-made files
# --------------------------------------------------------------------------------------------------


def test_load_layer_reads_geojson_in_wgs84_and_returns_bng_with_string_ids(tmp_path: Path):
    frame = squares(["1", "2"], [(0, 0, 100, 100), (100, 0, 200, 100)]).to_crs("EPSG:4326")
    frame["code"] = [1, 2]  # integer ids in the file become strings
    path = tmp_path / "areas.geojson"
    frame.to_file(path, driver="GeoJSON")
    layer, report = load_layer(path, "code", "label")
    assert layer.crs.to_epsg() == 27700
    assert layer["id"].tolist() == ["1", "2"]
    assert layer["name"].tolist() == ["Area 1", "Area 2"]
    assert "label" in layer.columns  # source columns kept
    assert layer.geometry.area.sum() == pytest.approx(20_000, rel=1e-3)
    assert report.n_features == 2 and report.repaired == []


def test_load_layer_accepts_a_geodataframe_and_a_shapefile(tmp_path: Path):
    frame = squares(["a", "b"], [(0, 0, 100, 100), (100, 0, 200, 100)])
    layer, _ = load_layer(frame, "code")
    assert layer["name"].tolist() == ["a", "b"]  # the id stands in for a missing name column
    path = tmp_path / "areas.shp"
    frame.to_file(path)
    layer, _ = load_layer(path, "code", "label")
    assert layer["id"].tolist() == ["a", "b"] and layer.crs.to_epsg() == 27700


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_missing_crs_is_an_error_unless_the_caller_states_one(tmp_path: Path):
    path = tmp_path / "nocrs.gpkg"
    squares(["a"], [(0, 0, 100, 100)], crs=None).to_file(path, driver="GPKG")
    with pytest.raises(BoundaryError, match=r"nocrs.gpkg: the layer has no CRS"):
        load_layer(path, "code")
    layer, report = load_layer(path, "code", crs="EPSG:27700")
    assert layer.crs.to_epsg() == 27700 and report.crs_in == "EPSG:27700"


def test_a_stated_crs_that_contradicts_the_file_is_an_error():
    with pytest.raises(BoundaryError, match="EPSG:27700.*EPSG:3857 was stated"):
        load_layer(squares(["a"], [(0, 0, 1, 1)]), "code", crs="EPSG:3857")


def test_invalid_geometry_is_repaired_and_counted():
    bowtie = Polygon([(E0, N0), (E0 + 100, N0 + 100), (E0 + 100, N0), (E0, N0 + 100)])
    frame = gpd.GeoDataFrame(
        {"code": ["bow", "ok"]}, geometry=[bowtie, box(E0 + 200, N0, E0 + 300, N0 + 100)], crs=CRS
    )
    layer, report = load_layer(frame, "code")
    assert report.repaired == ["bow"]
    assert layer.geometry.is_valid.all()
    assert set(layer.geom_type) <= {"Polygon", "MultiPolygon"}
    assert layer.geometry.area.iloc[0] == pytest.approx(5_000)  # both triangles kept


def test_empty_geometry_duplicate_and_missing_ids_are_rejected_with_the_ids_named():
    frame = squares(["a", "b", "b", "c", None], [(0, 0, 1, 1)] * 5)
    frame.loc[3, "geometry"] = None
    with pytest.raises(BoundaryError) as caught:
        load_layer(frame, "code")
    message = str(caught.value)
    assert "empty geometry for id c" in message
    assert "duplicate id b" in message
    assert "missing id on feature row 5" in message
    layer, report = load_layer(frame, "code", on_invalid="drop")
    assert layer["id"].tolist() == ["a"]  # the good feature survives
    assert sorted(report.rejected["reason"]) == [
        "duplicate id",
        "duplicate id",
        "empty geometry",
        "missing id (row 5)",
    ]


def test_non_polygons_and_unknown_columns_are_errors():
    points = gpd.GeoDataFrame({"code": ["p"]}, geometry=[Point(E0, N0)], crs=CRS)
    with pytest.raises(BoundaryError, match="not polygons, e.g. p \\(Point\\)"):
        load_layer(points, "code")
    with pytest.raises(BoundaryError, match="no column 'LSOA11CD'"):
        load_layer(squares(["a"], [(0, 0, 1, 1)]), "LSOA11CD")
    with pytest.raises(BoundaryError, match="file not found"):
        load_layer("/nonexistent/areas.gpkg", "code")


def test_overlaps_and_gaps_are_measured_with_the_ids_involved():
    # a 300 x 100 strip of three squares: a and b overlap by 10 x 100; a ring around a hole
    strip = squares(["a", "b"], [(0, 0, 110, 100), (100, 0, 200, 100)])
    ring = box(E0 + 300, N0, E0 + 600, N0 + 300).difference(
        box(E0 + 400, N0 + 100, E0 + 500, N0 + 200)
    )
    frame = pd.concat(
        [strip, gpd.GeoDataFrame({"code": ["r"], "label": ["ring"]}, geometry=[ring], crs=CRS)],
        ignore_index=True,
    )
    _, report = load_layer(frame, "code")
    assert report.overlaps[["id_a", "id_b"]].values.tolist() == [["a", "b"]]
    assert report.overlaps["area_m2"].iloc[0] == pytest.approx(1_000)
    assert len(report.gaps) == 1
    assert report.gaps["area_m2"].iloc[0] == pytest.approx(10_000)
    assert report.gaps["ids"].iloc[0] == "r"
    assert "1 overlaps (1,000 m²)" in report.summary()


# --------------------------------------------------------------------------------------------------
# PCN areas on hand-made layers
# --------------------------------------------------------------------------------------------------


def test_pcn_areas_from_a_table_name_the_unassigned_areas():
    small = load_layer(grid(2, 100, "L"), "code")[0]
    table = pd.DataFrame(
        {"lsoa": ["L0", "L1", "L2"], "pcn": ["P1", "P1", "P2"], "nm": ["One", "One", "Two"]}
    )
    pcns = pcn_areas_from_table(small, table, "lsoa", "pcn", pcn_name_column="nm")
    assert pcns["id"].tolist() == ["P1", "P2", UNASSIGNED]
    assert pcns["name"].tolist() == ["One", "Two", UNASSIGNED]
    assert pcns["n_areas"].tolist() == [2, 1, 1]
    assert (pcns["method"] == "small-area table").all()
    assert pcns["area_m2"].sum() == pytest.approx(40_000)


def test_pcn_areas_from_practices_by_voronoi_and_by_nearest_practice():
    small = load_layer(grid(4, 100, "L"), "code")[0]  # 400 x 400 m
    practices = gpd.GeoDataFrame(
        {"pcn_id": ["W", "W", "E"], "pcn_name": ["West", "West", "East"]},
        geometry=[Point(E0 + 50, N0 + 50), Point(E0 + 50, N0 + 350), Point(E0 + 350, N0 + 200)],
        crs=CRS,
    )
    voronoi = pcn_areas_from_practices(practices, small)
    assert voronoi["id"].tolist() == ["E", "W"] and voronoi["name"].tolist() == ["East", "West"]
    assert voronoi["n_practices"].tolist() == [1, 2]
    assert voronoi["area_m2"].sum() == pytest.approx(160_000)  # clipped to the study area exactly
    assert voronoi["method"].iloc[0].startswith("voronoi")
    nearest = pcn_areas_from_practices(practices, small, method="nearest", small_areas=small)
    assert nearest.set_index("id")["area_m2"].to_dict() == pytest.approx({"E": 80_000, "W": 80_000})
    assert nearest["method"].iloc[0] == "nearest practice to each small area"


# --------------------------------------------------------------------------------------------------
# Blocks and adjacency on hand-made layers
# --------------------------------------------------------------------------------------------------


def _pcns_and_neighbourhoods():
    pcns = load_layer(squares(["P1", "P2"], [(0, 0, 500, 1000), (500, 0, 1000, 1000)]), "code")[0]
    # neighbourhood edges are 3 m off the PCN edge at x = 503: a 3 x 1000 m sliver (3,000 m²)
    nbhd = load_layer(squares(["N1", "N2"], [(0, 0, 503, 600), (0, 600, 1000, 1000)]), "code")[0]
    nbhd = pd.concat(
        [nbhd, load_layer(squares(["N3"], [(503, 0, 1000, 600)]), "code")[0]], ignore_index=True
    )
    return pcns, gpd.GeoDataFrame(nbhd, crs=CRS)


def test_blocks_tile_the_study_area_with_stable_ids_and_slivers_merged():
    pcns, nbhd = _pcns_and_neighbourhoods()
    blocks = make_blocks(pcns, nbhd, min_area_m2=5_000)
    assert blocks["block_id"].tolist() == ["P1|N1", "P1|N2", "P2|N2", "P2|N3"]
    assert blocks["area_m2"].sum() == pytest.approx(1_000_000)
    assert shapely.union_all(blocks.geometry.values).area == pytest.approx(1_000_000)  # no overlaps
    assert blocks["area_m2"].min() >= 5_000  # the 3 m sliver P2|N1 was merged
    # the sliver (P2 side, x 500..503, y 0..600) shares 600 m with P1|N1 and with P2|N3 and 3 m
    # with P2|N2: on the tie it joins the block in its own PCN
    p2n3 = blocks.set_index("block_id").loc["P2|N3", "area_m2"]
    assert p2n3 == pytest.approx(497 * 600 + 3 * 600)
    shuffled = make_blocks(pcns.iloc[::-1], nbhd.iloc[::-1], min_area_m2=5_000)
    pd.testing.assert_frame_equal(
        blocks.drop(columns="geometry"), shuffled.drop(columns="geometry"), check_exact=False
    )


def test_without_sliver_merging_the_sliver_is_its_own_block():
    pcns, nbhd = _pcns_and_neighbourhoods()
    blocks = make_blocks(pcns, nbhd, min_area_m2=0)
    assert "P2|N1" in set(blocks["block_id"])
    assert blocks.set_index("block_id").loc["P2|N1", "area_m2"] == pytest.approx(1_800)


def test_blocks_from_a_single_layer_keep_feature_ids_and_carry_the_pcn():
    small = load_layer(grid(2, 100, "L"), "code")[0]
    small["pcn"] = ["P1", "P1", "P2", "P2"]
    blocks = make_blocks(small, pcn_column="pcn")
    assert blocks["block_id"].tolist() == ["L0", "L1", "L2", "L3"]
    assert blocks["pcn_id"].tolist() == ["P1", "P1", "P2", "P2"]
    assert blocks["area_m2"].tolist() == pytest.approx([10_000] * 4)


def test_adjacency_is_rook_contiguity_weighted_by_shared_boundary():
    blocks = grid(2, 100, "B").rename(columns={"code": "block_id"})  # B0 B1 / B2 B3
    graph = block_adjacency(blocks)
    assert sorted(map(sorted, graph.edges)) == [
        ["B0", "B1"],
        ["B0", "B2"],
        ["B1", "B3"],
        ["B2", "B3"],
    ]
    assert not graph.has_edge("B0", "B3")  # corner contact only
    assert graph.edges["B0", "B1"]["shared_m"] == pytest.approx(100, abs=1.5)


def test_adjacency_bridges_precision_gaps_but_not_real_ones():
    near = squares(["a", "b"], [(0, 0, 100, 100), (100.2, 0, 200, 100)]).rename(
        columns={"code": "block_id"}
    )
    assert block_adjacency(near).has_edge("a", "b")
    apart = squares(["a", "b"], [(0, 0, 100, 100), (110, 0, 200, 100)]).rename(
        columns={"code": "block_id"}
    )
    graph = block_adjacency(apart)
    assert set(graph.nodes) == {"a", "b"} and graph.number_of_edges() == 0


# --------------------------------------------------------------------------------------------------
# Real data: Sheffield
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sheffield(shared_data: Path):
    lsoa, report = load_layer(
        shared_data / "ons_boundaries_martinjc/sheffield_E08000019_lsoa2011.geojson",
        "LSOA11CD",
        "LSOA11NM",
    )
    nhood, nhood_report = load_layer(
        shared_data / "sheffield_council_boundaries_boundsheff/sheffield_nhood.gpkg",
        "nhood_code",
        "nhood_name",
    )
    pcns = pcn_areas_from_table(
        lsoa,
        shared_data / "sheffield_health_geographies_francisbarton/ccg_pcn_practice_groupings.csv",
        "LSOA_CODE",
        "NETWORK",
    )
    blocks = make_blocks(pcns, nhood)
    return {
        "lsoa": lsoa,
        "report": report,
        "nhood": nhood,
        "nhood_report": nhood_report,
        "pcns": pcns,
        "blocks": blocks,
    }


def test_blocks_go_to_the_existing_area_they_mostly_lie_in():
    blocks = grid(2, 100.0, "b").rename(columns={"code": "block_id"})  # b0 b1 / b2 b3
    far = squares(["far"], [(900.0, 900.0, 950.0, 950.0)]).rename(columns={"code": "block_id"})
    blocks = gpd.GeoDataFrame(pd.concat([blocks, far], ignore_index=True), crs=CRS)
    # west area reaches x = 120: b1 and b3 are 20% west, 80% east; the far block overlaps neither
    existing = squares(["W", "E"], [(0.0, 0.0, 120.0, 200.0), (120.0, 0.0, 200.0, 200.0)])
    existing["id"] = existing["code"]
    got = assign_blocks(blocks, existing)
    assert got.to_dict() == {"b0": "W", "b1": "E", "b2": "W", "b3": "E", "far": "E"}


def test_sheffield_345_lsoas_and_100_neighbourhoods_load(sheffield):
    assert len(sheffield["lsoa"]) == 345
    assert sheffield["lsoa"]["id"].str.startswith("E010").all()
    assert sheffield["report"].crs_in in ("EPSG:4326", "OGC:CRS84")
    assert len(sheffield["nhood"]) == 100
    assert len(sheffield["nhood_report"].repaired) == 1  # the README's one invalid neighbourhood
    assert sheffield["nhood"].geometry.is_valid.all()


def test_sheffield_pcn_layer_has_15_named_pcns_plus_the_unassigned_area(sheffield):
    pcns = sheffield["pcns"]
    assert len(pcns) == 16
    assert UNASSIGNED in set(pcns["id"])
    assert pcns.set_index("id").loc[UNASSIGNED, "n_areas"] == 1
    assert {"PEAK EDGE", "UPPER DON VALLEY", "SOUTH EAST SHEFFIELD"} <= set(pcns["name"])
    assert pcns["n_areas"].sum() == 345


def test_sheffield_pcn_layer_with_2021_names_from_the_lsoa_table(shared_data: Path):
    base, _ = load_layer(
        shared_data / "derived_sheffield/sheffield_lsoa2011_demand_base.gpkg",
        "LSOA11CD",
        "LSOA11NM",
    )
    pcns = pcn_areas_from_table(base, None, "", "pcn_code_2021", pcn_name_column="pcn_name_2021")
    assert len(pcns) == 16
    names = pcns.set_index("id")["name"]
    assert names["U31169"] == "SEVEN HILLS PCN" and names[UNASSIGNED] == UNASSIGNED


def test_sheffield_blocks_fall_in_the_seven_asc_localities(sheffield, shared_data: Path):
    localities, _ = load_layer(
        shared_data / "sheffield_council_boundaries_boundsheff/sheffield_asc_localities.gpkg",
        "ca_name",
    )
    got = assign_blocks(sheffield["blocks"], localities)
    assert got.notna().all() and len(got) == len(sheffield["blocks"])
    assert got.nunique() == 7
    # every block's chosen locality holds most of its area
    blocks = sheffield["blocks"].set_index("block_id")
    for block_id in got.index[::15]:
        inside = (
            blocks.geometry[block_id]
            .intersection(localities.set_index("id").geometry[got[block_id]])
            .area
        )
        assert inside >= 0.5 * blocks.geometry[block_id].area - 1.0


def test_sheffield_blocks_tile_the_city_and_their_graph_is_connected(sheffield):
    blocks, lsoa = sheffield["blocks"], sheffield["lsoa"]
    city = shapely.union_all(lsoa.geometry.values).area
    assert blocks["area_m2"].sum() == pytest.approx(city, rel=1e-3)
    assert shapely.union_all(blocks.geometry.values).area == pytest.approx(
        blocks["area_m2"].sum(), rel=1e-6
    )
    assert blocks["block_id"].is_unique
    assert (blocks["block_id"] == blocks["pcn_id"] + "|" + blocks["neighbourhood_id"]).all()
    assert set(blocks["pcn_id"]) == set(sheffield["pcns"]["id"])
    assert blocks["area_m2"].min() >= 20_000  # slivers merged
    assert 100 < len(blocks) < 400
    graph = block_adjacency(blocks)
    assert set(graph.nodes) == set(blocks["block_id"])
    assert nx.is_connected(graph)
    print(
        f"Sheffield: {len(blocks)} blocks, {graph.number_of_edges()} adjacencies, {city / 1e6:.2f} km²"
    )


def test_sheffield_lsoa_blocks_carry_their_pcn(sheffield):
    lsoa = sheffield["lsoa"]
    pcn_of = sheffield["pcns"].explode(index_parts=False)
    tagged = gpd.sjoin(
        gpd.GeoDataFrame(lsoa[["id"]], geometry=lsoa.representative_point(), crs=CRS),
        pcn_of[["id", "geometry"]].rename(columns={"id": "pcn"}),
        predicate="within",
    )
    lsoa = lsoa.merge(tagged[["id", "pcn"]], on="id")
    blocks = make_blocks(lsoa, pcn_column="pcn")
    assert len(blocks) == 345 and blocks["pcn_id"].nunique() == 16
    assert nx.is_connected(block_adjacency(blocks))


# --------------------------------------------------------------------------------------------------
# Real data: Bradford and Southwark (PCNs derived from the England-wide practice file)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("place", "postcode_file", "n_lsoa", "n_pcn"),
    [
        ("bradford_E08000032", "codepoint_open_2025_bradford_E08000032_BDarea.csv", 310, 12),
        ("southwark_E09000028", "codepoint_open_2025_southwark_E09000028_SEarea.csv", 166, 4),
    ],
)
def test_other_authorities_load_and_make_blocks_from_the_practice_file(
    shared_data: Path, place: str, postcode_file: str, n_lsoa: int, n_pcn: int
):
    folder = shared_data / "ons_boundaries_martinjc"
    lsoa, report = load_layer(folder / f"{place}_lsoa2011.geojson", "LSOA11CD", "LSOA11NM")
    assert len(lsoa) == n_lsoa and len(report.repaired) >= 1  # each file has invalid LSOAs
    wards, _ = load_layer(folder / f"{place}_wards.geojson", "WD13CD", "WD13NM")
    postcodes = load_postcodes(shared_data / "os_codepoint_open" / postcode_file)
    practices = practices_at_postcodes(
        shared_data / "sheffield_health_geographies_francisbarton/gp-reg-pat-prac-map_v2.csv",
        postcodes,
        study_area=lsoa,
    )
    pcns = pcn_areas_from_practices(practices, lsoa)
    assert len(pcns) == n_pcn  # Southwark's 3 PCNs plus its "Unallocated" practices
    city = shapely.union_all(lsoa.geometry.values).area
    assert pcns["area_m2"].sum() == pytest.approx(city, rel=1e-6)
    blocks = make_blocks(pcns, wards)
    assert blocks["area_m2"].sum() == pytest.approx(city, rel=1e-3)
    assert shapely.union_all(blocks.geometry.values).area == pytest.approx(
        blocks["area_m2"].sum(), rel=1e-6
    )
    assert nx.is_connected(block_adjacency(blocks))
    assert np.isin(blocks["pcn_id"], pcns["id"]).all()
    print(f"{place}: {len(practices)} practices, {len(pcns)} PCNs, {len(blocks)} blocks")
