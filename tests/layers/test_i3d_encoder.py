"""I3D unit, zero-padded SAME pooling, inception module and encoder shapes."""

import numpy as np
import pytest
from keras import ops

from ssvad_keras.layers import I3DEncoder, I3DUnit, InceptionModule, SameMaxPool3D
from ssvad_keras.layers.cpu_kernels import strided_same_conv3d
from ssvad_keras.layers.i3d_unit import SameConv3D
from ssvad_keras.layers.same_padding import same_padding


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "expected"),
    [(56, 3, 2, (0, 1)), (7, 3, 2, (1, 1)), (8, 7, 2, (2, 3)), (4, 3, 1, (1, 1)), (1, 3, 2, (1, 1))],
)
def test_same_padding_matches_tensorflow_rule(size, kernel, stride, expected):
    assert same_padding(size, kernel, stride) == expected


@pytest.mark.parametrize("kernels", ["reference", "cpu_fast"])
def test_max_pool_pads_with_zeros_not_minus_infinity(kernels):
    # All-negative input: windows that touch the zero padding return 0, interior ones the max.
    x = -np.arange(1, 1 + 1 * 1 * 4 * 4 * 1, dtype="float32").reshape(1, 1, 4, 4, 1)
    out = ops.convert_to_numpy(SameMaxPool3D((1, 3, 3), (1, 2, 2), kernels=kernels)(x))
    # 4 -> 2 per axis; pad (0, 1): window rows 0-2 and 2-4 (the last includes padding).
    assert out.shape == (1, 1, 2, 2, 1)
    assert out[0, 0, 0, 0, 0] == -1.0  # max of rows 0-2, cols 0-2 = -1
    assert out[0, 0, 0, 1, 0] == 0.0
    assert out[0, 0, 1, 1, 0] == 0.0


