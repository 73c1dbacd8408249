"""The student's strong view of a mean-teacher run: photometric changes of the weak view.

Stable Mean Teacher (Kumar et al., AAAI 2025) trains the student on a strong view and the
teacher on a weak one. Here the strong view is computed *from the weak view's pixels*, inside
the compiled train step, by transforms that change pixel values only (never where a pixel is):
the two views share the crop, the flip and the frame order by construction, so no prediction
has to be mapped back.

Per clip (the same for every frame, so motion is untouched), in this order, each drawn
independently:
- colour jitter: brightness x b, contrast around the clip's mean grey level x c, saturation
  around each pixel's grey level x s (b, c, s in `jitter_range`), hue turned by h in
  [-hue_delta, hue_delta] of a full turn; each with `jitter_probability`; the result is clipped
  to [0, 1] after each step (as torchvision's `ColorJitter`, in a fixed order);
- grayscale with `grayscale_probability` (ITU-R 601 luma in all three channels);
- Gaussian blur with `blur_probability`, sigma drawn in `blur_sigma` (pixels), separable,
  reflected at the borders.

`draw_strong_view_params` draws the parameters statelessly from a seed, so a resumed run sees the
same views as an uninterrupted one; `strong_view` applies them with `keras.ops`.

    params = draw_strong_view_params(batch_size, config.data.augment.strong, seed)
    strong = strong_view(weak_clip, params)     # (B, T, H, W, 3) in [0, 1]
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf
from keras import ops

from ssvad_keras.config import StrongAugmentConfig

# ITU-R 601 luma, as torchvision's rgb_to_grayscale.
LUMA = (0.299, 0.587, 0.114)
PARAM_KEYS = ("brightness", "contrast", "saturation", "hue", "grayscale", "blur_sigma")


def draw_strong_view_params(batch_size, config: StrongAugmentConfig, seed) -> dict:
    """Per-clip parameters of the strong view, drawn from a stateless seed.

    Args:
        batch_size: clips B (an int or a scalar tensor).
        config: probabilities and ranges (`data.augment.strong`).
        seed: (2,) int32/int64 tensor; the same seed gives the same parameters.

    Returns:
        Dict of (B,) float32 tensors: `brightness`, `contrast`, `saturation` (factors, 1 when
        not applied), `hue` (turns, 0 when not applied), `grayscale` (0/1) and `blur_sigma`
        (pixels, 0 when not applied).

    Example:
    >>> p = draw_strong_view_params(4, StrongAugmentConfig(), tf.constant([0, 7]))
    """
    draws = tf.random.stateless_uniform([batch_size, 10], seed=seed, dtype=tf.float32)
    lo, hi = config.jitter_range

    def factor(column: int):
        applied = draws[:, column] < config.jitter_probability
        return tf.where(applied, lo + (hi - lo) * draws[:, column + 1], 1.0)

    hue = tf.where(
        draws[:, 6] < config.jitter_probability, (2.0 * draws[:, 7] - 1.0) * config.hue_delta, 0.0
    )
    sigma_lo, sigma_hi = config.blur_sigma
    # One draw decides blur and gives its sigma (rescaled to [0, 1) below the probability).
    blur_draw = draws[:, 9] / max(config.blur_probability, 1e-12)
    blur_sigma = tf.where(
        draws[:, 9] < config.blur_probability, sigma_lo + (sigma_hi - sigma_lo) * blur_draw, 0.0
    )
    return {
        "brightness": factor(0),
        "contrast": factor(2),
        "saturation": factor(4),
        "hue": hue,
        "grayscale": tf.cast(draws[:, 8] < config.grayscale_probability, tf.float32),
        "blur_sigma": blur_sigma,
    }


def _per_clip(values, like):
    """(B,) -> (B, 1, 1, 1, 1) in `like`'s dtype, to broadcast over a clip."""
    return ops.reshape(ops.cast(values, like.dtype), (-1, 1, 1, 1, 1))


def luma(x):
    """(..., 3) RGB -> (..., 1) grey level (ITU-R 601)."""
    weights = ops.convert_to_tensor(np.asarray(LUMA, np.float32).reshape(1, 1, 1, 1, 3), dtype=x.dtype)
    return ops.sum(x * weights, axis=-1, keepdims=True)


