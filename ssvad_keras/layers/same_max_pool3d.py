"""3D max-pooling with TensorFlow "SAME" geometry and zero padding, as the I3D port pools."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Padding (before, after) that TensorFlow's "SAME" adds to one axis.

    The output has `ceil(size / stride)` elements; when the total padding is odd the extra
    element goes at the end.

    Args:
        size: int. Input length along the axis.
        kernel: int. Window length.
        stride: int. Window stride.

    Example:

    >>> same_padding(56, 3, 2)
    (0, 1)
    """
    if size % stride == 0:
        total = max(kernel - stride, 0)
    else:
        total = max(kernel - size % stride, 0)
    return total // 2, total - total // 2


def slice_axis(x, axis: int, start: int, length: int):
    """`x[..., start : start + length, ...]` along `axis`, as a contiguous slice (cheap gradient)."""
    begin = [0] * len(x.shape)
    begin[axis] = start
    size = [-1 if n is None else n for n in x.shape]  # -1: dynamic batch (TensorFlow)
    size[axis] = length
    return ops.slice(x, begin, size)


@keras.saving.register_keras_serializable(package="ssvad")
class SameMaxPool3D(keras.layers.Layer):
    """Max-pooling over (time, height, width) that pads with zeros to TF "SAME" output size.

    DeepMind's I3D pools with `padding="SAME"` (padding ignored); the PyTorch port instead pads
    the input with zeros (`MaxPool3dSamePadding`). Both agree on I3D's post-ReLU features; we pad
    with zeros so that converted PyTorch weights reproduce the port exactly on any input.
    Spatial sizes must be known when the layer is built.

    Args:
        pool_size: int or 3-tuple. Window (time, height, width).
        strides: int or 3-tuple. Strides (time, height, width).
        **kwargs: standard `keras.layers.Layer` arguments.

    Example:

    >>> pool = SameMaxPool3D((1, 3, 3), (1, 2, 2))
    >>> pool(keras.ops.ones((1, 4, 7, 7, 2))).shape
    (1, 4, 4, 4, 2)
    """

    def __init__(self, pool_size: int | Sequence[int], strides: int | Sequence[int], **kwargs):
        super().__init__(**kwargs)
        self.pool_size = (pool_size,) * 3 if isinstance(pool_size, int) else tuple(pool_size)
        self.strides = (strides,) * 3 if isinstance(strides, int) else tuple(strides)

    def call(self, inputs):
        spatial = inputs.shape[1:4]
        if any(n is None for n in spatial):
            raise ValueError(f"{self.name}: time, height and width must be static, got {spatial}")
        pads = [same_padding(n, k, s) for n, k, s in zip(spatial, self.pool_size, self.strides, strict=True)]
        x = ops.pad(inputs, [(0, 0), *pads, (0, 0)])
        # A box max is separable: one window axis at a time. Along an axis, window o covers
        # x[s o + j], j < k; folding the axis into (cells, s) makes that `fold[o + j // s,
        # j % s]`, so the window max is the maximum of k contiguous, output-sized slices.
        # Same values as `ops.max_pool`; the gradient is elementwise selects and pads instead
        # of TensorFlow's CPU MaxPool3DGrad (which took ~7x the forward time of a whole I3D
        # inception module), and only output-sized slices are kept for it. It also runs in
        # float16, which TF's CPU MaxPool3D does not.
        for axis, (n, k, s) in enumerate(zip(spatial, self.pool_size, self.strides, strict=True), 1):
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

    def compute_output_shape(self, input_shape):
        batch, *spatial, channels = input_shape
        out = [None if n is None else -(-n // s) for n, s in zip(spatial, self.strides, strict=True)]
        return (batch, *out, channels)

    def get_config(self):
        config = super().get_config()
        config.update({"pool_size": self.pool_size, "strides": self.strides})
        return config
