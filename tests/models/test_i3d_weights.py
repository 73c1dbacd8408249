"""Pretrained I3D import: PyTorch state dicts and DeepMind TF checkpoints, with parity.

The references are written here independently of our layers: a pytorch-i3d-style model in
torch (its own TF-SAME padding and zero-padded `MaxPool3dSamePadding`) and raw
`tf.nn.conv3d` / `tf.nn.max_pool3d` with "SAME" padding, both at width 0.125.
"""

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from ssvad_keras.config import ModelConfig
from ssvad_keras.errors import CheckpointError
from ssvad_keras.layers.i3d_encoder import INCEPTION_FILTERS, scaled_channels
from ssvad_keras.models import (
    build_detector,
    build_i3d_encoder,
    convert_i3d_weights,
    load_i3d_weights,
)

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

WIDTH = 0.125
ENDPOINTS = ("Conv3d_1a_7x7", "Conv3d_2c_3x3", "Mixed_4f")
BRANCHES = ("b0", "b1a", "b1b", "b2a", "b2b", "b3b")
TF_BRANCHES = (
    "Branch_0/Conv3d_0a_1x1", "Branch_1/Conv3d_0a_1x1", "Branch_1/Conv3d_0b_3x3",
    "Branch_2/Conv3d_0a_1x1", "Branch_2/Conv3d_0b_3x3", "Branch_3/Conv3d_0b_1x1",
)
MIXED = ("Mixed_3b", "Mixed_3c", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f")


def ch(c):
    return scaled_channels(c, WIDTH)


def _tf_same_pad(size, kernel, stride):
    total = max(kernel - stride, 0) if size % stride == 0 else max(kernel - size % stride, 0)
    return total // 2, total - total // 2


class MaxPool3dSamePadding(nn.MaxPool3d):
    def forward(self, x):
        pads = []
        for dim in (2, 1, 0):  # F.pad lists the last axis first
            pads += _tf_same_pad(x.shape[2 + dim], self.kernel_size[dim], self.stride[dim])
        return super().forward(F.pad(x, pads))


class Unit3D(nn.Module):
    def __init__(self, cin, cout, kernel, stride=(1, 1, 1), bias=False):
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.conv3d = nn.Conv3d(cin, cout, kernel, stride, padding=0, bias=bias)
        self.bn = nn.BatchNorm3d(cout, eps=0.001, momentum=0.01)

    def forward(self, x):
        pads = []
        for dim in (2, 1, 0):
            pads += _tf_same_pad(x.shape[2 + dim], self.kernel[dim], self.stride[dim])
        return F.relu(self.bn(self.conv3d(F.pad(x, pads))))


class InceptionModule(nn.Module):
    def __init__(self, cin, out):
        super().__init__()
        k1, k3 = (1, 1, 1), (3, 3, 3)
        self.b0 = Unit3D(cin, out[0], k1)
        self.b1a = Unit3D(cin, out[1], k1)
        self.b1b = Unit3D(out[1], out[2], k3)
        self.b2a = Unit3D(cin, out[3], k1)
        self.b2b = Unit3D(out[3], out[4], k3)
        self.b3a = MaxPool3dSamePadding((3, 3, 3), (1, 1, 1), 0)
        self.b3b = Unit3D(cin, out[5], k1)

    def forward(self, x):
        return torch.cat(
            [self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], 1
        )


class TorchI3D(nn.Module):
    """pytorch-i3d up to Mixed_4f with the paper code's strides; Conv3d_1a has a bias."""

    def __init__(self):
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, ch(64), (7, 7, 7), (2, 2, 2), bias=True)
        self.MaxPool3d_2a_3x3 = MaxPool3dSamePadding((1, 3, 3), (1, 2, 2), 0)
        self.Conv3d_2b_1x1 = Unit3D(ch(64), ch(64), (1, 1, 1))
        self.Conv3d_2c_3x3 = Unit3D(ch(64), ch(192), (3, 3, 3), (2, 1, 1))
        self.MaxPool3d_3a_3x3 = MaxPool3dSamePadding((1, 3, 3), (1, 2, 2), 0)
        cin = ch(192)
        for name in MIXED:
            out = [ch(c) for c in INCEPTION_FILTERS[name]]
            setattr(self, name, InceptionModule(cin, out))
            cin = out[0] + out[2] + out[4] + out[5]
            if name == "Mixed_3c":
                self.MaxPool3d_4a_3x3 = MaxPool3dSamePadding((3, 3, 3), (2, 1, 1), 0)
        self.logits = nn.Conv3d(cin, 7, (1, 1, 1))  # unused by the encoder

    def forward(self, x):
        out = {}
        order = ["Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3",
                 "MaxPool3d_3a_3x3", "Mixed_3b", "Mixed_3c", "MaxPool3d_4a_3x3", *MIXED[2:]]
        for name in order:
            x = getattr(self, name)(x)
            if name in ENDPOINTS:
                out[name] = x.permute(0, 2, 3, 4, 1).detach().numpy()  # channels-last
        return out


