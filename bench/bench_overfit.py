"""Can the detector learn at all? Overfit a few fixed labeled clips.

Run this first whenever training does not learn. The detector (preset `tiny` by default, from
scratch: `model.encoder_weights` unset) trains on the same `--clips` labeled clips at every step
until its training Dice loss is below 0.2 and every clip's IoU is at least 0.7, within `--steps`
steps. It prints one line and exits non-zero on FAIL:

    overfit: 8 clips, tiny preset: dice loss 0.12, min clip IoU 0.81, mean 0.88 at step 260 of 400 (41 s) PASS

- The clips are taken once from the labeled training stream (`ssvad_keras.data.train_dataset`:
  the real decoding, geometry, crops and ground-truth masks), one video per clip, classes taken
  in turn, then reused unchanged.
- Training is the project's own `SemiSupervisedTrainer.train_step`, supervised only
  (`train.semi_supervised = false`): margin, BCE and Dice losses on the ground-truth class capsule.
- Dropout is off (`model.encoder_dropout = model.decoder_dropout = 0`): the check asks whether
  the network and losses can fit, not whether they generalise.
- "dice loss" is the Dice loss tracker of `train_step` averaged over the last `--check-every`
  steps. A clip's IoU is |P & G| / |P | G| over its frames with ground truth, P = (probability >=
  `eval.mask_threshold`) predicted in inference mode with the predicted class capsule (as
  evaluation decodes), G its ground-truth mask.

Data: `--data DIR` (any prepared dataset; clips from its training videos) or, by default, a
small synthetic box-annotated benchmark generated in a temporary folder. `--png DIR` writes, per
clip, its frames over the ground truth and the predicted masks (one PNG per clip) for a look.

Run: `.venv/bin/python bench/bench_overfit.py [--data DIR] [--clips 8] [--steps 400] [--lr 1e-2]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DICE_TARGET = 0.2
IOU_TARGET = 0.7


@dataclass
class OverfitResult:
    """What `run_overfit` measured at the last check (the first one that passed, if any)."""

    clips: int
    preset: str
    steps: int
    step: int
    dice: float
    clip_iou: np.ndarray
    accuracy: float
    seconds: float

    @property
    def passed(self) -> bool:
        return self.dice < DICE_TARGET and bool(np.all(self.clip_iou >= IOU_TARGET))

    def line(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"overfit: {self.clips} clips, {self.preset} preset: dice loss {self.dice:.2f}, min clip IoU "
            f"{self.clip_iou.min():.2f}, mean {self.clip_iou.mean():.2f}, accuracy {self.accuracy:.2f} "
            f"at step {self.step} of {self.steps} ({self.seconds:.0f} s) {verdict}"
        )


def overfit_config(preset: str, clips: int, lr: float, seed: int, overrides: dict[str, Any] | None = None):
    """The preset's config with dropout off, supervised only, `clips` labeled clips per batch."""
    from ssvad_keras.config import load_config

    config = load_config(
        preset=preset,
        overrides={
            "model.encoder_dropout": 0.0,
            "model.decoder_dropout": 0.0,
            "train.semi_supervised": False,
            "train.learning_rate": lr,
            "train.seed": seed,
            "data.labeled_per_batch": clips,
            "data.unlabeled_per_batch": 0,
            **(overrides or {}),
        },
    )
    # From scratch, whatever the preset loads by default.
    return config.model_copy(update={"model": config.model.model_copy(update={"encoder_weights": None})})


def fixed_clips(data_dir: Path, config, clips: int, seed: int) -> dict[str, np.ndarray]:
    """One batch of `clips` labeled training clips (one per video, classes in turn)."""
    from ssvad_keras.data import read_manifest, train_dataset
    from ssvad_keras.errors import DataError

    manifest = read_manifest(data_dir)
    train = manifest.split("train")
    by_class: dict[int, list[str]] = {}
    for video_id, label in zip(train.video_ids, train.labels, strict=True):
        by_class.setdefault(label, []).append(video_id)
    chosen: list[str] = []
    while len(chosen) < clips and any(by_class.values()):
        for ids in by_class.values():
            if ids and len(chosen) < clips:
                chosen.append(ids.pop(0))
    if len(chosen) < clips:
        raise DataError(f"the training split has {len(chosen)} videos, fewer than --clips {clips}", manifest.path)
    split = {"labeled": chosen, "unlabeled": [], "val": []}
    dataset = train_dataset(data_dir, split, config.data, seed=seed, num_classes=manifest.num_classes)
    return {key: value.numpy() for key, value in next(iter(dataset)).items()}


def clip_iou(probs: np.ndarray, mask: np.ndarray, frame_valid: np.ndarray, threshold: float) -> np.ndarray:
    """(B,) IoU of each clip over its frames with ground truth (1.0 when both are empty)."""
    valid = frame_valid[:, :, None, None, None] > 0.5
    pred = (probs >= threshold) & valid
    gt = (mask > 0.5) & valid
    inter = np.logical_and(pred, gt).sum(axis=(1, 2, 3, 4))
    union = np.logical_or(pred, gt).sum(axis=(1, 2, 3, 4))
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def write_clip_grid_png(path: Path, clip: np.ndarray, overlays: list[tuple[np.ndarray | None, tuple]]) -> None:
    """One PNG of a clip's T frames side by side, one row per overlay: `(masks (T, H, W) bool,
    RGB colour)` tinted half-and-half onto the frames (`None`: the bare frames), drawn 2x and
    written atomically."""
    import cv2

    from ssvad_keras.io import atomic_path

    frames = (clip * 255).astype(np.uint8)
    rows = []
    for masks, colour in overlays:
        tiles = frames.copy()
        if masks is not None:
            tiles[masks] = (0.5 * tiles[masks] + 0.5 * np.array(colour)).astype(np.uint8)
        rows.append(np.concatenate(list(tiles), axis=1))
    image = np.concatenate(rows, axis=0)
    image = cv2.resize(image, (image.shape[1] * 2, image.shape[0] * 2), interpolation=cv2.INTER_NEAREST)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert ok, "OpenCV could not encode a PNG"
    with atomic_path(path) as tmp:
        tmp.write_bytes(encoded.tobytes())


