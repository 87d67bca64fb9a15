"""What-if studies: variants × seeds as tasks on Dask distributed, cached by fingerprint.

A commissioner's question is never one run: how many lots, what walking share, what if demand
grows 20%. A sweep takes one scenario, a set of settings to vary and a number of synthetic
caseloads (seeds), and runs the whole chain (:func:`patchplan.pipeline.run`) once per variant and
seed, each as one task on a Dask distributed cluster. A task sends back a small
:class:`VariantSummary` (figures per lot and in total, runtime, peak memory), never the whole
study, so a sweep's network traffic and client memory stay small whatever the area.

The ``[sweep]`` table
---------------------
::

    [sweep]
    seeds = 5                                  # caseloads: study.seed, study.seed + 1, … (+4)
    scheduler = ""                             # "" = a LocalCluster on this machine
    [sweep.vary]
    patches.k = "3..8"                         # an inclusive range: 3, 4, 5, 6, 7, 8
    workforce.walking_share = [0.3, 0.5, 0.7]  # a list: exactly these values
    demand.growth = "0..0.2 step 0.1"          # a range with a step: 0, 0.1, 0.2
    patches.pcn_policy = ["align", "free"]

Every key of every scenario table except ``study.seed`` (varied by ``seeds``), ``[outputs]`` and
``[sweep]`` can be varied; values are checked like the scenario's own (a wrong type names the key).
**A list is always the values listed**: ``patches.k = [5, 16]`` is K = 5 and K = 16; write
``"5..16"`` for every K from 5 to 16 (both ends included). A float range needs a step
(``"0.3..0.7 step 0.2"``). A single value (``patches.k = 4``) fixes that key for every variant.
On the command line, ``--vary patches.k=3..8 --vary workforce.walking_share=0.3,0.5,0.7`` (items
separated by commas, or a TOML array such as ``'study.days=[[0],[0,1]]'``) add to or replace the
table's keys. Variants are every combination of the varied values (in the order given) crossed
with the seeds.

Running
-------
By default a ``distributed.LocalCluster`` of worker *processes*, one per core (``workers``), each
with one thread and a memory limit of ``memory_limit_gb`` (default: this machine's memory shared
equally); a worker that goes over it is restarted by its nanny and the task is reported as failed
(Dask's ``KilledWorker``), so one runaway variant cannot take the machine down. ``scheduler =
"tcp://host:8786"`` (or ``--scheduler``) uses an existing cluster of any size instead: its workers
need patchplan installed and the scenario's input files at the same paths. Inside a task the
rounds run in the worker's own process (``[rounds] workers = 1``): no process pools inside Dask.

Results are cached on disk (:class:`patchplan.cache.ResultCache`) by each variant's
:func:`patchplan.cache.scenario_fingerprint` (settings, input files' content, patchplan version),
written by the client as each task finishes; a rerun, or a sweep resumed after an interruption,
submits only the variants not yet finished. A failed task is listed with its error while the others
complete; failures are not cached, so a rerun tries them again.

Figures (:data:`FIGURES`, one row per lot and a ``total`` row, all per week)
---------------------------------------------------------------------------
``hours_week`` (care hours), ``people``, ``balance_dev`` (a lot's hours above or below the mean lot,
fraction; total: the worst absolute), ``pcn_alignment`` (share of care hours in the lot holding
most of their PCN), ``travel_today_h``, ``travel_proposed_h``, ``travel_saved_h`` (carer travel,
hours a week, like for like: ``savings.compare``), ``travel_saved_pct``, ``walk_share`` (share of
visits reached on foot by the proposed mixed workforce), ``walk_visit_share`` (share a walking-only
workforce could reach: ``feasibility``), ``carers_needed`` (most proposed carers working on one
planned day), ``unserved_visits`` (proposed arrangement, planned days; the total also counts homes
outside every block), ``continuity_carers_per_person`` (distinct carers a person sees over the
planned days; NaN when one day is planned, as continuity needs several).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import math
import os
import re
import resource
import socket
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from patchplan.cache import ResultCache, scenario_fingerprint
from patchplan.errors import ScenarioError, SweepError

if TYPE_CHECKING:
    from distributed import Client

    from patchplan.pipeline import StudyResult
    from patchplan.scenario import Scenario

__all__ = [
    "FIGURES",
    "SweepResult",
    "SweepSettings",
    "Variant",
    "VariantSummary",
    "dask_client",
    "parse_values",
    "plan_variants",
    "run_variant",
    "scheduler_processes",
    "seed_ranges",
    "study_figures",
    "sweep",
    "value_from_text",
    "vary_options",
]

FIGURES = (
    "hours_week",
    "people",
    "balance_dev",
    "pcn_alignment",
    "travel_today_h",
    "travel_proposed_h",
    "travel_saved_h",
    "travel_saved_pct",
    "walk_share",
    "walk_visit_share",
    "carers_needed",
    "unserved_visits",
    "continuity_carers_per_person",
)
"""The figures each task sends back, per lot and in total (see the module docstring)."""

TOTAL = "total"
FIXED_KEYS = ("study.seed",)
FIXED_SECTIONS = ("outputs", "sweep")
BAND = (5.0, 95.0)
"""The percentiles of the ranges over seeds."""


@dataclass(frozen=True)
class SweepSettings:
    """A what-if study (the scenario's ``[sweep]`` table; see the module docstring).

    Attributes
    ----------
    vary : ``"section.key"`` (or a ``[sweep.vary.section]`` table) → the values to try: a list, an
        inclusive range ``"a..b"`` / ``"a..b step s"``, or one value.
    seeds : synthetic caseloads per variant: ``study.seed``, ``study.seed + 1``, … (count).
    scheduler : address of an existing Dask scheduler (``tcp://host:8786``); "" starts a
        LocalCluster on this machine.
    workers : LocalCluster worker processes (0 = one per core).
    memory_limit_gb : memory each LocalCluster worker may use, GB (0 = this machine's memory
        shared equally between the workers); a task that needs more is stopped and reported failed.
    cache_dir : folder of finished variants ("" = ``<outputs dir>/<name>/sweep-cache``).
    compare : variants for the side-by-side table, each ``"section.key=value, …"`` matching every
        variant with those values (empty = every variant, up to 12).
    """

    vary: dict[str, Any] = field(default_factory=dict)
    seeds: int = 1
    scheduler: str = ""
    workers: int = 0
    memory_limit_gb: float = 0.0
    cache_dir: str = ""
    compare: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.seeds < 1:
            raise ValueError(f"seeds = {self.seeds}: need at least 1 caseload")
        if self.workers < 0 or self.memory_limit_gb < 0:
            raise ValueError("workers and memory_limit_gb must not be negative")


# --------------------------------------------------------------------------------------------
# values and variants

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"^\s*({_NUMBER})\s*\.\.\s*({_NUMBER})\s*(?:step\s+({_NUMBER}))?\s*$")


def _number(text: str) -> int | float:
    return float(text) if any(c in text for c in ".eE") else int(text)


def _range(match: re.Match[str], where: str) -> list[int | float]:
    start, stop = _number(match[1]), _number(match[2])
    step = _number(match[3]) if match[3] else None
    if stop < start:
        raise ScenarioError(f"{where}: range {match[0].strip()!r} runs backwards (write low..high)")
    whole = all(isinstance(v, int) for v in (start, stop, step) if v is not None)
    if step is None and not whole:
        raise ScenarioError(
            f"{where}: range {match[0].strip()!r} of decimals needs a step, e.g. '0.3..0.7 step 0.2'"
        )
    step = 1 if step is None else step
    if step <= 0:
        raise ScenarioError(f"{where}: range step must be positive, got {step}")
    count = math.floor((stop - start) / step + 1e-9) + 1
    if whole:
        return [int(start + i * step) for i in range(count)]
    return [round(start + i * step, 10) for i in range(count)]


def parse_values(value: Any, where: str = "value") -> list[Any]:
    """The values a ``[sweep.vary]`` entry stands for: a list as listed, a range spelled out.

    ``[3, 5]`` → ``[3, 5]``; ``"3..5"`` → ``[3, 4, 5]``; ``"0..0.2 step 0.1"`` → ``[0.0, 0.1,
    0.2]``; any other single value → ``[value]``. Repeated values are dropped, order is kept.

    Raises
    ------
    ScenarioError
        A range that runs backwards, has a non-positive step, or is of decimals without a step.
    """
    if isinstance(value, list | tuple):
        values = list(value)
    elif isinstance(value, str) and (match := _RANGE.match(value)):
        values = _range(match, where)
    else:
        values = [value]
    if not values:
        raise ScenarioError(f"{where}: no values to try")
    unique: list[Any] = []
    for v in values:
        if not any(type(v) is type(u) and v == u for u in unique):
            unique.append(v)
    return unique


def value_from_text(text: str) -> Any:
    """A value typed on the command line as TOML would read it (``4``, ``0.5``, ``true``, ``[0, 1]``), else text."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text.strip()


def vary_options(options: Sequence[str]) -> dict[str, Any]:
    """``--vary section.key=values`` options as a ``[sweep.vary]`` table.

    ``values`` is a range (``3..8``, ``0..0.2 step 0.1``), a TOML array (``[[0], [0, 1]]``) or items
    separated by commas (``0.3,0.5,0.7``, ``align,free``).

    Raises
    ------
    SweepError
        An option without ``=`` or without a ``section.key`` name.
    """
    table: dict[str, Any] = {}
    for option in options:
        name, sep, text = option.partition("=")
        name, text = name.strip(), text.strip()
        if not sep or "." not in name or not text:
            raise SweepError(
                f"--vary {option!r}: expected section.key=values, e.g. patches.k=3..8 or "
                "workforce.walking_share=0.3,0.5,0.7"
            )
        if _RANGE.match(text):
            table[name] = text
        elif text.startswith("["):
            table[name] = value_from_text(text)
        else:
            table[name] = [value_from_text(item) for item in text.split(",") if item.strip()]
    return table


def _flatten(vary: Mapping[str, Any]) -> dict[str, Any]:
    """``{"patches": {"k": …}}`` (TOML dotted keys) and ``{"patches.k": …}`` alike, as dotted names."""
    flat: dict[str, Any] = {}
    for name, value in vary.items():
        if isinstance(value, Mapping):
            for key, inner in value.items():
                flat[f"{name}.{key}"] = inner
        else:
            flat[name] = value
    return flat


def _checked_values(scenario: Scenario, name: str, raw: Any) -> list[Any]:
    """The values of one varied key, each checked against the key's type as the scenario would."""
    from patchplan.scenario import SECTIONS, build_settings

    where = f"[sweep.vary] {name}"
    section, _, key = name.partition(".")
    if section not in SECTIONS or not key:
        raise SweepError(f"{where}: unknown table {section!r} (tables: {', '.join(SECTIONS)})")
    if section in FIXED_SECTIONS or name in FIXED_KEYS:
        hint = " (use [sweep] seeds for caseloads)" if name == "study.seed" else ""
        raise SweepError(f"{where}: cannot be varied{hint}")
    current = getattr(scenario, section)
    checked = []
    for value in parse_values(raw, where):
        built = build_settings(type(current), {key: value}, f"{where} = {value!r}:")
        checked.append(getattr(built, key))
    return checked


def _short_names(names: Sequence[str]) -> dict[str, str]:
    """``patches.k`` → ``k`` where the key alone is unambiguous among ``names``."""
    keys = [n.partition(".")[2] for n in names]
    return {n: k if keys.count(k) == 1 else n for n, k in zip(names, keys, strict=True)}


def _label(values: Mapping[str, Any], short: Mapping[str, str]) -> str:
    if not values:
        return "scenario as given"
    return ", ".join(f"{short[name]}={_text(v)}" for name, v in values.items())


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "[" + ",".join(_text(v) for v in value) + "]"
    return str(value)


def variant_scenario(scenario: Scenario, values: Mapping[str, Any], seed: int) -> Scenario:
    """The scenario of one variant and seed, as one task runs it.

    The varied values are set, ``study.seed`` is ``seed``, rounds run in the task's own process
    (``[rounds] workers = 1``; results do not depend on it) and the ``[sweep]`` table is dropped.
    """
    sections: dict[str, dict[str, Any]] = {"study": {"seed": seed}, "rounds": {"workers": 1}}
    for name, value in values.items():
        section, _, key = name.partition(".")
        sections.setdefault(section, {})[key] = value
    return scenario.replace(**sections, sweep=SweepSettings())


@dataclass(frozen=True)
class Variant:
    """One task of a sweep: a combination of varied values and one seed.

    Attributes
    ----------
    index : position of the combination of values (0-based; the seeds of one combination share it).
    label : the combination as text, e.g. ``"k=4, walking_share=0.5"``.
    values : varied ``"section.key"`` → value.
    seed : ``study.seed`` of this task.
    scenario : the scenario the task runs (:func:`variant_scenario`).
    fingerprint : :func:`patchplan.cache.scenario_fingerprint` of ``scenario``: the cache key.
    """

    index: int
    label: str
    values: dict[str, Any]
    seed: int
    scenario: Scenario
    fingerprint: str


def plan_variants(scenario: Scenario, settings: SweepSettings | None = None) -> list[Variant]:
    """Every combination of the varied values crossed with the seeds, in a stable order.

    Raises
    ------
    SweepError, ScenarioError
        A varied key that does not exist or cannot be varied, or a value of the wrong type.
    """
    settings = settings or scenario.sweep or SweepSettings()
    vary = _flatten(settings.vary)
    choices = {name: _checked_values(scenario, name, raw) for name, raw in vary.items()}
    short = _short_names(list(choices))
    seeds = [scenario.study.seed + i for i in range(settings.seeds)]
    variants = []
    for index, combo in enumerate(itertools.product(*choices.values())):
        values = dict(zip(choices, combo, strict=True))
        for seed in seeds:
            task_scenario = variant_scenario(scenario, values, seed)
            variants.append(
                Variant(
                    index,
                    _label(values, short),
                    values,
                    seed,
                    task_scenario,
                    scenario_fingerprint(task_scenario),
                )
            )
    return variants


# --------------------------------------------------------------------------------------------
# one task


@dataclass
class VariantSummary:
    """What one task sends back: a variant's figures, or its error.

    Attributes
    ----------
    index, label, values, seed, fingerprint : as in :class:`Variant`.
    status : "ok" or "failed".
    error : the exception, as ``"Type: message"``, when failed.
    figures : DataFrame indexed by lot id plus ``"total"``, columns :data:`FIGURES` (per week).
    runtime_s : wall time of the task, seconds.
    peak_memory_mb : the worker process's peak resident memory during the task, MB.
    method : how the lots were found (``patches.PatchDesign.method``).
    estimate : True when travel is the straight-line estimate.
    worker : ``host:pid`` of the process that ran the task.
    time_limit_reached : True when a rounds or walking plan was cut by its wall-clock safety cap
        (``time_limit_s``) rather than stopped by its work counts: its figures may not repeat.
    from_cache : True when read from the cache rather than computed in this sweep.
    """

    index: int
    label: str
    values: dict[str, Any]
    seed: int
    fingerprint: str
    status: str = "ok"
    error: str = ""
    figures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(FIGURES)))
    runtime_s: float = 0.0
    peak_memory_mb: float = float("nan")
    method: str = ""
    estimate: bool = False
    worker: str = ""
    time_limit_reached: bool = False
    from_cache: bool = False

    @classmethod
    def failed(
        cls, variant: Variant, error: BaseException, runtime_s: float = 0.0
    ) -> VariantSummary:
        """The record of a task that raised ``error``."""
        return cls(
            variant.index,
            variant.label,
            variant.values,
            variant.seed,
            variant.fingerprint,
            status="failed",
            error=f"{type(error).__name__}: {error}",
            runtime_s=runtime_s,
        )


