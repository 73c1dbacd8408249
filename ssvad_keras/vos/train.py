"""`train_vos`: the whole run behind `ssvad vos train`.

As `ssvad train` (ssvad_keras/training/loop.py), in VOS terms: a run folder (`VosRunDir`, the
same layout as `RunDir`), the seeded labeled / unlabeled / validation split of the training
videos (`ssvad_keras.data.splits.make_split`), epoch by epoch a seeded pass of `epoch_batches`
through `VosTrainer.fit` with rich progress and the non-finite guard, validation J&F on the
held-out training videos (propagated from their first annotated appearance; the valid split
never chooses checkpoints), the learning-rate schedule (`train.lr_schedule`: plateau or
cosine, `training.schedules.build_schedule`), TensorBoard scalars and overlays, and atomic
checkpoints that `--resume` continues from (`train.keep_checkpoint`: the best validated epoch's
model or the last one becomes `best.keras`).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ssvad_keras.config import save_config
from ssvad_keras.errors import CheckpointError, ConfigError, DataError, SsvadError
from ssvad_keras.progress import progress_bar, stderr_console
from ssvad_keras.run_dir import RunDir, RunState
from ssvad_keras.training.callbacks import (
    NonFiniteGuard,
    RichProgress,
    TensorBoardWriter,
    mask_overlay_images,
)
from ssvad_keras.training.loop import TrainResult, _save_atomically
from ssvad_keras.training.schedules import build_schedule
from ssvad_keras.vos.config import VosConfig, load_vos_config, override_vos_config
from ssvad_keras.vos.data import (
    ClipSample,
    VosVideo,
    batch_signature,
    epoch_batches,
    labeled_samples,
    make_clip,
    read_vos_split,
    steps_per_epoch,
    unlabeled_samples,
)
from ssvad_keras.vos.model import build_vos_model
from ssvad_keras.vos.predict import score_propagation
from ssvad_keras.vos.trainer import VosTrainer


class VosRunDir(RunDir):
    """A `RunDir` whose `config.toml` is a `VosConfig`."""

    def load_config(self) -> VosConfig:
        try:
            return load_vos_config(self.config_path)
        except ConfigError as err:
            raise CheckpointError(f"incompatible run config: {err.detail}", self.config_path) from None


def config_conflict(saved: VosConfig, requested: VosConfig) -> str | None:
    """The first `data` or `model` key a resume request changes, in words (None: none)."""
    for section in ("data", "model"):
        a = getattr(saved, section).model_dump(mode="json")
        b = getattr(requested, section).model_dump(mode="json")
        for key in a:
            if a[key] != b.get(key):
                return f"{section}.{key} is {a[key]!r} in the run but {b.get(key)!r} now"
    return None


def make_vos_split(videos: list[VosVideo], labeled_fraction: float, seed: int, val_fraction: float) -> dict:
    """The seeded labeled / unlabeled / validation split of the training videos (one group:
    VOS videos have no class)."""
    from ssvad_keras.data.splits import make_split

    ids = [v.video_id for v in videos]
    return make_split(ids, [-1] * len(ids), labeled_fraction, seed, val_fraction)


def _open_run(config, data_dir, out, resume, overrides):
    """(run, config, data_dir, split, state) of a new or resumed run."""
    if resume is not None:
        run = VosRunDir.open(Path(resume))
        saved = run.load_config()
        if config is not None and (reason := config_conflict(saved, config)):
            raise CheckpointError(f"incompatible config: {reason}", run.config_path)
        if overrides:
            fixed = sorted(k for k, v in overrides.items() if v is not None and not k.startswith("train."))
            if fixed:
                raise CheckpointError(f"{fixed[0]} is fixed by the run; a resume may change train.* only",
                                      run.config_path)
            saved = override_vos_config(saved, overrides)
            save_config(saved, run.config_path)
        data = run.load_data()
        state = run.load_state()
        if state.epochs_done > 0 and not run.weights_path.is_file():
            raise CheckpointError("checkpoint file missing", run.weights_path)
        from ssvad_keras.data import read_split

        return run, saved, Path(data["data_dir"]), read_split(run.split_path), state
    if data_dir is None or out is None:
        raise SsvadError("vos train needs --data and --out (or --resume RUN)")
    if overrides:
        config = override_vos_config(config, overrides)
    data_dir = Path(data_dir)
    videos = read_vos_split(data_dir / "train")
    split = make_vos_split(videos, config.data.labeled_fraction, config.train.seed, config.data.val_fraction)
    if not split["labeled"]:
        raise DataError("the split has no labeled videos", data_dir / "train")
    run = VosRunDir.create(
        Path(out), config, split,
        {"data_dir": str(data_dir.resolve()), "labeled_fraction": config.data.labeled_fraction},
    )
    return run, config, data_dir, split, RunState(select_metric=config.train.select_metric)


def _image_samples(videos: list[VosVideo], count: int, config: VosConfig) -> list[dict]:
    """The first object's first clip of up to `count` validation videos (TensorBoard)."""
    samples = []
    for video in videos[:count]:
        if not video.appearances:
            continue
        object_id = min(video.appearances)
        start = video.stems.index(video.first_appearance(object_id))
        sample = ClipSample(0, object_id, start, True)
        samples.append(make_clip(video, sample, config.data.clip_length, tuple(config.data.input_size)))
    return samples


