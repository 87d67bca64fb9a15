"""Faults: a stop signal ends a run with 130/143 and nothing new on disk; one run per outputs
folder; study names stay inside it; a search cut by its safety cap says so."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import study_files as sf
from ortools.sat.python import cp_model
from shapely.geometry import Point
from typer.testing import CliRunner

from patchplan import io
from patchplan.cli import app
from patchplan.errors import Interrupted, OutputsError
from patchplan.interrupts import stop_on_signals, stoppable
from patchplan.parallel import map_tasks
from patchplan.scenario import StudySettings

REPO = Path(__file__).resolve().parents[1]

SMALL_TOWN = """
[study]
name = "small"
title = "small town"
seed = 7
days = [0]
[inputs]
source = "town"
[demand]
people = 60
hours_week = 936.0
[patches]
k = 2
time_limit_s = 2.0
[rounds]
time_limit_s = 20.0
workers = 1
[workforce]
providers_today = 3
providers_per_patch = 1
[outputs]
dir = "out"
maps_dir = "out/maps"
"""


def files_under(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*")}


def signal_once(signum: int, after_s: float) -> threading.Timer:
    """Send ``signum`` to this process after ``after_s`` seconds (from another thread, as a terminal would)."""
    timer = threading.Timer(after_s, os.kill, (os.getpid(), signum))
    timer.start()
    return timer


# --------------------------------------------------------------------------------------------------
# a real run, stopped


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stop_signal_ends_a_real_run_with_its_code_and_writes_nothing(tmp_path, signum, code):
    (tmp_path / "small.toml").write_text(SMALL_TOWN, encoding="utf-8")
    before = files_under(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    run = subprocess.Popen(
        [sys.executable, "-m", "patchplan.cli", "run", "small.toml"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    seen = []
    assert run.stdout is not None
    for line in run.stdout:  # stop it once the patches are designed: the solvers are at work
        seen.append(line)
        if "patches:" in line:
            run.send_signal(signum)
            break
    output = "".join(seen) + run.stdout.read()
    assert run.wait(timeout=120) == code, output
    assert "interrupted" in output and "nothing was written" in output
    assert files_under(tmp_path) == before  # no output, no temporary file, no lock, no folder


def test_an_interrupt_while_writing_leaves_no_new_or_temporary_file(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.csv").write_text("the previous run's\n")
    layer = gpd.GeoDataFrame({"id": ["a"]}, geometry=[Point(0, 0).buffer(1)], crs="EPSG:27700")
    with stop_on_signals(), pytest.raises(Interrupted) as stopped, io.all_or_nothing():
        io.write_csv(pd.DataFrame({"x": [1]}), out / "summary.csv")
        io.write_gpkg({"patches": layer}, out / "new" / "study.gpkg")
        os.kill(os.getpid(), signal.SIGINT)  # arrives here, between two writes
        io.write_text(out / "report.html", "never")
    assert stopped.value.exit_code == 130
    assert files_under(out) == {Path("summary.csv")}
    assert (out / "summary.csv").read_text() == "the previous run's\n"


def test_outputs_written_together_appear_together(tmp_path):
    with io.all_or_nothing():
        io.write_text(tmp_path / "a" / "one.txt", "1")
        assert not (tmp_path / "a" / "one.txt").exists()  # not before the block ends
        io.write_text(tmp_path / "two.txt", "2")
    assert (tmp_path / "a" / "one.txt").read_text() == "1" and (tmp_path / "two.txt").exists()
    assert not [p for p in tmp_path.rglob(".*")]


def hard_model() -> cp_model.CpModel:
    model = cp_model.CpModel()
    x = [model.new_int_var(0, 1000, f"x{i}") for i in range(40)]
    for i in range(39):
        model.add(x[i] + x[i + 1] <= 1000 - i)
    model.add_all_different(x)
    model.maximize(sum((i % 7 + 1) * v for i, v in enumerate(x)))
    return model


def test_ctrl_c_stops_cp_sat_instead_of_returning_its_best_solution():
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = 60.0
    solver.parameters.catch_sigint_signal = False  # as patches.py sets it
    asked: list[bool] = []

    def stop() -> None:
        asked.append(True)
        solver.stop_search()

    timer = signal_once(signal.SIGINT, 0.5)
    with stop_on_signals(), pytest.raises(Interrupted), stoppable(stop):
        solver.solve(hard_model())  # its best solution so far never comes back
    timer.join()
    assert asked == [True]  # the search was stopped when the signal came, not at its limit


def test_an_interrupt_ends_the_worker_processes_too():
    timer = signal_once(signal.SIGTERM, 1.0)
    with stop_on_signals(), pytest.raises(Interrupted) as stopped:
        map_tasks(time.sleep, [60.0, 60.0], workers=2)
    timer.join()
    assert stopped.value.exit_code == 143
    assert multiprocessing.active_children() == []


# --------------------------------------------------------------------------------------------------
# one run per outputs folder


HOLD_LOCK = """
import sys, time
from patchplan.io import folder_lock
with folder_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_run_on_one_outputs_folder_is_refused_with_the_first_runs_pid(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    scenario = sf.write_study(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path / "out")], env=env, stdout=subprocess.PIPE, text=True
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        outcome = CliRunner().invoke(app, ["run", str(scenario)])
    finally:
        holder.terminate()
        holder.wait(timeout=30)
    text = " ".join(outcome.output.split())
    assert outcome.exit_code == 2
    assert f"is in use by another patchplan run (pid {holder.pid})" in text
    assert str(tmp_path / "out") in text or "out is in use" in text


