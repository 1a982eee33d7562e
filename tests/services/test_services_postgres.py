"""The throwaway PostgreSQL started by scripts/test-services works (psycopg 3, no mocks)."""

from __future__ import annotations

import psycopg
import pytest

pytestmark = pytest.mark.services

CONNECT_TIMEOUT_S = 5


def test_postgres_accepts_a_connection_to_the_fixexchange_database(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn, connect_timeout=CONNECT_TIMEOUT_S) as conn:
        row = conn.execute("SELECT current_database(), current_user, 1 + 1").fetchone()
    assert row == ("fixexchange", "postgres", 2)


def test_postgres_round_trips_a_row_through_a_temp_table(pg_dsn: str) -> None:
    price = 1_234_500  # fixed point, 4 decimals: 123.45
    with psycopg.connect(pg_dsn, connect_timeout=CONNECT_TIMEOUT_S) as conn:
        conn.execute(
            "CREATE TEMP TABLE orders_probe (cl_ord_id text PRIMARY KEY, symbol text NOT NULL,"
            " price bigint NOT NULL, qty bigint NOT NULL)"
        )
        conn.execute(
            "INSERT INTO orders_probe (cl_ord_id, symbol, price, qty) VALUES (%s, %s, %s, %s)",
            ("ord-1", "ACME", price, 100),
        )
        rows = conn.execute(
            "SELECT cl_ord_id, symbol, price, qty FROM orders_probe WHERE cl_ord_id = %s",
            ("ord-1",),
        ).fetchall()
    assert rows == [("ord-1", "ACME", price, 100)]
