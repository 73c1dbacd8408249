"""Input pipeline: manifest and split files, TFRecord parsing, the two-view augmentation, tf.data.

    from ssvad_keras.data import train_dataset, eval_clip_dataset, read_annotations
    ds = train_dataset("data/synthetic", "labeled-0.20-seed0", config.data, seed=0)
"""

from ssvad_keras.data.augment import (
    VIDEO_TRANSFORMS,
    InvertibleTransform,
    apply_view,
    apply_view_to_clip,
    invert_view,
    invert_view_spatial,
    photometric_jitter,
)
from ssvad_keras.data.geometry import (
    EvalGeometry,
    check_geometry,
    describe_geometry,
    eval_geometry,
    log_geometry,
    resolve_resize,
)
from ssvad_keras.data.manifest import (
    Manifest,
    SplitInfo,
    check_split,
    read_manifest,
    read_split,
    resolve_split_path,
)
from ssvad_keras.data.pipeline import (
    VideoAnnotation,
    eval_clip_dataset,
    read_annotations,
    sample_clip_indices,
    train_dataset,
    train_steps_per_epoch,
)
from ssvad_keras.data.records import (
    decode_object_ids,
    parse_video_record,
    rasterize_boxes,
)

__all__ = [
    "VIDEO_TRANSFORMS",
    "EvalGeometry",
    "InvertibleTransform",
    "Manifest",
    "SplitInfo",
    "VideoAnnotation",
    "apply_view",
    "apply_view_to_clip",
    "check_geometry",
    "check_split",
    "decode_object_ids",
    "describe_geometry",
    "eval_clip_dataset",
    "eval_geometry",
    "invert_view",
    "invert_view_spatial",
    "log_geometry",
    "parse_video_record",
    "photometric_jitter",
    "rasterize_boxes",
    "read_annotations",
    "read_manifest",
    "read_split",
    "resolve_resize",
    "resolve_split_path",
    "sample_clip_indices",
    "train_dataset",
    "train_steps_per_epoch",
]
