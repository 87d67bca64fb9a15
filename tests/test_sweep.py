"""What-if sweeps: variants × seeds as Dask tasks, cached, with failures listed and ranges that repeat.

The sweep under test varies K over a value that works (3) and one that cannot (50 lots from 21
blocks), over two caseloads. It runs once through a real ``dask scheduler`` and two ``dask
worker`` processes started here and connected by address, once in this process, and the command
line runs it on a LocalCluster, so every path is exercised on real processes (nothing mocked).
"""

from __future__ import annotations

import dataclasses
import os

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from patchplan import pipeline, sweep
from patchplan.cache import ResultCache, scenario_fingerprint
from patchplan.cli import app
from patchplan.errors import ScenarioError, SweepError
from patchplan.sweep import SweepSettings, parse_values, plan_variants, vary_options

SETTINGS = SweepSettings(vary={"patches.k": [3, 50]}, seeds=2)
IMPOSSIBLE_K = 50


# --------------------------------------------------------------------------------------------
# what a sweep is made of


def test_a_list_is_the_values_listed_and_a_range_includes_both_ends():
    assert parse_values([5, 16]) == [5, 16]
    assert parse_values("5..8") == [5, 6, 7, 8]
    assert parse_values("0..0.2 step 0.1") == [0.0, 0.1, 0.2]
    assert parse_values("0.3..0.7 step 0.2") == [0.3, 0.5, 0.7]
    assert parse_values(4) == [4]
    assert parse_values("free") == ["free"]
    assert parse_values([3, 3, 4]) == [3, 4]


@pytest.mark.parametrize(
    ("text", "problem"),
    [("8..5", "backwards"), ("0.1..0.5", "needs a step"), ("1..5 step 0", "positive")],
)
def test_a_bad_range_is_named(text, problem):
    with pytest.raises(ScenarioError, match=problem):
        parse_values(text, "[sweep.vary] patches.k")


@given(st.integers(-50, 50), st.integers(0, 60), st.integers(1, 7))
def test_an_integer_range_holds_every_step_from_low_to_high(low, width, step):
    values = parse_values(f"{low}..{low + width} step {step}")
    assert values == list(range(low, low + width + 1, step))


@given(st.integers(0, 40), st.integers(1, 30), st.sampled_from([0.05, 0.1, 0.25]))
def test_a_decimal_range_stays_within_its_ends_and_keeps_its_step(low_tenths, count, step):
    low = low_tenths / 10
    high = round(low + count * step, 10)
    values = parse_values(f"{low}..{high} step {step}")
    assert len(values) == count + 1
    assert values[0] == pytest.approx(low) and values[-1] == pytest.approx(high)
    assert all(b - a == pytest.approx(step) for a, b in zip(values, values[1:], strict=False))


def test_vary_options_read_ranges_items_and_arrays():
    table = vary_options(
        ["patches.k=3..5", "workforce.walking_share=0.3,0.5", "study.days=[[0],[0,1]]",
         "patches.pcn_policy=align,free"]
    )  # fmt: skip
    assert parse_values(table["patches.k"]) == [3, 4, 5]
    assert table["workforce.walking_share"] == [0.3, 0.5]
    assert table["study.days"] == [[0], [0, 1]]
    assert table["patches.pcn_policy"] == ["align", "free"]
    with pytest.raises(SweepError, match="section.key=values"):
        vary_options(["k=3"])


def test_variants_cross_every_value_with_every_seed(tiny_town):
    settings = SweepSettings(
        vary={"patches": {"k": "2..4"}, "workforce.walking_share": [0.3, 0.6]}, seeds=3
    )
    variants = plan_variants(tiny_town, settings)
    assert len(variants) == 3 * 2 * 3
    assert {v.seed for v in variants} == {7, 8, 9}
    assert variants[0].label == "k=2, walking_share=0.3"
    first = variants[0].scenario
    assert (first.patches.k, first.workforce.walking_share, first.rounds.workers) == (2, 0.3, 1)
    assert len({v.fingerprint for v in variants}) == len(variants)


