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


@pytest.fixture(scope="session")
def tiny_vos_dataset(tmp_path_factory):
    """6 training and 3 validation videos of 10-12 frames at 24x36, YouTube-VOS layout."""
    from tfrecords_tools.synthetic_vos import generate_synthetic_vos

    out = tmp_path_factory.mktemp("vos") / "data"
    generate_synthetic_vos(out, seed=0, num_train=6, num_valid=3, frame_size=(24, 36),
                           frames=(10, 12), progress=False)
    return out
