"""VOS transfer benchmark (paper Table 5's shape) on the built-in synthetic VOS benchmark.

For each seed: supervised on 10 % of the training videos, semi-supervised on the same 10 %
(the other videos contribute their first-appearance masks and the flip/temporal-coherence
consistency), and supervised on 100 %; each run predicts the valid split (`ssvad vos predict`'s
code) and is scored against the full ground truth (`valid_gt/`) with the YouTube-VOS protocol:
J and F over seen and unseen categories and their mean. Prints a table with the mean and
standard deviation over seeds and the share of the supervised 10 % -> 100 % gap the
semi-supervised run closes (the paper's: (30.8 - 10.1) / (47.9 - 10.1) = 55 %).

    nice -n 15 .venv/bin/python bench/bench_vos.py --out runs/bench-vos --seeds 0 1 2 [--untrained] \
        [--set KEY=VALUE ...]

`--untrained` also scores each seed's model as built, before training (what training must beat).
The defaults (8 epochs x 60 steps, `--camouflage 1`: objects wear their background's colours) are
the README's table; before 2026-12-02 (evening) they were 15 steps and `--camouflage 0`, the
random-colour benchmark that pixel matching on RGB alone already solves (docs/vos.md).

Results are written after every run to OUT/results.json with the training flags they were made
with; a rerun skips runs already there, and refuses a folder whose runs had other flags.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from benchlib import config_override

RUNS = {
    "supervised-10": "supervised_10.toml",
    "semi-supervised-10": "semi_supervised_10.toml",
    "supervised-100": "supervised_100.toml",
}
METRICS = ("J_seen", "J_unseen", "F_seen", "F_unseen", "overall", "train_seconds")


def _figures(report, seconds: float) -> dict:
    return {
        "J_seen": report.j_seen, "J_unseen": report.j_unseen,
        "F_seen": report.f_seen, "F_unseen": report.f_unseen,
        "overall": report.overall, "train_seconds": seconds,
    }


def run_one(name: str, seed: int, data: Path, out: Path, args) -> dict:
    """Train one setting, predict the valid split, score it; return the figures."""
    import keras

    from ssvad_keras.evaluation.vos import evaluate_youtube_vos
    from ssvad_keras.run_dir import RunDir
    from ssvad_keras.vos.config import load_vos_config, vos_configs_dir
    from ssvad_keras.vos.predict import predict_split
    from ssvad_keras.vos.train import train_vos

    keras.backend.clear_session()
    overrides = {
        **dict(args.set),
        "train.seed": seed, "train.epochs": args.epochs, "train.steps_per_epoch": args.steps,
        "train.validate_every": args.validate_every, "data.max_val_videos": args.val_videos,
    }
    config = load_vos_config(vos_configs_dir() / RUNS[name], preset=args.preset, overrides=overrides)
    run_dir = out / f"{name}-seed{seed}"
    if RunDir(run_dir).state_path.is_file():
        result = train_vos(None, resume=run_dir, progress=False)
    else:
        result = train_vos(config, data_dir=data, out=run_dir, progress=False)
    pred, _ = predict_split(run_dir, data, "valid", out / f"pred-{name}-seed{seed}", progress=False)
    report = evaluate_youtube_vos(data / "valid_gt" / "Annotations", pred / "Annotations",
                                  data / "valid_gt" / "meta.json", data / "train" / "meta.json")
    return _figures(report, result.seconds)


def untrained_model(seed: int, data: Path, out: Path, args) -> dict:
    """Scores of the supervised 10 % config's model as built, before any training (pretrained
    encoder, initialised decoder): the bar training has to clear."""
    import keras

    from ssvad_keras.evaluation.vos import evaluate_youtube_vos
    from ssvad_keras.vos.config import load_vos_config, vos_configs_dir
    from ssvad_keras.vos.model import build_vos_model
    from ssvad_keras.vos.predict import predict_split

    keras.backend.clear_session()
    overrides = {**dict(args.set), "train.seed": seed}
    config = load_vos_config(vos_configs_dir() / RUNS["supervised-10"], preset=args.preset, overrides=overrides)
    path = out / f"untrained-seed{seed}.keras"
    build_vos_model(config).save(path)
    pred, _ = predict_split(path, data, "valid", out / f"pred-untrained-seed{seed}", progress=False)
    report = evaluate_youtube_vos(data / "valid_gt" / "Annotations", pred / "Annotations",
                                  data / "valid_gt" / "meta.json", data / "train" / "meta.json")
    return _figures(report, 0.0)


def copy_baseline(data: Path) -> dict:
    """Scores of copying each object's first-appearance mask onto every later frame (no model):
    what a propagation model must beat."""
    import numpy as np

    from ssvad_keras.evaluation.vos import VosReport, read_palette_png, read_vos_meta, score_video
    from ssvad_keras.vos.data import read_vos_split

    seen = {o.category for objs in read_vos_meta(data / "train" / "meta.json").values() for o in objs.values()}
    scores = []
    for video in read_vos_split(data / "valid"):
        folder = data / "valid_gt" / "Annotations" / video.video_id
        gt = {p.stem: read_palette_png(p) for p in sorted(folder.glob("*.png"))}
        given = {k: (video.first_appearance(k), read_palette_png(video.annotation_path(video.first_appearance(k))) == k)
                 for k in video.appearances}
        pred = {}
        for stem, truth in gt.items():
            ids = np.zeros_like(truth)
            for object_id, (first, mask) in given.items():
                if stem >= first:
                    ids[mask] = object_id
            pred[stem] = ids
        scores += score_video(video.video_id, pred, gt, video.objects, seen)
    return _figures(VosReport(tuple(scores)), 0.0)


def summarise(results: dict, seeds: list[int]) -> str:
    """A markdown table of mean +- std over seeds, and the gap the semi-supervised run closes."""
    lines = ["| setting | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 1) + "|"]
    means = {}
    for name in RUNS:
        rows = [results[f"{name}-seed{s}"] for s in seeds if f"{name}-seed{s}" in results]
        if not rows:
            continue
        cells = []
        for key in METRICS:
            values = [r[key] for r in rows if r[key] is not None]
            mean = sum(values) / len(values) if values else math.nan
            std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) if values else math.nan
            means.setdefault(name, {})[key] = mean
            scale, digits = (1, 0) if key == "train_seconds" else (100, 1)
            cells.append(f"{scale * mean:.{digits}f} ± {scale * std:.{digits}f}")
        lines.append(f"| {name} (n={len(rows)}) | " + " | ".join(cells) + " |")
    untrained = [results[f"untrained-seed{s}"] for s in seeds if f"untrained-seed{s}" in results]
    if untrained:
        lines.append(f"| untrained model (n={len(untrained)}) | " + " | ".join(
            "-" if key == "train_seconds" else f"{100 * sum(r[key] for r in untrained) / len(untrained):.1f}"
            for key in METRICS) + " |")
    if "copy-first-mask" in results:
        row = results["copy-first-mask"]
        lines.append("| copy first mask (no model) | " + " | ".join(
            "-" if key == "train_seconds" else f"{100 * row[key]:.1f}" for key in METRICS) + " |")
    if len(means) == len(RUNS):
        low, semi, high = (means[n]["overall"] for n in RUNS)
        gap = (semi - low) / (high - low) if high != low else math.nan
        lines.append(f"\nsemi-supervised closes {100 * gap:.0f} % of the supervised 10 % -> 100 % gap "
                     "(target >= 40 %; paper 55 %)")
        per_seed = []
        for s in seeds:
            keys = [f"{n}-seed{s}" for n in RUNS]
            if all(k in results for k in keys):
                a, b, c = (results[k]["overall"] for k in keys)
                per_seed.append(f"seed {s}: {100 * (b - a) / (c - a):.0f} %" if c != a else f"seed {s}: n/a")
        lines.append("per seed: " + ", ".join(per_seed))
    return "\n".join(lines)


def _refuse_other_settings(path: Path, recorded: dict, wanted: dict, made: str, instead: str) -> None:
    """Exit with one line naming `path` and the keys of `wanted` whose `recorded` value differs."""
    changed = [k for k, v in wanted.items() if recorded.get(k) != v]
    if changed:
        raise SystemExit(f"{path}: {made} with other settings ({', '.join(changed)}); "
                         f"use another --out or {instead}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bench-vos"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--runs", nargs="+", choices=list(RUNS), default=list(RUNS))
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=60, help="Steps per epoch (equal for all settings).")
    parser.add_argument("--validate-every", type=int, default=4)
    parser.add_argument("--val-videos", type=int, default=6)
    parser.add_argument("--train-videos", type=int, default=60)
    parser.add_argument("--valid-videos", type=int, default=20)
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--camouflage", type=float, default=1.0,
                        help="the generated benchmark's chance that an object wears the background's colours "
                             "(0: the random-colour benchmark, which RGB matching alone solves)")
    parser.add_argument("--untrained", action="store_true",
                        help="also score each seed's model before training (supervised 10 %% config)")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", type=config_override,
                        help="dotted config overrides for every run, e.g. vos.reference_prior=0.0")
    args = parser.parse_args()

    from ssvad_keras.io import write_json_atomic
    from tfrecords_tools.synthetic_vos import generate_synthetic_vos

    args.out.mkdir(parents=True, exist_ok=True)
    data = args.out / "data"
    if not (data / ".complete").is_file():
        generate_synthetic_vos(data, args.data_seed, num_train=args.train_videos,
                               num_valid=args.valid_videos, camouflage=args.camouflage, progress=False)
    made = json.loads((data / ".complete").read_text())
    wanted = {"seed": args.data_seed, "train": args.train_videos, "valid": args.valid_videos,
              "camouflage": args.camouflage}
    # A benchmark made before the option existed has no "camouflage": it is the random-colour one.
    _refuse_other_settings(data, {"camouflage": 0.0, **made}, wanted,
                           "this benchmark was made", "the settings it was made with")
    results_path = args.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    # The training flags are recorded beside the results: a rerun into the same --out with other
    # flags would otherwise report the old runs as the new setting's.
    settings = {"preset": args.preset, "epochs": args.epochs, "steps": args.steps,
                "validate_every": args.validate_every, "val_videos": args.val_videos,
                "set": sorted(f"{k}={v!r}" for k, v in args.set)}
    recorded = results.setdefault("settings", settings if set(results) <= {"copy-first-mask"} else None)
    if recorded is None:
        raise SystemExit(f"{results_path}: its runs do not record the flags they were trained with "
                         "(made by an older bench/bench_vos.py); use another --out")
    _refuse_other_settings(results_path, recorded, settings, "its runs were trained",
                           "the settings they were trained with")
    started = time.perf_counter()
    if "copy-first-mask" not in results:
        results["copy-first-mask"] = copy_baseline(data)
        write_json_atomic(results_path, results)
    for seed in args.seeds:
        if args.untrained and f"untrained-seed{seed}" not in results:
            results[f"untrained-seed{seed}"] = untrained_model(seed, data, args.out, args)
            write_json_atomic(results_path, results)
            print(f"untrained-seed{seed}: overall {results[f'untrained-seed{seed}']['overall']:.4f}", flush=True)
        for name in args.runs:
            key = f"{name}-seed{seed}"
            if key in results:
                continue
            results[key] = run_one(name, seed, data, args.out, args)
            write_json_atomic(results_path, results)
            print(f"{key}: " + ", ".join(f"{k} {v:.4f}" for k, v in results[key].items() if v is not None),
                  flush=True)
    print(summarise(results, args.seeds))
    print(f"bench wall time {time.perf_counter() - started:.0f} s; settings: preset {args.preset}, "
          f"{args.epochs} epochs x {args.steps} steps, {args.train_videos} train / "
          f"{args.valid_videos} valid videos (data seed {args.data_seed}, camouflage {args.camouflage})")


if __name__ == "__main__":
    main()
