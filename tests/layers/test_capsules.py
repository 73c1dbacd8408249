"""Primary capsules, class-capsule votes and routing choices, masking and decoder shapes."""

import keras
import numpy as np
import pytest
from keras import ops

from ssvad_keras.layers import CapsuleMasking, ClassCapsules, LocalizationDecoder, PrimaryCapsules
from ssvad_keras.layers.cpu_kernels import subpixel_conv3d_transpose


def test_primary_capsules_valid_conv_grid_and_sigmoid():
    caps = PrimaryCapsules(4, pose_size=4, kernel_size=3)
    poses, acts = caps(np.random.rand(2, 7, 9, 5).astype("float32"))
    assert tuple(poses.shape) == (2, 5, 7, 4, 16)
    assert tuple(acts.shape) == (2, 5, 7, 4)
    acts = ops.convert_to_numpy(acts)
    assert np.all((acts > 0) & (acts < 1))


def test_votes_are_pose_times_transform():
    caps = ClassCapsules(3, pose_size=2)
    poses = np.random.rand(1, 1, 1, 2, 4).astype("float32")
    caps(poses, np.ones((1, 1, 1, 2), "float32"))
    votes = ops.convert_to_numpy(caps.votes(poses))
    w = ops.convert_to_numpy(caps.transform)
    expected = poses[0, 0, 0, 1].reshape(2, 2) @ w[1, 2]
    np.testing.assert_allclose(votes[0, 0, 0, 1, 2], expected.reshape(4), atol=1e-6)


@pytest.mark.parametrize("routing", ["em_released", "em", "dynamic"])
def test_class_capsules_shapes_and_activation_range(routing):
    caps = ClassCapsules(5, pose_size=4, routing=routing, iterations=3)
    poses = np.random.normal(size=(2, 3, 4, 6, 16)).astype("float32")
    acts = np.random.uniform(size=(2, 3, 4, 6)).astype("float32")
    out_poses, out_acts = caps(poses, acts)
    assert tuple(out_poses.shape) == (2, 3, 4, 5, 16)
    out_acts = ops.convert_to_numpy(out_acts)
    assert out_acts.shape == (2, 3, 4, 5)
    assert np.all((out_acts > 0) & (out_acts < 1))
    assert ClassCapsules.from_config(caps.get_config()).routing == routing


def _mask_sums(masked, classes=3, dims=2):
    """Per clip and class, the summed masked pose entries (poses are all ones)."""
    return ops.convert_to_numpy(masked).reshape(masked.shape[0], -1, classes, dims).sum((1, 3))


def test_masking_ground_truth_all_ones_and_predicted_in_one_batch():
    poses = np.ones((3, 2, 2, 3, 2), "float32")  # 4 grid cells x 2 entries = 8 per class
    scores = np.array([[0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.2, 0.3, 0.5]], "float32")
    class_mask = np.array([[0, 0, 1], [1, 1, 1], [1, 0, 0]], "float32")
    use_predicted = np.array([0, 0, 1], "float32")
    masked = CapsuleMasking()(poses, scores, class_mask, use_predicted)
    np.testing.assert_array_equal(
        _mask_sums(masked),
        [[0, 0, 8], [8, 8, 8], [0, 0, 8]],  # GT class 2; all ones; predicted class 2
    )
    inference = CapsuleMasking()(poses, scores)
    np.testing.assert_array_equal(_mask_sums(inference), [[0, 8, 0], [8, 0, 0], [0, 0, 8]])


@pytest.mark.parametrize("size", [(8, 32, 32), (5, 20, 28)])
def test_decoder_output_has_the_clip_size(size):
    t, h, w = size
    t1, h1, w1 = -(-t // 2), -(-h // 2), -(-w // 2)
    t2, h2, w2 = -(-t1 // 2), -(-h1 // 2), -(-w1 // 2)
    t4, h4, w4 = -(-t2 // 2), -(-h2 // 2), -(-w2 // 2)
    decoder = LocalizationDecoder(size, kernel_size=3, channels=4, final_channels=4, dropout=0.5)
    logits = decoder(
        np.random.rand(1, h4 - 2, w4 - 2, 8).astype("float32"),
        np.random.rand(1, t4, h4, w4, 6).astype("float32"),
        np.random.rand(1, t2, h2, w2, 5).astype("float32"),
        np.random.rand(1, t1, h1, w1, 3).astype("float32"),
        training=True,
    )
    assert tuple(logits.shape) == (1, *size, 1)


@pytest.mark.parametrize(
    ("size", "kernel", "strides"),
    [((1, 4, 4), (3, 3, 3), (2, 2, 2)), ((2, 3, 5), (3, 4, 3), (2, 3, 1)), ((3, 3, 3), (3, 3, 3), (1, 1, 1))],
)
def test_subpixel_transposed_conv_equals_keras_conv3d_transpose(size, kernel, strides):
    import tensorflow as tf

    layer = keras.layers.Conv3DTranspose(5, kernel, strides=strides, padding="same")
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(2, *size, 3)).astype("float32"))
    upstream = tf.constant(
        rng.normal(size=(2, *(n * s for n, s in zip(size, strides, strict=True)), 5)).astype("float32")
    )

    def with_gradients(transposed_conv):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = transposed_conv()
            loss = tf.reduce_sum(y * upstream)
        return [y.numpy(), *(g.numpy() for g in tape.gradient(loss, [x, layer.kernel]))]

    expected = with_gradients(lambda: layer(x))
    got = with_gradients(lambda: subpixel_conv3d_transpose(x, layer.kernel, strides) + layer.bias)
    assert got[0].shape == expected[0].shape
    for name, g, e in zip(("value", "input gradient", "kernel gradient"), got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("routing", ["em_released", "em", "dynamic"])
@pytest.mark.parametrize("graph", [False, True])
def test_rematerialised_routing_keeps_values_and_gradients(routing, graph):
    import tensorflow as tf

    rng = np.random.default_rng(3)
    poses = tf.constant(rng.normal(size=(2, 3, 2, 6, 16)).astype("float32"))
    acts = tf.constant(rng.uniform(size=(2, 3, 2, 6)).astype("float32"))
    weights = tf.constant(rng.normal(size=(2, 3, 2, 5, 16)).astype("float32"))
    plain = ClassCapsules(5, routing=routing, rematerialize=False)
    plain(poses, acts)
    remat = ClassCapsules.from_config({**plain.get_config(), "rematerialize": True})
    remat(poses, acts)
    remat.set_weights(plain.get_weights())

    def run(caps):
        def step():
            with tf.GradientTape() as tape:
                tape.watch([poses, acts])
                out_poses, out_acts = caps(poses, acts)
                loss = tf.reduce_sum(out_poses * weights) + tf.reduce_sum(out_acts * weights[..., 0])
            return out_poses, out_acts, tape.gradient(loss, [poses, acts, *caps.trainable_variables])

        out_poses, out_acts, grads = (tf.function(step) if graph else step)()
        assert len(grads) == (3 if routing == "dynamic" else 5) and all(g is not None for g in grads)
        return [out_poses.numpy(), out_acts.numpy()] + [g.numpy() for g in grads]

    for got, expected in zip(run(remat), run(plain), strict=True):
        # Same math in another summation order: float32 noise scales with the array's magnitude
        # (a fixed atol of 1e-5 failed once on one of 1,152 gradient entries, off by 1.1e-5).
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(expected).max()))
