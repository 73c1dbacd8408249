"""The kernel switch on this machine: each CPU kernel against its reference, and the whole detector.

For each operator of `ssvad_keras.layers.cpu_kernels` that has no measured figure of its own,
and for the tiny preset's detector, times forward + backward (a compiled `tf.function`, median
of `--repeats` calls after a warm-up that traces it) with `kernels="reference"` and with
`kernels="cpu_fast"`, and prints one line per operator: both times and the speed-up.
Run: `.venv/bin/python bench/bench_kernels.py [--repeats 5] [--batch 4]`.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

from ssvad_keras.runtime import import_tensorflow

tf = import_tensorflow()

from ssvad_keras.layers import SameMaxPool3D  # noqa: E402  (after the TensorFlow defaults)
from ssvad_keras.layers.i3d_unit import SameConv3D  # noqa: E402
from ssvad_keras.layers.localization_decoder import SubpixelConv3DTranspose  # noqa: E402
from ssvad_keras.models import build_detector  # noqa: E402


def _median_seconds(step, repeats: int) -> float:
    step()  # traces
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _layer_step(make_layer, input_shape):
    """A compiled forward + backward (input and weight gradients) of one fresh layer."""
    layer = make_layer()
    x = tf.random.uniform(input_shape)
    layer(x)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.square(layer(x)))
        return tape.gradient(loss, [x, *layer.trainable_weights])

    return lambda: [g.numpy() for g in step()]


def _detector_step(kernels: str, batch: int):
    detector = build_detector(preset="tiny", num_classes=5, seed=0)
    config = {**detector.get_config(), "kernels": kernels}
    detector = type(detector).from_config(config)
    clip = tf.random.uniform((batch, *detector.clip_shape))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            out = detector(clip, training=True)
            loss = tf.reduce_sum(out["loc_logits"]) + tf.reduce_sum(out["class_scores"])
        return tape.gradient(loss, detector.trainable_weights)

    return lambda: [g.numpy() for g in step()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=4, help="Clips per call.")
    args = parser.parse_args()
    b = args.batch
    cases = {
        "strided_same_conv3d (Conv3d_1a_7x7: 7x7x7 stride 2, 8x112x112x3 -> 64)": (
            lambda k: SameConv3D(64, 7, strides=2, padding="same", use_bias=False, kernels=k),
            (b, 8, 112, 112, 3),
        ),
        "strided_same_conv3d (Conv3d_2c_3x3: 3x3x3 stride (2,1,1), 4x28x28x64 -> 192)": (
            lambda k: SameConv3D(192, 3, strides=(2, 1, 1), padding="same", use_bias=False, kernels=k),
            (b, 4, 28, 28, 64),
        ),
        "separable_max_pool3d (MaxPool3d_2a: 1x3x3 stride (1,2,2), 4x56x56x64)": (
            lambda k: SameMaxPool3D((1, 3, 3), (1, 2, 2), kernels=k),
            (b, 4, 56, 56, 64),
        ),
        "separable_max_pool3d (Branch_3: 3x3x3 stride 1, 2x28x28x192)": (
            lambda k: SameMaxPool3D((3, 3, 3), (1, 1, 1), kernels=k),
            (b, 2, 28, 28, 192),
        ),
        "subpixel_conv3d_transpose (upsample_1a: 3x3x3 stride 2, 2x28x28x128 -> 64)": (
            lambda k: SubpixelConv3DTranspose(64, 3, strides=2, padding="same", kernels=k),
            (b, 2, 28, 28, 128),
        ),
    }
    print(f"forward + backward, {b} clips, median of {args.repeats} (reference / cpu_fast)")
    for name, (make, shape) in cases.items():
        seconds = [
            _median_seconds(_layer_step(functools.partial(make, k), shape), args.repeats)
            for k in ("reference", "cpu_fast")
        ]
        print(f"{name}: {seconds[0]:.3f} s / {seconds[1]:.3f} s = {seconds[0] / seconds[1]:.2f}x")
    seconds = [_median_seconds(_detector_step(k, 8), args.repeats) for k in ("reference", "cpu_fast")]
    print(
        f"tiny detector, 8 clips (8x64x64), training mode: {seconds[0]:.3f} s / {seconds[1]:.3f} s "
        f"= {seconds[0] / seconds[1]:.2f}x"
    )


if __name__ == "__main__":
    main()
