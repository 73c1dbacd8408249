"""`make demo`: the headline experiment on the built-in synthetic benchmark.

Prepares the default benchmark (the `scenes` vocabulary, box ground truth: the paper's headline
setting is UCF101-24 at 20 % labels, whose ground truth is boxes, trained and evaluated as filled
boxes), trains the `tiny` preset (its recipe and its shipped pretrained weights, `builtin:tiny`)
- supervised-only on 20 % of the labels,
- semi-supervised (the full loss: classification consistency + cyclic temporal coherence with
  plain L2, trained as the tiny preset's mean teacher) on the same 20 % plus the rest unlabeled,
- supervised-only on 100 % of the labels (the upper bound),
evaluates each run's best checkpoint (chosen on the held-out validation videos) on the test split
with the paper protocol, prints a side-by-side table and the share of the gap between
supervised 20 % and 100 % that the unlabeled videos closed, and writes `<out>/summary.json`.

Every run trains the same number of steps (`configs/synthetic.toml`), and the supervised runs see
as many labeled clips per step as the semi-supervised run (`train.supervised_batch = "labeled"`,
the default): the comparison is at equal labeled clips seen.

The runs train in `jobs` worker processes at once (default 2): a tiny run keeps about 1.6 of 2
CPU cores busy while it steps and one while TensorFlow traces its graphs, so two runs side by side
fill the gaps of each other. Each run draws only from its own seeds, so its numbers do not depend on
`jobs`; its "time" is wall clock beside the other run.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from rich.table import Table

from ssvad_keras.config import configs_dir, load_config
from ssvad_keras.runtime import software_environment

LABELED_FRACTION = 0.2
ANNOTATION = "boxes"


@dataclass(frozen=True)
class RunSpec:
    """One configuration of the headline comparison."""

    name: str
    labeled_fraction: float
    row_config: str  # a file in configs/experiments/


# The headline comparison, shared by `make demo` and bench/bench_semi_vs_sup.py.
HEADLINE_RUNS = (
    RunSpec("supervised-20", LABELED_FRACTION, "table1_supervised.toml"),
    RunSpec("semi-supervised-20", LABELED_FRACTION, "full_method.toml"),
    RunSpec("supervised-100", 1.0, "table1_supervised.toml"),
)
SUMMARY_KEYS = ("f@0.2", "f@0.5", "v@0.2", "v@0.5", "accuracy")


@dataclass
class DemoRun:
    name: str
    labeled_fraction: float
    run_dir: Path
    train_seconds: float
    val: dict[str, float] = field(default_factory=dict)
    test: dict[str, float] = field(default_factory=dict)
    kept: str = ""  # which epoch's model was evaluated, in words (`kept_model`)


def kept_model(train_config) -> str:
    """How a run's evaluated model was chosen, from its `TrainConfig`: "last epoch" or, for
    `keep_checkpoint = "best"`, e.g. "best val v-mAP@0.5" (the selection metric, spelled out)."""
    if train_config.keep_checkpoint == "last":
        return "last epoch"
    return "best val " + train_config.select_metric.removeprefix("val_").replace("map", "-mAP")


@dataclass
class DemoResult:
    data_dir: Path
    prepare_seconds: float
    runs: list[DemoRun]
    jobs: int = 1  # runs trained at once

    def run(self, name: str) -> DemoRun | None:
        return next((r for r in self.runs if r.name == name), None)

    def gap_closed(self, key: str = "v@0.5") -> float | None:
        """(semi-supervised 20 % - supervised 20 %) / (supervised 100 % - supervised 20 %) on the
        test split; None without the three runs or without a positive gap."""
        sup, semi, full = (self.run(spec.name) for spec in HEADLINE_RUNS)
        if sup is None or semi is None or full is None:
            return None
        gap = full.test[key] - sup.test[key]
        return (semi.test[key] - sup.test[key]) / gap if gap > 0 else None

    def to_dict(self) -> dict:
        """The `summary.json` layout: values in 0..1."""
        return {
            "data_dir": str(self.data_dir),
            "runs": {
                r.name: {"labeled_fraction": r.labeled_fraction, "run_dir": str(r.run_dir),
                         "val": r.val, "test": r.test, "train_seconds": round(r.train_seconds, 1),
                         "kept": r.kept}
                for r in self.runs
            },
            "gap_closed_v@0.5": self.gap_closed(),
            "jobs": self.jobs,
            "environment": software_environment(),
        }


def _summary(metrics) -> dict[str, float]:
    return {
        "f@0.2": metrics.fmap_at(0.2),
        "f@0.5": metrics.fmap_at(0.5),
        "v@0.2": metrics.vmap_at(0.2),
        "v@0.5": metrics.vmap_at(0.5),
        "accuracy": metrics.accuracy,
    }


def run_experiment(
    name: str,
    data_dir: Path,
    out: Path,
    labeled_fraction: float,
    row_config: str | None,
    seed: int = 0,
    epochs: int | None = None,
    progress: bool = True,
    overrides: dict | None = None,
    callbacks: list | None = None,
) -> DemoRun:
    """Train one configuration on the synthetic benchmark and evaluate it on val and test.

    `overrides`: dotted config keys applied over the synthetic config and the row file (as
    `load_config` takes them), e.g. `{"data.augment.time_reverse": True}`. `callbacks`: extra
    Keras callbacks for every training epoch.
    """
    from ssvad_keras.data import read_manifest, read_split
    from ssvad_keras.inference.evaluate import evaluate_model
    from ssvad_keras.models import load_detector
    from ssvad_keras.run_dir import RunDir
    from ssvad_keras.training import train

    base = configs_dir() / "synthetic.toml"
    files = [base] + ([configs_dir() / "experiments" / row_config] if row_config else [])
    cfg = load_config(
        files, overrides={**(overrides or {}), "train.seed": seed, "train.epochs": epochs, "name": name}
    )
    result = train(
        cfg, data_dir=data_dir, labeled_fraction=labeled_fraction, out=out / name, progress=progress,
        callbacks=callbacks,
    )
    run_dir = RunDir(result.run_dir)
    detector = load_detector(run_dir.best_model_path)
    split = read_split(run_dir.split_path)
    test_ids = read_manifest(data_dir).splits["test"].video_ids
    run = DemoRun(name, labeled_fraction, result.run_dir, result.seconds, kept=kept_model(cfg.train))
    run.val = _summary(evaluate_model(detector, data_dir, split["val"], cfg, progress=False))
    run.test = _summary(evaluate_model(detector, data_dir, test_ids, cfg, progress=progress))
    return run


def prepare_benchmark(
    data_dir: Path, seed: int = 0, labeled=(LABELED_FRACTION, 1.0), workers: int = 1
) -> float:
    """Generate (or reuse) the default benchmark with box ground truth; returns the seconds.
    `workers` processes render the videos (the bytes written do not depend on it)."""
    from tfrecords_tools.synthetic import generate_synthetic

    start = time.perf_counter()
    generate_synthetic(data_dir, seed=seed, annotation=ANNOTATION, labeled=list(labeled), workers=workers)
    return time.perf_counter() - start


def run_demo(
    out: str | Path,
    seed: int = 0,
    epochs: int | None = None,
    runs: tuple[str, ...] | None = None,
    jobs: int = 2,
) -> DemoResult:
    """The whole demo; reuses the prepared benchmark in `out/data-boxes` when it is complete,
    and writes `out/summary.json`. `jobs`: runs trained at once, each in its own process (1 =
    one after the other in this process)."""
    from ssvad_keras.io import write_json_atomic

    out = Path(out)
    data_dir = out / f"data-{ANNOTATION}"
    prepare_seconds = prepare_benchmark(data_dir, seed, workers=max(1, jobs))
    runs_dir = out / f"runs-{time.strftime('%Y%m%d-%H%M%S')}"
    specs = [s for s in HEADLINE_RUNS if runs is None or s.name in runs]
    result = DemoResult(data_dir, prepare_seconds, [], jobs=min(jobs, len(specs)))
    if jobs <= 1 or len(specs) <= 1:
        for spec in specs:
            result.runs.append(
                run_experiment(spec.name, data_dir, runs_dir, spec.labeled_fraction, spec.row_config, seed, epochs)
            )
    else:
        done = _train_in_workers(specs, data_dir, runs_dir, seed, epochs, jobs)
        result.runs.extend(done[spec.name] for spec in specs)  # the table's order, not finishing order
    write_json_atomic(out / "summary.json", result.to_dict())
    return result


def _epoch_reporter(name: str, messages):
    """A Keras callback (built in the worker) that sends `(run, epochs done)` to the parent."""
    import keras

    class EpochReporter(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            messages.put((name, epoch + 1))

    return EpochReporter()


def _worker_run(spec: RunSpec, data_dir: Path, runs_dir: Path, seed: int, epochs: int | None, messages) -> DemoRun:
    """One headline run in a worker process: trained and evaluated without bars of its own."""
    from ssvad_keras.runtime import import_tensorflow

    import_tensorflow()  # a spawned process starts bare: TensorFlow's defaults and quiet import first
    return run_experiment(
        spec.name, data_dir, runs_dir, spec.labeled_fraction, spec.row_config, seed, epochs,
        progress=False, callbacks=[_epoch_reporter(spec.name, messages)],
    )


def _train_in_workers(
    specs: list[RunSpec], data_dir: Path, runs_dir: Path, seed: int, epochs: int | None, jobs: int,
    worker=_worker_run,
) -> dict[str, DemoRun]:
    """Train `specs` in `jobs` spawned processes (TensorFlow does not survive a fork), the
    longest (semi-supervised) first, with one progress bar per run fed by the workers.

    `worker(spec, data_dir, runs_dir, seed, epochs, messages)` trains one run (a module-level
    function, so a spawned process can import it) and may put `(name, epochs done)` on `messages`.
    A worker's exception is raised here once the runs started beside it have finished."""
    from ssvad_keras.config import load_config
    from ssvad_keras.progress import progress_bar

    total = epochs or load_config(configs_dir() / "synthetic.toml").train.epochs
    order = sorted(specs, key=lambda s: s.row_config != "full_method.toml")  # the long run first
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, progress_bar() as bar:
        messages = manager.Queue()
        tasks = {s.name: bar.add_task(s.name, total=total, info="waiting") for s in specs}
        with ProcessPoolExecutor(max_workers=min(jobs, len(specs)), mp_context=context) as pool:
            futures = {
                pool.submit(worker, s, data_dir, runs_dir, seed, epochs, messages): s.name for s in order
            }
            pending, finished = set(futures), {}
            while pending:
                done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                for future in done:
                    run = future.result()  # a worker's error surfaces here, as in a sequential run
                    finished[run.name] = run
                    bar.update(tasks[run.name], completed=total, info=f"test v@0.5 {100 * run.test['v@0.5']:.1f}")
                while True:
                    try:
                        name, epochs_done = messages.get_nowait()
                    except queue.Empty:
                        break
                    if name not in finished:
                        bar.update(tasks[name], completed=epochs_done, info="training")
    return finished


