"""How much of a training run's wall time is spent outside the training epochs.

Runs one `ssvad_keras.training.train` on a small synthetic dataset (UCF101-24-like boxes,
`tfrecords_tools.synthetic.generate_synthetic(dir, annotation="boxes")`, written once into a
temporary folder unless `--data` names a prepared one) and prints one line per figure:

- tiny-preset steps/s inside the `fit` epochs (all epochs, and after the first, which traces the
  step),
- the overhead share: (wall - time inside fit epochs) / wall, where wall is the whole `train`
  call (model build, validation, checkpoints, TensorBoard, data set-up),
- where the overhead went, from the run's own history (`validation_seconds`, `save_seconds`;
  runs written before those keys existed print only the total),
- the same split in CPU seconds of the process (all its threads, `time.process_time`): on a
  machine shared with other jobs, wall times follow the other jobs' load, CPU seconds follow the
  work done. Work overlapped with the epochs in background threads (the next epoch's stream, the
  checkpoint write) counts inside the epochs there.

Run: `nice -n 15 .venv/bin/python bench/bench_train_overhead.py [--epochs 24] [--steps 6]
[--config configs/synthetic.toml] [--row table1_supervised.toml] [--validate-every auto]
[--data DIR] [--seed 0]`. The defaults mirror a short-epoch tiny run (about 7 s of steps per
epoch on 2 CPU cores, as in issue 12's 96-epoch run). The headline's supervised-20 run (tiny
preset, 24 epochs x 27 steps, validation every 4th epoch) is `--row table1_supervised.toml
--epochs 24 --steps 0 --validate-every preset --data <benchmark>`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import keras


class _EpochCpu(keras.callbacks.Callback):
    """CPU seconds of the process inside each `fit` call (one epoch per call in `train`)."""

    def __init__(self):
        super().__init__()
        self.inside = 0.0
        self._start = 0.0

    def on_train_begin(self, logs=None):
        self._start = time.process_time()

    def on_train_end(self, logs=None):
        self.inside += time.process_time() - self._start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--steps", type=int, default=6, help="train.steps_per_epoch (0: the config's)")
    parser.add_argument("--config", type=Path, default=None, help="experiment TOML (default: configs/synthetic.toml)")
    parser.add_argument("--row", default=None, help="a file of configs/experiments/ applied over --config")
    parser.add_argument(
        "--validate-every", default=None, help="override train.validate_every (an int, or auto; 'preset': keep)"
    )
    parser.add_argument("--data", type=Path, default=None, help="a prepared dataset (default: generate one)")
    parser.add_argument("--labeled", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from ssvad_keras.config import configs_dir, load_config
    from ssvad_keras.training import train

    overrides = {"train.epochs": args.epochs, "train.seed": args.seed}
    if args.steps:
        overrides["train.steps_per_epoch"] = args.steps
    if args.validate_every not in (None, "preset"):
        every = args.validate_every
        overrides["train.validate_every"] = int(every) if every.isdigit() else every
    files = [args.config or configs_dir() / "synthetic.toml"]
    if args.row:
        files.append(configs_dir() / "experiments" / args.row)
    config = load_config(files, overrides=overrides)
    cpu = _EpochCpu()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            from tfrecords_tools.synthetic import generate_synthetic

            data = Path(tmp) / "data"
            generate_synthetic(data, annotation="boxes", progress=False)
        start, start_cpu = time.perf_counter(), time.process_time()
        result = train(config, data, args.labeled, Path(tmp) / "run", progress=False, callbacks=[cpu])
        wall, total_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    history = result.history
    steps_per_epoch = config.train.steps_per_epoch or 0
    inside = sum(h["epoch_seconds"] for h in history)
    later = sum(h["epoch_seconds"] for h in history[1:])
    validations = sum(1 for h in history if "val_vmap@0.5" in h)
    every = config.train.validate_every
    if steps_per_epoch:
        steps = steps_per_epoch * len(history)
        print(
            f"train overhead: {steps / inside:.3f} steps/s inside fit epochs "
            f"({steps_per_epoch / (later / max(len(history) - 1, 1)):.3f} after the first epoch, which traces the step)"
        )
    print(
        f"train overhead: wall {wall:.1f} s, inside fit epochs {inside:.1f} s, overhead share "
        f"{100 * (wall - inside) / wall:.1f} % ({len(history)} epochs x {steps_per_epoch or '?'} steps, "
        f"{validations} validations, validate_every={every})"
    )
    if history and "save_seconds" in history[0]:
        validation = sum(h.get("validation_seconds", 0.0) for h in history)
        saves = sum(h["save_seconds"] for h in history)
        rest = wall - inside - validation - saves
        print(
            f"train overhead: validation {validation:.1f} s, checkpoints {saves:.1f} s, "
            f"start-up, data set-up and TensorBoard {rest:.1f} s"
        )
    print(
        f"train overhead: CPU {total_cpu:.1f} s, inside fit epochs {cpu.inside:.1f} s, CPU overhead share "
        f"{100 * (total_cpu - cpu.inside) / max(total_cpu, 1e-9):.1f} %"
    )


if __name__ == "__main__":
    main()
