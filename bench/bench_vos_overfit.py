"""Can the VOS model learn at all? Overfit a few fixed labeled VOS clips.

Run this first whenever VOS training does not beat copying the first mask. The VOS model (preset
`tiny` by default, its `model.encoder_weights` as the preset says) trains on the same `--clips`
labeled clips at every step until its training Dice loss is below 0.2 and every clip's IoU is at
least 0.7, within `--steps` steps. It prints one line and exits non-zero on FAIL:

    vos overfit: 8 clips, tiny preset: dice loss 0.08, min clip IoU 0.74, mean 0.86 (copy 0.31) at step 160 of 400 (95 s) PASS

- The clips are the training clips `ssvad vos train` makes (`ssvad_keras.vos.data.make_clip`:
  the real decoding, resizing, reference mask and targets), one video each, each starting on the
  first annotated frame of its first object that leaves a later annotated frame inside the clip,
  then reused unchanged.
- Training is the project's own `VosTrainer.train_step`, supervised only
  (`train.semi_supervised = false`): BCE + Dice on the clips' annotated frames.
- Dropout is off (`model.encoder_dropout = model.decoder_dropout = 0`): the check asks whether
  the network and losses can fit, not whether they generalise.
- "dice loss" is the Dice loss tracker of `train_step` averaged over the last `--check-every`
  steps. A clip's IoU is |P & G| / |P | G| over its annotated frames after the reference frame
  (the reference frame is the input), P = (probability >= 0.5) in inference mode, G the ground
  truth; "copy" is the same IoU for the reference mask copied onto those frames, the bar a
  propagation model has to clear.

Data: `--data DIR` (a dataset root in the YouTube-VOS layout; clips from its `train/`) or, by
default, a small built-in synthetic VOS benchmark generated in a temporary folder. `--png DIR`
writes, per clip, its frames with the reference (top), ground truth (middle) and prediction
(bottom) for a look.

The PASS rule, the loop, the line and the command line are `bench/overfit_common.py`'s, shared
with `bench/bench_overfit.py`.

Run: `.venv/bin/python bench/bench_vos_overfit.py [--data DIR] [--clips 8] [--steps 400] [--lr 1e-3]`.
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


def vos_overfit_config(preset: str, clips: int, lr: float, seed: int, overrides: dict[str, Any] | None = None):
    """The preset's VOS config with dropout off, supervised only, `clips` labeled clips per batch."""
    from ssvad_keras.vos.config import load_vos_config

    return load_vos_config(preset=preset, overrides=overfit_overrides(clips, lr, seed, overrides))


def fixed_vos_clips(split_dir: Path, config, clips: int) -> dict[str, np.ndarray]:
    """One batch of `clips` labeled clips, one per video (see the module docstring)."""
    from ssvad_keras.errors import DataError
    from ssvad_keras.vos.data import ClipSample, make_clip, read_vos_split

    length, size = config.data.clip_length, tuple(config.data.input_size)
    chosen = []
    for video in read_vos_split(split_dir):
        position = {stem: i for i, stem in enumerate(video.stems)}
        candidates = [
            (object_id, position[stem])
            for object_id, stems in sorted(video.appearances.items())
            for stem in stems
            if any(0 < position[s] - position[stem] < length for s in stems)
        ]
        if candidates:
            object_id, start = candidates[0]
            chosen.append(make_clip(video, ClipSample(0, object_id, start, True), length, size))
        if len(chosen) == clips:
            break
    if len(chosen) < clips:
        raise DataError(
            f"{len(chosen)} videos hold an object annotated twice within {length} frames, fewer than "
            f"--clips {clips}", split_dir,
        )
    return {key: np.stack([c[key] for c in chosen]) for key in chosen[0]}


def later_frame_iou(probs: np.ndarray, batch: dict[str, np.ndarray], threshold: float = 0.5) -> tuple:
    """(B,) IoU of the prediction and of the copied reference over each clip's annotated frames
    after the first (1.0 when both are empty)."""
    valid = batch["frame_valid"].copy()
    valid[:, 0] = 0.0
    valid = valid[:, :, None, None, None] > 0.5
    gt = batch["mask"] > 0.5
    copied = np.broadcast_to(batch["reference"][:, None] > 0.5, gt.shape)
    return masked_iou(probs >= threshold, gt, valid), masked_iou(copied, gt, valid)


def write_vos_pngs(out_dir: Path, batch: dict[str, np.ndarray], probs: np.ndarray, threshold: float = 0.5) -> None:
    """Per clip: its T frames with the reference tinted blue (top), the ground truth red on
    annotated frames (middle), the prediction green (bottom), 2x."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for i, clip in enumerate(batch["clip"]):
        reference = np.broadcast_to(batch["reference"][i, None, ..., 0] > 0.5, clip.shape[:3])
        gt = (batch["mask"][i, ..., 0] > 0.5) & (batch["frame_valid"][i, :, None, None] > 0.5)
        pred = probs[i, ..., 0] >= threshold
        write_clip_grid_png(
            out_dir / f"clip{i}.png", clip, [(reference, (0, 0, 255)), (gt, (255, 0, 0)), (pred, (0, 220, 0))]
        )


def run_vos_overfit(
    data_dir: Path,
    clips: int = 8,
    steps: int = 400,
    lr: float = 1e-3,
    preset: str = "tiny",
    seed: int = 0,
    check_every: int = 20,
    png_dir: Path | None = None,
    progress: bool = True,
    overrides: dict[str, Any] | None = None,
) -> OverfitResult:
    """Train on `clips` fixed clips until the targets are met or `steps` run out (module docstring)."""
    import keras

    from ssvad_keras.vos.model import build_vos_model
    from ssvad_keras.vos.trainer import VosTrainer

    config = vos_overfit_config(preset, clips, lr, seed, overrides)
    keras.utils.set_random_seed(seed)
    batch = fixed_vos_clips(Path(data_dir) / "train", config, clips)
    model = build_vos_model(config, seed=seed)
    trainer = VosTrainer(model, config.loss, config.train, total_epochs=1, hflip=False)
    trainer.compile(
        optimizer=keras.optimizers.Adam(lr, epsilon=config.train.adam_epsilon),
        jit_compile=config.train.jit_compile, run_eagerly=config.vos.run_eagerly,
    )
    inputs = {"clip": batch["clip"], "reference": batch["reference"]}

    def check(logs: dict[str, float], step: int, seconds: float) -> tuple[OverfitResult, np.ndarray]:
        logits = np.asarray(model(inputs, training=False)["mask_logits"])
        probs = 0.5 * (1.0 + np.tanh(0.5 * logits))  # the sigmoid, without overflow
        ours, copied = later_frame_iou(probs, batch)
        return OverfitResult(
            name="vos overfit", clips=clips, preset=preset, steps=steps, step=step, dice=logs["dice"],
            clip_iou=ours, seconds=seconds, extra=f" (copy {copied.mean():.2f})",
        ), probs

    return fit_until_fitted(
        trainer, batch, steps, check_every, check, progress, log_checks=not progress,
        write_pngs=None if png_dir is None else lambda probs: write_vos_pngs(png_dir, batch, probs),
    )


def _generate(data_dir: Path, clips: int) -> None:
    from tfrecords_tools.synthetic_vos import generate_synthetic_vos

    generate_synthetic_vos(data_dir, 0, num_train=max(2 * clips, 8), num_valid=2, progress=False)


if __name__ == "__main__":
    overfit_main(
        __doc__.splitlines()[0], run_vos_overfit, _generate, default_lr=1e-3,
        set_example="--set model.encoder_weights='\"none\"'",
    )
