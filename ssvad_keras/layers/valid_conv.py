"""A stride-1 "valid" convolution whose backward pass is made of forward convolutions."""

from __future__ import annotations

import itertools

import keras
from keras import ops

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
    (README, Benchmarks).

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


@keras.saving.register_keras_serializable(package="ssvad")
class ValidConv2D(keras.layers.Conv2D):
    """`Conv2D(padding="valid")` whose stride-1 case runs through `valid_conv`.

    Same weights, same results; only the gradients' arithmetic route differs (faster on CPU).
    """

    def convolution_op(self, inputs, kernel):
        plain = (
            self.padding == "valid"
            and self.groups == 1
            and self.data_format == "channels_last"
            and all(s == 1 for s in self.strides)
            and all(d == 1 for d in self.dilation_rate)
        )
        if plain:
            return valid_conv(inputs, kernel)
        return super().convolution_op(inputs, kernel)


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
