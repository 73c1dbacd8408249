"""tf.distribute: two replicas compute the single-device loss and gradients of the global batch."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    from tests.training.conftest import NUM_CLASSES, make_batch, tiny_config
    from ssvad_keras.models import build_detector
    from ssvad_keras.training import SemiSupervisedTrainer

    # Dropout off: the replicas' random streams differ from one device's by construction.
    # Dynamic routing: the released EM's "std" is a catastrophic cancellation whose float32
    # noise alone moves class scores by ~1e-3 between any two batch layouts.
    cfg = tiny_config(**{"model.encoder_dropout": 0.0, "model.decoder_dropout": 0.0,
                         "model.routing": "dynamic"})
    batch = make_batch(4, seed=3, labeled=(1, 1, 1, 0))  # replicas get 2 and 1 labeled clips
    data = tf.data.Dataset.from_tensors(batch)

    def one_step(strategy, weights):
        with strategy.scope():
            keras.utils.set_random_seed(0)
            det = build_detector(config=cfg, num_classes=NUM_CLASSES)
            if weights is not None:
                det.set_weights(weights)
            trainer = SemiSupervisedTrainer(det, NUM_CLASSES, cfg.loss, cfg.train, 4)
            # Eager steps: tracing the step costs ~65 CPU s, an eager one ~5 s (all three runs
            # alike, so that graph and eager arithmetic are never compared).
            trainer.compile(optimizer=keras.optimizers.SGD(1.0), jit_compile=False, run_eagerly=True)
        start = [w.copy() for w in det.get_weights()]
        logs = trainer.fit(data, epochs=1, verbose=0, shuffle=False).history
        grads = [a - b for a, b in zip(start, det.get_weights())]  # SGD(1): w0 - w1 = grad
        return start, grads, {k: v[-1] for k, v in logs.items()}

    weights, g1, logs1 = one_step(tf.distribute.get_strategy(), None)
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    _, g2, logs2 = one_step(mirrored, weights)
    def max_diff(x, y):
        return max(float(np.max(np.abs(a - b))) for a, b in zip(x, y))

    # float32 noise floor: the same global batch in other orders, on one device. Each order is
    # one sample of the reordering noise, so take the largest of two.
    floor = 0.0
    for order in ([2, 3, 0, 1], [1, 0, 3, 2]):
        data = tf.data.Dataset.from_tensors({k: v[order] for k, v in batch.items()})
        _, g3, _ = one_step(tf.distribute.get_strategy(), weights)
        floor = max(floor, max_diff(g1, g3))

    print(json.dumps({"replicas": mirrored.num_replicas_in_sync, "max_grad_diff": max_diff(g1, g2),
                      "noise_floor": floor,
                      "max_grad": max(float(np.max(np.abs(a))) for a in g1),
                      "logs1": logs1, "logs2": logs2}))
    """
)


def test_two_replicas_match_one_device_on_the_same_global_batch():
    """Replicas see 2 and 1 labeled clips: a per-replica mean would be off by a factor of 4/3
    on the supervised terms. Losses must agree to 1e-4 (relative: TensorFlow 2.21's oneDNN
    reductions move the summed loss by ~2e-5 between the two layouts, a wrong mean by 0.33).
    Gradients, which float32 reordering alone moves by up to ~1e-3 of their scale in this capsule
    model, must stay within twice what reordering the same batch on one device does: the noise
    is a sample (which kernels run, and so its size, depends on the CPU); a wrong mean moves them
    by a third of the supervised gradient."""
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["max_grad"] > 1e-4  # the step did something
    assert result["max_grad_diff"] <= 2 * max(result["noise_floor"], 1e-5), result
    assert result["max_grad_diff"] < 1e-3 * result["max_grad"], result
    for key in ("loss", "margin", "bce", "dice", "cls_consistency", "loc_consistency", "accuracy"):
        one, two = result["logs1"][key], result["logs2"][key]
        assert abs(one - two) <= 1e-4 * max(1.0, abs(one)), (key, result)
