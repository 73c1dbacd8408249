"""`train`: the whole training run behind `ssvad train`.

Epoch by epoch: every random state the epoch draws from is derived from (seed, epoch)
(`seed_epoch`); a fresh training stream seeded by (seed, epoch), built in the background while
the previous epoch trains; one `fit` epoch of `SemiSupervisedTrainer`; validation on the split's
held-out training videos every `train.validate_every` epochs (paper protocol; the test set is
never used to choose checkpoints); the learning-rate schedule (plateau or cosine); TensorBoard; and an atomic
checkpoint.

What is written when (see `RunDir`): `checkpoints/last.weights.h5` (detector, optimizer with its
Adam moments and step count, epoch counter) and `state.json` after every epoch, copied to host
memory at the epoch's end and written by a background thread while the next epoch starts, in
that order and each atomically (`_CheckpointWriter`; on disk before the next epoch's second
step); the full models `last.keras` and, when the selection metric improved, `best.keras` on the
validation schedule and at the end of the run. The first validation's one-off work (its clip
pipeline, decoding, the forward's traces) runs in the background during the first epoch
(`_Validation.start_warm_up`).

Resume (`resume=RUN`) starts from the run's own config. Only `RESUMABLE_KEYS` may change (they
are written back to `config.toml` and noted in `state.json`'s `changes`); anything else is refused
in one line, as is asking for fewer epochs than are done. A resumed run continues exactly: the
epoch after the checkpoint draws the same data, dropout masks and learning rate as in an
uninterrupted run, and its optimizer resumes from the saved moments.
"""

from __future__ import annotations

import copy
import math
import random
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ssvad_keras.config import VALIDATION_METRICS, ExperimentConfig, override_config
from ssvad_keras.data import read_manifest, read_split, train_dataset, train_steps_per_epoch
from ssvad_keras.data.geometry import log_geometry
from ssvad_keras.errors import CheckpointError, DataError, SsvadError
from ssvad_keras.io import atomic_path
from ssvad_keras.models import build_detector
from ssvad_keras.progress import progress_bar, stderr_console
from ssvad_keras.run_dir import RunDir, RunState
from ssvad_keras.training.callbacks import (
    NonFiniteGuard,
    RichProgress,
    TensorBoardWriter,
    mask_overlay_images,
)
from ssvad_keras.training.methods import build_trainer
from ssvad_keras.training.schedules import Schedule, build_schedule
from ssvad_keras.training.trainer import SemiSupervisedTrainer

RESUMABLE_KEYS = ("train.epochs", "train.steps_per_epoch", "train.strategy", "train.mixed_precision")
"""Config keys a resumed run may change: how long and on what it trains, not what it learns."""

TIMING_KEYS = ("epoch_seconds", "validation_seconds", "save_seconds")
"""History entries that are wall-clock times (they differ between runs of equal figures)."""

# Validation keeps its decoded clips in memory after the first pass when they fit in this many
# bytes (the tiny preset's 10 validation videos of the synthetic benchmark: 23 MB); larger
# validation sets are decoded again at every validation.
_VALIDATION_CACHE_BYTES = 1 << 30


@dataclass
class TrainResult:
    """What one `train` call did.

    Attributes:
        run_dir: the run directory.
        epochs_done: epochs the run has finished in all (this call and the ones before).
        best_metric: best `train.select_metric` so far (None before any finite one).
        best_epoch: the 1-based epoch of `best.keras`.
        seconds: wall time of this call.
        history: one dict of logged figures per finished epoch.
        epochs_trained: epochs trained by this call (0 when a resumed run had nothing left).
    """

    run_dir: Path
    epochs_done: int
    best_metric: float | None
    best_epoch: int | None
    seconds: float
    history: list[dict]
    epochs_trained: int = 0


def make_strategy(name: str) -> tf.distribute.Strategy:
    """`none` -> the default strategy; `mirrored` -> all local devices; `multiworker` -> TF_CONFIG."""
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def resolve_split(data_dir: Path, labeled_fraction: float, seed: int) -> dict:
    """The split file of this labeled fraction (written by `ssvad prepare`, or made now)."""
    from ssvad_keras.data.splits import split_path, write_split

    path = split_path(data_dir, labeled_fraction, seed)
    if not path.is_file():
        write_split(data_dir, labeled_fraction, seed)
    return read_split(path)


