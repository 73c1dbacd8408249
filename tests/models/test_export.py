"""SavedModel export runs in a process that never imports ssvad_keras."""

import json
import subprocess
import sys

import numpy as np
import pytest
from keras import ops

from ssvad_keras.errors import CheckpointError
from ssvad_keras.models import VideoCapsuleDetector
from ssvad_keras.models.export import export_detector

CLEAN_PROCESS = r"""
import json, sys
import numpy as np
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
clip = np.load(sys.argv[2])
out = model.signatures["serve"](clip=tf.constant(clip))
print(json.dumps({
    "ssvad_loaded": "ssvad_keras" in sys.modules,
    "keys": sorted(out),
    "scores": out["class_scores"].numpy().tolist(),
    "probs_sum": float(out["loc_probs"].numpy().sum()),
    "probs_shape": list(out["loc_probs"].shape),
}))
"""


@pytest.mark.slow
def test_export_from_archive_serves_clip_to_scores_and_probs(tmp_path):
    # Textbook EM: the released EM's "std" is a float32 cancellation, so graph and eager
    # execution of it differ by ~1e-3; this test wants a tight comparison.
    det = VideoCapsuleDetector(
        3, clip_shape=(4, 32, 32, 3), encoder_width=0.125, primary_kernel=2, primary_types=4,
        decoder_channels=4, decoder_final_channels=4, routing="em", seed=0,
    )
    det.save(tmp_path / "det.keras")
    clip = np.random.default_rng(0).uniform(size=(2, 4, 32, 32, 3)).astype("float32")
    np.save(tmp_path / "clip.npy", clip)
    out_dir = export_detector(tmp_path / "det.keras", tmp_path / "saved")
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    result = subprocess.run(
        [sys.executable, "-c", CLEAN_PROCESS, str(out_dir), str(tmp_path / "clip.npy")],
        capture_output=True, text=True, check=True, env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": ""},
    )
    served = json.loads(result.stdout.strip().splitlines()[-1])
    assert served["ssvad_loaded"] is False
    assert served["keys"] == ["class_scores", "loc_probs"]
    assert served["probs_shape"] == [2, 4, 32, 32, 1]
    expected = det(clip)
    np.testing.assert_allclose(served["scores"], ops.convert_to_numpy(expected["class_scores"]), atol=1e-5)
    probs = ops.convert_to_numpy(ops.sigmoid(expected["loc_logits"]))
    assert served["probs_sum"] == pytest.approx(float(probs.sum()), rel=1e-5)


def test_export_of_a_missing_checkpoint_fails_cleanly(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        export_detector(tmp_path / "none.keras", tmp_path / "saved")
    assert not (tmp_path / "saved").exists()
