"""The mask-conditioned decoder of VOS transfer: I3D skips + a reference mask -> mask logits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import get_args

import keras
from keras import ops

from ssvad_keras.layers.i3d_unit import SameConv3D
from ssvad_keras.layers.localization_decoder import _crop_to, upsampling_path
from ssvad_keras.vos.config import VosSettings

# The matching readout's features (`vos.matching_keys`, one source).
MATCHING_KEYS = get_args(VosSettings.model_fields["matching_keys"].annotation)

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


def _time_pooling(length: int, steps: int):
    """(steps, length) weights averaging each of `steps` equal spans of `length` frames (a frame
    split between two spans counts in both, by its share)."""
    import numpy as np

    weights = np.zeros((steps, length), np.float32)
    for frame in range(length):
        low, high = frame * steps / length, (frame + 1) * steps / length
        for step in range(int(low), min(steps, int(np.ceil(high)))):
            weights[step, frame] = min(high, step + 1) - max(low, step)
    return weights / weights.sum(axis=1, keepdims=True)


def _propagated_at(propagated, size: Sequence[int], interpolation: str = "area"):
    """The (B, T, h, w, 1) propagated mask resized to `size` = (t, H, W): frames averaged over
    each of the t time steps, then resized in space."""
    length, grid = propagated.shape[1], tuple(propagated.shape[2:4])
    steps, height, width = (int(n) for n in size)
    if steps != length:
        weights = ops.convert_to_tensor(_time_pooling(length, steps), propagated.dtype)
        propagated = ops.einsum("st,bthwc->bshwc", weights, propagated)
    if (height, width) == grid:
        return propagated
    flat = ops.reshape(propagated, (-1, *grid, 1))
    if interpolation == "area":
        flat = _area_resize(flat, (height, width))
    else:
        flat = ops.image.resize(flat, (height, width), interpolation=interpolation)
    return ops.reshape(flat, (-1, steps, height, width, 1))


def _area_resize(images, size: Sequence[int]):
    """Area resizing of (B, H, W, C) `images` to `size`, with a gradient where the factors are
    whole numbers (TensorFlow's area resize has none): the value is the area resize's exactly,
    the gradient the mean pooling's, the same linear map for such factors. Other factors pass
    no gradient (a learned readout then trains through the prior only)."""
    value = ops.image.resize(ops.stop_gradient(images), tuple(size), interpolation="area")
    (height, width), (h, w) = images.shape[1:3], size
    if height % h or width % w:
        return value
    pooled = ops.average_pool(images, (height // h, width // w), (height // h, width // w), "valid")
    return value + (pooled - ops.stop_gradient(pooled))


@keras.saving.register_keras_serializable(package="ssvad")
class MatchingReadout(keras.layers.Layer):
    """The reference mask carried to every frame of the clip by pixel matching.

    Label propagation through an appearance affinity, as space-time memory networks read their
    memory: the clip's frames are area-resized to a grid (`stride` input pixels per cell); every
    position of frame t is compared with every position of the clip's first frame (negative
    squared distance of the RGB values in [0, 1], over `temperature`) within `radius` grid cells;
    the `topk` best matches are kept, softmax-weighted, and the reference mask (area-resized to
    the grid) is averaged under those weights. On the built-in benchmark this readout alone, at
    a 32x32 grid of the 64x64 input, scores 83.8 J&F against 13.6 for copying the first mask
    (`bench/diagnose_vos_matching.py`, docs/vos.md). One (N, N) affinity per frame, N = grid
    positions.

    With `keys="rgb"` (the default) the readout is a fixed function of the clip and the
    reference: no weights, no gradient. With `keys="learned"` the matched features are the
    RGB values and `key_channels` learned ones (a 3x3 convolution + ReLU of each frame at the
    input resolution, mean-pooled over each grid cell), and the distance weighs every
    channel by a learned weight: `d = sum_c w_c (q_c - k_c)^2`. The weights start at 1 for
    RGB and 0 for the learned channels, so the untrained readout is the RGB one. The gradient
    of the mask losses reaches `w` and the convolution through the softmax over the kept
    matches: which `topk` positions are kept is chosen without gradient on the whole (N, N)
    affinity, and their logits are recomputed, with gradient, from the kept positions'
    features only ((N, 2 topk) per frame instead of (N, N)). Positions tied with the last kept
    one are kept as the fixed readout keeps them, up to `topk` more (ties happen at float32
    resolution even on random frames); beyond that the two readouts can differ.

    Args:
        stride: int. Input pixels per grid cell. Defaults to 2.
        radius: float. Reference positions farther than this (grid cells) are not matched.
            Defaults to 8.
        topk: int. Matches kept per position. Defaults to 16.
        temperature: float. Softmax temperature on squared distances. Defaults to 0.01.
        keys: "rgb" or "learned", the matched features (above). Defaults to "rgb".
        key_channels: int. Learned feature channels next to RGB (`keys="learned"` only).
            Defaults to 8.
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        clip: (batch, T, H, W, 3) frames in [0, 1].
        reference: (batch, H, W, 1) the object's mask on the first frame.

    Returns:
        (batch, T, H / stride, W / stride, 1) the propagated mask in [0, 1].

    Example:

    >>> readout = MatchingReadout(stride=1, radius=3, topk=4)
    >>> clip = keras.ops.zeros((1, 2, 8, 8, 3))
    >>> readout(clip, keras.ops.ones((1, 8, 8, 1))).shape
    (1, 2, 8, 8, 1)
    """

    def __init__(self, stride: int = 2, radius: float = 8.0, topk: int = 16,
                 temperature: float = 0.01, keys: str = "rgb", key_channels: int = 8, **kwargs):
        super().__init__(**kwargs)
        if keys not in MATCHING_KEYS:
            raise ValueError(f"keys must be one of {MATCHING_KEYS}, got {keys!r}")
        self.stride = int(stride)
        self.radius = float(radius)
        self.topk = int(topk)
        self.temperature = float(temperature)
        self.keys = keys
        self.key_channels = int(key_channels)

    def grid(self, height: int, width: int) -> tuple[int, int]:
        return max(1, height // self.stride), max(1, width // self.stride)

    def build(self, clip_shape, reference_shape):
        import numpy as np

        height, width = self.grid(*clip_shape[2:4])
        y, x = np.mgrid[0:height, 0:width]
        points = np.stack([y.ravel(), x.ravel()], 1).astype(np.float32)
        distance = ((points[:, None] - points[None]) ** 2).sum(-1)
        # 0 within the radius, a large negative logit outside (a constant, not a weight).
        self._far = np.where(distance > self.radius**2, -1e9, 0.0).astype(np.float32)
        self._topk = min(self.topk, height * width)
        self._candidates = min(2 * self.topk, height * width)
        if self.keys == "learned":
            self.key_embedding = keras.layers.Conv2D(
                self.key_channels, 3, padding="same", activation="relu", name="key_embedding",
                dtype=self.dtype_policy,
            )
            self.key_embedding.build((None, *clip_shape[2:4], 3))
            # 1 for R, G, B and 0 for the learned channels: the untrained readout is the RGB one.
            self.key_weights = self.add_weight(
                shape=(3 + self.key_channels,), name="key_weights",
                initializer=keras.initializers.Constant([1.0] * 3 + [0.0] * self.key_channels),
            )

    def _grid_features(self, clip):
        """(B, T, N, C) features of every frame at the grid: RGB (and the learned channels)."""
        length, height, width = clip.shape[1:4]
        grid = self.grid(height, width)
        frames = ops.reshape(clip, (-1, height, width, 3))
        features = frames
        if grid != (height, width):
            features = ops.image.resize(frames, grid, interpolation="area")
        if self.keys == "learned":
            # Mean-pooled over each grid cell: area resizing has no gradient in TensorFlow.
            learned = self.key_embedding(frames)
            if grid != (height, width):
                learned = ops.average_pool(learned, self.stride, self.stride, padding="valid")
            features = ops.concatenate([features, learned[:, : grid[0], : grid[1]]], axis=-1)
        return ops.reshape(features, (-1, length, grid[0] * grid[1], features.shape[-1]))

    def call(self, clip, reference):
        clip = ops.stop_gradient(ops.cast(clip, "float32"))
        reference = ops.stop_gradient(ops.cast(reference, "float32"))
        length, height, width = clip.shape[1:4]
        grid = self.grid(height, width)
        positions = grid[0] * grid[1]
        labels = reference
        if grid != (height, width):
            labels = ops.image.resize(reference, grid, interpolation="area")
        labels = ops.reshape(labels, (-1, positions, 1))
        features = self._grid_features(clip)
        far = ops.convert_to_tensor(self._far)
        if self.keys == "rgb":
            propagated = self._fixed(features, labels, far)
        else:
            propagated = self._learned(features, labels, far)
        return ops.reshape(propagated, (-1, length, *grid, 1))

    def _fixed(self, frames, labels, far):
        """The RGB readout: a masked softmax over every frame's whole (N, N) affinity."""
        frames = ops.stop_gradient(frames)
        keys = frames[:, 0]  # (B, N, 3): the reference frame
        key_norm = ops.sum(keys * keys, axis=-1)[:, None, :]
        out = []
        for t in range(frames.shape[1]):
            query = frames[:, t]
            distance = (ops.sum(query * query, axis=-1)[:, :, None] + key_norm
                        - 2.0 * ops.einsum("bnc,bmc->bnm", query, keys))
            logits = -ops.maximum(distance, 0.0) / self.temperature + far
            kth = ops.top_k(logits, self._topk, sorted=True)[0][..., -1:]
            logits = ops.where(logits >= kth, logits, -1e9)
            weights = ops.softmax(logits, axis=-1)
            out.append(ops.einsum("bnm,bmc->bnc", weights, labels))
        return ops.stop_gradient(ops.stack(out, axis=1))

    def _learned(self, features, labels, far):
        """The learned-key readout: the kept matches chosen on the whole affinity without
        gradient, their softmax weights recomputed with gradient from their features."""
        weight = ops.cast(self.key_weights, features.dtype)
        keys = features[:, 0]  # (B, M, C): the reference frame
        positions = keys.shape[1]
        # Flat row indices of every clip's reference positions, and of every query's.
        batch_offset = (ops.arange(ops.shape(keys)[0]) * positions)[:, None, None]
        query_offset = (ops.arange(positions) * positions)[None, :, None]
        flat_keys = ops.reshape(keys, (-1, keys.shape[-1]))
        flat_labels = ops.reshape(labels, (-1,))
        flat_far = ops.reshape(far, (-1,))
        still_keys, still_weight = ops.stop_gradient(keys), ops.stop_gradient(weight)
        # The selection's distance is summed per part (RGB, learned channels) in the fixed
        # readout's arithmetic, so at the initial weights (1 and 0) it is that readout's to the bit.
        parts = [(slice(0, 3), still_keys[..., :3], still_weight[:3]),
                 (slice(3, None), still_keys[..., 3:], still_weight[3:])]
        key_norms = [ops.sum(k * k * w, axis=-1)[:, None, :] for _, k, w in parts]
        out = []
        for t in range(features.shape[1]):
            query = features[:, t]
            # Which matches are kept: the weighted distance on the whole affinity, no gradient.
            still = ops.stop_gradient(query)
            distance = 0.0
            for (channels, part_keys, part_weight), key_norm in zip(parts, key_norms, strict=True):
                q = still[..., channels]
                distance = distance + (
                    ops.sum(q * q * part_weight, axis=-1)[:, :, None] + key_norm
                    - 2.0 * ops.einsum("bnc,bmc->bnm", q * part_weight, part_keys))
            logits = -ops.maximum(distance, 0.0) / self.temperature + far
            # The best `topk` and, as the fixed readout's `>= kth`, those tied with the last
            # of them (up to `topk` more candidates).
            values, kept = ops.top_k(logits, self._candidates, sorted=True)  # (B, N, 2k)
            tied = values >= values[..., self._topk - 1 : self._topk]
            # Their logits again, from their features, with gradient.
            matched = ops.take(flat_keys, kept + batch_offset, axis=0)  # (B, N, 2k, C)
            difference = query[:, :, None, :] - matched
            logits = (-ops.sum(difference * difference * weight, axis=-1) / self.temperature
                      + ops.take(flat_far, kept + query_offset, axis=0))
            weights = ops.softmax(ops.where(tied, logits, -1e9), axis=-1)
            out.append(ops.sum(weights * ops.take(flat_labels, kept + batch_offset, axis=0), axis=-1))
        return ops.stack(out, axis=1)[..., None]

    def compute_output_shape(self, clip_shape, reference_shape):
        return (clip_shape[0], clip_shape[1], *self.grid(*clip_shape[2:4]), 1)

    def get_config(self):
        config = super().get_config()
        config.update({"stride": self.stride, "radius": self.radius, "topk": self.topk,
                       "temperature": self.temperature, "keys": self.keys,
                       "key_channels": self.key_channels})
        return config


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
    With the matching readout (`propagated` given, `MatchingReadout`), the mask channel of
    each level's cue and the prior are the mask carried to every frame by pixel matching
    instead of the reference tiled over time (the similarity maps still use the reference).
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
        correction_gate: float or None. Given, the decoder's output is a gated residual of
            the prior, `logits = a (2 p - 1) + g * smooth(x)`, with the scalar `g` learned and
            started here (0: the untrained model predicts exactly what the prior says, the
            readout's mask with the matching readout). None (the default, and models saved
            before the option): no gate, `g = 1`, no variable.
        zero_mean_correction: bool. The decoder's output less its mean over each frame, so it
            cannot move every pixel of a frame by one offset: trained with the soft Dice and BCE
            on one frame position, the decoder's output became mostly such an offset (-0.6
            logits on the supervised frame, +-0.2-0.5 on the others by the last up-sampling's
            phase), a threshold shift that cost 1-5 points of J on new videos (docs/vos.md,
            2026-12-02 later). Defaults to False (as models saved before the option).
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        mixed_4f: (batch, T4, h, w, c4).
        skip_2c: (batch, T2, H2, W2, c2), the `Conv3d_2c_3x3` output.
        skip_1a: (batch, T1, H1, W1, c1), the `Conv3d_1a_7x7` output.
        reference: (batch, H, W, 1) the object's mask on the clip's first frame, in [0, 1].
        propagated: optional (batch, T, h, w, 1), the reference mask carried to every frame
            (`MatchingReadout`). Given, it replaces the reference in the mask channel of every
            level's cue (averaged over the level's time steps, area-resized) and in the prior,
            which becomes `a (2 p_t - 1)` per frame (p_t bilinearly resized): training starts
            from the matching readout instead of from copying. The layers and their shapes
            are the same either way.

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
        correction_gate: float | None = None,
        zero_mean_correction: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.output_size = tuple(int(n) for n in output_size)
        self.channels = int(channels)
        self.final_channels = int(final_channels)
        self.dropout = float(dropout)
        self.seed = seed
        self.prior_init = float(prior_init)
        self.correction_gate = None if correction_gate is None else float(correction_gate)
        self.zero_mean_correction = bool(zero_mean_correction)

    def build(self, mixed_4f_shape, skip_2c_shape, skip_1a_shape, reference_shape,
              propagated_shape=None):
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
        if self.correction_gate is not None:
            # The decoder's output as a gated residual of the prior: logits = prior + g * smooth.
            self.gate = self.add_weight(
                shape=(), initializer=keras.initializers.Constant(self.correction_gate),
                name="correction_gate",
            )
        self._sizes = (grid_4f, tuple(skip_2c_shape[1:4]), tuple(skip_1a_shape[1:4]))

    def pretrained_layers(self) -> dict[str, keras.layers.Layer]:
        """The sub-layers in `PRETRAINED_LAYERS`, by name."""
        layers = [self.mixed_4f_projection, self.skip_2c_projection, self.skip_1a_projection,
                  *self.upsamplers, self.smooth]
        return {layer.name: layer for layer in layers}

    def call(self, mixed_4f, skip_2c, skip_1a, reference, propagated=None, training=None):
        reference = ops.cast(reference, mixed_4f.dtype)
        if propagated is not None:
            propagated = ops.cast(propagated, mixed_4f.dtype)
        size_4f, size_2c, size_1a = self._sizes

        def where_it_is(size):
            # The mask channel of each level's cue: the reference tiled over time, or (matching
            # readout) the mask propagated to each frame, averaged over the level's time steps.
            if propagated is None:
                return _reference_at(reference, size)
            return _propagated_at(propagated, size)

        # The object at the Mixed_4f grid: where it is, and what looks like it.
        mask_4f = _reference_at(reference, size_4f)
        similarity = _prototype_similarity(mixed_4f, mask_4f)
        x = self.reference_4f(ops.concatenate([where_it_is(size_4f), similarity], axis=-1))
        x = ops.concatenate([x, self.mixed_4f_projection(mixed_4f)], axis=-1)
        # Up to each skip; the skip's projection sees the mask at its resolution and what looks
        # like the object in the skip's own features.
        for upsampler, skip, projection, embedding, size in (
            (self.upsamplers[0], skip_2c, self.skip_2c_projection, self.reference_2c, size_2c),
            (self.upsamplers[1], skip_1a, self.skip_1a_projection, self.reference_1a, size_1a),
        ):
            x = _crop_to(upsampler(x), size)
            similarity = _prototype_similarity(skip, _reference_at(reference, size))
            cue = ops.concatenate([where_it_is(size), similarity], axis=-1)
            skip_features = ops.relu(projection(skip) + embedding(cue))
            x = ops.concatenate([x, skip_features], axis=-1)
        # Up to the clip's size, no activation; channel dropout; 1-channel smoothing conv.
        x = _crop_to(self.upsamplers[2](x), self.output_size)
        x = self.dropout_3d(x, training=training)
        if propagated is None:
            prior = (2.0 * reference - 1.0)[:, None]
        else:
            prior = 2.0 * _propagated_at(propagated, self.output_size, "bilinear") - 1.0
        correction = self.smooth(x)
        if self.zero_mean_correction:
            # No frame-wide offset: the prior's threshold stays the readout's (p = 0.5).
            correction = correction - ops.mean(correction, axis=(2, 3), keepdims=True)
        if self.correction_gate is not None:
            correction = ops.cast(self.gate, x.dtype) * correction
        return correction + ops.cast(self.reference_prior, x.dtype) * prior

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
                "correction_gate": self.correction_gate,
                "zero_mean_correction": self.zero_mean_correction,
            }
        )
        return config
