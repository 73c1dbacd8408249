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

The PASS rule, the loop, the line and the command line are `bench/overfit_common.py`'s, shared
with `bench/bench_vos_overfit.py`.

Run: `.venv/bin/python bench/bench_overfit.py [--data DIR] [--clips 8] [--steps 400] [--lr 1e-2]`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from overfit_common import (
    OverfitResult,
    fit_until_fitted,
    masked_iou,
    overfit_main,
    overfit_overrides,
    write_clip_grid_png,
)


def overfit_config(preset: str, clips: int, lr: float, seed: int, overrides: dict[str, Any] | None = None):
    """The preset's config with dropout off, supervised only, `clips` labeled clips per batch."""
    from ssvad_keras.config import load_config

    config = load_config(preset=preset, overrides=overfit_overrides(clips, lr, seed, overrides))
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
    return masked_iou(probs >= threshold, mask > 0.5, frame_valid[:, :, None, None, None] > 0.5)


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

    from ssvad_keras.data import log_geometry, read_manifest
    from ssvad_keras.inference.forward import predict_probabilities
    from ssvad_keras.models import build_detector
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
    threshold = config.eval.mask_threshold

    def check(logs: dict[str, float], step: int, seconds: float) -> tuple[OverfitResult, np.ndarray]:
        probs = predict_probabilities(detector, batch["clip"])
        return OverfitResult(
            name="overfit", clips=clips, preset=preset, steps=steps, step=step, dice=logs["dice"],
            clip_iou=clip_iou(probs, batch["mask"], batch["frame_valid"], threshold), seconds=seconds,
            extra=f", accuracy {logs['accuracy']:.2f}",
        ), probs

    return fit_until_fitted(
        trainer, batch, steps, check_every, check, progress, log_checks=not progress,
        write_pngs=None if png_dir is None else lambda probs: write_pngs(png_dir, batch, probs, threshold),
    )


def _generate(data_dir: Path, clips: int) -> None:
    from tfrecords_tools.synthetic import generate_synthetic

    generate_synthetic(data_dir, seed=0, num_train=max(2 * clips, 10), num_test=5, annotation="boxes",
                       progress=False)


if __name__ == "__main__":
    overfit_main(
        __doc__.splitlines()[0], run_overfit, _generate, default_lr=1e-2,
        lr_help="1e-2 passes with more margin than 3e-3 (docs/benchmarks.md)",
        set_example="--set data.resize_to='\"stored\"'",
    )
