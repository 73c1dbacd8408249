"""Attention masks for the localization consistency: temporal variance and gradient smoothness.

Both masks (paper Eq. 4 and Eq. 6) are computed from the model's own mask predictions, carry no
gradient, and are min-max normalised per clip to [0, 1]. They are computed with `keras.ops` on the
whole batch at once, so they run inside the compiled training step; the released PyTorch code
copies predictions to NumPy and loops over samples and frames.

Layout: channels-last mask tensors of shape (B, T, H, W, 1).
"""

from __future__ import annotations

import numpy as np
from keras import ops

_CLIP_AXES = (1, 2, 3, 4)


def minmax_per_clip(x):
    """Min-max normalise each clip of a (B, T, H, W, 1) tensor to [0, 1].

    Computes `(x - min) / (max - min)` with the extremes taken over all frames and pixels of each
    clip. A constant clip (max == min) gives an all-zero mask instead of NaN: it has no region
    that deserves more attention than another. (The released code divides by `range + 1e-7`,
    which also gives 0 there and differs from this by at most 1e-7 / range elsewhere.)

    Args:
        x: float tensor (B, T, H, W, 1).

    Returns:
        Float tensor of the same shape with values in [0, 1].

    Example:
    >>> m = minmax_per_clip(keras.ops.ones((2, 8, 4, 4, 1)))  # all zeros
    """
    lo = ops.min(x, axis=_CLIP_AXES, keepdims=True)
    hi = ops.max(x, axis=_CLIP_AXES, keepdims=True)
    span = hi - lo
    has_span = span > 0
    # Double `where` keeps the unused branch finite, so no NaN can leak into any gradient.
    safe_span = ops.where(has_span, span, ops.ones_like(span))
    return ops.where(has_span, (x - lo) / safe_span, ops.zeros_like(x))


def _windowed_variance(sequence, window: int, cyclic: bool):
    """Variance (ddof 0) over a centred window of `window` frames at every position of axis 1.

    `cyclic=True` wraps around the ends of the sequence; `cyclic=False` truncates the window at
    the ends, so the variance there is over the frames that exist. The window offsets are a
    static Python loop of `window` steps (3 or 5); everything else is batched.
    """
    length = int(sequence.shape[1])
    radius = window // 2
    positions = np.arange(length)
    frames, weights = [], []
    for offset in range(-radius, radius + 1):
        index = positions + offset
        if cyclic:
            frames.append(ops.take(sequence, index % length, axis=1))
            weights.append(None)
        else:
            inside = (index >= 0) & (index < length)
            frames.append(ops.take(sequence, np.clip(index, 0, length - 1), axis=1))
            weights.append(ops.convert_to_tensor(inside.astype("float32").reshape(1, length, 1, 1, 1)))
    if cyclic:
        mean = sum(frames) / float(window)
        return sum(ops.square(f - mean) for f in frames) / float(window)
    count = sum(weights)
    mean = sum(w * f for w, f in zip(weights, frames, strict=True)) / count
    return sum(w * ops.square(f - mean) for w, f in zip(weights, frames, strict=True)) / count


def cyclic_variance(loc, aug_loc, window: int = 5):
    """Cyclic temporal variance of a clip and its augmented view, folded back to the clip's frames.

    The clip's T frames followed by frames T-2, T-3, ..., 1 of the augmented view (already mapped
    back to the clip's geometry, i.e. frames 1..T-2 reversed in time) form a cycle of 2T-2 frames
    that runs forwards through the clip and back through the other view. The variance over a
    centred, wrapping window of `window` frames is taken at each of the 2T-2 positions (Eq. 4),
    then folded back: frame k in 1..T-2 sits at cycle position k and its augmented twin at
    position 2T-2-k, so it gets the sum of both; frames 0 and T-1 appear once in the cycle and
    get twice their own value, as in the released code. Not normalised.

    Args:
        loc: (B, T, H, W, 1) predictions of the clip (logits or probabilities), T >= 2.
        aug_loc: (B, T, H, W, 1) predictions of the augmented view, mapped back.
        window: frames in the variance window (odd; the paper uses 5, or 3).

    Returns:
        (B, T, H, W, 1) float tensor of folded variances.

    Example:
    >>> v = cyclic_variance(loc, aug_loc, window=5)
    """
    frames = int(loc.shape[1])
    cycle = ops.concatenate([loc, ops.flip(aug_loc[:, 1 : frames - 1], axis=1)], axis=1)
    variance = _windowed_variance(cycle, window, cyclic=True)
    cycle_length = 2 * frames - 2
    twin = (cycle_length - np.arange(frames)) % cycle_length  # 0 -> 0 and T-1 -> T-1: doubled
    return variance[:, :frames] + ops.take(variance, twin, axis=1)


