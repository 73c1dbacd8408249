"""`train`: the whole training run behind `ssvad train`.

Epoch by epoch: a fresh, seeded pass over the training stream (so a resumed run sees the same data
order as an uninterrupted one), one `fit` epoch of the config's trainer (`methods.build_trainer`:
`SemiSupervisedTrainer` for the paper's method), validation on the
split's held-out training videos (paper protocol v-mAP@0.5; the test set is never used to choose
checkpoints), the learning-rate plateau schedule, TensorBoard, and an atomic checkpoint.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf

from ssvad_keras.config import ExperimentConfig
from ssvad_keras.data import read_manifest, read_split, train_dataset, train_steps_per_epoch
from ssvad_keras.data.geometry import log_geometry
from ssvad_keras.errors import CheckpointError, DataError, SsvadError
from ssvad_keras.io import atomic_path
from ssvad_keras.models import build_detector
from ssvad_keras.progress import progress_bar, stderr_console
from ssvad_keras.training.callbacks import (
    NonFiniteGuard,
    RichProgress,
    TensorBoardWriter,
    mask_overlay_images,
)
from ssvad_keras.training.methods import build_trainer
from ssvad_keras.training.run_dir import RunDir, RunState
from ssvad_keras.training.schedules import PlateauSchedule


@dataclass
class TrainResult:
    run_dir: Path
    epochs_done: int
    best_metric: float | None
    best_epoch: int | None
    seconds: float
    history: list[dict]


def make_strategy(name: str) -> tf.distribute.Strategy:
    """`none` -> the default strategy; `mirrored` -> all local devices; `multiworker` -> TF_CONFIG."""
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def resolve_split(data_dir: Path, labeled_fraction: float, seed: int) -> dict:
    """The split file of this labeled fraction (written by `ssvad prepare`, or made now)."""
    from tfrecords_tools.splits import split_path, write_split

    path = split_path(data_dir, labeled_fraction, seed)
    if not path.is_file():
        write_split(data_dir, labeled_fraction, seed)
    return read_split(path)


def _compatible(saved: ExperimentConfig, requested: ExperimentConfig) -> str | None:
    for section in ("data", "model"):
        a = getattr(saved, section).model_dump(mode="json")
        b = getattr(requested, section).model_dump(mode="json")
        for key in a:
            if a[key] != b.get(key):
                return f"{section}.{key} is {a[key]!r} in the run but {b.get(key)!r} now"
    return None


def _save_atomically(path: Path, save: Callable[[Path], None]) -> None:
    """Write with `save` to a temporary file, then rename onto `path`.

    Keras picks the format from the file name, so the staged file keeps the target's suffixes
    (`.keras`, `.weights.h5`).
    """
    with atomic_path(path) as tmp:
        staged = tmp.with_name(tmp.name + "".join(path.suffixes))
        save(staged)
        staged.replace(tmp)


def _save_detectors(run: RunDir, trainer: keras.Model, which: str) -> None:
    """`best.keras`/`last.keras` = the trainer's inference detector; a mean-teacher run also
    saves its other network beside it (`best.student.keras` when the teacher is the one)."""
    _save_atomically(run.model_path(which), trainer.inference_detector().save)
    for weights, network in trainer.alternate_detectors().items():
        _save_atomically(run.model_path(which, weights), network.save)


def train(
    config: ExperimentConfig,
    data_dir: str | Path | None = None,
    labeled_fraction: float | None = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    progress: bool = True,
    callbacks: list[keras.callbacks.Callback] | None = None,
) -> TrainResult:
    """Train a detector; see the module docstring.

    Args:
        config: the resolved experiment config (ignored when resuming, except for a check that it
            does not contradict the run's own config).
        data_dir: a folder written by `ssvad prepare`.
        labeled_fraction: picks the split file `splits/labeled-<f>-seed<seed>.json`.
        out: new run directory.
        resume: an existing run directory to continue.
        progress: show rich progress bars.
        callbacks: extra Keras callbacks for every epoch's `fit`.
    """
    started = time.perf_counter()
    if resume is not None:
        run = RunDir.open(Path(resume))
        saved = run.load_config()
        if config is not None and (reason := _compatible(saved, config)):
            raise CheckpointError(f"incompatible config: {reason}", run.config_path)
        config = saved
        data = run.load_data()
        data_dir = Path(data["data_dir"])
        split = read_split(run.split_path)
        state = run.load_state()
        if not run.weights_path.is_file() and state.epochs_done > 0:
            raise CheckpointError("checkpoint file missing", run.weights_path)
    else:
        if data_dir is None or out is None or labeled_fraction is None:
            raise SsvadError("train needs --data, --labeled and --out (or --resume RUN_DIR)")
        data_dir = Path(data_dir)
        read_manifest(data_dir)
        split = resolve_split(data_dir, labeled_fraction, config.train.seed)
        if not split.get("labeled"):
            raise DataError("the split has no labeled videos", data_dir)
        run = RunDir.create(
            Path(out),
            config,
            split,
            {"data_dir": str(data_dir.resolve()), "labeled_fraction": labeled_fraction},
        )
        state = RunState(select_metric=config.train.select_metric)

    manifest = read_manifest(data_dir)
    log_geometry(manifest, config.data)
    num_classes = manifest.num_classes
    tcfg = config.train
    keras.utils.set_random_seed(tcfg.seed)
    if tcfg.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    strategy = make_strategy(tcfg.strategy)
    with strategy.scope():
        detector = build_detector(config=config, num_classes=num_classes)
        trainer = build_trainer(config, detector, num_classes)
        inference = trainer.inference_detector()  # validated and saved (a mean teacher's teacher)
        schedule = (
            PlateauSchedule.from_state(state.schedule)
            if state.schedule
            else PlateauSchedule(
                tcfg.learning_rate, tcfg.lr_factor, tcfg.lr_patience, tcfg.min_learning_rate
            )
        )
        optimizer = keras.optimizers.Adam(schedule.learning_rate, epsilon=tcfg.adam_epsilon)
        trainer.compile(optimizer=optimizer, jit_compile=tcfg.jit_compile)
        sample = next(iter(_epoch_dataset(data_dir, split, config, num_classes, 0)[0].take(1)))
        trainer.compute_losses(sample, training=False)  # builds every variable
        optimizer.build(trainer.trainable_variables)
        if state.epochs_done > 0:
            try:
                trainer.load_weights(run.weights_path)
            except (ValueError, KeyError, OSError) as err:
                raise CheckpointError(f"checkpoint does not match the model ({err})", run.weights_path) from None

    from ssvad_keras.inference.evaluate import (
        evaluate_model,
        predict_probabilities,
        validation_samples,
    )

    board = TensorBoardWriter(run.log_dir)
    val_ids = list(split.get("val") or [])
    image_samples = None  # the clips shown in TensorBoard, read at the first validation
    components = (*trainer.trackers.keys(), "accuracy")
    try:
        for epoch in range(state.epochs_done, tcfg.epochs):
            trainer.epoch.assign(float(epoch))
            optimizer.learning_rate.assign(schedule.learning_rate)
            dataset, steps = _epoch_dataset(data_dir, split, config, num_classes, epoch)
            guard = NonFiniteGuard(epoch, components)
            epoch_start = time.perf_counter()
            with progress_bar(progress) as bar:
                bars = [RichProgress(bar, epoch, tcfg.epochs, steps)]
                history = trainer.fit(
                    dataset,
                    steps_per_epoch=steps,
                    epochs=epoch + 1,
                    initial_epoch=epoch,
                    verbose=0,
                    shuffle=False,  # the tf.data stream is shuffled and seeded per epoch
                    callbacks=[guard, *bars, *(callbacks or [])],
                )
            if guard.error is not None:
                raise guard.error
            logs = {k: float(v[-1]) for k, v in history.history.items()}
            logs["epoch_seconds"] = time.perf_counter() - epoch_start
            logs["learning_rate"] = float(schedule.learning_rate)
            if val_ids and ((epoch + 1) % tcfg.validate_every == 0 or epoch + 1 == tcfg.epochs):
                metrics = evaluate_model(inference, data_dir, val_ids, config, progress=False)
                logs["val_fmap@0.5"] = metrics.fmap_at(0.5)
                logs["val_vmap@0.2"] = metrics.vmap_at(0.2)
                logs["val_vmap@0.5"] = metrics.vmap_at(0.5)
                logs["val_accuracy"] = metrics.accuracy
                if tcfg.tensorboard_images:
                    if image_samples is None:
                        image_samples = validation_samples(data_dir, val_ids, config, tcfg.tensorboard_images)
                    clips, gt = image_samples
                    if len(clips):
                        probs = predict_probabilities(inference, clips)
                        board.images(
                            epoch, "val/masks_pred_red_gt_green", mask_overlay_images(clips, probs, gt)
                        )
            board.scalars(epoch, logs)
            schedule.update(logs["loss"])
            selected = logs.get(tcfg.select_metric)
            state.epochs_done = epoch + 1
            state.schedule = schedule.state_dict()
            state.history.append(logs)
            _save_atomically(run.weights_path, trainer.save_weights)
            _save_detectors(run, trainer, "last")
            # Ties go to the later (longer-trained) epoch.
            is_best = selected is not None and math.isfinite(selected) and (
                state.best_metric is None or selected >= state.best_metric
            )
            if is_best or (state.best_metric is None and selected is None):
                state.best_metric = selected
                state.best_epoch = epoch + 1
                _save_detectors(run, trainer, "best")
            state.finished = state.epochs_done == tcfg.epochs
            run.save_state(state)
            if progress:
                shown = {k: logs[k] for k in ("loss", "accuracy", "val_vmap@0.5") if logs.get(k) is not None}
                stderr_console.print(
                    f"epoch {epoch + 1}/{tcfg.epochs} "
                    + " ".join(f"{k}={v:.4f}" for k, v in shown.items())
                    + f" ({logs['epoch_seconds']:.1f}s)"
                )
    finally:
        board.close()
    return TrainResult(
        run_dir=run.path,
        epochs_done=state.epochs_done,
        best_metric=state.best_metric,
        best_epoch=state.best_epoch,
        seconds=time.perf_counter() - started,
        history=state.history,
    )


def _epoch_dataset(data_dir, split, config: ExperimentConfig, num_classes: int, epoch: int):
    """This epoch's stream and its number of steps, seeded by (seed, epoch) so resuming
    reproduces the data order.

    The supervised-only baseline runs as many steps per epoch as the semi-supervised run on the
    same split (one pass over the unlabeled videos; at least one pass over the labeled ones),
    each on a full batch of labeled clips: it sees at least as much supervision, so a gain of the
    semi-supervised run comes from the unlabeled videos, not from extra supervised updates.
    """
    supervised_only = not config.train.semi_supervised
    steps = config.train.steps_per_epoch or max(
        train_steps_per_epoch(data_dir, split, config.data),
        train_steps_per_epoch(data_dir, split, config.data, labeled_only=True),
    )
    ds = train_dataset(
        data_dir,
        split,
        config.data,
        seed=config.train.seed * 100_003 + epoch,
        labeled_only=supervised_only,
        num_classes=num_classes,
    )
    if supervised_only or config.train.steps_per_epoch:
        ds = ds.repeat().take(steps)
    else:
        steps = train_steps_per_epoch(data_dir, split, config.data)
    return ds, steps
