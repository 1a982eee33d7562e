"""Fixtures for the throwaway PostgreSQL and Kafka-protocol broker (Tansu).

`make test` (scripts/run-tests) starts both with `scripts/test-services start DIR` and
exports the variables from DIR/env:

    FIXEX_PG_DSN=postgresql://postgres@127.0.0.1:PORT/fixexchange
    FIXEX_KAFKA_BOOTSTRAP=127.0.0.1:PORT

Outside `make test` the variables are absent and every test that uses these fixtures is
skipped with a message saying how to get them. When a variable is set but its service is
down, the tests fail: that is a real failure, not a reason to skip.

tests/conftest.py imports this module with `from tests.conftest_services import *` (only
the fixtures in __all__ are exported); tests/services/conftest.py also loads it, so the
fixtures are there whichever way pytest was started (`pytest`, `python -m pytest`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

__all__ = ["pg_dsn", "kafka_bootstrap", "kafka_group_settings", "unique_name", "schema_dsn"]

PG_DSN_VAR = "FIXEX_PG_DSN"
KAFKA_BOOTSTRAP_VAR = "FIXEX_KAFKA_BOOTSTRAP"

_HOW = (
    "run `make test`, or start the services yourself: "
    "scripts/test-services start DIR && set -a && . DIR/env && set +a "
    "(and scripts/test-services stop DIR afterwards)"
)

# Consumer-group timeouts that Tansu rebalances with promptly (kafka-python names).
KAFKA_GROUP_SETTINGS = {
    "max_poll_interval_ms": 8000,
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 2000,
}


def _required_env(name: str, what: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        pytest.skip(f"{name} is not set, so there is no {what} to test against: {_HOW}")
    return value


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    """libpq URI of the throwaway PostgreSQL database `fixexchange` (user postgres, trust)."""
    return _required_env(PG_DSN_VAR, "throwaway PostgreSQL")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """host:port of the throwaway Kafka-protocol broker (Tansu, memory-only)."""
    return _required_env(KAFKA_BOOTSTRAP_VAR, "throwaway Kafka broker")


@pytest.fixture(scope="session")
def kafka_group_settings() -> dict[str, int]:
    """kafka-python consumer-group timeouts to pass to KafkaConsumer(**settings)."""
    return dict(KAFKA_GROUP_SETTINGS)


def make_unique_name(prefix: str) -> str:
    """A topic, group or table name no other test (or concurrent run) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def unique_name() -> Callable[[str], str]:
    """unique_name("audit") -> "audit-3f9c0a1b2d4e": a fresh topic/group/table name."""
    return make_unique_name


@pytest.fixture
def schema_dsn(pg_dsn: str, unique_name: Callable[[str], str]) -> Iterator[str]:
    """A libpq URI whose connections work in a fresh, empty schema (dropped afterwards)."""
    import psycopg

    schema = unique_name("t").replace("-", "_")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in pg_dsn else "?"
    yield f"{pg_dsn}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
