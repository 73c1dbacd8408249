"""The decoder's composed output head and exact-tap transposed convs against plain Keras layers."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from ssvad_keras.layers import LocalizationDecoder
from ssvad_keras.layers.cpu_kernels import fused_upsample_smooth

GEOMETRIES = [((2, 4, 4), (2, 2, 2)), ((1, 3, 5), (2, 2, 2)), ((3, 4, 2), (1, 2, 3)), ((2, 2, 2), (4, 1, 2))]


def _layers(strides):
    kernel = tuple(max(3, s) for s in strides)
    up = keras.layers.Conv3DTranspose(6, kernel, strides=strides, padding="same", bias_initializer="random_normal")
    smooth = keras.layers.Conv3DTranspose(1, 3, padding="same", bias_initializer="random_normal")
    return up, smooth


@pytest.mark.parametrize(("size", "strides"), GEOMETRIES)
@pytest.mark.parametrize("dropout", [False, True])
def test_fused_head_equals_upsample_dropout_smooth_with_gradients(size, strides, dropout):
    rng = np.random.default_rng(0)
    up, smooth = _layers(strides)
    x = tf.constant(rng.normal(size=(3, *size, 4)).astype("float32"))
    scale = tf.constant((rng.random((3, 6)) > 0.5).astype("float32") * 2.0) if dropout else None
    weights = tf.constant(rng.normal(size=(3, *(n * s for n, s in zip(size, strides, strict=True)), 1)).astype("float32"))

    def run(fn):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn()
            loss = tf.reduce_sum(y * weights)
        grads = tape.gradient(loss, [x, up.kernel, up.bias, smooth.kernel, smooth.bias])
        return y.numpy(), [g.numpy() for g in grads]

    def reference():
        z = up(x)
        return smooth(z if scale is None else z * scale[:, None, None, None, :])

    expected, expected_grads = run(reference)
    got, got_grads = run(
        lambda: fused_upsample_smooth(x, up.kernel, up.bias, smooth.kernel, smooth.bias, strides, scale)
    )
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5)  # borders included
    for g, e in zip(got_grads, expected_grads, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-4)


def _decoder_inputs(batch=2):
    rng = np.random.default_rng(1)
    return [
        rng.random((batch, 2, 2, 8)).astype("float32"),
        rng.random((batch, 1, 4, 4, 6)).astype("float32"),
        rng.random((batch, 2, 8, 8, 5)).astype("float32"),
        rng.random((batch, 4, 16, 16, 3)).astype("float32"),
    ]


def test_fused_decoder_matches_layer_by_layer_decoder_with_the_same_weights():
    inputs = _decoder_inputs()
    fused = LocalizationDecoder((8, 32, 32), kernel_size=3, channels=4, final_channels=4, kernels="cpu_fast")
    plain = LocalizationDecoder((8, 32, 32), kernel_size=3, channels=4, final_channels=4, kernels="reference")
    fused(*inputs)
    plain(*inputs)
    plain.set_weights(fused.get_weights())  # same variables either way: checkpoints interchange
    np.testing.assert_allclose(
        ops.convert_to_numpy(fused(*inputs)), ops.convert_to_numpy(plain(*inputs)), atol=1e-5
    )
    assert fused._fuse and not plain._fuse
    assert LocalizationDecoder.from_config(plain.get_config()).kernels == "reference"


def test_fused_decoder_dropout_drops_whole_channels_per_sample():
    inputs = _decoder_inputs(batch=4)
    decoder = LocalizationDecoder(
        (8, 32, 32), kernel_size=3, channels=4, final_channels=4, dropout=0.5, seed=3, kernels="cpu_fast"
    )
    inference = ops.convert_to_numpy(decoder(*inputs))
    first = ops.convert_to_numpy(decoder(*inputs, training=True))
    second = ops.convert_to_numpy(decoder(*inputs, training=True))
    assert not np.allclose(first, inference)  # dropout is on in training
    assert not np.allclose(first, second)  # a new mask each call
    # Dropping every channel leaves the smoothing bias alone, exactly.
    all_dropped = LocalizationDecoder(
        (8, 32, 32), kernel_size=3, channels=4, final_channels=4, dropout=0.999999, seed=0, kernels="cpu_fast"
    )
    out = ops.convert_to_numpy(all_dropped(*inputs, training=True))
    np.testing.assert_allclose(out, ops.convert_to_numpy(all_dropped.smooth.bias)[0], atol=1e-6)


def test_decoder_with_cropped_output_falls_back_to_layer_by_layer():
    # 5 frames: the Conv3d_1a skip has 3 steps, upsampled to 6 and cropped: no exact fusion.
    decoder = LocalizationDecoder((5, 20, 28), kernel_size=3, channels=4, final_channels=4, kernels="cpu_fast")
    logits = decoder(
        np.zeros((1, 1, 2, 8), "float32"), np.zeros((1, 1, 3, 4, 6), "float32"),
        np.zeros((1, 2, 5, 7, 5), "float32"), np.zeros((1, 3, 10, 14, 3), "float32"),
    )
    assert tuple(logits.shape) == (1, 5, 20, 28, 1)
    assert not decoder._fuse
