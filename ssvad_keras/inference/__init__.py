"""Running a trained detector: over prepared datasets (`evaluate`) and over any video file
(`detect`, with `video_reader`, `streaming`, `overlay` and `detect_report`); `forward` loads a
checkpoint and holds the one compiled forward pass they all use."""

from ssvad_keras.runtime import import_tensorflow

# TensorFlow's defaults (Keras backend, CPU allocator) and its quiet import, before this
# package's modules load Keras (ssvad_keras/runtime.py).
import_tensorflow()

from ssvad_keras.data.tiling import clip_frame_indices, window_clip_offsets
from ssvad_keras.inference.detect import DetectionResult, detect_video, render_detection_summary
from ssvad_keras.inference.evaluate import (
    EvaluationResult,
    VideoPrediction,
    evaluate_checkpoint,
    evaluate_model,
    predict_videos,
)
from ssvad_keras.inference.forward import compiled_forward, load_checkpoint

__all__ = [
    "DetectionResult",
    "EvaluationResult",
    "VideoPrediction",
    "clip_frame_indices",
    "compiled_forward",
    "detect_video",
    "evaluate_checkpoint",
    "evaluate_model",
    "load_checkpoint",
    "predict_videos",
    "render_detection_summary",
    "window_clip_offsets",
]
