"""Shared fixtures: where the real reference data lives, and skipping cleanly when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PATCHPLAN_SHARED", REPO.parent / "shared")).resolve()
SHARED_DATA = SHARED / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real open data in ``../shared/data``; tests that need it skip when it is not beside the repo."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"real reference data not found at {SHARED_DATA} (clone ../shared beside the repo)"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_benchmarks() -> Path:
    """Standard routing instances in ``../shared/benchmarks``."""
    path = SHARED / "benchmarks"
    if not path.is_dir():
        pytest.skip(f"benchmark instances not found at {path} (clone ../shared beside the repo)")
    return path


@pytest.fixture(scope="session")
def demo_scenario():
    """A lighter copy of the demo scenario (fewer people, smaller solver work counts) for the week.

    The wall-clock caps are generous so the searches always stop on their work counts: the same
    seed then gives the same week whatever the machine's load.
    """
    from patchplan.scenario import Scenario

    return Scenario.example("demo").replace(
        demand={"people": 120, "hours_week": 1872.0},
        rounds={"time_limit_s": 120.0, "solution_limit": 400, "seed_iterations": 500},
        outputs={"maps_dir": ""},  # the default layout: published maps beside the report
    )


@pytest.fixture(scope="session")
def demo_result(demo_scenario):
    """The whole chain on the demo town, run once per test process and shared."""
    from patchplan import pipeline

    return pipeline.run(demo_scenario)


CHROMIUM = os.environ.get("PATCHPLAN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# A 1×1 transparent PNG: basemap tiles are answered locally so tests see only the page's own errors.
BLANK_TILE = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium driven by Playwright (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser):
    """Open a local HTML file; returns (page, console errors, page errors, off-machine requests)."""
    contexts = []

    def _open(path: Path):
        context = browser.new_context(viewport={"width": 1200, "height": 800})
        contexts.append(context)
        page = context.new_page()
        console_errors: list[str] = []
        page_errors: list[str] = []
        remote: list[str] = []
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: page_errors.append(str(e)))

        def answer_locally(route):
            remote.append(route.request.url)
            route.fulfill(status=200, content_type="image/png", body=BLANK_TILE)

        page.route("http*://**/*", answer_locally)
        page.goto(Path(path).resolve().as_uri(), wait_until="load")
        page.wait_for_timeout(300)
        return page, console_errors, page_errors, remote

    yield _open
    for context in contexts:
        context.close()


TINY_TOWN_TOML = """
# The demo town with small settings, for tests that run the whole chain many times.
[study]
name = "tiny"
title = "Tiny town"
seed = 7
days = [0]

[inputs]
source = "town"

[demand]
people = 40
hours_week = 624.0

[patches]
k = 3
exact_max_blocks = 0   # local search only: a tenth of a second
starts = 2

[rounds]
time_limit_s = 120.0   # a safety cap only: the work counts below stop the search, so results
solution_limit = 20    # repeat however loaded the machine is (tests compare runs exactly)
seed_iterations = 20

[workforce]
providers_today = 4
"""


def _tiny_town_toml(folder: Path) -> str:
    outputs = f'\n[outputs]\ndir = "{folder / "out"}"\nmaps_dir = "{folder / "maps"}"\n'
    return TINY_TOWN_TOML + outputs


@pytest.fixture(scope="session")
def tiny_town(tmp_path_factory):
    """The demo town with small settings as a Scenario (whole chain in a few seconds); outputs go
    to a temporary folder."""
    import tomllib

    from patchplan.scenario import Scenario

    return Scenario.from_dict(tomllib.loads(_tiny_town_toml(tmp_path_factory.mktemp("tiny"))))


@pytest.fixture
def tiny_town_file(tmp_path) -> Path:
    """The same scenario as a file, outputs under ``tmp_path``; append tables for a test's own
    settings (e.g. ``[sweep]``)."""
    path = tmp_path / "tiny.toml"
    path.write_text(_tiny_town_toml(tmp_path))
    return path
@pytest.fixture(scope="session")
def small_lot_scenario():
    """The synthetic town with 60 people and its lots fixed: lot P01 is one neighbourhood of 4
    people, P02 the western PCN, P03 the rest (a generated case for the privacy and report tests).
    """
    import networkx as nx

    from patchplan import boundaries, demand, pipeline
    from patchplan.scenario import Scenario

    scenario = Scenario.example("demo").replace(
        study={"name": "small-lot"},
        demand={"people": 60, "hours_week": 936.0},
        rounds={"time_limit_s": 8.0, "solution_limit": 200, "seed_iterations": 200},
    )
    inputs = pipeline.load_inputs(scenario)
    blocks = pipeline.make_blocks(inputs, scenario)
    adjacency = boundaries.block_adjacency(blocks)
    people = demand.demand_by_area(inputs.demand, blocks, id_column="block_id")["people"]
    west = [b for b in blocks["block_id"] if b.startswith("PCN-W")]
    east = [b for b in blocks["block_id"] if b not in west]
    small = next(
        b for b in east
        if people.get(b, 0) == 4 and nx.is_connected(adjacency.subgraph(set(east) - {b}))
    )  # fmt: skip
    locked = {b: "P01" if b == small else "P02" if b in west else "P03" for b in blocks["block_id"]}
    return scenario.replace(
        patches={
            "k": 3,
            "locked": locked,
            "balance_tolerance": 0.99,
            "pcn_policy": "free",
            "time_limit_s": 2.0,
            # local search only: with every block locked, the CP-SAT path returned a layout that
            # broke the locks (PatchDesignError "locks: a locked block is not in P03")
            "exact_max_blocks": 0,
        },
    )
