"""Semi-supervised methods side by side on the synthetic benchmark: supervised, pseudo-label, the
paper's Pi model, mean teacher, mean teacher + DoP, mean teacher + DoP + EoR, the tiny preset's
own method (mean teacher with the paper's full loss, the headline's semi-supervised run), and
supervised 100%.

For each seed: generate the benchmark (seeded; box ground truth like UCF101-24 unless
`--annotation masks`), train the synthetic config (`configs/synthetic.toml`, tiny preset) with
each method's experiment file on 20% of the labels (the last row on 100%), and evaluate each
run's best checkpoint (selected on the held-out validation videos; a mean-teacher run's teacher)
on the test split with the paper protocol. Prints, per seed and run, test v@0.5, f@0.5 and
v@0.2 (localization accuracy, %) and the training time; then per method the mean +- standard
deviation over the seeds and the mean training time; then the issue's target: mean teacher + DoP
at least 3 points of v@0.5 above pi on the mean (Stable Mean Teacher's UCF101-24 margin).
Writes every number to `OUT/methods.json`.

Run: `.venv/bin/python bench/bench_methods.py [--seeds 0 1 2] [--epochs N (default: the recipe's, as the headline)] [--steps N]
[--annotation boxes] [--out runs/bench-methods] [--runs NAME ...]`. Each run takes minutes on 2
CPU cores; 3 seeds x 7 runs take hours. Smoke check of the whole pipeline (every row, one seed,
minutes): `--seeds 0 --epochs 1 --steps 2 --out /tmp/bench-methods-smoke`; its figures mean
nothing. The last lines are a markdown table of the means (the README's).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from ssvad_keras.demo import run_experiment
from ssvad_keras.io import write_json_atomic
from tfrecords_tools.synthetic import ANNOTATIONS, generate_synthetic

RUNS = (
    ("supervised-20", 0.2, "table1_supervised.toml"),
    ("pseudo-label-20", 0.2, "pseudo_label.toml"),
    ("pi-20", 0.2, "pi.toml"),
    ("mean-teacher-20", 0.2, "mean_teacher.toml"),
    ("mean-teacher-dop-20", 0.2, "mean_teacher_dop.toml"),
    ("mean-teacher-dop-eor-20", 0.2, "mean_teacher_dop_eor.toml"),
    # The tiny preset's method with the full loss: the headline's semi-supervised run.
    ("mean-teacher-full-20", 0.2, "full_method.toml"),
    ("supervised-100", 1.0, "table1_supervised.toml"),
)
METRICS = ("v@0.5", "f@0.5", "v@0.2")
TARGET = ("mean-teacher-dop-20", "pi-20", 3.0)  # (method, baseline, v@0.5 points)


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _markdown_table(summary: dict, names: list[str], seeds: int) -> str:
    """The means +- std (test, %) and mean training time per method, as a markdown table."""
    lines = [
        f"| method ({seeds} seed{'s' if seeds > 1 else ''}) | " + " | ".join(METRICS) + " | train time |",
        "|---|" + "---:|" * (len(METRICS) + 1),
    ]
    for name in names:
        stats = summary[name]["mean_std"]
        cells = [f"{m:.1f} ± {s:.1f}" for m, s in (stats[k] for k in METRICS)]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {summary[name]['mean_train_seconds']:.0f} s |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="default: the preset recipe's (as the headline)")
    parser.add_argument(
        "--steps", type=int, default=None,
        help="train.steps_per_epoch of every run (default: configs/synthetic.toml's, one pass over the unlabeled videos)",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/bench-methods"))
    parser.add_argument(
        "--annotation", choices=ANNOTATIONS, default="boxes",
        help="ground truth of the synthetic benchmark: boxes (UCF101-24-like, the demo's) or masks",
    )
    parser.add_argument(
        "--runs", nargs="+", choices=[name for name, _, _ in RUNS], default=[name for name, _, _ in RUNS],
        help="methods to train (default: all seven)",
    )
    args = parser.parse_args()
    if args.steps is not None and args.steps < 1:
        parser.error("--steps must be >= 1")
    overrides = {} if args.steps is None else {"train.steps_per_epoch": args.steps}
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
            results[name].append({**{k: 100 * run.test[k] for k in METRICS}, "seed": seed,
                                  "train_seconds": run.train_seconds})
            print(
                f"seed {seed} {name}: test "
                + " ".join(f"{k} {100 * run.test[k]:.1f}" for k in METRICS)
                + f" ({run.train_seconds:.0f} s)",
                flush=True,
            )

    summary = {}
    for name, _, _ in runs:
        rows = results[name]
        stats = {k: _mean_std([r[k] for r in rows]) for k in METRICS}
        seconds = statistics.fmean(r["train_seconds"] for r in rows)
        summary[name] = {"seeds": rows, "mean_std": stats, "mean_train_seconds": seconds}
        print(
            f"{name}: {len(rows)} seeds: "
            + ", ".join(f"{k} {m:.1f} +- {s:.1f}" for k, (m, s) in stats.items())
            + f"; train {seconds:.0f} s"
        )
    method, baseline, points = TARGET
    if method in summary and baseline in summary:
        gain = summary[method]["mean_std"]["v@0.5"][0] - summary[baseline]["mean_std"]["v@0.5"][0]
        verdict = "met" if gain >= points else "not met"
        print(f"{method} over {baseline}: {gain:+.1f} v@0.5 points (target >= +{points:.0f}: {verdict})")
        summary["target"] = {"method": method, "baseline": baseline, "gain": gain, "met": gain >= points}
    print(_markdown_table(summary, [name for name, _, _ in runs], len(args.seeds)))
    write_json_atomic(args.out / "methods.json", {"epochs": args.epochs, "steps_per_epoch": args.steps,
                                                  "annotation": args.annotation, "runs": summary})
    print(f"wrote {args.out / 'methods.json'}")


if __name__ == "__main__":
    main()