def _randomise(model, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv3d):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * (2 / fan_in) ** 0.5)
                if module.bias is not None:
                    module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.1)
            elif isinstance(module, nn.BatchNorm3d):
                n = module.num_features
                module.weight.copy_(0.5 + torch.rand(n, generator=gen))
                module.bias.copy_(torch.randn(n, generator=gen) * 0.1)
                module.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                module.running_var.copy_(0.5 + torch.rand(n, generator=gen))
    return model.eval()


@pytest.fixture(scope="module")
def torch_source(tmp_path_factory):
    model = _randomise(TorchI3D())
    path = tmp_path_factory.mktemp("pt") / "rgb_tiny.pt"
    torch.save(model.state_dict(), path)
    clip = np.random.default_rng(0).uniform(size=(1, 8, 40, 40, 3)).astype("float32")
    reference = model(torch.from_numpy(clip).permute(0, 4, 1, 2, 3))
    return path, clip, reference


def _max_abs(outputs, reference):
    return {k: float(np.max(np.abs(ops.convert_to_numpy(outputs[k]) - reference[k]))) for k in ENDPOINTS}


def test_pytorch_state_dict_parity(torch_source):
    path, clip, reference = torch_source
    encoder = build_i3d_encoder(input_shape=clip.shape[1:], variant="ssl", width=WIDTH)
    report = load_i3d_weights(encoder, path)
    assert report.units == 45
    assert report.unused_keys == ["logits.bias", "logits.weight"]
    errors = _max_abs(encoder(clip), reference)
    assert max(errors.values()) < 1e-4, errors


def test_converted_weights_file_keeps_parity_and_loads_at_detector_build(torch_source, tmp_path):
    path, clip, reference = torch_source
    out = tmp_path / "i3d.weights.h5"
    report = convert_i3d_weights(path, out)  # width inferred from Conv3d_1a_7x7
    assert report.unused_keys == ["logits.bias", "logits.weight"]
    encoder = build_i3d_encoder(input_shape=clip.shape[1:], width=WIDTH, weights=out)
    assert max(_max_abs(encoder(clip), reference).values()) < 1e-4
    config = ModelConfig(
        encoder_width=WIDTH, encoder_weights=out, primary_kernel=2, primary_types=2,
        decoder_channels=2, decoder_final_channels=2,
    )
    detector = build_detector(config=config, num_classes=2, input_shape=clip.shape[1:4])
    assert max(_max_abs(detector.encoder(clip), reference).values()) < 1e-4


