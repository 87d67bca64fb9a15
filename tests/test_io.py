"""Outputs are written atomically: a failure leaves the old file (or nothing), never a part."""

from __future__ import annotations

import pandas as pd
import pytest

from patchplan import io


def test_write_text_replaces_whole_file(tmp_path):
    target = tmp_path / "out" / "report.html"
    io.write_text(target, "first")
    io.write_text(target, "second")
    assert target.read_text() == "second"
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]


def test_failed_write_keeps_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "savings.csv"
    io.write_text(target, "old,complete\n")
    with pytest.raises(RuntimeError), io.atomic_write(target) as fh:
        fh.write("new,half")
        raise RuntimeError("disk full halfway")
    assert target.read_text() == "old,complete\n"
    assert [p.name for p in tmp_path.iterdir()] == ["savings.csv"]


def test_failed_first_write_leaves_nothing(tmp_path):
    target = tmp_path / "patches.csv"
    frame = pd.DataFrame({"patch_id": ["P01"], "hours": [object()]})

    class Boom:
        def __str__(self):
            raise RuntimeError("cannot format")

    frame.loc[0, "hours"] = Boom()
    with pytest.raises(RuntimeError):
        io.write_csv(frame, target)
    assert list(tmp_path.iterdir()) == []


def test_csv_drops_geometry_and_keeps_ids_as_text(tmp_path):
    import geopandas as gpd
    from shapely.geometry import Point

    frame = gpd.GeoDataFrame({"person_id": ["007"]}, geometry=[Point(1, 2)], crs="EPSG:27700")
    path = io.write_csv(frame, tmp_path / "t.csv")
    assert path.read_text().splitlines() == ["person_id", "007"]


def test_geopackage_layers_round_trip(tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    frame = gpd.GeoDataFrame(
        {"patch_id": ["P01", "P02"]}, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs="EPSG:27700"
    )
    path = io.write_gpkg({"patches": frame, "blocks": frame}, tmp_path / "study.gpkg")
    back = gpd.read_file(path, layer="blocks")
    assert list(back["patch_id"]) == ["P01", "P02"]
    assert back.crs.to_epsg() == 27700


def test_outputs_get_ordinary_file_permissions_not_temporary_ones(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        path = io.write_text(tmp_path / "report.html", "<p>hi</p>")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
