"""How much of the headline's localization error is classification error?

Re-evaluates the runs that `bench/bench_semi_vs_sup.py` trained (their best checkpoints, the
test split, the paper protocol) three times: decoding each clip's predicted class capsule (the
paper's inference, what the headline reports), the ground-truth class capsule (an oracle) and
every class capsule (class-agnostic); `ssvad evaluate --class-mask` does the same for one run.
Prints one line per run and mode, then the mean over seeds per configuration and mode.

Run: `.venv/bin/python bench/diagnose_class_masks.py [--out runs/bench-semi-vs-sup]
[--annotation boxes]` after the headline benchmark.
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from pathlib import Path

from ssvad_keras.inference.evaluate import evaluate_checkpoint
from ssvad_keras.run_dir import RunDir

MODES = ("predicted", "ground_truth", "all")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bench-semi-vs-sup"))
    parser.add_argument("--annotation", default="boxes")
    args = parser.parse_args()

    seeds = sorted(args.out.glob(f"{args.annotation}-seed*"))
    if not seeds:
        parser.error(f"{args.out}: no {args.annotation}-seed* run folders; run bench/bench_semi_vs_sup.py first")
    table: dict[tuple[str, str], list[dict[str, float]]] = defaultdict(list)
    for seed_dir in seeds:
        data = args.out / f"data-{seed_dir.name}"
        for run in sorted(p for p in seed_dir.iterdir() if RunDir(p).best_model_path.is_file()):
            for mode in MODES:
                paper = evaluate_checkpoint(
                    run, data, "test", protocol="paper", progress=False, class_mask=mode
                ).paper
                row = {"v@0.5": paper.vmap_at(0.5), "f@0.5": paper.fmap_at(0.5),
                       "v@0.2": paper.vmap_at(0.2), "f@0.2": paper.fmap_at(0.2)}
                table[run.name, mode].append(row)
                print(f"{seed_dir.name} {run.name} {mode}: "
                      + " ".join(f"{k} {100 * v:.1f}" for k, v in row.items()), flush=True)
    for (name, mode), rows in sorted(table.items()):
        means = {k: 100 * statistics.fmean(r[k] for r in rows) for k in rows[0]}
        print(f"{name} {mode}: mean over {len(rows)} seeds: "
              + ", ".join(f"{k} {v:.1f}" for k, v in means.items()))


if __name__ == "__main__":
    main()