def test_a_varied_key_is_checked_like_the_scenario_and_named(tiny_town):
    with pytest.raises(ScenarioError, match="patches.k"):
        plan_variants(tiny_town, SweepSettings(vary={"patches.k": ["many"]}))
    with pytest.raises(ScenarioError, match="unknown key 'kk'"):
        plan_variants(tiny_town, SweepSettings(vary={"patches.kk": [3]}))
    with pytest.raises(SweepError, match="unknown table 'lots'"):
        plan_variants(tiny_town, SweepSettings(vary={"lots.k": [3]}))
    with pytest.raises(SweepError, match="seeds"):
        plan_variants(tiny_town, SweepSettings(vary={"study.seed": [1, 2]}))


def test_a_variant_is_cached_under_the_fingerprint_of_the_scenario_it_runs(tiny_town):
    variant = plan_variants(tiny_town, SweepSettings(vary={"patches.k": [4]}))[0]
    same = tiny_town.replace(patches={"k": 4}, rounds={"workers": 1})
    assert variant.fingerprint == scenario_fingerprint(same)
    # the sweep table and where outputs go are not part of a run's fingerprint
    other = same.replace(sweep=SETTINGS, outputs={"dir": "elsewhere"})
    assert scenario_fingerprint(other) == variant.fingerprint


# --------------------------------------------------------------------------------------------
# running one


@pytest.fixture(scope="module")
def distributed(tiny_town, tmp_path_factory):
    """The sweep through a dask scheduler and two dask worker processes started here."""
    folder = tmp_path_factory.mktemp("dask")
    with sweep.scheduler_processes(workers=2, memory_limit_gb=2.0, folder=folder) as address:
        settings = dataclasses.replace(SETTINGS, scheduler=address)
        result = sweep.sweep(tiny_town, settings, cache=ResultCache(folder / "cache"))
    return result


@pytest.fixture(scope="module")
def in_process(tiny_town, tmp_path_factory):
    """The same sweep run one task after another in this process, with its own cache."""
    folder = tmp_path_factory.mktemp("sequential")
    return sweep.sweep(tiny_town, SETTINGS, sequential=True, cache=ResultCache(folder))


def test_tasks_run_on_separately_started_dask_workers(distributed):
    assert distributed.where.startswith("cluster at tcp://127.0.0.1:")
    assert "2 worker processes" in distributed.where
    assert "memory limit 2.0 GB per worker" in distributed.where
    ran = [s for s in distributed.summaries if s.status == "ok"]
    assert ran and all(s.worker and not s.worker.endswith(f":{os.getpid()}") for s in ran)
    assert all(s.peak_memory_mb > 0 and s.runtime_s > 0 for s in ran)


def test_a_failed_variant_is_listed_with_its_error_while_the_others_finish(distributed):
    tasks = distributed.tasks()
    assert len(tasks) == 4 and distributed.failed == 2
    failed = distributed.failures()
    assert set(failed["label"]) == {f"k={IMPOSSIBLE_K}"}
    assert failed["error"].str.contains(f"PatchDesignError: k: {IMPOSSIBLE_K} patches").all()
    finished = tasks[tasks["status"] == "ok"]
    assert set(finished["label"]) == {"k=3"} and set(finished["seed"]) == {7, 8}
    assert finished["travel_today_h"].gt(0).all()
    lots = distributed.figures()
    assert set(lots["patch_id"]) == {"P01", "P02", "P03", "total"}


def test_ranges_over_seeds_repeat_on_any_workers(distributed, in_process):
    # every plan stopped on its work counts, not its wall-clock cap, so runs must repeat exactly
    assert not any(s.time_limit_reached for r in (distributed, in_process) for s in r.summaries)
    columns = ["label", "seed", "patch_id", *sweep.FIGURES]
    pd.testing.assert_frame_equal(distributed.figures()[columns], in_process.figures()[columns])
    ranges = in_process.ranges()
    pd.testing.assert_frame_equal(distributed.ranges(), ranges)
    saved = ranges.set_index("figure").loc["travel_saved_pct"]
    assert saved["seeds"] == 2 and saved["p05"] <= saved["median"] <= saved["p95"]