def config_changes(before: ExperimentConfig, after: ExperimentConfig) -> dict[str, tuple[Any, Any]]:
    """{dotted key: (before, after)} for every value that differs, in field order.

    The top-level `name` and `preset` are labels, not settings, and are not compared.
    """
    changes: dict[str, tuple[Any, Any]] = {}

    def walk(a: dict, b: dict, prefix: str) -> None:
        for key in [*a, *(k for k in b if k not in a)]:
            x, y = a.get(key), b.get(key)
            if isinstance(x, dict) and isinstance(y, dict):
                walk(x, y, f"{prefix}{key}.")
            elif x != y:
                changes[f"{prefix}{key}"] = (x, y)

    a, b = before.model_dump(mode="json"), after.model_dump(mode="json")
    for section, values in a.items():
        if isinstance(values, dict):
            walk(values, b[section], f"{section}.")
    return changes


def seed_generator_states(model: keras.Model) -> list[keras.Variable]:
    """The state variables of every Keras `SeedGenerator` in `model` (its dropout layers').

    Keras lists them among a layer's `variables` but does not save them with the weights.
    """
    states, seen = [], set()
    for variable in model.variables:
        if variable.name == "seed_generator_state" and id(variable) not in seen:
            seen.add(id(variable))
            states.append(variable)
    return states


def seed_epoch(model: keras.Model, seed: int, epoch: int) -> None:
    """Set every random state epoch `epoch` draws from to a value derived from (seed, epoch) alone.

    Every `SeedGenerator` of `model` gets the state [s_i, 0], and Python's and NumPy's global
    generators are re-seeded, with s_i from `np.random.SeedSequence([seed, epoch])`. Epoch k's
    dropout masks then do not depend on how many steps ran before it in this process, so a run
    resumed at epoch k draws what the uninterrupted run drew. (Keras saves no `SeedGenerator`
    state in weight files, and a new process starts each at [layer seed, 0].) The training stream
    has its own (seed, epoch) seed (`_epoch_dataset`); TensorFlow's global seed is set once per
    process and never drawn from, as every stream passes explicit op seeds.

    Args:
        model: the trainer (its detector's layers, and any network a training method adds).
        seed: `train.seed`.
        epoch: the 0-based epoch about to start.
    """
    states = seed_generator_states(model)
    draws = np.random.SeedSequence([seed % (1 << 32), epoch]).generate_state(len(states) + 1)
    random.seed(int(draws[0]))
    np.random.seed(int(draws[0]))
    for state, value in zip(states, draws[1:], strict=True):
        state.assign(keras.ops.convert_to_tensor([int(value), 0], dtype=state.dtype))


def validation_figures(metrics) -> dict[str, float | None]:
    """{name: value} of every `VALIDATION_METRICS` name from a `PaperMetrics`.

    A name `val_<figure>@<t>` reads `metrics.<figure>_at(t)`; `val_<figure>` reads
    `metrics.<figure>`.
    """
    figures = {}
    for name in VALIDATION_METRICS:
        figure, _, threshold = name.removeprefix("val_").partition("@")
        figures[name] = getattr(metrics, f"{figure}_at")(float(threshold)) if threshold else getattr(metrics, figure)
    return figures


@dataclass
class _Run:
    """What one `train` call trains: the run folder, its config, its data and its progress."""

    run: RunDir
    config: ExperimentConfig
    data_dir: Path
    split: dict
    state: RunState
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


def _start_run(config: ExperimentConfig | None, data_dir, labeled_fraction, out) -> _Run:
    if config is None or data_dir is None or out is None or labeled_fraction is None:
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
    return _Run(run, config, data_dir, split, RunState(select_metric=config.train.select_metric))


