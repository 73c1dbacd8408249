"""The mean teacher (Tarvainen & Valpola 2017) as Stable Mean Teacher applies it to video action
detection (Kumar, Mitra & Rawat, AAAI 2025): `MeanTeacherTrainer`.

One step, all inside the compiled train step:
1. The teacher, an exponential moving average (EMA) of the student's weights, sees the weak view
   (the pipeline's `aug_clip`: the crop, plus the recorded flip and frame order) without gradient.
2. The student sees the strong view: the weak view's pixels after photometric jitter, grayscale
   and blur (`data.strong_augment`), so both views share the geometry and nothing is mapped back.
   Ground truth is mapped forward to that geometry once.
3. Losses (paper Eq. 7-9 with the teacher in the augmented view's place): supervised terms on the
   student's labeled clips; for every clip, labeled or not, the JSD between the student's and the
   teacher's class activations and the localization consistency toward the teacher's mask logits
   (plain L2, optionally with the paper's attention masks), plus the difference of pixels (DoP)
   with its sigmoid ramp; optionally error recovery (EoR), below.
4. The optimizer updates the student (and the EoR net), then the EMA moves the teacher.

Capsule masking: the teacher masks as the Pi trainer does (ground truth for labeled clips; all
classes for unlabeled ones until `train.pseudo_label_epoch`, then its own predicted class); the
student's unlabeled clips use the *teacher's* predicted class after that epoch.

BatchNorm: the teacher runs in inference mode (`training=False`), with moving statistics that are
themselves the EMA of the student's moving statistics (the EMA covers every float weight, not
only the trainable ones). Why: the targets are then a pure function of the teacher's weights
(no dropout noise, no dependence on which clips share the batch or on how `tf.distribute` splits
it, no state written by the teacher's own forward pass), and they are exactly what the saved
teacher predicts at evaluation and export. The released SMT code differs: it runs its teacher in
PyTorch's train mode (batch statistics, dropout active) and averages parameters only; see
docs/method.md, "Mean teacher family".

EMA: alpha = min(1 - 1/(step + 1), alpha_max), with `step` the number of EMA updates done before
(0, 1, 2, ...), applied after the optimizer's update: the first step copies the updated student
(alpha 0), then 0.5, 0.67, ... up to alpha_max. The update is one cross-replica call
(`maybe_merge_call`, as Keras's own optimizers apply gradients) that assigns every teacher
variable `t -= (1 - alpha) (t - s)`; the Python loop over variables runs once, when the step is
traced, and leaves one fused-assign op per variable in the step's graph: no host work per step.
The update counter is saved with the trainer, so a resumed run continues the same alpha schedule
and draws the same strong views.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf
from keras import ops

from ssvad_keras.config import StrongAugmentConfig, TrainConfig
from ssvad_keras.data.augment import apply_view
from ssvad_keras.data.strong_augment import draw_strong_view_params, strong_view
from ssvad_keras.errors import ConfigError
from ssvad_keras.losses import (
    difference_of_pixels_loss,
    localization_consistency_loss,
    semi_supervised_loss,
    supervised_localization_loss,
)
from ssvad_keras.models.error_recovery import ErrorRecoveryUNet
from ssvad_keras.training.trainer import SemiSupervisedTrainer, require_semi_supervised

WEIGHTS = ("teacher", "student")


def ema_alpha(step, alpha_max: float):
    """The EMA decay at update `step` (0-based): `min(1 - 1/(step + 1), alpha_max)`.

    Args:
        step: number of EMA updates done before this one (Python number or scalar tensor).
        alpha_max: the ceiling, e.g. 0.99.

    Returns:
        Float32 scalar tensor.

    Example:
    >>> float(ema_alpha(9, 0.99))  # 0.9
    """
    step = ops.cast(step, "float32")
    return ops.minimum(1.0 - 1.0 / (step + 1.0), alpha_max)


def _tf_variable(variable):
    return variable.value if isinstance(variable, keras.Variable) else variable


def ema_update(pairs: Sequence[tuple], alpha, counter=None) -> None:
    """`teacher <- alpha teacher + (1 - alpha) student` for every (teacher, student) pair.

    Runs in cross-replica context (a merge call from inside `strategy.run`, directly otherwise),
    where each mirrored teacher variable is updated on every device from the same student value;
    `counter`, when given, is incremented once.

    Args:
        pairs: (teacher variable, student variable) pairs of equal shapes and float dtypes.
        alpha: scalar decay in [0, 1].
        counter: optional integer variable counting the updates.
    """
    teachers = [_tf_variable(t) for t, _ in pairs]
    students = [_tf_variable(s) for _, s in pairs]

    def blend(teacher, student, decay):
        return teacher.assign_sub((1.0 - ops.cast(decay, teacher.dtype)) * (teacher - student))

    def update_all(strategy, teachers, students, decay):
        for teacher, student in zip(teachers, students, strict=True):
            strategy.extended.update(teacher, blend, args=(student, decay), group=False)
        if counter is not None:
            strategy.extended.update(
                _tf_variable(counter), lambda c: c.assign_add(tf.ones((), c.dtype)), group=False
            )

    tf.__internal__.distribute.interim.maybe_merge_call(
        update_all, tf.distribute.get_strategy(), teachers, students, alpha
    )


def ema_pairs(teacher: keras.layers.Layer, student: keras.layers.Layer) -> list[tuple]:
    """(teacher, student) pairs of every float weight, trainable or not (BatchNorm statistics
    included; dropout seed states, which are integers, excluded)."""
    pairs = []
    for t, s in zip(teacher.weights, student.weights, strict=True):
        if tuple(t.shape) != tuple(s.shape):
            raise ValueError(f"teacher/student weights differ: {t.path} {t.shape} vs {s.path} {s.shape}")
        if "float" in str(t.dtype):
            pairs.append((t, s))
    return pairs


def copy_network(network: keras.layers.Layer, name: str) -> keras.layers.Layer:
    """A frozen copy of a built network with the same config and weights (the initial teacher)."""
    copy = network.__class__.from_config({**network.get_config(), "name": name})
    if not copy.built:
        copy.build_from_config(network.get_build_config())
    copy.set_weights(network.get_weights())
    copy.trainable = False
    return copy


@keras.saving.register_keras_serializable(package="ssvad")
class MeanTeacherTrainer(SemiSupervisedTrainer):
    """Student on the strong view, EMA teacher on the weak view (see the module docstring).

    Args:
        detector: the student `VideoCapsuleDetector` (built).
        num_classes: action classes.
        loss_config: `LossConfig`: the Pi trainer's weights and attentions, plus `dop_weight`,
            `dop_ramp_epochs`, `error_recovery` and its U-Net's size.
        train_config: `TrainConfig` (`ema_alpha_max`, `pseudo_label_epoch`, `seed`).
        total_epochs: length of the run (default length of the ramps).
        strong_augment: `StrongAugmentConfig` of the student's view.
        inference_weights: "teacher" or "student": what `inference_detector` returns.
        **kwargs: `keras.Model` arguments.

    Tracked state beyond the Pi trainer's: `teacher` (a frozen detector), `teacher_updates`
    (EMA update counter) and, with EoR, `error_recovery` and `error_recovery_teacher`. All of it
    is in `save_weights` / `load_weights`, so checkpoints and `--resume` keep it.
    """

    def __init__(
        self,
        *args,
        strong_augment: StrongAugmentConfig | None = None,
        inference_weights: str = "teacher",
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        if inference_weights not in WEIGHTS:
            raise ConfigError(f"eval.weights must be one of {WEIGHTS}, got {inference_weights!r}")
        self.strong_augment = strong_augment or StrongAugmentConfig()
        self.inference_weights = inference_weights
        detector, loss_config = self.detector, self.loss_config
        self.teacher = copy_network(detector, "teacher")
        self.teacher_updates = keras.Variable(0, trainable=False, dtype="int64", name="teacher_updates")
        pairs = ema_pairs(self.teacher, detector)
        self.error_recovery = self.error_recovery_teacher = None
        if loss_config.error_recovery:
            channels = 1 + (3 if loss_config.error_recovery_with_clip else 0)
            self.error_recovery = ErrorRecoveryUNet(loss_config.error_recovery_channels, name="error_recovery")
            self.error_recovery.build((None, *detector.clip_shape[:3], channels))
            self.error_recovery_teacher = copy_network(self.error_recovery, "error_recovery_teacher")
            pairs += ema_pairs(self.error_recovery_teacher, self.error_recovery)
            self.trackers["error_recovery"] = keras.metrics.Mean(name="error_recovery")
        self._ema_pairs = pairs
        self.trackers["dop"] = keras.metrics.Mean(name="dop")

    @classmethod
    def check_configs(cls, num_classes: int, train_config: TrainConfig) -> None:
        """The teacher's targets are for unlabeled clips: semi-supervised training only."""
        require_semi_supervised("mean_teacher", train_config)

    def inference_detector(self) -> keras.Model:
        return self.teacher if self.inference_weights == "teacher" else self.detector

    def alternate_detectors(self) -> dict[str, keras.Model]:
        if self.inference_weights == "teacher":
            return {"student": self.detector}
        return {"teacher": self.teacher}

    # -- one step -------------------------------------------------------------------------------

    def _weak_view_targets(self, batch) -> dict:
        """The batch with its ground truth moved to the weak view's geometry (flip, frame order)."""
        hflip, reverse = batch["hflip"], batch["time_reverse"]
        frame_valid = ops.cast(batch["frame_valid"], "float32")[:, :, None, None, None]
        frame_valid = apply_view(frame_valid, ops.zeros_like(hflip), reverse)[:, :, 0, 0, 0]
        return {**batch, "mask": apply_view(batch["mask"], hflip, reverse), "frame_valid": frame_valid}

    def _strong_view(self, weak):
        """The student's view; its parameters are seeded by (train seed, update count, replica),
        so a resumed run draws the same views."""
        replica = tf.distribute.get_replica_context()
        replicas = replica.num_replicas_in_sync if replica is not None else 1
        replica_id = replica.replica_id_in_sync_group if replica is not None else 0
        step = ops.cast(self.teacher_updates, "int64") * replicas + ops.cast(replica_id, "int64")
        seed = ops.stack([ops.cast(self.train_config.seed, "int64"), step])
        params = draw_strong_view_params(ops.shape(weak)[0], self.strong_augment, seed)
        return strong_view(weak, params, self.strong_augment.blur_sigma[1])

    def _student_class_masks(self, batch, teacher_scores):
        """Ground truth for labeled clips; for unlabeled ones all classes before the pseudo-label
        epoch, the teacher's predicted class after it."""
        class_mask, use_predicted = self._class_masks(batch)
        predicted = ops.one_hot(ops.argmax(teacher_scores, axis=-1), self.num_classes, dtype="float32")
        use = use_predicted[:, None]
        return use * predicted + (1.0 - use) * class_mask

    def losses_and_class_scores(self, batch, training: bool = True) -> tuple[dict, object]:
        """Every loss component for this replica's slice of the global batch (module docstring),
        and the student's class scores for the accuracy tracker."""
        cfg = self.loss_config
        targets = self._weak_view_targets(batch)
        weak = ops.cast(batch["aug_clip"], "float32")
        class_mask, use_predicted = self._class_masks(batch)
        teacher_inputs = {"clip": weak, "class_mask": class_mask, "use_predicted_mask": use_predicted}
        teacher = {k: ops.stop_gradient(v) for k, v in self.teacher(teacher_inputs, training=False).items()}
        strong = self._strong_view(weak) if training else weak
        student = self.detector(
            {
                "clip": strong,
                "class_mask": self._student_class_masks(batch, teacher["class_scores"]),
                "use_predicted_mask": ops.zeros_like(use_predicted),
            },
            training=training,
        )
        ramp = self.ramp_weight()
        dop_ramp = self.ramp_weight(cfg.dop_ramp_epochs or self.total_epochs)
        all_reduce = self.all_reduce()
        dop = difference_of_pixels_loss(student["loc_logits"], teacher["loc_logits"])
        extra = cfg.dop_weight * dop_ramp * dop
        eor_loss = None
        if self.error_recovery is not None:
            eor_loss, refined = self._error_recovery(student, teacher, strong, weak, targets, all_reduce)
            # The refined targets join the teacher's, ramped in (SMT's released "opt5").
            toward_refined = cfg.dop_weight * dop_ramp * difference_of_pixels_loss(student["loc_logits"], refined)
            if cfg.loc_consistency:
                toward_refined += localization_consistency_loss(student["loc_logits"], refined, cfg, ramp)
            extra = extra + dop_ramp * toward_refined
        components = semi_supervised_loss(
            student, teacher, targets, cfg, ramp, all_reduce_sum=all_reduce, extra_loc_consistency=extra,
            consistency_ramp_weight=self.consistency_ramp_weight(ramp),
        )
        if eor_loss is not None:
            components["loss"] = components["loss"] + eor_loss
            components["error_recovery"] = eor_loss
        components["dop"] = self._share(dop, batch, all_reduce)  # raw DoP, before weight and ramp
        components["ramp_weight"] = ramp
        return components, student["class_scores"]

    @staticmethod
    def _share(value, batch, all_reduce):
        """A per-replica batch mean as this replica's share of the global mean (for trackers)."""
        if all_reduce is None:
            return value
        local = ops.cast(ops.shape(batch["labeled"])[0], "float32")
        return value * local / ops.stop_gradient(all_reduce(local))

    def _error_recovery(self, student, teacher, strong, weak, targets, all_reduce):
        """EoR: the U-Net learns, on labeled clips, to correct the student's detached
        probabilities (BCE + Dice); its EMA copy refines the teacher's masks.

        Returns:
            (supervised EoR loss, refined teacher logits without gradient).
        """
        cfg = self.loss_config

        def net_input(logits, clip):
            probabilities = ops.stop_gradient(ops.sigmoid(logits))
            if cfg.error_recovery_with_clip:
                return ops.concatenate([probabilities, ops.cast(clip, probabilities.dtype)], axis=-1)
            return probabilities

        corrected = self.error_recovery(net_input(student["loc_logits"], strong))
        frame_weight = targets["frame_valid"] if cfg.loc_frames == "annotated" else None
        bce, dice = supervised_localization_loss(
            targets["mask"],
            corrected,
            ops.cast(targets["labeled"], "float32"),
            frame_weight,
            cfg.dice_smooth,
            all_reduce_sum=all_reduce,
        )
        refined = ops.stop_gradient(self.error_recovery_teacher(net_input(teacher["loc_logits"], weak)))
        return cfg.bce_weight * bce + cfg.dice_weight * dice, refined

    def after_optimizer_step(self) -> None:
        """The EMA update of the teacher (and of the EoR net's copy), inside the step."""
        alpha = ema_alpha(self.teacher_updates, self.train_config.ema_alpha_max)
        ema_update(self._ema_pairs, alpha, counter=self.teacher_updates)
