"""Input pipeline: manifest and split files (read here, made by `splits` for the converters and
`ssvad train`), TFRecord parsing, the two-view augmentation, the evaluation clip tiling, tf.data.

    from ssvad_keras.data import train_dataset, eval_clip_dataset, read_annotations
    ds = train_dataset("data/synthetic", "labeled-0.20-seed0", config.data, seed=0)
"""

from ssvad_keras.runtime import configure_environment, lazy_exports

# The TensorFlow and Keras defaults before any of this package's modules load them. Names are
# imported on first use: `schema`, `manifest` and `geometry` are pure Python, and the dataset
# tools and the CLI's `--help` read them without loading TensorFlow.
configure_environment()

_EXPORTS = {
    "augment": (
        "VIDEO_TRANSFORMS",
        "InvertibleTransform",
        "apply_view",
        "apply_view_to_clip",
        "invert_view",
        "invert_view_spatial",
        "photometric_jitter",
    ),
    "geometry": (
        "EvalGeometry",
        "check_geometry",
        "describe_geometry",
        "eval_geometry",
        "log_geometry",
        "resolve_resize",
    ),
    "manifest": (
        "Manifest",
        "SplitInfo",
        "check_split",
        "read_manifest",
        "read_split",
        "resolve_split_path",
    ),
    "pipeline": (
        "VideoAnnotation",
        "eval_clip_dataset",
        "read_annotations",
        "sample_clip_indices",
        "train_dataset",
        "train_steps_per_epoch",
    ),
    "record_decoder": (
        "decode_object_ids",
        "parse_video_record",
        "rasterize_boxes",
    ),
    "splits": ("make_split", "split_path", "write_split"),
    "tiling": ("clip_frame_indices", "window_clip_offsets"),
}

__getattr__, __dir__, __all__ = lazy_exports(
    __name__, _EXPORTS, tensorflow_modules=("augment", "pipeline", "record_decoder")
)
