"""The headline experiment over several seeds: semi-supervised vs supervised on the synthetic benchmark.

For each seed: generate the benchmark (seeded; box ground truth like UCF101-24 unless
`--annotation masks`), then train the `tiny` preset
- supervised-only on 20% of the training labels,
- semi-supervised (full method: CC + cyclic temporal coherence + plain L2) on the same 20% plus
  the rest unlabeled,
- supervised-only on 100% of the labels (the upper bound),
and evaluate each run's best checkpoint (selected on the held-out validation videos) on the test
split with the paper protocol. Prints one line per run and per figure:
- mean v-mAP@0.5 (and f-mAP@0.5, v-mAP@0.2) per configuration over the seeds,
- the semi-supervised gain over supervised-only at 20% (target: >= 5 points of v-mAP@0.5),
- the share of the gap to 100% labels it closes (target: >= 50%).

Run: `.venv/bin/python bench/bench_semi_vs_sup.py [--seeds 0 1 2] [--epochs 24] [--annotation boxes]
[--out runs/bench] [--runs NAME ...] [--set KEY=VALUE ...]`.
Each run takes minutes on 2 CPU cores; 3 seeds x 3 runs take over an hour. `--runs` trains only
the named configurations (the gain and gap lines need all three); `--set` applies dotted config
overrides to every run trained, e.g. `--runs semi-supervised-20 --set
data.augment.time_reverse=true` to try another augmented view against supervised numbers
already measured (supervised runs repeat to the digit on an idle machine).
"""

from __future__ import annotations

import argparse
import ast
import statistics
from pathlib import Path

from ssvad_keras.demo import run_experiment
from tfrecords_tools.synthetic import ANNOTATIONS, generate_synthetic

RUNS = (
    ("supervised-20", 0.2, "table1_supervised.toml"),
    ("semi-supervised-20", 0.2, "full_method.toml"),
    ("supervised-100", 1.0, "table1_supervised.toml"),
)


def _override(text: str) -> tuple[str, object]:
    """`KEY=VALUE` -> (key, value); the value read as a Python literal when it is one."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-semi-vs-sup"))
    parser.add_argument(
        "--annotation", choices=ANNOTATIONS, default="boxes",
        help="ground truth of the synthetic benchmark: boxes (UCF101-24-like, the demo's) or masks",
    )
    parser.add_argument(
        "--runs", nargs="+", choices=[name for name, _, _ in RUNS], default=[name for name, _, _ in RUNS],
        help="configurations to train (default: all three)",
    )
    parser.add_argument(
        "--set", nargs="+", default=[], metavar="KEY=VALUE", type=_override,
        help="dotted config overrides for every run trained, e.g. data.augment.time_reverse=true",
    )
    args = parser.parse_args()
    overrides = dict(args.set)
    runs = [run for run in RUNS if run[0] in args.runs]

    results: dict[str, list[dict]] = {name: [] for name, _, _ in runs}
    for seed in args.seeds:
        data = args.out / f"data-{args.annotation}-seed{seed}"
        generate_synthetic(data, seed=seed, annotation=args.annotation, labeled=[0.2, 1.0], progress=False)
        for name, fraction, row in runs:
            run = run_experiment(
                name, data, args.out / f"{args.annotation}-seed{seed}", fraction, row, seed=seed,
                epochs=args.epochs, progress=False, overrides=overrides,
            )
            results[name].append(run.test)
            print(
                f"seed {seed} {name}: test v@0.5 {100 * run.test['v@0.5']:.1f} "
                f"f@0.5 {100 * run.test['f@0.5']:.1f} v@0.2 {100 * run.test['v@0.2']:.1f} "
                f"acc {100 * (run.test['accuracy'] or 0):.1f} ({run.train_seconds:.0f} s)",
                flush=True,
            )

    def mean(name: str, key: str) -> float:
        return 100 * statistics.fmean(r[key] for r in results[name])

    for name, _, _ in runs:
        print(
            f"{name}: mean over {len(args.seeds)} seeds: v@0.5 {mean(name, 'v@0.5'):.1f}, "
            f"f@0.5 {mean(name, 'f@0.5'):.1f}, v@0.2 {mean(name, 'v@0.2'):.1f}"
        )
    if len(runs) < len(RUNS):
        return
    sup, semi, full = (mean(n, "v@0.5") for n, _, _ in RUNS)
    gap = full - sup
    print(f"semi-supervised gain over supervised at 20%: {semi - sup:+.1f} v-mAP@0.5 points (target >= 5)")
    closed = (semi - sup) / gap if gap > 0 else float("nan")
    print(f"share of the gap to 100% labels closed: {100 * closed:.0f}% (target >= 50%)")


if __name__ == "__main__":
    main()
