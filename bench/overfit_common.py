"""What the two overfit checks share: the PASS rule, the fit-and-check loop, the printed line, the
command line and the clip-grid PNG (`bench/bench_overfit.py` for the action detector,
`bench/bench_vos_overfit.py` for the VOS model).

Each check trains a model on the same few labeled clips at every step, with dropout off, until
its training Dice loss is below `DICE_TARGET` and every clip's IoU (inference mode) is at least
`IOU_TARGET`, or until its steps run out. It prints one line and exits non-zero on FAIL.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from benchlib import config_override

DICE_TARGET = 0.2
IOU_TARGET = 0.7


@dataclass
class OverfitResult:
    """What an overfit check measured at its last check (the first one that passed, if any).

    `extra` is the check's own figure, printed after the mean IoU (", accuracy 0.95" for the
    detector, " (copy 0.31)" for VOS).
    """

    name: str
    clips: int
    preset: str
    steps: int
    step: int
    dice: float
    clip_iou: np.ndarray
    seconds: float
    extra: str = ""

    @property
    def passed(self) -> bool:
        return self.dice < DICE_TARGET and bool(np.all(self.clip_iou >= IOU_TARGET))

    def line(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"{self.name}: {self.clips} clips, {self.preset} preset: dice loss {self.dice:.2f}, min clip "
            f"IoU {self.clip_iou.min():.2f}, mean {self.clip_iou.mean():.2f}{self.extra} "
            f"at step {self.step} of {self.steps} ({self.seconds:.0f} s) {verdict}"
        )


def overfit_overrides(clips: int, lr: float, seed: int, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Config overrides of every overfit check: dropout off, supervised only, `clips` labeled
    clips per batch, then the user's own."""
    return {
        "model.encoder_dropout": 0.0,
        "model.decoder_dropout": 0.0,
        "train.semi_supervised": False,
        "train.learning_rate": lr,
        "train.seed": seed,
        "data.labeled_per_batch": clips,
        "data.unlabeled_per_batch": 0,
        **(overrides or {}),
    }


def fit_until_fitted(
    trainer,
    batch: dict[str, np.ndarray],
    steps: int,
    check_every: int,
    check: Callable[[dict[str, float], int, float], tuple[OverfitResult, np.ndarray]],
    progress: bool = True,
    log_checks: bool = False,
    write_pngs: Callable[[np.ndarray], None] | None = None,
) -> OverfitResult:
    """Train `trainer` (compiled) on `batch` at every step; every `check_every` steps call
    `check(logs, step, seconds)` (`logs`: the trackers averaged over those steps, "dice" among
    them), which scores the clips in inference mode and returns the result and the predicted
    probabilities, and stop at the first result that passes or after `steps` steps.
    `log_checks` prints each check's line on stderr; `write_pngs(probs)` gets the last check's
    probabilities."""
    import tensorflow as tf

    from ssvad_keras.progress import progress_bar

    stream = tf.data.Dataset.from_tensors(batch).repeat()
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
            logs = {key: float(values[-1]) for key, values in history.history.items()}
            result, probs = check(logs, done, time.perf_counter() - start)
            bar.update(task, completed=done, info=f"dice {result.dice:.3f} min IoU {result.clip_iou.min():.2f}")
            if log_checks:
                print(result.line(), file=sys.stderr, flush=True)
            if result.passed:
                break
    if write_pngs is not None:
        write_pngs(probs)
    return result


def masked_iou(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(B,) IoU of boolean (B, T, H, W, 1) `pred` and `gt` over the (B, T, 1, 1, 1) `valid`
    frames (1.0 when both are empty)."""
    pred, gt = pred & valid, gt & valid
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


def overfit_main(
    description: str,
    run: Callable[..., OverfitResult],
    generate: Callable[[Path, int], None],
    default_lr: float,
    lr_help: str = "",
    set_example: str = "",
) -> None:
    """The command line of an overfit check: parse the options, generate a small dataset with
    `generate(folder, clips)` in a temporary folder unless `--data` names one, call
    `run(data_dir, clips=, steps=, lr=, preset=, seed=, check_every=, png_dir=, progress=,
    overrides=)`, print its line and exit 0 on PASS, 1 on FAIL, 2 on a user mistake (one line)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", type=Path, help="a prepared dataset (default: a small generated one)")
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--lr", type=float, default=default_lr, help=lr_help or None)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check-every", type=int, default=20, help="steps between checks of the targets")
    parser.add_argument("--png", type=Path, help="write each clip's frames, ground truth and prediction here")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", type=config_override,
                        help=f"config override (dotted key, Python literal or string){', e.g. ' + set_example if set_example else ''}")
    parser.add_argument("--quiet", action="store_true", help="no progress bar: each check's line on stderr instead")
    args = parser.parse_args()

    import ssvad_keras  # noqa: F401  (quiet TensorFlow import)
    from ssvad_keras.errors import SsvadError

    overrides = dict(args.set)
    try:
        with tempfile.TemporaryDirectory(prefix="overfit-") as tmp:
            data_dir = args.data
            if data_dir is None:
                data_dir = Path(tmp) / "generated"
                generate(data_dir, args.clips)
            result = run(
                data_dir, clips=args.clips, steps=args.steps, lr=args.lr, preset=args.preset, seed=args.seed,
                check_every=args.check_every, png_dir=args.png, progress=not args.quiet, overrides=overrides,
            )
    except SsvadError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(result.line(), flush=True)
    sys.exit(0 if result.passed else 1)
