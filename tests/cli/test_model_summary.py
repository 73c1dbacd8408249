"""`ssvad model summary` prints parameters and GFLOPs per block."""

import numpy as np
from typer.testing import CliRunner

from ssvad_cli.main import app
from ssvad_keras.models import build_detector
from ssvad_keras.models.summary import convolution_flops


def test_model_summary_table_matches_the_library():
    result = CliRunner().invoke(app, ["model", "summary", "--preset", "tiny", "--num-classes", "5"])
    assert result.exit_code == 0, result.output
    detector = build_detector(preset="tiny", num_classes=5)
    for block in ("i3d_encoder", "primary_capsules", "class_capsules", "localization_decoder"):
        assert block in result.output
    total = sum(int(np.prod(w.shape)) for w in detector.trainable_weights)
    assert f"{total:,}" in result.output


def test_convolution_flops_by_hand():
    import keras

    conv = keras.layers.Conv3D(4, (3, 3, 3), padding="same")
    conv.build((None, 2, 5, 5, 2))
    # 2 x (2*5*5 outputs x 4 channels) x (27 taps x 2 inputs)
    assert convolution_flops(conv, (1, 2, 5, 5, 2), (1, 2, 5, 5, 4)) == 2 * 2 * 5 * 5 * 4 * 27 * 2
    up = keras.layers.Conv3DTranspose(3, 3, strides=2, padding="same")
    up.build((None, 1, 2, 2, 4))
    # 2 x (1*2*2 inputs x 4 channels) x (27 taps x 3 outputs)
    assert convolution_flops(up, (1, 1, 2, 2, 4), (1, 2, 4, 4, 3)) == 2 * 4 * 4 * 27 * 3
