"""MaskPropagationModel: shapes, the reference-mask path, weights from an action detector."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from ssvad_keras.config import ModelConfig
from ssvad_keras.errors import CheckpointError, ConfigError
from ssvad_keras.models import build_detector
from ssvad_keras.vos.decoder import PRETRAINED_LAYERS, MatchingReadout
from ssvad_keras.vos.model import build_vos_model, initialise_from, load_vos_model

from .conftest import CLIP, tiny_vos_config


@pytest.fixture(scope="module")
def model():
    return build_vos_model(tiny_vos_config())


def _inputs(batch=2, seed=0):
    rng = np.random.default_rng(seed)
    reference = np.zeros((batch, *CLIP[1:], 1), np.float32)
    reference[:, 8:20, 10:22] = 1.0
    return {"clip": rng.random((batch, *CLIP, 3), dtype=np.float32), "reference": reference}


def _detector(width=0.125):
    config = ModelConfig(encoder_width=width, primary_kernel=3, primary_types=4,
                         decoder_channels=8, decoder_final_channels=8)
    return build_detector(num_classes=3, config=config, input_shape=CLIP, seed=3)


def test_one_mask_per_frame_per_object(model):
    out = model(_inputs(batch=3))
    assert tuple(out["mask_logits"].shape) == (3, *CLIP, 1)
    assert out["mask_logits"].dtype == "float32"


def test_reference_mask_path_changes_the_output_beyond_the_prior(model):
    # With the copy prior switched off, the output still depends on the reference through
    # the decoder's mask injections.
    saved = float(model.decoder.reference_prior.numpy())
    model.decoder.reference_prior.assign(0.0)
    try:
        inputs = _inputs()
        moved = dict(inputs, reference=np.roll(inputs["reference"], 8, axis=2))
        a = np.asarray(model(inputs)["mask_logits"])
        b = np.asarray(model(moved)["mask_logits"])
    finally:
        model.decoder.reference_prior.assign(saved)
    assert np.abs(a - b).max() > 1e-4


def test_reference_prior_starts_at_the_configured_scale(model, tmp_path):
    # vos.reference_prior only moves the learned offset a (2 m - 1) on every frame's logits.
    without = build_vos_model(tiny_vos_config(**{"vos.reference_prior": 0.0}))
    assert float(without.decoder.reference_prior.numpy()) == 0.0
    without.set_weights([w if w.shape else np.float32(0.0) for w in model.get_weights()])
    inputs = _inputs()
    prior = 2.0 * (2.0 * inputs["reference"] - 1.0)
    np.testing.assert_allclose(np.asarray(model(inputs)["mask_logits"]),
                               np.asarray(without(inputs)["mask_logits"]) + prior[:, None], atol=1e-5)
    path = tmp_path / "m.keras"
    without.save(path)
    assert load_vos_model(path).reference_prior == 0.0


@pytest.fixture(scope="module")
def detector_run(tmp_path_factory):
    """An action detector of the same size, saved as a run folder's best.keras."""
    detector = _detector()
    run = tmp_path_factory.mktemp("action-run")
    detector.save(run / "best.keras")
    return detector, run


def test_action_detector_weights_load_by_name(detector_run):
    detector, run = detector_run
    target = build_vos_model(tiny_vos_config())
    message = initialise_from(target, run)
    assert "best.keras" in message
    for ours, theirs in zip(target.encoder.weights, detector.encoder.weights, strict=True):
        assert ours.path.split("/", 1)[1] == theirs.path.split("/", 1)[1]  # same names
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    shared = target.decoder.pretrained_layers()
    assert sorted(shared) == sorted(PRETRAINED_LAYERS)
    np.testing.assert_array_equal(
        np.asarray(shared["upsample_1a"].kernel), np.asarray(detector.decoder.upsamplers[1].kernel)
    )


def test_detector_of_another_size_is_refused_untouched(detector_run):
    _, run = detector_run
    narrow = build_vos_model(tiny_vos_config(**{"model.decoder_channels": 4}))
    before = [np.asarray(w).copy() for w in narrow.weights]
    with pytest.raises(CheckpointError, match="best.keras"):
        initialise_from(narrow, run)
    for old, new in zip(before, narrow.weights, strict=True):
        np.testing.assert_array_equal(old, np.asarray(new))


