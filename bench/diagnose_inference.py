"""The headline's trained runs re-evaluated under other inference settings (no training).

A diagnostic, not a benchmark (`make bench` runs only `bench_*.py`): it needs the runs of
`bench/bench_semi_vs_sup.py` or `bench/bench_methods.py`.

`bench/bench_semi_vs_sup.py` trains and evaluates the three headline runs per seed
(`bench/bench_methods.py` the methods). This script re-evaluates their checkpoints on the test
split with the paper protocol under each named variant of the inference, so a change of
inference is measured on the same weights:

- `preset`: the run's own config.toml, resolved as training resolves it (a key it lacks, such
  as one added since the run, takes its preset's current value);
- `zeros` / `repeat`: `data.eval_padding` (what fills the last window past a video's end);
- `flip` / `repeat+flip`: `eval.flip_average` (test-time flip) with zero / last-frame padding;
- `ground-truth-class` / `all-classes`: `eval.class_mask` diagnostics (the decoder given the
  ground-truth class capsule, an oracle, or every capsule), with the run's padding.

Prints one line per seed, run and variant, then per variant and run the mean ± std over seeds,
and per variant the semi-supervised gain, the gap to 100 % labels and the share of it closed.

Run: `.venv/bin/python bench/diagnose_inference.py [--out runs/bench-semi-vs-sup] [--prefix scenes]
[--runs NAME ...] [--variants preset repeat ...] [--model best|last]` after
`bench/bench_semi_vs_sup.py`; `--out runs/bench-methods --prefix boxes` after
`bench/bench_methods.py` (every run folder of each seed is evaluated).
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from pathlib import Path

from ssvad_keras.demo import ANNOTATION, HEADLINE_RUNS

VARIANTS: dict[str, dict] = {
    "preset": {},
    "zeros": {"data.eval_padding": "zeros", "eval.flip_average": False},
    "repeat": {"data.eval_padding": "repeat", "eval.flip_average": False},
    "flip": {"data.eval_padding": "zeros", "eval.flip_average": True},
    "repeat+flip": {"data.eval_padding": "repeat", "eval.flip_average": True},
    "ground-truth-class": {"eval.class_mask": "ground_truth"},
    "all-classes": {"eval.class_mask": "all"},
}
FIGURES = ("v@0.5", "f@0.5", "v@0.2", "accuracy")


def evaluate_variant(run: Path, data: Path, model: str, overrides: dict) -> dict[str, float]:
    """Test-split paper-protocol figures (0..1) of `run`'s `model` ("best" or "last") checkpoint
    under the run's config with `overrides`."""
    from ssvad_keras.config import load_config
    from ssvad_keras.inference.evaluate import evaluate_checkpoint
    from ssvad_keras.run_dir import RunDir

    run_dir = RunDir(run)
    config = load_config(run_dir.config_path, overrides=overrides)
    paper = evaluate_checkpoint(run_dir.resolve_model(model), data, "test", protocol="paper", progress=False,
                                config=config).paper
    return {"v@0.5": paper.vmap_at(0.5), "f@0.5": paper.fmap_at(0.5), "v@0.2": paper.vmap_at(0.2),
            "accuracy": float("nan") if paper.accuracy is None else paper.accuracy}


def summary_lines(table: dict[tuple[str, str], list[dict[str, float]]]) -> list[str]:
    """Mean ± std per (variant, run), then gain / gap / share per variant (percentages)."""
    lines = []
    for (variant, name), rows in sorted(table.items()):
        cells = []
        for key in FIGURES:
            values = [100 * r[key] for r in rows]
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{key} {statistics.fmean(values):.1f} ± {std:.1f}")
        lines.append(f"{variant} {name}: mean over {len(rows)} seeds: " + ", ".join(cells))
    sup, semi, full = (spec.name for spec in HEADLINE_RUNS)
    for variant in sorted({v for v, _ in table}):
        rows = [table.get((variant, name)) for name in (sup, semi, full)]
        if any(r is None for r in rows) or len({len(r) for r in rows}) != 1:
            continue
        a, b, c = (100 * statistics.fmean(r["v@0.5"] for r in runs) for runs in rows)
        share = f"{100 * (b - a) / (c - a):.0f}%" if c > a else "n/a (no gap)"
        lines.append(f"{variant}: semi-supervised gain {b - a:+.1f}, gap {c - a:.1f}, share closed {share} "
                     f"(targets >= 5, >= 15, >= 40%); supervised 100% v@0.5 {c:.1f} (target >= 50)")
    return lines


def data_folder(out: Path, prefix: str, seed: str) -> Path:
    """The benchmark data of `seed` beside the runs: `data-<prefix>-boxes-seed<N>`
    (`bench_semi_vs_sup.py`) or `data-<prefix>-seed<N>` (`bench_methods.py`)."""
    for name in (f"data-{prefix}-{ANNOTATION}-seed{seed}", f"data-{prefix}-seed{seed}"):
        if (out / name).is_dir():
            return out / name
    raise SystemExit(f"error: {out}: no data-{prefix}[-{ANNOTATION}]-seed{seed} folder beside the runs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bench-semi-vs-sup"))
    parser.add_argument("--prefix", default="scenes",
                        help="run folders are <prefix>-seed<N>: 'scenes' (bench_semi_vs_sup.py), 'boxes' (bench_methods.py)")
    parser.add_argument("--runs", nargs="+", help="only these runs (default: every run folder)")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=["preset", "zeros", "repeat"])
    parser.add_argument("--model", choices=["best", "last"], default="best",
                        help="best.keras (what the headline reports) or last.keras")
    args = parser.parse_args()

    from ssvad_keras.run_dir import RunDir

    seed_dirs = sorted(args.out.glob(f"{args.prefix}-seed*"))
    if not seed_dirs:
        parser.error(f"{args.out}: no {args.prefix}-seed* run folders; run bench/bench_semi_vs_sup.py first")
    table: dict[tuple[str, str], list[dict[str, float]]] = defaultdict(list)
    for seed_dir in seed_dirs:
        seed = seed_dir.name.rsplit("seed", 1)[1]
        data = data_folder(args.out, args.prefix, seed)
        runs = sorted(p for p in seed_dir.iterdir() if RunDir(p).is_run())
        for run in runs:
            if args.runs and run.name not in args.runs:
                continue
            for variant in args.variants:
                row = evaluate_variant(run, data, args.model, VARIANTS[variant])
                table[variant, run.name].append(row)
                print(f"seed {seed} {run.name} {variant}: "
                      + " ".join(f"{k} {100 * row[k]:.1f}" for k in FIGURES), flush=True)
    print("\n".join(summary_lines(table)))


if __name__ == "__main__":
    main()
