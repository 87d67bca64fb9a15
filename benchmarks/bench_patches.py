"""Benchmark: our patch design against spopt's regionalisation methods and Sheffield's 7 localities.

Run from the repository root::

    python -m benchmarks.bench_patches

Sheffield: the 345 LSOA blocks with their PCN (``pcn_network``), the default synthetic caseload
(``demand.synthesise_demand`` with Sheffield's defaults, seed 0: 2,500 people, 39,000 h/week), and the
labelled straight-line *estimate* of drive times (no Sheffield OSM extract exists here). Every layout
is judged by the same scorer, ``patches.score_patches`` on the same travel matrix and the same rook
adjacency (``boundaries.block_adjacency``): ``objective_h_min`` with ``pcn_policy="align"`` (p-median
plus 5 min per weekly hour outside its PCN's majority patch) and ``p_median_h_min`` without the PCN
term. Our design runs under "align" (the default) and under "free" (the like-for-like comparison
with spopt, which knows nothing of PCNs).

spopt's methods get the blocks' representative-point coordinates (km) as the attributes to make
homogeneous, which is what makes their regions compact; they have no hours-balance constraint, except
SKATER's floor (blocks) and max-p's threshold (here 90% of the mean patch hours), so their worst
balance is reported as it comes out. Runtimes are wall-clock on this machine (shared, 2 cores).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from patchplan.boundaries import block_adjacency, make_blocks
from patchplan.demand import demand_by_area
from patchplan.matrix import StraightLineTravel
from patchplan.patches import PatchSettings, design_patches, score_patches
from patchplan.pipeline import load_inputs
from patchplan.scenario import Scenario

K = 7
TOLERANCE = 0.10


def sheffield():
    """Blocks, adjacency, block demand, travel matrix and the council's locality per block."""
    # The Sheffield scenario names the inputs; seed 0 keeps the caseload this table was measured on.
    inputs = load_inputs(Scenario.example("sheffield").replace(study={"seed": 0}))
    lsoa, demand = inputs.areas, inputs.demand
    blocks = make_blocks(lsoa, pcn_column="pcn_network")
    block_demand = demand_by_area(demand, blocks, "block_id")
    travel = StraightLineTravel("drive").matrix(blocks.geometry.representative_point())
    locality = lsoa.set_index("id")["asc_locality"].reindex(blocks["block_id"])
    return blocks, block_adjacency(blocks), block_demand, travel, locality


def spopt_layouts(blocks, graph, block_demand, seed: int = 0) -> dict[str, tuple[pd.Series, float]]:
    """spopt's AZP, SKATER, region-k-means and max-p at K (max-p chooses its own p)."""
    from libpysal.weights import W
    from spopt.region import AZP, MaxPHeuristic, RegionKMeansHeuristic, Skater

    ids = list(blocks["block_id"])
    gdf = blocks.reset_index(drop=True).copy()
    pts = gdf.geometry.representative_point()
    gdf["x_km"], gdf["y_km"] = pts.x / 1000.0, pts.y / 1000.0
    gdf["hours_week"] = block_demand["hours_week"].reindex(ids).fillna(0.0).to_numpy()
    position = {b: i for i, b in enumerate(ids)}
    w = W(
        {position[b]: [position[n] for n in graph.neighbors(b)] for b in ids}, silence_warnings=True
    )
    attrs = ["x_km", "y_km"]
    mean = gdf["hours_week"].sum() / K
    out: dict[str, tuple[pd.Series, float]] = {}

    def run(name, make):
        np.random.seed(seed)
        start = time.perf_counter()
        model = make()
        model.solve()
        out[name] = (
            pd.Series([f"R{int(v)}" for v in model.labels_], index=ids),
            time.perf_counter() - start,
        )

    run("spopt AZP", lambda: AZP(gdf, w, attrs, n_clusters=K, random_state=seed))
    run("spopt SKATER", lambda: Skater(gdf, w, attrs, n_clusters=K, floor=len(ids) // (2 * K)))
    run(
        "spopt region-k-means",
        lambda: RegionKMeansHeuristic(gdf[attrs].to_numpy(), K, w, seed=seed),
    )
    run(
        "spopt max-p (hours >= 90% of mean)",
        lambda: MaxPHeuristic(gdf, w, attrs, "hours_week", (1 - TOLERANCE) * mean, top_n=2),
    )
    return out


def main() -> pd.DataFrame:
    """Run every method once and print the comparison table."""
    warnings.filterwarnings("ignore")
    blocks, graph, block_demand, travel, locality = sheffield()
    settings = PatchSettings(k=K, balance_tolerance=TOLERANCE, pcn_policy="align")
    layouts: dict[str, tuple[pd.Series, float, str]] = {}
    for policy, starts in (("align", settings.starts), ("free", settings.starts), ("free", 40)):
        run_settings = PatchSettings(
            k=K, balance_tolerance=TOLERANCE, pcn_policy=policy, starts=starts
        )
        start = time.perf_counter()
        design = design_patches(blocks, graph, block_demand, travel, run_settings, seed=0)
        layouts[f"patchplan {policy} ({starts} starts)"] = (
            design.layout,
            time.perf_counter() - start,
            design.method,
        )
    for name, (layout, seconds) in spopt_layouts(blocks, graph, block_demand).items():
        layouts[name] = (layout, seconds, "")
    layouts["council ASC localities"] = (locality.astype(str), 0.0, "existing")

    rows = []
    for name, (layout, seconds, _) in layouts.items():
        score = score_patches(layout, blocks, block_demand, travel, settings, adjacency=graph)
        free = score_patches(
            layout, blocks, block_demand, travel, PatchSettings(pcn_policy="free"), adjacency=graph
        )
        overall = score.loc["all"]
        rows.append(
            {
                "method": name,
                "k": len(score) - 1,
                "objective_h_min": overall["objective"],
                "p_median_h_min": free.loc["all", "objective"],
                "worst_balance": overall["balance_dev"],
                "balance_met": overall["balance_dev"] <= TOLERANCE + 1e-9,
                "contiguous": bool(overall["contiguous"]),
                "travel_min_per_leg": overall["travel_min_per_leg"],
                "walk_share": overall["walk_share"],
                "pcn_alignment": overall["pcn_alignment"],
                "runtime_s": seconds,
            }
        )
    table = pd.DataFrame(rows).set_index("method")
    ours = table.loc[f"patchplan align ({settings.starts} starts)"]
    council = table.loc["council ASC localities"]
    pd.set_option("display.width", 200)
    print(
        f"Sheffield, {len(blocks)} LSOA blocks, {block_demand['hours_week'].sum():,.0f} h/week, K={K},"
        f" balance ±{TOLERANCE:.0%}; travel is the straight-line ESTIMATE (drive, crow-fly × 1.4 at"
        " 30 km/h)"
    )
    print(table.round(3).to_string())
    cut = 1 - ours["travel_min_per_leg"] / council["travel_min_per_leg"]
    print(f"\nExpected travel per leg vs the council's 7 localities: {cut:.1%} lower")
    return table


if __name__ == "__main__":
    main()