def test_loading_refuses_other_archives(tmp_path, model):
    path = tmp_path / "other.keras"
    keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save(path)
    with pytest.raises(CheckpointError, match="not a VOS"):
        load_vos_model(path)
    with pytest.raises(CheckpointError, match="not found"):
        initialise_from(model, tmp_path / "missing")


def test_frozen_batch_norm_trains_as_it_infers(model):
    # vos.freeze_batch_norm (the default): the encoder's BatchNorm uses its moving statistics in
    # training too, so what a training step fits is what inference sees.
    norms = [layer for layer in model.encoder._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and not any(layer.trainable for layer in norms)
    clip = _inputs()["clip"]

    def gap():
        a, b = model.encoder(clip, training=True), model.encoder(clip, training=False)
        return max(float(np.abs(np.asarray(a[k]) - np.asarray(b[k])).max()) for k in a)

    assert gap() < 1e-5
    for layer in norms:  # trained BatchNorm: batch statistics in training, a different output
        layer.trainable = True
    try:
        assert gap() > 1e-3
    finally:
        for layer in norms:
            layer.trainable = False


def _moving_square(length=4, step=4):
    """A red 8x8 square on a dim textured background that shifts `step` px right per frame
    (whole cells of the readout's stride-2 grid); the reference is its mask on frame 0.
    Returns (inputs, true masks (T, 32, 32))."""
    rng = np.random.default_rng(1)
    clip = np.repeat(0.15 + 0.05 * rng.random((1, 1, *CLIP[1:], 3), dtype=np.float32), length, 1)
    truth = np.zeros((length, *CLIP[1:]), bool)
    for t in range(length):
        left = 4 + step * t
        truth[t, 12:20, left : left + 8] = True
        clip[0, t][truth[t]] = (0.9, 0.1, 0.1)
    return {"clip": clip, "reference": truth[0][None, ..., None].astype(np.float32)}, truth


def _iou(a, b):
    return np.logical_and(a, b).sum() / np.logical_or(a, b).sum()


def test_matching_readout_follows_a_moving_square():
    # No weights: the reference mask is carried to each frame through the RGB affinity with the
    # clip's first frame, onto where the square has moved; copying it would not overlap at all
    # by the last frame.
    inputs, truth = _moving_square()
    readout = MatchingReadout(stride=2, radius=8, topk=16)
    propagated = np.asarray(readout(inputs["clip"], inputs["reference"]))[0, ..., 0]
    assert propagated.shape == (CLIP[0], CLIP[1] // 2, CLIP[2] // 2)
    grid_truth = truth[:, ::2, ::2]
    for t in range(CLIP[0]):
        assert _iou(propagated[t] >= 0.5, grid_truth[t]) > 0.9
    assert _iou(grid_truth[0], grid_truth[-1]) == 0.0


@pytest.fixture(scope="module")
def matching_model():
    return build_vos_model(tiny_vos_config(**{"vos.readout": "matching"}))


def test_matching_model_has_the_prototype_models_weights(model, matching_model):
    # The readout has no weights, and the decoder's layers keep their names and shapes: what
    # loads into one model (an action run, a saved VOS run) loads into the other.
    out = matching_model(_inputs(batch=3))
    assert tuple(out["mask_logits"].shape) == (3, *CLIP, 1)
    def layout(m):  # variable paths below the model's own (numbered) name, and shapes
        return [(w.path.split("/", 1)[1], tuple(w.shape)) for w in m.weights]

    assert layout(matching_model) == layout(model)


def test_matching_model_starts_from_the_propagated_mask(model, matching_model):
    # The prior a (2 p_t - 1) follows the propagated mask p_t: with a large, the untrained
    # model's masks are the readout's (the square where it moved), the prototype model's the
    # copied reference.
    inputs, truth = _moving_square()
    for m in (model, matching_model):
        m.decoder.reference_prior.assign(50.0)
    try:
        follows = np.asarray(matching_model(inputs)["mask_logits"])[0, ..., 0] >= 0
        copies = np.asarray(model(inputs)["mask_logits"])[0, ..., 0] >= 0
    finally:
        for m in (model, matching_model):
            m.decoder.reference_prior.assign(2.0)
    assert all(_iou(follows[t], truth[t]) > 0.7 for t in range(CLIP[0]))
    assert _iou(copies[-1], truth[-1]) == 0.0 and _iou(follows[-1], truth[-1]) > 0.7


def test_matching_readout_round_trips_through_save_and_load(matching_model, tmp_path):
    path = tmp_path / "matching.keras"
    matching_model.save(path)
    loaded = load_vos_model(path)  # safe_mode=True
    assert loaded.readout == "matching" and isinstance(loaded.matching, MatchingReadout)
    assert (loaded.matching_stride, loaded.matching_radius, loaded.matching_topk,
            loaded.matching_temperature) == (2, 8.0, 16, 0.01)
    inputs = _inputs()
    np.testing.assert_allclose(np.asarray(loaded(inputs)["mask_logits"]),
                               np.asarray(matching_model(inputs)["mask_logits"]), atol=1e-5)


def test_unknown_readout_is_one_config_error():
    with pytest.raises(ConfigError, match="vos.readout"):
        tiny_vos_config(**{"vos.readout": "memory"})


def _learned_readout(**kwargs):
    return MatchingReadout(stride=2, radius=8, topk=16, keys="learned", key_channels=4, **kwargs)


def test_untrained_learned_readout_is_the_rgb_readout():
    # The learned channels start at weight 0 and RGB at 1: before training, the learned-key
    # readout propagates exactly what the fixed RGB readout does (ties at float32 resolution included).
    inputs = _inputs(batch=2, seed=3)
    fixed = np.asarray(MatchingReadout(stride=2, radius=8, topk=16)(inputs["clip"], inputs["reference"]))
    learned = _learned_readout()
    out = np.asarray(learned(inputs["clip"], inputs["reference"]))
    np.testing.assert_allclose(out, fixed, atol=1e-5)
    assert sorted(w.path.split("/", 1)[1] for w in learned.trainable_weights) == [
        "key_embedding/bias", "key_embedding/kernel", "key_weights"]
    square, _ = _moving_square()
    np.testing.assert_allclose(
        np.asarray(learned(square["clip"], square["reference"])),
        np.asarray(MatchingReadout(stride=2, radius=8, topk=16)(square["clip"], square["reference"])),
        atol=1e-5)


def test_mask_loss_gradient_reaches_the_learned_keys():
    # Through the softmax over the kept matches: the channel weights get a gradient at once, and
    # the key embedding as soon as its channels weigh in the distance (they start at 0, so its
    # gradient starts at 0 too); the fixed readout has no weights and passes no gradient.
    import tensorflow as tf

    inputs = _inputs(batch=2, seed=4)
    target = np.roll(inputs["reference"], 2, axis=2)[:, None, ::2, ::2]
    readout = _learned_readout()
    readout(inputs["clip"], inputs["reference"])

    def gradients():
        with tf.GradientTape() as tape:
            p = readout(inputs["clip"], inputs["reference"])
            loss = tf.reduce_mean((p - target) ** 2)
        grads = tape.gradient(loss, readout.trainable_weights)
        return {w.path.rsplit("/", 1)[1]: g for w, g in zip(readout.trainable_weights, grads, strict=True)}

    first = gradients()
    assert np.abs(np.asarray(first["key_weights"])).max() > 0
    assert np.abs(np.asarray(first["kernel"])).max() == 0
    readout.key_weights.assign(np.array([1, 1, 1, 0.5, 0.5, 0.5, 0.5], np.float32))
    assert np.abs(np.asarray(gradients()["kernel"])).max() > 0


def test_gated_model_starts_at_the_readout():
    # vos.correction_gate = 0: the untrained decoder adds nothing, the logits are the prior
    # a (2 p_t - 1) on the readout's mask exactly; with learned keys, the same readout.
    gated = build_vos_model(tiny_vos_config(**{
        "vos.readout": "matching", "vos.matching_keys": "learned", "vos.correction_gate": 0.0}))
    assert float(gated.decoder.gate.numpy()) == 0.0
    inputs = _inputs(seed=5)
    logits = np.asarray(gated(inputs)["mask_logits"])
    propagated = MatchingReadout(stride=2, radius=8, topk=16)(inputs["clip"], inputs["reference"])
    resized = keras.ops.image.resize(keras.ops.reshape(propagated, (-1, CLIP[1] // 2, CLIP[2] // 2, 1)),
                                     CLIP[1:], interpolation="bilinear")
    prior = 2.0 * (2.0 * np.asarray(resized).reshape(2, *CLIP, 1) - 1.0)
    np.testing.assert_allclose(logits, prior, atol=1e-4)


@pytest.mark.parametrize("gate", [None, 0.0])
def test_model_mask_loss_reaches_the_readouts_key_weights(gate):
    # Through the prior and (ungated) the decoder's cues, whose area resizing passes mean
    # pooling's gradient; the trainer trains every trainable variable of the model.
    import tensorflow as tf

    model = build_vos_model(tiny_vos_config(**{
        "vos.readout": "matching", "vos.matching_keys": "learned", "vos.correction_gate": gate}))
    inputs = _inputs(seed=6)
    target = np.roll(inputs["reference"], 3, axis=2)[:, None]
    with tf.GradientTape() as tape:
        logits = model(inputs, training=True)["mask_logits"]
        loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.broadcast_to(target, logits.shape), logits))
    variables = {w.path.split("/", 1)[1]: w for w in model.trainable_weights}
    key_weights = variables["matching_readout/key_weights"]
    gradient = tape.gradient(loss, key_weights)
    assert gradient is not None and np.abs(np.asarray(gradient)).max() > 0


def test_zero_mean_correction_leaves_each_frames_mean_to_the_prior():
    # vos.zero_mean_correction: what the decoder adds to the prior has mean 0 over every frame
    # (no threshold shift), and it still varies in space.
    model = build_vos_model(tiny_vos_config(**{"vos.readout": "matching", "vos.zero_mean_correction": True}))
    inputs = _inputs(seed=7)
    logits = np.asarray(model(inputs)["mask_logits"])
    saved = [w.numpy() for w in model.decoder.smooth.weights]
    try:
        for w in model.decoder.smooth.weights:
            w.assign(np.zeros(w.shape, np.float32))
        prior = np.asarray(model(inputs)["mask_logits"])
    finally:
        for w, value in zip(model.decoder.smooth.weights, saved, strict=True):
            w.assign(value)
    correction = logits - prior
    np.testing.assert_allclose(correction.mean(axis=(2, 3)), 0.0, atol=1e-5)
    assert correction.std(axis=(2, 3)).min() > 1e-5
    path_config = model.get_config()
    assert path_config["zero_mean_correction"] is True


def test_learned_readout_and_gate_round_trip_through_save_and_load(tmp_path):
    model = build_vos_model(tiny_vos_config(**{
        "vos.readout": "matching", "vos.matching_keys": "learned", "vos.matching_key_channels": 3,
        "vos.correction_gate": 0.25}))
    model.matching.key_weights.assign(np.array([1.0, 0.5, 2.0, 0.1, 0.2, 0.3], np.float32))
    path = tmp_path / "learned.keras"
    model.save(path)
    loaded = load_vos_model(path)  # safe_mode=True
    assert (loaded.matching_keys, loaded.matching_key_channels, loaded.correction_gate) == ("learned", 3, 0.25)
    np.testing.assert_allclose(np.asarray(loaded.matching.key_weights), [1.0, 0.5, 2.0, 0.1, 0.2, 0.3])
    inputs = _inputs()
    np.testing.assert_allclose(np.asarray(loaded(inputs)["mask_logits"]),
                               np.asarray(model(inputs)["mask_logits"]), atol=1e-5)


def test_models_saved_without_the_new_options_keep_their_meaning(matching_model):
    # A config saved before vos.matching_keys / vos.correction_gate existed: the fixed RGB readout
    # and no gate (no new variables).
    config = matching_model.get_config()
    for key in ("matching_keys", "matching_key_channels", "correction_gate", "zero_mean_correction"):
        config.pop(key)
    old = type(matching_model).from_config(config)
    assert old.matching_keys == "rgb" and old.correction_gate is None and not old.zero_mean_correction
    assert not old.matching.weights and len(old.weights) == len(matching_model.weights)


def test_unknown_matching_keys_is_one_config_error():
    with pytest.raises(ConfigError, match="vos.matching_keys"):
        tiny_vos_config(**{"vos.matching_keys": "i3d"})