def _reset_peak_memory() -> None:
    """Start a new peak-memory count for this process (Linux; elsewhere the lifetime peak is read)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_memory_mb() -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def study_figures(result: StudyResult) -> pd.DataFrame:
    """The sweep's figures (:data:`FIGURES`) of one study, per lot and ``"total"``."""
    from patchplan.rounds import RETURN

    lots = result.design.patches["patch_id"].astype(str).tolist()
    index = pd.Index([*lots, TOTAL], name="patch_id")
    frame = pd.DataFrame(index=index, columns=list(FIGURES), dtype=float)
    score = result.design.score.set_index("patch_id").rename(index={"all": TOTAL})
    for col in ("hours_week", "people", "pcn_alignment"):
        frame[col] = score[col].reindex(index)
    frame["balance_dev"] = score["balance_dev"].reindex(index)
    saved = result.savings.rename(index={"total": TOTAL}).reindex(index)
    frame["travel_today_h"] = saved["today_travel_min_lfl"] / 60.0
    frame["travel_proposed_h"] = saved["proposed_travel_min_lfl"] / 60.0
    frame["travel_saved_h"] = saved["saved_travel_min"] / 60.0
    frame["travel_saved_pct"] = saved["saved_travel_pct"]
    frame["walk_share"] = saved["proposed_walk_share"]
    if "walk_visit_share" in result.summary:
        frame["walk_visit_share"] = (
            result.summary["walk_visit_share"].rename(index={"total": TOTAL}).reindex(index)
        )

    stops = result.proposed.rounds[result.proposed.rounds["visit_id"] != RETURN]
    stops = stops.assign(patch_id=stops["visit_id"].map(result.visit_patch).astype(str))
    per_day = stops.groupby(["patch_id", "day"])["carer_id"].nunique()
    frame["carers_needed"] = per_day.groupby(level="patch_id").max().reindex(index).fillna(0.0)
    frame.loc[TOTAL, "carers_needed"] = float(
        stops.groupby("day")["carer_id"].nunique().max() if len(stops) else 0.0
    )

    unserved = result.unserved[result.unserved["arrangement"].isin(["proposed", "both"])]
    by_lot = unserved["visit_id"].map(result.visit_patch).dropna().astype(str).value_counts()
    frame["unserved_visits"] = by_lot.reindex(index).fillna(0.0)
    frame.loc[TOTAL, "unserved_visits"] = float(len(unserved))

    if len(result.scenario.study.days) > 1 and len(stops):
        carers = stops.groupby(["patch_id", "person_id"])["carer_id"].nunique()
        frame["continuity_carers_per_person"] = (
            carers.groupby(level="patch_id").mean().reindex(index)
        )
        frame.loc[TOTAL, "continuity_carers_per_person"] = float(
            stops.groupby("person_id")["carer_id"].nunique().mean()
        )
    return frame.astype(float)


