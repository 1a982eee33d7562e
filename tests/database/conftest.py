"""A connection to a schema of its own for each test (``schema_dsn``, in
tests/conftest_services.py), in the throwaway PostgreSQL of `make test`."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest


@pytest.fixture
def conn(schema_dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(schema_dsn) as c:
        yield c
