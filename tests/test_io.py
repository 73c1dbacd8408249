"""Shared I/O helpers: atomic outputs, the restricted unpickler, local-path checks."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from ssvad_keras.errors import DataError
from ssvad_keras.io import (
    atomic_path,
    check_local_path,
    load_pickle_restricted,
    tensorflow_io_problem,
)


def test_atomic_path_leaves_nothing_on_failure_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_atomic_directory_replaces_only_when_complete(tmp_path):
    target = tmp_path / "shards"
    with atomic_path(target, directory=True) as tmp:
        (tmp / "a").write_text("1")
    assert (target / "a").read_text() == "1"
    with pytest.raises(ValueError), atomic_path(target, directory=True) as tmp:
        (tmp / "b").write_text("2")
        raise ValueError
    assert sorted(p.name for p in target.iterdir()) == ["a"]


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_restricted_unpickler_reads_arrays_and_refuses_code(tmp_path):
    good = tmp_path / "good.pkl"
    good.write_bytes(pickle.dumps({"labels": ["a"], "boxes": np.arange(4.0)}, protocol=2))
    data = load_pickle_restricted(good)
    np.testing.assert_array_equal(data["boxes"], np.arange(4.0))
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(pickle.dumps(_Exploit()))
    with pytest.raises(DataError, match="refusing to construct"):
        load_pickle_restricted(bad)


def test_remote_paths_get_one_clear_line():
    with pytest.raises(DataError, match=r"s3://bucket/data: the data directory must be a local path"):
        check_local_path("s3://bucket/data", "the data directory")
    assert check_local_path("data/x").name == "x"
    assert tensorflow_io_problem() is None  # not installed here: nothing to warn about
