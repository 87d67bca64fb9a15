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
        pytest.skip(f"real reference data not found at {SHARED_DATA} (clone ../shared beside the repo)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_benchmarks() -> Path:
    """Standard routing instances in ``../shared/benchmarks``."""
    path = SHARED / "benchmarks"
    if not path.is_dir():
        pytest.skip(f"benchmark instances not found at {path} (clone ../shared beside the repo)")
    return path
