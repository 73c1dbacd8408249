"""Independent NumPy references for the loss tests, written in the released code's style."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np


def released_cyclic_variance(loc: np.ndarray, aug_loc: np.ndarray, window: int) -> np.ndarray:
    """The released `measure_pixelwise_var_v2`, rewritten channels-last, any T: loops per sample
    and per position, `np.take` with negative (wrapping) indices, fold, min-max with + 1e-7.

    `aug_loc` is the augmented view mapped back but *not* reversed; the released caller reverses
    it in time before the call ("clockwise" mask), so we do the same here.
    """
    batch, frames = loc.shape[:2]
    length = 2 * frames - 2
    out = np.zeros(loc.shape, dtype=np.float64)
    radius = window // 2
    for b in range(batch):
        reversed_aug = aug_loc[b][::-1]
        cycle = np.concatenate([loc[b], reversed_aug[1 : frames - 1]], axis=0).astype(np.float64)
        variance = np.zeros_like(cycle)
        for pos in range(length):
            indices = [(pos + k) % length for k in range(-radius, radius + 1)]
            variance[pos] = np.var(np.take(cycle, indices, axis=0), axis=0)
        folded = np.zeros((frames,) + cycle.shape[1:])
        for k in range(frames):
            if k in (0, frames - 1):
                folded[k] = 2 * variance[k]
            else:
                folded[k] = variance[k] + variance[length - k]
        folded -= folded.min()
        folded /= folded.max() - folded.min() + 1e-7
        out[b] = folded
    return out


def released_gradient_mask(probs: np.ndarray, lower=None, upper=None) -> np.ndarray:
    """The released `measure_pixelwise_gradient` (on probabilities), channels-last, per sample."""
    out = np.zeros(probs.shape, dtype=np.float64)
    for b in range(probs.shape[0]):
        clip = probs[b].astype(np.float64).copy()
        if lower is not None:
            clip[clip < lower] = 0
        if upper is not None:
            clip[clip > upper] = 1
        second = np.gradient(np.gradient(clip, axis=0), axis=0)
        second -= second.min()
        second /= second.max() - second.min() + 1e-7
        out[b] = second
    return out


def clip_from_frames(values, batch: int = 1) -> np.ndarray:
    """A (batch, T, 1, 1, 1) float32 clip from per-frame values of a single pixel."""
    arr = np.asarray(values, dtype=np.float32).reshape(1, -1, 1, 1, 1)
    return np.repeat(arr, batch, axis=0)
