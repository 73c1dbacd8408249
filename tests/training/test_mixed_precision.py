"""--mixed-precision: float16 compute, float32 losses and outputs, loss scaling, finite steps."""

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
    import keras, tensorflow as tf
    keras.mixed_precision.set_global_policy("mixed_float16")
    from tests.training.conftest import NUM_CLASSES, make_batch, tiny_config
    from ssvad_keras.models import build_detector
    from ssvad_keras.training import SemiSupervisedTrainer
    cfg = tiny_config()
    det = build_detector(config=cfg, num_classes=NUM_CLASSES)
    trainer = SemiSupervisedTrainer(det, NUM_CLASSES, cfg.loss, cfg.train, 4)
    # Eager steps (tracing the step costs ~65 CPU s); the traced mixed-precision step runs in
    # test_loop.py's resume with --mixed-precision.
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False, run_eagerly=True)
    parts = trainer.compute_losses(make_batch(), training=True)
    history = trainer.fit(tf.data.Dataset.from_tensors(make_batch()).repeat(2), verbose=0).history
    print(json.dumps({
        "encoder_dtype": det.encoder.compute_dtype,
        "output_dtypes": sorted({str(v.dtype.name) for v in det(make_batch()["clip"]).values()}),
        "loss_dtypes": sorted({v.dtype.name for k, v in parts.items() if not k.startswith("_")}),
        "optimizer": type(trainer.optimizer).__name__,
        "last": {k: v[-1] for k, v in history.items()},
    }))
    """
)


def test_mixed_precision_trains_with_float32_losses():
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["encoder_dtype"] == "float16"
    assert result["output_dtypes"] == ["float32"] and result["loss_dtypes"] == ["float32"]
    assert result["optimizer"] == "LossScaleOptimizer"
    for key in ("loss", "margin", "bce", "dice", "cls_consistency", "loc_consistency"):
        assert result["last"][key] == result["last"][key] and abs(result["last"][key]) < 1e3, key
