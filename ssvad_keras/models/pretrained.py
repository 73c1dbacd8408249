"""Pretrained detector parts made by this project (`ssvad pretrain`): save, check and load.

A pretrained file is HDF5 with one group per part (`encoder`, `primary_capsules`, `decoder`),
one dataset per variable in the part's variable order (attribute `path`: the variable's path when
saved), and file attributes `format` and `model` (the geometry it was made for, JSON). Only arrays
are read: nothing in the file is executed.

Loading checks the geometry first (a file made for another width is refused in one line), then
every variable's shape, before assigning anything, so a failed load leaves the model untouched.
Variables whose shape depends on the number of classes (the decoder's capsule-input kernel) are
left at their initialisation when the file was made for another class count, and reported.

The package ships `builtin:tiny` (`ssvad_keras/weights/tiny.weights.h5` and its JSON card), made
with the command recorded in its card (docs/pretraining.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import h5py
import numpy as np

from ssvad_keras.errors import ConfigError

FORMAT = "ssvad-pretrained-1"
PARTS = ("encoder", "primary_capsules", "decoder")
BUILTIN_PREFIX = "builtin:"
# The model geometry a file must match (besides the class count, which may differ).
GEOMETRY_KEYS = (
    "encoder_variant", "encoder_width", "primary_kernel", "primary_types", "pose_size",
    "decoder_channels", "decoder_final_channels",
)
_PART_ATTRS = {"encoder": "encoder", "primary_capsules": "primary_capsules", "decoder": "decoder"}


@dataclass
class LoadReport:
    """What `load_pretrained` assigned and what it left at initialisation."""

    path: Path
    parts: tuple[str, ...]
    loaded: int = 0
    skipped: list[str] = field(default_factory=list)


def builtin_weights_dir() -> Path:
    """The folder of the weights this package ships."""
    return Path(str(resources.files("ssvad_keras"))) / "weights"


def resolve_weights(value: str | Path | None) -> Path | None:
    """`model.encoder_weights` -> a file: None or "none" -> None; "builtin:NAME" -> the shipped
    `NAME.weights.h5`; anything else is a path.

    Raises:
        ConfigError: an unknown builtin name, or a file that does not exist.
    """
    if value is None or str(value) == "none":
        return None
    text = str(value)
    if text.startswith(BUILTIN_PREFIX):
        name = text[len(BUILTIN_PREFIX):]
        path = builtin_weights_dir() / f"{name}.weights.h5"
        if not path.is_file():
            known = sorted(p.name.removesuffix(".weights.h5") for p in builtin_weights_dir().glob("*.weights.h5"))
            raise ConfigError(
                f"model.encoder_weights: no builtin weights {name!r} (shipped: {', '.join(known) or 'none'})"
            )
        return path
    path = Path(text)
    if not path.is_file():
        raise ConfigError("model.encoder_weights: file not found", path)
    return path


def is_pretrained_file(path: str | Path) -> bool:
    """Whether `path` is a file written by `save_pretrained` (not a converted I3D file)."""
    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("format") == FORMAT
    except OSError:
        return False


def detector_geometry(detector) -> dict:
    """The geometry keys of `detector` plus its class count (what a pretrained file records)."""
    config = detector.get_config()
    geometry = {key: config[key] for key in GEOMETRY_KEYS}
    geometry["num_classes"] = int(detector.num_classes)
    return geometry


def save_pretrained(detector, path: str | Path, card: dict | None = None) -> None:
    """Write `detector`'s encoder, primary capsules and decoder to `path` (atomically)."""
    from ssvad_keras.io import atomic_path

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["model"] = json.dumps(detector_geometry(detector))
        f.attrs["card"] = json.dumps(card or {})
        for part in PARTS:
            group = f.create_group(part)
            for i, variable in enumerate(getattr(detector, _PART_ATTRS[part]).weights):
                data = group.create_dataset(f"{i:04d}", data=np.asarray(variable.numpy()))
                data.attrs["path"] = variable.path


def read_card(path: str | Path) -> dict:
    """The JSON card stored in a pretrained file."""
    with h5py.File(path, "r") as f:
        return json.loads(f.attrs.get("card", "{}"))


def _relative(variable_path: str) -> str:
    """A variable's path without the top model's name (detectors may be named differently)."""
    return variable_path.split("/", 1)[-1]


