"""database.partitions: daily partitions made ahead of time, rows routed by trade
date, whole partitions dropped after the retention. Real PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from database.migrate import migrate
from database.partitions import PARTITIONED, drop_before, ensure_partitions, partitions

pytestmark = pytest.mark.services

DAY = dt.date(2026, 12, 1)


def trade(conn, day: dt.date, trade_id: int) -> None:
    conn.execute("INSERT INTO trades VALUES (%s, %s, 1, now(), 'AAPL', 1900000, 10, 1, "
                 "'CONTINUOUS', 1, 'A', 2, 'B')", (day, trade_id))


def test_each_partitioned_table_gets_a_partition_a_day(conn) -> None:
    migrate(conn)
    created = ensure_partitions(conn, DAY, 3)
    assert len(created) == 3 * len(PARTITIONED)
    assert sorted(set(partitions(conn).values())) == [DAY + dt.timedelta(days=i)
                                                       for i in range(3)]


def test_partitions_made_again_are_left_as_they_are(conn) -> None:
    migrate(conn)
    ensure_partitions(conn, DAY, 2)
    assert ensure_partitions(conn, DAY, 3) == [f"{t}_20261203" for t in PARTITIONED]


def test_a_row_goes_to_the_partition_of_its_trade_date(conn) -> None:
    migrate(conn)
    ensure_partitions(conn, DAY, 2)
    trade(conn, DAY, 1)
    trade(conn, DAY + dt.timedelta(days=1), 2)
    rows = conn.execute("SELECT trade_id, tableoid::regclass::text FROM trades "
                        "ORDER BY trade_id").fetchall()
    assert rows == [(1, "trades_20261201"), (2, "trades_20261202")]


def test_retention_drops_whole_partitions_before_the_cutoff(conn) -> None:
    migrate(conn)
    ensure_partitions(conn, DAY, 3)
    trade(conn, DAY, 1)
    trade(conn, DAY + dt.timedelta(days=2), 2)
    dropped = drop_before(conn, DAY + dt.timedelta(days=2))
    assert sorted(dropped) == sorted(f"{t}_{d}" for t in PARTITIONED
                                     for d in ("20261201", "20261202"))
    assert conn.execute("SELECT trade_id FROM trades").fetchall() == [(2,)]
