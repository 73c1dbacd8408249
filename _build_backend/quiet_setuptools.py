"""The package's PEP 517 build backend: setuptools' own, without its "Editable installation" note.

`pip install -e .` of a project whose folders are installed under other names (`cli/` as
`ssvad_cli`, `configs/` as `ssvad_configs`; see `[tool.setuptools]` in pyproject.toml) is served
by setuptools' import-hook ("meta path finder") strategy, and setuptools then emits an
`InformationOnly` warning ("Editable installation. Please be careful with folders in your
working directory with the same name as your package...") on every editable install. It says
nothing about this project that needs acting on, so only that one note is filtered here; every
other setuptools warning (a package left out of `packages`, a deprecated option) still shows.
"""

import warnings

from setuptools.build_meta import *  # noqa: F403 (the PEP 517 hooks, unchanged)
from setuptools.build_meta import __all__  # noqa: F401
from setuptools.warnings import InformationOnly

warnings.filterwarnings("ignore", message=r"Editable installation\.", category=InformationOnly)
