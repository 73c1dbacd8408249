"""Run a detector over prepared videos and score it with both protocols.

`predict_videos` streams whole-video predictions (the paper's clip tiling, SPEC 5.1) with memory
bounded by one video; `evaluate_model` turns them into the paper protocol's localization
accuracy (used for validation during training), and `evaluate_checkpoint` (behind `ssvad
evaluate --checkpoint`) adds the standard ACT frame-AP/video-AP and writes `dets.csv` and
`tubes.json` so other tools can re-score the detections.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from ssvad_keras.config import ExperimentConfig, override_config
from ssvad_keras.data import (
    eval_clip_dataset,
    eval_geometry,
    log_geometry,
    read_annotations,
    read_manifest,
)
from ssvad_keras.errors import CheckpointError
from ssvad_keras.evaluation import (
    PAPER_PROTOCOL_NAME,
    ActGroundTruth,
    ActReport,
    FrameDetections,
    PaperMetricAccumulator,
    PaperMetrics,
    act_report,
    detections_from_video,
    write_frame_detections_csv,
    write_tubes_json,
)
from ssvad_keras.inference.forward import compiled_forward, config_for_detector, load_checkpoint
from ssvad_keras.progress import progress_bar
from ssvad_keras.run_dir import RunDir


@dataclass
class VideoPrediction:
    """Whole-video outputs at the model's resolution.

    Attributes:
        video_index: position in the evaluated id list.
        label: ground-truth class (-1 when none).
        probs: (N, H, W) float32 foreground probabilities, every frame of the video.
        gt: (N, H, W) bool ground-truth masks (all False on frames without ground truth).
        frame_valid: (N,) bool, frames with ground truth.
        class_scores: (C,) mean class scores over the video's clips with ground truth (over all
            clips when none has any), as the paper's accuracy uses them.
    """

    video_index: int
    label: int
    probs: np.ndarray
    gt: np.ndarray
    frame_valid: np.ndarray
    class_scores: np.ndarray


class _VideoAssembler:
    """Collects clip outputs of one video; clips arrive video by video."""

    def __init__(self, video_index: int, label: int):
        self.video_index, self.label = video_index, label
        self.frames: dict[int, tuple[np.ndarray, np.ndarray, bool]] = {}
        self.scores_gt: list[np.ndarray] = []
        self.scores_all: list[np.ndarray] = []

    def add(self, probs, gt, frame_index, frame_valid, scores) -> None:
        keep = frame_index >= 0
        for t in np.flatnonzero(keep):
            self.frames[int(frame_index[t])] = (probs[t], gt[t], bool(frame_valid[t]))
        self.scores_all.append(scores)
        if frame_valid[keep].any():
            self.scores_gt.append(scores)

    def finish(self) -> VideoPrediction:
        order = sorted(self.frames)
        probs = np.stack([self.frames[i][0] for i in order]).astype(np.float32)
        gt = np.stack([self.frames[i][1] for i in order])
        valid = np.array([self.frames[i][2] for i in order])
        gt = gt & valid[:, None, None]
        scores = np.mean(self.scores_gt or self.scores_all, axis=0)
        return VideoPrediction(self.video_index, self.label, probs, gt, valid, scores)


def predict_videos(
    detector: keras.Model,
    data_dir: str | Path,
    split_name_or_ids: str | Sequence[str],
    config: ExperimentConfig,
    progress: bool = False,
    limit_videos: int | None = None,
    batches: Iterable[dict] | None = None,
) -> Iterator[VideoPrediction]:
    """Yield one `VideoPrediction` per video, running the detector on batched clips.

    At inference the capsules are masked with each clip's predicted class (SPEC 2);
    `config.eval.class_mask` can instead give the decoder the ground-truth class (an oracle) or
    every class, to tell localization errors from classification errors;
    `config.eval.flip_average` averages each clip with its mirror (`compiled_forward`).

    `batches`, when given, replaces `eval_clip_dataset(data_dir, split_name_or_ids, ...)`: the
    same batches built once by the caller (training validates every few epochs with one, so the
    clip pipeline is neither rebuilt nor re-decoded).
    """
    manifest, ids = read_manifest(data_dir), split_name_or_ids
    total = len(manifest.split(ids).video_ids) if isinstance(ids, str) else len(ids)
    dataset = batches if batches is not None else eval_clip_dataset(data_dir, ids, config.data, config.eval.batch_size)
    class_mask = config.eval.class_mask
    predict = compiled_forward(detector, class_mask, config.eval.flip_average)
    current: _VideoAssembler | None = None
    done = 0
    with progress_bar(progress) as bar:
        task = bar.add_task("evaluating", total=total, info="")
        for batch in dataset:
            out = predict(batch["clip"]) if class_mask == "predicted" else predict(batch["clip"], batch["label"])
            probs = keras.ops.convert_to_numpy(out["loc_probs"])[..., 0]
            scores = keras.ops.convert_to_numpy(out["class_scores"])
            gt = batch["mask"].numpy()[..., 0] > 0.5
            frame_index = batch["frame_index"].numpy()
            frame_valid = batch["frame_valid"].numpy() > 0.5
            videos = batch["video_index"].numpy()
            labels = batch["label"].numpy()
            for i in range(len(videos)):
                if current is None or current.video_index != videos[i]:
                    if current is not None:
                        yield current.finish()
                        done += 1
                        bar.update(task, advance=1)
                        if limit_videos is not None and done >= limit_videos:
                            return
                    current = _VideoAssembler(int(videos[i]), int(labels[i]))
                current.add(probs[i], gt[i], frame_index[i], frame_valid[i], scores[i])
        if current is not None:
            yield current.finish()
            bar.update(task, advance=1)


def evaluate_model(
    detector: keras.Model,
    data_dir: str | Path,
    split_name_or_ids: str | Sequence[str],
    config: ExperimentConfig,
    progress: bool = False,
    batches: Iterable[dict] | None = None,
) -> PaperMetrics:
    """The paper protocol's f-mAP/v-mAP (localization accuracy) and accuracy (`batches`: see
    `predict_videos`)."""
    manifest = read_manifest(data_dir)
    acc = PaperMetricAccumulator(manifest.num_classes, mask_threshold=config.eval.mask_threshold)
    for video in predict_videos(detector, data_dir, split_name_or_ids, config, progress, batches=batches):
        if video.label >= 0:
            acc.add_video(video.probs, video.gt, video.label, video.class_scores)
    return acc.result()


def validation_samples(
    data_dir: str | Path,
    ids: Sequence[str],
    config: ExperimentConfig,
    count: int,
    batches: Iterable[dict] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` validation clips with ground truth and their masks: (clips, masks).

    Read once per run: training shows the detector's masks on the same clips every epoch
    (`predict_probabilities`), without another pass over the validation records. `batches`,
    when given, replaces `eval_clip_dataset(data_dir, ids, ...)` (training passes the batches
    its validation already holds, so no second clip pipeline is built).
    """
    clips, masks = [], []
    if batches is None:
        batches = eval_clip_dataset(data_dir, list(ids), config.data, config.eval.batch_size)
    for batch in batches:
        keep = batch["frame_valid"].numpy().max(axis=1) > 0
        if not keep.any():
            continue
        clips.append(batch["clip"].numpy()[keep])
        masks.append(batch["mask"].numpy()[keep])
        if sum(len(c) for c in clips) >= count:
            break
    if not clips:
        return np.zeros((0, 1, 1, 1, 3), np.float32), np.zeros((0, 1, 1, 1, 1), np.float32)
    return np.concatenate(clips)[:count], np.concatenate(masks)[:count]