def _resume_run(path: Path, config: ExperimentConfig | None, overrides: dict | None) -> _Run:
    """The run at `path` with `config` (default: the run's own) and `overrides` applied.

    Raises:
        CheckpointError: not a run, a change outside `RESUMABLE_KEYS`, fewer epochs than done, or
            a missing checkpoint.
    """
    run = RunDir.open(path)
    saved = run.load_config()
    state = run.load_state()
    requested = override_config(config or saved, overrides) if overrides else config or saved
    changes = config_changes(saved, requested)
    refused = [key for key in changes if key not in RESUMABLE_KEYS]
    if refused:
        was, now = changes[refused[0]]
        raise CheckpointError(
            f"incompatible config: {refused[0]} is {was!r} in the run but {now!r} now "
            f"(a resumed run may change only {', '.join(RESUMABLE_KEYS)})",
            run.config_path,
        )
    if requested.train.epochs < state.epochs_done:
        raise CheckpointError(
            f"train.epochs = {requested.train.epochs} is fewer than the {state.epochs_done} "
            "epochs this run has done (resuming can only extend a run)",
            run.path,
        )
    if state.epochs_done > 0 and not run.weights_path.is_file():
        raise CheckpointError("checkpoint file missing", run.weights_path)
    data_dir = Path(run.load_data()["data_dir"])
    return _Run(run, requested, data_dir, read_split(run.split_path), state, changes)


def _record_changes(job: _Run) -> None:
    """Write a resumed run's changed training keys into config.toml and state.json."""
    if not job.changes:
        return
    job.run.save_config(job.config)
    job.state.changes.append(
        {"at_epoch": job.state.epochs_done, "changed": {k: list(v) for k, v in job.changes.items()}}
    )
    job.state.finished = job.state.epochs_done == job.config.train.epochs
    job.run.save_state(job.state)


def train(
    config: ExperimentConfig | None,
    data_dir: str | Path | None = None,
    labeled_fraction: float | None = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    progress: bool = True,
    callbacks: list[keras.callbacks.Callback] | None = None,
    overrides: dict[str, Any] | None = None,
) -> TrainResult:
    """Train a detector; see the module docstring.

    Args:
        config: the resolved experiment config of a new run. When resuming, None means the run's
            own config; a config given must equal it except in `RESUMABLE_KEYS`.
        data_dir: a folder written by `ssvad prepare` (new runs only).
        labeled_fraction: picks the split file `splits/labeled-<f>-seed<seed>.json`.
        out: new run directory.
        resume: an existing run directory to continue.
        progress: show rich progress bars.
        callbacks: extra Keras callbacks for every epoch's `fit`.
        overrides: dotted config keys applied over `config` (or, when resuming, the run's config),
            e.g. `{"train.epochs": 4}`; None values are ignored.

    Raises:
        CheckpointError: a resume that does not match the run (one line; nothing is written).
        SsvadError: missing arguments, or a non-finite loss (the last good checkpoint is kept).
    """
    started = time.perf_counter()
    if resume is not None:
        if data_dir is not None or labeled_fraction is not None or out is not None:
            raise SsvadError("--resume continues the run's own data, split and folder: drop --data, --labeled and --out")
        job = _resume_run(Path(resume), config, overrides)
    else:
        config = override_config(config, overrides) if overrides and config is not None else config
        job = _start_run(config, data_dir, labeled_fraction, out)
    if job.state.epochs_done == job.config.train.epochs:
        return _result(job, started, epochs_trained=0)
    _record_changes(job)
    return _train_epochs(job, started, progress, callbacks or [])


def _result(job: _Run, started: float, epochs_trained: int) -> TrainResult:
    return TrainResult(
        run_dir=job.run.path,
        epochs_done=job.state.epochs_done,
        best_metric=job.state.best_metric,
        best_epoch=job.state.best_epoch,
        seconds=time.perf_counter() - started,
        history=job.state.history,
        epochs_trained=epochs_trained,
    )


