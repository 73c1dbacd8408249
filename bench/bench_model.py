"""Detector speed on this machine: forward and forward+backward per clip, roofline ratio, EM share.

Prints one line per figure. Run: `.venv/bin/python bench/bench_model.py [--presets tiny paper]`.
Achieved GFLOP/s uses the analytic forward FLOPs of `ssvad model summary` (backward counted as
2x forward) against dense float32 matmul GFLOP/s measured in the same run.
"""

from __future__ import annotations

import argparse
import time

import keras
import tensorflow as tf

from ssvad_keras.models import build_detector
from ssvad_keras.models.summary import summarize_detector


def _timed(fn, repeats: int) -> float:
    """Seconds per call after one warm-up call (which traces the graph)."""
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    step = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    seconds = _timed(lambda: step().numpy(), repeats)
    return 2.0 * n**3 / seconds / 1e9


def bench_preset(preset: str, num_classes: int, batch: int, repeats: int, peak: float) -> None:
    detector = build_detector(preset=preset, num_classes=num_classes, seed=0)
    flops = sum(row.flops for row in summarize_detector(detector))
    clips = tf.random.uniform((batch, *detector.clip_shape))
    masks = {
        "clip": clips,
        "class_mask": tf.ones((batch, num_classes)),
        "use_predicted_mask": tf.zeros((batch,)),
    }
    optimizer = keras.optimizers.Adam(1e-4)
    # Return every output so that no part of the graph is pruned away.
    forward = tf.function(lambda: tf.add_n(
        [tf.reduce_sum(v) for v in detector(clips, training=False).values()]
    ))

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            out = detector(masks, training=True)
            loss = tf.reduce_mean(tf.square(out["loc_logits"])) + tf.reduce_mean(out["class_scores"])
        grads = tape.gradient(loss, detector.trainable_weights)
        optimizer.apply_gradients(zip(grads, detector.trainable_weights, strict=True))
        return loss

    fwd = _timed(lambda: forward().numpy(), repeats) / batch
    fwd_bwd = _timed(lambda: train_step().numpy(), repeats)
    print(f"{preset}: forward GFLOPs per clip {flops / 1e9:.3f} (clip {detector.clip_shape})")
    print(f"{preset}: forward {fwd * 1e3:.1f} ms/clip at batch {batch}; "
          f"{flops / fwd / 1e9:.2f} GFLOP/s = {flops / fwd / 1e9 / peak:.1%} of matmul")
    print(f"{preset}: forward+backward+update {fwd_bwd:.3f} s per step of {batch} clips "
          f"({fwd_bwd / batch * 1e3:.1f} ms/clip); {3 * flops * batch / fwd_bwd / 1e9:.2f} GFLOP/s "
          f"= {3 * flops * batch / fwd_bwd / 1e9 / peak:.1%} of matmul")
    if preset == "paper":
        caps = detector.class_capsules
        grid = detector.encoder.compute_output_shape((1, *detector.clip_shape))["Mixed_4f"][2:4]
        k = detector.primary_kernel
        shape = (1, grid[0] - k + 1, grid[1] - k + 1, detector.primary_types)
        poses = tf.random.normal((*shape, detector.pose_size**2))
        acts = tf.random.uniform(shape)
        routing = tf.function(lambda: caps(poses, acts)[1])
        seconds = _timed(lambda: routing().numpy(), max(repeats, 3))
        print(f"{preset}: EM routing ({caps.routing}) {seconds * 1e3:.1f} ms/clip = "
              f"{seconds / fwd:.2%} of the forward pass")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "paper"])
    parser.add_argument("--num-classes", type=int, default=24)
    args = parser.parse_args()
    peak = matmul_gflops()
    print(f"machine: dense float32 matmul {peak:.1f} GFLOP/s ({tf.config.threading.get_intra_op_parallelism_threads() or 'all'} threads)")
    for preset in args.presets:
        # tiny: one training step of 8 clips x 2 views; paper: batch 1, one repetition.
        batch, repeats = (16, 3) if preset == "tiny" else (1, 1)
        bench_preset(preset, args.num_classes, batch, repeats, peak)


if __name__ == "__main__":
    main()
