"""How much of a training run's wall time is spent outside the training epochs.

Runs one `ssvad_keras.training.train` on a small synthetic dataset (UCF101-24-like boxes,
`tfrecords_tools.synthetic.generate_synthetic(dir, annotation="boxes")`, written once into a
temporary folder unless `--data` names a prepared one) and prints one line per figure:

- tiny-preset steps/s inside the `fit` epochs (all epochs, and after the first, which traces the
  step),
- the overhead share: (wall - time inside fit epochs) / wall, where wall is the whole `train`
  call (model build, validation, checkpoints, TensorBoard, data set-up),
- where the overhead went, from the run's own history (`validation_seconds`, `save_seconds`;
  runs written before those keys existed print only the total).

Run: `nice -n 15 .venv/bin/python bench/bench_train_overhead.py [--epochs 24] [--steps 6]
[--config configs/synthetic.toml] [--validate-every auto]`. The defaults mirror a short-epoch
tiny run (about 7 s of steps per epoch on 2 CPU cores, as in issue 12's 96-epoch run).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--steps", type=int, default=6, help="train.steps_per_epoch")
    parser.add_argument("--config", type=Path, default=None, help="experiment TOML (default: configs/synthetic.toml)")
    parser.add_argument("--validate-every", default=None, help="override train.validate_every (an int, or auto)")
    parser.add_argument("--data", type=Path, default=None, help="a prepared dataset (default: generate one)")
    args = parser.parse_args()

    from ssvad_keras.config import configs_dir, load_config
    from ssvad_keras.training import train

    overrides = {"train.epochs": args.epochs, "train.steps_per_epoch": args.steps}
    if args.validate_every is not None:
        every = args.validate_every
        overrides["train.validate_every"] = int(every) if every.isdigit() else every
    config = load_config(args.config or configs_dir() / "synthetic.toml", overrides=overrides)
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            from tfrecords_tools.synthetic import generate_synthetic

            data = Path(tmp) / "data"
            generate_synthetic(data, annotation="boxes", progress=False)
        start = time.perf_counter()
        result = train(config, data, 0.2, Path(tmp) / "run", progress=False)
        wall = time.perf_counter() - start
    history = result.history
    inside = sum(h["epoch_seconds"] for h in history)
    steps = args.steps * len(history)
    later = sum(h["epoch_seconds"] for h in history[1:])
    validations = sum(1 for h in history if "val_vmap@0.5" in h)
    every = config.train.validate_every
    print(
        f"train overhead: {steps / inside:.3f} steps/s inside fit epochs "
        f"({args.steps / (later / max(len(history) - 1, 1)):.3f} after the first epoch, which traces the step)"
    )
    print(
        f"train overhead: wall {wall:.1f} s, inside fit epochs {inside:.1f} s, overhead share "
        f"{100 * (wall - inside) / wall:.1f} % ({len(history)} epochs x {args.steps} steps, "
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


if __name__ == "__main__":
    main()