def _tf_arrays(seed=1):
    """Random DeepMind-named variables (no BatchNorm gamma) for width 0.125, plus logits."""
    rng = np.random.default_rng(seed)
    arrays = {}

    def unit(scope, cin, cout, k):
        base = f"RGB/inception_i3d/{scope}"
        arrays[f"{base}/conv_3d/w"] = rng.normal(size=(k, k, k, cin, cout)) * (2 / (k**3 * cin)) ** 0.5
        arrays[f"{base}/batch_norm/beta"] = rng.normal(size=cout) * 0.1
        arrays[f"{base}/batch_norm/moving_mean"] = rng.normal(size=cout) * 0.1
        arrays[f"{base}/batch_norm/moving_variance"] = 0.5 + rng.uniform(size=cout)

    unit("Conv3d_1a_7x7", 3, ch(64), 7)
    unit("Conv3d_2b_1x1", ch(64), ch(64), 1)
    unit("Conv3d_2c_3x3", ch(64), ch(192), 3)
    cin = ch(192)
    for name in MIXED:
        out = [ch(c) for c in INCEPTION_FILTERS[name]]
        ins = (cin, cin, out[1], cin, out[3], cin)
        for branch, bin_, bout, k in zip(TF_BRANCHES, ins, out, (1, 1, 3, 1, 3, 1), strict=True):
            unit(f"{name}/{branch}", bin_, bout, k)
        cin = out[0] + out[2] + out[4] + out[5]
    arrays["RGB/inception_i3d/Logits/Conv3d_0c_1x1/conv_3d/w"] = rng.normal(size=(1, 1, 1, cin, 7))
    return {k: np.asarray(v, "float32") for k, v in arrays.items()}


def _tf_reference(arrays, clip):
    def unit(x, scope, strides=(1, 1, 1)):
        base = f"RGB/inception_i3d/{scope}"
        y = tf.nn.conv3d(x, arrays[f"{base}/conv_3d/w"], (1, *strides, 1), "SAME")
        y = (y - arrays[f"{base}/batch_norm/moving_mean"]) / np.sqrt(
            arrays[f"{base}/batch_norm/moving_variance"] + 1e-3
        ) + arrays[f"{base}/batch_norm/beta"]
        return tf.nn.relu(y)

    def pool(x, k, s):
        return tf.nn.max_pool3d(x, (1, *k, 1), (1, *s, 1), "SAME")

    out = {}
    x = out["Conv3d_1a_7x7"] = unit(clip, "Conv3d_1a_7x7", (2, 2, 2))
    x = unit(pool(x, (1, 3, 3), (1, 2, 2)), "Conv3d_2b_1x1")
    x = out["Conv3d_2c_3x3"] = unit(x, "Conv3d_2c_3x3", (2, 1, 1))
    x = pool(x, (1, 3, 3), (1, 2, 2))
    for name in MIXED:
        if name == "Mixed_4b":
            x = pool(x, (3, 3, 3), (2, 1, 1))
        b = [f"{name}/{branch}" for branch in TF_BRANCHES]
        x = tf.concat(
            [unit(x, b[0]), unit(unit(x, b[1]), b[2]), unit(unit(x, b[3]), b[4]),
             unit(pool(x, (3, 3, 3), (1, 1, 1)), b[5])], axis=-1,
        )
    out["Mixed_4f"] = x
    return {k: v.numpy() for k, v in out.items()}


def _save_tf_checkpoint(arrays, directory):
    directory.mkdir(parents=True, exist_ok=True)
    names = sorted(arrays)
    tf.raw_ops.SaveV2(
        prefix=str(directory / "model.ckpt"), tensor_names=names,
        shape_and_slices=[""] * len(names), tensors=[arrays[n] for n in names],
    )
    return directory


def test_deepmind_tf_checkpoint_parity(tmp_path):
    arrays = _tf_arrays()
    directory = _save_tf_checkpoint(arrays, tmp_path / "rgb_tiny")
    clip = np.random.default_rng(2).uniform(size=(1, 6, 36, 36, 3)).astype("float32")
    encoder = build_i3d_encoder(input_shape=clip.shape[1:], width=WIDTH)
    report = load_i3d_weights(encoder, directory)
    assert report.unused_keys == ["RGB/inception_i3d/Logits/Conv3d_0c_1x1/conv_3d/w"]
    errors = _max_abs(encoder(clip), _tf_reference(arrays, clip))
    assert max(errors.values()) < 1e-4, errors
    # No gamma in DeepMind's checkpoints: the scale is 1.
    unit = encoder.get_layer("i3d_encoder").unit_layers()["Mixed_3b/Branch_0/Conv3d_0a_1x1"]
    np.testing.assert_array_equal(ops.convert_to_numpy(unit.batch_norm.gamma), 1.0)


