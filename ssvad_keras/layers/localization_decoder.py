"""The localization decoder: masked class capsules + encoder skips -> per-pixel mask logits."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from ssvad_keras.layers.cpu_kernels import (
    fused_upsample_smooth,
    resolve_kernels,
    subpixel_conv3d_transpose,
)
from ssvad_keras.layers.i3d_unit import SameConv3D


def _upsampling_geometry(current: Sequence[int], target: Sequence[int]) -> tuple[tuple, tuple]:
    """Strides and kernel of a transposed conv taking `current` to at least `target`.

    Stride `ceil(target / current)` per axis (2 everywhere for the paper's shapes), kernel
    `max(3, stride)` so every output position receives a contribution.
    """
    strides = tuple(max(1, -(-t // c)) for c, t in zip(current, target, strict=True))
    return strides, tuple(max(3, s) for s in strides)


@keras.saving.register_keras_serializable(package="ssvad")
class SubpixelConv3DTranspose(keras.layers.Conv3DTranspose):
    """`Conv3DTranspose(padding="same")` computed by `subpixel_conv3d_transpose` on `"cpu_fast"`.

    Same weights, same results; only the arithmetic route differs (faster CPU gradients; see
    `ssvad_keras.layers.cpu_kernels`).

    Args:
        *args: `keras.layers.Conv3DTranspose` arguments (`filters`, `kernel_size`, ...).
        kernels: str. `"auto"`, `"reference"` (Keras' own transposed convolution) or
            `"cpu_fast"`. Defaults to `"auto"`.
        **kwargs: `keras.layers.Conv3DTranspose` keyword arguments.

    Example:

    >>> up = SubpixelConv3DTranspose(4, 3, strides=2, padding="same", kernels="reference")
    >>> up(keras.ops.zeros((1, 2, 3, 3, 2))).shape
    (1, 4, 6, 6, 4)
    """

    def __init__(self, *args, kernels: str = "auto", **kwargs):
        super().__init__(*args, **kwargs)
        self.kernels = kernels
        self._fast = resolve_kernels(kernels) == "cpu_fast"

    def call(self, inputs):
        if not self._fast:
            return super().call(inputs)
        outputs = subpixel_conv3d_transpose(inputs, self.kernel, self.strides)
        if self.use_bias:
            outputs = outputs + ops.cast(self.bias, outputs.dtype)
        if self.activation is not None:
            return self.activation(outputs)
        return outputs

    def get_config(self):
        return {**super().get_config(), "kernels": self.kernels}


def upsampling_path(decoder, mixed_4f_shape, skip_2c_shape, skip_1a_shape, initializer, upsampler_kwargs):
    """The built layers from the Mixed_4f grid to the clip, shared by the action and VOS decoders.

    Three stride-2 stages (for the paper's shapes): 4f grid -> 2c -> 1a -> clip, each a
    `SubpixelConv3DTranspose` on the concatenation of the path so far and a skip (2 * channels
    inputs); then the spatial dropout and the one-channel `smooth` transposed convolution.

    Args:
        decoder: the decoder layer: `channels`, `final_channels`, `output_size`, `dropout`,
            `seed` and `dtype_policy` are read from it.
        mixed_4f_shape: shape (B, T, H, W, C) of the Mixed_4f features.
        skip_2c_shape: shape of the Conv3d_2c skip.
        skip_1a_shape: shape of the Conv3d_1a skip.
        initializer: kernel initializer of the transposed convolutions.
        upsampler_kwargs: keyword arguments of the three upsamplers (`dtype`, and `kernels`
            where the decoder has a CPU-kernel path).

    Returns:
        (the three upsamplers as a list, the `dropout_3d` layer, the `smooth` layer).
    """
    c = decoder.channels
    common = {"dtype": decoder.dtype_policy}
    stages = [
        ("upsample_2c", mixed_4f_shape[1:4], skip_2c_shape[1:4], c, "relu"),
        ("upsample_1a", skip_2c_shape[1:4], skip_1a_shape[1:4], c, "relu"),
        ("upsample_clip", skip_1a_shape[1:4], decoder.output_size, decoder.final_channels, None),
    ]
    upsamplers = []
    for name, current, target, filters, activation in stages:
        strides, kernel = _upsampling_geometry(current, target)
        layer = SubpixelConv3DTranspose(
            filters, kernel, strides=strides, padding="same", activation=activation,
            kernel_initializer=initializer, name=name, **upsampler_kwargs,
        )
        layer.build((None, *current, 2 * c))
        upsamplers.append(layer)
    dropout_3d = keras.layers.SpatialDropout3D(decoder.dropout, seed=decoder.seed, name="dropout_3d", **common)
    smooth = keras.layers.Conv3DTranspose(
        1, 3, padding="same", kernel_initializer=initializer, name="smooth", **common
    )
    smooth.build((None, *decoder.output_size, decoder.final_channels))
    return upsamplers, dropout_3d, smooth


def _crop_to(x, size: Sequence[int]):
    """Crop (batch, T, H, W, C) to `size` = (T, H, W) at the end (TF "SAME" puts the excess there)."""
    return x[:, : size[0], : size[1], : size[2], :]


@keras.saving.register_keras_serializable(package="ssvad")
class LocalizationDecoder(keras.layers.Layer):
    """Decodes masked class-capsule poses and I3D skips into mask logits of the clip's size.

    As built by the released code (SPEC 2 "Decoder"), with the clip size not hard-coded:
    1. masked poses (h, w, C*P*P) -> transposed 2D conv KxK ("valid") + ReLU -> the `Mixed_4f`
       grid, `channels` wide; tiled over `Mixed_4f`'s time steps;
    2. concat ReLU(1x3x3 conv of `Mixed_4f`) -> transposed 3D conv + ReLU to the
       `Conv3d_2c_3x3` skip's size; concat ReLU(3x3x3 conv of that skip);
    3. transposed 3D conv + ReLU to the `Conv3d_1a_7x7` skip's size; concat ReLU(3x3x3 conv of it);
    4. transposed 3D conv to the clip's size, `final_channels` wide, no activation; 3D dropout;
    5. 3x3x3 transposed conv to 1 channel: the mask logits.
    Transposed convs use stride 2 for the paper's shapes (computed from the shapes at build) and
    are cropped at the end when the encoder rounded a size up. Transposed-conv kernels are
    initialised N(0, 0.02) like the released code. With `kernels="cpu_fast"` the strided
    transposed convs run as stride-1 convolutions (`subpixel_conv3d_transpose`), and steps 4-5,
    which are linear (dropout scales whole channels), run as one composed operator
    (`fused_upsample_smooth`) that never forms the `final_channels`-wide map at the clip's
    resolution (16x fewer MACs and none of that layer's memory at the paper's shapes) whenever
    the clip's size is an exact multiple of the `Conv3d_1a_7x7` skip's (no crop between the two
    convs). With `"reference"` every step is its Keras layer. Same weights, same results.

    Args:
        output_size: 3 ints. The clip's (T, H, W); the logits have exactly this size.
        kernel_size: int. K of the first transposed conv; equal to the primary-capsule kernel so
            the capsule grid returns to the `Mixed_4f` grid. Defaults to 9.
        channels: int. Width of the intermediate maps. Defaults to 64.
        final_channels: int. Width before the last smoothing conv. Defaults to 128.
        dropout: float. 3D (channel) dropout rate before the smoothing conv. Defaults to 0.5.
        seed: int or None. Dropout seed. Defaults to `None`.
        kernels: str. `"auto"`, `"reference"` or `"cpu_fast"` (`ssvad_keras.layers.cpu_kernels`).
            Defaults to `"auto"`.
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        masked_poses: (batch, h, w, C*P*P).
        mixed_4f: (batch, T4, h + K - 1, w + K - 1, c4).
        skip_2c: (batch, T2, H2, W2, c2), the `Conv3d_2c_3x3` output.
        skip_1a: (batch, T1, H1, W1, c1), the `Conv3d_1a_7x7` output.

    Returns:
        (batch, T, H, W, 1) mask logits.

    Example:

    >>> decoder = LocalizationDecoder((8, 32, 32), kernel_size=3, channels=8, final_channels=8)
    >>> logits = decoder(
    ...     keras.ops.zeros((1, 2, 2, 32)), keras.ops.zeros((1, 1, 4, 4, 16)),
    ...     keras.ops.zeros((1, 2, 8, 8, 8)), keras.ops.zeros((1, 4, 16, 16, 4)))
    >>> logits.shape
    (1, 8, 32, 32, 1)
    """

    def __init__(
        self,
        output_size: Sequence[int],
        kernel_size: int = 9,
        channels: int = 64,
        final_channels: int = 128,
        dropout: float = 0.5,
        seed: int | None = None,
        kernels: str = "auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.kernels = kernels
        self._fast = resolve_kernels(kernels) == "cpu_fast"
        self.output_size = tuple(int(n) for n in output_size)
        self.kernel_size = int(kernel_size)
        self.channels = int(channels)
        self.final_channels = int(final_channels)
        self.dropout = float(dropout)
        self.seed = seed

    def build(self, masked_poses_shape, mixed_4f_shape, skip_2c_shape, skip_1a_shape):
        c = self.channels
        up_init = keras.initializers.RandomNormal(stddev=0.02)
        common = {"dtype": self.dtype_policy}
        switched = {"kernels": self.kernels, **common}  # the layers with a CPU-kernel path
        self.capsule_upsample = keras.layers.Conv2DTranspose(
            c, self.kernel_size, activation="relu", kernel_initializer=up_init,
            name="capsule_upsample", **common,
        )
        self.capsule_upsample.build(masked_poses_shape)
        self.mixed_4f_projection = SameConv3D(
            c, (1, 3, 3), padding="same", activation="relu", name="mixed_4f_projection", **switched
        )
        self.mixed_4f_projection.build(mixed_4f_shape)
        self.skip_2c_projection = SameConv3D(
            c, 3, padding="same", activation="relu", name="skip_2c_projection", **switched
        )
        self.skip_2c_projection.build(skip_2c_shape)
        self.skip_1a_projection = SameConv3D(
            c, 3, padding="same", activation="relu", name="skip_1a_projection", **switched
        )
        self.skip_1a_projection.build(skip_1a_shape)

        self.upsamplers, self.dropout_3d, self.smooth = upsampling_path(
            self, mixed_4f_shape, skip_2c_shape, skip_1a_shape, up_init, switched
        )
        self._skip_sizes = (
            tuple(skip_2c_shape[1:4]), tuple(skip_1a_shape[1:4]), self.output_size
        )
        final = self.upsamplers[2]
        exact = all(
            n * s == m
            for n, s, m in zip(skip_1a_shape[1:4], final.strides, self.output_size, strict=True)
        )
        self._fuse = self._fast and exact

    def call(self, masked_poses, mixed_4f, skip_2c, skip_1a, training=None):
        # Capsules back to the Mixed_4f grid, repeated over its time steps.
        x = self.capsule_upsample(masked_poses)
        x = ops.repeat(ops.expand_dims(x, 1), ops.shape(mixed_4f)[1], axis=1)
        x = ops.concatenate([x, self.mixed_4f_projection(mixed_4f)], axis=-1)
        # Up to the Conv3d_2c_3x3 skip, then to the Conv3d_1a_7x7 skip.
        for upsampler, skip, projection, size in (
            (self.upsamplers[0], skip_2c, self.skip_2c_projection, self._skip_sizes[0]),
            (self.upsamplers[1], skip_1a, self.skip_1a_projection, self._skip_sizes[1]),
        ):
            x = _crop_to(upsampler(x), size)
            x = ops.concatenate([x, projection(skip)], axis=-1)
        # Up to the clip's size, no activation; channel dropout; 1-channel smoothing conv.
        final = self.upsamplers[2]
        if self._fuse:
            scale = None
            if training and self.dropout > 0:
                ones = ops.ones((ops.shape(x)[0], self.final_channels), "float32")
                scale = keras.random.dropout(
                    ones, self.dropout, seed=self.dropout_3d.seed_generator
                )
            return fused_upsample_smooth(
                x, final.kernel, final.bias, self.smooth.kernel, self.smooth.bias,
                final.strides, channel_scale=scale,
            )
        x = _crop_to(final(x), self.output_size)
        x = self.dropout_3d(x, training=training)
        return self.smooth(x)

    def compute_output_shape(self, masked_poses_shape, *args, **kwargs):
        return (masked_poses_shape[0], *self.output_size, 1)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "output_size": self.output_size,
                "kernel_size": self.kernel_size,
                "channels": self.channels,
                "final_channels": self.final_channels,
                "dropout": self.dropout,
                "seed": self.seed,
                "kernels": self.kernels,
            }
        )
        return config