def test_a_stale_lock_from_a_dead_run_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / io.LOCK_NAME).write_text(f"{dead.pid}\n")
    assert io.lock_holder(tmp_path) is None
    with io.folder_lock(tmp_path) as lock:
        assert lock.read_text().strip() == str(os.getpid())
        busy = rf"{tmp_path} is in use by another patchplan run \(pid {os.getpid()}\)"
        with pytest.raises(OutputsError, match=busy), io.folder_lock(tmp_path):
            pass
    assert not lock.exists()


# --------------------------------------------------------------------------------------------------
# names and determinism


@pytest.mark.parametrize(
    ("name", "safe"),
    [("../../x", "x"), ("..", "study"), ("/etc/passwd", "etc-passwd"), ("Sheffield 2025", "Sheffield-2025"),
     ("a\\b:c", "a-b-c"), (".hidden", "hidden"), ("", "study")],
)  # fmt: skip
def test_study_names_become_safe_file_names(name, safe):
    assert StudySettings(name=name).name == safe


def test_a_study_name_cannot_write_outside_the_outputs_folder(tmp_path, monkeypatch):
    work = tmp_path / "a" / "b"
    monkeypatch.chdir(sf.write_study(work, study={"name": "../../escaped"}).parent)
    outcome = CliRunner().invoke(app, ["run", "study.toml"])
    assert outcome.exit_code == 0, outcome.output
    assert "is used in file names as 'escaped'" in outcome.output
    assert (work / "out" / "escaped" / "published" / "report.html").is_file()
    written = {p for p in tmp_path.rglob("*") if p.is_file()}
    assert all(work in p.parents for p in written)


def test_a_search_cut_by_its_safety_cap_says_so_everywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scenario = sf.write_study(tmp_path, rounds={"time_limit_s": 0.001})
    outcome = CliRunner().invoke(app, ["run", str(scenario)])
    assert outcome.exit_code == 0, outcome.output
    assert "safety cap was reached" in " ".join(outcome.output.split())
    summary = pd.read_csv(tmp_path / "out" / "generated" / "published" / "summary.csv", index_col=0)
    assert summary.loc["total", "time_limit_reached"] == 1
    report = (tmp_path / "out" / "generated" / "published" / "report.html").read_text(
        encoding="utf-8"
    )
    assert "safety cap was reached" in report


def test_a_search_within_its_caps_is_not_flagged(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outcome = CliRunner().invoke(app, ["run", str(sf.write_study(tmp_path, rounds={"time_limit_s": 60.0}))])
    assert outcome.exit_code == 0, outcome.output
    summary = pd.read_csv(tmp_path / "out" / "generated" / "published" / "summary.csv", index_col=0)
    assert (summary["time_limit_reached"] == 0).all()
    assert "safety cap" not in outcome.output
