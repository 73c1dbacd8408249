"""Evaluation protocols: the paper's localization accuracy and the standard ACT AP.

- `paper_metrics` / `PaperMetricAccumulator`: "f-mAP/v-mAP (paper protocol, localization
  accuracy)" as Kumar & Rawat report it (SPEC 5.1).
- `frame_ap`, `video_ap`, `act_report`, `evaluate_detection_files`: "frame-AP/video-AP (ACT)",
  the standard protocol of the field (SPEC 5.2), with the annotation, `dets.csv` and
  `tubes.json` readers and writers of `act_io` and the mask-to-detection conversion of
  `detections`.
- `jaccard`, `boundary_f`, `jf_metrics`: video object segmentation J and F (SPEC 5.3).
- `render_paper_table`, `render_act_table`: rich tables for the CLI.
"""

from ssvad_keras.evaluation.act import (
    ActReport,
    ApResult,
    act_report,
    average_precision,
    box_iou,
    evaluate_detection_files,
    frame_ap,
    tube_iou,
    tube_nms,
    video_ap,
    video_ap_curve,
)
from ssvad_keras.evaluation.act_io import (
    ActGroundTruth,
    FrameDetections,
    Tube,
    load_act_ground_truth,
    read_frame_detections_csv,
    read_tubes_json,
    write_frame_detections_csv,
    write_tubes_json,
)
from ssvad_keras.evaluation.detections import box_scaler, detections_from_video, mask_to_box
from ssvad_keras.evaluation.paper import (
    PAPER_PROTOCOL_NAME,
    PaperMetricAccumulator,
    PaperMetrics,
    frame_overlaps,
    paper_metrics,
)
from ssvad_keras.evaluation.report import render_act_table, render_paper_table
from ssvad_keras.evaluation.vos import VosMetrics, boundary_f, jaccard, jf_metrics

__all__ = [
    "PAPER_PROTOCOL_NAME",
    "ActGroundTruth",
    "ActReport",
    "ApResult",
    "FrameDetections",
    "PaperMetricAccumulator",
    "PaperMetrics",
    "Tube",
    "VosMetrics",
    "act_report",
    "average_precision",
    "box_iou",
    "boundary_f",
    "box_scaler",
    "detections_from_video",
    "evaluate_detection_files",
    "frame_ap",
    "frame_overlaps",
    "jaccard",
    "jf_metrics",
    "load_act_ground_truth",
    "mask_to_box",
    "paper_metrics",
    "read_frame_detections_csv",
    "read_tubes_json",
    "render_act_table",
    "render_paper_table",
    "tube_iou",
    "tube_nms",
    "video_ap",
    "video_ap_curve",
    "write_frame_detections_csv",
    "write_tubes_json",
]
