"""The localization decoder: masked class capsules + encoder skips -> per-pixel mask logits."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from ssvad_keras.layers.i3d_unit import SameConv3D
from ssvad_keras.layers.same_max_pool3d import same_padding, slice_axis
from ssvad_keras.layers.valid_conv import per_sample_valid_conv, valid_conv


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
    """A strided TF-"SAME" 3D transposed convolution computed as stride-1 convolutions.

    Each output phase (position modulo the stride) is a stride-1 correlation of the input
    with exactly the kernel taps that reach it (for kernel 3, stride 2: 1 or 2 taps per axis,
    27 taps over the 8 phases, the transposed convolution's own MACs); the phases are then
    interleaved (depth-to-space). Equal to `Conv3DTranspose(padding="same")` up to summation
    order; used because TensorFlow's CPU gradients of strided (transposed) 3D convolutions are
    several times slower than those of stride-1 ones.

    Args:
        inputs: (batch, T, H, W, C_in) tensor with static T, H, W.
        kernel: (kt, kh, kw, C_out, C_in) tensor (the `Conv3DTranspose` layout).
        strides: 3 ints.

    Returns:
        (batch, T st, H sh, W sw, C_out) tensor.
    """
    sizes = inputs.shape[1:4]
    c_out = kernel.shape[3]
    axes = []  # per axis: padding, and per phase (first padded index, window, selection)
    for n, k, s in zip(sizes, kernel.shape[:3], strides, strict=True):
        selection, before, after = _phase_selection(n, k, s)
        phases = []
        for r in range(s):
            offsets = np.nonzero(selection[:, r, :].any(axis=1))[0]
            low, high = int(offsets[0]), int(offsets[-1])
            phases.append((low, high - low + 1, selection[low : high + 1, r, :]))
        axes.append(((before, after), phases))
    x = ops.pad(inputs, [(0, 0), *(pads for pads, _ in axes), (0, 0)])
    w = ops.transpose(ops.cast(kernel, "float32"), (0, 1, 2, 4, 3))  # (kt, kh, kw, C_in, C_out)
    outputs = []
    for (t0, tn, t_sel), (h0, hn, h_sel), (w0, wn, w_sel) in itertools.product(
        *(phases for _, phases in axes)
    ):
        phase_kernel = ops.cast(
            ops.einsum("ak,bl,cm,klmio->abcio", t_sel, h_sel, w_sel, w), inputs.dtype
        )
        window = x
        for axis, (start, taps) in enumerate(((t0, tn), (h0, hn), (w0, wn)), 1):
            window = slice_axis(window, axis, start, sizes[axis - 1] + taps - 1)
        outputs.append(valid_conv(window, phase_kernel))
    y = ops.stack(outputs, axis=4)  # (batch, T, H, W, phases, C_out), phases in (rt, rh, rw) order
    y = ops.reshape(y, (-1, *sizes, *strides, c_out))
    y = ops.transpose(y, (0, 1, 4, 2, 5, 3, 6, 7))
    return ops.reshape(
        y, (-1, sizes[0] * strides[0], sizes[1] * strides[1], sizes[2] * strides[2], c_out)
    )


def _composition_tables(size: int, up_kernel: int, stride: int):
    """0/1 tables composing, along one axis, a strided transposed conv with a 3-tap stride-1 one.

    The up-sampling is `Conv3DTranspose(kernel=up_kernel, strides=stride, padding="same")`
    from `size` to `size * stride` positions; the smoothing is `Conv3DTranspose(kernel=3,
    padding="same")` on the up-sampled axis, whose zero padding makes the positions outside
    `[0, size * stride)` count as zero. Output `stride m + r` of the pair reads smoothed
    positions in phase `r'` of input cell `m + e` (`e` in a small range), and each of those
    reads input `m + e + d` through the up-sampling's taps. Grouping the terms by `(e, r)`:

    - `A[d, k, q, j] = 1` when up tap `k` at offset `d` and smoothing tap `j` feed pair `q =
      (e, r)`;
    - `Z[e, q, r] = 1` when pair `q` is `(e, r)` (the shift that sums the pairs, applied after
      zero-padding so that cells outside the axis contribute nothing, exactly as the smoothing
      conv's own padding);
    - `V[p, j] = 1` when smoothing tap `j` at output `p` reads inside the axis (where the
      up-sampling's bias reaches).

    Returns:
        `(A, Z, V, up_pads, shift_pads)` as NumPy arrays and (before, after) pairs.
    """
    up_selection, up_before, up_after = _phase_selection(size, up_kernel, stride)
    smooth_selection, smooth_before, _ = _phase_selection(size * stride, 3, 1)
    terms = []  # (up offset index, up tap, (e, r), smoothing tap)
    for r in range(stride):
        for e_index, _, j in zip(*np.nonzero(smooth_selection), strict=True):
            e, r_up = divmod(r + int(e_index) - smooth_before, stride)
            for d_index, k in zip(*np.nonzero(up_selection[:, r_up, :]), strict=True):
                terms.append((int(d_index), int(k), (e, r), int(j)))
    pairs = sorted({t[2] for t in terms})
    a = np.zeros((up_selection.shape[0], up_kernel, len(pairs), 3), np.float32)
    for d_index, k, pair, j in terms:
        a[d_index, k, pairs.index(pair), j] = 1.0
    e_min = min(e for e, _ in pairs)
    e_max = max(e for e, _ in pairs)
    z = np.zeros((e_max - e_min + 1, len(pairs), stride), np.float32)
    for q, (e, r) in enumerate(pairs):
        z[e - e_min, q, r] = 1.0
    v = np.zeros((size * stride, 3), np.float32)
    for e_index, _, j in zip(*np.nonzero(smooth_selection), strict=True):
        offset = int(e_index) - smooth_before
        v[max(0, -offset) : size * stride - max(0, offset), j] = 1.0
    return a, z, v, (up_before, up_after), (max(0, -e_min), max(0, e_max))


def fused_upsample_smooth(
    inputs, up_kernel, up_bias, smooth_kernel, smooth_bias, strides: Sequence[int],
    channel_scale=None,
):
    """The decoder's last two transposed convs, with channel dropout between, as one operator.

    Computes `smooth(scale * (up(inputs) + up_bias)) + smooth_bias`, where `up` is a strided
    TF-"SAME" `Conv3DTranspose` to `C` channels, `scale` a per-sample, per-channel factor (3D
    dropout) and `smooth` a 3x3x3 `Conv3DTranspose` to one channel, without ever forming the
    `C`-channel map at the output resolution. The chain is linear, so its kernels compose into
    one small stride-1 convolution on the input grid (one output channel per pair of smoothing
    offset and output phase), followed by a fixed 0/1 shift-and-sum and depth-to-space. At the
    paper's shapes this is 3.3 instead of 54 forward GMAC per clip, and no (8, 224, 224, 128)
    activation (205 MB per clip) is kept for the backward pass. Equal to the two layers up to
    summation order, borders included (the smoothing conv's zero padding is applied where the
    unfused chain applies it).

    Args:
        inputs: (batch, T, H, W, C_in) tensor with static T, H, W.
        up_kernel: (kt, kh, kw, C, C_in) tensor, the up-sampling `Conv3DTranspose` kernel.
        up_bias: (C,) tensor.
        smooth_kernel: (3, 3, 3, 1, C) tensor, the smoothing `Conv3DTranspose` kernel.
        smooth_bias: (1,) tensor.
        strides: 3 ints, the up-sampling strides.
        channel_scale: (batch, C) tensor of per-sample channel factors (the 3D dropout mask,
            already divided by the keep rate), or `None` for no dropout.

    Returns:
        (batch, T st, H sh, W sw, 1) tensor.

    Example:

    >>> x = keras.ops.ones((1, 2, 3, 3, 4))
    >>> y = fused_upsample_smooth(x, keras.ops.ones((3, 3, 3, 6, 4)), keras.ops.zeros((6,)),
    ...     keras.ops.ones((3, 3, 3, 1, 6)), keras.ops.zeros((1,)), (2, 2, 2))
    >>> y.shape
    (1, 4, 6, 6, 1)
    """
    sizes = tuple(inputs.shape[1:4])
    tables = [
        _composition_tables(n, k, s)
        for n, k, s in zip(sizes, up_kernel.shape[:3], strides, strict=True)
    ]
    (a_t, z_t, v_t, up_t, shift_t), (a_h, z_h, v_h, up_h, shift_h), (a_w, z_w, v_w, up_w, shift_w) = (
        tables
    )
    up = ops.cast(up_kernel, "float32")
    smooth = ops.cast(smooth_kernel[:, :, :, 0, :], "float32")
    if channel_scale is None:
        scale = ops.ones((1, up.shape[3]), "float32")
    else:
        scale = ops.cast(channel_scale, "float32")
    # Contract the C channels first (per sample), then place taps with the per-axis tables.
    paired = ops.einsum("klmci,jnoc,bc->bklmjnoi", up, smooth, scale)
    fused = ops.einsum("xkpj,ylqn,zmro,bklmjnoi->bxyzipqr", a_t, a_h, a_w, paired)
    pairs = a_t.shape[2] * a_h.shape[2] * a_w.shape[2]
    fused = ops.reshape(
        fused, (-1, a_t.shape[0], a_h.shape[0], a_w.shape[0], up.shape[4], pairs)
    )
    fused = ops.cast(fused, inputs.dtype)
    x = ops.pad(inputs, [(0, 0), up_t, up_h, up_w, (0, 0)])
    if channel_scale is None:
        pair_maps = valid_conv(x, fused[0])
    else:
        # One kernel per sample (its own dropout mask): map over the batch.
        pair_maps = per_sample_valid_conv(x, fused)
    # Shift-and-sum the pairs into output phases, one axis at a time (the 0/1 table is a product
    # over axes): phase r along an axis is the sum, over its pairs (e, r), of that pair's map
    # shifted by e cells (zero beyond the axis). Slices and adds keep no activations for the
    # backward pass, where a 3x3x3 convolution over the 64 pair maps made TensorFlow's CPU
    # kernels build im2col buffers of ~350 MB per clip.
    y = ops.reshape(pair_maps, (-1, *sizes, a_t.shape[2], a_h.shape[2], a_w.shape[2]))
    for axis, (z, pads) in enumerate(zip((z_t, z_h, z_w), (shift_t, shift_h, shift_w), strict=True), 1):
        padding = [(0, 0)] * 7
        padding[axis] = pads
        padded = ops.pad(y, padding)
        group = axis + 3  # this axis' pair index among the trailing dimensions
        phases_out = []
        for r in range(z.shape[2]):
            total = None
            for e, q in zip(*np.nonzero(z[:, :, r]), strict=True):
                term = slice_axis(slice_axis(padded, axis, int(e), sizes[axis - 1]), group, int(q), 1)
                total = term if total is None else total + term
            phases_out.append(total)
        y = ops.concatenate(phases_out, axis=group)
    y = ops.reshape(y, (-1, *sizes, *strides))
    y = ops.transpose(y, (0, 1, 4, 2, 5, 3, 6))
    y = ops.reshape(y, (-1, sizes[0] * strides[0], sizes[1] * strides[1], sizes[2] * strides[2]))
    # The up-sampling bias, through the dropout and the smoothing taps that land inside.
    bias_taps = ops.einsum("jnoc,bc,c->bjno", smooth, scale, ops.cast(up_bias, "float32"))
    bias_map = ops.einsum("bjno,tj,hn,wo->bthw", bias_taps, v_t, v_h, v_w)
    y = y + ops.cast(bias_map + ops.cast(smooth_bias, "float32")[0], y.dtype)
    return y[..., None]


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
    initialised N(0, 0.02) like the released code. Steps 4-5 are linear (dropout scales whole
    channels), so by default they run as one composed operator (`fused_upsample_smooth`) that
    never forms the `final_channels`-wide map at the clip's resolution: same weights, same
    results, 16x fewer MACs and none of that layer's memory at the paper's shapes.

    Args:
        output_size: 3 ints. The clip's (T, H, W); the logits have exactly this size.
        kernel_size: int. K of the first transposed conv; equal to the primary-capsule kernel so
            the capsule grid returns to the `Mixed_4f` grid. Defaults to 9.
        channels: int. Width of the intermediate maps. Defaults to 64.
        final_channels: int. Width before the last smoothing conv. Defaults to 128.
        dropout: float. 3D (channel) dropout rate before the smoothing conv. Defaults to 0.5.
        seed: int or None. Dropout seed. Defaults to `None`.
        fused_output: bool. Run steps 4-5 as `fused_upsample_smooth` when the clip's size is
            an exact multiple of the `Conv3d_1a_7x7` skip's (no crop between the two convs);
            otherwise, or when `False`, layer by layer. Defaults to `True`.
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
        fused_output: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.fused_output = bool(fused_output)
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
        self.mixed_4f_projection = SameConv3D(
            c, (1, 3, 3), padding="same", activation="relu", name="mixed_4f_projection", **common
        )
        self.mixed_4f_projection.build(mixed_4f_shape)
        self.skip_2c_projection = SameConv3D(
            c, 3, padding="same", activation="relu", name="skip_2c_projection", **common
        )
        self.skip_2c_projection.build(skip_2c_shape)
        self.skip_1a_projection = SameConv3D(
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
        final = self.upsamplers[2]
        exact = all(
            n * s == m
            for n, s, m in zip(skip_1a_shape[1:4], final.strides, self.output_size, strict=True)
        )
        self._fuse = self.fused_output and exact

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
                "fused_output": self.fused_output,
            }
        )
        return config
