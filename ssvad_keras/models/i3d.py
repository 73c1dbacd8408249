"""`build_i3d_encoder`: a stand-alone I3D encoder model (clip -> endpoint dict)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras

from ssvad_keras.layers import I3DEncoder

ENCODER_LAYER_NAME = "i3d_encoder"


def encoder_model(encoder: I3DEncoder, input_shape: Sequence[int]) -> keras.Model:
    """Wrap an `I3DEncoder` layer in a functional model (the layout of converted weight files)."""
    clip = keras.Input(shape=tuple(input_shape), name="clip")
    return keras.Model(clip, encoder(clip), name="i3d")


def build_i3d_encoder(
    input_shape: Sequence[int] = (8, 224, 224, 3),
    variant: str = "ssl",
    width: float = 1.0,
    weights: str | Path | None = None,
) -> keras.Model:
    """Build Inception-I3D up to `Mixed_4f` as a functional model returning endpoints.

    Args:
        input_shape: clip (T, H, W, 3). Defaults to (8, 224, 224, 3).
        variant: `"ssl"` (the paper code's strides) or `"original"` (unmodified I3D).
        width: channel multiplier in (0, 1]. Defaults to 1.0.
        weights: optional `.pt` state dict, TF checkpoint or converted `.weights.h5` to load.

    Returns:
        A `keras.Model` mapping a clip to `{"Mixed_4f", "Conv3d_2c_3x3", "Conv3d_1a_7x7"}`.

    Example:

    >>> enc = build_i3d_encoder(input_shape=(8, 32, 32, 3), width=0.125)
    >>> enc(keras.ops.zeros((1, 8, 32, 32, 3)))["Mixed_4f"].shape
    (1, 1, 4, 4, 104)
    """
    model = encoder_model(I3DEncoder(variant, width, name=ENCODER_LAYER_NAME), input_shape)
    if weights is not None:
        from ssvad_keras.models.i3d_weights import load_i3d_weights

        load_i3d_weights(model, weights)
    return model
