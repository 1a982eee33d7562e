"""The daily partitions of the history tables: created ahead of time, dropped whole
after the retention (seven years by default).

A partition of ``orders`` for 2026-12-02 is ``orders_20261202``, holding the rows whose
``trade_date`` is that day. Rows of a day without its partition would fail to insert,
so the writer creates today's and the next days' before it writes.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

PARTITIONED = ("orders", "order_events", "trades", "settlements")
DAYS_AHEAD = 7
RETENTION_DAYS = 7 * 366
_SUFFIX = re.compile(r"_(\d{8})")


def partition_name(table: str, day: dt.date) -> str:
    return f"{table}_{day:%Y%m%d}"


def ensure_partitions(conn: Any, first: dt.date, days: int = DAYS_AHEAD) -> list[str]:
    """The partitions of ``days`` days from ``first`` on, of every partitioned table,
    created unless they exist; the names of those it created."""
    created = []
    with conn.transaction():
        existing = set(partitions(conn))
        for offset in range(days):
            day = first + dt.timedelta(days=offset)
            for table in PARTITIONED:
                name = partition_name(table, day)
                if name in existing:
                    continue
                conn.execute(f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table} "
                             f"FOR VALUES FROM ('{day.isoformat()}') TO "
                             f"('{(day + dt.timedelta(days=1)).isoformat()}')")
                created.append(name)
    return created


def partitions(conn: Any) -> dict[str, dt.date]:
    """Every daily partition of the partitioned tables (in the search path) and its day."""
    rows = conn.execute(
        "SELECT child.relname, parent.relname FROM pg_inherits "
        "JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
        "JOIN pg_class parent ON parent.oid = pg_inherits.inhparent "
        "JOIN pg_namespace ns ON ns.oid = child.relnamespace "
        "WHERE parent.relname = ANY(%s) AND ns.nspname = current_schema()",
        (list(PARTITIONED),)).fetchall()
    out = {}
    for child, parent in rows:
        m = _SUFFIX.fullmatch(child[len(parent):])
        if m is not None:
            out[child] = dt.datetime.strptime(m[1], "%Y%m%d").date()
    return out


def drop_before(conn: Any, cutoff: dt.date) -> list[str]:
    """Drop the partitions of days before ``cutoff`` (whole: no row-by-row delete); the
    names of those dropped."""
    dropped = []
    with conn.transaction():
        for name, day in sorted(partitions(conn).items()):
            if day < cutoff:
                conn.execute(f"DROP TABLE {name}")
                dropped.append(name)
    return dropped