def _train_epochs(job: _Run, started: float, progress: bool, callbacks: list) -> TrainResult:
    config, state, run, data_dir = job.config, job.state, job.run, job.data_dir
    manifest = read_manifest(data_dir)
    log_geometry(manifest, config.data)
    num_classes = manifest.num_classes
    tcfg = config.train
    first_epoch = state.epochs_done
    keras.utils.set_random_seed(tcfg.seed)
    keras.mixed_precision.set_global_policy("mixed_float16" if tcfg.mixed_precision else "float32")
    with _EpochStreams(data_dir, job.split, config, num_classes, tcfg.epochs) as streams:
        spec = streams.peek(first_epoch)[0].element_spec
        schedule = build_schedule(tcfg, state.schedule)
        trainer = _build_trainer(config, num_classes, schedule, spec)
        if first_epoch > 0:
            _load_checkpoint(trainer, run.weights_path)
        detector = trainer.inference_detector()  # the network validation and the saved models use
        validation = _Validation(data_dir, list(job.split.get("val") or []), config)
        board = TensorBoardWriter(run.log_dir)
        checkpoints = _CheckpointWriter(run, trainer)
        components = (*trainer.trackers.keys(), "accuracy")
        try:
            for epoch in range(first_epoch, tcfg.epochs):
                seed_epoch(trainer, tcfg.seed, epoch)
                trainer.epoch.assign(float(epoch))
                trainer.optimizer.learning_rate.assign(schedule.learning_rate)
                dataset, steps = streams.get(epoch)
                guard = NonFiniteGuard(epoch, components)
                epoch_start = time.perf_counter()
                with progress_bar(progress) as bar:
                    history = trainer.fit(
                        dataset,
                        steps_per_epoch=steps,
                        epochs=epoch + 1,
                        initial_epoch=epoch,
                        verbose=0,
                        shuffle=False,  # the tf.data stream is shuffled and seeded per epoch
                        callbacks=[
                            _AfterFirstStep(checkpoints.wait),
                            _AfterFirstStep(lambda: validation.start_warm_up(detector, tcfg.tensorboard_images)),
                            guard,
                            RichProgress(bar, epoch, tcfg.epochs, steps),
                            *callbacks,
                        ],
                    )
                if guard.error is not None:
                    raise guard.error
                logs = {k: float(v[-1]) for k, v in history.history.items()}
                logs["epoch_seconds"] = time.perf_counter() - epoch_start
                logs["learning_rate"] = float(schedule.learning_rate)
                validates = tcfg.validates(epoch)
                if validates and validation.ids:
                    tick = time.perf_counter()
                    logs.update(validation(detector))
                    validation.draw_images(board, epoch, detector, tcfg.tensorboard_images)
                    logs["validation_seconds"] = time.perf_counter() - tick
                schedule.update(logs["loss"])
                tick = time.perf_counter()
                _save_checkpoints(
                    run,
                    state,
                    trainer,
                    detector,
                    logs,
                    tcfg.select_metric,
                    validates,
                    tcfg.keep_checkpoint == "last",
                    writer=checkpoints,
                )
                logs["save_seconds"] = time.perf_counter() - tick
                board.scalars(epoch, logs)
                state.epochs_done = epoch + 1
                state.schedule = schedule.state_dict()
                state.history.append(logs)
                state.finished = state.epochs_done == tcfg.epochs
                checkpoints.commit(state)  # last.weights.h5, then state.json, in the background
                if progress:
                    _print_epoch(epoch, tcfg.epochs, logs)
        finally:
            board.close()
            validation.close()
            checkpoints.close()
    return _result(job, started, epochs_trained=state.epochs_done - first_epoch)


def _build_trainer(config: ExperimentConfig, num_classes: int, schedule: Schedule, spec) -> SemiSupervisedTrainer:
    """The compiled trainer under the config's strategy, every variable built (optimizer too),
    so a checkpoint can be loaded into it."""
    tcfg = config.train
    with make_strategy(tcfg.strategy).scope():
        detector = build_detector(config=config, num_classes=num_classes)
        trainer = build_trainer(config, detector, num_classes)  # train.method's trainer
        optimizer = keras.optimizers.Adam(schedule.learning_rate, epsilon=tcfg.adam_epsilon)
        trainer.compile(optimizer=optimizer, jit_compile=tcfg.jit_compile)
        # A batch of zeros shaped like the stream's batches builds every variable without
        # drawing from the stream (a second pass over it would be shuffled differently).
        zeros = tf.nest.map_structure(lambda s: tf.zeros([d or 1 for d in s.shape], s.dtype), spec)
        trainer.compute_losses(zeros, training=False)
        trainer.optimizer.build(trainer.trainable_variables)
    return trainer


