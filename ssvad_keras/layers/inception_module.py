"""The I3D inception module (four parallel branches concatenated on channels)."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from ssvad_keras.layers.i3d_unit import I3DUnit
from ssvad_keras.layers.same_max_pool3d import SameMaxPool3D

# (checkpoint scope inside the module, index into `filters`, kernel size); Branch_3's max-pool
# sits between `Branch_3/MaxPool3d_0a_3x3` and its 1x1 unit.
BRANCH_UNITS = (
    ("Branch_0/Conv3d_0a_1x1", 0, 1),
    ("Branch_1/Conv3d_0a_1x1", 1, 1),
    ("Branch_1/Conv3d_0b_3x3", 2, 3),
    ("Branch_2/Conv3d_0a_1x1", 3, 1),
    ("Branch_2/Conv3d_0b_3x3", 4, 3),
    ("Branch_3/Conv3d_0b_1x1", 5, 1),
)


def scope_to_layer_name(scope: str) -> str:
    """Keras layer names may not contain "/": `Branch_1/Conv3d_0a_1x1` -> `Branch_1_Conv3d_0a_1x1`."""
    return scope.replace("/", "_")


@keras.saving.register_keras_serializable(package="ssvad")
class InceptionModule(keras.layers.Layer):
    """An I3D inception module: 1x1, 1x1->3x3, 1x1->3x3 and pool->1x1 branches, concatenated.

    Sub-layers are named after DeepMind's checkpoint scopes with "/" replaced by "_"
    (`Branch_1_Conv3d_0b_3x3`); `units` maps the original scopes to the layers.

    Args:
        filters: 6 ints. Output channels of `Branch_0/Conv3d_0a_1x1`, `Branch_1/Conv3d_0a_1x1`,
            `Branch_1/Conv3d_0b_3x3`, `Branch_2/Conv3d_0a_1x1`, `Branch_2/Conv3d_0b_3x3` and
            `Branch_3/Conv3d_0b_1x1`; the output has `filters[0] + filters[2] + filters[4] +
            filters[5]` channels.
        kernels: str. `"auto"`, `"reference"` or `"cpu_fast"`: how the convolutions and the
            pool are computed (`ssvad_keras.layers.cpu_kernels`). Defaults to `"auto"`.
        **kwargs: standard `keras.layers.Layer` arguments.

    Example:

    >>> block = InceptionModule((8, 4, 8, 2, 4, 4), name="Mixed_3b")
    >>> block(keras.ops.zeros((1, 2, 8, 8, 16))).shape
    (1, 2, 8, 8, 24)

    Reference: Carreira & Zisserman, "Quo Vadis, Action Recognition?", CVPR 2017.
    """

    def __init__(self, filters: Sequence[int], kernels: str = "auto", **kwargs):
        super().__init__(**kwargs)
        if len(filters) != 6:
            raise ValueError(f"InceptionModule needs 6 filter counts, got {len(filters)}")
        self.filters = tuple(int(f) for f in filters)
        self.kernels = kernels

    def build(self, input_shape):
        self.units = {}
        for scope, index, kernel in BRANCH_UNITS:
            self.units[scope] = I3DUnit(
                self.filters[index],
                kernel,
                kernels=self.kernels,
                dtype=self.dtype_policy,
                name=scope_to_layer_name(scope),
            )
        self.branch_3_pool = SameMaxPool3D(
            (3, 3, 3),
            (1, 1, 1),
            kernels=self.kernels,
            dtype=self.dtype_policy,
            name="Branch_3_MaxPool3d_0a_3x3",
        )
        u = self.units
        u["Branch_0/Conv3d_0a_1x1"].build(input_shape)
        u["Branch_1/Conv3d_0a_1x1"].build(input_shape)
        u["Branch_1/Conv3d_0b_3x3"].build((*input_shape[:-1], self.filters[1]))
        u["Branch_2/Conv3d_0a_1x1"].build(input_shape)
        u["Branch_2/Conv3d_0b_3x3"].build((*input_shape[:-1], self.filters[3]))
        u["Branch_3/Conv3d_0b_1x1"].build(input_shape)

    def call(self, inputs, training=None):
        u = self.units
        branch_0 = u["Branch_0/Conv3d_0a_1x1"](inputs, training=training)
        branch_1 = u["Branch_1/Conv3d_0a_1x1"](inputs, training=training)
        branch_1 = u["Branch_1/Conv3d_0b_3x3"](branch_1, training=training)
        branch_2 = u["Branch_2/Conv3d_0a_1x1"](inputs, training=training)
        branch_2 = u["Branch_2/Conv3d_0b_3x3"](branch_2, training=training)
        branch_3 = self.branch_3_pool(inputs)
        branch_3 = u["Branch_3/Conv3d_0b_1x1"](branch_3, training=training)
        return ops.concatenate([branch_0, branch_1, branch_2, branch_3], axis=-1)

    def compute_output_shape(self, input_shape):
        f = self.filters
        return (*input_shape[:-1], f[0] + f[2] + f[4] + f[5])

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "kernels": self.kernels})
        return config