def run_variant(variant: Variant) -> VariantSummary:
    """Run one variant's whole chain and return its figures: the task every sweep submits.

    Exceptions propagate (Dask reports them against the task; :func:`sweep` lists them).
    """
    from patchplan.pipeline import run

    _reset_peak_memory()
    start = time.perf_counter()
    result = run(variant.scenario)
    figures = study_figures(result)
    return VariantSummary(
        variant.index,
        variant.label,
        variant.values,
        variant.seed,
        variant.fingerprint,
        figures=figures,
        runtime_s=round(time.perf_counter() - start, 3),
        peak_memory_mb=round(_peak_memory_mb(), 1),
        method=result.design.method,
        estimate=result.estimate,
        worker=f"{socket.gethostname()}:{os.getpid()}",
        time_limit_reached=_time_limit_reached(result),
    )


def _time_limit_reached(result: StudyResult) -> bool:
    """True when any plan of a study stopped on its wall-clock cap rather than its work counts."""
    walking = result.walking.get("walk_time_limit_reached", pd.Series(dtype=float))
    return bool(
        result.proposed.kpis.get("time_limit_reached", 0)
        or result.today.kpis.get("time_limit_reached", 0)
        or walking.fillna(0).astype(float).any()
    )


# --------------------------------------------------------------------------------------------
# the cluster


