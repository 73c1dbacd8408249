"""TensorFlow "SAME" padding geometry and contiguous axis slices, shared by layers and kernels."""

from __future__ import annotations

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
