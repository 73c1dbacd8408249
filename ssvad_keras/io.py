"""File-system helpers: atomic outputs and a restricted unpickler.

Outputs are written to a temporary sibling path and renamed into place only when complete, so a
failed or interrupted command never leaves a partial file or folder behind.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ssvad_keras.errors import DataError


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to `target`; move it onto `target` when the block succeeds.

    Args:
        target: final file or folder path.
        directory: create the temporary path as a folder (for multi-file outputs).

    An existing `target` is replaced only after the new one is complete. On any exception the
    temporary path is removed and `target` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}.tmp-"
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=prefix, dir=target.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        # mkstemp/mkdtemp create private paths; give the result the permissions of a normal file.
        umask = os.umask(0)
        os.umask(umask)
        if tmp.exists():
            os.chmod(tmp, (0o777 if tmp.is_dir() else 0o666) & ~umask)
        if target.is_dir() and not target.is_symlink():
            backup = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, backup)
            os.replace(tmp, target)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | os.PathLike, payload: Any) -> None:
    """Write `payload` as indented JSON to `path`, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a missing or malformed file raises `DataError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"invalid JSON ({err})", path) from None


# Globals an annotation pickle may construct: NumPy arrays and scalars, nothing executable.
_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("copy_reg", "_reconstructor"),
    ("copyreg", "_reconstructor"),
    ("__builtin__", "object"),
    ("builtins", "object"),
    ("collections", "OrderedDict"),
    # Python 3 writes bytes (NumPy array buffers) at protocol 2 as _codecs.encode(text, "latin1").
    ("_codecs", "encode"),
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that builds only plain containers, strings, numbers and NumPy arrays."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to construct {module}.{name}")


def load_pickle_restricted(path: str | os.PathLike) -> Any:
    """Load an annotation pickle (Python 2 or 3) without executing anything it names.

    Raises:
        DataError: the file is missing, is not a pickle, or names a class or function other than
            NumPy array reconstruction.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("annotation file not found", path)
    data = path.read_bytes()
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as err:
        raise DataError(f"unsafe or invalid pickle: {err}", path) from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as err:
        raise DataError(f"not a readable pickle ({type(err).__name__}: {err})", path) from None


def tensorflow_io_problem() -> str | None:
    """One line describing why an installed tensorflow-io cannot be used, or None.

    tensorflow-io is optional (the `s3` extra) and only provides remote file systems. Its last
    release (0.37.1) loads only with TensorFlow 2.17; with newer TensorFlow its ops fail with
    undefined symbols. None when it is not installed or loads fine.
    """
    import importlib.util

    if importlib.util.find_spec("tensorflow_io") is None:
        return None
    try:
        import tensorflow_io  # noqa: F401
        import tensorflow_io.python.ops  # noqa: F401  (loads the native op library)
    except Exception as err:  # any failure to load the native library
        import tensorflow as tf

        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return (
            f"tensorflow-io is installed but cannot load with TensorFlow {tf.__version__} "
            f"({first[:160]}); remote file systems such as s3:// are unavailable, local files "
            "work. Install the matching pair with: pip install 'ssvad-keras[s3]'"
        )
    return None


def check_local_path(path: str | os.PathLike, what: str = "path") -> Path:
    """A local path, or a one-line error for a remote URL (s3://, gs://, hdfs://).

    Datasets and runs are read and written through the local file system; remote storage needs
    a mount (e.g. s3fs) or a local copy.
    """
    text = str(path)
    if "://" in text:
        scheme = text.split("://", 1)[0]
        problem = tensorflow_io_problem() if scheme == "s3" else None
        hint = f" ({problem})" if problem else ""
        raise DataError(
            f"{what} must be a local path; {scheme}:// storage is not read directly: mount it or "
            f"copy it locally{hint}",
            text,
        )
    return Path(path)
