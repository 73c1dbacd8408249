"""How a VOS prediction holds up with distance from each object's first appearance.

Reads a prediction folder (`ssvad vos predict`'s `Annotations/`) and the full ground truth of
the same split (`Annotations/` + `meta.json`, e.g. the built-in benchmark's `valid_gt/`), and
prints, per range of frame offsets k from each object's first appearance, the mean region
similarity J of the prediction and of the object's first mask copied onto frame k. A model that
tracks beats copying from k = 1 on; one that has learned only to copy matches it.

Run: `.venv/bin/python bench/diagnose_vos_decay.py --annotations GT/Annotations --predictions
PRED/Annotations [--meta GT/meta.json] [--per-offset K]`; `--per-offset 14` prints one row per
offset k = 1..14 (odd and even offsets of a clip separately).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

BINS = ((1, 1), (2, 3), (4, 7), (8, 15), (16, 31), (32, None))


def region_j(pred: np.ndarray, gt: np.ndarray) -> float:
    """Region similarity of two boolean masks (1.0 when both are empty, as the protocol scores)."""
    union = np.logical_or(pred, gt).sum()
    return 1.0 if union == 0 else float(np.logical_and(pred, gt).sum() / union)


def decay_table(annotations: Path, predictions: Path, meta: dict,
                bins: tuple[tuple[int, int | None], ...] = BINS) -> list[tuple[str, int, float, float]]:
    """(offset range, frames, mean J of the prediction, mean J of the copied first mask) per bin
    (`bins`: (low, high) offsets, high None for no end). A missing prediction PNG counts as an
    empty mask."""
    from ssvad_keras.evaluation.vos import read_palette_png

    scores: dict[tuple, list[list[float]]] = {b: [[], []] for b in bins}
    for video_id, info in sorted(meta["videos"].items()):
        cache: dict[tuple[str, str], np.ndarray] = {}

        def read(root: Path, stem: str, kind: str, video_id=video_id, cache=cache) -> np.ndarray | None:
            key = (kind, stem)
            if key not in cache:
                path = root / video_id / f"{stem}.png"
                cache[key] = read_palette_png(path) if path.is_file() else None
            return cache[key]

        for object_id, obj in sorted(info["objects"].items()):
            frames, label = obj["frames"], int(object_id)
            first = read(annotations, frames[0], "gt") == label
            for k, stem in enumerate(frames[1:], 1):
                gt = read(annotations, stem, "gt") == label
                pred = read(predictions, stem, "pred")
                pred = np.zeros_like(gt) if pred is None else pred == label
                for low, high in bins:
                    if k >= low and (high is None or k <= high):
                        scores[low, high][0].append(region_j(pred, gt))
                        scores[low, high][1].append(region_j(first, gt))
    rows = []
    for (low, high), (model, copied) in scores.items():
        if model:
            span = f"{low}+" if high is None else (f"{low}" if low == high else f"{low}-{high}")
            rows.append((span, len(model), float(np.mean(model)), float(np.mean(copied))))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotations", type=Path, required=True, help="ground-truth Annotations/ folder")
    parser.add_argument("--predictions", type=Path, required=True, help="predicted Annotations/ folder")
    parser.add_argument("--meta", type=Path, help="the split's meta.json (default: beside --annotations)")
    parser.add_argument("--per-offset", type=int, metavar="K",
                        help="one row per frame offset 1..K (and K+ after), not ranges")
    args = parser.parse_args()

    from ssvad_keras.errors import SsvadError
    from ssvad_keras.io import read_json

    for folder in (args.annotations, args.predictions):
        if not folder.is_dir():
            print(f"error: {folder}: folder not found", file=sys.stderr)
            sys.exit(2)
    try:
        meta = read_json(args.meta or args.annotations.parent / "meta.json")
        bins = BINS if args.per_offset is None else (
            *((k, k) for k in range(1, args.per_offset + 1)), (args.per_offset + 1, None))
        rows = decay_table(args.annotations, args.predictions, meta, bins)
    except SsvadError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    for span, count, model, copied in rows:
        print(f"frames {span} after the first appearance: {count} object-frames, J prediction {model:.3f}, "
              f"copy {copied:.3f}")


if __name__ == "__main__":
    main()