def load_pretrained(detector, path: str | Path, parts: tuple[str, ...] | list[str] = PARTS) -> LoadReport:
    """Assign the `parts` of the pretrained file `path` to `detector`.

    Raises:
        ConfigError: not a pretrained file, an unknown part, another geometry (e.g. width), or a
            variable whose shape differs for a reason other than the class count. Nothing is
            assigned then.
    """
    path = Path(path)
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ConfigError(f"model.pretrained_parts: unknown part(s) {unknown} (known: {', '.join(PARTS)})")
    if not is_pretrained_file(path):
        raise ConfigError("not a pretrained-weights file written by `ssvad pretrain`", path)
    report = LoadReport(path, tuple(parts))
    assignments = []
    with h5py.File(path, "r") as f:
        made_for = json.loads(f.attrs["model"])
        mine = detector_geometry(detector)
        for key in GEOMETRY_KEYS:
            if made_for.get(key) != mine[key]:
                raise ConfigError(
                    f"pretrained weights made for model.{key} = {made_for.get(key)!r}, the model has "
                    f"{mine[key]!r} (use a preset of the same width, or model.encoder_weights = \"none\")",
                    path,
                )
        other_classes = made_for.get("num_classes") != mine["num_classes"]
        for part in parts:
            variables = getattr(detector, _PART_ATTRS[part]).weights
            group = f[part]
            if len(group) != len(variables):
                raise ConfigError(
                    f"pretrained {part} has {len(group)} variables, the model {len(variables)}", path
                )
            for i, variable in enumerate(variables):
                value = group[f"{i:04d}"][()]
                saved_as = str(group[f"{i:04d}"].attrs.get("path", ""))
                if _relative(saved_as) != _relative(variable.path):
                    raise ConfigError(
                        f"pretrained {part} variable {i} is {saved_as!r}, the model's is "
                        f"{variable.path!r} (another layer layout)", path,
                    )
                if tuple(value.shape) == tuple(variable.shape):
                    assignments.append((variable, value))
                elif other_classes:
                    report.skipped.append(variable.path)
                else:
                    raise ConfigError(
                        f"pretrained {part} variable {i} has shape {value.shape}, the model's "
                        f"{variable.path} {tuple(variable.shape)}", path,
                    )
    for variable, value in assignments:
        variable.assign(value)
    report.loaded = len(assignments)
    return report


def load_initial_weights(detector, model_config) -> LoadReport | None:
    """Load `model_config.encoder_weights` into a fresh `detector`, whatever the file is.

    A file written by `ssvad pretrain` (or `builtin:NAME`) loads `model_config.pretrained_parts`;
    any other file is read as converted I3D weights into the encoder (`load_i3d_weights`).
    Returns the report of a pretrained file, None otherwise.
    """
    path = resolve_weights(model_config.encoder_weights)
    if path is None:
        return None
    if is_pretrained_file(path):
        return load_pretrained(detector, path, tuple(model_config.pretrained_parts))
    from ssvad_keras.models.i3d_weights import load_i3d_weights

    load_i3d_weights(detector.encoder, path)
    return None



def load_part(layer, path: str | Path, part: str = "encoder") -> int:
    """Assign one part of a pretrained file to `layer` (e.g. the VOS model's I3D encoder), checking
    the variable count, paths and shapes before assigning anything; returns the variables set.

    Raises:
        ConfigError: not a pretrained file, or a part that does not match `layer`.
    """
    path = Path(path)
    if not is_pretrained_file(path):
        raise ConfigError("not a pretrained-weights file written by `ssvad pretrain`", path)
    with h5py.File(path, "r") as f:
        group = f[part]
        if len(group) != len(layer.weights):
            raise ConfigError(f"pretrained {part} has {len(group)} variables, the model {len(layer.weights)}", path)
        values = []
        for i, variable in enumerate(layer.weights):
            data = group[f"{i:04d}"]
            saved_as = str(data.attrs.get("path", ""))
            if _relative(saved_as) != _relative(variable.path) and saved_as.split("/")[-2:] != variable.path.split("/")[-2:]:
                raise ConfigError(f"pretrained {part} variable {i} is {saved_as!r}, the model's is {variable.path!r}", path)
            if tuple(data.shape) != tuple(variable.shape):
                raise ConfigError(
                    f"pretrained {part} variable {i} has shape {data.shape}, the model's {tuple(variable.shape)}", path
                )
            values.append(data[()])
    for variable, value in zip(layer.weights, values, strict=True):
        variable.assign(value)
    return len(values)
