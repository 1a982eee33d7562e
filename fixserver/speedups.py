"""The C accelerator (``fixserver/_speedups.c``), or None: when it was not built (no
C compiler at install time) or ``FIXSERVER_PURE_PYTHON`` is set. The modules that use
it keep their Python code as the reference and the fallback."""

from __future__ import annotations

import os
from typing import Any

# Set (to anything) in the environment, the C accelerator is not used.
PURE_PYTHON_ENV = "FIXSERVER_PURE_PYTHON"


def _load() -> Any:
    if os.environ.get(PURE_PYTHON_ENV):
        return None
    try:
        from . import _speedups
    except ImportError:
        return None
    return _speedups


accelerator: Any = _load()
