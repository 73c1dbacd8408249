"""pyproject.toml declares every folder that ships, so installs are quiet and complete."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Installed package -> folder in the repository (`[tool.setuptools] package-dir`).
ROOTS = {"ssvad_keras": "ssvad_keras", "tfrecords_tools": "tfrecords_tools"}


def _shipped_folders(package_dir: dict[str, str]) -> set[str]:
    """Every folder under the package roots that holds a file (a module, a config file or package
    data such as the shipped weights), by its installed dotted name."""
    names = set()
    for package, folder in {**ROOTS, **package_dir}.items():
        base = ROOT / folder
        for path in [base, *base.rglob("*")]:
            if not path.is_dir() or "__pycache__" in path.parts or path.name.endswith(".egg-info"):
                continue
            if any(child.is_file() for child in path.iterdir()):
                names.add(".".join([package, *path.relative_to(base).parts]))
    return names


def test_every_folder_that_ships_files_is_a_declared_package():
    # A folder missing from `packages` makes setuptools print a screen of "Package would be
    # ignored" warnings and leaves it out of a non-editable install.
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(setuptools["packages"]) == _shipped_folders(setuptools["package-dir"])
    assert setuptools["package-data"]["*"] == ["*.toml"]  # config files ship wherever they are
    # The pretrained weights ship with their own (data-only) package.
    assert setuptools["package-data"]["ssvad_keras.weights"] == ["*.weights.h5", "*.json"]