def _load_checkpoint(trainer: keras.Model, path: Path) -> None:
    """Load `checkpoints/last.weights.h5` into `trainer`, optimizer state included, strictly.

    The optimizer is read here rather than by `load_weights`, which skips a mismatched optimizer
    with only a warning (the run would go on with fresh Adam moments). A run that switched
    `train.mixed_precision` has its Adam optimizer wrapped in (or unwrapped from) Keras's
    `LossScaleOptimizer`: the Adam moments and step count are copied wherever the file keeps
    them, and the loss scale starts anew.
    """
    import h5py

    optimizer = trainer.optimizer
    try:
        trainer.load_weights(path, objects_to_skip=[optimizer])
        with h5py.File(path, "r") as f:
            saved = f["optimizer"]
            wrapped_now, wrapped_then = hasattr(optimizer, "inner_optimizer"), "inner_optimizer" in saved
            if wrapped_now == wrapped_then:
                target, source = optimizer, saved["vars"]
            elif wrapped_now:
                target, source = optimizer.inner_optimizer, saved["vars"]
            else:
                target, source = optimizer, saved["inner_optimizer"]["vars"]
            if len(source) != len(target.variables):
                raise ValueError(f"{len(source)} optimizer variables saved, {len(target.variables)} expected")
            for i, variable in enumerate(target.variables):
                variable.assign(source[str(i)][()])
    except (ValueError, KeyError, OSError) as err:
        raise CheckpointError(f"checkpoint does not match the model ({err})", path) from None


def _save_atomically(path: Path, save: Callable[[Path], None]) -> None:
    """Write with `save` to a temporary file, then rename onto `path`.

    Keras picks the format from the file name, so the staged file keeps the target's suffixes
    (`.keras`, `.weights.h5`).
    """
    with atomic_path(path) as tmp:
        staged = tmp.with_name(tmp.name + "".join(path.suffixes))
        save(staged)
        staged.replace(tmp)


def _save_checkpoints(
    run: RunDir,
    state: RunState,
    trainer: keras.Model,
    detector: keras.Model,
    logs: dict,
    select_metric: str,
    full_models: bool,
    keep_last: bool = False,
    writer: _CheckpointWriter | None = None,
) -> None:
    """The resume checkpoint every epoch; on `full_models` epochs also `last.keras`, and
    `best.keras` when `select_metric` improved (ties go to the later, longer-trained epoch), no
    finite value exists yet (the latest model stands in), or `keep_last`
    (`train.keep_checkpoint = "last"`: every full save). Updates `state`'s best fields; with
    `keep_last` `best_metric` is the kept epoch's `select_metric`, for the record.

    With `writer` the resume checkpoint is only snapshotted here (`_CheckpointWriter.snapshot`)
    and written by `writer.commit`; without, it is written now."""
    _prime_keras_saving_cache()
    if writer is None:
        _save_atomically(run.weights_path, trainer.save_weights)
    else:
        writer.snapshot()
    if not full_models:
        return
    _save_atomically(run.last_model_path, detector.save)
    # A mean-teacher run also keeps its other network (`RunDir.resolve_model`).
    alternates = trainer.alternate_detectors()
    for weights, network in alternates.items():
        _save_atomically(run.model_path("last", weights), network.save)
    selected = logs.get(select_metric)
    finite = selected is not None and math.isfinite(selected)
    improved = finite and (state.best_metric is None or selected >= state.best_metric)
    if keep_last:
        keep = True
        state.best_metric = selected if finite else None
    else:
        keep = improved or state.best_metric is None
        if keep:
            state.best_metric = selected if improved else None
    if keep:
        state.best_epoch = len(state.history) + 1
        with atomic_path(run.best_model_path) as tmp:
            shutil.copyfile(run.last_model_path, tmp)
        for weights in alternates:
            with atomic_path(run.model_path("best", weights)) as tmp:
                shutil.copyfile(run.model_path("last", weights), tmp)


def _prime_keras_saving_cache() -> None:
    """Make Keras's per-type attribute skip-set cache work (a pure speed-up of every save).

    `keras.src.saving.saving_lib.get_attr_skipset` (Keras 3.15) stores its result under
    `saving_attr_skipset_<type>` but looks it up under `saving_attr_skiplist_<type>`, so every
    object a save visits builds a throw-away reference `Layer()` to list its attributes: about
    half of a `save_weights` or `save` of the tiny trainer. This stores Keras's own result
    under the key it reads, in the calling thread (Keras keeps this state per thread); the
    skip-sets, and so the files, are unchanged. A no-op once done, or where the names differ.
    """
    try:
        from keras.src.backend.common import global_state
        from keras.src.saving.saving_lib import get_attr_skipset
    except ImportError:
        return
    for obj_type in ("Layer", "Functional", "Sequential", "Operation", "Metric", "Optimizer", "Loss"):
        key = f"saving_attr_skiplist_{obj_type}"
        if global_state.get_global_attribute(key) is None:
            global_state.set_global_attribute(key, get_attr_skipset(obj_type))


