"""A connection to a schema of its own for each test (``schema_dsn``, in
tests/conftest_services.py), in the throwaway PostgreSQL of `make test`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def conn(schema_dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(schema_dsn) as c:
        yield c


def fixserver_db(*args: str) -> subprocess.CompletedProcess[str]:
    """``fixserver db ARGS`` in a subprocess, as a user runs it."""
    return subprocess.run([sys.executable, "-c", "import sys; from server.cli import main; "
                           "sys.exit(main(sys.argv[1:]))", "db", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