def _memory_limit(settings: SweepSettings, workers: int) -> int:
    """Bytes each LocalCluster worker may use."""
    if settings.memory_limit_gb > 0:
        return int(settings.memory_limit_gb * 1e9)
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return int(total // max(workers, 1))


def _describe_cluster(client: Client, kind: str) -> str:
    """Where the tasks run: worker processes, threads and the memory limit per worker."""
    workers = list(client.scheduler_info(n_workers=-1)["workers"].values())
    limits = sorted({int(w.get("memory_limit") or 0) for w in workers})
    if not limits or limits == [0]:
        memory = "no memory limit per worker"
    elif len(limits) == 1:
        memory = f"memory limit {limits[0] / 1e9:.1f} GB per worker"
    else:
        memory = f"memory limit {limits[0] / 1e9:.1f}–{limits[-1] / 1e9:.1f} GB per worker"
    threads = sum(int(w.get("nthreads", 1)) for w in workers)
    return f"{kind}: {len(workers)} worker processes, {threads} threads, {memory}"


@contextlib.contextmanager
def dask_client(settings: SweepSettings) -> Iterator[tuple[Client, str]]:
    """A Dask client for a sweep, with a sentence saying where tasks run and their memory limit.

    ``settings.scheduler`` connects to that cluster; otherwise a LocalCluster of ``workers``
    processes (one per core by default), one thread each, ``memory_limit_gb`` each, is started and
    closed afterwards.

    Raises
    ------
    SweepError
        The scheduler cannot be reached.
    """
    import dask
    from distributed import Client, LocalCluster

    if settings.scheduler:
        try:
            client = Client(settings.scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise SweepError(
                f"[sweep] scheduler {settings.scheduler}: cannot connect ({exc})"
            ) from exc
        with client:
            yield client, _describe_cluster(client, f"cluster at {settings.scheduler}")
        return
    workers = settings.workers or os.cpu_count() or 1
    # A worker killed for memory fails its task at once rather than taking down three more workers.
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=_memory_limit(settings, workers),
            dashboard_address=None,
            silence_logs=logging.CRITICAL,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client, _describe_cluster(client, "LocalCluster on this machine")


@contextlib.contextmanager
def scheduler_processes(
    workers: int = 2,
    memory_limit_gb: float = 2.0,
    *,
    folder: str | os.PathLike[str] | None = None,
    timeout_s: float = 60.0,
) -> Iterator[str]:
    """A ``dask scheduler`` and ``workers`` separate ``dask worker`` processes on this machine.

    The same commands as on a real cluster, connected by address (``tcp://127.0.0.1:PORT``), so a
    sweep through them takes the multi-machine path; used by the benchmark and the tests. Yields
    the scheduler's address once every worker has joined; the processes are stopped afterwards.

    Parameters
    ----------
    workers : worker processes, one thread each.
    memory_limit_gb : memory limit of each worker, GB.
    folder : where the scheduler file and the processes' logs go (default: a temporary folder).
    timeout_s : how long to wait for the scheduler and the workers, seconds.

    Raises
    ------
    SweepError
        The scheduler or a worker did not start in time (its log is quoted).
    """
    import json
    import subprocess
    import sys
    import tempfile

    from distributed import Client

    with contextlib.ExitStack() as stack:
        where = Path(folder) if folder else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        where.mkdir(parents=True, exist_ok=True)
        info = where / "scheduler.json"
        info.unlink(missing_ok=True)
        dask_cli = [sys.executable, "-m", "dask"]
        started: list[subprocess.Popen] = []

        def start(args: list[str], log_name: str) -> None:
            log = stack.enter_context(open(where / log_name, "wb"))
            started.append(
                subprocess.Popen([*dask_cli, *args], stdout=log, stderr=subprocess.STDOUT)
            )

        def stop() -> None:
            # Workers first, while the scheduler is still there to hear them leave; then it.
            for group in (started[1:], started[:1]):
                for process in group:
                    process.terminate()
                for process in group:
                    try:
                        process.wait(timeout=15)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()

        stack.callback(stop)
        start(
            [
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(info),
            ],
            "scheduler.log",
        )
        deadline = time.monotonic() + timeout_s
        while not info.is_file() or not info.read_text().strip():
            if time.monotonic() > deadline or started[0].poll() is not None:
                log = (where / "scheduler.log").read_text(errors="replace")[-2000:]
                raise SweepError(f"dask scheduler did not start:\n{log}")
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        for i in range(workers):
            start(
                [
                    "worker",
                    address,
                    "--nthreads",
                    "1",
                    "--nworkers",
                    "1",
                    "--name",
                    f"w{i}",
                    "--memory-limit",
                    f"{memory_limit_gb}GB",
                    "--no-dashboard",
                ],
                f"worker-{i}.log",
            )
        with Client(address, timeout="30s") as client:
            try:
                client.wait_for_workers(workers, timeout=max(deadline - time.monotonic(), 1.0))
            except TimeoutError as exc:
                logs = [
                    (where / f"worker-{i}.log").read_text(errors="replace")[-800:]
                    for i in range(workers)
                ]
                raise SweepError(
                    f"dask workers did not join {address}:\n" + "\n".join(logs)
                ) from exc
        yield address


# --------------------------------------------------------------------------------------------
# the sweep

Progress = Callable[[VariantSummary, int, int], None]


@dataclass
class SweepResult:
    """Every task of a sweep, finished or failed, with where and how fast it ran.

    Attributes
    ----------
    scenario : the base scenario.
    settings : the sweep's settings (with any command-line changes).
    varied : the varied ``"section.key"`` names, in order.
    summaries : one :class:`VariantSummary` per variant and seed, in :func:`plan_variants` order.
    computed, cached, failed : task counts.
    wall_s : wall time of the sweep, seconds.
    where : where the tasks ran (cluster, workers, memory limit per worker).
    cache_dir : the cache folder.
    """

    scenario: Scenario
    settings: SweepSettings
    varied: list[str]
    summaries: list[VariantSummary]
    computed: int
    cached: int
    failed: int
    wall_s: float
    where: str
    cache_dir: Path

    def figures(self) -> pd.DataFrame:
        """One row per finished task and lot: ``variant``, ``label``, the varied keys, ``seed``,
        ``patch_id`` and :data:`FIGURES`."""
        frames = []
        for s in self.summaries:
            if s.status != "ok":
                continue
            frame = s.figures.reset_index()
            for name in reversed(self.varied):
                frame.insert(0, name, [s.values[name]] * len(frame))
            frame.insert(0, "seed", s.seed)
            frame.insert(0, "label", s.label)
            frame.insert(0, "variant", s.index)
            frames.append(frame)
        columns = ["variant", "label", "seed", *self.varied, "patch_id", *FIGURES]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)

    def tasks(self) -> pd.DataFrame:
        """One row per task: variant, label, varied keys, seed, status, error, runtime_s,
        peak_memory_mb, from_cache, worker, time_limit_reached, method, fingerprint and the total
        figures."""
        rows = []
        for s in self.summaries:
            row: dict[str, Any] = {"variant": s.index, "label": s.label, **s.values, "seed": s.seed}
            row.update(
                status=s.status,
                error=s.error,
                runtime_s=s.runtime_s,
                peak_memory_mb=s.peak_memory_mb,
                from_cache=s.from_cache,
                worker=s.worker,
                time_limit_reached=s.time_limit_reached,
                method=s.method,
                fingerprint=s.fingerprint,
            )
            if s.status == "ok":
                row.update(s.figures.loc[TOTAL].to_dict())
            rows.append(row)
        return pd.DataFrame(rows)

    def failures(self) -> pd.DataFrame:
        """The failed tasks: ``variant``, ``label``, ``seed``, ``error``."""
        tasks = self.tasks()
        if tasks.empty:
            return pd.DataFrame(columns=["variant", "label", "seed", "error"])
        return tasks.loc[tasks["status"] != "ok", ["variant", "label", "seed", "error"]]

    def ranges(self, lots: bool = False) -> pd.DataFrame:
        """Each figure over the seeds of each variant: median and the 5–95% band.

        Returns
        -------
        DataFrame with ``variant``, ``label``, the varied keys, ``patch_id`` (``"total"`` only
        unless ``lots``), ``figure``, ``median``, ``p05``, ``p95`` and ``seeds`` (finished
        caseloads behind the figures). Figures that are NaN in every seed (continuity with one
        planned day) are left out. With few seeds the band is close to the lowest and highest.
        """
        figures = self.figures()
        if not lots:
            figures = figures[figures["patch_id"] == TOTAL]
        keys = ["variant", "label", *self.varied, "patch_id"]
        long = figures.melt(id_vars=[*keys, "seed"], value_vars=list(FIGURES), var_name="figure")
        long = long.dropna(subset=["value"])
        if long.empty:
            return pd.DataFrame(columns=[*keys, "figure", "median", "p05", "p95", "seeds"])
        grouped = long.groupby([*keys, "figure"], sort=False, dropna=False)["value"]
        table = grouped.agg(
            median="median",
            p05=lambda v: float(np.percentile(v, BAND[0])),
            p95=lambda v: float(np.percentile(v, BAND[1])),
            seeds="count",
        )
        return table.reset_index()


def _cache_for(scenario: Scenario, settings: SweepSettings) -> ResultCache:
    folder = settings.cache_dir or Path(scenario.outputs.dir) / scenario.study.name / "sweep-cache"
    return ResultCache(folder)


def _ordered(variants: list[Variant], done: dict[str, VariantSummary]) -> list[VariantSummary]:
    return [done[v.fingerprint] for v in variants]


def sweep(
    scenario: Scenario,
    settings: SweepSettings | None = None,
    *,
    client: Client | None = None,
    sequential: bool = False,
    cache: ResultCache | None = None,
    progress: Progress | None = None,
) -> SweepResult:
    """Run every variant × seed of a what-if study as Dask tasks, reusing finished ones.

    Parameters
    ----------
    scenario : the base scenario.
    settings : the sweep (default: the scenario's ``[sweep]`` table).
    client : an open Dask client to submit to; default: :func:`dask_client` from ``settings``.
    sequential : run the tasks one after another in this process instead (a baseline for the
        benchmark, and the simplest way to debug a variant).
    cache : where finished variants are kept (default: ``settings.cache_dir``).
    progress : called as ``progress(summary, done, total)`` after each task, cached ones first.

    Returns
    -------
    SweepResult
        Every task in :func:`plan_variants` order; failed ones carry their error.
    """
    settings = settings or scenario.sweep or SweepSettings()
    start = time.perf_counter()
    variants = plan_variants(scenario, settings)
    cache = cache or _cache_for(scenario, settings)
    done: dict[str, VariantSummary] = {}
    total = len(variants)
    for variant in variants:
        stored = cache.get(variant.fingerprint)
        if isinstance(stored, VariantSummary) and stored.status == "ok":
            done[variant.fingerprint] = dataclasses.replace(
                stored,
                index=variant.index,
                label=variant.label,
                values=variant.values,
                from_cache=True,
            )
            if progress:
                progress(done[variant.fingerprint], len(done), total)
    cached = len(done)
    todo = [v for v in variants if v.fingerprint not in done]

    def finish(variant: Variant, summary: VariantSummary) -> None:
        if summary.status == "ok":
            cache.put(variant.fingerprint, summary)
        done[variant.fingerprint] = summary
        if progress:
            progress(summary, len(done), total)

    if not todo:
        where = "no workers: every task was in the cache"
    elif sequential:
        where = "this process, one task after another"
        for variant in todo:
            began = time.perf_counter()
            try:
                summary = run_variant(variant)
            except Exception as exc:  # noqa: BLE001 - any error fails this variant, not the sweep
                summary = VariantSummary.failed(variant, exc, time.perf_counter() - began)
            finish(variant, summary)
    elif client is not None:
        where = _describe_cluster(client, f"cluster at {client.scheduler.address}")
        _submit(client, todo, finish)
    else:
        with dask_client(settings) as (own_client, where):
            _submit(own_client, todo, finish)
    summaries = _ordered(variants, done)
    return SweepResult(
        scenario=scenario,
        settings=settings,
        varied=list(_flatten(settings.vary)),
        summaries=summaries,
        computed=len(todo),
        cached=cached,
        failed=sum(s.status != "ok" for s in summaries),
        wall_s=round(time.perf_counter() - start, 2),
        where=where,
        cache_dir=cache.folder,
    )


def _submit(
    client: Client, todo: list[Variant], finish: Callable[[Variant, VariantSummary], None]
) -> None:
    """Submit one task per variant and collect them as they finish (Dask's as_completed loop)."""
    from distributed import as_completed

    if not todo:
        return
    futures = {
        client.submit(run_variant, v, key=f"patchplan-variant-{v.fingerprint[:20]}", pure=False): v
        for v in todo
    }
    for future in as_completed(futures):
        variant = futures[future]
        if future.status == "finished":
            summary = future.result()
        else:
            summary = VariantSummary.failed(variant, future.exception())
        future.release()
        finish(variant, summary)


def seed_ranges(
    scenario: Scenario,
    seeds: int,
    *,
    base: StudyResult | None = None,
    sequential: bool = False,
    client: Client | None = None,
    progress: Progress | None = None,
    cache: ResultCache | None = None,
) -> pd.DataFrame:
    """Ranges of one scenario's figures over ``seeds`` synthetic caseloads: a sweep over seeds.

    ``base``, a finished run of ``scenario`` itself, is stored as its seed's task so it is not
    run again. Returns :meth:`SweepResult.ranges` per lot and in total, plus a ``this_run`` column
    (the base run's figure, when given). A caseload that fails is left out of the ranges and
    listed in ``.attrs["failures"]`` (``"seed N: error"``); ``.attrs["seeds"]`` is the number asked.
    """
    settings = dataclasses.replace(scenario.sweep or SweepSettings(), vary={}, seeds=seeds)
    cache = cache or _cache_for(scenario, settings)
    if base is not None:
        own = variant_scenario(scenario, {}, scenario.study.seed)
        key = scenario_fingerprint(own)
        if key not in cache:
            cache.put(
                key,
                VariantSummary(
                    0,
                    _label({}, {}),
                    {},
                    scenario.study.seed,
                    key,
                    figures=study_figures(base),
                    method=base.design.method,
                    estimate=base.estimate,
                ),
            )
    result = sweep(
        scenario, settings, client=client, sequential=sequential, cache=cache, progress=progress
    )
    table = result.ranges(lots=True).drop(columns=["variant", "label"])
    if base is not None:
        this = study_figures(base).stack().rename("this_run")
        table = table.join(this, on=["patch_id", "figure"])
    failed = result.failures()
    table.attrs["seeds"] = seeds
    table.attrs["failures"] = [
        f"seed {s}: {e}" for s, e in zip(failed["seed"], failed["error"], strict=True)
    ]
    return table
