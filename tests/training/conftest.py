"""A detector small enough to train in seconds on 32x32 clips, and batches for it."""

from __future__ import annotations

import numpy as np
import pytest

from ssvad_keras.config import ExperimentConfig, load_config

NUM_CLASSES = 5
CLIP = (8, 32, 32)

TINY_OVERRIDES = {
    "data.input_size": [32, 32],
    "data.labeled_per_batch": 2,
    "data.unlabeled_per_batch": 2,
    "model.encoder_width": 0.125,
    "model.primary_kernel": 3,
    "model.primary_types": 4,
    "model.decoder_channels": 8,
    "model.decoder_final_channels": 8,
    "train.epochs": 2,
    "train.steps_per_epoch": 2,
    "train.pseudo_label_epoch": 1,
    "train.tensorboard_images": 1,
    "eval.batch_size": 4,
}


def tiny_config(**overrides) -> ExperimentConfig:
    """The defaults (the paper's losses) on a 32x32, 1/8-width detector."""
    return load_config(overrides={**TINY_OVERRIDES, **overrides})


@pytest.fixture(scope="session")
def training_dataset(tmp_path_factory):
    """25 training videos (5 per class) and 5 test videos at 32x32: the 20% split leaves
    labeled, unlabeled and validation videos for every class."""
    from tfrecords_tools.synthetic import generate_synthetic

    out = tmp_path_factory.mktemp("training") / "data"
    generate_synthetic(out, seed=1, num_train=25, num_test=5, frame_size=(32, 32), progress=False)
    return out


@pytest.fixture
def config() -> ExperimentConfig:
    return tiny_config()


def make_batch(batch: int = 4, seed: int = 0, labeled=(1, 0, 1, 0)) -> dict[str, np.ndarray]:
    """A mixed batch in the pipeline's format; unlabeled clips carry no label or mask."""
    rng = np.random.default_rng(seed)
    t, h, w = CLIP
    labeled = np.asarray(labeled[:batch], np.float32)
    mask = np.zeros((batch, t, h, w, 1), np.float32)
    mask[:, :, 8:24, 10:20] = 1.0
    mask *= labeled[:, None, None, None, None]
    clip = rng.random((batch, t, h, w, 3), dtype=np.float32)
    return {
        "clip": clip,
        "aug_clip": clip[:, :, :, ::-1].copy(),
        "hflip": np.ones(batch, np.float32),
        "time_reverse": np.zeros(batch, np.float32),
        "labeled": labeled,
        "label": (rng.integers(0, NUM_CLASSES, batch) * labeled).astype(np.int32),
        "mask": mask,
        "frame_valid": np.repeat(labeled[:, None], t, axis=1),
    }
