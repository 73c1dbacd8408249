"""Start-up without TensorFlow: the package, the pure-NumPy evaluation modules and `ssvad --help`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# Run in a fresh interpreter (this one has TensorFlow loaded) and report what got imported.
PROBE = """
import json, os, sys
{statement}
print(json.dumps({{"tensorflow": "tensorflow" in sys.modules, "keras": "keras" in sys.modules,
                   "env": {{k: os.environ.get(k) for k in ("KERAS_BACKEND", "TF_CPU_ALLOCATOR_USE_BFC")}}}}))
"""
HELP = """
sys.argv = ["ssvad", "--help"]
from ssvad_cli.main import main
try:
    main()
except SystemExit as exit:
    assert exit.code == 0, exit.code
"""


def _probe(statement: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "TF_CPU_ALLOCATOR_USE_BFC")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(statement=statement)],
        capture_output=True, text=True, check=True, env=env,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "statement",
    [
        "import ssvad_keras",
        "import ssvad_keras.evaluation.act",
        "import ssvad_keras.evaluation.paper",
        "import ssvad_keras.evaluation.vos",
        "import ssvad_keras.config",
        "from ssvad_keras.data import read_manifest",
        HELP,
    ],
    ids=["package", "act", "paper", "vos", "config", "manifest", "ssvad --help"],
)
def test_starts_without_tensorflow(statement):
    found = _probe(statement)
    assert not found["tensorflow"] and not found["keras"]


def test_package_import_sets_no_environment_and_tensorflow_users_get_the_defaults():
    assert _probe("import ssvad_keras")["env"] == {"KERAS_BACKEND": None, "TF_CPU_ALLOCATOR_USE_BFC": None}
    found = _probe("import ssvad_keras.layers")
    assert found["tensorflow"] and found["keras"]
    assert found["env"] == {"KERAS_BACKEND": "tensorflow", "TF_CPU_ALLOCATOR_USE_BFC": "true"}
