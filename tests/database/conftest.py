"""A schema of its own for each test, in the throwaway PostgreSQL of `make test`."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest


@pytest.fixture
def schema_dsn(pg_dsn: str, unique_name: Callable[[str], str]) -> Iterator[str]:
    """A libpq URI whose connections work in a fresh, empty schema (dropped afterwards)."""
    schema = unique_name("t").replace("-", "_")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in pg_dsn else "?"
    yield f"{pg_dsn}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def conn(schema_dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(schema_dsn) as c:
        yield c
