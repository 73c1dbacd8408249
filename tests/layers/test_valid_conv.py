"""`valid_conv`: the same values and gradients as the backend's convolution, by another route."""

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from ssvad_keras.layers.cpu_kernels import per_sample_valid_conv, valid_conv

CASES = {
    "1d": ((3, 9, 4), (3, 4, 5)),
    "2d 9x9 on 12x11": ((2, 12, 11, 6), (9, 9, 6, 7)),
    "3d 3x3x3": ((2, 4, 7, 6, 5), (3, 3, 3, 5, 4)),
    "3d 2x2x2": ((3, 3, 5, 5, 4), (2, 2, 2, 4, 6)),
    "3d 1x3x3": ((2, 1, 6, 6, 3), (1, 3, 3, 3, 2)),
    "3d kernel as large as the input": ((2, 3, 3, 3, 2), (3, 3, 3, 2, 3)),
    "3d 1x1x1": ((2, 3, 4, 5, 6), (1, 1, 1, 6, 3)),
    "2d 1x1": ((3, 4, 4, 5), (1, 1, 5, 2)),
}


def _values_and_gradients(conv, x, w, upstream, graph):
    def run(x, w):
        with tf.GradientTape() as tape:
            tape.watch([x, w])
            y = conv(x, w)
            loss = tf.reduce_sum(y * upstream)
        return (y, *tape.gradient(loss, [x, w]))

    if graph:
        run = tf.function(run)
    return [t.numpy() for t in run(tf.constant(x), tf.constant(w))]


def _reference(x, w):
    return ops.conv(x, w, strides=1, padding="valid")


def _assert_matches(conv, reference, x_shape, w_shape, kernel_size, graph, seed):
    """`conv`'s value, input and kernel gradients equal `reference`'s on random data."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=x_shape).astype("float32")
    w = rng.normal(size=w_shape).astype("float32")
    out_shape = (
        x_shape[0],
        *(n - k + 1 for n, k in zip(x_shape[1:-1], kernel_size, strict=True)),
        w_shape[-1],
    )
    upstream = rng.normal(size=out_shape).astype("float32")
    got = _values_and_gradients(conv, x, w, upstream, graph)
    want = _values_and_gradients(reference, x, w, upstream, graph)
    assert got[0].shape == out_shape
    for name, g, r in zip(("value", "input gradient", "kernel gradient"), got, want, strict=True):
        assert g.shape == r.shape, name
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-4, err_msg=name)
    return x, w


@pytest.mark.parametrize("graph", [False, True], ids=["eager", "graph"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_values_and_gradients_match_the_backend_convolution(case, graph):
    x_shape, w_shape = CASES[case]
    _assert_matches(valid_conv, _reference, x_shape, w_shape, w_shape[:-2], graph, seed=0)


def test_input_gradient_at_the_borders_by_hand():
    # 1D, one channel: y[p] = w0 x[p] + w1 x[p + 1]; with dL/dy = 1 everywhere, dL/dx[i] is the
    # sum of the taps that read x[i]: w0 at the first position, w1 at the last, both between.
    x = tf.constant(np.arange(4, dtype="float32").reshape(1, 4, 1))
    w = tf.constant(np.array([2.0, 3.0], "float32").reshape(2, 1, 1))
    with tf.GradientTape() as tape:
        tape.watch([x, w])
        loss = tf.reduce_sum(valid_conv(x, w))
    dx, dw = tape.gradient(loss, [x, w])
    np.testing.assert_allclose(dx.numpy().ravel(), [2.0, 5.0, 5.0, 3.0])
    # dL/dw[k] = sum_p x[p + k]: 0 + 1 + 2 and 1 + 2 + 3.
    np.testing.assert_allclose(dw.numpy().ravel(), [3.0, 6.0])


def test_dynamic_batch_in_a_traced_function():
    w = tf.constant(np.random.default_rng(1).normal(size=(3, 3, 2, 4)).astype("float32"))

    @tf.function(input_signature=[tf.TensorSpec((None, 6, 6, 2), tf.float32)])
    def grads(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(valid_conv(x, w) ** 2)
        return tape.gradient(loss, x)

    x = np.random.default_rng(2).normal(size=(3, 6, 6, 2)).astype("float32")
    with tf.GradientTape() as tape:
        xt = tf.constant(x)
        tape.watch(xt)
        loss = tf.reduce_sum(_reference(xt, w) ** 2)
    np.testing.assert_allclose(
        grads(x).numpy(), tape.gradient(loss, xt).numpy(), rtol=1e-4, atol=1e-4
    )


def _per_sample_reference(x, w):
    return tf.stack([_reference(x[i : i + 1], w[i])[0] for i in range(x.shape[0])])


@pytest.mark.parametrize("graph", [False, True], ids=["eager", "graph"])
@pytest.mark.parametrize(
    "x_shape, w_shape",
    [
        ((3, 4, 6, 5, 4), (3, 2, 2, 2, 4, 6)),
        ((2, 7, 6, 3), (2, 3, 2, 3, 5)),
        ((2, 3, 3, 2), (2, 3, 3, 2, 4)),
    ],
    ids=["3d 2x2x2", "2d 3x2", "2d kernel as large as the input"],
)
def test_per_sample_kernels_values_and_gradients(x_shape, w_shape, graph):
    x, w = _assert_matches(
        per_sample_valid_conv, _per_sample_reference, x_shape, w_shape, w_shape[1:-2], graph, seed=3
    )
    # Each sample sees only its own kernel: a zero kernel zeroes that sample alone.
    w[1] = 0.0
    y = per_sample_valid_conv(tf.constant(x), tf.constant(w)).numpy()
    assert np.all(y[1] == 0.0) and np.any(y[0] != 0.0)
