"""Callbacks of the training loop: rich progress, non-finite loss guard, TensorBoard."""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from ssvad_keras.errors import SsvadError

_SHOWN = ("loss", "margin", "dice", "loc_consistency", "accuracy")


class RichProgress(keras.callbacks.Callback):
    """One rich progress bar per epoch with the running losses."""

    def __init__(self, progress, epoch: int, total_epochs: int, steps: int | None):
        super().__init__()
        self.progress = progress
        self.task = progress.add_task(
            f"epoch {epoch + 1}/{total_epochs}", total=steps, info=""
        )

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        info = "  ".join(f"{k} {float(logs[k]):.4f}" for k in _SHOWN if k in logs)
        self.progress.update(self.task, advance=1, info=info)


class NonFiniteGuard(keras.callbacks.Callback):
    """Stop at the first step whose loss is not finite, naming the step and the component.

    The per-epoch checkpoint is written only after a finished, finite epoch, so the last good
    checkpoint survives.
    """

    def __init__(self, epoch: int, components: tuple[str, ...]):
        super().__init__()
        self.epoch = epoch
        self.components = components
        self.error: SsvadError | None = None

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        if math.isfinite(float(logs.get("loss", 0.0))):
            return
        bad = [k for k in self.components if k in logs and not math.isfinite(float(logs[k]))]
        culprit = next((k for k in bad if k != "loss"), "loss")
        self.error = SsvadError(
            f"non-finite loss at epoch {self.epoch + 1}, step {batch + 1}: component '{culprit}' "
            f"is {float(logs[culprit])}; stopped, the last good checkpoint is kept"
        )
        self.model.stop_training = True


def mask_overlay_images(clips: np.ndarray, probs: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Frames with ground truth in green and the predicted mask in red, tiled over time.

    Args:
        clips: (N, T, H, W, 3) in [0, 1].
        probs: (N, T, H, W, 1) predicted probabilities.
        gt: (N, T, H, W, 1) ground-truth masks.

    Returns:
        (N, H, T*W, 3) float images for `tf.summary.image`.
    """
    base = 0.6 * clips
    overlay = base.copy()
    overlay[..., 0] = np.clip(base[..., 0] + 0.6 * probs[..., 0], 0, 1)
    overlay[..., 1] = np.clip(base[..., 1] + 0.4 * gt[..., 0], 0, 1)
    n, t, h, w, c = overlay.shape
    return overlay.transpose(0, 2, 1, 3, 4).reshape(n, h, t * w, c)


class TensorBoardWriter:
    """Scalars for every loss component and the learning rate, and mask images, per epoch."""

    def __init__(self, log_dir):
        self.writer = tf.summary.create_file_writer(str(log_dir))

    def scalars(self, epoch: int, values: dict[str, float]) -> None:
        with self.writer.as_default(step=epoch):
            for key, value in values.items():
                if value is not None and isinstance(value, (int, float)):
                    tf.summary.scalar(key, value)
        self.writer.flush()

    def images(self, epoch: int, name: str, images: np.ndarray) -> None:
        with self.writer.as_default(step=epoch):
            tf.summary.image(name, images, max_outputs=len(images))
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
