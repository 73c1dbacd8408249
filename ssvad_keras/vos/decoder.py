"""The mask-conditioned decoder of VOS transfer: I3D skips + a reference mask -> mask logits."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from ssvad_keras.layers.i3d_unit import SameConv3D
from ssvad_keras.layers.localization_decoder import _crop_to, upsampling_path

# Sub-layers shared, name for name and shape for shape, with `LocalizationDecoder`: what an
# action-detection run initialises.
PRETRAINED_LAYERS = (
    "mixed_4f_projection",
    "skip_2c_projection",
    "skip_1a_projection",
    "upsample_2c",
    "upsample_1a",
    "upsample_clip",
    "smooth",
)


def _reference_at(reference, size: Sequence[int]):
    """The (B, H, W, 1) reference mask area-resized to `size` = (T, h, w) and tiled over time."""
    small = ops.image.resize(reference, tuple(size[1:3]), interpolation="area")
    return ops.repeat(ops.expand_dims(small, 1), size[0], axis=1)


def _prototype_similarity(features, mask):
    """Cosine similarity of every position's features to the object's and the background's
    mean feature under the reference mask (on the first time step).

    Args:
        features: (B, T, h, w, C).
        mask: (B, T, h, w, 1) reference mask at this grid, values in [0, 1].

    Returns:
        (B, T, h, w, 2): similarity to the object prototype, then to the background's.
    """
    first, weight = features[:, :1], mask[:, :1]
    eps = 1e-6
    fg = ops.sum(first * weight, axis=(1, 2, 3)) / (ops.sum(weight, axis=(1, 2, 3)) + eps)
    bg = ops.sum(first * (1 - weight), axis=(1, 2, 3)) / (ops.sum(1 - weight, axis=(1, 2, 3)) + eps)
    normalised = features / (ops.norm(features, axis=-1, keepdims=True) + eps)
    out = []
    for prototype in (fg, bg):
        unit = prototype / (ops.norm(prototype, axis=-1, keepdims=True) + eps)
        out.append(ops.sum(normalised * unit[:, None, None, None, :], axis=-1, keepdims=True))
    return ops.concatenate(out, axis=-1)


@keras.saving.register_keras_serializable(package="ssvad")
class ReferenceMaskDecoder(keras.layers.Layer):
    """Decodes I3D skips into one object's mask logits, conditioned on its reference mask.

    The action detector's decoder (`LocalizationDecoder`) without capsules: where it feeds
    the masked class capsules, this one feeds the reference mask, and at every skip level the
    mask enters again:
    1. at the `Mixed_4f` grid: the reference mask, area-resized, and the cosine similarity of
       every position's features to the object's and the background's mean feature under it
       -> 1x3x3 conv + ReLU (`reference_4f`, in place of the capsule branch); concat
       ReLU(1x3x3 conv of `Mixed_4f`) -> transposed 3D conv + ReLU to the `Conv3d_2c_3x3` size;
    2. concat ReLU(3x3x3 conv of the `Conv3d_2c_3x3` skip + 3x3x3 conv of the resized mask and
       the skip's own two similarity maps) -> transposed 3D conv + ReLU to the `Conv3d_1a_7x7`
       size;
    3. concat ReLU(3x3x3 conv of the `Conv3d_1a_7x7` skip + 3x3x3 conv of the resized mask and
       the skip's two similarity maps) -> transposed 3D conv to the clip's size, 3D dropout,
       3x3x3 transposed conv to 1 channel; plus a learned multiple of the reference mask
       (`reference_prior`, "the object stays where it was", so training starts from copying
       the mask): the mask logits.
    The similarity maps at the skips say, at 1/4 and 1/2 of the input's resolution and on every
    frame, what looks like the object: without them the only appearance match is at the
    `Mixed_4f` grid (4x4 cells for a 64x64 input), and the fine levels can only shift the mask
    by a 3x3x3 kernel's reach, so a decoder cannot follow an object that moves its own width
    within a clip (docs/vos.md, "Looking at why it did not learn").
    Adding a convolution of the mask inside a projection's ReLU is the same as concatenating
    the mask to the skip as one more input channel of the projection; keeping those weights in
    their own layers (`reference_2c`, `reference_1a`) leaves every layer in
    `PRETRAINED_LAYERS` with the action decoder's names and shapes, so its weights load as
    they are. The convolutions are the action decoder's classes (`SameConv3D`,
    `SubpixelConv3DTranspose`: Keras' "same" convolutions, computed on CPU as stride-1
    convolutions with faster gradients); the last two run layer by layer.

    Args:
        output_size: 3 ints. The clip's (T, H, W); the logits have exactly this size.
        channels: int. Width of the intermediate maps. Defaults to 64.
        final_channels: int. Width before the last smoothing conv. Defaults to 128.
        dropout: float. 3D (channel) dropout rate before the smoothing conv. Defaults to 0.5.
        seed: int or None. Dropout seed. Defaults to `None`.
        prior_init: float. Initial scale `a` of the reference prior `a (2 m - 1)` added to
            every frame's logits (m the reference mask). Defaults to 2.0.
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        mixed_4f: (batch, T4, h, w, c4).
        skip_2c: (batch, T2, H2, W2, c2), the `Conv3d_2c_3x3` output.
        skip_1a: (batch, T1, H1, W1, c1), the `Conv3d_1a_7x7` output.
        reference: (batch, H, W, 1) the object's mask on the clip's first frame, in [0, 1].

    Returns:
        (batch, T, H, W, 1) mask logits.

    Example:

    >>> decoder = ReferenceMaskDecoder((8, 32, 32), channels=8, final_channels=8)
    >>> logits = decoder(
    ...     keras.ops.zeros((1, 1, 4, 4, 16)), keras.ops.zeros((1, 2, 8, 8, 8)),
    ...     keras.ops.zeros((1, 4, 16, 16, 4)), keras.ops.zeros((1, 32, 32, 1)))
    >>> logits.shape
    (1, 8, 32, 32, 1)
    """

    def __init__(
        self,
        output_size: Sequence[int],
        channels: int = 64,
        final_channels: int = 128,
        dropout: float = 0.5,
        seed: int | None = None,
        prior_init: float = 2.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.output_size = tuple(int(n) for n in output_size)
        self.channels = int(channels)
        self.final_channels = int(final_channels)
        self.dropout = float(dropout)
        self.seed = seed
        self.prior_init = float(prior_init)

    def build(self, mixed_4f_shape, skip_2c_shape, skip_1a_shape, reference_shape):
        c = self.channels
        up_init = keras.initializers.RandomNormal(stddev=0.02)
        common = {"dtype": self.dtype_policy}

        def conv(name, kernel, shape, activation=None, use_bias=True):
            layer = SameConv3D(c, kernel, padding="same", activation=activation,
                               use_bias=use_bias, name=name, **common)
            layer.build(shape)
            return layer

        grid_4f = tuple(mixed_4f_shape[1:4])
        # Mask + two similarities at the Mixed_4f grid, in place of the capsule branch.
        self.reference_4f = conv("reference_4f", (1, 3, 3), (None, *grid_4f, 3), "relu")
        self.mixed_4f_projection = conv("mixed_4f_projection", (1, 3, 3), mixed_4f_shape, "relu")
        # Skip projections without their ReLU: it comes after the mask term is added.
        self.skip_2c_projection = conv("skip_2c_projection", 3, skip_2c_shape)
        self.skip_1a_projection = conv("skip_1a_projection", 3, skip_1a_shape)
        # The mask and its two similarity maps at each skip's grid.
        self.reference_2c = conv("reference_2c", 3, (None, *skip_2c_shape[1:4], 3), use_bias=False)
        self.reference_1a = conv("reference_1a", 3, (None, *skip_1a_shape[1:4], 3), use_bias=False)
        self.upsamplers, self.dropout_3d, self.smooth = upsampling_path(
            self, mixed_4f_shape, skip_2c_shape, skip_1a_shape, up_init, common
        )
        # Logit offset of the reference mask itself on every frame ("the object stays where it
        # was"), a learned scale: the decoder starts from copying and learns the motion.
        self.reference_prior = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(self.prior_init),
            name="reference_prior",
        )
        self._sizes = (grid_4f, tuple(skip_2c_shape[1:4]), tuple(skip_1a_shape[1:4]))

    def pretrained_layers(self) -> dict[str, keras.layers.Layer]:
        """The sub-layers in `PRETRAINED_LAYERS`, by name."""
        layers = [self.mixed_4f_projection, self.skip_2c_projection, self.skip_1a_projection,
                  *self.upsamplers, self.smooth]
        return {layer.name: layer for layer in layers}

    def call(self, mixed_4f, skip_2c, skip_1a, reference, training=None):
        reference = ops.cast(reference, mixed_4f.dtype)
        size_4f, size_2c, size_1a = self._sizes
        # The object at the Mixed_4f grid: where it was, and what looks like it.
        mask_4f = _reference_at(reference, size_4f)
        similarity = _prototype_similarity(mixed_4f, mask_4f)
        x = self.reference_4f(ops.concatenate([mask_4f, similarity], axis=-1))
        x = ops.concatenate([x, self.mixed_4f_projection(mixed_4f)], axis=-1)
        # Up to each skip; the skip's projection sees the mask at its resolution and what looks
        # like the object in the skip's own features.
        for upsampler, skip, projection, embedding, size in (
            (self.upsamplers[0], skip_2c, self.skip_2c_projection, self.reference_2c, size_2c),
            (self.upsamplers[1], skip_1a, self.skip_1a_projection, self.reference_1a, size_1a),
        ):
            x = _crop_to(upsampler(x), size)
            mask = _reference_at(reference, size)
            cue = ops.concatenate([mask, _prototype_similarity(skip, mask)], axis=-1)
            skip_features = ops.relu(projection(skip) + embedding(cue))
            x = ops.concatenate([x, skip_features], axis=-1)
        # Up to the clip's size, no activation; channel dropout; 1-channel smoothing conv.
        x = _crop_to(self.upsamplers[2](x), self.output_size)
        x = self.dropout_3d(x, training=training)
        prior = ops.cast(self.reference_prior, x.dtype) * (2.0 * reference - 1.0)
        return self.smooth(x) + prior[:, None]

    def compute_output_shape(self, mixed_4f_shape, *args, **kwargs):
        return (mixed_4f_shape[0], *self.output_size, 1)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "output_size": self.output_size,
                "channels": self.channels,
                "final_channels": self.final_channels,
                "dropout": self.dropout,
                "seed": self.seed,
                "prior_init": self.prior_init,
            }
        )
        return config
