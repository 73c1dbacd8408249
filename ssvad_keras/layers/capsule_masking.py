"""Capsule masking: keep the poses of one class capsule before decoding."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="ssvad")
class CapsuleMasking(keras.layers.Layer):
    """Multiplies class-capsule poses by a per-clip class mask and flattens them (SPEC 2).

    The mask is `u * onehot(argmax(class_scores)) + (1 - u) * class_mask` with
    `u = use_predicted_mask`, so one forward pass serves every case of the training schedule:
    ground-truth one-hot for labeled clips (u = 0); all ones for unlabeled clips before the
    pseudo-label epoch (u = 0); the clip's own predicted class after it (u = 1). Without
    `class_mask` (inference) the predicted one-hot is used.

    Args:
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        poses: (batch, h, w, C, D) class-capsule poses.
        class_scores: (batch, C) class scores.
        class_mask: optional (batch, C) mask.
        use_predicted_mask: optional (batch,) weight of the predicted mask (0 or 1).

    Returns:
        (batch, h, w, C * D) masked poses.

    Example:

    >>> masking = CapsuleMasking()
    >>> out = masking(keras.ops.ones((1, 2, 2, 3, 4)), keras.ops.array([[0.1, 0.7, 0.2]]))
    >>> keras.ops.sum(out, axis=(1, 2)).tolist()
    [[0.0, 0.0, 0.0, 0.0, 4.0, 4.0, 4.0, 4.0, 0.0, 0.0, 0.0, 0.0]]
    """

    def call(self, poses, class_scores, class_mask=None, use_predicted_mask=None):
        num_classes = ops.shape(class_scores)[-1]
        predicted = ops.one_hot(ops.argmax(class_scores, axis=-1), num_classes, dtype=poses.dtype)
        if class_mask is None:
            mask = predicted
        elif use_predicted_mask is None:
            mask = ops.cast(class_mask, poses.dtype)
        else:
            use = ops.expand_dims(ops.cast(use_predicted_mask, poses.dtype), -1)
            mask = use * predicted + (1.0 - use) * ops.cast(class_mask, poses.dtype)
        masked = poses * mask[:, None, None, :, None]
        shape = ops.shape(poses)
        return ops.reshape(masked, (shape[0], shape[1], shape[2], shape[3] * shape[4]))


def class_mask_inputs(labels, labeled, num_classes: int, predict_unlabeled):
    """The detector's `class_mask` and `use_predicted_mask` inputs for a batch (SPEC 2, masking).

    Labeled clips decode their ground-truth class (one-hot, u = 0); the other clips decode every
    class capsule (all ones) when `predict_unlabeled` is 0, their own predicted class when it is
    1 (u = 1). Training (before and after the pseudo-label epoch) and evaluation with
    `eval.class_mask = "ground_truth"` or `"all"` build their inputs here.

    Args:
        labels: (batch,) class indices; any value (e.g. -1) on clips that are not labeled.
        labeled: (batch,) bool or 0/1, which clips carry a label.
        num_classes: C.
        predict_unlabeled: scalar 0/1 (or bool): unlabeled clips use their predicted class.

    Returns:
        `(class_mask, use_predicted_mask)`: float32 (batch, C) and (batch,).

    Example:

    >>> mask, use = class_mask_inputs([2, -1], [True, False], 3, 1.0)
    >>> keras.ops.convert_to_numpy(mask).tolist(), keras.ops.convert_to_numpy(use).tolist()
    ([[0.0, 0.0, 1.0], [1.0, 1.0, 1.0]], [0.0, 1.0])
    """
    labeled = ops.cast(labeled, "float32")[:, None]
    onehot = ops.one_hot(ops.maximum(ops.cast(labels, "int32"), 0), num_classes, dtype="float32")
    class_mask = labeled * onehot + (1.0 - labeled)
    use_predicted = (1.0 - labeled[:, 0]) * ops.cast(predict_unlabeled, "float32")
    return class_mask, use_predicted