class _WeightsSnapshot:
    """What `model.save_weights(path)` writes, copied to host memory now, written to a file later.

    `take` walks `model` with Keras's own saver (`saving_lib._save_state`, as
    `save_weights` does) into a store that copies each value to a private NumPy array in the
    calling thread; `write` replays the same calls into Keras's `H5IOStore`, from any thread.
    The file is the one `save_weights` would have written at `take` time (same groups,
    attributes and values; `tests/training/test_checkpoint_writer.py`), and
    `load_weights` reads it.
    """

    def __init__(self, entries: list[tuple[str, dict | None, dict[str, np.ndarray]]]):
        self.entries = entries

    @classmethod
    def take(cls, model: keras.Model) -> _WeightsSnapshot:
        from keras.src.saving import saving_lib

        class Recorder(saving_lib.H5IOStore):
            """An `H5IOStore` in write mode that keeps its entries in memory (no file)."""

            def __init__(self):
                self.entries: list[tuple[str, dict | None, dict[str, np.ndarray]]] = []

            def __bool__(self) -> bool:
                return True

            def make(self, path, metadata=None):
                self.entries.append((path, metadata, {}))
                return self

            def __setitem__(self, key, value):
                self.entries[-1][2][key] = np.array(keras.ops.convert_to_numpy(value), copy=True)

        recorder = Recorder()
        saving_lib._save_state(model, weights_store=recorder, assets_store=None, inner_path="", visited_saveables=set())
        return cls(recorder.entries)

    def write(self, path: Path) -> None:
        """Write the weights file to `path` (an HDF5 file; any name)."""
        from keras.src.saving.saving_lib import H5IOStore

        store = H5IOStore(path, mode="w")
        try:
            for inner_path, metadata, values in self.entries:
                store.make(inner_path, metadata=metadata)
                for key, value in values.items():
                    store[key] = value
        finally:
            store.close()