@pytest.mark.parametrize(
    ("size", "pool", "strides"),
    [((4, 9, 9), (1, 3, 3), (1, 2, 2)), ((3, 6, 5), (3, 3, 3), (2, 1, 1)), ((5, 7, 8), (3, 3, 3), (2, 2, 2))],
)
def test_separable_max_pool_equals_max_pool3d_with_its_gradient(size, pool, strides):
    import tensorflow as tf

    x = tf.constant(np.random.default_rng(1).normal(size=(2, *size, 3)).astype("float32"))
    pads = [same_padding(n, k, s) for n, k, s in zip(size, pool, strides, strict=True)]
    weights = tf.constant(np.random.default_rng(2).normal(size=(2, *(-(-n // s) for n, s in zip(size, strides, strict=True)), 3)).astype("float32"))

    def gradient(fn):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
            loss = tf.reduce_sum(y * weights)
        return y.numpy(), tape.gradient(loss, x).numpy()

    got, got_grad = gradient(SameMaxPool3D(pool, strides, kernels="cpu_fast"))
    expected, expected_grad = gradient(
        lambda v: tf.nn.max_pool3d(tf.pad(v, [(0, 0), *pads, (0, 0)]), pool, strides, "VALID")
    )
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(got_grad, expected_grad, atol=1e-6)  # no ties in random normals


@pytest.mark.parametrize(
    ("size", "kernel"), [((1, 5, 6), (3, 3, 3)), ((2, 1, 4), (3, 5, 3)), ((3, 3, 3), (3, 3, 3))]
)
def test_stride_one_conv_skips_padding_only_taps_exactly(size, kernel):
    import tensorflow as tf

    layer = SameConv3D(4, kernel, padding="same", kernels="cpu_fast")
    x = tf.constant(np.random.default_rng(0).normal(size=(2, *size, 3)).astype("float32"))
    with tf.GradientTape() as tape:
        got = layer(x)
        loss = tf.reduce_sum(got**2)
    kernel_grad = tape.gradient(loss, layer.kernel).numpy()
    expected = tf.nn.conv3d(x, layer.kernel, [1] * 5, "SAME")
    np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-5)
    # Taps that only ever meet padding get exactly no gradient (time axis of length 1: t != 1).
    if size[0] == 1:
        assert not kernel_grad[[0, 2]].any() and kernel_grad[1].any()


def test_unit_strides_and_channels():
    unit = I3DUnit(6, kernel_size=(3, 3, 3), strides=(2, 1, 1))
    out = unit(np.random.rand(2, 5, 7, 7, 3).astype("float32"))
    assert tuple(out.shape) == (2, 3, 7, 7, 6)
    assert float(ops.min(out)) >= 0.0  # ReLU
    assert unit.batch_norm.epsilon == 1e-3


def test_inception_module_concatenates_four_branches():
    block = InceptionModule((3, 2, 4, 1, 5, 6))
    out = block(np.random.rand(1, 2, 4, 4, 8).astype("float32"))
    assert tuple(out.shape) == (1, 2, 4, 4, 3 + 4 + 5 + 6)


def test_paper_shapes_of_both_variants():
    ssl = I3DEncoder("ssl").compute_output_shape((None, 8, 224, 224, 3))
    assert ssl == {
        "Conv3d_1a_7x7": (None, 4, 112, 112, 64),
        "Conv3d_2c_3x3": (None, 2, 56, 56, 192),
        "Mixed_4f": (None, 1, 28, 28, 832),
    }
    original = I3DEncoder("original").compute_output_shape((None, 8, 224, 224, 3))
    assert original["Conv3d_2c_3x3"] == (None, 4, 56, 56, 192)
    assert original["Mixed_4f"] == (None, 2, 14, 14, 832)


@pytest.mark.parametrize(
    ("clip", "variant"), [((8, 32, 32), "ssl"), ((4, 24, 40), "ssl"), ((6, 36, 36), "original")]
)
def test_computed_shapes_match_compute_output_shape(clip, variant):
    encoder = I3DEncoder(variant, width=0.125)
    x = np.random.rand(1, *clip, 3).astype("float32")
    out = encoder(x)
    expected = encoder.compute_output_shape((1, *clip, 3))
    assert {k: tuple(v.shape) for k, v in out.items()} == expected
    assert expected["Mixed_4f"][-1] == 32 + 40 + 16 + 16  # 0.125 x (256 + 320 + 128 + 128)


def test_units_are_named_after_checkpoint_scopes():
    encoder = I3DEncoder(width=0.125)
    encoder.build((None, 8, 32, 32, 3))
    units = encoder.unit_layers()
    assert len(units) == 3 + 7 * 6
    assert units["Conv3d_1a_7x7"].name == "Conv3d_1a_7x7"
    assert units["Mixed_3b/Branch_1/Conv3d_0a_1x1"].name == "Branch_1_Conv3d_0a_1x1"
    assert tuple(units["Mixed_4f/Branch_3/Conv3d_0b_1x1"].conv_3d.kernel.shape) == (1, 1, 1, 66, 16)  # Mixed_4e: 0.125 x 528


@pytest.mark.parametrize(
    ("size", "kernel", "strides"),
    [((8, 12, 12), (7, 7, 7), (2, 2, 2)), ((5, 7, 9), (3, 3, 3), (2, 1, 1)), ((3, 5, 6), (1, 3, 3), (1, 2, 3))],
)
def test_space_to_depth_equals_strided_same_convolution(size, kernel, strides):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(2, *size, 3)).astype("float32"))
    w = tf.constant(rng.normal(size=(*kernel, 3, 4)).astype("float32"))
    out_shape = (2, *(-(-n // s) for n, s in zip(size, strides, strict=True)), 4)
    upstream = tf.constant(rng.normal(size=out_shape).astype("float32"))

    def with_gradients(conv):
        with tf.GradientTape() as tape:
            tape.watch([x, w])
            y = conv(x, w)
            loss = tf.reduce_sum(y * upstream)
        return [y.numpy(), *(g.numpy() for g in tape.gradient(loss, [x, w]))]

    expected = with_gradients(lambda a, b: ops.conv(a, b, strides=strides, padding="same"))
    got = with_gradients(lambda a, b: strided_same_conv3d(a, b, strides))
    assert got[0].shape == expected[0].shape
    for name, g, e in zip(("value", "input gradient", "kernel gradient"), got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-4, err_msg=name)
