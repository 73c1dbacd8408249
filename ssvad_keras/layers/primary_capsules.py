"""Primary capsules: a KxK convolution to capsule poses and sigmoid activations."""

from __future__ import annotations

import keras
from keras import ops

from ssvad_keras.layers.valid_conv import ValidConv2D


@keras.saving.register_keras_serializable(package="ssvad")
class PrimaryCapsules(keras.layers.Layer):
    """Turns a feature map into a grid of capsules, each a PxP pose matrix and an activation.

    Two KxK "valid" convolutions (as in the released code): one to `capsule_types * P * P`
    pose entries, one to `capsule_types` activations through a sigmoid. Kernels are initialised
    N(0, 0.1) like the released code. A 28x28 map with K = 9 gives a 20x20 grid.

    Args:
        capsule_types: int. Capsule types B per grid position.
        pose_size: int. P; poses are P x P. Defaults to 4.
        kernel_size: int. K. Defaults to 9.
        kernels: str. `"auto"`, `"reference"` or `"cpu_fast"`: how the convolutions' gradients
            are computed (`ssvad_keras.layers.cpu_kernels`). Defaults to `"auto"`.
        **kwargs: standard `keras.layers.Layer` arguments.

    Returns:
        `(poses, activations)`: (batch, h, w, B, P*P) and (batch, h, w, B).

    Example:

    >>> caps = PrimaryCapsules(8, pose_size=4, kernel_size=3)
    >>> poses, acts = caps(keras.ops.zeros((2, 8, 8, 16)))
    >>> poses.shape, acts.shape
    ((2, 6, 6, 8, 16), (2, 6, 6, 8))
    """

    def __init__(
        self,
        capsule_types: int,
        pose_size: int = 4,
        kernel_size: int = 9,
        kernels: str = "auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.capsule_types = int(capsule_types)
        self.pose_size = int(pose_size)
        self.kernel_size = int(kernel_size)
        self.kernels = kernels

    def build(self, input_shape):
        height, width = input_shape[1], input_shape[2]
        if (height is not None and height < self.kernel_size) or (
            width is not None and width < self.kernel_size
        ):
            raise ValueError(
                f"{self.name}: feature grid {height}x{width} is smaller than the "
                f"{self.kernel_size}x{self.kernel_size} primary-capsule kernel"
            )
        init = keras.initializers.RandomNormal(stddev=0.1)
        self.pose_conv = ValidConv2D(
            self.capsule_types * self.pose_size**2,
            self.kernel_size,
            kernel_initializer=init,
            kernels=self.kernels,
            dtype=self.dtype_policy,
            name="pose_conv",
        )
        self.activation_conv = ValidConv2D(
            self.capsule_types,
            self.kernel_size,
            activation="sigmoid",
            kernel_initializer=init,
            kernels=self.kernels,
            dtype=self.dtype_policy,
            name="activation_conv",
        )
        self.pose_conv.build(input_shape)
        self.activation_conv.build(input_shape)

    def call(self, inputs):
        poses = self.pose_conv(inputs)
        activations = self.activation_conv(inputs)
        grid = ops.shape(poses)[1:3]
        poses = ops.reshape(
            poses, (-1, grid[0], grid[1], self.capsule_types, self.pose_size**2)
        )
        return poses, activations

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        k = self.kernel_size
        h = None if height is None else height - k + 1
        w = None if width is None else width - k + 1
        return (
            (batch, h, w, self.capsule_types, self.pose_size**2),
            (batch, h, w, self.capsule_types),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "capsule_types": self.capsule_types,
                "pose_size": self.pose_size,
                "kernel_size": self.kernel_size,
                "kernels": self.kernels,
            }
        )
        return config
