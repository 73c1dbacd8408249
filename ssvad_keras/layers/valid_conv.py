"""`ValidConv2D`: a "valid" 2D convolution whose stride-1 case can run through `valid_conv`."""

from __future__ import annotations

import keras

from ssvad_keras.layers.cpu_kernels import resolve_kernels, valid_conv


@keras.saving.register_keras_serializable(package="ssvad")
class ValidConv2D(keras.layers.Conv2D):
    """`Conv2D(padding="valid")` whose stride-1 case runs through `valid_conv` on `"cpu_fast"`.

    Same weights, same results; only the gradients' arithmetic route differs (faster on CPU;
    see `ssvad_keras.layers.cpu_kernels`).

    Args:
        *args: `keras.layers.Conv2D` arguments (`filters`, `kernel_size`, ...).
        kernels: str. `"auto"`, `"reference"` (Keras' own convolution) or `"cpu_fast"`
            (`valid_conv`). Defaults to `"auto"`.
        **kwargs: `keras.layers.Conv2D` keyword arguments.

    Example:

    >>> conv = ValidConv2D(4, 3, kernels="reference")
    >>> conv(keras.ops.zeros((1, 5, 5, 2))).shape
    (1, 3, 3, 4)
    """

    def __init__(self, *args, kernels: str = "auto", **kwargs):
        super().__init__(*args, **kwargs)
        self.kernels = kernels
        self._fast = resolve_kernels(kernels) == "cpu_fast"

    def convolution_op(self, inputs, kernel):
        plain = (
            self.padding == "valid"
            and self.groups == 1
            and self.data_format == "channels_last"
            and all(s == 1 for s in self.strides)
            and all(d == 1 for d in self.dilation_rate)
        )
        if self._fast and plain:
            return valid_conv(inputs, kernel)
        return super().convolution_op(inputs, kernel)

    def get_config(self):
        return {**super().get_config(), "kernels": self.kernels}
