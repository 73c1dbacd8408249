"""The Eq. 7-9 combiner: every LossConfig switch, labeled-only supervision, graph mode."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from ssvad_keras.config import LossConfig
from ssvad_keras.losses import (
    bce_with_logits_loss,
    consistency_l2,
    dice_loss,
    gradient_smoothness_loss,
    jsd_loss,
    margin_loss,
    semi_supervised_loss,
    temporal_coherence_loss,
)

CLASSES = 3


def _value(x) -> float:
    return float(ops.convert_to_numpy(x))


def _batch(seed: int = 0, labeled=(1.0, 0.0, 1.0, 0.0)):
    rng = np.random.default_rng(seed)
    size = len(labeled)

    def outputs():
        return {
            "class_scores": rng.uniform(size=(size, CLASSES)).astype(np.float32),
            "features": rng.uniform(size=(size, 2, 2, CLASSES)).astype(np.float32),
            "loc_logits": rng.normal(size=(size, 4, 3, 3, 1)).astype(np.float32),
        }

    batch = {
        "labeled": np.asarray(labeled, np.float32),
        "label": rng.integers(0, CLASSES, size=size).astype(np.int32),
        "mask": (rng.uniform(size=(size, 4, 3, 3, 1)) > 0.5).astype(np.float32),
        "frame_valid": np.array([[1, 1, 1, 0]] * size, np.float32),
    }
    return outputs(), outputs(), batch


def test_default_config_composes_eq_7_to_9():
    out, aug, batch = _batch()
    cfg = LossConfig(margin_weight=0.5, bce_weight=2.0, dice_weight=0.7)
    w = 0.4
    parts = semi_supervised_loss(out, aug, batch, cfg, w)
    keep = batch["labeled"].astype(bool)
    onehot = np.eye(CLASSES, dtype=np.float32)[batch["label"][keep]]
    margin = _value(margin_loss(onehot, out["class_scores"][keep], 0.2))
    bce = _value(bce_with_logits_loss(batch["mask"][keep], out["loc_logits"][keep]))
    dice = _value(dice_loss(batch["mask"][keep], out["loc_logits"][keep]))
    jsd = _value(jsd_loss(out["features"], aug["features"]))
    # Defaults: cyclic variance, window 5, plain L2 on, gain 1, no gradient smoothness.
    coherence = _value(temporal_coherence_loss(out["loc_logits"], aug["loc_logits"], w))
    labeled = 0.5 * margin + 2.0 * bce + 0.7 * dice
    consistency = 0.3 * jsd + 0.7 * coherence
    expected = {
        "margin": margin,
        "bce": bce,
        "dice": dice,
        "cls": 0.5 * margin,
        "loc": 2.0 * bce + 0.7 * dice,
        "labeled": labeled,
        "cls_consistency": jsd,
        "loc_consistency": coherence,
        "consistency": consistency,
        "loss": labeled + 0.1 * consistency,
    }
    assert set(parts) == set(expected)
    for key, value in expected.items():
        assert _value(parts[key]) == pytest.approx(value, rel=1e-5), key


@pytest.mark.parametrize(
    ("settings", "reference"),
    [
        ({"temporal_coherence": "none"}, lambda x, a, w: consistency_l2(x, a)),
        (
            {"temporal_coherence": "none", "consistency_on_probabilities": True},
            lambda x, a, w: consistency_l2(x, a, on_probabilities=True),
        ),
        (
            {"temporal_coherence": "variance", "variance_window": 3, "plain_l2": False},
            lambda x, a, w: temporal_coherence_loss(x, a, w, window=3, cyclic=False, plain_l2=False),
        ),
        (
            {"variance_mask_gain": 2.0, "variance_on_probabilities": True},
            lambda x, a, w: temporal_coherence_loss(x, a, w, on_probabilities=True, mask_gain=2.0),
        ),
        (
            {"temporal_coherence": "none", "gradient_smoothness": True, "plain_l2": False},
            lambda x, a, w: gradient_smoothness_loss(x, a),
        ),
        (
            {"temporal_coherence": "none", "gradient_smoothness": True, "gradient_lower": 0.2},
            lambda x, a, w: gradient_smoothness_loss(x, a, lower=0.2, plain_l2=True),
        ),
        (
            {"gradient_smoothness": True, "attention_mix": 0.25},
            lambda x, a, w: 0.25 * temporal_coherence_loss(x, a, w)
            + 0.75 * gradient_smoothness_loss(x, a, plain_l2=False),
        ),
    ],
)
def test_localization_consistency_switches(settings, reference):
    out, aug, batch = _batch(1)
    w = 0.7
    parts = semi_supervised_loss(out, aug, batch, LossConfig(**settings), w)
    expected = _value(reference(out["loc_logits"], aug["loc_logits"], w))
    assert _value(parts["loc_consistency"]) == pytest.approx(expected, rel=1e-5)


def test_switched_off_consistencies_are_zero():
    out, aug, batch = _batch(2)
    cfg = LossConfig(cls_consistency=False, loc_consistency=False)
    parts = semi_supervised_loss(out, aug, batch, cfg, 1.0)
    assert _value(parts["cls_consistency"]) == 0.0
    assert _value(parts["loc_consistency"]) == 0.0
    assert _value(parts["loss"]) == pytest.approx(_value(parts["labeled"]), rel=1e-6)


def test_supervised_terms_ignore_unlabeled_clips_entirely():
    out, aug, batch = _batch(3)
    changed = {k: v.copy() for k, v in out.items()}
    unlabeled = ~batch["labeled"].astype(bool)
    changed["class_scores"][unlabeled] = 0.9
    changed["loc_logits"][unlabeled] = -7.0
    moved = dict(batch, mask=batch["mask"].copy(), label=batch["label"].copy())
    moved["mask"][unlabeled] = 1.0 - moved["mask"][unlabeled]
    moved["label"][unlabeled] = -1  # unlabeled clips may carry no label at all
    a = semi_supervised_loss(out, aug, batch, LossConfig(), 0.5)
    b = semi_supervised_loss(changed, aug, moved, LossConfig(), 0.5)
    assert _value(a["labeled"]) == pytest.approx(_value(b["labeled"]), rel=1e-6)
    assert _value(a["loc_consistency"]) != pytest.approx(_value(b["loc_consistency"]))


def test_all_unlabeled_batch_has_zero_supervised_loss_and_finite_gradients():
    out, aug, batch = _batch(4, labeled=(0.0, 0.0, 0.0, 0.0))
    variables = {k: tf.Variable(v) for k, v in out.items()}
    with tf.GradientTape() as tape:
        parts = semi_supervised_loss(variables, aug, batch, LossConfig(gradient_smoothness=True), 0.5)
    assert _value(parts["labeled"]) == 0.0
    assert _value(parts["loss"]) > 0.0
    for grad in tape.gradient(parts["loss"], list(variables.values())):
        assert np.all(np.isfinite(grad.numpy()))


def test_annotated_frames_option_uses_frame_valid():
    out, aug, batch = _batch(5)
    parts = semi_supervised_loss(out, aug, batch, LossConfig(loc_frames="annotated"), 0.5)
    keep = batch["labeled"].astype(bool)
    expected = bce_with_logits_loss(
        batch["mask"][keep][:, :3], out["loc_logits"][keep][:, :3]
    )
    assert _value(parts["bce"]) == pytest.approx(_value(expected), rel=1e-5)


def test_runs_inside_tf_function_with_a_tensor_ramp():
    out, aug, batch = _batch(6)
    cfg = LossConfig(gradient_smoothness=True)

    @tf.function(jit_compile=False)
    def total(ramp):
        return semi_supervised_loss(out, aug, batch, cfg, ramp)["loss"]

    eager = semi_supervised_loss(out, aug, batch, cfg, 0.3)["loss"]
    assert _value(total(tf.constant(0.3))) == pytest.approx(_value(eager), rel=1e-5)


def test_consistency_ramp_weight_scales_only_the_consistency_term():
    out, aug, batch = _batch(7)
    cfg = LossConfig(consistency_weight=0.6, consistency_ramp=True)
    plain = semi_supervised_loss(out, aug, batch, cfg, 0.5)
    ramped = semi_supervised_loss(out, aug, batch, cfg, 0.5, consistency_ramp_weight=0.25)
    for key in ("labeled", "consistency", "cls_consistency", "loc_consistency"):
        assert _value(ramped[key]) == pytest.approx(_value(plain[key]), rel=1e-6)
    expected = _value(plain["labeled"]) + 0.6 * 0.25 * _value(plain["consistency"])
    assert _value(ramped["loss"]) == pytest.approx(expected, rel=1e-5)
    assert _value(plain["consistency"]) > 0.0  # the ramp had something to scale
