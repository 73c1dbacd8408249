"""The semi-supervised training model: one `train_step` for labeled and unlabeled clips.

`SemiSupervisedTrainer` wraps a `VideoCapsuleDetector`. Each step runs the clip and its augmented
view through the detector in one batched forward pass, maps the augmented view's predictions back
to the original geometry, computes the supervised losses on labeled clips and the consistency
losses on all clips (paper Eq. 7-9), and applies the gradients. Everything, attention masks
included, runs inside the compiled step: no host round-trip.

Other methods (`train.method`) subclass it and reuse its pieces: `MeanTeacherTrainer`
(`mean_teacher.py`) and `PseudoLabelTrainer` (`pseudo_label.py`); `methods.build_trainer` picks
one from the config.

Distribution: the dataset yields the global batch; under `tf.distribute` each replica sees a slice
with its own number of labeled clips, so every mean is rescaled to a share of the global mean
and the Dice ratio is formed from all-reduced sums (`semi_supervised_loss(all_reduce_sum=...)`). Gradients summed across
replicas then equal the single-device gradients of the same global batch.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from ssvad_keras.config import LossConfig, TrainConfig
from ssvad_keras.data.augment import invert_view, invert_view_spatial
from ssvad_keras.errors import ConfigError
from ssvad_keras.layers.capsule_masking import class_mask_inputs
from ssvad_keras.losses import semi_supervised_loss, sigmoid_rampup

_LOSS_KEYS = ("loss", "margin", "bce", "dice", "cls_consistency", "loc_consistency")


def _all_reduce_sum(value):
    """Sum over the replicas inside `strategy.run`; differentiable (its gradient is all-reduced)."""
    ctx = tf.distribute.get_replica_context()
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, value)


def require_semi_supervised(method: str, train_config: TrainConfig) -> None:
    """Refuses supervised-only training for a method that needs unlabeled clips.

    Args:
        method: the `train.method` name, for the message.
        train_config: `TrainConfig`.

    Raises:
        ConfigError: `train_config.semi_supervised` is false.
    """
    if not train_config.semi_supervised:
        raise ConfigError(f"train.method = '{method}' needs train.semi_supervised = true")


def _distributed() -> bool:
    ctx = tf.distribute.get_replica_context()
    return ctx is not None and ctx.num_replicas_in_sync > 1


@keras.saving.register_keras_serializable(package="ssvad")
class SemiSupervisedTrainer(keras.Model):
    """Trains a detector with supervised and consistency losses (paper Sections 3.2-3.4).

    Args:
        detector: a `VideoCapsuleDetector`.
        num_classes: number of action classes.
        loss_config: `LossConfig` (weights, attentions, windows).
        train_config: `TrainConfig` (pseudo-label epoch, semi-supervised switch).
        total_epochs: length of the run; the temporal-coherence ramp spans `loss_config.ramp_epochs`
            epochs or, when unset, the whole run (as the released code does).

    The current epoch lives in a non-trainable variable (`epoch`) that `fit` callbacks set; it
    drives the ramp weight w of Eq. 3 and the switch to predicted class masks for unlabeled clips
    at `train_config.pseudo_label_epoch`. It is saved with the weights, so a resumed run continues
    the schedules.

    The optimizer updates `trainable_variables` (the detector's here; subclasses may add networks
    of their own), then `after_optimizer_step` runs inside the same compiled step.
    """

    # Trackers that are not shares of a global-batch mean (so not rescaled by the replicas);
    # `__init__` makes one `Mean` for each, after the loss trackers.
    unscaled_trackers: tuple[str, ...] = ("ramp_weight",)

    def __init__(
        self,
        detector: keras.Model,
        num_classes: int,
        loss_config: LossConfig,
        train_config: TrainConfig,
        total_epochs: int,
        **kwargs,
    ):
        self.check_configs(num_classes, train_config)
        super().__init__(**kwargs)
        self.detector = detector
        self.num_classes = num_classes
        self.train_config = train_config
        # The config the losses use: the file's, adjusted to what this method trains.
        self.loss_config = self.losses_config(loss_config, train_config)
        self.total_epochs = total_epochs
        self.epoch = keras.Variable(0.0, trainable=False, dtype="float32", name="epoch")
        self.trackers = {key: keras.metrics.Mean(name=key) for key in _LOSS_KEYS}
        for key in self.unscaled_trackers:
            self.trackers[key] = keras.metrics.Mean(name=key)
        self.accuracy = keras.metrics.Mean(name="accuracy")
        # The detector builds its variables on construction; the trainer adds only the epoch
        # counter and trackers, so it is complete (and savable) from here on.
        self.built = True

    @property
    def metrics(self):
        return [*self.trackers.values(), self.accuracy]

    @classmethod
    def check_configs(cls, num_classes: int, train_config: TrainConfig) -> None:
        """Refuses a config this method cannot train; runs first in `__init__`. The Pi trainer
        trains any config; subclasses add their requirements (`require_semi_supervised`).

        Args:
            num_classes: action classes.
            train_config: `TrainConfig`.

        Raises:
            ConfigError: a config the method cannot train.
        """

    @staticmethod
    def losses_config(loss_config: LossConfig, train_config: TrainConfig) -> LossConfig:
        """The loss config this method's losses use (`self.loss_config`). Supervised-only
        training has no second view, so consistency is off whatever the file says; subclasses
        turn off what they do not train."""
        if train_config.semi_supervised:
            return loss_config
        return loss_config.model_copy(update={"cls_consistency": False, "loc_consistency": False})

    def call(self, inputs, training=False):
        return self.detector(inputs, training=training)

    def inference_detector(self) -> keras.Model:
        """The network that validation, `best.keras`/`last.keras`, evaluation and export use."""
        return self.detector

    def alternate_detectors(self) -> dict[str, keras.Model]:
        """Other networks a run saves beside the inference one, by `--weights` name (none here)."""
        return {}

    # -- one step -------------------------------------------------------------------------------

    def _class_masks(self, batch):
        """Per-sample capsule masks: ground truth for labeled clips; all ones for unlabeled clips
        before the pseudo-label epoch, their own predicted class after it (SPEC 2, masking)."""
        pseudo = self.epoch >= float(self.train_config.pseudo_label_epoch)
        return class_mask_inputs(batch["label"], batch["labeled"], self.num_classes, pseudo)

    def _forward(self, batch, training):
        """Both views in one batched pass; the augmented view's outputs mapped back (Eq. 2).

        Supervised-only training (`train_config.semi_supervised=False`) runs the clip alone.
        """
        clip = batch["clip"]
        class_mask, use_predicted = self._class_masks(batch)
        if not self.train_config.semi_supervised:
            inputs = {"clip": clip, "class_mask": class_mask, "use_predicted_mask": use_predicted}
            outputs = self.detector(inputs, training=training)
            return outputs, outputs
        size = ops.shape(clip)[0]
        outputs = self.detector(
            {
                "clip": ops.concatenate([clip, batch["aug_clip"]], axis=0),
                "class_mask": ops.concatenate([class_mask, class_mask], axis=0),
                "use_predicted_mask": ops.concatenate([use_predicted, use_predicted], axis=0),
            },
            training=training,
        )
        original = {key: value[:size] for key, value in outputs.items()}
        augmented = {key: value[size:] for key, value in outputs.items()}
        augmented["loc_logits"] = invert_view(
            augmented["loc_logits"], batch["hflip"], batch["time_reverse"]
        )
        augmented["features"] = invert_view_spatial(augmented["features"], batch["hflip"])
        return original, augmented

    def ramp_weight(self, ramp_epochs: int | None = None):
        """`sigmoid_rampup` at the current epoch over `ramp_epochs` (default: the loss config's
        `ramp_epochs`, else the whole run)."""
        length = ramp_epochs or self.loss_config.ramp_epochs or self.total_epochs
        return sigmoid_rampup(self.epoch, float(length))

    def consistency_ramp_weight(self, ramp):
        """The factor on lambda: `ramp` under `loss.consistency_ramp`, else None (no factor)."""
        return ramp if self.loss_config.consistency_ramp else None

    @staticmethod
    def all_reduce():
        """`_all_reduce_sum` under `tf.distribute` with several replicas, else None."""
        return _all_reduce_sum if _distributed() else None

    @staticmethod
    def accuracy_counts(class_scores, batch):
        """(correct, count) of the labeled clips' predicted classes, for the accuracy tracker."""
        labeled = ops.cast(batch["labeled"], "float32")
        predicted = ops.argmax(class_scores, axis=-1)
        hits = ops.cast(ops.equal(predicted, ops.cast(batch["label"], predicted.dtype)), "float32")
        return ops.sum(hits * labeled), ops.sum(labeled)

    def compute_losses(self, batch, training: bool = True) -> dict:
        """The loss components (one per loss tracker) for this replica's slice of the global
        batch: `losses_and_class_scores` without the scores."""
        return self.losses_and_class_scores(batch, training)[0]

    def losses_and_class_scores(self, batch, training: bool = True) -> tuple[dict, object]:
        """All loss components of Eq. 7-9 for this replica's slice of the global batch, and the
        class scores the accuracy tracker reads. Subclasses override this."""
        original, augmented = self._forward(batch, training)
        ramp = self.ramp_weight()
        components = semi_supervised_loss(
            original, augmented, batch, self.loss_config, ramp, all_reduce_sum=self.all_reduce(),
            consistency_ramp_weight=self.consistency_ramp_weight(ramp),
        )
        components["ramp_weight"] = ramp
        return components, original["class_scores"]

    def _update_trackers(self, components, class_scores, batch):
        # Loss components are this replica's share of the global mean; Keras averages metric
        # states over replicas, so scale the shares back up (as Keras's own train_step does).
        replicas = float(tf.distribute.get_strategy().num_replicas_in_sync)
        for key, tracker in self.trackers.items():
            if key in components:
                value = components[key]
                tracker.update_state(value if key in self.unscaled_trackers else value * replicas)
        correct, count = self.accuracy_counts(class_scores, batch)
        self.accuracy.update_state(correct / ops.maximum(count, 1.0), sample_weight=count)

    def train_step(self, batch):
        with tf.GradientTape() as tape:
            components, class_scores = self.losses_and_class_scores(batch, training=True)
            loss = components["loss"]
            scaled = self.optimizer.scale_loss(loss)
        variables = self.trainable_variables
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply(gradients, variables)
        self.after_optimizer_step()
        self._update_trackers(components, class_scores, batch)
        return {m.name: m.result() for m in self.metrics}

    def after_optimizer_step(self) -> None:
        """Runs in the compiled step right after the update (the mean teacher's EMA); no-op here."""

    def test_step(self, batch):
        components, class_scores = self.losses_and_class_scores(batch, training=False)
        self._update_trackers(components, class_scores, batch)
        return {m.name: m.result() for m in self.metrics}