@dataclass
class EvaluationResult:
    """What `ssvad evaluate --checkpoint` reports."""

    labels: tuple[str, ...]
    split: str
    class_mask: str
    paper: PaperMetrics | None
    act: ActReport | None
    frames: int
    seconds: float
    metric_seconds: float
    detections_dir: Path | None
    eval_padding: str = "zeros"
    flip_average: bool = False

    def to_dict(self) -> dict:
        out: dict = {
            "split": self.split, "labels": list(self.labels), "frames": self.frames, "class_mask": self.class_mask,
            "inference": {"eval_padding": self.eval_padding, "flip_average": self.flip_average},
        }
        if self.paper is not None:
            out["paper_protocol"] = {"name": PAPER_PROTOCOL_NAME, **self.paper.to_dict()}
        if self.act is not None:
            out.update(self.act.to_dict())
        out["throughput_fps"] = self.frames / max(self.seconds, 1e-9)
        out["metric_share"] = self.metric_seconds / max(self.seconds, 1e-9)
        if self.detections_dir is not None:
            out["detections_dir"] = str(self.detections_dir)
        return out


def evaluate_checkpoint(
    checkpoint: str | Path,
    data: str | Path,
    split: str = "test",
    protocol: str | None = None,
    metric: str = "all",
    progress: bool = True,
    config: ExperimentConfig | None = None,
    out_dir: str | Path | None = None,
    class_mask: str | None = None,
    weights: str | None = None,
    eval_padding: str | None = None,
    flip_average: bool | None = None,
) -> EvaluationResult:
    """Evaluate a trained detector on a prepared split with the paper and/or ACT protocol.

    Args:
        checkpoint: a run directory (uses `best.keras` and the run's config) or a `.keras` file.
        data: folder written by `ssvad prepare`.
        split: "test", or "val" (the held-out training videos of the run's split).
        protocol: "paper", "act" or "both" (default: the config's `eval.protocol`).
        metric: "fmap", "vmap" or "all" (what the report shows; both are always computed).
        progress: rich progress bar.
        config: experiment config; default: the run's, or defaults with the model's input size.
        out_dir: where `dets.csv` and `tubes.json` go (ACT protocol); default next to the
            checkpoint, in `eval-<split>/`.
        class_mask: overrides the config's `eval.class_mask` ("predicted", "ground_truth" or
            "all"; see `EvalConfig`). Anything but "predicted" is a diagnostic, and the
            report says so.
        weights: a mean-teacher run directory's "teacher" or "student" (None: its `best.keras`,
            the network the run's `eval.weights` names; `RunDir.resolve_model`).
        eval_padding: overrides `data.eval_padding` ("zeros", the paper's, or "repeat").
        flip_average: overrides `eval.flip_average` (test-time flip).
    """
    detector, run_config, model_path = load_checkpoint(checkpoint, weights)
    config = config or run_config or config_for_detector(detector)
    config = override_config(config, {"eval.class_mask": class_mask, "data.eval_padding": eval_padding,
                                      "eval.flip_average": flip_average})
    protocol = protocol or config.eval.protocol
    manifest = read_manifest(data)
    log_geometry(manifest, config.data)
    ids: str | list[str] = split
    if split == "val":
        split_file = RunDir(Path(checkpoint)).split_path if Path(checkpoint).is_dir() else None
        if split_file is None or not split_file.is_file():
            raise CheckpointError("--split val needs a run directory (its split.json names the val videos)", checkpoint)
        from ssvad_keras.data import read_split

        ids = list(read_split(split_file)["val"])
    video_ids = manifest.split(ids).video_ids if isinstance(ids, str) else ids
    want_paper = protocol in ("paper", "both")
    want_act = protocol in ("act", "both")
    acc = PaperMetricAccumulator(manifest.num_classes, mask_threshold=config.eval.mask_threshold)
    detections: list[FrameDetections] = []
    tubes = []
    annotations = {a.video_index: a for a in read_annotations(data, ids)} if want_act else {}
    start = time.perf_counter()
    metric_seconds = 0.0
    frames = 0
    for video in predict_videos(detector, data, ids, config, progress):
        tick = time.perf_counter()
        frames += len(video.probs)
        if want_paper and video.label >= 0:
            acc.add_video(video.probs, video.gt, video.label, video.class_scores)
        if want_act:
            ann = annotations[video.video_index]
            geometry = eval_geometry(
                ann.stored_hw, ann.orig_hw, config.data.input_size, config.data.eval_crop, config.data.resize_to
            )
            probs = video.class_scores / max(float(video.class_scores.sum()), 1e-12)
            dets, video_tubes = detections_from_video(
                video.probs,
                probs,
                ann.video_id,
                to_original=geometry.to_original_inclusive,
                mask_threshold=config.eval.mask_threshold,
                score_floor=config.eval.tube_score_floor,
            )
            detections.append(dets)
            tubes.extend(video_tubes)
        metric_seconds += time.perf_counter() - tick
    act = None
    detections_dir = None
    if want_act:
        tick = time.perf_counter()
        gt = _act_ground_truth(manifest.classes, video_ids, annotations.values())
        all_dets = FrameDetections.concatenate(detections) if detections else FrameDetections.empty()
        act = act_report(gt, frame_detections=all_dets, tubes=tubes)
        metric_seconds += time.perf_counter() - tick
        detections_dir = Path(out_dir) if out_dir else model_path.parent / f"eval-{split}"
        detections_dir.mkdir(parents=True, exist_ok=True)
        write_frame_detections_csv(detections_dir / "dets.csv", all_dets)
        write_tubes_json(detections_dir / "tubes.json", tubes)
    seconds = time.perf_counter() - start
    return EvaluationResult(
        labels=tuple(manifest.classes),
        split=split,
        class_mask=config.eval.class_mask,
        paper=acc.result() if want_paper else None,
        act=act,
        frames=frames,
        seconds=seconds,
        metric_seconds=metric_seconds,
        detections_dir=detections_dir,
        eval_padding=config.data.eval_padding,
        flip_average=config.eval.flip_average,
    )


def _act_ground_truth(classes, video_ids, annotations) -> ActGroundTruth:
    """Ground-truth tubes from the records: one tube per (video, tube id), 1-based frames."""
    tubes: dict[str, dict[int, list[np.ndarray]]] = {}
    nframes = {}
    for ann in annotations:
        nframes[ann.video_id] = ann.num_frames
        if ann.label < 0 or not ann.has_boxes:
            continue
        rows: dict[int, list[list[float]]] = {}
        for t, (boxes, ids) in enumerate(zip(ann.boxes, ann.tube_ids, strict=True)):
            for box, tube_id in zip(boxes, ids, strict=True):
                rows.setdefault(int(tube_id), []).append([t + 1, *box.tolist()])
        if rows:
            tubes[ann.video_id] = {ann.label: [np.asarray(r, np.float64) for r in rows.values()]}
    return ActGroundTruth(labels=tuple(classes), videos=tuple(video_ids), tubes=tubes, nframes=nframes)
