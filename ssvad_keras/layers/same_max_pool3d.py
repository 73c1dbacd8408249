"""3D max-pooling with TensorFlow "SAME" geometry and zero padding, as the I3D port pools."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from ssvad_keras.layers.cpu_kernels import resolve_kernels, separable_max_pool3d
from ssvad_keras.layers.same_padding import same_padding


@keras.saving.register_keras_serializable(package="ssvad")
class SameMaxPool3D(keras.layers.Layer):
    """Max-pooling over (time, height, width) that pads with zeros to TF "SAME" output size.

    DeepMind's I3D pools with `padding="SAME"` (padding ignored); the PyTorch port instead pads
    the input with zeros (`MaxPool3dSamePadding`). Both agree on I3D's post-ReLU features; we pad
    with zeros so that converted PyTorch weights reproduce the port exactly on any input.
    Spatial sizes must be known when the layer is built.

    Args:
        pool_size: int or 3-tuple. Window (time, height, width).
        strides: int or 3-tuple. Strides (time, height, width).
        kernels: str. `"reference"` (`ops.max_pool` of the zero-padded input), `"cpu_fast"`
            (`separable_max_pool3d`: same values, a cheaper gradient on CPU) or `"auto"`.
            Defaults to `"auto"`.
        **kwargs: standard `keras.layers.Layer` arguments.

    Example:

    >>> pool = SameMaxPool3D((1, 3, 3), (1, 2, 2))
    >>> pool(keras.ops.ones((1, 4, 7, 7, 2))).shape
    (1, 4, 4, 4, 2)
    """

    def __init__(
        self,
        pool_size: int | Sequence[int],
        strides: int | Sequence[int],
        kernels: str = "auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.pool_size = (pool_size,) * 3 if isinstance(pool_size, int) else tuple(pool_size)
        self.strides = (strides,) * 3 if isinstance(strides, int) else tuple(strides)
        self.kernels = kernels
        self._fast = resolve_kernels(kernels) == "cpu_fast"

    def call(self, inputs):
        spatial = inputs.shape[1:4]
        if any(n is None for n in spatial):
            raise ValueError(f"{self.name}: time, height and width must be static, got {spatial}")
        if self._fast:
            return separable_max_pool3d(inputs, self.pool_size, self.strides)
        pads = [same_padding(n, k, s) for n, k, s in zip(spatial, self.pool_size, self.strides, strict=True)]
        x = ops.pad(inputs, [(0, 0), *pads, (0, 0)])
        return ops.max_pool(x, self.pool_size, self.strides, padding="valid")

    def compute_output_shape(self, input_shape):
        batch, *spatial, channels = input_shape
        out = [None if n is None else -(-n // s) for n, s in zip(spatial, self.strides, strict=True)]
        return (batch, *out, channels)

    def get_config(self):
        config = super().get_config()
        config.update({"pool_size": self.pool_size, "strides": self.strides, "kernels": self.kernels})
        return config
