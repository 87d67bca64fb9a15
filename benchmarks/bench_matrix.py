"""Benchmark: many-to-many travel-time matrices, ours (scipy CSR Dijkstra) against networkx.

Run from the repository root::

    python -m benchmarks.bench_matrix            # full run (the 250,000-node grid takes minutes)
    python -m benchmarks.bench_matrix --quick    # Rutland only, smaller networkx sample

Rutland's drive and walk networks come from ``../shared/data`` (or ``$PATCHPLAN_SHARED/data``).
networkx (``single_source_dijkstra_path_length`` per origin) is timed on a sample of origins and
scaled per origin to the full matrix; the output says so. Ours is timed on the full matrix, with
and without the metres pass (median of 3 runs on Rutland, 1 on the grid), after the once-per-graph
preparation (CSR copy, packed weights, dead-end-tree contraction), which is reported separately. Peak memory is the tracemalloc peak of the timed call (numpy arrays
included) and the process's maximum resident set size.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import time
import tracemalloc
from pathlib import Path

import networkx as nx
import numpy as np

from patchplan.matrix import PARALLEL_MIN_WORK, CSRGraph, csr_graph, travel_times
from patchplan.network import NetworkSettings, load_network

SHARED = Path(os.environ.get("PATCHPLAN_SHARED", Path(__file__).resolve().parents[2] / "shared"))
RUTLAND = SHARED / "data" / "osm_rutland_tombolo" / "rutland-latest.osm.pbf"


def _timed(fn, *args, **kwargs):
    gc.collect()
    tracemalloc.start()
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, seconds, peak / 2**20


def _median_timed(repeats: int, fn, *args, **kwargs):
    """``_timed`` ``repeats`` times: the last result, the median seconds, the largest peak."""
    runs = [_timed(fn, *args, **kwargs) for _ in range(repeats)]
    seconds = sorted(r[1] for r in runs)[len(runs) // 2]
    return runs[-1][0], seconds, max(r[2] for r in runs)


def _networkx_seconds_per_origin(graph, origins, destinations, ours) -> tuple[float, float]:
    """networkx time per origin on ``origins``; also the largest difference from ``ours``."""
    start = time.perf_counter()
    rows = [nx.single_source_dijkstra_path_length(graph, o, weight="minutes") for o in origins]
    seconds = (time.perf_counter() - start) / len(origins)
    diff = max(
        abs(row[d] - ours[i, j]) for i, row in enumerate(rows) for j, d in enumerate(destinations)
    )
    return seconds, diff


def bench_rutland(sizes: list[int], nx_sample: int, rng: np.random.Generator) -> list[dict]:
    settings = NetworkSettings()
    rows = []
    for mode in ("drive", "walk"):
        graph = load_network(RUTLAND, mode, settings)
        _, csr_s, _ = _timed(csr_graph, graph)
        # per-graph preparation, once: packed weights and the dead-end-tree contraction
        _, prep_s, _ = _timed(travel_times, graph, [next(iter(graph.nodes))])
        nodes = np.array(sorted(graph.nodes))
        for size in sizes:
            origins = nodes[rng.choice(len(nodes), size, replace=size > len(nodes))]
            destinations = nodes[rng.choice(len(nodes), size, replace=size > len(nodes))]
            full, ours_s, peak_mb = _median_timed(3, travel_times, graph, origins, destinations)
            _, minutes_only_s, _ = _median_timed(
                3, travel_times, graph, origins, destinations, with_metres=False
            )
            sample = min(nx_sample, size)
            per_origin, diff = _networkx_seconds_per_origin(
                graph, origins[:sample].tolist(), destinations.tolist(), full.minutes[:sample]
            )
            nx_s = per_origin * size
            rows.append(
                dict(
                    graph=f"Rutland {mode} ({graph.number_of_nodes():,} nodes, "
                    f"{graph.number_of_edges():,} edges)",
                    size=f"{size:,}×{size:,}",
                    ours_s=ours_s,
                    minutes_only_s=minutes_only_s,
                    csr_build_s=csr_s + prep_s,
                    networkx_s=nx_s,
                    networkx_note=f"{sample} origins timed, scaled ×{size / sample:g}",
                    speedup=nx_s / ours_s,
                    peak_mb=peak_mb,
                    max_abs_diff_min=diff,
                )
            )
            print(_format(rows[-1]), flush=True)
    return rows


def grid_csr(side: int, rng: np.random.Generator) -> CSRGraph:
    """A city-like walk grid: ``side``² nodes about 80 m apart, two-way, jittered lengths and speeds."""
    idx = np.arange(side * side).reshape(side, side)
    tails = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    heads = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    length = rng.uniform(60.0, 100.0, len(tails))
    minutes = length / (4500 / 60) * rng.uniform(1.0, 1.3, len(tails))
    return CSRGraph.from_arrays(
        np.arange(side * side),
        np.concatenate([tails, heads]),
        np.concatenate([heads, tails]),
        np.concatenate([minutes, minutes]),
        np.concatenate([length, length]),
    )


def bench_grid(size: int, rng: np.random.Generator) -> dict:
    (csr, build_s, _) = _timed(grid_csr, 500, rng)
    origins = rng.choice(csr.n, size, replace=False)
    destinations = rng.choice(csr.n, size, replace=False)
    _, prep_s, _ = _timed(travel_times, csr, [0])
    result, seconds, peak_mb = _timed(travel_times, csr, origins, destinations)
    row = dict(
        graph=f"grid {csr.n:,} nodes, {csr.keys.size:,} directed edges",
        size=f"{size:,}×{size:,}",
        ours_s=seconds,
        minutes_only_s=float("nan"),
        csr_build_s=build_s + prep_s,
        networkx_s=float("nan"),
        networkx_note="not run",
        speedup=float("nan"),
        peak_mb=peak_mb,
        max_abs_diff_min=float("nan"),
        unreachable=result.n_unreachable,
    )
    print(_format(row), flush=True)
    return row


def _format(row: dict) -> str:
    return (
        f"| {row['graph']} | {row['size']} | {row['ours_s']:.2f} | {row['minutes_only_s']:.2f} | "
        f"{row['networkx_s']:.1f} ({row['networkx_note']}) | {row['speedup']:.0f}× | "
        f"{row['peak_mb']:.0f} | {row['max_abs_diff_min']:.1e} | {row['csr_build_s']:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Rutland only, 20 networkx origins")
    parser.add_argument("--nx-sample", type=int, default=100, help="networkx origins to time")
    args = parser.parse_args()
    if not RUTLAND.exists():
        raise SystemExit(f"{RUTLAND} not found: clone ../shared beside the repository")
    rng = np.random.default_rng(20240601)
    print(f"load average at the start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    print(
        "| graph | matrix | ours s (min+metres) | ours s (minutes only) | networkx s | speed-up "
        "| peak MB (tracemalloc) | max |Δ| vs networkx, min | once per graph s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    bench_rutland([1000, 2500], 20 if args.quick else args.nx_sample, rng)
    if not args.quick:
        bench_grid(2500, rng)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"\nprocess max RSS: {rss_mb:.0f} MB (largest forked worker: {child_mb:.0f} MB; tracemalloc "
        f"sees this process only); cores: {os.cpu_count()}; ours uses up to 2 processes on large "
        f"jobs (PARALLEL_MIN_WORK = {PARALLEL_MIN_WORK:g}); load average at the end: "
        f"{os.getloadavg()[0]:.1f}."
    )


if __name__ == "__main__":
    main()
