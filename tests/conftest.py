"""Fixtures shared by every test folder (keep this small; folder-specific ones live beside their
tests)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_synthetic_dataset(tmp_path_factory) -> Path:
    """A converted synthetic benchmark: 10 training videos (the default scene vocabulary's 6 classes), 3 test videos, 32x32
    frames, with `splits/labeled-0.20-seed0.json` (seed 0). Built once per test session."""
    from tfrecords_tools.synthetic import generate_synthetic

    out = tmp_path_factory.mktemp("synthetic") / "data"
    generate_synthetic(out, seed=0, num_train=10, num_test=3, frame_size=(32, 32), progress=False)
    return out
