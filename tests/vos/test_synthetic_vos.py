"""The built-in VOS benchmark's camouflage option (`tfrecords_tools.synthetic_vos`)."""

import json

import cv2
import numpy as np
import pytest

from ssvad_keras.errors import DataError
from tfrecords_tools.synthetic_vos import generate_synthetic_vos, render_video


def _render(seed: int, camouflage: float | None):
    rng = np.random.default_rng(seed)
    kwargs = {} if camouflage is None else {"camouflage": camouflage}
    return render_video(rng, ("disc", "square", "triangle", "ring"), (48, 64), 12, 3, **kwargs)


def _contrast(frames: np.ndarray, ids: np.ndarray) -> list[float]:
    """Per object and frame: distance between the object's mean colour and the mean colour of
    the background right around it."""
    distances = []
    for t in range(len(frames)):
        for k in np.unique(ids[t])[1:]:
            inside = ids[t] == k
            if inside.sum() < 20:
                continue
            ring = cv2.dilate(inside.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
            ring &= ids[t] == 0
            if ring.sum() < 20:
                continue
            frame = frames[t].astype(np.float64)
            distances.append(float(np.linalg.norm(frame[inside].mean(0) - frame[ring].mean(0))))
    return distances


def test_no_camouflage_renders_the_benchmark_as_before():
    plain_frames, plain_ids, plain_cats = _render(3, None)
    frames, ids, cats = _render(3, 0.0)
    np.testing.assert_array_equal(frames, plain_frames)
    np.testing.assert_array_equal(ids, plain_ids)
    assert cats == plain_cats


def test_camouflaged_objects_wear_the_background_colours():
    plain, camouflaged = [], []
    for seed in range(6):
        plain += _contrast(*_render(seed, 0.0)[:2])
        frames, ids, _ = _render(seed, 1.0)
        camouflaged += _contrast(frames, ids)
    assert len(plain) > 20 and len(camouflaged) > 20
    # Random colours stand out from the background; the background's own colours do not.
    assert np.median(camouflaged) < 0.5 * np.median(plain)


def test_camouflage_keeps_the_geometry():
    _, plain_ids, _ = _render(5, 0.0)
    _, ids, _ = _render(5, 1.0)
    np.testing.assert_array_equal(ids, plain_ids)


def test_camouflage_is_recorded_and_checked(tmp_path):
    out = generate_synthetic_vos(tmp_path / "vos", seed=0, num_train=2, num_valid=1,
                                 frame_size=(24, 36), frames=(10, 10), camouflage=0.5, progress=False)
    assert json.loads((out / ".complete").read_text())["camouflage"] == 0.5
    with pytest.raises(DataError, match="camouflage"):
        generate_synthetic_vos(tmp_path / "bad", num_train=1, num_valid=1, camouflage=1.5, progress=False)
    assert not (tmp_path / "bad").exists()
