"""Running a trained detector: over prepared datasets (`evaluate`) and over any video file
(`detect`)."""

from ssvad_keras.runtime import import_tensorflow

# TensorFlow's defaults (Keras backend, CPU allocator) and its quiet import, before this
# package's modules load Keras (ssvad_keras/runtime.py).
import_tensorflow()

from ssvad_keras.inference.detect import (
    DetectionResult,
    clip_frame_indices,
    detect_video,
    render_detection_summary,
    window_clip_offsets,
)
from ssvad_keras.inference.evaluate import (
    EvaluationResult,
    VideoPrediction,
    evaluate_checkpoint,
    evaluate_model,
    load_detector,
    predict_videos,
)

__all__ = [
    "DetectionResult",
    "EvaluationResult",
    "VideoPrediction",
    "clip_frame_indices",
    "detect_video",
    "evaluate_checkpoint",
    "evaluate_model",
    "load_detector",
    "predict_videos",
    "render_detection_summary",
    "window_clip_offsets",
]
