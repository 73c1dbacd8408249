"""The I3D convolution unit: Conv3D + BatchNorm + ReLU with TensorFlow "SAME" padding."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from ssvad_keras.layers.cpu_kernels import cropped_same_conv3d, resolve_kernels, strided_same_conv3d

# I3D's BatchNorm epsilon (DeepMind's kinetics-i3d and the PyTorch port both use 1e-3).
BATCH_NORM_EPSILON = 1e-3


def _triple(value: int | Sequence[int]) -> tuple[int, int, int]:
    if isinstance(value, int):
        return (value, value, value)
    return tuple(int(v) for v in value)  # type: ignore[return-value]


@keras.saving.register_keras_serializable(package="ssvad")
class SameConv3D(keras.layers.Conv3D):
    """`Conv3D(padding="same")` that runs through the CPU kernels on `"cpu_fast"`.

    Strided: `strided_same_conv3d` (space-to-depth); stride 1: `cropped_same_conv3d` (no
    padding-only taps); both end in `valid_conv`. Same weights, same results; only the
    arithmetic route differs (faster CPU gradients; see `ssvad_keras.layers.cpu_kernels`).

    Args:
        *args: `keras.layers.Conv3D` arguments (`filters`, `kernel_size`, ...).
        kernels: str. `"auto"`, `"reference"` (Keras' own convolution) or `"cpu_fast"`.
            Defaults to `"auto"`.
        **kwargs: `keras.layers.Conv3D` keyword arguments.

    Example:

    >>> conv = SameConv3D(4, 3, strides=2, padding="same", kernels="reference")
    >>> conv(keras.ops.zeros((1, 4, 6, 6, 2))).shape
    (1, 2, 3, 3, 4)
    """

    def __init__(self, *args, kernels: str = "auto", **kwargs):
        super().__init__(*args, **kwargs)
        self.kernels = kernels
        self._fast = resolve_kernels(kernels) == "cpu_fast"

    def convolution_op(self, inputs, kernel):
        if self._fast and self.padding == "same" and max(self.strides) > 1:
            return strided_same_conv3d(inputs, kernel, self.strides)
        if self._fast and self.padding == "same" and all(d == 1 for d in self.dilation_rate):
            return cropped_same_conv3d(inputs, kernel)
        return super().convolution_op(inputs, kernel)

    def get_config(self):
        return {**super().get_config(), "kernels": self.kernels}


@keras.saving.register_keras_serializable(package="ssvad")
class I3DUnit(keras.layers.Layer):
    """One I3D unit: a bias-free 3D convolution, batch normalisation and a ReLU.

    This is DeepMind's `Unit3D`. The convolution pads like TensorFlow's "SAME" (total padding
    `max(k - s, 0)` or `max(k - n % s, 0)`, the extra element at the end), which Keras'
    `padding="same"` reproduces (`SameConv3D`, which runs the CPU kernels on `"cpu_fast"`).
    Sub-layers are named `conv_3d` and `batch_norm` after the checkpoint scopes they are
    loaded from.

    Args:
        filters: int. Output channels.
        kernel_size: int or 3-tuple. Kernel (time, height, width). Defaults to 1.
        strides: int or 3-tuple. Strides (time, height, width). Defaults to 1.
        use_batch_norm: bool. Normalise the convolution output. Defaults to `True`.
        use_bias: bool. Add a bias to the convolution. Defaults to `False` (I3D has none).
        activation: str or None. Activation after normalisation. Defaults to `"relu"`.
        kernels: str. `"auto"`, `"reference"` or `"cpu_fast"`: how the convolution is computed
            (`ssvad_keras.layers.cpu_kernels`). Defaults to `"auto"`.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:

    >>> unit = I3DUnit(16, kernel_size=3, strides=(1, 2, 2))
    >>> unit(keras.ops.zeros((1, 4, 8, 8, 3))).shape
    (1, 4, 4, 4, 16)
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int] = 1,
        strides: int | Sequence[int] = 1,
        use_batch_norm: bool = True,
        use_bias: bool = False,
        activation: str | None = "relu",
        kernels: str = "auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = _triple(kernel_size)
        self.strides = _triple(strides)
        self.use_batch_norm = use_batch_norm
        self.use_bias = use_bias
        self.activation = activation
        self.kernels = kernels

    def build(self, input_shape):
        self.conv_3d = SameConv3D(
            self.filters,
            self.kernel_size,
            strides=self.strides,
            padding="same",
            use_bias=self.use_bias,
            kernels=self.kernels,
            dtype=self.dtype_policy,
            name="conv_3d",
        )
        self.conv_3d.build(input_shape)
        if self.use_batch_norm:
            # momentum 0.99 in Keras is the PyTorch port's momentum 0.01. Synchronized: under
            # tf.distribute the statistics are those of the global batch, so training on N
            # replicas computes what one device computes on the same batch (no-op elsewhere).
            self.batch_norm = keras.layers.BatchNormalization(
                epsilon=BATCH_NORM_EPSILON,
                momentum=0.99,
                synchronized=True,
                dtype=self.dtype_policy,
                name="batch_norm",
            )
            self.batch_norm.build(self.conv_3d.compute_output_shape(input_shape))
        self.activation_fn = keras.activations.get(self.activation)

    def call(self, inputs, training=None):
        x = self.conv_3d(inputs)
        if self.use_batch_norm:
            x = self.batch_norm(x, training=training)
        return self.activation_fn(x)

    def compute_output_shape(self, input_shape):
        batch, *spatial, _ = input_shape
        out = [None if n is None else -(-n // s) for n, s in zip(spatial, self.strides, strict=True)]
        return (batch, *out, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "use_batch_norm": self.use_batch_norm,
                "use_bias": self.use_bias,
                "activation": self.activation,
                "kernels": self.kernels,
            }
        )
        return config
