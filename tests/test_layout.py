"""Hand-edited lots: read from CSV or GeoPackage, checked against the blocks, scored and planned.

The tiny demo town has 21 blocks in three PCNs (W, NE, SE); one lot per PCN is a valid layout,
and moving the far-western block PCN-W|N01 into the north-eastern lot cuts that lot in two.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from typer.testing import CliRunner

from patchplan import boundaries, io, pipeline
from patchplan.cli import app
from patchplan.errors import LayoutError
from patchplan.layout import check_layout, lock_pairs, read_layout

LOT_OF_PCN = {"PCN-W": "P01", "PCN-NE": "P02", "PCN-SE": "P03"}
FAR_WEST = "PCN-W|N01"


@pytest.fixture(scope="module")
def study(tiny_town):
    inputs = pipeline.load_inputs(tiny_town)
    blocks = pipeline.make_blocks(inputs, tiny_town)
    return blocks, boundaries.block_adjacency(blocks)


@pytest.fixture(scope="module")
def by_pcn(study) -> pd.Series:
    blocks, _ = study
    return pd.Series(blocks["pcn_id"].map(LOT_OF_PCN).to_numpy(), index=blocks["block_id"])


def write_csv(path, lots: pd.Series):
    frame = pd.DataFrame({"block_id": lots.index, "patch_id": lots.to_numpy()})
    io.write_csv(frame, path)
    return path


def test_a_layout_read_from_csv_is_checked_and_kept(study, by_pcn, tmp_path):
    blocks, adjacency = study
    layout = check_layout(
        read_layout(write_csv(tmp_path / "lots.csv", by_pcn)), blocks, adjacency, 3
    )
    pd.testing.assert_series_equal(layout, by_pcn.rename("patch_id"), check_names=False)


def test_an_edited_layout_with_a_non_contiguous_lot_is_rejected_naming_the_lot_and_blocks(
    study, by_pcn, tmp_path
):
    blocks, adjacency = study
    edited = by_pcn.copy()
    edited[FAR_WEST] = "P02"  # moved into the north-eastern lot, which it does not touch
    lots = read_layout(write_csv(tmp_path / "edited.csv", edited))
    with pytest.raises(LayoutError) as caught:
        check_layout(lots, blocks, adjacency, k=3)
    message = str(caught.value)
    assert message.startswith("edited.csv: lot 'P02' is not contiguous: 2 separate pieces")
    assert f"[{FAR_WEST!r}]" in message  # the stray piece, named
    assert "'PCN-NE|N13', 'PCN-NE|N14'" in message  # and the main piece's blocks


def test_unknown_and_missing_blocks_and_the_lot_count_are_all_named(study, by_pcn, tmp_path):
    blocks, adjacency = study
    edited = by_pcn.drop("PCN-SE|N12")
    edited["PCN-XX|N99"] = "P01"
    edited[edited == "P03"] = "P04"
    edited[["PCN-SE|N10", "PCN-SE|N11"]] = "P03"
    with pytest.raises(LayoutError) as caught:
        check_layout(read_layout(write_csv(tmp_path / "lots.csv", edited)), blocks, adjacency, 3)
    message = str(caught.value)
    assert "lots.csv: 3 problems" in message
    assert "unknown block 'PCN-XX|N99' (row 21): not a block of this study" in message
    assert "1 block has no lot: 'PCN-SE|N12'" in message
    assert "4 lots ('P01', 'P02', 'P03', 'P04') but [patches] k = 3" in message


def test_a_block_listed_twice_or_a_missing_column_is_named_with_its_rows(tmp_path):
    twice = tmp_path / "twice.csv"
    twice.write_text("block_id,patch_id\nA,P01\nB,P02\nA,P02\nC,\n")
    with pytest.raises(LayoutError) as caught:
        read_layout(twice)
    assert "row 4: empty patch_id" in str(caught.value)
    assert "block 'A' is listed 2 times (rows 1, 3)" in str(caught.value)
    bare = tmp_path / "bare.csv"
    bare.write_text("block,lot\nA,P01\n")
    with pytest.raises(LayoutError, match="bare.csv: no column 'patch_id'"):
        read_layout(bare)


def test_lots_edited_in_a_geopackage_blocks_layer_or_redrawn_as_polygons_read_the_same(
    study, by_pcn, tmp_path
):
    blocks, adjacency = study
    edited_blocks = blocks.assign(patch_id=blocks["block_id"].map(by_pcn))
    polygons = edited_blocks[["patch_id", "geometry"]].dissolve("patch_id").reset_index()
    gpkg = io.write_gpkg({"patches": polygons, "blocks": edited_blocks}, tmp_path / "study.gpkg")
    redrawn = io.write_gpkg({"lots": polygons}, tmp_path / "redrawn.gpkg")
    from_blocks = check_layout(read_layout(gpkg), blocks, adjacency, 3)
    from_polygons = check_layout(read_layout(redrawn), blocks, adjacency, 3)
    pd.testing.assert_series_equal(from_blocks, from_polygons)
    assert from_blocks.to_dict() == by_pcn.to_dict()
    with pytest.raises(LayoutError, match="layers"):
        read_layout(io.write_gpkg({"a": polygons, "b": polygons}, tmp_path / "two.gpkg"))


def test_locks_must_name_blocks_of_the_study_and_designed_lot_ids(study, tmp_path):
    blocks, _ = study
    path = tmp_path / "locks.csv"
    path.write_text(f"block_id,patch_id\n{FAR_WEST},P01\nPCN-NE|N18,North\nNOPE,P02\n")
    with pytest.raises(LayoutError) as caught:
        lock_pairs(read_layout(path), blocks, k=3)
    assert "unknown block 'NOPE' (row 3)" in str(caught.value)
    assert "lot 'North' (rows 2) is not one of P01 … P03" in str(caught.value)
    path.write_text(f"block_id,patch_id\n{FAR_WEST},P03\n")
    assert lock_pairs(read_layout(path), blocks, k=3) == ((FAR_WEST, "P03"),)
    polygons = gpd.GeoDataFrame(
        {"patch_id": ["P01"]}, geometry=[blocks.union_all()], crs=blocks.crs
    )
    with pytest.raises(LayoutError, match="locks need a block_id column"):
        lock_pairs(read_layout(io.write_gpkg({"lots": polygons}, tmp_path / "l.gpkg")), blocks)


def test_locked_blocks_stay_in_their_lots_while_the_rest_are_designed(tiny_town, tmp_path):
    path = tmp_path / "keep.csv"
    path.write_text(f"block_id,patch_id\n{FAR_WEST},P03\nPCN-NE|N18,P01\n")
    result = pipeline.run(tiny_town, locks=read_layout(path))
    assert result.design.layout[FAR_WEST] == "P03"
    assert result.design.layout["PCN-NE|N18"] == "P01"
    assert (FAR_WEST, "P03") in result.scenario.patches.lock_pairs()
    assert result.design.method.startswith("local search")


def test_the_score_command_scores_and_plans_an_edited_layout(tiny_town_file, by_pcn):
    lots = write_csv(tiny_town_file.parent / "lots.csv", by_pcn)
    result = CliRunner().invoke(app, ["score", str(tiny_town_file), "--layout", str(lots)])
    assert result.exit_code == 0, result.output
    assert "lots scored (given layout)" in result.output
    out = tiny_town_file.parent / "out" / "tiny-edited" / "published"
    patches = pd.read_csv(out / "patches.csv")
    assert sorted(patches["patch_id"]) == ["P01", "P02", "P03"]
    assert patches["n_blocks"].sum() == len(by_pcn)
    summary = pd.read_csv(out / "summary.csv").set_index("patch_id")
    assert summary.loc["total", "proposed_visits_served"] > 0
    assert (out / "report.html").is_file()

    edited = by_pcn.copy()
    edited[FAR_WEST] = "P02"
    write_csv(lots, edited)
    refused = CliRunner().invoke(app, ["score", str(tiny_town_file), "--layout", str(lots)])
    assert refused.exit_code == 2
    assert "lot 'P02' is not contiguous" in refused.output and FAR_WEST in refused.output
