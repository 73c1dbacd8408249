"""Clip tiling of `ssvad detect` (SPEC 5.1): every frame in exactly one clip, padding at the end."""

from __future__ import annotations

import numpy as np
import pytest

from ssvad_keras.data.tiling import clip_frame_indices, window_clip_offsets


@pytest.mark.parametrize(
    ("num_frames", "clip_length", "frame_skip"),
    [(50, 8, 2), (16, 8, 2), (1, 8, 2), (17, 8, 2), (49, 8, 3), (10, 4, 1), (7, 2, 5)],
)
def test_every_frame_is_in_exactly_one_clip(num_frames, clip_length, frame_skip):
    clips = clip_frame_indices(num_frames, clip_length, frame_skip)
    assert clips.shape[1] == clip_length
    real = clips[clips >= 0]
    assert np.array_equal(np.sort(real), np.arange(num_frames))
    assert (clips >= 0).any(axis=1).all(), "no clip is padding only"
    # Inside a clip, real frames are s apart and padding only trails.
    for row in clips:
        frames = row[row >= 0]
        assert np.all(np.diff(frames) == frame_skip)
        assert np.all(row[len(frames):] == -1)


def test_tiling_matches_the_evaluation_pipeline_formula():
    # The data pipeline's clip c starts at (c // s) * T * s + c % s and takes T frames s apart,
    # padding past the end; detect drops only the clips that would be padding throughout.
    n, t, s = 37, 4, 3
    windows = -(-n // (t * s))
    c = np.arange(windows * s)
    starts = (c // s) * t * s + c % s
    reference = starts[:, None] + s * np.arange(t)[None, :]
    reference = np.where(reference < n, reference, -1)
    reference = reference[(reference >= 0).any(axis=1)]
    assert np.array_equal(clip_frame_indices(n, t, s), reference)


def test_fifty_frames_at_eight_by_two_by_hand():
    clips = clip_frame_indices(50, 8, 2)
    # Three full windows (0-15, 16-31, 32-47) give two clips each; the last window holds
    # frames 48 and 49, one per phase, the rest padding.
    assert clips.shape == (8, 8)
    assert clips[0].tolist() == [0, 2, 4, 6, 8, 10, 12, 14]
    assert clips[5].tolist() == [33, 35, 37, 39, 41, 43, 45, 47]
    assert clips[6].tolist() == [48, -1, -1, -1, -1, -1, -1, -1]
    assert clips[7].tolist() == [49, -1, -1, -1, -1, -1, -1, -1]


def test_short_window_drops_empty_phases():
    assert window_clip_offsets(1, 8, 2).tolist() == [[0, -1, -1, -1, -1, -1, -1, -1]]
    assert window_clip_offsets(2, 2, 3).tolist() == [[0, -1], [1, -1]]
    with pytest.raises(ValueError):
        window_clip_offsets(17, 8, 2)
    with pytest.raises(ValueError):
        window_clip_offsets(0, 8, 2)


def test_empty_video_has_no_clips():
    assert clip_frame_indices(0, 8, 2).shape == (0, 8)


@pytest.mark.parametrize("padding", ["zeros", "repeat"])
def test_detect_pads_the_last_window_as_the_config_says(monkeypatch, padding):
    """`data.eval_padding`: detect's padded clip frames are black or the video's last frame."""
    from types import SimpleNamespace

    from ssvad_keras.config import DataConfig
    from ssvad_keras.inference import streaming

    seen = []

    def fake_forward(detector, class_mask, flip_average):
        def forward(clips):
            seen.append(clips)
            return {"loc_probs": np.zeros((*clips.shape[:4], 1), np.float32),
                    "class_scores": np.full((len(clips), 2), 0.5, np.float32)}
        return forward

    monkeypatch.setattr(streaming, "compiled_forward", fake_forward)
    detector = SimpleNamespace(clip_shape=(4, 8, 8, 3), num_classes=2)
    source = SimpleNamespace(height=8, width=8)
    cfg = DataConfig(input_size=(8, 8), resize_to="stored", eval_padding=padding)
    stream = streaming.DetectionStream(detector, source, ("a", "b"), 2, 0.5, 8, cfg)
    frames = [np.full((8, 8, 3), 10 * (i + 1), np.uint8) for i in range(5)]  # a last window of 5
    stream._predict([frames], writer=None)
    (clips,) = seen
    offsets = window_clip_offsets(5, 4, 2)
    levels = np.rint(clips.mean(axis=(2, 3, 4)) * 255)
    expected = np.where(offsets >= 0, 10 * (offsets + 1), 0 if padding == "zeros" else 50)
    np.testing.assert_array_equal(levels, expected)
    assert len(stream.boxes) == 5
