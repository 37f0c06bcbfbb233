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


@pytest.fixture
def one_torch_thread():
    """Tiny nets on a shared 2-core machine: with one torch thread, OpenMP workers don't spin against
    other jobs (a tiny training step took 7 s with two threads, 0.05 s with one)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
