"""Maps open in real headless Chromium without errors, hold their layers, and publish no individual."""

from __future__ import annotations

import io as stdio

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point

from patchplan import io, maps
from patchplan.examples.town import make_town

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def town():
    return make_town()


@pytest.fixture(scope="module")
def lots(town):
    """The town's three PCN areas standing in as lots, with made-up totals (one of them small)."""
    frame = town.pcns.rename(columns={"id": "patch_id"})
    frame["hours_week"] = [1200.0, 900.0, 30.0]
    frame["people"] = [80, 60, 3]
    frame["providers"] = [2, 2, 3]
    return frame


def screenshot_is_not_blank(page) -> float:
    from PIL import Image

    image = np.asarray(Image.open(stdio.BytesIO(page.screenshot())).convert("L"), dtype=float)
    return float(image.std())


def test_lots_map_opens_without_errors_and_has_its_layers(tmp_path, open_page, lots, town):
    fmap = maps.lots_map(
        lots, town.pcns, town.neighbourhoods, existing=town.localities, synthetic=True
    )
    path = io.write_map(fmap, tmp_path / "lots.html")
    page, console_errors, page_errors, remote = open_page(path)
    assert page_errors == []
    assert console_errors == []
    assert page.evaluate("typeof L") == "object"  # Leaflet came from the file itself
    assert all("leaflet" not in url for url in remote)  # nothing but tiles was fetched
    labels = page.locator(".leaflet-control-layers-overlays label").all_text_contents()
    assert any("Patches" in t for t in labels)
    assert any("PCN boundaries" in t for t in labels)
    assert any("Neighbourhoods" in t for t in labels)
    assert any("Today's areas" in t for t in labels)
    assert page.locator("path.leaflet-interactive").count() >= len(lots)
    assert "SYNTHETIC DATA" in page.locator(".pp-title").inner_text()
    assert screenshot_is_not_blank(page) > 5.0
    page.screenshot(path=str(tmp_path / "lots.png"))


def test_small_counts_are_withheld_on_published_maps(tmp_path, lots):
    """The lot of 3 people is withheld, and the next smallest with it (else 3 = total − the rest)."""
    html = maps.lots_map(lots).get_root().render()
    assert html.count('"persons": "withheld"') == 2 and html.count('"hours": "withheld"') == 2
    assert '"hours": "30"' not in html and '"hours": "900"' not in html
    assert '"persons": "80"' in html  # the largest lot is shown
    walk = lots.assign(walk_class=["walkable", "mixed", "car-dependent"],
                       walk_visit_share=[0.9, 0.6, 0.1], walk_hours_share=[0.9, 0.5, 0.1])  # fmt: skip
    html = maps.walkability_map(walk).get_root().render()
    assert html.count('"class_text": "withheld"') == 2 and 'car-dependent"' not in html


def test_every_map_carries_the_credits_and_colour_blind_safe_colours(lots, town):
    from patchplan.network import load_network, main_roads

    roads = main_roads(load_network(town.streets, "drive"))
    places = town.neighbourhoods.assign(geometry=town.neighbourhoods.representative_point())
    orient = maps.Orientation(roads=roads, places=places)
    saved = lots.assign(saved_travel_min=[600.0, -40.0, 10.0])
    built = [
        maps.lots_map(lots, orientation=orient),
        maps.savings_map(saved, orientation=orient),
        maps.walkability_map(lots.assign(walk_class="mixed", walk_visit_share=0.6,
                                         walk_hours_share=0.5), orientation=orient),
    ]  # fmt: skip
    for fmap in built:
        html = fmap.get_root().render()
        for credit in maps.CREDITS:
            assert credit in html
        assert "Main road" in html and town.neighbourhoods["name"].iloc[0] in html
    savings = built[1].get_root().render()
    assert (
        "10 hours a week saved" in savings and "minutes" not in savings.split("pp-legend")[-1][:400]
    )
    for red_green in ("#1a9641", "#d7191c", "#1b9e77", "#66a61e"):
        assert all(red_green not in m.get_root().render() for m in built)


def test_published_maps_refuse_individual_points(lots):
    points = gpd.GeoDataFrame(
        {"patch_id": ["P01"], "hours_week": [1.0], "people": [1]},
        geometry=[Point(560_000, 440_000)],
        crs="EPSG:27700",
    )
    with pytest.raises(maps.PublicationError, match="areas only"):
        maps.lots_map(points)
    with pytest.raises(maps.PublicationError):
        maps.savings_map(points.assign(saved_travel_min=1.0))


def test_savings_and_walkability_maps_open_cleanly(tmp_path, open_page, lots):
    saved = lots.assign(saved_travel_min=[500.0, -40.0, 10.0], saved_travel_pct=[20.0, -2.0, 1.0])
    walk = lots.assign(
        walk_class=["walkable", "mixed", "car-dependent"],
        walk_visit_share=[0.95, 0.6, 0.1],
        walk_hours_share=[0.9, 0.5, 0.1],
    )
    for name, fmap in (("savings", maps.savings_map(saved)), ("walk", maps.walkability_map(walk))):
        page, console_errors, page_errors, _ = open_page(
            io.write_map(fmap, tmp_path / f"{name}.html")
        )
        assert page_errors == [] and console_errors == [], name
        assert page.locator("path.leaflet-interactive").count() >= 3
        assert screenshot_is_not_blank(page) > 5.0


def test_rounds_map_is_marked_internal(tmp_path, open_page):
    from shapely.geometry import LineString

    legs = gpd.GeoDataFrame(
        {"carer_id": ["C1", "C1"], "order": [1, 2], "visit_id": ["v1", "<return>"], "mode": ["walk", "walk"],
         "start": [480, 540], "travel_min": [6.0, 4.0]},
        geometry=[LineString([(560_000, 440_000), (560_300, 440_100)]), LineString([(560_300, 440_100), (560_000, 440_000)])],
        crs="EPSG:27700",
    )  # fmt: skip
    page, console_errors, page_errors, _ = open_page(
        io.write_map(maps.rounds_map(legs), tmp_path / "r.html")
    )
    assert page_errors == [] and console_errors == []
    assert "INTERNAL — NOT FOR PUBLICATION" in page.locator(".pp-title").inner_text()
    assert page.locator("path.leaflet-interactive").count() == 2