def _log_images(board, epoch, model, samples) -> None:
    if not samples:
        return
    clips = np.stack([s["clip"] for s in samples])
    references = np.stack([s["reference"] for s in samples])
    logits = np.asarray(model({"clip": clips, "reference": references}, training=False)["mask_logits"])
    probs = 1.0 / (1.0 + np.exp(-logits))
    gt = np.stack([s["mask"] for s in samples])
    board.images(epoch, "val/masks_pred_red_gt_green", mask_overlay_images(clips, probs, gt))


def train_vos(
    config: VosConfig | None,
    data_dir: str | Path | None = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    progress: bool = True,
    callbacks: list[keras.callbacks.Callback] | None = None,
    overrides: dict | None = None,
) -> TrainResult:
    """Train a VOS model; see the module docstring.

    Args:
        config: the resolved `VosConfig` (when resuming, only checked against the run's own).
        data_dir: a dataset root in the YouTube-VOS layout (its `train/` is used).
        out: a new run folder.
        resume: an existing run folder to continue.
        progress: rich progress bars.
        callbacks: extra Keras callbacks for every epoch's `fit`.
        overrides: dotted keys applied to `config`, or on resume to the run's own config
            (then `train.*` only, e.g. more epochs; the run's config.toml is rewritten).
    """
    started = time.perf_counter()
    run, config, data_dir, split, state = _open_run(config, data_dir, out, resume, overrides)
    tcfg, dcfg = config.train, config.data
    keras.utils.set_random_seed(tcfg.seed)
    if tcfg.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    train_ids = sorted(set(split["labeled"]) | set(split["unlabeled"]))
    videos = read_vos_split(data_dir / "train", train_ids)
    position = {v.video_id: i for i, v in enumerate(videos)}
    labeled = labeled_samples(videos, [position[v] for v in split["labeled"]], dcfg.clip_length,
                              dcfg.labeled_strides)
    unlabeled = unlabeled_samples(videos, [position[v] for v in split["unlabeled"]])
    steps = tcfg.steps_per_epoch or steps_per_epoch(len(labeled), len(unlabeled), dcfg)
    if not tcfg.semi_supervised:
        unlabeled = []  # same steps as the semi-supervised run, labeled clips only
    # Supervised-only runs see as many labeled clips per step as a semi-supervised step holds
    # (`train.supervised_batch = "labeled"`, the default), or whole batches of them ("full").
    fill = tcfg.semi_supervised or tcfg.supervised_batch == "full"
    val_videos = read_vos_split(data_dir / "train", split.get("val", [])[: dcfg.max_val_videos])

    # On resume the checkpoint holds the weights: no need to initialise from --init again.
    fresh = config if state.epochs_done == 0 else config.model_copy(
        update={"vos": config.vos.model_copy(update={"init": None})}
    )
    model = build_vos_model(fresh)
    trainer = VosTrainer(model, config.loss, tcfg, total_epochs=tcfg.epochs, hflip=dcfg.hflip)
    schedule = build_schedule(tcfg, state.schedule)  # train.lr_schedule: plateau or cosine
    optimizer = keras.optimizers.Adam(schedule.learning_rate, epsilon=tcfg.adam_epsilon)
    trainer.compile(optimizer=optimizer, jit_compile=tcfg.jit_compile,
                    run_eagerly=config.vos.run_eagerly)
    sample = next(epoch_batches(videos, labeled, unlabeled, dcfg, 1, tcfg.seed, fill))
    trainer.compute_losses(sample, training=False)  # builds every variable
    optimizer.build(model.trainable_variables)
    if state.epochs_done > 0:
        try:
            trainer.load_weights(run.weights_path)
        except (ValueError, KeyError, OSError) as err:
            raise CheckpointError(f"checkpoint does not match the model ({err})", run.weights_path) from None

    board = TensorBoardWriter(run.log_dir)
    image_samples = _image_samples(val_videos, tcfg.tensorboard_images, config)
    signature = batch_signature(dcfg)
    try:
        for epoch in range(state.epochs_done, tcfg.epochs):
            trainer.epoch.assign(float(epoch))
            optimizer.learning_rate.assign(schedule.learning_rate)
            seed = tcfg.seed * 100_003 + epoch

            def batches(seed=seed):
                return epoch_batches(videos, labeled, unlabeled, dcfg, steps, seed, fill)

            dataset = tf.data.Dataset.from_generator(batches, output_signature=signature).prefetch(2)
            guard = NonFiniteGuard(epoch, tuple(trainer.trackers))
            epoch_start = time.perf_counter()
            with progress_bar(progress) as bar:
                history = trainer.fit(
                    dataset, steps_per_epoch=steps, epochs=epoch + 1, initial_epoch=epoch,
                    verbose=0, shuffle=False,
                    callbacks=[guard, RichProgress(bar, epoch, tcfg.epochs, steps), *(callbacks or [])],
                )
            if guard.error is not None:
                raise guard.error
            logs = {k: float(v[-1]) for k, v in history.history.items()}
            logs["epoch_seconds"] = time.perf_counter() - epoch_start
            logs["learning_rate"] = float(schedule.learning_rate)
            if val_videos and ((epoch + 1) % tcfg.validate_every == 0 or epoch + 1 == tcfg.epochs):
                report = score_propagation(
                    model, val_videos, config.vos.mask_threshold, config.vos.predict_batch_size,
                    eager=config.vos.run_eagerly, given_resize=config.vos.given_mask_resize,
                )
                logs["val_j"], logs["val_f"] = report.j_seen, report.f_seen
                logs["val_jf"] = None if report.j_seen is None else (report.j_seen + report.f_seen) / 2
                _log_images(board, epoch, model, image_samples)
            board.scalars(epoch, logs)
            schedule.update(logs["loss"])
            _finish_epoch(run, state, schedule, logs, epoch, tcfg, trainer, model)
            if progress:
                shown = {k: logs[k] for k in ("loss", "val_jf") if logs.get(k) is not None}
                stderr_console.print(
                    f"epoch {epoch + 1}/{tcfg.epochs} "
                    + " ".join(f"{k}={v:.4f}" for k, v in shown.items())
                    + f" ({logs['epoch_seconds']:.1f}s)"
                )
    finally:
        board.close()
    return TrainResult(run.path, state.epochs_done, state.best_metric, state.best_epoch,
                       time.perf_counter() - started, state.history)


def _finish_epoch(run, state, schedule, logs, epoch, tcfg, trainer, model) -> None:
    """Record the epoch, write the checkpoints atomically, keep the best model (or, with
    `train.keep_checkpoint = "last"`, every epoch's as `best.keras`)."""
    selected = logs.get(tcfg.select_metric)
    state.epochs_done = epoch + 1
    state.schedule = schedule.state_dict()
    state.history.append(logs)
    _save_atomically(run.weights_path, trainer.save_weights)
    _save_atomically(run.last_model_path, model.save)
    finite = selected is not None and math.isfinite(selected)
    if tcfg.keep_checkpoint == "last":
        # The last epoch's model (the annealed end of a cosine schedule); its metric for the record.
        keep = True
        state.best_metric = selected if finite else None
    else:
        # Ties go to the later (longer-trained) epoch.
        keep = (finite and (state.best_metric is None or selected >= state.best_metric)) or (
            state.best_metric is None and selected is None
        )
        if keep:
            state.best_metric = selected
    if keep:
        state.best_epoch = epoch + 1
        _save_atomically(run.best_model_path, model.save)
    state.finished = state.epochs_done == tcfg.epochs
    run.save_state(state)
