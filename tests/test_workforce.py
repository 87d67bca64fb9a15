"""Who serves whom: carers sized per shift, walkers living near their rounds."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import Point, box

from patchplan import CRS
from patchplan.matrix import StraightLineTravel
from patchplan.rounds import REASON_NO_WINDOW, RETURN, RoundsSettings, plan_rounds
from patchplan.workforce import (
    WorkforceSettings,
    carers_for,
    local_homes,
    office_site,
    patch_allocation,
)

TRAVEL = {"walk": StraightLineTravel("walk"), "drive": StraightLineTravel("drive")}


def two_villages(per_village: int = 20, gap_m: float = 16_000.0, seed: int = 3):
    """Visits in two villages ``gap_m`` apart (west at x=0, east at x=gap_m), 400 m across each."""
    rng = np.random.default_rng(seed)
    rows, geoms = [], []
    for v, cx in enumerate((0.0, gap_m)):
        for i in range(per_village):
            e = int(rng.choice([450, 540, 660, 750]))
            rows.append({"visit_id": f"{'WE'[v]}{i}", "person_id": f"{'WE'[v]}{i}", "day": 0,
                         "earliest": e, "latest": e + 60, "duration": 30, "carers": 1,
                         "skills": ""})  # fmt: skip
            geoms.append(Point(cx + rng.uniform(-200, 200), rng.uniform(-200, 200)))
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=CRS)


def test_local_homes_are_visit_addresses_one_per_compact_group():
    visits = two_villages()
    homes = local_homes(visits, 2)
    xs = sorted(round(p.x, 6) for p in homes)
    assert xs[0] < 1_000 and xs[1] > 15_000  # one home in each village
    addresses = {(round(p.x, 6), round(p.y, 6)) for p in visits.geometry}
    assert all((round(p.x, 6), round(p.y, 6)) in addresses for p in homes)
    assert len({p.wkt for p in local_homes(visits, 5)}) == 5
    few = local_homes(visits.head(3), 5)  # more carers than addresses: homes repeat
    assert len(few) == 5 and len({p.wkt for p in few}) == 3
    assert local_homes(visits, 0) == []


def test_walkers_live_locally_and_drivers_start_at_the_office():
    visits = two_villages()
    office = Point(8_000.0, 0.0)
    carers = carers_for(visits, "A", office, WorkforceSettings(), walking_share=0.5)
    walkers, drivers = carers[carers["mode"] == "walk"], carers[carers["mode"] == "drive"]
    assert len(walkers) > 0 and len(drivers) > 0
    assert (drivers.geometry.distance(office) == 0).all()
    assert (walkers.geometry.distance(office) > 7_000).all()  # in a village, not at the office
    at_office = carers_for(visits, "A", office, WorkforceSettings(walkers_live_locally=False), 0.5)
    assert (at_office.geometry.distance(office) == 0).all()


def test_walkers_living_in_a_village_get_that_villages_visits():
    # 16 km apart: no walker can walk between the villages (30 min cap), so each part of the day
    # must be given the walkers who live there
    visits = two_villages(per_village=30)
    carers = carers_for(visits, "A", Point(8_000.0, 0.0), WorkforceSettings(), walking_share=1.0)
    assert (carers["mode"] == "walk").all()
    carers = carers.iloc[::-1].reset_index(drop=True)  # eastern walkers listed first
    result = plan_rounds(visits, carers, TRAVEL, RoundsSettings(max_visits_per_problem=30))
    stops = result.rounds[result.rounds["visit_id"] != RETURN]
    home_x = carers.set_index("carer_id").geometry.x
    village_of_home = np.where(home_x.loc[stops["carer_id"]].to_numpy() < 8_000, "W", "E")
    assert (stops["visit_id"].str[0].to_numpy() == village_of_home).all()
    assert len(set(stops["visit_id"])) >= 0.9 * len(visits)
    assert result.rounds["travel_min"].max() <= 30
    assert pd.Series(village_of_home).nunique() == 2


def test_a_shift_is_sized_for_its_busiest_hour():
    # 20 half-hour visits all opening between 07:00 and 07:30: 600 care minutes in one hour
    rows = [{"visit_id": f"v{i}", "person_id": f"p{i}", "day": 0, "earliest": 420 + i,
             "latest": 480 + i, "duration": 30, "carers": 1, "skills": ""} for i in range(20)]  # fmt: skip
    visits = gpd.GeoDataFrame(rows, geometry=[Point(i * 10.0, 0.0) for i in range(20)], crs=CRS)
    office = Point(0.0, 0.0)
    peak = carers_for(visits, "A", office, WorkforceSettings())
    average = carers_for(visits, "A", office, WorkforceSettings(peak_hour_sizing=False))
    # busiest hour: 600 / (60 × 0.55) → 19, plus 1 spare; the shift average: 600 / (420 × 0.55) → 3
    assert len(peak) == 19 + 1
    assert len(average) == 3 + 1
    assert (peak["shift_start"] == 420).all()


def test_an_unpaid_drive_home_never_drops_a_late_visit():
    """A bed call ending at 22:30, 12 km from the office: its carer cannot be back by the end of
    the shift, which only matters when the drive home is paid."""
    row = {"visit_id": "late", "person_id": "p", "day": 0, "earliest": 1320, "latest": 1320,
           "duration": 30, "carers": 1, "skills": ""}  # fmt: skip
    visits = gpd.GeoDataFrame([row], geometry=[Point(12_000.0, 0.0)], crs=CRS)
    office = Point(0.0, 0.0)
    paid = carers_for(visits, "A", office, WorkforceSettings())
    unpaid = carers_for(visits, "A", office, WorkforceSettings(), base_legs_unpaid=True)
    assert (unpaid["shift_start"] == paid["shift_start"] - 60).all()
    assert (unpaid["shift_end"] == paid["shift_end"] + 60).all()
    assert (unpaid["max_minutes"] == paid["max_minutes"] + 120).all()
    dropped = plan_rounds(visits, paid, TRAVEL, RoundsSettings(time_limit_s=5.0))
    assert dropped.unserved["reason"].tolist() == [REASON_NO_WINDOW]
    served = plan_rounds(visits, unpaid, TRAVEL, RoundsSettings(time_limit_s=5.0))
    assert served.unserved.empty
    stop = served.rounds[served.rounds["visit_id"] == "late"].iloc[0]
    assert stop["end"] == 1350  # the visit itself still ends with the shift


def test_an_unpaid_drive_to_the_first_visit_never_drops_an_early_visit():
    """A 07:00–07:15 call 20 km from the office: unreachable by 07:15 from a 07:00 start."""
    row = {"visit_id": "early", "person_id": "p", "day": 0, "earliest": 420, "latest": 435,
           "duration": 30, "carers": 1, "skills": ""}  # fmt: skip
    visits = gpd.GeoDataFrame([row], geometry=[Point(20_000.0, 0.0)], crs=CRS)
    office = Point(0.0, 0.0)
    settings = RoundsSettings(time_limit_s=5.0)
    paid = plan_rounds(
        visits, carers_for(visits, "A", office, WorkforceSettings()), TRAVEL, settings
    )
    assert paid.unserved["reason"].tolist() == [REASON_NO_WINDOW]
    unpaid = carers_for(visits, "A", office, WorkforceSettings(), base_legs_unpaid=True)
    served = plan_rounds(visits, unpaid, TRAVEL, settings)
    assert served.unserved.empty
    assert served.rounds.loc[served.rounds["visit_id"] == "early", "start"].iloc[0] >= 420


def test_offices_sit_at_an_address_in_the_patchs_main_built_up_area():
    """A town of 40 homes and a village of 8, 6 km apart: the office is a town address, not the
    centroid of everyone (which would lie in the fields between them)."""
    rng = np.random.default_rng(5)
    town = [Point(rng.uniform(0, 800), rng.uniform(0, 800)) for _ in range(40)]
    village = [Point(6_000 + rng.uniform(0, 200), rng.uniform(0, 200)) for _ in range(8)]
    homes = gpd.GeoSeries(town + village, crs=CRS)
    office = office_site(homes)
    assert any(office.equals(h) for h in town)
    centroid = Point(homes.x.mean(), homes.y.mean())
    assert office.distance(centroid) > 500
    people = gpd.GeoDataFrame({"person_id": [f"p{i}" for i in range(len(homes))]},
                              geometry=homes, crs=CRS)  # fmt: skip
    patch = gpd.GeoDataFrame({"patch_id": ["P01"]}, geometry=[box(-100, -100, 6_300, 900)], crs=CRS)
    person_patch = pd.Series("P01", index=people["person_id"])
    _, providers = patch_allocation(people, person_patch, patch, WorkforceSettings())
    assert providers.geometry.iloc[0].equals(office)
    assert providers.geometry.iloc[1].distance(office) <= 150 + 1e-6
