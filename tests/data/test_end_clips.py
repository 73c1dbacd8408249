"""End-of-video training clips (`data.end_clip_probability`): zero-padded as evaluation cuts them."""

import numpy as np
import pytest
import tensorflow as tf

from ssvad_keras.config import DataConfig
from ssvad_keras.data import sample_clip_indices, train_dataset

from .conftest import frame_ids, make_video, write_dataset

T, S = 4, 2
SPAN = (T - 1) * S


def _indices(num_frames, annotated, end_probability, seed):
    ann = None if annotated is None else tf.constant(annotated)
    seed = tf.constant([seed, 3], tf.int64)
    return sample_clip_indices(tf.constant(num_frames), ann, T, S, seed, end_probability).numpy()


def test_end_clips_start_in_the_last_span_and_pad_past_the_end():
    starts = set()
    for seed in range(200):
        idx = _indices(20, None, 1.0, seed)
        real = idx[idx >= 0]
        assert 20 - SPAN <= real[0] <= 19
        np.testing.assert_array_equal(real, real[0] + S * np.arange(len(real)))  # stride kept
        assert 1 <= len(real) <= T - 1 and (idx[len(real):] == -1).all()  # padding at the end only
        starts.add(int(real[0]))
    assert starts == set(range(20 - SPAN, 20))  # every start of the stretch is drawn


def test_without_end_clips_indices_repeat_the_last_frame_and_never_pad():
    for seed in range(50):
        idx = _indices(9, None, 0.0, seed)
        assert (idx >= 0).all() and idx.max() <= 8


def test_labeled_end_clips_only_when_the_annotation_reaches_the_end():
    early = [t < 10 for t in range(20)]  # annotated 0..9: the last span (14..19) has none
    late = [t >= 8 for t in range(20)]
    for seed in range(50):
        assert (_indices(20, early, 1.0, seed) >= 0).all()
        assert (_indices(20, late, 1.0, seed) == -1).any()


def test_share_of_end_clips_follows_the_probability():
    padded = [(_indices(30, None, 0.25, seed) == -1).any() for seed in range(400)]
    assert 0.18 < np.mean(padded) < 0.32


@pytest.fixture(scope="module")
def short_videos(tmp_path_factory):
    labeled = [make_video(f"lab{i}", i % 2, 12, box=(0, 0, 31, 23)) for i in range(2)]  # whole frame, every frame
    unlabeled = [make_video(f"unl{i}", 1, 12) for i in range(2)]
    split = {"labeled_fraction": 0.5, "seed": 0, "val_fraction": 0.0,
             "labeled": [v.video_id for v in labeled], "unlabeled": [v.video_id for v in unlabeled], "val": []}
    root = tmp_path_factory.mktemp("end-clips")
    return write_dataset(root, {"train": labeled + unlabeled, "test": labeled[:1]}, split)


def test_training_batches_carry_black_padding_without_ground_truth(short_videos):
    cfg = DataConfig(clip_length=T, frame_skip=S, input_size=(16, 16), labeled_per_batch=2, unlabeled_per_batch=2,
                     shuffle_buffer=8, resize_to="stored", allow_partial_crop=True, end_clip_probability=1.0)
    (batch,) = [{k: v.numpy() for k, v in b.items()} for b in train_dataset(short_videos, "labeled-test", cfg, seed=0)]
    for i in range(4):
        ids = frame_ids(batch["clip"][i])
        frame_energy = batch["clip"][i].reshape(T, -1).max(axis=1)
        pad = frame_energy == 0.0
        assert 1 <= pad.sum() <= T - 1 and not pad[0], ids  # real frames first, then padding
        assert (ids[~pad] >= 12 - SPAN).all()  # the clip starts in the last stretch
        assert (batch["aug_clip"][i].reshape(T, -1).max(axis=1)[pad] == 0.0).all()
        if batch["labeled"][i] == 1.0:
            assert (batch["mask"][i][pad] == 0).all() and (batch["frame_valid"][i][pad] == 0).all()
            assert (batch["frame_valid"][i][~pad] == 1).all() and batch["mask"][i][~pad].any(axis=(1, 2, 3)).all()
