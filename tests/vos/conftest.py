"""A tiny VOS config (4x32x32 clips, 1/8-width encoder); the tiny synthetic VOS benchmark it
trains on is `tiny_vos_dataset` in tests/conftest.py (the CLI tests use it too)."""

from __future__ import annotations

from ssvad_keras.vos.config import VosConfig, load_vos_config

CLIP = (4, 32, 32)

TINY_VOS_OVERRIDES = {
    "data.clip_length": CLIP[0],
    "data.input_size": list(CLIP[1:]),
    "data.labeled_per_batch": 2,
    "data.unlabeled_per_batch": 2,
    "data.labeled_fraction": 0.5,
    "data.val_fraction": 0.2,
    "data.max_val_videos": 1,
    "model.encoder_width": 0.125,
    "model.decoder_channels": 8,
    "model.decoder_final_channels": 8,
    "train.epochs": 1,
    "train.steps_per_epoch": 2,
    "train.tensorboard_images": 1,
    "vos.run_eagerly": True,  # two eager steps cost less than tracing one
}


def tiny_vos_config(**overrides) -> VosConfig:
    """The VOS defaults on 4x32x32 clips and a 1/8-width encoder."""
    return load_vos_config(overrides={**TINY_VOS_OVERRIDES, **overrides})
