"""The C accelerators (``fixserver/_speedups.c``, ``venue/_report_writer.c``), or None:
when they were not built (no C compiler at install time) or ``FIXSERVER_PURE_PYTHON``
is set. The modules that use them keep their Python code as the reference and the
fallback."""

from __future__ import annotations

import importlib
import os
from typing import Any

# Set (to anything) in the environment, the C accelerator is not used.
PURE_PYTHON_ENV = "FIXSERVER_PURE_PYTHON"


def load(name: str) -> Any:
    """The compiled module ``name`` (``fixserver._speedups``, ``venue._report_writer``),
    or None."""
    if os.environ.get(PURE_PYTHON_ENV):
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


accelerator: Any = load("fixserver._speedups")
