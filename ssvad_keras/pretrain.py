"""`ssvad pretrain`: pretrain a detector's encoder and decoder on clips generated on the fly.

The paper starts every run from an I3D pretrained on Charades; nothing of the kind exists at the
small presets' widths. This module trains the same detector the benchmarks train (its supervised
losses, the project's `SemiSupervisedTrainer` in supervised mode) on an endless stream of clips
that a caller supplies (the CLI passes `tfrecords_tools.synthetic.clips.clip_stream` over the
`pretrain` vocabulary, whose classes and seeds are disjoint from the benchmarks'), so no clip is
seen twice and appearance cannot be memorised. Objectives:

- `both`: localization (BCE + Dice on the actors' boxes, decoded from the ground-truth class
  capsule) and classification (margin loss) of the pretraining classes;
- `segment`: localization only (margin weight 0);
- `classify`: classification only (BCE and Dice weights 0).

It writes the encoder, primary capsules and decoder (`ssvad_keras.models.pretrained`) and a JSON
card: corpus, classes, seeds, steps, wall time, held-out accuracy and mask IoU on clips of a
held-out seed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssvad_keras.config import ExperimentConfig, override_config

OBJECTIVES = ("both", "segment", "classify")
# What the shipped `builtin:tiny` weights were pretrained with, over the preset's own values:
# the from-scratch learning rate (the tiny preset's 1e-3 is for fine-tuning them) and light
# feature dropout (every clip is new, so there is nothing to memorise).
PRETRAIN_RECIPE = {"train.learning_rate": 3e-3, "model.encoder_dropout": 0.1, "model.decoder_dropout": 0.1}
ClipFactory = Callable[[int, int], Iterator[dict]]  # (seed, start index) -> clips


@dataclass
class PretrainResult:
    weights_path: Path
    card_path: Path
    card: dict


def _objective_overrides(objective: str) -> dict:
    if objective not in OBJECTIVES:
        from ssvad_keras.errors import ConfigError

        raise ConfigError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    return {
        "both": {},
        "segment": {"loss.margin_weight": 0.0},
        "classify": {"loss.bce_weight": 0.0, "loss.dice_weight": 0.0},
    }[objective]


def _dataset(clips: ClipFactory, seed: int, config: ExperimentConfig, batch_size: int, start: int = 0):
    """Clips `start, start + 1, ...` of the stream as training batches in the trainer's layout
    (all clips labeled)."""
    import tensorflow as tf

    t, (h, w) = config.data.clip_length, config.data.input_size
    signature = {
        "clip": tf.TensorSpec((t, h, w, 3), tf.uint8),
        "mask": tf.TensorSpec((t, h, w, 1), tf.uint8),
        "label": tf.TensorSpec((), tf.int32),
    }

    def element(clip):
        pixels = tf.cast(clip["clip"], tf.float32) / 255.0
        return {
            "clip": pixels,
            "aug_clip": pixels,  # unused: supervised training has no second view
            "hflip": tf.constant(0.0),
            "time_reverse": tf.constant(0.0),
            "labeled": tf.constant(1.0),
            "label": clip["label"],
            "mask": tf.cast(clip["mask"], tf.float32),
            "frame_valid": tf.ones([t], tf.float32),
        }

    dataset = tf.data.Dataset.from_generator(lambda: clips(seed, start), output_signature=signature)
    return dataset.map(element).batch(batch_size, drop_remainder=True).prefetch(2)


def heldout_scores(detector, clips: Iterator[dict], count: int, threshold: float = 0.5) -> dict:
    """Clip accuracy, mean frame IoU and the share of frames with IoU >= 0.5 on `count` clips."""
    hits, ious = [], []
    batch: list[dict] = []
    taken = 0
    for clip in clips:
        batch.append(clip)
        taken += 1
        if len(batch) == 8 or taken == count:
            pixels = np.stack([c["clip"] for c in batch]).astype(np.float32) / 255.0
            out = detector(pixels, training=False)
            scores = np.asarray(out["class_scores"])
            probs = 1.0 / (1.0 + np.exp(-np.asarray(out["loc_logits"])))
            for i, c in enumerate(batch):
                hits.append(int(np.argmax(scores[i]) == int(c["label"])))
                pred, gt = probs[i] >= threshold, c["mask"].astype(bool)
                for p, g in zip(pred, gt, strict=True):
                    if g.any():
                        ious.append(float((p & g).sum() / max((p | g).sum(), 1)))
            batch = []
        if taken == count:
            break
    ious_array = np.asarray(ious)
    return {
        "clips": count,
        "accuracy": float(np.mean(hits)),
        "mean_frame_iou": float(ious_array.mean()) if len(ious) else 0.0,
        "frames_iou_at_0.5": float((ious_array >= 0.5).mean()) if len(ious) else 0.0,
    }


def pretrain(
    config: ExperimentConfig,
    clips: ClipFactory,
    class_names: list[str],
    out: str | Path,
    *,
    steps: int,
    objective: str = "both",
    batch_size: int = 8,
    seed: int = 1000,
    heldout_seed: int = 1001,
    heldout_clips: int = 64,
    corpus: dict | None = None,
    command: str | None = None,
    log_every: int = 50,
    progress: bool = True,
) -> PretrainResult:
    """Pretrain the detector of `config` on `clips`; write `<out>.weights.h5` and `<out>.json`.

    Args:
        config: the experiment config (preset geometry, learning rate); `model.encoder_weights`
            is ignored: pretraining starts from scratch.
        clips: `(seed, start) -> iterator of {"clip", "mask", "label"}` (see
            `tfrecords_tools.synthetic.clips.clip_stream`).
        class_names: the pretraining classes (label order).
        out: output path stem, e.g. `weights/tiny` -> `weights/tiny.weights.h5`, `weights/tiny.json`.
        steps: optimisation steps (one batch each; every clip is new).
        objective: "both", "segment" or "classify".
        batch_size: clips per step.
        seed: the training stream's seed; `heldout_seed` the held-out clips'.
        heldout_clips: clips scored at the end.
        corpus: what the clips are (recorded in the card).
        command: the command line that ran this (recorded in the card when given).
        log_every: steps per progress epoch (Keras `fit` epoch; also the TensorBoard step).
        progress: show rich progress bars.
    """
    import keras

    from ssvad_keras.models import build_detector
    from ssvad_keras.models.pretrained import save_pretrained
    from ssvad_keras.progress import progress_bar, stderr_console
    from ssvad_keras.runtime import software_environment
    from ssvad_keras.training.callbacks import RichProgress
    from ssvad_keras.training.trainer import SemiSupervisedTrainer

    start = time.perf_counter()
    out = Path(out)
    config = override_config(config, {
        **_objective_overrides(objective),
        "model.encoder_weights": "none",
        "train.semi_supervised": False,
        "train.seed": seed,
    })
    keras.utils.set_random_seed(seed)
    num_classes = len(class_names)
    detector = build_detector(config=config, num_classes=num_classes)
    epochs = max(1, -(-steps // log_every))
    trainer = SemiSupervisedTrainer(detector, num_classes, config.loss, config.train, total_epochs=epochs)
    schedule = keras.optimizers.schedules.CosineDecay(
        config.train.learning_rate, decay_steps=steps, alpha=0.05
    )
    trainer.compile(optimizer=keras.optimizers.Adam(schedule, epsilon=config.train.adam_epsilon))
    history = []
    for epoch in range(epochs):
        count = min(log_every, steps - epoch * log_every)
        # Every `fit` call iterates its dataset from the beginning, so each chunk gets a dataset
        # that starts at its own first clip: clip i of the stream is seen once, at step
        # i // batch_size. (One dataset for every chunk re-read the first `log_every` batches
        # each time: the weights shipped before 2026-12-02 saw 400 distinct clips.)
        dataset = _dataset(clips, seed, config, batch_size, start=epoch * log_every * batch_size)
        with progress_bar(progress) as bar:
            logs = trainer.fit(
                dataset, steps_per_epoch=count, epochs=1, verbose=0, shuffle=False,
                callbacks=[RichProgress(bar, epoch, epochs, count)],
            ).history
        history.append({k: float(v[-1]) for k, v in logs.items()})
        if progress:
            shown = {k: history[-1][k] for k in ("loss", "dice", "accuracy") if k in history[-1]}
            stderr_console.print(
                f"pretrain {min((epoch + 1) * log_every, steps)}/{steps} steps "
                + " ".join(f"{k}={v:.4f}" for k, v in shown.items())
            )
    train_seconds = time.perf_counter() - start
    scores = heldout_scores(detector, clips(heldout_seed, 0), heldout_clips)
    card = {
        "format": "ssvad-pretrained-1",
        "corpus": corpus or {},
        "classes": list(class_names),
        "objective": objective,
        "steps": steps,
        "batch_size": batch_size,
        "clips_seen": steps * batch_size,
        "seed": seed,
        "heldout_seed": heldout_seed,
        "learning_rate": config.train.learning_rate,
        "wall_seconds": round(train_seconds, 1),
        "heldout": scores,
        "model": config.model.model_dump(mode="json"),
        "data": {"clip_length": config.data.clip_length, "frame_skip": config.data.frame_skip,
                 "input_size": list(config.data.input_size)},
        "history": history,
        "environment": software_environment(),
    }
    if command:
        card["command"] = command
    weights_path = out.with_name(out.name + ".weights.h5")
    card_path = out.with_name(out.name + ".json")
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    save_pretrained(detector, weights_path, card)
    from ssvad_keras.io import write_json_atomic

    write_json_atomic(card_path, card)
    return PretrainResult(weights_path, card_path, card)


def card_summary(card: dict) -> str:
    """One line: steps, clips, time and held-out scores of a pretraining card."""
    held = card.get("heldout", {})
    return (
        f"{card.get('steps')} steps ({card.get('clips_seen')} clips) in {card.get('wall_seconds')} s; "
        f"held-out accuracy {100 * held.get('accuracy', 0):.1f} %, mean frame IoU "
        f"{100 * held.get('mean_frame_iou', 0):.1f} %, frames at IoU >= 0.5 "
        f"{100 * held.get('frames_iou_at_0.5', 0):.1f} %"
    )


def dumps_card(card: dict) -> str:
    return json.dumps(card, indent=2)