class _CheckpointWriter:
    """The per-epoch resume checkpoint and `state.json`, written in a background thread.

    `snapshot` copies the trainer's weights (detector, optimizer with its Adam moments, epoch
    counter) to host memory in the training thread, a few tens of milliseconds, after which the
    next epoch may change them; `commit(state)` hands that copy and a copy of `state` to one
    writer thread, which writes `last.weights.h5` and then `state.json`, each to a temporary
    file renamed into place (`io.atomic_path`). So a crash at any moment leaves the previous
    complete pair or the new one, never a torn file, and `state.json` never counts an epoch
    whose checkpoint is not on disk. `wait` joins the write and re-raises its error: before the
    next snapshot, after the first step of the next epoch (`_AfterFirstStep`: from then on
    an interrupted run resumes from the epoch before), and at the end of the run (`close`).
    """

    def __init__(self, run: RunDir, trainer: keras.Model):
        self.run, self.trainer = run, trainer
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ssvad-checkpoint")
        self._pending: Future | None = None
        self._weights: _WeightsSnapshot | None = None

    def snapshot(self) -> None:
        """Copy the trainer's weights for the next `commit` (after the previous write is done)."""
        self.wait()
        self._weights = _WeightsSnapshot.take(self.trainer)

    def commit(self, state: RunState) -> None:
        """Write the snapshot (if any) and then `state`, in the background."""
        self.wait()
        weights, self._weights = self._weights, None
        self._pending = self._pool.submit(self._write, weights, copy.deepcopy(state))

    def _write(self, weights: _WeightsSnapshot | None, state: RunState) -> None:
        if weights is not None:
            with atomic_path(self.run.weights_path) as tmp:
                weights.write(tmp)
        self.run.save_state(state)

    def wait(self) -> None:
        """Block until the last commit is on disk; re-raise its error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)


class _AfterFirstStep(keras.callbacks.Callback):
    """Calls `action` once the epoch's first step is done.

    The loop passes two: `_CheckpointWriter.wait`, so the previous epoch's checkpoint write
    overlaps the epoch's start (the `fit` set-up and its first step) and is on disk before the
    second step (a run interrupted later in the epoch resumes from the epoch before); and
    `_Validation.start_warm_up`, which starts once the step is traced, so the two traces do not
    contend. First in the callback list, so later callbacks see the checkpoint written.
    """

    def __init__(self, action: Callable[[], None]):
        super().__init__()
        self.action = action

    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            self.action()


def _print_epoch(epoch: int, epochs: int, logs: dict) -> None:
    shown = {k: logs[k] for k in ("loss", "accuracy", "val_vmap@0.5") if logs.get(k) is not None}
    stderr_console.print(
        f"epoch {epoch + 1}/{epochs} "
        + " ".join(f"{k}={v:.4f}" for k, v in shown.items())
        + f" ({logs['epoch_seconds']:.1f}s)"
    )


class _Validation:
    """Validation of one run: one clip pipeline over its validation videos, built once and
    reused; its batches stay in memory after the first full pass when they fit in
    `_VALIDATION_CACHE_BYTES`, and the TensorBoard clips are taken from them. The detector's
    compiled forward is traced once per detector and batch shape
    (`inference.forward.compiled_forward`).

    `start_warm_up` does the first validation's one-off work in a background thread while the
    first epoch trains: the pipeline's build, the decoding pass into memory, the TensorBoard
    clips, and the forward's traces, made by calling it on zero clips of each batch shape the
    validation will use, in the order it uses them (so the validation runs the very functions
    it would have traced itself, and its figures are unchanged). The first validation then
    waits for it and runs only the forward. The warm-up reads the detector and writes nothing
    the training reads: `training=False`, so no dropout and no seed generator advances.
    """

    def __init__(self, data_dir: Path, ids: list[str], config: ExperimentConfig):
        self.data_dir, self.ids, self.config = data_dir, ids, config
        self._dataset = None
        self._cached: list[dict] | None = None
        self._image_samples = None
        self._warm_up: Future | None = None

    def _pipeline(self) -> tf.data.Dataset:
        if self._dataset is None:
            from ssvad_keras.data import eval_clip_dataset

            self._dataset = eval_clip_dataset(self.data_dir, self.ids, self.config.data, self.config.eval.batch_size)
        return self._dataset

    def batches(self) -> Iterator[dict]:
        """The validation batches: from memory, or from the pipeline (caching a full pass)."""
        if self._cached is not None:
            yield from self._cached
            return
        kept: list[dict] | None = []
        size = 0
        for batch in self._pipeline():
            if kept is not None:
                size += sum(int(tf.size(v)) * v.dtype.size for v in batch.values())
                kept = kept + [batch] if size <= _VALIDATION_CACHE_BYTES else None
            yield batch
        self._cached = kept

    def start_warm_up(self, detector: keras.Model, image_count: int) -> None:
        """Begin the background warm-up (once; nothing without validation videos)."""
        if self._warm_up is not None or not self.ids:
            return
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ssvad-validation")
        self._warm_up = pool.submit(self._prepare, detector, image_count)
        pool.shutdown(wait=False)  # its one thread ends with the task

    def _prepare(self, detector: keras.Model, image_count: int) -> None:
        from ssvad_keras.inference.forward import compiled_forward

        kept, size = [], 0
        for batch in self._pipeline():
            size += sum(int(tf.size(v)) * v.dtype.size for v in batch.values())
            if size > _VALIDATION_CACHE_BYTES:
                return  # decoded at each validation, as without the warm-up
            kept.append(batch)
        self._cached = kept
        class_mask, flip = self.config.eval.class_mask, self.config.eval.flip_average
        calls = [(class_mask, flip, int(batch["clip"].shape[0])) for batch in kept]
        if image_count:  # the TensorBoard images: one plain pass (`predict_probabilities`)
            self._image_samples = self._samples(image_count)
            if len(self._image_samples[0]):
                calls.append(("predicted", False, len(self._image_samples[0])))
        traced = set()
        for mode, flip, clips in calls:
            if (mode, flip, clips) in traced:
                continue
            traced.add((mode, flip, clips))
            forward = compiled_forward(detector, mode, flip)
            zeros = np.zeros((clips, *detector.clip_shape), np.float32)
            if mode == "predicted":
                forward(zeros)
            else:
                forward(zeros, np.full(clips, -1, np.int32))

    def _samples(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        from ssvad_keras.inference.evaluate import validation_samples

        return validation_samples(self.data_dir, self.ids, self.config, count, self.batches())

    def _join_warm_up(self) -> None:
        if self._warm_up is not None:
            self._warm_up.result()

    def close(self) -> None:
        """Wait for a warm-up still running (its thread holds the pipeline and the detector)."""
        if self._warm_up is not None:
            self._warm_up.exception()

    def __call__(self, detector: keras.Model) -> dict[str, float | None]:
        from ssvad_keras.inference.evaluate import evaluate_model

        self._join_warm_up()
        metrics = evaluate_model(detector, self.data_dir, self.ids, self.config, batches=self.batches())
        return validation_figures(metrics)

    def draw_images(self, board: TensorBoardWriter, epoch: int, detector: keras.Model, count: int) -> None:
        """The detector's masks on the first `count` validation clips with ground truth (read once)."""
        if count == 0:
            return
        from ssvad_keras.inference.forward import predict_probabilities

        self._join_warm_up()
        if self._image_samples is None:
            self._image_samples = self._samples(count)
        clips, gt = self._image_samples
        if len(clips):
            probs = predict_probabilities(detector, clips)
            board.images(epoch, "val/masks_pred_red_gt_green", mask_overlay_images(clips, probs, gt))


