"""`ErrorRecoveryUNet`: the small 3D U-Net of Stable Mean Teacher's error recovery (EoR).

Stable Mean Teacher (Kumar et al., AAAI 2025) trains an auxiliary network on labeled clips to turn
the student's (detached) mask probabilities into masks closer to the ground truth; an EMA copy of
it refines the teacher's masks into better pseudo-targets for the student. The released code uses
a 3D U-Net (Cicek et al. 2016) at a quarter of its width; this one is smaller still by default
(8 channels, two levels) and upsamples by repetition followed by a stride-1 convolution, whose
CPU gradients are far cheaper than those of strided transposed 3D convolutions.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="ssvad")
class ErrorRecoveryUNet(keras.layers.Layer):
    """A 3D U-Net from mask probabilities (and optionally pixels) to corrected mask logits.

    Each level: two 3x3x3 convolutions + ReLU, then a 2x2x2 max-pool (TF "SAME", so any T, H, W
    works); the bottleneck has `channels * 2**depth` channels; each decoder level repeats the
    volume 2x along every axis, crops it to the skip's size, concatenates the skip and applies
    two 3x3x3 convolutions + ReLU; a 1x1x1 convolution gives one logit per pixel. No
    normalisation layers, so its EMA copy is an average of weights and nothing else.

    Args:
        channels: int. Channels of the first level (doubled at each level down). Defaults to 8.
        depth: int. Number of pooling levels. Defaults to 2.
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        inputs: (batch, T, H, W, C) float tensor, e.g. sigmoid probabilities (C = 1), or
            probabilities concatenated with the clip's pixels (C = 4).

    Returns:
        (batch, T, H, W, 1) float32 mask logits.

    Example:

    >>> net = ErrorRecoveryUNet(channels=4)
    >>> net(keras.ops.zeros((1, 8, 16, 16, 1))).shape
    (1, 8, 16, 16, 1)
    """

    def __init__(self, channels: int = 8, depth: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.depth = int(depth)

        def conv(width: int, name: str):
            return keras.layers.Conv3D(width, 3, padding="same", activation="relu", name=name)

        widths = [self.channels * 2**level for level in range(self.depth + 1)]
        self.encoder_convs = [
            [conv(widths[level], f"down{level}_conv{j}") for j in range(2)] for level in range(self.depth)
        ]
        # float32 pools: TensorFlow has no float16 MaxPool3D kernel on CPU (mixed precision).
        self.pools = [
            keras.layers.MaxPooling3D(2, padding="same", dtype="float32", name=f"down{level}_pool")
            for level in range(self.depth)
        ]
        self.bottleneck_convs = [conv(widths[-1], f"bottleneck_conv{j}") for j in range(2)]
        self.upsamplers = [
            keras.layers.UpSampling3D(2, name=f"up{level}_repeat") for level in range(self.depth)
        ]
        self.decoder_convs = [
            [conv(widths[level], f"up{level}_conv{j}") for j in range(2)] for level in range(self.depth)
        ]
        self.head = keras.layers.Conv3D(1, 1, name="logits")

    def build(self, input_shape):
        if self.built:
            return
        # A symbolic pass builds every sub-layer at this input's shape.
        self.call(keras.KerasTensor(tuple(input_shape)))
        self.built = True

    def call(self, inputs):
        x = inputs
        # Encoder: keep each level's output for its skip connection.
        skips = []
        for convs, pool in zip(self.encoder_convs, self.pools, strict=True):
            for layer in convs:
                x = layer(x)
            skips.append(x)
            x = pool(x)
        for layer in self.bottleneck_convs:
            x = layer(x)
        # Decoder: upsample, crop to the skip (odd sizes were padded by the pool), fuse.
        for level in reversed(range(self.depth)):
            skip = skips[level]
            x = self.upsamplers[level](x)
            t, h, w = skip.shape[1:4]
            x = ops.concatenate([x[:, :t, :h, :w], skip], axis=-1)
            for layer in self.decoder_convs[level]:
                x = layer(x)
        return ops.cast(self.head(x), "float32")

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 1)

    def get_config(self):
        config = super().get_config()
        config.update({"channels": self.channels, "depth": self.depth})
        return config
