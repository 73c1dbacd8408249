"""VideoCapsuleDetector: shapes, masking, presets, serialization and bad input."""

import json
import zipfile

import keras
import numpy as np
import pytest
from keras import ops

from ssvad_keras.config import ModelConfig
from ssvad_keras.errors import CheckpointError, SsvadError
from ssvad_keras.layers import SameMaxPool3D
from ssvad_keras.models import VideoCapsuleDetector, build_detector, load_detector

SMALL = {
    "encoder_width": 0.125,
    "primary_kernel": 3,
    "primary_types": 4,
    "decoder_channels": 4,
    "decoder_final_channels": 4,
}


def _detector(clip=(8, 32, 32), classes=3, **overrides):
    return VideoCapsuleDetector(classes, clip_shape=(*clip, 3), **{**SMALL, **overrides}, seed=1)


def _clip(batch=2, size=(8, 32, 32), seed=0):
    return np.random.default_rng(seed).uniform(size=(batch, *size, 3)).astype("float32")


@pytest.mark.parametrize(
    ("clip", "variant", "grid"),
    [((8, 32, 32), "ssl", (2, 2)), ((4, 48, 40), "ssl", (4, 3)), ((8, 64, 64), "original", (2, 2))],
)
def test_output_shapes(clip, variant, grid):
    det = _detector(clip, encoder_variant=variant)
    out = det(_clip(2, clip))
    assert tuple(out["class_scores"].shape) == (2, 3)
    assert tuple(out["features"].shape) == (2, *grid, 3)
    assert tuple(out["loc_logits"].shape) == (2, *clip, 1)
    scores = ops.convert_to_numpy(out["class_scores"])
    assert np.all((scores > 0) & (scores < 1))
    # The class score is the mean class-capsule activation over the grid.
    np.testing.assert_allclose(
        scores, ops.convert_to_numpy(out["features"]).mean(axis=(1, 2)), atol=1e-6
    )


def test_masking_inputs_select_the_decoded_class():
    # Seeded initialisation: with an unlucky random one, the ReLU after the 4-channel capsule
    # upsampling can pass almost nothing, and the class mask then barely moves the logits.
    keras.utils.set_random_seed(7)
    det = _detector()
    clip = _clip()
    plain = det(clip)
    predicted = ops.convert_to_numpy(plain["class_scores"]).argmax(-1)
    onehot = np.eye(3, dtype="float32")[predicted]
    other = np.eye(3, dtype="float32")[(predicted + 1) % 3]
    gt_as_predicted = det({"clip": clip, "class_mask": onehot})
    forced_predicted = det(
        {"clip": clip, "class_mask": other, "use_predicted_mask": np.ones(2, "float32")}
    )
    other_class = det({"clip": clip, "class_mask": other, "use_predicted_mask": np.zeros(2, "float32")})
    ref = ops.convert_to_numpy(plain["loc_logits"])
    np.testing.assert_allclose(ops.convert_to_numpy(gt_as_predicted["loc_logits"]), ref, atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(forced_predicted["loc_logits"]), ref, atol=1e-6)
    # The decoder starts from small N(0, 0.02) kernels, so compare relative to the logits' scale.
    change = np.max(np.abs(ops.convert_to_numpy(other_class["loc_logits"]) - ref))
    assert change > 1e-5 * np.max(np.abs(ref))


def test_pixel_range_is_applied_before_the_encoder():
    det01 = _detector()
    det11 = _detector(pixel_range="-1_1")
    det11.set_weights(det01.get_weights())
    clip = _clip(1)
    a = det11(clip)["class_scores"]
    b = det01(2.0 * clip - 1.0)["class_scores"]
    np.testing.assert_allclose(ops.convert_to_numpy(a), ops.convert_to_numpy(b), atol=1e-6)


@pytest.mark.parametrize(
    ("clip", "match"),
    [(np.zeros((8, 32, 32, 3), "float32"), "batch, T, H, W, 3"),
     (np.zeros((1, 8, 32, 32, 1), "float32"), "batch, T, H, W, 3"),
     (np.zeros((1, 8, 40, 32, 3), "float32"), "does not match")],
)
def test_bad_clips_raise_one_line_errors(clip, match):
    with pytest.raises(SsvadError, match=match):
        _detector()(clip)


