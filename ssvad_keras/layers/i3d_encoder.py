"""The I3D encoder (Inception-I3D up to `Mixed_4f`) with the paper code's stride variant."""

from __future__ import annotations

import keras

from ssvad_keras.layers.i3d_unit import I3DUnit
from ssvad_keras.layers.inception_module import InceptionModule
from ssvad_keras.layers.same_max_pool3d import SameMaxPool3D

# Full-width channel counts of the inception modules (DeepMind's kinetics-i3d).
INCEPTION_FILTERS = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
}
# Endpoints the encoder returns: the routing input and the decoder's two skips.
OUTPUT_ENDPOINTS = ("Mixed_4f", "Conv3d_2c_3x3", "Conv3d_1a_7x7")
VARIANTS = ("ssl", "original")


def scaled_channels(channels: int, width: float) -> int:
    """Channels of a layer under the width multiplier (at least 1)."""
    return max(1, int(round(channels * width)))


def endpoint_specs(variant: str, width: float) -> list[tuple[str, str, dict]]:
    """The encoder's endpoints in order: (name, kind, arguments), kind in unit/pool/inception.

    Variant "ssl" is the paper code's: `Conv3d_2c_3x3` strides (2, 1, 1) and `MaxPool3d_4a_3x3`
    strides (2, 1, 1), so an 8x224x224 clip keeps a 28x28 grid at `Mixed_4f` (SPEC 2).
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown I3D variant {variant!r} (known: {', '.join(VARIANTS)})")
    ssl = variant == "ssl"

    def ch(c: int) -> int:
        return scaled_channels(c, width)

    def inception(name: str) -> tuple[str, str, dict]:
        return (name, "inception", {"filters": tuple(ch(c) for c in INCEPTION_FILTERS[name])})

    return [
        ("Conv3d_1a_7x7", "unit", {"filters": ch(64), "kernel_size": 7, "strides": 2}),
        ("MaxPool3d_2a_3x3", "pool", {"pool_size": (1, 3, 3), "strides": (1, 2, 2)}),
        ("Conv3d_2b_1x1", "unit", {"filters": ch(64), "kernel_size": 1, "strides": 1}),
        (
            "Conv3d_2c_3x3",
            "unit",
            {"filters": ch(192), "kernel_size": 3, "strides": (2, 1, 1) if ssl else 1},
        ),
        ("MaxPool3d_3a_3x3", "pool", {"pool_size": (1, 3, 3), "strides": (1, 2, 2)}),
        inception("Mixed_3b"),
        inception("Mixed_3c"),
        ("MaxPool3d_4a_3x3", "pool", {"pool_size": 3, "strides": (2, 1, 1) if ssl else 2}),
        inception("Mixed_4b"),
        inception("Mixed_4c"),
        inception("Mixed_4d"),
        inception("Mixed_4e"),
        inception("Mixed_4f"),
    ]


@keras.saving.register_keras_serializable(package="ssvad")
class I3DEncoder(keras.layers.Layer):
    """Inception-I3D from the input clip to `Mixed_4f`, returning the decoder's skips too.

    Each endpoint is a sub-layer named after DeepMind's checkpoint scope (`Conv3d_1a_7x7`,
    `MaxPool3d_2a_3x3`, `Mixed_3b`, ...), so converting pretrained weights is a name table
    (`unit_layers()`). Convolutions and pools use TF "SAME" geometry; pools pad with zeros. The
    encoder takes the clip as it is: pixel scaling belongs to the detector.

    For an 8x224x224 clip, variant "ssl" gives `Conv3d_1a_7x7` (4, 112, 112, 64),
    `Conv3d_2c_3x3` (2, 56, 56, 192) and `Mixed_4f` (1, 28, 28, 832); "original" (unmodified
    I3D) gives (4, 112, 112, 64), (4, 56, 56, 192) and (2, 14, 14, 832).

    Args:
        variant: str. `"ssl"` (the paper code's strides) or `"original"`. Defaults to `"ssl"`.
        width: float. Channel multiplier in (0, 1]. Defaults to 1.0.
        kernels: str. `"auto"`, `"reference"` or `"cpu_fast"`: how convolutions and pools are
            computed (`ssvad_keras.layers.cpu_kernels`); the weights are the same either way.
            Defaults to `"auto"`.
        **kwargs: standard `keras.layers.Layer` arguments.

    Example:

    >>> encoder = I3DEncoder(width=0.125)
    >>> out = encoder(keras.ops.zeros((1, 8, 32, 32, 3)))
    >>> out["Mixed_4f"].shape, out["Conv3d_2c_3x3"].shape, out["Conv3d_1a_7x7"].shape
    ((1, 1, 4, 4, 104), (1, 2, 8, 8, 24), (1, 4, 16, 16, 8))

    Reference: Carreira & Zisserman, "Quo Vadis, Action Recognition?", CVPR 2017.
    """

    def __init__(self, variant: str = "ssl", width: float = 1.0, kernels: str = "auto", **kwargs):
        super().__init__(**kwargs)
        if variant not in VARIANTS:
            raise ValueError(f"unknown I3D variant {variant!r} (known: {', '.join(VARIANTS)})")
        if not 0.0 < width <= 1.0:
            raise ValueError(f"I3D width must be in (0, 1], got {width}")
        self.variant = variant
        self.width = float(width)
        self.kernels = kernels

    def build(self, input_shape):
        self.endpoints = []
        shape = tuple(input_shape)
        for name, kind, args in endpoint_specs(self.variant, self.width):
            common = {"kernels": self.kernels, "dtype": self.dtype_policy, "name": name}
            if kind == "unit":
                layer = I3DUnit(**args, **common)
            elif kind == "pool":
                layer = SameMaxPool3D(**args, **common)
            else:
                layer = InceptionModule(**args, **common)
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
            self.endpoints.append(layer)

    def call(self, inputs, training=None):
        outputs = {}
        x = inputs
        # The endpoints run in order; the ones the detector needs are kept by name.
        for layer in self.endpoints:
            if isinstance(layer, SameMaxPool3D):
                x = layer(x)
            else:
                x = layer(x, training=training)
            if layer.name in OUTPUT_ENDPOINTS:
                outputs[layer.name] = x
        return outputs

    def compute_output_shape(self, input_shape):
        shapes = {}
        shape = tuple(input_shape)
        for name, kind, args in endpoint_specs(self.variant, self.width):
            batch, *spatial, channels = shape
            strides = args.get("strides", 1)
            strides = (strides,) * 3 if isinstance(strides, int) else strides
            spatial = [None if n is None else -(-n // s) for n, s in zip(spatial, strides, strict=True)]
            if kind == "unit":
                channels = args["filters"]
            elif kind == "inception":
                f = args["filters"]
                channels = f[0] + f[2] + f[4] + f[5]
            shape = (batch, *spatial, channels)
            if name in OUTPUT_ENDPOINTS:
                shapes[name] = shape
        return shapes

    def unit_layers(self) -> dict[str, I3DUnit]:
        """Every `I3DUnit`, keyed by its DeepMind scope (`Mixed_3b/Branch_1/Conv3d_0a_1x1`)."""
        units = {}
        for layer in self.endpoints:
            if isinstance(layer, I3DUnit):
                units[layer.name] = layer
            elif isinstance(layer, InceptionModule):
                for scope, unit in layer.units.items():
                    units[f"{layer.name}/{scope}"] = unit
        return units

    def get_config(self):
        config = super().get_config()
        config.update({"variant": self.variant, "width": self.width, "kernels": self.kernels})
        return config
