"""The localization decoder: masked class capsules + encoder skips -> per-pixel mask logits."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from ssvad_keras.layers.same_max_pool3d import same_padding


def _upsampling_geometry(current: Sequence[int], target: Sequence[int]) -> tuple[tuple, tuple]:
    """Strides and kernel of a transposed conv taking `current` to at least `target`.

    Stride `ceil(target / current)` per axis (2 everywhere for the paper's shapes), kernel
    `max(3, stride)` so every output position receives a contribution.
    """
    strides = tuple(max(1, -(-t // c)) for c, t in zip(current, target, strict=True))
    return strides, tuple(max(3, s) for s in strides)


def _phase_selection(size: int, kernel: int, stride: int) -> tuple[np.ndarray, int, int]:
    """Which transposed-conv tap feeds each (input offset d, output phase r) along one axis.

    With TF "SAME" geometry (forward padding `p` before), output `s m + r` receives
    `x[m + a - j] w[b + s j]` where `r + p = s a + b`. Returns the 0/1 matrix
    `S[d, r, k]` over offsets `d = d_min .. d_max`, and the padding (before, after) that makes
    `x[m + d]` defined for every m.
    """
    pad = same_padding(size * stride, kernel, stride)[0]
    taps = []  # (offset d, phase r, kernel tap k)
    for r in range(stride):
        a, b = divmod(r + pad, stride)
        for j in range(-(-(kernel - b) // stride)):
            taps.append((a - j, r, b + stride * j))
    d_min = min(t[0] for t in taps)
    d_max = max(t[0] for t in taps)
    selection = np.zeros((d_max - d_min + 1, stride, kernel), np.float32)
    for d, r, k in taps:
        selection[d - d_min, r, k] = 1.0
    return selection, max(0, -d_min), max(0, d_max)


def subpixel_conv3d_transpose(inputs, kernel, strides: Sequence[int]):
    """A strided TF-"SAME" 3D transposed convolution computed as a stride-1 convolution.

    Each output phase (position modulo the stride) is a stride-1 correlation of the input
    with a subset of the kernel taps; all phases are computed by one "valid" convolution with
    `prod(strides) * C_out` channels, then interleaved (depth-to-space). Equal to
    `Conv3DTranspose(padding="same")` up to summation order; used because TensorFlow's CPU
    gradients of strided (transposed) 3D convolutions are several times slower.

    Args:
        inputs: (batch, T, H, W, C_in) tensor with static T, H, W.
        kernel: (kt, kh, kw, C_out, C_in) tensor (the `Conv3DTranspose` layout).
        strides: 3 ints.

    Returns:
        (batch, T st, H sh, W sw, C_out) tensor.
    """
    sizes = inputs.shape[1:4]
    c_out, c_in = kernel.shape[3], kernel.shape[4]
    selections, pads = [], []
    for n, k, s in zip(sizes, kernel.shape[:3], strides, strict=True):
        selection, before, after = _phase_selection(n, k, s)
        selections.append(selection)
        pads.append((before, after))
    # Combined kernel (dt, dh, dw, C_in, rt, rh, rw, C_out) from the transposed-conv taps.
    combined = ops.einsum(
        "tak,hbl,wcm,klmoi->thwiabco",
        selections[0], selections[1], selections[2], ops.cast(kernel, "float32"),
    )
    combined = ops.cast(combined, inputs.dtype)  # float16 under mixed precision
    windows = [sel.shape[0] for sel in selections]
    phases = strides[0] * strides[1] * strides[2]
    combined = ops.reshape(combined, (*windows, c_in, phases * c_out))
    x = ops.pad(inputs, [(0, 0), *pads, (0, 0)])
    y = ops.conv(x, combined, strides=1, padding="valid")  # (batch, T, H, W, phases * C_out)
    y = ops.reshape(y, (-1, *sizes, *strides, c_out))
    y = ops.transpose(y, (0, 1, 4, 2, 5, 3, 6, 7))
    return ops.reshape(
        y, (-1, sizes[0] * strides[0], sizes[1] * strides[1], sizes[2] * strides[2], c_out)
    )


@keras.saving.register_keras_serializable(package="ssvad")
class SubpixelConv3DTranspose(keras.layers.Conv3DTranspose):
    """`Conv3DTranspose(padding="same")` computed by `subpixel_conv3d_transpose`.

    Same weights, same results; only the arithmetic route differs (faster CPU gradients).
    """

    def call(self, inputs):
        outputs = subpixel_conv3d_transpose(inputs, self.kernel, self.strides)
        if self.use_bias:
            outputs = outputs + ops.cast(self.bias, outputs.dtype)
        if self.activation is not None:
            return self.activation(outputs)
        return outputs


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
    are cropped at the end when the encoder rounded a size up; the strided ones run as
    stride-1 convolutions (`subpixel_conv3d_transpose`) for faster CPU gradients. Transposed-conv kernels are
    initialised N(0, 0.02) like the released code.

    Args:
        output_size: 3 ints. The clip's (T, H, W); the logits have exactly this size.
        kernel_size: int. K of the first transposed conv; equal to the primary-capsule kernel so
            the capsule grid returns to the `Mixed_4f` grid. Defaults to 9.
        channels: int. Width of the intermediate maps. Defaults to 64.
        final_channels: int. Width before the last smoothing conv. Defaults to 128.
        dropout: float. 3D (channel) dropout rate before the smoothing conv. Defaults to 0.5.
        seed: int or None. Dropout seed. Defaults to `None`.
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
        **kwargs,
    ):
        super().__init__(**kwargs)
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
        self.capsule_upsample = keras.layers.Conv2DTranspose(
            c, self.kernel_size, activation="relu", kernel_initializer=up_init,
            name="capsule_upsample", **common,
        )
        self.capsule_upsample.build(masked_poses_shape)
        self.mixed_4f_projection = keras.layers.Conv3D(
            c, (1, 3, 3), padding="same", activation="relu", name="mixed_4f_projection", **common
        )
        self.mixed_4f_projection.build(mixed_4f_shape)
        self.skip_2c_projection = keras.layers.Conv3D(
            c, 3, padding="same", activation="relu", name="skip_2c_projection", **common
        )
        self.skip_2c_projection.build(skip_2c_shape)
        self.skip_1a_projection = keras.layers.Conv3D(
            c, 3, padding="same", activation="relu", name="skip_1a_projection", **common
        )
        self.skip_1a_projection.build(skip_1a_shape)

        # Three stride-2 stages (for the paper's shapes): 4f grid -> 2c -> 1a -> clip.
        stages = [
            ("upsample_2c", mixed_4f_shape[1:4], skip_2c_shape[1:4], c, "relu"),
            ("upsample_1a", skip_2c_shape[1:4], skip_1a_shape[1:4], c, "relu"),
            ("upsample_clip", skip_1a_shape[1:4], self.output_size, self.final_channels, None),
        ]
        self.upsamplers = []
        for name, current, target, filters, activation in stages:
            strides, kernel = _upsampling_geometry(current, target)
            layer = SubpixelConv3DTranspose(
                filters, kernel, strides=strides, padding="same", activation=activation,
                kernel_initializer=up_init, name=name, **common,
            )
            layer.build((None, *current, 2 * c))
            self.upsamplers.append(layer)
        self.dropout_3d = keras.layers.SpatialDropout3D(
            self.dropout, seed=self.seed, name="dropout_3d", **common
        )
        self.smooth = keras.layers.Conv3DTranspose(
            1, 3, padding="same", kernel_initializer=up_init, name="smooth", **common
        )
        self.smooth.build((None, *self.output_size, self.final_channels))
        self._skip_sizes = (
            tuple(skip_2c_shape[1:4]), tuple(skip_1a_shape[1:4]), self.output_size
        )

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
        x = _crop_to(self.upsamplers[2](x), self.output_size)
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
            }
        )
        return config
