"""Makes the service fixtures (tests/conftest_services.py) available to these tests.

tests/conftest.py imports them as `tests.conftest_services`, which only works when the
repository root is on sys.path (`python -m pytest` from the root, as scripts/run-tests
does). Plain `pytest` puts tests/ there instead, so fall back to that, then to the file.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def _load_services_module() -> ModuleType:
    for name in ("tests.conftest_services", "conftest_services"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    path = Path(__file__).resolve().parent.parent / "conftest_services.py"
    spec = importlib.util.spec_from_file_location("conftest_services", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["conftest_services"] = module
    spec.loader.exec_module(module)
    return module


_services = _load_services_module()
pg_dsn = _services.pg_dsn
kafka_bootstrap = _services.kafka_bootstrap
kafka_group_settings = _services.kafka_group_settings
unique_name = _services.unique_name
