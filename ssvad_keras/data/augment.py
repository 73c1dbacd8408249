"""The augmented view: invertible transforms recorded per clip, plus photometric jitter.

The consistency losses (paper Eq. 1-6) compare predictions on a clip with predictions on its
augmented view *mapped back* to the clip's frame of reference. Each invertible transform is
therefore a pair (forward, inverse) over a known axis, applied per sample according to a boolean
parameter that travels with the batch (`hflip`, `time_reverse`). Adding a transform means adding
one `InvertibleTransform` to `VIDEO_TRANSFORMS` and one parameter to the batch.

Photometric jitter (brightness, contrast) changes only pixel values, not where things are, so it
is applied to the augmented view's input but never inverted.

Everything here uses `keras.ops`, so the training step can call it on any backend.

    from ssvad_keras.data.augment import apply_view, invert_view
    aug = apply_view(clip, hflip, time_reverse)            # (B, T, H, W, C)
    back = invert_view(model(aug)["masks"], hflip, time_reverse)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import keras
from keras import ops


@dataclass(frozen=True)
class InvertibleTransform:
    """A per-sample transform of a batch and its exact inverse.

    Attributes:
        name: the batch key of its boolean (B,) parameter, e.g. "hflip".
        forward: maps a (B, ...) tensor to its transformed version (all samples).
        inverse: undoes `forward`.
    """

    name: str
    forward: Callable[[keras.KerasTensor], keras.KerasTensor]
    inverse: Callable[[keras.KerasTensor], keras.KerasTensor]


def _flip(axis: int) -> Callable:
    return lambda x: ops.flip(x, axis=axis)


# Order matters only for transforms that do not commute; inversion runs in reverse order.
VIDEO_TRANSFORMS: tuple[InvertibleTransform, ...] = (
    InvertibleTransform("hflip", _flip(3), _flip(3)),  # (B, T, H, W, C): width is axis 3
    InvertibleTransform("time_reverse", _flip(1), _flip(1)),
)
GRID_TRANSFORMS: tuple[InvertibleTransform, ...] = (
    InvertibleTransform("hflip", _flip(2), _flip(2)),  # (B, H, W, C): width is axis 2
)


def _select(flag, transformed, original):
    """Per-sample choice between two (B, ...) tensors by a (B,) boolean."""
    flag = ops.cast(flag, "bool")
    shape = (-1,) + (1,) * (len(original.shape) - 1)
    return ops.where(ops.reshape(flag, shape), transformed, original)


def apply_transforms(
    x, params: Mapping[str, object], transforms: Sequence[InvertibleTransform]
):
    """Apply each transform to the samples whose parameter is True.

    Args:
        x: batch tensor whose layout matches `transforms`.
        params: transform name -> (B,) boolean tensor.
        transforms: the transforms, applied in order.

    Returns:
        Tensor of the same shape as `x`.
    """
    for transform in transforms:
        x = _select(params[transform.name], transform.forward(x), x)
    return x


def invert_transforms(
    y, params: Mapping[str, object], transforms: Sequence[InvertibleTransform]
):
    """Undo `apply_transforms` (inverses applied in reverse order)."""
    for transform in reversed(transforms):
        y = _select(params[transform.name], transform.inverse(y), y)
    return y


def apply_view(x, hflip, time_reverse):
    """Build the augmented view of a batch of clips.

    Flips the width axis of the samples with `hflip` and the time axis of those with
    `time_reverse`.

    Args:
        x: clips or per-frame maps, shape (B, T, H, W, C).
        hflip: (B,) booleans, flip horizontally.
        time_reverse: (B,) booleans, reverse frame order.

    Returns:
        The transformed tensor, shape (B, T, H, W, C).

    Example:
    >>> import numpy as np
    >>> x = np.arange(8, dtype="float32").reshape(1, 2, 1, 4, 1)
    >>> y = apply_view(x, np.array([True]), np.array([False]))
    >>> np.asarray(y)[0, 0, 0, :, 0].tolist()
    [3.0, 2.0, 1.0, 0.0]
    """
    return apply_transforms(x, {"hflip": hflip, "time_reverse": time_reverse}, VIDEO_TRANSFORMS)


def apply_view_to_clip(x, hflip, time_reverse):
    """`apply_view` for one clip (T, H, W, C) with scalar flags, as the input pipeline uses it.

    A branch per transform instead of a per-pixel select: on a CPU the select costs more than
    the flip itself.

    Args:
        x: one clip, shape (T, H, W, C).
        hflip: scalar boolean.
        time_reverse: scalar boolean.

    Returns:
        The transformed clip, shape (T, H, W, C); equal to `apply_view(x[None], ...)[0]`.
    """
    params = {"hflip": hflip, "time_reverse": time_reverse}
    for transform in VIDEO_TRANSFORMS:
        x = ops.cond(
            ops.cast(params[transform.name], "bool"),
            lambda x=x, transform=transform: transform.forward(x[None])[0],
            lambda x=x: x,
        )
    return x


def invert_view(y, hflip, time_reverse):
    """Map a prediction on the augmented view back to the clip's frame of reference.

    `invert_view(apply_view(x, f, r), f, r) == x` for every combination of `f` and `r`.

    Args:
        y: predictions on the augmented view, shape (B, T, H, W, C), e.g. mask logits.
        hflip: the (B,) `hflip` the view was built with.
        time_reverse: the (B,) `time_reverse` the view was built with.

    Returns:
        Tensor of the same shape, aligned with the original clip.

    Example:
    >>> import numpy as np
    >>> x = np.random.rand(2, 4, 3, 5, 1).astype("float32")
    >>> f, r = np.array([True, False]), np.array([True, True])
    >>> bool(np.allclose(invert_view(apply_view(x, f, r), f, r), x))
    True
    """
    return invert_transforms(y, {"hflip": hflip, "time_reverse": time_reverse}, VIDEO_TRANSFORMS)


def invert_view_spatial(y, hflip):
    """Map an augmented view's (B, H, W, C) feature grid (e.g. class capsules) back.

    Time has been pooled away in such grids, so only spatial transforms are undone.

    Args:
        y: grid from the augmented view, shape (B, H, W, C).
        hflip: the (B,) `hflip` the view was built with.

    Returns:
        Tensor of the same shape, aligned with the original clip's grid.

    Example:
    >>> import numpy as np
    >>> g = np.arange(3, dtype="float32").reshape(1, 1, 3, 1)
    >>> np.asarray(invert_view_spatial(g, np.array([True])))[0, 0, :, 0].tolist()
    [2.0, 1.0, 0.0]
    """
    return invert_transforms(y, {"hflip": hflip}, GRID_TRANSFORMS)


def photometric_jitter(x, brightness_delta, contrast_factor):
    """Shift brightness and scale contrast of clips in [0, 1]; the result is clipped to [0, 1].

    Computes `clip((x - mean) * contrast_factor + mean + brightness_delta, 0, 1)` where `mean`
    is each sample's mean over all its frames and pixels (one change per clip, so motion is
    not disturbed).

    Args:
        x: clips (B, T, H, W, C) in [0, 1].
        brightness_delta: (B,) additive shifts.
        contrast_factor: (B,) multiplicative contrast factors (1 = unchanged).

    Returns:
        Jittered clips, same shape, in [0, 1].

    Example:
    >>> import numpy as np
    >>> x = np.full((1, 1, 1, 2, 1), 0.5, "float32")
    >>> np.asarray(photometric_jitter(x, np.array([0.1]), np.array([2.0]))).ravel().tolist()
    [0.6000000238418579, 0.6000000238418579]
    """
    shape = (-1,) + (1,) * (len(x.shape) - 1)
    mean = ops.mean(x, axis=tuple(range(1, len(x.shape))), keepdims=True)
    factor = ops.reshape(ops.cast(contrast_factor, x.dtype), shape)
    delta = ops.reshape(ops.cast(brightness_delta, x.dtype), shape)
    return ops.clip((x - mean) * factor + mean + delta, 0.0, 1.0)