def test_a_resumed_sweep_computes_only_what_is_missing(tiny_town, in_process, monkeypatch):
    cache = ResultCache(in_process.cache_dir)
    finished = [s for s in in_process.summaries if s.status == "ok"]
    lost = finished[0]
    cache.path(lost.fingerprint).unlink()  # as if the sweep had stopped before this task
    kept = {s.fingerprint: cache.path(s.fingerprint).stat().st_mtime_ns for s in finished[1:]}
    ran = []
    real_run = pipeline.run

    def counted_run(scenario, *args, **kwargs):
        ran.append((scenario.patches.k, scenario.study.seed))
        return real_run(scenario, *args, **kwargs)

    monkeypatch.setattr(pipeline, "run", counted_run)
    resumed = sweep.sweep(tiny_town, SETTINGS, sequential=True, cache=cache)
    # the lost task and the two that failed (failures are not cached) run again; nothing else
    assert sorted(ran) == sorted([(3, lost.seed), (IMPOSSIBLE_K, 7), (IMPOSSIBLE_K, 8)])
    assert (resumed.computed, resumed.cached, resumed.failed) == (3, 1, 2)
    assert all(cache.path(k).stat().st_mtime_ns == t for k, t in kept.items())
    pd.testing.assert_frame_equal(resumed.figures(), in_process.figures())


def test_the_sweep_command_runs_on_a_local_cluster_and_writes_the_report(
    tiny_town_file, in_process
):
    # The finished variants come from the warm cache; the LocalCluster runs the failing ones.
    tiny_town_file.write_text(
        tiny_town_file.read_text()
        + f'\n[sweep]\nseeds = 2\nworkers = 1\nmemory_limit_gb = 2.0\ncache_dir = "{in_process.cache_dir}"\n'
        + "[sweep.vary]\npatches.k = [3]\n"
    )
    result = CliRunner().invoke(app, ["sweep", str(tiny_town_file), "--vary", "patches.k=3,50"])
    assert result.exit_code == 1, result.output  # a task failed: listed, and the exit code says so
    assert "LocalCluster on this machine: 1 worker processes" in result.output
    assert "memory limit 2.0 GB per worker" in result.output
    assert f"k: {IMPOSSIBLE_K} patches requested" in result.output
    assert "2 computed" not in result.output and "2 from the cache" in result.output
    folder = tiny_town_file.parent / "out" / "tiny" / "sweep"
    page = (folder / "sweep-report.html").read_text()
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in page and 'role="img"' in page
    assert "<figcaption>" in page and '<th scope="col">' in page and '<th scope="row">' in page
    assert f"PatchDesignError: k: {IMPOSSIBLE_K} patches" in page
    tasks = pd.read_csv(folder / "tasks.csv")
    assert len(tasks) == 4 and (tasks["status"] == "failed").sum() == 2
    assert {"median", "p05", "p95", "seeds"} <= set(pd.read_csv(folder / "ranges.csv").columns)


def test_a_single_scenario_run_over_seeds_reports_ranges(tiny_town_file, in_process):
    # Both caseloads are in the warm cache: the run itself (seed 7) is computed again and must
    # give the figures its sweep task gave.
    tiny_town_file.write_text(
        tiny_town_file.read_text() + f'\n[sweep]\ncache_dir = "{in_process.cache_dir}"\n'
    )
    result = CliRunner().invoke(app, ["run", str(tiny_town_file), "--seeds", "2"])
    assert result.exit_code == 0, result.output
    out = tiny_town_file.parent / "out" / "tiny" / "published"
    ranges = pd.read_csv(out / "ranges.csv", keep_default_na=False, na_values=[""])
    total = ranges[ranges["patch_id"] == "total"].set_index("figure")
    assert (total["seeds"] == 2).all()
    swept = in_process.figures().query("label == 'k=3' and seed == 7 and patch_id == 'total'")
    assert total.loc["travel_saved_pct", "this_run"] == pytest.approx(
        swept["travel_saved_pct"].iloc[0]
    )
    page = (out / "report.html").read_text()
    assert "Ranges over 2 synthetic caseloads" in page and '<th scope="row">' in page


def test_compare_chooses_the_variants_shown_side_by_side(in_process):
    from patchplan.sweep_report import compared_variants, side_by_side

    chosen = dataclasses.replace(
        in_process, settings=dataclasses.replace(SETTINGS, compare=("patches.k=3",))
    )
    assert compared_variants(chosen) == [0]
    table = side_by_side(chosen, chosen.ranges())
    assert list(table.columns) == ["k=3"]
    assert table.loc["Seeds finished / failed", "k=3"] == "2 / 0"
    assert compared_variants(in_process) == [0, 1]  # no choice: every variant
