"""The I3D convolution unit: Conv3D + BatchNorm + ReLU with TensorFlow "SAME" padding."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from ssvad_keras.layers.same_max_pool3d import same_padding
from ssvad_keras.layers.valid_conv import valid_conv

# I3D's BatchNorm epsilon (DeepMind's kinetics-i3d and the PyTorch port both use 1e-3).
BATCH_NORM_EPSILON = 1e-3


def _triple(value: int | Sequence[int]) -> tuple[int, int, int]:
    if isinstance(value, int):
        return (value, value, value)
    return tuple(int(v) for v in value)  # type: ignore[return-value]


def strided_same_conv3d(inputs, kernel, strides: Sequence[int]):
    """A strided 3D convolution with TF "SAME" padding, computed as a stride-1 convolution.

    Space-to-depth: the padded input is cut into `strides`-sized blocks stacked on channels and
    the kernel (zero-padded to a multiple of the strides) is rearranged to match, so
    `out[o] = sum_k w[k] x[s o + k]` becomes a stride-1 "valid" convolution with kernel
    `ceil(k / s)`. The result equals the strided convolution exactly (up to summation order);
    we use it because TensorFlow's CPU gradients of strided 3D convolutions are 5-40x slower
    than those of stride-1 ones. Time, height and width must be static.

    Args:
        inputs: (batch, T, H, W, C_in) tensor.
        kernel: (kt, kh, kw, C_in, C_out) tensor.
        strides: 3 ints.

    Returns:
        (batch, ceil(T / st), ceil(H / sh), ceil(W / sw), C_out) tensor.
    """
    k = tuple(kernel.shape[:3])
    c_in, c_out = kernel.shape[3], kernel.shape[4]
    blocks = [-(-kk // ss) for kk, ss in zip(k, strides, strict=True)]
    # Kernel: (q s, ...) -> (q, s, ...) -> blocks first, in-block offsets with the channels.
    kernel = ops.pad(
        kernel, [(0, q * s - kk) for q, s, kk in zip(blocks, strides, k, strict=True)] + [(0, 0)] * 2
    )
    kernel = ops.reshape(
        kernel, (blocks[0], strides[0], blocks[1], strides[1], blocks[2], strides[2], c_in, c_out)
    )
    kernel = ops.transpose(kernel, (0, 2, 4, 1, 3, 5, 6, 7))
    kernel = ops.reshape(kernel, (*blocks, strides[0] * strides[1] * strides[2] * c_in, c_out))
    # Input: SAME padding, then zeros at the end up to whole blocks covering every output.
    pads, lengths = [], []
    for n, kk, s, q in zip(inputs.shape[1:4], k, strides, blocks, strict=True):
        before, _ = same_padding(n, kk, s)
        length = (-(-n // s) + q - 1) * s
        pads.append((before, length - n - before))
        lengths.append(length // s)
    x = ops.pad(inputs, [(0, 0), *pads, (0, 0)])
    channels = inputs.shape[-1]
    x = ops.reshape(
        x, (-1, lengths[0], strides[0], lengths[1], strides[1], lengths[2], strides[2], channels)
    )
    x = ops.transpose(x, (0, 1, 3, 5, 2, 4, 6, 7))
    x = ops.reshape(x, (-1, *lengths, strides[0] * strides[1] * strides[2] * channels))
    return valid_conv(x, kernel)


@keras.saving.register_keras_serializable(package="ssvad")
class SameConv3D(keras.layers.Conv3D):
    """`Conv3D(padding="same")` whose strided case runs through `strided_same_conv3d`.

    Same weights, same results; only the arithmetic route differs (faster CPU gradients).
    """

    def convolution_op(self, inputs, kernel):
        if self.padding == "same" and max(self.strides) > 1:
            return strided_same_conv3d(inputs, kernel, self.strides)
        if self.padding == "same" and all(d == 1 for d in self.dilation_rate):
            return _cropped_same_conv3d(inputs, kernel)
        return super().convolution_op(inputs, kernel)


def _cropped_same_conv3d(inputs, kernel):
    """A stride-1 "SAME" 3D convolution that skips the taps that only ever see padding.

    Along an axis shorter than the kernel (time is 1 step from `Mixed_4b` on at 8 frames),
    the outer taps multiply zero padding at every output position; dropping them gives the
    same result (their gradient stays exactly zero) at a fraction of the cost: 3x fewer MACs
    for the 3x3x3 convolutions of `Mixed_4b`-`Mixed_4f`, forward and backward.
    """
    crops, pads = [], []
    for n, k in zip(inputs.shape[1:4], kernel.shape[:3], strict=True):
        before, after = same_padding(n, k, 1)
        low, high = max(0, before - n + 1), min(k - 1, before + n - 1)  # taps reaching input
        crops.append(slice(low, high + 1))
        pads.append((before - low, after - (k - 1 - high)))
    kernel = kernel[tuple(crops)]
    x = ops.pad(inputs, [(0, 0), *pads, (0, 0)])
    return valid_conv(x, kernel)


@keras.saving.register_keras_serializable(package="ssvad")
class I3DUnit(keras.layers.Layer):
    """One I3D unit: a bias-free 3D convolution, batch normalisation and a ReLU.

    This is DeepMind's `Unit3D`. The convolution pads like TensorFlow's "SAME" (total padding
    `max(k - s, 0)` or `max(k - n % s, 0)`, the extra element at the end), which Keras'
    `padding="same"` reproduces; strided units compute the same convolution through
    `strided_same_conv3d` (`SameConv3D`) for faster CPU gradients. Sub-layers are named `conv_3d` and `batch_norm` after the
    checkpoint scopes they are loaded from.

    Args:
        filters: int. Output channels.
        kernel_size: int or 3-tuple. Kernel (time, height, width). Defaults to 1.
        strides: int or 3-tuple. Strides (time, height, width). Defaults to 1.
        use_batch_norm: bool. Normalise the convolution output. Defaults to `True`.
        use_bias: bool. Add a bias to the convolution. Defaults to `False` (I3D has none).
        activation: str or None. Activation after normalisation. Defaults to `"relu"`.
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
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = _triple(kernel_size)
        self.strides = _triple(strides)
        self.use_batch_norm = use_batch_norm
        self.use_bias = use_bias
        self.activation = activation

    def build(self, input_shape):
        self.conv_3d = SameConv3D(
            self.filters,
            self.kernel_size,
            strides=self.strides,
            padding="same",
            use_bias=self.use_bias,
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
            }
        )
        return config