def gap_line(result: DemoResult) -> str:
    """One line: how much of the gap to 100 % labels the unlabeled videos closed."""
    closed = result.gap_closed()
    sup, semi, full = (result.run(spec.name) for spec in HEADLINE_RUNS)
    if sup is None or semi is None:
        return "unlabeled videos: run supervised-20 and semi-supervised-20 to compare"
    gain = 100 * (semi.test["v@0.5"] - sup.test["v@0.5"])
    if full is None:
        return f"unlabeled videos: {gain:+.1f} points of test v-mAP@0.5 over supervised-20"
    share = "n/a (no gap)" if closed is None else f"{100 * closed:.0f} %"
    return (
        f"unlabeled videos: {gain:+.1f} points of test v-mAP@0.5 over supervised-20, closing {share} "
        f"of the gap to supervised-100 ({100 * (full.test['v@0.5'] - sup.test['v@0.5']):.1f} points)"
    )


def render_demo_table(result: DemoResult) -> Table:
    """Side-by-side validation/test metrics (paper protocol, localization accuracy) and time."""
    table = Table(
        title=f"Synthetic benchmark ({ANNOTATION} ground truth), 20% labels "
        "(paper protocol: localization accuracy, %)"
    )
    table.add_column("run", no_wrap=True, min_width=18)
    columns = [("val", "v@0.5"), ("test", "f@0.2"), ("test", "f@0.5"), ("test", "v@0.2"), ("test", "v@0.5")]
    for split, key in columns:
        table.add_column(f"{split} {key}", justify="right")
    table.add_column("acc", justify="right")
    table.add_column("time", justify="right")
    for run in result.runs:
        values = [getattr(run, split)[key] for split, key in columns]
        table.add_row(
            run.name,
            *(f"{100 * v:.1f}" for v in values),
            f"{100 * (run.test['accuracy'] or 0):.1f}",
            f"{run.train_seconds:.0f}s",
        )
    kept = ", ".join(sorted({run.kept for run in result.runs if run.kept})) or "n/a"
    shared = f"; {result.jobs} runs at a time, so each time is wall clock beside another run" if result.jobs > 1 else ""
    table.caption = (
        f"{gap_line(result)}\ndata: {result.data_dir} (prepared in {result.prepare_seconds:.0f}s); "
        f"model evaluated per run: {kept}{shared}"
    )
    return table
