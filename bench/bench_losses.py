"""Benchmark: attention masks + consistency losses, compiled keras.ops vs the released NumPy loops.

At the paper's shapes (B = 8 clips, 8 x 224 x 224 x 1 mask logits, both views) this times

- our `temporal_coherence_loss` (cyclic variance, window 5) + `gradient_smoothness_loss` +
  `consistency_l2`, masks included, in one `tf.function(jit_compile=False)`: forward only, and
  forward + backward (what a training step pays);
- a NumPy reference in the style of the released PyTorch code: per-sample and per-position
  loops for the cyclic variance mask and `numpy.gradient` twice per sample for the gradient
  mask, then the weighted MSE losses (forward only; the released code computes the variance mask
  twice, clockwise and anticlockwise, which this reference does once).

Prints one line per figure. Run:

    .venv/bin/python bench/bench_losses.py [--batch 8 --frames 8 --size 224 --repeats 3]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ssvad_keras.losses import (  # noqa: E402
    consistency_l2,
    gradient_smoothness_loss,
    gradient_smoothness_mask,
    temporal_coherence_loss,
    temporal_variance_mask,
)


def numpy_cyclic_variance_mask(loc: np.ndarray, aug: np.ndarray, window: int) -> np.ndarray:
    """Released-style cyclic variance mask: loops over samples and cycle positions."""
    batch, frames = loc.shape[:2]
    length = 2 * frames - 2
    radius = window // 2
    out = np.zeros(loc.shape, dtype=np.float64)
    for b in range(batch):
        cycle = np.concatenate([loc[b], aug[b][::-1][1 : frames - 1]], axis=0)
        variance = np.zeros(cycle.shape, dtype=np.float64)
        for pos in range(length):
            indices = [(pos + k) % length for k in range(-radius, radius + 1)]
            variance[pos] = np.var(np.take(cycle, indices, axis=0), axis=0)
        for k in range(frames):
            if k in (0, frames - 1):
                variance[k] = 2 * variance[k]
            else:
                variance[k] = variance[k] + variance[length - k]
        folded = variance[:frames]
        folded -= folded.min()
        folded /= folded.max() - folded.min() + 1e-7
        out[b] = folded
    return out


def numpy_gradient_mask(logits: np.ndarray) -> np.ndarray:
    """Released-style gradient mask: sigmoid, `numpy.gradient` twice, min-max, per sample."""
    out = np.zeros(logits.shape, dtype=np.float64)
    probs = 1.0 / (1.0 + np.exp(-logits))
    for b in range(logits.shape[0]):
        second = np.gradient(np.gradient(probs[b], axis=0), axis=0)
        second -= second.min()
        second /= second.max() - second.min() + 1e-7
        out[b] = second
    return out


def numpy_consistency(loc: np.ndarray, aug: np.ndarray, ramp: float, window: int) -> float:
    """The same three losses as `keras_consistency`, from the NumPy masks."""
    var_mask = numpy_cyclic_variance_mask(loc, aug, window)
    grad_mask = numpy_gradient_mask(loc)
    diff = (loc - aug) ** 2
    plain = diff.mean()
    coherence = ramp * (var_mask * diff).mean() + (1 - ramp) * plain
    smoothness = (grad_mask * diff).mean()
    return float(coherence + smoothness + plain)


def keras_consistency(loc, aug, ramp, window: int):
    return (
        temporal_coherence_loss(loc, aug, ramp, window=window, cyclic=True)
        + gradient_smoothness_loss(loc, aug)
        + consistency_l2(loc, aug)
    )


def best_of(fn, repeats: int) -> float:
    """Fastest of `repeats` timed calls (after one warm-up call), in seconds."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--window", type=int, default=5, choices=(3, 5))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    shape = (args.batch, args.frames, args.size, args.size, 1)
    loc_np = rng.normal(size=shape).astype(np.float32)
    aug_np = (loc_np + rng.normal(scale=0.3, size=shape)).astype(np.float32)
    loc, aug = tf.Variable(loc_np), tf.Variable(aug_np)
    ramp = tf.constant(0.5)

    @tf.function(jit_compile=False)
    def forward():
        return keras_consistency(loc, aug, ramp, args.window)

    @tf.function(jit_compile=False)
    def forward_backward():
        with tf.GradientTape() as tape:
            loss = keras_consistency(loc, aug, ramp, args.window)
        return loss, tape.gradient(loss, [loc, aug])

    @tf.function(jit_compile=False)
    def masks_only():
        return (
            temporal_variance_mask(loc, aug, window=args.window, cyclic=True),
            gradient_smoothness_mask(tf.sigmoid(loc)),
        )

    label = f"B={args.batch} {args.frames}x{args.size}x{args.size}x1, window {args.window}"
    t_masks = best_of(masks_only, args.repeats)
    t_forward = best_of(forward, args.repeats)
    t_backward = best_of(forward_backward, args.repeats)
    t_numpy = best_of(lambda: numpy_consistency(loc_np, aug_np, 0.5, args.window), args.repeats)

    var_ours, grad_ours = (m.numpy() for m in masks_only())
    mask_diff = max(
        np.abs(var_ours - numpy_cyclic_variance_mask(loc_np, aug_np, args.window)).max(),
        np.abs(grad_ours - numpy_gradient_mask(loc_np)).max(),
    )
    loss_diff = abs(float(forward()) - numpy_consistency(loc_np, aug_np, 0.5, args.window))

    print(f"keras.ops masks only (tf.function, {label}): {t_masks * 1e3:.0f} ms")
    print(f"keras.ops masks + consistency losses, forward (tf.function, {label}): {t_forward * 1e3:.0f} ms")
    print(f"keras.ops masks + consistency losses, forward + backward (tf.function, {label}): {t_backward * 1e3:.0f} ms")
    print(f"NumPy per-sample loops, released style, masks + losses forward ({label}): {t_numpy * 1e3:.0f} ms")
    print(f"speed-up of the compiled forward over the NumPy loops: {t_numpy / t_forward:.1f}x")
    print(f"max |mask difference| keras.ops vs NumPy: {mask_diff:.2e}; |loss difference|: {loss_diff:.2e}")


if __name__ == "__main__":
    main()