def write_pngs(out_dir: Path, batch: dict[str, np.ndarray], probs: np.ndarray, threshold: float) -> None:
    """Per clip: its T frames (top), ground truth tinted red (middle), prediction green (bottom)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for i, clip in enumerate(batch["clip"]):
        gt = batch["mask"][i, ..., 0] > 0.5
        pred = probs[i, ..., 0] >= threshold
        write_clip_grid_png(
            out_dir / f"clip{i}_label{int(batch['label'][i])}.png", clip,
            [(None, None), (gt, (255, 0, 0)), (pred, (0, 220, 0))],
        )


def run_overfit(
    data_dir: Path,
    clips: int = 8,
    steps: int = 400,
    lr: float = 1e-2,
    preset: str = "tiny",
    seed: int = 0,
    check_every: int = 20,
    png_dir: Path | None = None,
    progress: bool = True,
    overrides: dict[str, Any] | None = None,
) -> OverfitResult:
    """Train on `clips` fixed clips until the targets are met or `steps` run out (module docstring)."""
    import keras
    import tensorflow as tf

    from ssvad_keras.data import log_geometry, read_manifest
    from ssvad_keras.inference.forward import predict_probabilities
    from ssvad_keras.models import build_detector
    from ssvad_keras.progress import progress_bar
    from ssvad_keras.training import SemiSupervisedTrainer

    config = overfit_config(preset, clips, lr, seed, overrides)
    manifest = read_manifest(data_dir)
    log_geometry(manifest, config.data)
    keras.utils.set_random_seed(seed)
    batch = fixed_clips(data_dir, config, clips, seed)
    num_classes = manifest.num_classes
    detector = build_detector(config=config, num_classes=num_classes, seed=seed)
    trainer = SemiSupervisedTrainer(detector, num_classes, config.loss, config.train, total_epochs=1)
    trainer.compile(
        optimizer=keras.optimizers.Adam(lr, epsilon=config.train.adam_epsilon),
        jit_compile=config.train.jit_compile,
    )
    stream = tf.data.Dataset.from_tensors(batch).repeat()
    threshold = config.eval.mask_threshold
    start = time.perf_counter()
    result = None
    with progress_bar(progress) as bar:
        task = bar.add_task("overfitting", total=steps, info="")
        for chunk in range(-(-steps // check_every)):
            done = min((chunk + 1) * check_every, steps)
            history = trainer.fit(
                stream, steps_per_epoch=done - chunk * check_every, epochs=chunk + 1,
                initial_epoch=chunk, verbose=0, shuffle=False,
            )
            probs = predict_probabilities(detector, batch["clip"])
            result = OverfitResult(
                clips=clips, preset=preset, steps=steps, step=done,
                dice=float(history.history["dice"][-1]),
                clip_iou=clip_iou(probs, batch["mask"], batch["frame_valid"], threshold),
                accuracy=float(history.history["accuracy"][-1]),
                seconds=time.perf_counter() - start,
            )
            bar.update(task, completed=done, info=f"dice {result.dice:.3f} min IoU {result.clip_iou.min():.2f}")
            if result.passed:
                break
    if png_dir is not None:
        write_pngs(png_dir, batch, probs, threshold)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="a prepared dataset (default: a small synthetic one, generated)")
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--lr", type=float, default=1e-2, help="1e-2 passes with more margin than 3e-3 (docs/benchmarks.md)")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check-every", type=int, default=20, help="steps between checks of the targets")
    parser.add_argument("--png", type=Path, help="write each clip's frames, ground truth and prediction here")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override (dotted key, TOML value), e.g. --set data.resize_to='\"stored\"'")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args()

    import tomllib

    import ssvad_keras  # noqa: F401  (quiet TensorFlow import)
    from ssvad_keras.errors import SsvadError

    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = tomllib.loads(f"v = {value}")["v"]
    try:
        with tempfile.TemporaryDirectory(prefix="overfit-") as tmp:
            data_dir = args.data
            if data_dir is None:
                from tfrecords_tools.synthetic import generate_synthetic

                data_dir = Path(tmp) / "synthetic"
                generate_synthetic(data_dir, seed=0, num_train=max(2 * args.clips, 10), num_test=5,
                                   annotation="boxes", progress=False)
            result = run_overfit(
                data_dir, clips=args.clips, steps=args.steps, lr=args.lr, preset=args.preset, seed=args.seed,
                check_every=args.check_every, png_dir=args.png, progress=not args.quiet, overrides=overrides,
            )
    except SsvadError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(result.line(), flush=True)
    sys.exit(0 if result.passed else 1)


if __name__ == "__main__":
    main()
