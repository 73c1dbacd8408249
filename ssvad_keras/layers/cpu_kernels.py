"""The CPU kernels: custom operators that compute the detector's layers faster on CPU.

TensorFlow's CPU gradient kernels for convolutions and pools are several times slower than its
forward convolutions at the detector's shapes (docs/benchmarks.md: a one-step profile of the
paper preset spent 18.6 s in the 9x9 primary-capsule convolution's backward pass against 3.1 s
forward). Each operator below computes exactly what a plain Keras operation computes (up to
float32 summation order) by another arithmetic route, mostly stride-1 "valid" forward
convolutions, with `ops.custom_gradient` where the backward pass is rewritten too. They are
written in `keras.ops` and run on every backend and device, but were measured on CPU only; so
the detector uses them only where the switch says so:

- `model.kernels = "cpu_fast"`: these operators and the fused decoder head;
- `model.kernels = "reference"`: the plain Keras operations (`ops.conv`, `ops.conv_transpose`,
  `ops.max_pool`) with the backend's own gradients and a layer-by-layer decoder;
- `model.kernels = "auto"` (the default): `"cpu_fast"` when no accelerator is visible,
  `"reference"` on GPU and TPU (`resolve_kernels`).

Both paths use the same layers and variables (names, shapes), so a checkpoint trained with one
loads and runs with the other.

| operator | replaces (reference path) | CPU speed-up measured | test that pins it |
|---|---|---|---|
| `valid_conv` (input gradient as a forward correlation with the flipped kernel, cut in 3-tap blocks; kernel gradient as a batch/channel-swapped convolution, or one matrix product for 1x1x1) | `ops.conv(padding="valid")` and TensorFlow's `Conv2D/3DBackprop*` kernels, in every stride-1 convolution | input gradient 3x3x3 at 4x112x112x64, 16 clips: 4.28 -> 1.51 s (2.8x); 9x9 primary capsules: input 7.0 -> 3.2 s (2.2x), kernel 4.3 -> 2.9 s (1.5x); 3x3x3 kernel gradients 1.0-1.17x, 1x1x1 1.0-1.2x. Training step: tiny 0.79 -> 0.40 s, paper 42.0 -> 36.7 s | `tests/layers/test_valid_conv.py::test_values_and_gradients_match_the_backend_convolution`, `::test_input_gradient_at_the_borders_by_hand` |
| `per_sample_valid_conv` (one kernel per clip; kernel gradient as one matrix product per tap) | a map of `ops.conv` over the batch with TensorFlow's gradients | fused decoder head, paper shapes, 16 clips, forward + backward: 5.0 -> 3.3 s (1.5x) | `tests/layers/test_valid_conv.py::test_per_sample_kernels_values_and_gradients` |
| `strided_same_conv3d` (space-to-depth: a strided convolution as a stride-1 one) | `ops.conv(strides > 1, padding="same")` in the strided I3D units (`Conv3d_1a_7x7`, `Conv3d_2c_3x3`) | forward + backward, 4 clips: 1.04x at `Conv3d_1a_7x7` (8x112x112x3 -> 64; 26.3 -> 25.2 s) and 1.05x at `Conv3d_2c_3x3` (4x28x28x64 -> 192; 14.0 -> 13.3 s), 2026-12-01 on a loaded machine: no gain at these shapes | `tests/layers/test_i3d_encoder.py::test_space_to_depth_equals_strided_same_convolution` |
| `cropped_same_conv3d` (drops the taps that only ever read padding) | `ops.conv(strides=1, padding="same")` | 3x fewer MACs, forward and backward, in the 3x3x3 convolutions of `Mixed_4b`-`Mixed_4f` (1 time step at 8 frames) | `tests/layers/test_i3d_encoder.py::test_stride_one_conv_skips_padding_only_taps_exactly` |
| `separable_max_pool3d` (a box max as maxima of output-sized slices; also runs in float16 on CPU) | `ops.max_pool` on the zero-padded input and TensorFlow's `MaxPool3DGrad` (which took ~7x the forward time of a whole inception module) | forward + backward, 4 clips: 5.8x at `MaxPool3d_2a_3x3` (1x3x3 stride (1,2,2), 4x56x56x64; 2.09 -> 0.36 s) and 107x at an inception `Branch_3` pool (3x3x3 stride 1, 2x28x28x192; 24.4 -> 0.23 s) | `tests/layers/test_i3d_encoder.py::test_separable_max_pool_equals_max_pool3d_with_its_gradient` |
| `subpixel_conv3d_transpose` (each output phase a stride-1 correlation with the taps that reach it, then depth-to-space) | `ops.conv_transpose(strides > 1, padding="same")` in the decoder's up-sampling | forward + backward, 4 clips: 0.42x, i.e. slower, at `upsample_1a` (3x3x3 stride 2, 2x28x28x128 -> 64; 7.2 -> 17.0 s), 2026-12-01 on a loaded machine | `tests/layers/test_capsules.py::test_subpixel_transposed_conv_equals_keras_conv3d_transpose` |
| `fused_upsample_smooth` (the decoder's last transposed conv, 3D dropout and 3x3x3 smoothing conv composed into one small stride-1 convolution) | `Conv3DTranspose` -> `SpatialDropout3D` -> `Conv3DTranspose` layer by layer | paper shapes: 3.3 instead of 54 forward GMAC per clip (16x), and no (8, 224, 224, 128) activation (205 MB per clip) kept for the backward pass | `tests/layers/test_decoder_fusion.py::test_fused_head_equals_upsample_dropout_smooth_with_gradients` |
| all of them, whole detector | the reference path | training step of the tiny preset 0.79 -> 0.40 s and of the paper preset 42.0 -> 36.7 s from the `valid_conv` rewrite alone (2026-11-28); the pools' 6-107x above come on top | `tests/models/test_detector.py::test_reference_and_cpu_fast_kernels_agree_in_values_and_gradients` |

Speed-ups are TensorFlow 2.20 on 2 CPU cores. The figures of the first two rows and of the
fused head are from the convolution-gradient rewrite's measurements (paper preset's shapes);
those of the strided, pooling and sub-pixel rows come from
`bench/bench_kernels.py` (reference and cpu_fast back to back, median of 5; docs/benchmarks.md,
"CPU kernels"), taken while other jobs loaded the machine, so trust the ratios more than the
seconds.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from ssvad_keras.layers.same_padding import same_padding, slice_axis

# Values of `model.kernels` (ssvad_keras.config.ModelConfig.kernels).
KERNELS = ("auto", "reference", "cpu_fast")


@functools.cache
def accelerator_visible() -> bool:
    """Whether the backend sees a GPU or TPU (the one device test of the kernel switch).

    `keras.distribution.list_devices()` lists the accelerators when there are any and the CPUs
    otherwise; on TensorFlow it is `tf.config.list_logical_devices`, so TPUs count once the TPU
    system is initialised (as `TPUStrategy` does before a model is built in its scope).
    """
    return any(not device.lower().startswith("cpu") for device in keras.distribution.list_devices())


def resolve_kernels(kernels: str) -> str:
    """`"auto"` -> `"cpu_fast"` without an accelerator, `"reference"` with one; others unchanged.

    Args:
        kernels: str. One of `KERNELS`.

    Returns:
        `"reference"` or `"cpu_fast"`.

    Raises:
        ValueError: an unknown value.
    """
    if kernels not in KERNELS:
        raise ValueError(f"kernels must be one of {KERNELS}, got {kernels!r}")
    if kernels == "auto":
        return "reference" if accelerator_visible() else "cpu_fast"
    return kernels


# Kernels wider than this along an axis have their input gradient computed in blocks.
_BLOCK = 3


def _full_correlation(upstream, kernel):
    """`dx[q] = sum_t dy[q - t] w[t]` (dy zero outside its grid) as one "valid" convolution of the
    padded upstream gradient with the flipped, transposed kernel."""
    spatial = kernel.shape[:-2]
    rank = len(spatial)
    flipped = ops.flip(kernel, axis=tuple(range(rank)))
    flipped = ops.transpose(flipped, (*range(rank), rank + 1, rank))  # (..., C_out, C_in)
    padded = ops.pad(upstream, [(0, 0), *((k - 1, k - 1) for k in spatial), (0, 0)])
    return ops.conv(padded, flipped, strides=1, padding="valid")


def _input_gradient(upstream, kernel):
    """d(loss)/d(inputs): the full correlation of the upstream gradient with the kernel.

    Padding by `k - 1` makes most taps of a large kernel multiply zeros (for the 9x9
    primary-capsule kernel on a 20x20 grid, half the MACs). So a kernel wider than `_BLOCK`
    is cut into blocks of at most `_BLOCK` taps per axis: with `t = s + u`,
    `dx[q] = sum_s part_s[q - s]`, where `part_s` is the full correlation with block `s`
    alone; each part is padded into place and summed (1.2x instead of 2x the forward MACs).
    """
    spatial = kernel.shape[:-2]
    if max(spatial) <= _BLOCK:
        return _full_correlation(upstream, kernel)
    total = None
    for starts in itertools.product(*(range(0, k, _BLOCK) for k in spatial)):
        block = kernel[tuple(slice(s, s + _BLOCK) for s in starts)]
        part = _full_correlation(upstream, block)
        pads = [(s, k - m - s) for s, k, m in zip(starts, spatial, block.shape[:-2], strict=True)]
        part = ops.pad(part, [(0, 0), *pads, (0, 0)])
        total = part if total is None else total + part
    return total


def _kernel_gradient(inputs, upstream, kernel_size):
    """d(loss)/d(kernel): a "valid" convolution with batch and channels swapped.

    `dW[k, i, o] = sum_{b, p} x[b, p + k, i] dy[b, p, o]` is a convolution of the inputs, with
    their channels as the batch and their batch as the channels, by the upstream gradient used
    as a kernel; its output is the kernel gradient with the input channels as the batch.
    """
    rank = len(inputs.shape) - 2
    if kernel_size == (1,) * rank:
        # A 1x1 kernel: one (positions x C_in)^T (positions x C_out) product, no transposes
        # (1.6-2.6x faster than the swapped convolution at the encoder's 1x1x1 shapes).
        x = ops.reshape(inputs, (-1, inputs.shape[-1]))
        dy = ops.reshape(upstream, (-1, upstream.shape[-1]))
        grad = ops.einsum("ni,no->io", x, dy)
        return ops.reshape(grad, (*kernel_size, *grad.shape))
    x = ops.transpose(inputs, (rank + 1, *range(1, rank + 1), 0))  # (C_in, ..., B)
    dy = ops.transpose(upstream, (*range(1, rank + 1), 0, rank + 1))  # (..., B, C_out)
    grad = ops.conv(x, dy, strides=1, padding="valid")  # (C_in, k..., C_out)
    return ops.transpose(grad, (*range(1, rank + 1), 0, rank + 1))


def valid_conv(inputs, kernel):
    """`ops.conv(inputs, kernel, strides=1, padding="valid")` with forward-convolution gradients.

    The value is exactly `ops.conv`'s. The gradients are computed as two more forward
    convolutions instead of the backend's gradient kernels: the input gradient as the padded
    upstream gradient correlated with the flipped, transposed kernel, the kernel gradient as a
    convolution with batch and channels swapped. Equal up to summation order. On TensorFlow's
    CPU kernels (2 cores, the paper preset's shapes, 16 clips) this makes the input gradient of
    a 3x3x3 convolution 2.8x faster (4.28 -> 1.51 s at 4x112x112x64), those of the 9x9
    primary-capsule convolution 2.2x (input, in blocks: 7.0 -> 3.2 s) and 1.5x (kernel,
    4.3 -> 2.9 s); 3x3x3 kernel gradients are 1.0-1.17x, 1x1x1 ones (a single matrix
    product) 1.0-1.2x faster. Training steps: tiny 0.79 -> 0.40 s, paper 42.0 -> 36.7 s
    (docs/benchmarks.md).

    Args:
        inputs: (batch, *spatial, C_in) tensor, channels last, 1-3 spatial axes.
        kernel: (*kernel_spatial, C_in, C_out) tensor.

    Returns:
        (batch, *(spatial - kernel_spatial + 1), C_out) tensor.

    Example:

    >>> x = keras.ops.ones((2, 5, 5, 3))
    >>> tuple(valid_conv(x, keras.ops.ones((3, 3, 3, 4))).shape)
    (2, 3, 3, 4)
    """

    @ops.custom_gradient
    def conv(x, w):
        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            upstream = ops.cast(upstream, x.dtype)
            return _input_gradient(upstream, w), _kernel_gradient(x, upstream, tuple(w.shape[:-2]))

        return ops.conv(x, w, strides=1, padding="valid"), grad

    # A tensor, not a variable (`copy` is an identity read on TensorFlow): the custom gradient
    # then returns the kernel's gradient as an input's, and the read carries it to the weights.
    return conv(inputs, ops.copy(kernel))


def _shifted_kernel_gradient(inputs, upstream, kernel_size):
    """One sample's kernel gradient: one matrix product per kernel tap.

    `dW[k] = sum_q x[q] dy[q - k]`, with `dy` zero outside the output: each tap is the product
    (positions x C_in)^T (positions x C_out) of the whole input with a window of the padded
    upstream gradient. (With a kernel per sample, `_kernel_gradient`'s batch-swapped
    convolution would contract a single "channel".) Windows are taken from the upstream
    gradient, not the input, because it is the narrower of the two in the decoder: the input
    windows added 1.07 GB to the paper preset's allocator peak at batch 4, `ops.map` (TensorFlow's
    `map_fn`) running up to ten samples at once.
    """
    in_size = inputs.shape[:-1]
    padded = ops.pad(upstream, [(k - 1, k - 1) for k in kernel_size] + [(0, 0)])
    x = ops.reshape(inputs, (-1, inputs.shape[-1]))
    taps = []
    for offset in itertools.product(*(range(k) for k in kernel_size)):
        window = padded[
            tuple(
                slice(k - 1 - o, k - 1 - o + n)
                for o, k, n in zip(offset, kernel_size, in_size, strict=True)
            )
        ]
        taps.append(ops.einsum("ni,no->io", x, ops.reshape(window, (-1, upstream.shape[-1]))))
    grad = ops.stack(taps)
    return ops.reshape(grad, (*kernel_size, *grad.shape[1:]))


def per_sample_valid_conv(inputs, kernels):
    """`valid_conv` with a different kernel for every sample of the batch.

    Args:
        inputs: (batch, *spatial, C_in) tensor, channels last, 1-3 static spatial axes.
        kernels: (batch, *kernel_spatial, C_in, C_out) tensor.

    Returns:
        (batch, *(spatial - kernel_spatial + 1), C_out) tensor: sample `b` convolved with
        `kernels[b]`.

    The forward pass maps `ops.conv` over the batch; the backward pass maps the input gradient
    (a forward convolution, as in `valid_conv`) and the kernel gradient, as one matrix product
    per kernel tap (`_shifted_kernel_gradient`), over the batch. For the decoder's fused
    output head at the paper preset's shapes (16 clips of 5x113x113x128, 2x2x2 kernels to 64
    channels) forward + backward take 3.3 s instead of 5.0 s with a map of `ops.conv` and
    TensorFlow's gradients.

    Example:

    >>> x = keras.ops.ones((2, 4, 4, 3))
    >>> tuple(per_sample_valid_conv(x, keras.ops.ones((2, 2, 2, 3, 5))).shape)
    (2, 3, 3, 5)
    """

    @ops.custom_gradient
    def conv(x, w):
        kernel_size = tuple(w.shape[1:-2])

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            upstream = ops.cast(upstream, x.dtype)
            dx = ops.map(lambda a: _input_gradient(a[0][None], a[1])[0], (upstream, w))
            dw = ops.map(lambda a: _shifted_kernel_gradient(a[0], a[1], kernel_size), (x, upstream))
            return dx, dw

        y = ops.map(lambda a: ops.conv(a[0][None], a[1], strides=1, padding="valid")[0], (x, w))
        return y, grad

    return conv(inputs, ops.copy(kernels))


def strided_same_conv3d(inputs, kernel, strides: Sequence[int]):
    """A strided 3D convolution with TF "SAME" padding, computed as a stride-1 convolution.

    Space-to-depth: the padded input is cut into `strides`-sized blocks stacked on channels and
    the kernel (zero-padded to a multiple of the strides) is rearranged to match, so
    `out[o] = sum_k w[k] x[s o + k]` becomes a stride-1 "valid" convolution with kernel
    `ceil(k / s)`. The result equals the strided convolution exactly (up to summation order);
    we use it because TensorFlow's CPU gradients of strided 3D convolutions are 5-40x slower
    than those of stride-1 ones. Time, height and width must be static.

    Args:
        inputs: (batch, T, H, W, C_in) tensor.
        kernel: (kt, kh, kw, C_in, C_out) tensor.
        strides: 3 ints.

    Returns:
        (batch, ceil(T / st), ceil(H / sh), ceil(W / sw), C_out) tensor.
    """
    k = tuple(kernel.shape[:3])
    c_in, c_out = kernel.shape[3], kernel.shape[4]
    blocks = [-(-kk // ss) for kk, ss in zip(k, strides, strict=True)]
    # Kernel: (q s, ...) -> (q, s, ...) -> blocks first, in-block offsets with the channels.
    kernel = ops.pad(
        kernel, [(0, q * s - kk) for q, s, kk in zip(blocks, strides, k, strict=True)] + [(0, 0)] * 2
    )
    kernel = ops.reshape(
        kernel, (blocks[0], strides[0], blocks[1], strides[1], blocks[2], strides[2], c_in, c_out)
    )
    kernel = ops.transpose(kernel, (0, 2, 4, 1, 3, 5, 6, 7))
    kernel = ops.reshape(kernel, (*blocks, strides[0] * strides[1] * strides[2] * c_in, c_out))
    # Input: SAME padding, then zeros at the end up to whole blocks covering every output.
    pads, lengths = [], []
    for n, kk, s, q in zip(inputs.shape[1:4], k, strides, blocks, strict=True):
        before, _ = same_padding(n, kk, s)
        length = (-(-n // s) + q - 1) * s
        pads.append((before, length - n - before))
        lengths.append(length // s)
    x = ops.pad(inputs, [(0, 0), *pads, (0, 0)])
    channels = inputs.shape[-1]
    x = ops.reshape(
        x, (-1, lengths[0], strides[0], lengths[1], strides[1], lengths[2], strides[2], channels)
    )
    x = ops.transpose(x, (0, 1, 3, 5, 2, 4, 6, 7))
    x = ops.reshape(x, (-1, *lengths, strides[0] * strides[1] * strides[2] * channels))
    return valid_conv(x, kernel)


def cropped_same_conv3d(inputs, kernel):
    """A stride-1 "SAME" 3D convolution that skips the taps that only ever see padding.

    Along an axis shorter than the kernel (time is 1 step from `Mixed_4b` on at 8 frames),
    the outer taps multiply zero padding at every output position; dropping them gives the
    same result (their gradient stays exactly zero) at a fraction of the cost: 3x fewer MACs
    for the 3x3x3 convolutions of `Mixed_4b`-`Mixed_4f`, forward and backward.

    Args:
        inputs: (batch, T, H, W, C_in) tensor with static T, H, W.
        kernel: (kt, kh, kw, C_in, C_out) tensor.

    Returns:
        (batch, T, H, W, C_out) tensor, equal to `ops.conv(inputs, kernel, padding="same")`.
    """
    crops, pads = [], []
    for n, k in zip(inputs.shape[1:4], kernel.shape[:3], strict=True):
        before, after = same_padding(n, k, 1)
        low, high = max(0, before - n + 1), min(k - 1, before + n - 1)  # taps reaching input
        crops.append(slice(low, high + 1))
        pads.append((before - low, after - (k - 1 - high)))
    kernel = kernel[tuple(crops)]
    x = ops.pad(inputs, [(0, 0), *pads, (0, 0)])
    return valid_conv(x, kernel)


def separable_max_pool3d(inputs, pool_size: Sequence[int], strides: Sequence[int]):
    """Zero-padded TF-"SAME" 3D max-pooling computed as maxima of output-sized slices.

    A box max is separable: one window axis at a time. Along an axis, window o covers
    x[s o + j], j < k; folding the axis into (cells, s) makes that `fold[o + j // s, j % s]`,
    so the window max is the maximum of k contiguous, output-sized slices. Same values as
    `ops.max_pool` of the zero-padded input; the gradient is elementwise selects and pads
    instead of TensorFlow's CPU `MaxPool3DGrad`, and only output-sized slices are kept for it.
    It also runs in float16, which TensorFlow's CPU `MaxPool3D` does not.

    Args:
        inputs: (batch, T, H, W, C) tensor with static T, H, W.
        pool_size: 3 ints, the window (time, height, width).
        strides: 3 ints.

    Returns:
        (batch, ceil(T / st), ceil(H / sh), ceil(W / sw), C) tensor.
    """
    spatial = inputs.shape[1:4]
    pads = [same_padding(n, k, s) for n, k, s in zip(spatial, pool_size, strides, strict=True)]
    x = ops.pad(inputs, [(0, 0), *pads, (0, 0)])
    for axis, (n, k, s) in enumerate(zip(spatial, pool_size, strides, strict=True), 1):
        out = -(-n // s)
        cells = out + (k - 1) // s
        length = x.shape[axis]
        if length != cells * s:  # zeros past the last window, or cut what no window reads
            pad = [(0, 0)] * 5
            pad[axis] = (0, max(0, cells * s - length))
            x = slice_axis(ops.pad(x, pad), axis, 0, cells * s)
        shape = [-1, *x.shape[1:]]
        folded = ops.reshape(x, (*shape[:axis], cells, s, *shape[axis + 1 :]))
        pooled = None
        for j in range(k):
            window = slice_axis(slice_axis(folded, axis, j // s, out), axis + 1, j % s, 1)
            pooled = window if pooled is None else ops.maximum(pooled, window)
        x = ops.squeeze(pooled, axis + 1)
    return x


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