def test_tf_checkpoint_missing_key_and_wrong_shape(tmp_path):
    arrays = _tf_arrays()
    encoder = build_i3d_encoder(input_shape=(8, 32, 32, 3), width=WIDTH)
    missing = dict(arrays)
    del missing["RGB/inception_i3d/Mixed_4d/Branch_2/Conv3d_0b_3x3/batch_norm/beta"]
    with pytest.raises(CheckpointError, match="missing key RGB/inception_i3d/Mixed_4d/Branch_2/Conv3d_0b_3x3/batch_norm/beta"):
        load_i3d_weights(encoder, _save_tf_checkpoint(missing, tmp_path / "missing"))
    wrong = dict(arrays)
    wrong["RGB/inception_i3d/Conv3d_2b_1x1/conv_3d/w"] = np.zeros((1, 1, 1, 8, 9), "float32")
    with pytest.raises(CheckpointError, match=r"Conv3d_2b_1x1/conv_3d/w: shape \(1, 1, 1, 8, 9\)"):
        load_i3d_weights(encoder, _save_tf_checkpoint(wrong, tmp_path / "wrong"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no TensorFlow checkpoint"):
        load_i3d_weights(encoder, tmp_path / "empty")


def test_pt_missing_key_wrong_shape_and_failures_change_nothing(torch_source, tmp_path):
    path, _, _ = torch_source
    state = torch.load(path, weights_only=True)
    encoder = build_i3d_encoder(input_shape=(8, 32, 32, 3), width=WIDTH)
    before = [w.copy() for w in encoder.get_weights()]
    missing = {k: v for k, v in state.items() if k != "Mixed_4c.b2b.bn.running_var"}
    torch.save(missing, tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="missing key Mixed_4c.b2b.bn.running_var"):
        load_i3d_weights(encoder, tmp_path / "missing.pt")
    wrong = dict(state)
    wrong["Mixed_3b.b1b.conv3d.weight"] = torch.zeros(3, 3, 3, 3, 3)
    torch.save(wrong, tmp_path / "wrong.pt")
    with pytest.raises(CheckpointError, match=r"Mixed_3b.b1b.conv3d.weight: shape \(3, 3, 3, 3, 3\)"):
        load_i3d_weights(encoder, tmp_path / "wrong.pt")
    for old, new in zip(before, encoder.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


def test_files_that_are_not_checkpoints(tmp_path):
    encoder = build_i3d_encoder(input_shape=(8, 32, 32, 3), width=WIDTH)
    (tmp_path / "notes.pt").write_text("hello")
    with pytest.raises(CheckpointError, match="not a PyTorch state dict"):
        load_i3d_weights(encoder, tmp_path / "notes.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="expected a dict of tensors"):
        load_i3d_weights(encoder, tmp_path / "list.pt")
    (tmp_path / "model.ckpt").write_text("hello")
    with pytest.raises(CheckpointError, match="not a TensorFlow checkpoint"):
        load_i3d_weights(encoder, tmp_path / "model.ckpt")
    with pytest.raises(CheckpointError, match="not found"):
        load_i3d_weights(encoder, tmp_path / "absent.pt")


def test_missing_torch_names_the_extra(torch_source, monkeypatch):
    path, _, _ = torch_source
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(CheckpointError, match=r"pip install ssvad-keras\[torch\]"):
        load_i3d_weights(build_i3d_encoder(input_shape=(8, 32, 32, 3), width=WIDTH), path)


def test_cli_reports_bad_checkpoint_in_one_line(tmp_path):
    (tmp_path / "bad.pt").write_text("not torch")
    result = subprocess.run(
        [sys.executable, "-m", "ssvad_cli.main", "convert-weights", "i3d", str(tmp_path / "bad.pt"),
         "--out", str(tmp_path / "i3d.weights.h5")],
        capture_output=True, text=True,
    )
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "bad.pt: not a PyTorch state dict" in errors[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "i3d.weights.h5").exists()
