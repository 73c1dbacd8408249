"""Losses of semi-supervised video action detection (paper Eq. 1-9, SPEC 3).

Supervised (labeled clips only): `margin_loss`, `bce_with_logits_loss`, `dice_loss`.
Consistency (every clip): `jsd_loss` (Eq. 1), `consistency_l2` (Eq. 2),
`temporal_coherence_loss` (Eq. 3-4), `gradient_smoothness_loss` (Eq. 5-6), with the attention
masks `temporal_variance_mask` and `gradient_smoothness_mask`. The ramp of w: `sigmoid_rampup`.
Everything together: `semi_supervised_loss` (Eq. 7-9), its supervised localization part
`supervised_localization_loss`. Beyond the paper (`teacher`): the mean teacher's
`difference_of_pixels_loss` and the pseudo-label baseline's `pseudo_label_targets`.
"""

from ssvad_keras.runtime import import_tensorflow

# TensorFlow's defaults (Keras backend, CPU allocator) and its quiet import, before this
# package's modules load Keras (ssvad_keras/runtime.py).
import_tensorflow()

from ssvad_keras.losses.attention import (
    cyclic_variance,
    gradient_smoothness_mask,
    minmax_per_clip,
    temporal_gradient,
    temporal_variance_mask,
)
from ssvad_keras.losses.combined import (
    localization_consistency_loss,
    semi_supervised_loss,
    supervised_localization_loss,
)
from ssvad_keras.losses.consistency import (
    consistency_l2,
    gradient_smoothness_loss,
    jsd_loss,
    temporal_coherence_loss,
)
from ssvad_keras.losses.ramps import sigmoid_rampup
from ssvad_keras.losses.supervised import (
    bce_with_logits_loss,
    dice_from_sums,
    dice_loss,
    dice_sums,
    margin_loss,
    safe_divide,
    weighted_mean,
)
from ssvad_keras.losses.teacher import (
    class_score_margin,
    difference_of_pixels_loss,
    pseudo_label_targets,
    temporal_difference,
)

__all__ = [
    "bce_with_logits_loss",
    "class_score_margin",
    "consistency_l2",
    "cyclic_variance",
    "dice_from_sums",
    "dice_loss",
    "dice_sums",
    "difference_of_pixels_loss",
    "gradient_smoothness_loss",
    "gradient_smoothness_mask",
    "jsd_loss",
    "localization_consistency_loss",
    "margin_loss",
    "minmax_per_clip",
    "pseudo_label_targets",
    "safe_divide",
    "semi_supervised_loss",
    "sigmoid_rampup",
    "supervised_localization_loss",
    "temporal_coherence_loss",
    "temporal_difference",
    "temporal_gradient",
    "temporal_variance_mask",
    "weighted_mean",
]