def temporal_variance_mask(loc, aug_loc, window: int = 5, cyclic: bool = True):
    """Temporal-coherence attention M_var (paper Eq. 4), min-max normalised per clip.

    `cyclic=True` (Table 2 "VC", the default): the folded cyclic variance of the clip and its
    augmented view (see `cyclic_variance`). `cyclic=False` (Table 2 "V"): the variance of the
    clip's own predictions over a centred window that stays inside the clip, truncated at its
    ends; `aug_loc` is not used. Computed without gradient.

    Args:
        loc: (B, T, H, W, 1) predictions of the clip (logits or probabilities: the caller
            decides; the paper's code uses logits by default).
        aug_loc: (B, T, H, W, 1) predictions of the augmented view, mapped back.
        window: frames in the variance window, 3 or 5.
        cyclic: use the cyclic sequence through the augmented view.

    Returns:
        (B, T, H, W, 1) float32 attention in [0, 1], constant clips giving 0.

    Example:
    >>> mask = temporal_variance_mask(logits, aug_logits, window=5, cyclic=True)
    """
    loc = ops.stop_gradient(ops.cast(loc, "float32"))
    aug_loc = ops.stop_gradient(ops.cast(aug_loc, "float32"))
    if cyclic:
        variance = cyclic_variance(loc, aug_loc, window)
    else:
        variance = _windowed_variance(loc, window, cyclic=False)
    return ops.stop_gradient(minmax_per_clip(variance))


def temporal_gradient(x):
    """First derivative along axis 1 exactly as `numpy.gradient(x, axis=1)` (unit spacing).

    Central differences (x[t+1] - x[t-1]) / 2 inside (Eq. 6), one-sided differences x[1] - x[0]
    and x[T-1] - x[T-2] at the ends. Needs T >= 2.
    """
    first = x[:, 1:2] - x[:, 0:1]
    last = x[:, -1:] - x[:, -2:-1]
    if int(x.shape[1]) == 2:
        return ops.concatenate([first, last], axis=1)
    inner = (x[:, 2:] - x[:, :-2]) * 0.5
    return ops.concatenate([first, inner, last], axis=1)


def gradient_smoothness_mask(probs, lower: float | None = None, upper: float | None = None):
    """Gradient-smoothness attention M_grad (paper Eq. 5-6), min-max normalised per clip.

    The second temporal derivative of the predicted probabilities, obtained by applying the
    central-difference gradient twice (`numpy.gradient` twice along time, as the released code
    does), kept signed, then min-max normalised per clip. Optional confidence clamps first set
    probabilities below `lower` to 0 and above `upper` to 1. Computed without gradient.

    Args:
        probs: (B, T, H, W, 1) sigmoid probabilities of the clip's mask, T >= 2.
        lower: probabilities below this become 0; None disables.
        upper: probabilities above this become 1; None disables.

    Returns:
        (B, T, H, W, 1) float32 attention in [0, 1], constant clips giving 0.

    Example:
    >>> mask = gradient_smoothness_mask(keras.ops.sigmoid(logits), lower=0.1, upper=0.9)
    """
    probs = ops.stop_gradient(ops.cast(probs, "float32"))
    if lower is not None:
        probs = ops.where(probs < lower, ops.zeros_like(probs), probs)
    if upper is not None:
        probs = ops.where(probs > upper, ops.ones_like(probs), probs)
    second = temporal_gradient(temporal_gradient(probs))
    return ops.stop_gradient(minmax_per_clip(second))
