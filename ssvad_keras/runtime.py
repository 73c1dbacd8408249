"""TensorFlow's process settings, applied where TensorFlow is first needed, not at `import ssvad_keras`.

`import ssvad_keras`, `ssvad --help` and the pure-NumPy evaluation modules
(`ssvad_keras.evaluation.paper`, `.act`, `.vos`) never import TensorFlow. The subpackages that
compute with it (`data`' pipeline, `layers`, `losses`, `models`, `training`, `inference`,
`vos`), the converters in `tfrecords_tools` and the CLI commands call `import_tensorflow()`
before their first TensorFlow or Keras import, so the defaults below are in place whichever of
them comes first.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

# Defaults only (`setdefault`): a value the user exported wins.
ENVIRONMENT_DEFAULTS = {
    # Keras reads the backend once, at import; the training step and export are written for
    # TensorFlow, while layers and losses use only `keras.ops`.
    "KERAS_BACKEND": "tensorflow",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    # TensorFlow's BFC allocator makes the large per-batch tensors of video clips about twice
    # as fast to create on CPU as the system allocator (bench/bench_pipeline.py). Read when
    # TensorFlow creates its CPU allocator, so it must be set before TensorFlow is imported.
    "TF_CPU_ALLOCATOR_USE_BFC": "true",
}


def configure_environment() -> None:
    """Set `ENVIRONMENT_DEFAULTS` for variables the user has not set (before Keras/TensorFlow load)."""
    for name, value in ENVIRONMENT_DEFAULTS.items():
        os.environ.setdefault(name, value)


def import_tensorflow() -> ModuleType:
    """Apply the environment defaults, then import TensorFlow with file descriptor 2 silenced.

    TensorFlow's C++ runtime logs CUDA probing and CPU-feature notices before its log level can
    apply (absl "before InitializeLog"); they would precede every command's output. Python
    exceptions still propagate; set SSVAD_TF_LOGS=1 to see the native messages. Cheap once
    TensorFlow is loaded.

    Returns:
        The `tensorflow` module.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    configure_environment()
    if os.environ.get("SSVAD_TF_LOGS"):
        import tensorflow

        return tensorflow
    try:
        saved = os.dup(2)
    except OSError:
        import tensorflow

        return tensorflow
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stderr.flush()
        os.dup2(devnull, 2)
        import tensorflow

        tensorflow.config.list_physical_devices()  # device probing logs (cuInit) go quiet too
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return tensorflow


def software_environment() -> dict[str, str | int]:
    """The versions a run's numbers depend on: training is deterministic on a CPU for one set of
    them, and a different TensorFlow or Keras release moves the numbers (docs/experiments.md).
    Imports TensorFlow and Keras (`import_tensorflow`)."""
    import platform

    import numpy

    tensorflow = import_tensorflow()
    import keras

    from ssvad_keras import __version__

    return {
        "ssvad_keras": __version__,
        "tensorflow": tensorflow.__version__,
        "keras": keras.version(),
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count() or 0,
    }


def lazy_exports(
    package: str, exports: dict[str, tuple[str, ...]], tensorflow_modules: tuple[str, ...] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """Module `__getattr__`, `__dir__` and `__all__` that import a package's names on first use.

    A package whose modules are partly pure Python (and needed without TensorFlow, as
    `ssvad_keras.data.schema` is by the CLI's `--help`) exports its names this way instead of
    importing every module in its `__init__`.

    Args:
        package: the package's `__name__`.
        exports: module name inside the package -> the names it exports.
        tensorflow_modules: the modules that load TensorFlow; `import_tensorflow()` runs
            before them.

    Returns:
        `(__getattr__, __dir__, __all__)` for the package's `__init__`.

    Example:

        __getattr__, __dir__, __all__ = lazy_exports(__name__, {"manifest": ("read_manifest",)})
    """
    owners = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = owners.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if module in tensorflow_modules:
            import_tensorflow()
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(owners) | set(vars(sys.modules[package])))

    return __getattr__, __dir__, sorted(owners)