def adjust_hue(x, turns):
    """Turn the hue of each clip (B, T, H, W, 3) in [0, 1] by `turns` (B,) of a full circle."""
    b, t, h, w, c = (int(n) if n is not None else -1 for n in x.shape)
    frames = ops.reshape(x, (-1, h, w, c))
    hsv = ops.image.rgb_to_hsv(frames, data_format="channels_last")
    shift = ops.reshape(ops.repeat(ops.cast(turns, x.dtype), t), (-1, 1, 1))
    hue = hsv[..., 0] + shift
    hue = hue - ops.floor(hue)
    turned = ops.image.hsv_to_rgb(ops.stack([hue, hsv[..., 1], hsv[..., 2]], axis=-1), data_format="channels_last")
    return ops.reshape(turned, ops.shape(x))


def gaussian_blur(x, sigma, max_sigma: float):
    """Separable Gaussian blur of each clip (B, T, H, W, C) with its own `sigma` (B,) in pixels.

    The kernel has radius ceil(3 max_sigma) (at most the image size minus one) with weights
    `exp(-k^2 / (2 sigma^2))` normalised to 1; borders are reflected. Every frame of a clip gets
    the same kernel.
    """
    h, w = int(x.shape[2]), int(x.shape[3])
    radius = max(1, min(math.ceil(3.0 * max_sigma), h - 1, w - 1))
    offsets = np.arange(-radius, radius + 1, dtype=np.float32)
    sigma = ops.maximum(ops.cast(sigma, "float32"), 1e-3)
    weights = ops.exp(-ops.square(offsets)[None, :] / (2.0 * ops.square(sigma)[:, None]))
    weights = ops.cast(weights / ops.sum(weights, axis=1, keepdims=True), x.dtype)  # (B, 2r+1)

    def blur_axis(y, axis: int, size: int):
        pad = [[0, 0]] * 5
        pad[axis] = [radius, radius]
        padded = ops.pad(y, pad, mode="reflect")
        out = 0.0
        for tap in range(2 * radius + 1):  # static: 2r + 1 shifted copies, batched over clips
            window = [slice(None)] * 5
            window[axis] = slice(tap, tap + size)
            out = out + _per_clip(weights[:, tap], y) * padded[tuple(window)]
        return out

    return blur_axis(blur_axis(x, 3, w), 2, h)


def strong_view(clip, params: dict, max_blur_sigma: float = 2.0):
    """Apply drawn strong-view parameters to clips in [0, 1]; photometric only.

    Args:
        clip: (B, T, H, W, 3) weak-view clips in [0, 1].
        params: `draw_strong_view_params`'s dict.
        max_blur_sigma: the largest sigma that can be drawn (sets the blur kernel's size).

    Returns:
        (B, T, H, W, 3) strong-view clips in [0, 1], same dtype.

    Example:
    >>> strong = strong_view(weak, draw_strong_view_params(8, cfg, seed), cfg.blur_sigma[1])
    """
    x = clip
    # Colour jitter (clipped after each step, as torchvision does).
    x = ops.clip(x * _per_clip(params["brightness"], x), 0.0, 1.0)
    mean_grey = ops.mean(luma(x), axis=(1, 2, 3, 4), keepdims=True)
    x = ops.clip((x - mean_grey) * _per_clip(params["contrast"], x) + mean_grey, 0.0, 1.0)
    grey = luma(x)
    x = ops.clip(grey + (x - grey) * _per_clip(params["saturation"], x), 0.0, 1.0)
    x = ops.where(_per_clip(params["hue"], x) != 0, adjust_hue(x, params["hue"]), x)
    # Grayscale.
    x = ops.where(_per_clip(params["grayscale"], x) > 0, ops.repeat(luma(x), 3, axis=-1), x)
    # Gaussian blur.
    blurred = gaussian_blur(x, params["blur_sigma"], max_blur_sigma)
    x = ops.where(_per_clip(params["blur_sigma"], x) > 0, blurred, x)
    return ops.clip(x, 0.0, 1.0)