def test_presets_and_paper_parameter_count():
    tiny = build_detector(preset="tiny", num_classes=5)
    assert tiny.clip_shape == (8, 64, 64, 3)
    paper = build_detector(preset="paper", num_classes=24)
    assert paper.clip_shape == (8, 224, 224, 3)
    trainable = sum(int(np.prod(w.shape)) for w in paper.trainable_weights)
    assert trainable == 48_003_705  # SPEC 2: 48.0 M
    primary = sum(int(np.prod(w.shape)) for w in paper.primary_capsules.trainable_weights)
    assert round(primary / 1e6, 1) == 36.7


def test_build_from_model_config_needs_input_shape():
    config = ModelConfig(**SMALL)
    det = build_detector(config=config, num_classes=2, input_shape=(8, 32, 32))
    assert det.clip_shape == (8, 32, 32, 3)
    with pytest.raises(SsvadError, match="input_shape"):
        build_detector(config=config, num_classes=2)


def test_routing_rematerialisation_comes_from_the_config_and_survives_saving():
    assert build_detector(config=ModelConfig(**SMALL), num_classes=2, input_shape=(8, 32, 32)).class_capsules.rematerialize
    config = ModelConfig(**SMALL, rematerialize_routing=False)
    det = build_detector(config=config, num_classes=2, input_shape=(8, 32, 32))
    assert det.class_capsules.rematerialize is False
    assert type(det).from_config(det.get_config()).class_capsules.rematerialize is False


def test_keras_archive_round_trip_with_safe_mode(tmp_path):
    det = _detector(routing="dynamic")
    clip = _clip()
    det.save(tmp_path / "det.keras")
    loaded = keras.saving.load_model(tmp_path / "det.keras", safe_mode=True)
    also = load_detector(tmp_path / "det.keras")
    for other in (loaded, also):
        a, b = det(clip), other(clip)
        for key in a:
            np.testing.assert_array_equal(ops.convert_to_numpy(a[key]), ops.convert_to_numpy(b[key]))
    assert also.get_config() == det.get_config()
    # An archive from before the `kernels` option: the same config keys less that one.
    old = tmp_path / "old.keras"
    with zipfile.ZipFile(tmp_path / "det.keras") as source, zipfile.ZipFile(old, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "config.json":
                archive = json.loads(data)
                del archive["config"]["kernels"]
                data = json.dumps(archive).encode()
            target.writestr(item, data)
    before = load_detector(old)
    assert before.model_config.kernels == "auto"
    np.testing.assert_array_equal(
        ops.convert_to_numpy(before(clip)["loc_logits"]), ops.convert_to_numpy(det(clip)["loc_logits"])
    )


def test_weights_only_round_trip(tmp_path):
    det = _detector()
    det.save_weights(tmp_path / "det.weights.h5")
    fresh = _detector()
    clip = _clip(1)
    assert np.max(np.abs(ops.convert_to_numpy(det(clip)["loc_logits"] - fresh(clip)["loc_logits"]))) > 0
    fresh.load_weights(tmp_path / "det.weights.h5")
    np.testing.assert_array_equal(
        ops.convert_to_numpy(det(clip)["loc_logits"]), ops.convert_to_numpy(fresh(clip)["loc_logits"])
    )


def test_archive_needing_unsafe_deserialization_is_refused(tmp_path):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2.0)(inputs))
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(CheckpointError, match="unsafe deserialization"):
        load_detector(tmp_path / "lambda.keras")


