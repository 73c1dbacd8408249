"""Can a non-learned matching readout beat copying the first mask on the built-in VOS benchmark?

Each object is propagated from its first-appearance mask by label propagation through a
feature affinity (as space-time memory networks read their memory, and as "space-time
correspondence as a contrastive random walk" evaluates its features): every query position's
features are compared with every reference position's within a spatial radius, softmax over
the reference positions (top-k kept), and the reference mask is carried through that affinity.
Nothing is trained. Features: the frames' RGB at a grid of the model's 64x64 input, or the
pretrained tiny I3D encoder's skip levels (`builtin:tiny`; `Conv3d_1a_7x7` at 1/2, `Conv3d_2c_3x3`
at 1/4 of the input), computed per frame from a static clip of that frame (the encoder halves the
time axis, so a moving clip gives no per-frame features). Two schemes:

- `clip`: `propagate_video`'s: 8-frame clips, every frame of a clip matched to the clip's first
  frame and its mask; the next clip starts on this one's last frame with its mask (p >= 0.5);
- `frame`: frame t matched to the first-appearance frame (given mask) and frame t-1 (its
  propagated soft mask) together.

Probabilities are resized to the stored frames, merged per pixel as `vos predict` merges
(`merge_objects`, background below 0.5), the given masks pasted on their frames, and scored with
the YouTube-VOS protocol of `ssvad_keras.evaluation.vos` against the full ground truth. One line
per variant, next to copying each first mask (the bar).

    nice -n 10 .venv/bin/python bench/diagnose_vos_matching.py --data DATA [--split valid]

DATA is `ssvad prepare synthetic-vos` output (bench_vos.py's: data seed 0, 60 train / 20 valid
videos; generated into --data when missing). `--split train` scores the training videos'
annotated frames (every 5th) instead, to choose settings without looking at valid.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

SIZE = (64, 64)  # the tiny preset's model input
CLIP_LENGTH = 8


@dataclass(frozen=True)
class Variant:
    name: str
    features: str  # "rgb", "rgbxy", "i3d_1a", "i3d_2c", "i3d_both", "copy"
    scheme: str  # "clip" or "frame"
    grid: int  # working grid side (positions per axis)
    temperature: float
    radius: float  # reference positions farther than this (grid cells) are not matched
    topk: int


VARIANTS = (
    Variant("copy at 32x32 (resolution check)", "copy", "clip", 32, 1.0, 0, 1),
    Variant("rgb 32x32 clip r8 k16", "rgb", "clip", 32, 0.01, 8, 16),
    Variant("rgb 32x32 frame r4 k16", "rgb", "frame", 32, 0.01, 4, 16),
    Variant("rgb 16x16 frame r2 k8", "rgb", "frame", 16, 0.01, 2, 8),
    Variant("i3d Conv3d_1a 32x32 clip r8 k16", "i3d_1a", "clip", 32, 0.05, 8, 16),
    Variant("i3d Conv3d_1a 32x32 frame r4 k16", "i3d_1a", "frame", 32, 0.05, 4, 16),
    Variant("i3d Conv3d_2c 16x16 frame r2 k8", "i3d_2c", "frame", 16, 0.05, 2, 8),
    Variant("i3d 1a+2c 32x32 frame r4 k16", "i3d_both", "frame", 32, 0.05, 4, 16),
)


def _grid_positions(grid: int) -> np.ndarray:
    y, x = np.mgrid[0:grid, 0:grid]
    return np.stack([y.ravel(), x.ravel()], 1).astype(np.float32)


def propagate_labels(query, references, labels, positions, variant: Variant) -> np.ndarray:
    """Soft mask of the query frame carried from the reference frames through the affinity.

    Args:
        query: (N, C) features of the query frame's grid positions.
        references: list of (N, C) reference frames' features.
        labels: list of (N,) their masks in [0, 1].
        positions: (N, 2) grid coordinates.
        variant: the metric, temperature, radius and top-k.

    Returns:
        (N,) the query's mask in [0, 1].
    """
    ref = np.concatenate(references, 0)
    lab = np.concatenate(labels, 0)
    ref_pos = np.concatenate([positions] * len(references), 0)
    if variant.features.startswith("rgb"):
        distance = (query**2).sum(1)[:, None] + (ref**2).sum(1)[None] - 2.0 * query @ ref.T
        logits = -np.maximum(distance, 0.0) / variant.temperature
    else:  # cosine similarity of L2-normalised features
        logits = query @ ref.T / variant.temperature
    far = ((positions[:, None, :] - ref_pos[None]) ** 2).sum(-1) > variant.radius**2
    logits = np.where(far, -np.inf, logits)
    k = min(variant.topk, logits.shape[1])
    keep = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    top = np.take_along_axis(logits, keep, 1)
    top = top - top.max(1, keepdims=True)
    weight = np.exp(top)
    weight /= weight.sum(1, keepdims=True)
    return (weight * lab[keep]).sum(1)


class FeatureSource:
    """Per-frame feature maps (grid*grid, C) of a video at a variant's grid."""

    def __init__(self):
        self._encoder = None

    def encoder(self):
        if self._encoder is None:
            from ssvad_keras.vos.config import load_vos_config
            from ssvad_keras.vos.model import build_vos_model

            model = build_vos_model(load_vos_config(preset="tiny"))  # builtin:tiny encoder
            self._encoder = model.encoder
        return self._encoder

    def frames(self, video) -> np.ndarray:
        from ssvad_keras.vos.data import load_frames

        return load_frames(video, range(len(video.stems)), SIZE)  # (F, 64, 64, 3) in [0, 1]

    def i3d(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        """Skip features of each frame from a static clip of it: Conv3d_1a (F, 32, 32, c1),
        Conv3d_2c (F, 16, 16, c2), the middle time step."""
        out = {"Conv3d_1a_7x7": [], "Conv3d_2c_3x3": []}
        encoder = self.encoder()
        for start in range(0, len(frames), 16):
            chunk = frames[start : start + 16]
            static = np.repeat(chunk[:, None], CLIP_LENGTH, axis=1)
            features = encoder(static, training=False)
            for name in out:
                value = np.asarray(features[name])
                out[name].append(value[:, value.shape[1] // 2])
        return {k: np.concatenate(v) for k, v in out.items()}

    def features(self, video, variant: Variant, cache: dict) -> np.ndarray:
        grid = variant.grid
        if "frames" not in cache:
            cache["frames"] = self.frames(video)
        frames = cache["frames"]

        def resized(maps):
            if maps.shape[1] == grid:
                return maps
            return np.stack([cv2.resize(m, (grid, grid), interpolation=cv2.INTER_AREA) for m in maps])

        if variant.features in ("rgb", "copy"):
            maps = resized(frames)
        else:
            if "i3d" not in cache:
                cache["i3d"] = self.i3d(frames)
            parts = []
            if variant.features in ("i3d_1a", "i3d_both"):
                parts.append(cache["i3d"]["Conv3d_1a_7x7"])
            if variant.features in ("i3d_2c", "i3d_both"):
                fine = cache["i3d"]["Conv3d_2c_3x3"]
                parts.append(np.stack([cv2.resize(m, (grid, grid), interpolation=cv2.INTER_LINEAR)
                                       for m in fine]) if fine.shape[1] != grid else fine)
            parts = [resized(p) for p in parts]
            parts = [p / (np.linalg.norm(p, axis=-1, keepdims=True) + 1e-6) for p in parts]
            maps = np.concatenate(parts, -1) / np.sqrt(len(parts))
        return maps.reshape(len(maps), grid * grid, -1).astype(np.float32)


def propagate_object(features, first: int, mask: np.ndarray, variant: Variant) -> dict[int, np.ndarray]:
    """Frame index -> (grid*grid,) soft mask of one object, from its first appearance on."""
    positions = _grid_positions(variant.grid)
    num_frames = len(features)
    out = {first: mask}
    if variant.features == "copy":
        return {t: mask for t in range(first, num_frames)}
    if variant.scheme == "frame":
        for t in range(first + 1, num_frames):
            refs, labs = [features[first]], [mask]
            if t - 1 != first:
                refs.append(features[t - 1])
                labs.append(out[t - 1])
            out[t] = propagate_labels(features[t], refs, labs, positions, variant)
        return out
    start, reference = first, mask
    while start < num_frames - 1:
        end = min(start + CLIP_LENGTH - 1, num_frames - 1)
        for t in range(start + 1, end + 1):
            out[t] = propagate_labels(features[t], [features[start]], [reference], positions, variant)
        reference = (out[end] >= 0.5).astype(np.float32)
        start = end
    return out


def predict_video(video, variant: Variant, source: FeatureSource, cache: dict) -> dict[str, np.ndarray]:
    """stem -> (H, W) object ids, as `propagate_video` returns them."""
    from ssvad_keras.evaluation.vos import read_palette_png
    from ssvad_keras.vos.predict import merge_objects

    features = source.features(video, variant, cache)
    position = {stem: i for i, stem in enumerate(video.stems)}
    given, tracks = {}, {}
    for object_id in sorted(video.appearances):
        stem = video.first_appearance(object_id)
        full = read_palette_png(video.annotation_path(stem)) == object_id
        given[object_id] = (position[stem], full)
        small = cv2.resize(full.astype(np.float32), (variant.grid, variant.grid), interpolation=cv2.INTER_AREA)
        tracks[object_id] = propagate_object(features, position[stem], small.ravel(), variant)
    shape = next(iter(given.values()))[1].shape
    out = {}
    for index in range(min(i for i, _ in given.values()), len(video.stems)):
        probs = {
            k: cv2.resize(track[index].reshape(variant.grid, variant.grid), (shape[1], shape[0]),
                          interpolation=cv2.INTER_LINEAR)
            for k, track in tracks.items() if index in track
        }
        ids = merge_objects(probs) if probs else np.zeros(shape, np.uint8)
        for object_id, (first, full) in given.items():
            if first == index:
                ids[full] = object_id
        out[video.stems[index]] = ids
    return out


def score(data: Path, split: str, predict) -> dict[str, float]:
    """J&F (YouTube-VOS protocol) of `predict(video) -> stem -> ids` on a split, and J one frame
    after each object's first appearance (as diagnose_vos_decay.py's first bin)."""
    from ssvad_keras.evaluation.vos import VosReport, read_palette_png, read_vos_meta, score_video
    from ssvad_keras.vos.data import read_vos_split

    seen = {o.category for objs in read_vos_meta(data / "train" / "meta.json").values() for o in objs.values()}
    truth = data / ("valid_gt" if split == "valid" else "train") / "Annotations"
    scores, first_j = [], []
    for video in read_vos_split(data / split):
        folder = truth / video.video_id
        gt = {p.stem: read_palette_png(p) for p in sorted(folder.glob("*.png"))}
        pred = predict(video)
        shape = next(iter(gt.values())).shape
        pred = {s: pred.get(s, np.zeros(shape, np.uint8)) for s in gt}
        scores += score_video(video.video_id, pred, gt, video.objects, seen)
        stems = sorted(gt)
        for object_id in video.appearances:
            first = video.first_appearance(object_id)
            later = [s for s in stems if s > first]
            if later:
                from ssvad_keras.evaluation.vos import jaccard

                first_j.append(jaccard(pred[later[0]] == object_id, gt[later[0]] == object_id))
    report = VosReport(tuple(scores))
    return {"overall": report.overall, "J_seen": report.j_seen, "J_unseen": report.j_unseen,
            "F_seen": report.f_seen, "F_unseen": report.f_unseen, "J_next": float(np.mean(first_j))}


def copy_prediction(video) -> dict[str, np.ndarray]:
    """Each object's first-appearance mask on every later frame (bench_vos.py's copy baseline)."""
    from ssvad_keras.evaluation.vos import read_palette_png

    given = {k: (video.first_appearance(k), read_palette_png(video.annotation_path(video.first_appearance(k))) == k)
             for k in video.appearances}
    shape = next(iter(given.values()))[1].shape
    out = {}
    for stem in video.stems:
        ids = np.zeros(shape, np.uint8)
        for object_id, (first, mask) in given.items():
            if stem >= first:
                ids[mask] = object_id
        out[stem] = ids
    return out


def _line(name: str, figures: dict[str, float], seconds: float) -> str:
    return (f"{name}: J&F {100 * figures['overall']:.1f} (J seen {100 * figures['J_seen']:.1f}, "
            f"unseen {100 * figures['J_unseen']:.1f}; F seen {100 * figures['F_seen']:.1f}, "
            f"unseen {100 * figures['F_unseen']:.1f}); J 1 frame after the given mask "
            f"{figures['J_next']:.3f}; {seconds:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", choices=("valid", "train"), default="valid")
    parser.add_argument("--variants", nargs="+", help="substrings of variant names to run (default all)")
    args = parser.parse_args()

    if not (args.data / ".complete").is_file():
        from tfrecords_tools.synthetic_vos import generate_synthetic_vos

        generate_synthetic_vos(args.data, 0, num_train=60, num_valid=20, progress=False)
    started = time.perf_counter()
    print(_line("copy the first mask", score(args.data, args.split, copy_prediction),
                time.perf_counter() - started), flush=True)
    source = FeatureSource()
    caches: dict[str, dict] = {}
    for variant in VARIANTS:
        if args.variants and not any(s in variant.name for s in args.variants):
            continue
        started = time.perf_counter()

        def predict(video, variant=variant):
            return predict_video(video, variant, source, caches.setdefault(video.video_id, {}))

        print(_line(variant.name, score(args.data, args.split, predict), time.perf_counter() - started),
              flush=True)


if __name__ == "__main__":
    main()
