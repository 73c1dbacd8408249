"""Reading one video's SequenceExample: parsing, frame decoding, ground-truth masks (the
decoding side of `tfrecords_tools.record_encoder`).

Small pure TensorFlow functions that `pipeline.py` composes inside `tf.data`. A clip decodes only
the T frames it uses (their JPEG strings are gathered first), and cropping happens inside the JPEG
decoder when no resize is needed, which is what keeps the pipeline fast on a CPU.

Geometry: stored frames (height, width) are optionally resized to `resized_hw`, then a window of
`out_hw` pixels is cut at `offset` (y, x). Box ground truth is rasterised straight into that
window, so masks and frames always agree pixel for pixel.
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

from ssvad_keras.data import schema

# A padded box slot that contains no pixel: every pixel centre is >= 0 > x2.
EMPTY_BOX = -1.0


class CropWindow(NamedTuple):
    """Where a clip's output pixels lie in the (possibly resized) stored frame.

    Attributes:
        resized_hw: (2,) int32 size the stored frame is resized to (== stored size when not).
        offset: (2,) int32 top-left corner (y, x) of the output window in the resized frame.
        out_hw: static (height, width) of the output.
        resize: static; True when frames must be resized before cropping.
    """

    resized_hw: tf.Tensor
    offset: tf.Tensor
    out_hw: tuple[int, int]
    resize: bool


def parse_video_record(
    serialized: tf.Tensor, with_frames: bool = True, with_masks: bool = True
) -> dict[str, tf.Tensor | tf.RaggedTensor]:
    """Parse one serialised `tf.train.SequenceExample` (layout in `schema`).

    Nothing is decoded: frames and masks stay JPEG/PNG strings, so this is cheap enough to run
    on every record of a shard.

    Args:
        serialized: scalar string tensor.
        with_frames: include the (N,) JPEG strings under "frames".
        with_masks: include the (N,) PNG strings under "masks" (empty strings on frames without
            mask ground truth, and on every frame of box-only datasets).

    Returns:
        Dict with "video_id" (string), "class_index", "num_frames" (int32 scalars),
        "stored_hw", "orig_hw" ((2,) int32), "has_boxes", "has_masks" (bool scalars),
        "annotated" ((N,) bool), "boxes" (ragged (N, None) float32, 4 normalised values
        [x1, y1, x2, y2] per box), "box_tube_ids" (ragged (N, None) int32), plus "frames" and
        "masks" when asked for.
    """
    context_spec = {
        schema.VIDEO_ID: tf.io.FixedLenFeature([], tf.string),
        schema.CLASS_INDEX: tf.io.FixedLenFeature([], tf.int64, default_value=-1),
        schema.NUM_FRAMES: tf.io.FixedLenFeature([], tf.int64),
        schema.HEIGHT: tf.io.FixedLenFeature([], tf.int64),
        schema.WIDTH: tf.io.FixedLenFeature([], tf.int64),
        schema.ORIG_HEIGHT: tf.io.FixedLenFeature([], tf.int64),
        schema.ORIG_WIDTH: tf.io.FixedLenFeature([], tf.int64),
        schema.HAS_BOXES: tf.io.FixedLenFeature([], tf.int64, default_value=0),
        schema.HAS_MASKS: tf.io.FixedLenFeature([], tf.int64, default_value=0),
    }
    sequence_spec = {
        schema.ANNOTATED: tf.io.FixedLenSequenceFeature([], tf.int64, allow_missing=True),
        schema.BOXES: tf.io.RaggedFeature(tf.float32),
        schema.BOX_TUBE_IDS: tf.io.RaggedFeature(tf.int64),
    }
    if with_frames:
        sequence_spec[schema.FRAMES] = tf.io.FixedLenSequenceFeature([], tf.string)
    if with_masks:
        sequence_spec[schema.MASKS] = tf.io.FixedLenSequenceFeature(
            [], tf.string, allow_missing=True
        )
    context, sequence = tf.io.parse_single_sequence_example(
        serialized, context_features=context_spec, sequence_features=sequence_spec
    )
    num_frames = tf.cast(context[schema.NUM_FRAMES], tf.int32)
    out = {
        "video_id": context[schema.VIDEO_ID],
        "class_index": tf.cast(context[schema.CLASS_INDEX], tf.int32),
        "num_frames": num_frames,
        "stored_hw": tf.cast(tf.stack([context[schema.HEIGHT], context[schema.WIDTH]]), tf.int32),
        "orig_hw": tf.cast(
            tf.stack([context[schema.ORIG_HEIGHT], context[schema.ORIG_WIDTH]]), tf.int32
        ),
        "has_boxes": context[schema.HAS_BOXES] > 0,
        "has_masks": context[schema.HAS_MASKS] > 0,
        "annotated": _pad_dense(sequence[schema.ANNOTATED], num_frames, 0) > 0,
        # Box-free records have no `boxes` list at all: give them N empty rows.
        "boxes": _pad_ragged(sequence[schema.BOXES], num_frames),
        "box_tube_ids": tf.cast(_pad_ragged(sequence[schema.BOX_TUBE_IDS], num_frames), tf.int32),
    }
    if with_frames:
        out["frames"] = sequence[schema.FRAMES]
    if with_masks:
        out["masks"] = _pad_dense(sequence[schema.MASKS], num_frames, "")
    return out


def _pad_dense(values: tf.Tensor, length: tf.Tensor, fill) -> tf.Tensor:
    missing = tf.maximum(length - tf.shape(values)[0], 0)
    return tf.concat([values, tf.fill([missing], tf.constant(fill, values.dtype))], axis=0)


def _pad_ragged(values: tf.RaggedTensor, rows: tf.Tensor) -> tf.RaggedTensor:
    missing = tf.maximum(rows - values.nrows(out_type=tf.int32), 0)
    empty = tf.RaggedTensor.from_row_lengths(
        tf.zeros([0], values.dtype), tf.zeros([missing], values.row_splits.dtype)
    )
    return tf.concat([values, empty], axis=0)


def gather_boxes(boxes: tf.RaggedTensor, indices: tf.Tensor) -> tf.Tensor:
    """Boxes of the frames at `indices` as a dense (T, K, 4) tensor.

    K is the most boxes on any of those frames; unused slots hold an empty box (`EMPTY_BOX`).

    Args:
        boxes: ragged (N, None) from `parse_video_record`.
        indices: (T,) int32 frame indices.

    Returns:
        float32 (T, K, 4) normalised [x1, y1, x2, y2] boxes.
    """
    flat = tf.gather(boxes, indices).to_tensor(default_value=EMPTY_BOX)
    # Rows hold 4 values per box, so padding to the longest row keeps whole boxes.
    return tf.reshape(flat, [tf.shape(indices)[0], -1, 4])


def crop_window(
    stored_hw: tf.Tensor,
    out_hw: tuple[int, int],
    mode: str,
    resize_to: tuple[int, int] | None = None,
    seed: tf.Tensor | None = None,
) -> CropWindow:
    """Choose the output window of a clip (the same for all its frames).

    Args:
        stored_hw: (2,) int32 stored frame size.
        out_hw: model input (height, width).
        mode: "random" (training crop), "center" (evaluation crop) or "resize" (resize the whole
            frame to `out_hw`, no crop).
        resize_to: resize frames to this (height, width) before cropping; None keeps them.
        seed: (2,) int seed of the stateless random crop; needed for "random".

    Returns:
        The `CropWindow`.
    """
    out = tf.constant(out_hw, tf.int32)
    if mode == "resize":
        return CropWindow(out, tf.zeros([2], tf.int32), out_hw, True)
    resized = tf.constant(resize_to, tf.int32) if resize_to is not None else stored_hw
    room = resized - out
    if mode == "random":
        offset = tf.random.stateless_uniform(
            [2], seed=seed, minval=0, maxval=tf.int32.max, dtype=tf.int32
        ) % (room + 1)
    elif mode == "center":
        offset = room // 2
    else:
        raise ValueError(f"unknown crop mode {mode!r}")
    return CropWindow(resized, offset, out_hw, resize_to is not None)


def decode_frames(jpegs: tf.Tensor, window: CropWindow) -> tf.Tensor:
    """Decode a clip's JPEG frames into the output window, as uint8.

    Without a resize the crop happens inside the JPEG decoder (`decode_and_crop_jpeg`), which
    skips the pixels outside the window. Frames stay uint8 so that stacking and flipping move a
    quarter of the bytes; `to_unit_range` converts them at the end.

    Args:
        jpegs: (T,) JPEG strings with a static T.
        window: where the output lies, from `crop_window`.

    Returns:
        uint8 (T, out_h, out_w, 3).
    """
    out_h, out_w = window.out_hw
    frames = []
    # T is static: unrolling lets the executor decode the T frames in parallel.
    for t in range(jpegs.shape[0]):
        if window.resize:
            image = tf.image.resize(tf.io.decode_jpeg(jpegs[t], channels=3), window.resized_hw)
            image = image[
                window.offset[0] : window.offset[0] + out_h,
                window.offset[1] : window.offset[1] + out_w,
            ]
            image = tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)
        else:
            crop = tf.concat([window.offset, tf.constant([out_h, out_w], tf.int32)], axis=0)
            image = tf.io.decode_and_crop_jpeg(jpegs[t], crop, channels=3)
        frames.append(tf.reshape(image, [out_h, out_w, 3]))
    return tf.stack(frames)


def to_unit_range(frames: tf.Tensor) -> tf.Tensor:
    """uint8 pixels -> float32 in [0, 1] (the pipeline's only pixel scaling, SPEC 1.2)."""
    return tf.cast(frames, tf.float32) / 255.0


def rasterize_boxes(boxes: tf.Tensor, orig_hw: tf.Tensor, window: CropWindow) -> tf.Tensor:
    """Filled-rectangle masks of boxes (union over boxes on a frame), at the output resolution.

    Boxes are pixel-inclusive at the original resolution ([x1, x2] covers pixels x1..x2, i.e.
    the continuous span [x1, x2 + 1)); an output pixel is foreground when its centre, mapped back
    to original pixel coordinates, lies in a box. Separable per axis, so the cost is
    O(T K (H + W)) before one (T, K, H, W) boolean reduction.

    Args:
        boxes: (T, K, 4) normalised [x1, y1, x2, y2] (from `gather_boxes`).
        orig_hw: (2,) int32 original resolution the boxes were annotated at.
        window: the output window, from `crop_window`.

    Returns:
        float32 (T, out_h, out_w, 1) in {0, 1}.

    Example:
    >>> window = CropWindow(tf.constant([24, 32]), tf.constant([0, 0]), (24, 32), False)
    >>> box = tf.constant([[[4 / 32, 2 / 24, 9 / 32, 5 / 24]]])  # pixels x 4..9, y 2..5
    >>> int(tf.reduce_sum(rasterize_boxes(box, tf.constant([24, 32]), window)))
    24
    """
    out_h, out_w = window.out_hw
    resized = tf.cast(window.resized_hw, tf.float32)
    offset = tf.cast(window.offset, tf.float32)
    orig = tf.cast(orig_hw, tf.float32)
    # Output pixel centres in original pixel units.
    ys = (offset[0] + tf.range(out_h, dtype=tf.float32) + 0.5) / resized[0] * orig[0]
    xs = (offset[1] + tf.range(out_w, dtype=tf.float32) + 0.5) / resized[1] * orig[1]
    x1, y1, x2, y2 = (boxes[..., i : i + 1] for i in range(4))  # (T, K, 1)
    in_y = (ys >= y1 * orig[0]) & (ys < y2 * orig[0] + 1.0)  # (T, K, H)
    in_x = (xs >= x1 * orig[1]) & (xs < x2 * orig[1] + 1.0)  # (T, K, W)
    inside = in_y[..., :, None] & in_x[..., None, :]  # (T, K, H, W)
    return tf.cast(tf.reduce_any(inside, axis=1), tf.float32)[..., None]


def decode_mask_pngs(pngs: tf.Tensor, window: CropWindow) -> tf.Tensor:
    """Foreground masks (object id > 0) from PNG object-id maps, in the output window.

    Frames with an empty string (no mask ground truth) give all-zero masks. Resizing uses
    nearest neighbour so masks stay binary.

    Args:
        pngs: (T,) PNG strings (8-bit, one channel, at the stored size) with a static T.
        window: the output window, from `crop_window`.

    Returns:
        float32 (T, out_h, out_w, 1) in {0, 1}.
    """
    out_h, out_w = window.out_hw
    masks = []
    for t in range(pngs.shape[0]):
        masks.append(
            tf.cond(
                tf.strings.length(pngs[t]) > 0,
                lambda t=t: _decode_one_mask(pngs[t], window),
                lambda: tf.zeros([out_h, out_w, 1], tf.float32),
            )
        )
    return tf.stack(masks)


def _decode_one_mask(png: tf.Tensor, window: CropWindow) -> tf.Tensor:
    out_h, out_w = window.out_hw
    foreground = tf.cast(tf.io.decode_png(png, channels=1) > 0, tf.float32)
    if window.resize:
        foreground = tf.image.resize(foreground, window.resized_hw, method="nearest")
    foreground = foreground[
        window.offset[0] : window.offset[0] + out_h, window.offset[1] : window.offset[1] + out_w
    ]
    return tf.reshape(foreground, [out_h, out_w, 1])


def decode_object_ids(png: tf.Tensor) -> tf.Tensor:
    """Decode one PNG mask into its (H, W) uint8 object-id map (0 = background)."""
    return tf.io.decode_png(png, channels=1)[..., 0]