def test_non_archives_are_refused(tmp_path):
    (tmp_path / "junk.keras").write_text("not a zip")
    with pytest.raises(CheckpointError, match="not a .keras model archive"):
        load_detector(tmp_path / "junk.keras")
    with zipfile.ZipFile(tmp_path / "empty.keras", "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(CheckpointError, match="cannot load model"):
        load_detector(tmp_path / "empty.keras")
    with pytest.raises(CheckpointError, match="not found"):
        load_detector(tmp_path / "missing.keras")


def test_reference_and_cpu_fast_kernels_agree_in_values_and_gradients():
    import tensorflow as tf

    # Dropout off (the fused head draws its channel mask its own way) and dynamic routing (the
    # released EM's "std" is a float32 cancellation that amplifies summation-order noise).
    options = {"routing": "dynamic", "encoder_dropout": 0.0, "decoder_dropout": 0.0}
    fast = _detector((4, 32, 32), kernels="cpu_fast", name="det", **options)
    reference = _detector((4, 32, 32), kernels="reference", name="det", **options)
    assert (fast.resolved_kernels, reference.resolved_kernels) == ("cpu_fast", "reference")
    assert fast.decoder._fuse and not reference.decoder._fuse
    # The same variables either way, so a checkpoint of one path loads into the other.
    assert [(v.path, tuple(v.shape)) for v in fast.weights] == [
        (v.path, tuple(v.shape)) for v in reference.weights
    ]
    reference.set_weights(fast.get_weights())
    # Gradients at tied maxima differ by design: TensorFlow's CPU MaxPool3DGrad hands the
    # gradient to every tied maximum, `separable_max_pool3d` to one (as TensorFlow's 2D
    # MaxPoolGrad does), and cascaded pools tie (a pooled maximum fills overlapping windows).
    # So the pools run one implementation on both sides here; their own parity, without
    # ties, is tests/layers/test_i3d_encoder.py's.
    for layer in fast._flatten_layers():
        if isinstance(layer, SameMaxPool3D):
            layer._fast = False
    clip = tf.constant(_clip(size=(4, 32, 32)))
    upstream = tf.constant(np.random.default_rng(5).normal(size=(2, 4, 32, 32, 1)).astype("float32"))

    def run(det, training):
        with tf.GradientTape() as tape:
            out = det(clip, training=training)
            loss = tf.reduce_sum(out["loc_logits"] * upstream) + tf.reduce_sum(out["class_scores"])
        return out, tape.gradient(loss, det.trainable_weights)

    # Inference (moving statistics): equal to float32 summation order. Training (batch
    # statistics of 2 clips): normalising by the spread of a few dozen values per channel
    # amplifies that order noise to ~1e-4 of the outputs' scale and ~1e-2 of some batch-norm
    # gradients; a wrong operator would be off by the whole scale.
    for training, value_tol, grad_tol in ((False, 1e-5, 1e-4), (True, 1e-3, 5e-2)):
        (got, got_grads), (want, want_grads) = run(fast, training), run(reference, training)
        for key in want:
            a, b = got[key].numpy(), want[key].numpy()
            np.testing.assert_allclose(a, b, rtol=0, atol=value_tol * np.abs(b).max(), err_msg=key)
        for variable, g, w in zip(fast.trainable_weights, got_grads, want_grads, strict=True):
            g, w = g.numpy(), w.numpy()
            np.testing.assert_allclose(
                g, w, rtol=0, atol=grad_tol * np.abs(w).max() + 1e-8, err_msg=variable.path
            )


def test_auto_kernels_follow_the_visible_devices_and_are_saved_as_auto(monkeypatch):
    from ssvad_keras.layers import cpu_kernels

    monkeypatch.setattr(cpu_kernels, "accelerator_visible", lambda: True)
    on_gpu = _detector((4, 32, 32))
    assert on_gpu.resolved_kernels == "reference" and not on_gpu.decoder._fuse
    monkeypatch.setattr(cpu_kernels, "accelerator_visible", lambda: False)
    on_cpu = type(on_gpu).from_config(on_gpu.get_config())
    assert on_cpu.resolved_kernels == "cpu_fast" and on_cpu.decoder._fuse
    assert on_gpu.get_config()["kernels"] == on_cpu.get_config()["kernels"] == "auto"


def test_model_config_is_the_one_source_of_the_detector_options():
    from ssvad_keras.models.detector import ARCHITECTURE_FIELDS

    assert set(ModelConfig.model_fields) - set(ModelConfig.WEIGHT_FIELDS) == set(ARCHITECTURE_FIELDS)
    # Stored as attributes: none may shadow a Keras model attribute.
    assert not [name for name in ARCHITECTURE_FIELDS if hasattr(keras.Model, name)]
    config = ModelConfig(**SMALL, routing="dynamic", kernels="reference", pose_size=3)
    det = build_detector(config=config, num_classes=2, input_shape=(8, 32, 32))
    assert det.model_config.model_dump(include=set(ARCHITECTURE_FIELDS)) == config.model_dump(
        include=set(ARCHITECTURE_FIELDS)
    )
    assert det.pose_size == 3 and det.class_capsules.pose_size == 3
    saved = det.get_config()
    assert set(saved) == {"name", "num_classes", "clip_shape", "seed", *ARCHITECTURE_FIELDS}
    assert type(det).from_config(saved).get_config() == saved


def test_invalid_model_options_raise_one_line_config_errors():
    from ssvad_keras.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^model\.pixel_range: "):
        _detector(pixel_range="0_255")
    with pytest.raises(ConfigError, match=r"^model\.kernels: "):
        _detector(kernels="gpu_fast")
