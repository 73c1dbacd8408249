"""Training-step speed and memory of `SemiSupervisedTrainer` on this machine.

Prints one line per figure:
- clips/s of a full semi-supervised step (batch 4 labeled + 4 unlabeled, both views, both
  attention masks, CC + LC; "clips" counts each clip once, its two views together),
- seconds per step and peak resident memory of the process (each preset runs in its own
  subprocess so peaks do not mix),
- the share of the step spent in the attention masks and consistency losses, measured by timing
  the same loss graph alone on the step's output shapes (no host round-trip: they run inside the
  compiled step).

Step time is the median over `--steps` steps (at most 4 for `paper`) after a first step that
includes tracing; every step's time is printed too (the first steps after tracing run slower
while the allocator's pools fill).

Run: `.venv/bin/python bench/bench_train.py [--presets tiny paper] [--steps 3]`. The paper's
released PyTorch code takes 46.9 s per step with a 17.7 GB peak on this 2-core machine (issue 4).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

WORKER = r"""
import json, resource, sys, time
import numpy as np
from ssvad_keras.runtime import import_tensorflow
import_tensorflow()  # TensorFlow's defaults (BFC allocator, backend) before it loads
import keras, tensorflow as tf
from ssvad_keras.config import load_config
from ssvad_keras.losses import semi_supervised_loss
from ssvad_keras.models import build_detector
from ssvad_keras.training import SemiSupervisedTrainer

preset, steps = sys.argv[1], int(sys.argv[2])
num_classes = 24
cfg = load_config(preset=preset, overrides={"loss.gradient_smoothness": True})  # both attentions
t, (h, w) = cfg.data.clip_length, cfg.data.input_size
b = cfg.data.batch_size
rng = np.random.default_rng(0)
labeled = np.array([1, 0] * (b // 2), np.float32)
clip = rng.random((b, t, h, w, 3), dtype=np.float32)
batch = {
    "clip": clip, "aug_clip": clip[:, :, :, ::-1].copy(),
    "hflip": np.ones(b, np.float32), "time_reverse": np.zeros(b, np.float32),
    "labeled": labeled, "label": rng.integers(0, num_classes, b).astype(np.int32) * labeled.astype(np.int32),
    "mask": (rng.random((b, t, h, w, 1)) > 0.8).astype(np.float32) * labeled[:, None, None, None, None],
    "frame_valid": np.repeat(labeled[:, None], t, axis=1),
}
detector = build_detector(config=cfg, num_classes=num_classes)
trainer = SemiSupervisedTrainer(detector, num_classes, cfg.loss, cfg.train, total_epochs=100)
trainer.compile(optimizer=keras.optimizers.Adam(1e-4), jit_compile=False)
data = tf.data.Dataset.from_tensors(batch).repeat()
start = time.perf_counter()
trainer.fit(data, steps_per_epoch=1, epochs=1, verbose=0, shuffle=False)  # trace + first step
first = time.perf_counter() - start

class StepTimes(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []
    def on_train_batch_begin(self, batch, logs=None):
        self.start = time.perf_counter()
    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self.start)

timer = StepTimes()
trainer.fit(data, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False, callbacks=[timer])
step = sorted(timer.times)[len(timer.times) // 2]  # median (upper for an even count)

# The attention masks + consistency losses alone, on the step's shapes, compiled.
logits = tf.random.normal((b, t, h, w, 1))
feats = tf.random.uniform((b, 4, 4, num_classes))
outs = {"class_scores": tf.random.uniform((b, num_classes)), "features": feats, "loc_logits": logits}
aug = {"class_scores": outs["class_scores"], "features": tf.reverse(feats, [2]), "loc_logits": tf.reverse(logits, [3])}
consistency_only = cfg.loss.model_copy(update={"margin_weight": 0.0, "bce_weight": 0.0, "dice_weight": 0.0})

@tf.function
def losses(o, a):
    with tf.GradientTape() as tape:
        tape.watch(o["loc_logits"])
        parts = semi_supervised_loss(o, a, batch, consistency_only, 0.5)
    return parts["consistency"], tape.gradient(parts["consistency"], o["loc_logits"])

losses(outs, aug)
start = time.perf_counter()
for _ in range(3):
    losses(outs, aug)[0].numpy()
loss_seconds = (time.perf_counter() - start) / 3
print(json.dumps({"preset": preset, "step": step, "steps": timer.times, "first_step": first, "batch": b,
                  "loss_seconds": loss_seconds,
                  "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "paper"])
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    for preset in args.presets:
        steps = args.steps if preset != "paper" else max(1, min(args.steps, 4))
        proc = subprocess.run(
            [sys.executable, "-c", WORKER, preset, str(steps)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            print(f"{preset}: failed\n{proc.stderr[-2000:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        each = ", ".join(f"{t:.2f}" for t in r["steps"])
        print(f"train {preset}: {r['batch'] / r['step']:.2f} clips/s ({r['step']:.2f} s/step, median of {len(r['steps'])} steps after the first, each: {each}; batch {r['batch']}, both views)")
        print(f"train {preset}: first step incl. tracing {r['first_step']:.1f} s")
        print(f"train {preset}: peak resident memory {r['peak_gb']:.2f} GB")
        print(f"train {preset}: attention masks + consistency losses (fwd+bwd) {r['loss_seconds'] * 1000:.0f} ms = {100 * r['loss_seconds'] / r['step']:.1f}% of the step")


if __name__ == "__main__":
    main()
