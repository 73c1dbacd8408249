"""Mean teacher and pseudo-label training: EMA arithmetic, the strong view's geometry, the train
step's targets, resume and run-directory weights (tf.distribute and mixed precision:
test_mean_teacher_replicas.py)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from typer.testing import CliRunner

from ssvad_cli.main import app
from ssvad_keras.config import StrongAugmentConfig, load_config
from ssvad_keras.data.strong_augment import draw_strong_view_params, luma, strong_view
from ssvad_keras.errors import CheckpointError, ConfigError
from ssvad_keras.inference.forward import load_checkpoint
from ssvad_keras.models import build_detector
from ssvad_keras.training import RunDir, train
from ssvad_keras.training.mean_teacher import ema_alpha, ema_update
from ssvad_keras.training.methods import build_trainer

from .conftest import NUM_CLASSES, make_batch, tiny_config

# Dropout off: Keras checkpoints do not hold dropout's random state, so with dropout a resumed
# run draws other masks than an uninterrupted one (for every method, pi included).
MEAN_TEACHER = {
    "train.method": "mean_teacher",
    "loss.dop_weight": 1.0,
    "loss.error_recovery": True,
    "loss.error_recovery_channels": 2,
    "data.augment.probability": 0.5,
    "model.encoder_dropout": 0.0,
    "model.decoder_dropout": 0.0,
}


def test_ema_alpha_follows_min_of_the_warmup_and_the_ceiling():
    assert [round(float(ema_alpha(step, 0.99)), 6) for step in (0, 1, 9, 1000)] == [0.0, 0.5, 0.9, 0.99]
    assert float(ema_alpha(1000, 0.9999)) == pytest.approx(1 - 1 / 1001, rel=1e-6)


def test_ema_update_blends_every_variable_in_one_traced_graph():
    teachers = [keras.Variable(np.array([1.0, 2.0], np.float32)), keras.Variable(np.full((2, 2), 4.0, np.float32))]
    students = [keras.Variable(np.array([3.0, 6.0], np.float32)), keras.Variable(np.zeros((2, 2), np.float32))]
    counter = keras.Variable(0, dtype="int64")
    pairs = list(zip(teachers, students, strict=True))
    step = tf.function(lambda: ema_update(pairs, ema_alpha(counter, 0.99), counter=counter))
    step()  # update 0: alpha 0, the teacher becomes the student
    np.testing.assert_allclose(teachers[0].numpy(), [3.0, 6.0])
    teachers[0].assign([1.0, 2.0])
    step()  # update 1: alpha 0.5
    np.testing.assert_allclose(teachers[0].numpy(), [2.0, 4.0])
    np.testing.assert_allclose(teachers[1].numpy(), np.zeros((2, 2)))
    assert int(counter.numpy()) == 2
    graph = step.get_concrete_function().graph
    assigns = [op for op in graph.get_operations() if op.type == "AssignSubVariableOp"]
    assert len(assigns) == len(pairs)  # one fused assign per variable, no per-step Python


@pytest.mark.parametrize("always", [False, True])
def test_strong_view_changes_pixel_values_never_their_place(always):
    """A bright marker on a grey clip stays the brightest pixel at the same frame and place,
    whatever is drawn; identical frames stay identical (one draw per clip)."""
    config = StrongAugmentConfig(
        **({"jitter_probability": 1.0, "grayscale_probability": 1.0, "blur_probability": 1.0} if always else {})
    )
    clips = np.full((16, 4, 12, 12, 3), 0.4, np.float32)
    clips[:, 2, 5, 7] = (1.0, 0.9, 0.8)
    params = draw_strong_view_params(16, config, tf.constant([3, 11], tf.int64))
    strong = np.asarray(strong_view(tf.constant(clips), params, config.blur_sigma[1]))
    grey = np.asarray(luma(strong))[..., 0].reshape(16, -1)
    assert (np.unravel_index(grey.argmax(axis=1), (4, 12, 12))[0] == 2).all()
    assert (np.ravel_multi_index((2, 5, 7), (4, 12, 12)) == grey.argmax(axis=1)).all()
    assert strong.min() >= 0.0 and strong.max() <= 1.0
    np.testing.assert_array_equal(strong[:, 0], strong[:, 1])  # same transform on every frame
    if always:
        assert np.abs(strong - clips).max(axis=(1, 2, 3, 4)).min() > 1e-3  # every clip changed


def test_student_masks_with_the_teachers_class_after_the_pseudo_label_epoch():
    config = tiny_config(**{"train.method": "mean_teacher"})
    detector = build_detector(config=config, num_classes=NUM_CLASSES)
    trainer = build_trainer(config, detector, NUM_CLASSES)
    batch = make_batch(4, labeled=(1, 0, 1, 0))
    teacher_scores = np.eye(NUM_CLASSES, dtype=np.float32)[[4, 3, 2, 1]]
    before = np.asarray(trainer._student_class_masks(batch, teacher_scores))
    trainer.epoch.assign(float(config.train.pseudo_label_epoch))
    after = np.asarray(trainer._student_class_masks(batch, teacher_scores))
    onehot = np.eye(NUM_CLASSES, dtype=np.float32)
    for i in (0, 2):  # labeled: ground truth throughout
        np.testing.assert_array_equal(before[i], onehot[batch["label"][i]])
        np.testing.assert_array_equal(after[i], onehot[batch["label"][i]])
    np.testing.assert_array_equal(before[[1, 3]], np.ones((2, NUM_CLASSES)))
    np.testing.assert_array_equal(after[[1, 3]], onehot[[3, 1]])  # the teacher's prediction
    assert trainer.inference_detector() is trainer.teacher
    assert set(trainer.alternate_detectors()) == {"student"}
    with pytest.raises(ConfigError, match="mean_teacher"):
        build_trainer(tiny_config(**{"loss.dop_weight": 1.0}), detector, NUM_CLASSES)


def _mean_teacher_trainer(config):
    detector = build_detector(config=config, num_classes=NUM_CLASSES)
    trainer = build_trainer(config, detector, NUM_CLASSES)
    # Eager steps: two of them cost less than tracing the step (the traced path runs in `train`).
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)
    trainer.compute_losses(make_batch(), training=False)
    trainer.optimizer.build(trainer.trainable_variables)
    return trainer


def _fit(trainer, seeds) -> None:
    for seed in seeds:
        trainer.fit(tf.data.Dataset.from_tensors(make_batch(4, seed=seed)), verbose=0)


def test_resumed_teacher_equals_the_uninterrupted_one(tmp_path):
    """Two steps straight, with a checkpoint written after the first; a fresh trainer loads it
    and takes the second step: the teacher, the EoR copy, the student and the update counter come
    out the same (`save_weights` holds them). Writing the checkpoint changes no state, so the
    straight run is the uninterrupted one."""
    config = tiny_config(**MEAN_TEACHER)
    keras.utils.set_random_seed(0)
    whole = _mean_teacher_trainer(config)
    _fit(whole, (1,))
    whole.save_weights(tmp_path / "last.weights.h5")
    _fit(whole, (2,))
    resumed = _mean_teacher_trainer(config)  # other initial weights: the checkpoint replaces them
    resumed.load_weights(tmp_path / "last.weights.h5")
    assert int(resumed.teacher_updates.numpy()) == 1
    _fit(resumed, (2,))
    assert int(resumed.teacher_updates.numpy()) == int(whole.teacher_updates.numpy()) == 2
    for network in ("teacher", "error_recovery_teacher", "detector"):
        for a, b in zip(getattr(whole, network).get_weights(), getattr(resumed, network).get_weights(), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=network)
    # After two updates the teacher is the average of the two students (alpha 0 then 0.5), not a copy.
    differs = [np.abs(a - b).max() for a, b in zip(whole.teacher.get_weights(), whole.detector.get_weights(), strict=True)]
    assert max(differs) > 0


def test_mean_teacher_run_saves_teacher_and_student(training_dataset, tmp_path):
    """Mean teacher + DoP + EoR through `train`: DoP and EoR are logged, best.keras is the teacher
    (eval.weights) and best.student.keras the student of the same epoch."""
    config = tiny_config(**{**MEAN_TEACHER, "train.epochs": 1, "train.tensorboard_images": 0})
    result = train(config, training_dataset, 0.2, tmp_path / "run", progress=False)
    state = RunDir.open(result.run_dir).load_state()
    assert state.finished and {"dop", "error_recovery", "val_vmap@0.5"} <= set(state.history[-1])
    assert np.isfinite(state.history[-1]["loss"]) and state.history[-1]["error_recovery"] > 0
    teacher, _, teacher_path = load_checkpoint(result.run_dir)
    student, _, student_path = load_checkpoint(result.run_dir, "student")
    assert teacher_path.name == "best.keras" and student_path.name == "best.student.keras"
    assert load_checkpoint(result.run_dir, "teacher")[2].name == "best.keras"
    assert (result.run_dir / "last.student.keras").is_file()
    assert teacher.name == "teacher"
    differs = [np.abs(a - b).max() for a, b in zip(teacher.get_weights(), student.get_weights(), strict=True)]
    assert max(differs) > 0  # alpha 0.5 at the second update: the two networks differ


def test_pseudo_label_run_trains_on_confident_unlabeled_clips(training_dataset, tmp_path):
    config = tiny_config(**{
        "train.method": "pseudo_label", "train.epochs": 1, "train.pseudo_label_epoch": 0,
        "train.tensorboard_images": 0, "loss.pseudo_class_margin": 0.0,
        "loss.cls_consistency": False, "loss.loc_consistency": False,
    })
    result = train(config, training_dataset, 0.2, tmp_path / "run", progress=False)
    history = RunDir.open(result.run_dir).load_state().history
    assert history[-1]["pseudo_labeled"] == pytest.approx(1.0)  # margin 0: every clip is confident
    assert np.isfinite(history[-1]["loss"])
    assert not (result.run_dir / "best.student.keras").exists()
    with pytest.raises(CheckpointError, match="one network"):
        load_checkpoint(result.run_dir, "student")
    # The CLI passes --weights through: a run of one network refuses it in one line.
    cli = CliRunner().invoke(
        app, ["evaluate", "--checkpoint", str(result.run_dir), "--data", str(training_dataset), "--weights", "teacher"]
    )
    # The CLI's one-line handler lives in `main()`; through `app` the error reaches the runner.
    assert cli.exit_code != 0 and isinstance(cli.exception, CheckpointError)
    assert "one network" in str(cli.exception) and "\n" not in str(cli.exception)


def test_the_experiment_files_select_each_method():
    from ssvad_keras.config import configs_dir

    experiments = configs_dir() / "experiments"
    found = {
        name: load_config([configs_dir() / "synthetic.toml", experiments / f"{name}.toml"])
        for name in ("pseudo_label", "mean_teacher", "mean_teacher_dop", "mean_teacher_dop_eor")
    }
    assert found["pseudo_label"].train.method == "pseudo_label"
    assert [found[n].loss.dop_weight > 0 for n in ("mean_teacher", "mean_teacher_dop")] == [False, True]
    assert found["mean_teacher_dop_eor"].loss.error_recovery and found["mean_teacher_dop_eor"].train.method == "mean_teacher"
    assert found["mean_teacher"].data.augment.probability == 0.5  # a random weak-view flip
    assert {found[n].loss.consistency_weight for n in ("mean_teacher", "mean_teacher_dop", "mean_teacher_dop_eor")} == {0.1}


def test_the_tiny_preset_trains_a_mean_teacher_with_the_full_loss_and_pi_toml_the_papers_pi():
    from ssvad_keras.config import configs_dir

    experiments = configs_dir() / "experiments"
    headline = load_config([configs_dir() / "synthetic.toml", experiments / "full_method.toml"])
    assert headline.train.method == "mean_teacher" and headline.loss.consistency_weight == 0.1
    assert headline.loss.temporal_coherence == "cyclic" and headline.loss.plain_l2 and headline.loss.cls_consistency
    assert headline.loss.ramp_epochs == 6 == headline.train.pseudo_label_epoch
    assert headline.data.augment.probability == 0.5
    # `ssvad train --preset tiny` without a file: the same method and loss.
    bare = load_config(preset="tiny")
    assert (bare.train.method, bare.loss.consistency_weight, bare.loss.temporal_coherence) == ("mean_teacher", 0.1, "cyclic")
    pi = load_config([configs_dir() / "synthetic.toml", experiments / "pi.toml"])
    assert (pi.train.method, pi.loss.consistency_weight, pi.data.augment.probability) == ("pi", 1.0, 1.0)
    assert pi.loss.temporal_coherence == "cyclic" and pi.loss.cls_consistency  # full_method.toml, its base
    # The paper preset keeps the paper's Pi at the paper's lambda.
    paper = load_config(experiments / "full_method.toml", preset="paper")
    assert (paper.train.method, paper.loss.consistency_weight, paper.loss.ramp_epochs) == ("pi", 0.1, None)


def test_a_supervised_only_run_trains_the_one_network_whatever_the_method():
    from ssvad_keras.training.trainer import SemiSupervisedTrainer

    for method in ("mean_teacher", "pseudo_label"):
        config = tiny_config(**{"train.method": method, "train.semi_supervised": False,
                                "loss.cls_consistency": False, "loss.loc_consistency": False})
        trainer = build_trainer(config, build_detector(config=config, num_classes=NUM_CLASSES), NUM_CLASSES)
        assert type(trainer) is SemiSupervisedTrainer
        assert trainer.inference_detector() is trainer.detector
    semi = tiny_config(**{"train.method": "mean_teacher"})
    assert type(build_trainer(semi, build_detector(config=semi, num_classes=NUM_CLASSES), NUM_CLASSES)) is not SemiSupervisedTrainer


@pytest.mark.parametrize("method", ["pi", "mean_teacher"])
def test_consistency_ramp_multiplies_lambda_by_the_sigmoid_ramp(method):
    overrides = {"train.method": method, "loss.consistency_weight": 1.0, "model.encoder_dropout": 0.0,
                 "model.decoder_dropout": 0.0, "train.epochs": 4}
    batch = make_batch(4, labeled=(1, 0, 1, 0))
    parts = {}
    for ramped in (False, True):
        config = tiny_config(**overrides, **{"loss.consistency_ramp": ramped})
        keras.utils.set_random_seed(3)
        trainer = build_trainer(config, build_detector(config=config, num_classes=NUM_CLASSES), NUM_CLASSES)
        trainer.epoch.assign(1.0)  # sigmoid ramp exp(-5 (1 - 1/4)^2) = 0.06
        for variable in trainer.detector.trainable_variables:  # a student unlike its teacher
            variable.assign(variable * 1.2)
        parts[ramped] = {k: float(v) for k, v in trainer.compute_losses(batch, training=False).items()}
    ramp = parts[True]["ramp_weight"]
    assert ramp == pytest.approx(np.exp(-5 * 0.75**2), rel=1e-5)
    assert parts[True]["consistency"] == pytest.approx(parts[False]["consistency"], rel=1e-5)
    assert parts[False]["loss"] == pytest.approx(parts[False]["labeled"] + parts[False]["consistency"], rel=1e-5)
    assert parts[True]["loss"] == pytest.approx(parts[True]["labeled"] + ramp * parts[True]["consistency"], rel=1e-5)
    removed = parts[False]["loss"] - parts[True]["loss"]  # what the ramp took off the total
    assert parts[True]["consistency"] > 1e-4 and removed == pytest.approx((1 - ramp) * parts[True]["consistency"], rel=1e-2)
