"""Losses and targets of the mean-teacher and pseudo-label methods (beyond the paper).

- `difference_of_pixels_loss`: Stable Mean Teacher's DoP term (Kumar et al., AAAI 2025): the L2
  between the temporal differences (frame t+1 minus frame t) of the student's and the teacher's
  mask logits, which asks the student to move like the teacher, not only to sit where it sits.
- `pseudo_label_targets`: hard pseudo-classes and pseudo-masks from confident predictions on
  unlabeled clips (the paper's Table 3 pseudo-label baseline, after Lee 2013).

Both are `keras.ops` on the whole batch, so they run inside the compiled training step, and
both compute in float32 (mixed precision safe).
"""

from __future__ import annotations

from keras import ops


def temporal_difference(x):
    """Frame t+1 minus frame t along axis 1: (B, T, ...) -> (B, T - 1, ...)."""
    return x[:, 1:] - x[:, :-1]


def difference_of_pixels_loss(loc_logits, teacher_loc_logits):
    """DoP: mean squared difference of the two predictions' temporal differences.

    `mean(((s[t+1] - s[t]) - (u[t+1] - u[t]))^2)` over every clip, frame pair and pixel, with
    `s` the student's and `u` the teacher's mask logits (the released SMT code compares logits
    with `MSELoss` on `torch.diff` along time). The teacher's side carries no gradient.

    Args:
        loc_logits: (B, T, H, W, 1) student mask logits, T >= 2.
        teacher_loc_logits: (B, T, H, W, 1) teacher mask logits on the same geometry.

    Returns:
        Scalar float32 loss.

    Example:
    >>> difference_of_pixels_loss(student["loc_logits"], teacher["loc_logits"])
    """
    student = ops.cast(loc_logits, "float32")
    teacher = ops.stop_gradient(ops.cast(teacher_loc_logits, "float32"))
    return ops.mean(ops.square(temporal_difference(student) - temporal_difference(teacher)))


def class_score_margin(class_scores):
    """Top class score minus the runner-up's, per clip: (B, C) -> (B,). Needs C >= 2."""
    top_two = ops.top_k(ops.cast(class_scores, "float32"), k=2, sorted=True)[0]
    return top_two[:, 0] - top_two[:, 1]


def pseudo_label_targets(
    class_scores, loc_logits, class_margin: float = 0.2, mask_threshold: float = 0.5
) -> dict:
    """Hard targets from a model's own predictions, and which clips are confident enough.

    A clip's pseudo-class is its top class; it is confident when the top score beats the
    runner-up by at least `class_margin` (with the spread loss's margin, such a clip would
    already have zero classification loss for that class). Its pseudo-mask is
    `sigmoid(logits) >= mask_threshold`, the evaluation's binarisation. Computed without
    gradient.

    Args:
        class_scores: (B, C) class scores, C >= 2.
        loc_logits: (B, T, H, W, 1) mask logits.
        class_margin: minimum top-1 minus top-2 score of a confident clip.
        mask_threshold: probability at and above which a pixel is foreground.

    Returns:
        Dict: `label` (B,) int32 pseudo-classes, `mask` (B, T, H, W, 1) float32 0/1,
        `confident` (B,) float32 0/1.

    Example:
    >>> targets = pseudo_label_targets(out["class_scores"], out["loc_logits"], 0.2, 0.5)
    """
    class_scores = ops.stop_gradient(ops.cast(class_scores, "float32"))
    probabilities = ops.sigmoid(ops.stop_gradient(ops.cast(loc_logits, "float32")))
    return {
        "label": ops.cast(ops.argmax(class_scores, axis=-1), "int32"),
        "mask": ops.cast(probabilities >= mask_threshold, "float32"),
        "confident": ops.cast(class_score_margin(class_scores) >= class_margin, "float32"),
    }
