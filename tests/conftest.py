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