class _EpochStreams:
    """Each epoch's training stream and step count; the next epoch's is built in a background
    thread while this one trains.

    Every epoch needs a new stream seeded by (seed, epoch), so that a resumed run sees the data of
    an uninterrupted one, and building one traces its `tf.data` functions (about 2 s for the tiny
    preset on 2 CPU cores): the build overlaps the previous epoch instead of following it.
    """

    def __init__(self, data_dir: Path, split: dict, config: ExperimentConfig, num_classes: int, epochs: int):
        self._build = lambda epoch: _epoch_dataset(data_dir, split, config, num_classes, epoch)
        self._epochs = epochs
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ssvad-train-stream")
        self._pending: dict[int, Future] = {}

    def _future(self, epoch: int) -> Future:
        if epoch not in self._pending:
            self._pending[epoch] = self._pool.submit(self._build, epoch)
        return self._pending[epoch]

    def peek(self, epoch: int) -> tuple[tf.data.Dataset, int]:
        """Epoch `epoch`'s (dataset, steps), kept for `get` (only its element_spec may be read:
        iterating it would shift its shuffles)."""
        return self._future(epoch).result()

    def get(self, epoch: int) -> tuple[tf.data.Dataset, int]:
        """Epoch `epoch`'s (dataset, steps); starts building the next epoch's."""
        result = self._future(epoch).result()
        del self._pending[epoch]
        if epoch + 1 < self._epochs:
            self._future(epoch + 1)
        return result

    def __enter__(self) -> _EpochStreams:
        return self

    def __exit__(self, *exc) -> None:
        for future in self._pending.values():
            future.cancel()
        self._pool.shutdown(wait=True)


def _epoch_dataset(data_dir, split, config: ExperimentConfig, num_classes: int, epoch: int):
    """This epoch's stream and its number of steps, seeded by (seed, epoch) so resuming
    reproduces the data order.

    The supervised-only baseline runs as many steps per epoch as the semi-supervised run on the
    same split (one pass over the unlabeled videos; at least one pass over the labeled ones).
    With `train.supervised_batch = "labeled"` (default) each step takes `labeled_per_batch`
    labeled clips, as many as a semi-supervised step holds: the two runs see the same labeled
    clips per step, and differ only by the unlabeled half of each batch and the consistency
    losses. `"full"` fills whole batches with labeled clips (twice the supervision per step).
    """
    supervised_only = not config.train.semi_supervised
    steps = config.train.steps_per_epoch or max(
        train_steps_per_epoch(data_dir, split, config.data),
        train_steps_per_epoch(data_dir, split, config.data, labeled_only=True),
    )
    data_cfg = config.data
    if supervised_only and config.train.supervised_batch == "labeled":
        data_cfg = data_cfg.model_copy(update={"unlabeled_per_batch": 0})
    ds = train_dataset(
        data_dir,
        split,
        data_cfg,
        seed=config.train.seed * 100_003 + epoch,
        labeled_only=supervised_only,
        num_classes=num_classes,
    )
    if supervised_only or config.train.steps_per_epoch:
        ds = ds.repeat().take(steps)
    else:
        steps = train_steps_per_epoch(data_dir, split, config.data)
    return ds, steps
