"""The headline experiment over several seeds: semi-supervised vs supervised on the synthetic benchmark.

For each seed: generate the default benchmark (seeded; `scenes` vocabulary, box ground truth like
UCF101-24; `--vocab motion` for the motion-only one), then train the `tiny` preset with its recipe
(`configs/synthetic.toml`, the runs of `ssvad_keras.demo.HEADLINE_RUNS`):
- supervised-only on 20 % of the training labels,
- semi-supervised (the full loss: CC + cyclic temporal coherence + plain L2, trained as the tiny
  preset's mean teacher; `--set train.method=pi` and the values of `configs/experiments/pi.toml`
  for the paper's Pi model) on the same 20 % plus the rest unlabeled,
- supervised-only on 100 % of the labels (the upper bound),
all for the same number of steps and, for the supervised runs, as many labeled clips per step as
the semi-supervised run (equal labeled clips seen). Each run's best checkpoint (selected on the
held-out validation videos, never on the test split) is evaluated on the test split with the paper
protocol. Prints one line per run, then per configuration the mean ± std over seeds of v@0.5,
f@0.5 and v@0.2, the semi-supervised gain (target >= 5 points of v-mAP@0.5) and the share of the
gap to 100 % labels it closes (target >= 40 %).

Run: `.venv/bin/python bench/bench_semi_vs_sup.py [--seeds 0 1 2] [--epochs N] [--vocab scenes]
[--out runs/bench-semi-vs-sup] [--runs NAME ...] [--set KEY=VALUE ...]`.
`--runs` trains only the named configurations (the gain and gap lines need all three); `--set`
applies dotted config overrides to every run trained, e.g. `--set model.encoder_weights=none`
(from scratch) or `--set train.learning_rate=3e-3`.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from benchlib import config_override

from ssvad_keras.demo import ANNOTATION, HEADLINE_RUNS, run_experiment
from tfrecords_tools.synthetic import VOCABULARIES, generate_synthetic


def _mean_std(values: list[float]) -> str:
    values = [100 * v for v in values]
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.1f} ± {std:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="default: the preset recipe's")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-semi-vs-sup"))
    parser.add_argument("--vocab", choices=list(VOCABULARIES), default="scenes")
    names = [spec.name for spec in HEADLINE_RUNS]
    parser.add_argument("--runs", nargs="+", choices=names, default=names)
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", type=config_override)
    args = parser.parse_args()
    overrides = dict(args.set)
    specs = [spec for spec in HEADLINE_RUNS if spec.name in args.runs]

    results: dict[str, list[dict]] = {spec.name: [] for spec in specs}
    for seed in args.seeds:
        data = args.out / f"data-{args.vocab}-{ANNOTATION}-seed{seed}"
        generate_synthetic(data, seed=seed, annotation=ANNOTATION, vocab=args.vocab, labeled=[0.2, 1.0],
                           progress=False)
        for spec in specs:
            run = run_experiment(
                spec.name, data, args.out / f"{args.vocab}-seed{seed}", spec.labeled_fraction,
                spec.row_config, seed=seed, epochs=args.epochs, progress=False, overrides=overrides,
            )
            results[spec.name].append({**run.test, "train_seconds": run.train_seconds})
            print(
                f"seed {seed} {spec.name}: test v@0.5 {100 * run.test['v@0.5']:.1f} "
                f"f@0.5 {100 * run.test['f@0.5']:.1f} v@0.2 {100 * run.test['v@0.2']:.1f} "
                f"acc {100 * (run.test['accuracy'] or 0):.1f} (train {run.train_seconds:.0f} s)",
                flush=True,
            )
    (args.out / "results.json").write_text(json.dumps({"overrides": overrides, "results": results}, indent=1))

    for spec in specs:
        rows = results[spec.name]
        print(
            f"{spec.name}: mean ± std over {len(rows)} seeds: v@0.5 {_mean_std([r['v@0.5'] for r in rows])}, "
            f"f@0.5 {_mean_std([r['f@0.5'] for r in rows])}, v@0.2 {_mean_std([r['v@0.2'] for r in rows])}"
        )
    if len(specs) < len(HEADLINE_RUNS):
        return

    def mean(name: str) -> float:
        return 100 * statistics.fmean(r["v@0.5"] for r in results[name])

    sup, semi, full = (mean(spec.name) for spec in HEADLINE_RUNS)
    print(f"semi-supervised gain over supervised at 20%: {semi - sup:+.1f} v-mAP@0.5 points (target >= 5)")
    gap = full - sup
    closed = f"{100 * (semi - sup) / gap:.0f}%" if gap > 0 else "n/a (no gap)"
    print(f"share of the gap to 100% labels closed: {closed} (target >= 40%); gap {gap:.1f} points "
          "(target >= 15)")


if __name__ == "__main__":
    main()
