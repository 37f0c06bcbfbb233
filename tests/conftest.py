"""Shared fixtures: user data isolated into a temp folder; ../shared/data found or the test skipped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_user_data(tmp_path_factory, monkeypatch):
    """Never touch a real user's settings, autosaves or runs."""
    home = tmp_path_factory.mktemp("sketchpad-data")
    monkeypatch.setenv("SKETCHPAD_DATA_DIR", str(home))
    yield home


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or skip: a user's clone has no ../shared."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA
