"""Propagation clip by clip (each clip's reference = the previous clip's last mask) and merging."""

from __future__ import annotations

import json

import cv2
import numpy as np

from ssvad_keras.evaluation.vos import write_palette_png
from ssvad_keras.vos.data import read_vos_split
from ssvad_keras.vos.predict import merge_objects, propagate_video


def test_merge_objects_argmax_and_background_below_threshold():
    probs = {1: np.array([[0.9, 0.6, 0.2, 0.4]]), 3: np.array([[0.1, 0.7, 0.3, 0.45]])}
    assert merge_objects(probs).tolist() == [[1, 3, 0, 0]]
    assert merge_objects(probs, threshold=0.4).tolist() == [[1, 3, 0, 3]]


class _ShiftModel:
    """Moves the reference one pixel to the right per frame: the exact answer of a video whose
    objects move one pixel per frame, whatever the clip boundaries."""

    clip_shape = (4, 16, 16, 3)

    def forward(self, inputs):
        reference = np.asarray(inputs["reference"])[..., 0]
        frames = [np.roll(reference, t, axis=2) for t in range(self.clip_shape[0])]
        return 20.0 * (np.stack(frames, axis=1)[..., None] - 0.5)


def _video(tmp_path, frames=10):
    """A 16x16 video: object 1 from frame 0, object 2 first given on frame 5."""
    split = tmp_path / "valid"
    (split / "JPEGImages" / "v").mkdir(parents=True)
    (split / "Annotations" / "v").mkdir(parents=True)
    for t in range(frames):
        cv2.imwrite(str(split / "JPEGImages" / "v" / f"{t:05d}.jpg"), np.zeros((16, 16, 3), np.uint8))
    first = np.zeros((16, 16), np.uint8)
    first[2:5, 0:3] = 1
    write_palette_png(split / "Annotations" / "v" / "00000.png", first)
    late = np.zeros((16, 16), np.uint8)
    late[10:13, 1:4] = 2
    write_palette_png(split / "Annotations" / "v" / "00005.png", late)
    meta = {"videos": {"v": {"objects": {"1": {"category": "a"}, "2": {"category": "b"}}}}}
    (split / "meta.json").write_text(json.dumps(meta))
    return read_vos_split(split)[0]


def test_propagation_chains_clips_from_each_first_appearance(tmp_path):
    video = _video(tmp_path)
    stub = _ShiftModel()
    out = propagate_video(stub, video, forward=stub.forward)
    assert sorted(out) == [f"{t:05d}" for t in range(10)]
    for t in range(10):
        ids = out[f"{t:05d}"]
        expected = np.zeros((16, 16), np.uint8)
        expected[2:5, t : t + 3] = 1  # 3 clips of 4 frames (0-3, 3-6, 6-9): shifts add up
        if t >= 5:
            expected[10:13, 1 + t - 5 : 4 + t - 5] = 2  # object 2 only from its given frame
        np.testing.assert_array_equal(ids, expected, err_msg=f"frame {t}")


def test_given_mask_is_resized_soft_or_binary_as_asked(tmp_path):
    # vos.given_mask_resize: the first clip's reference is the given mask area-resized (soft
    # boundary values) or nearest-resized (0/1, as training's reference masks).
    split = tmp_path / "valid"
    (split / "JPEGImages" / "v").mkdir(parents=True)
    (split / "Annotations" / "v").mkdir(parents=True)
    for t in range(4):
        cv2.imwrite(str(split / "JPEGImages" / "v" / f"{t:05d}.jpg"), np.zeros((24, 24, 3), np.uint8))
    given = np.zeros((24, 24), np.uint8)
    given[3:10, 5:12] = 1
    write_palette_png(split / "Annotations" / "v" / "00000.png", given)
    (split / "meta.json").write_text(json.dumps({"videos": {"v": {"objects": {"1": {"category": "a"}}}}}))
    video = read_vos_split(split)[0]
    stub = _ShiftModel()
    for mode, soft in (("area", True), ("nearest", False)):
        seen = []

        def forward(inputs, seen=seen):
            seen.append(np.asarray(inputs["reference"]).copy())
            return stub.forward(inputs)

        propagate_video(stub, video, forward=forward, given_resize=mode)
        first = seen[0]
        assert (((first > 0) & (first < 1)).any()) == soft
        assert first.sum() > 0
