"""The PostgreSQL writer: a durable consumer of the event stream.

Each batch of entries becomes its rows (``database.rows``, pure) and is written in one
transaction together with the writer's checkpoint, the seq of the batch's last entry.
A crash at any point therefore leaves the database either with the whole batch and
its checkpoint or with neither, and the feed resumes after the checkpoint: no row is
lost or written twice. Event, trade and settlement rows are copied in (COPY); order
rows are copied into a temporary table and upserted from there (an order's row is
its last state); accounts and positions move by the batch's settlement totals.

PostgreSQL down or slow costs the order path nothing: the feed
(``venue.stream.DurableFeed``) retries from ``checkpoint`` with backoff, which
reconnects, and the event log holds what the writer has not written.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

import msgspec

from database.migrate import migrate
from database.partitions import RETENTION_DAYS, drop_before, ensure_partitions
from database.rows import CLOSED, OrderRow, Rows, moment, rows_of
from venue.config import ExchangeConfig
from venue.stream import Entry

log = logging.getLogger("consumers.database")

CHECKPOINT_NAME = "postgres"
_ORDER_COLUMNS = OrderRow.__struct_fields__
_UPDATED_ON_CONFLICT = ("session", "cl_ord_id", "price", "stop_px", "order_qty", "leaves_qty",
                        "cum_qty", "avg_px", "ord_status", "updated_seq", "updated_at")


class Instrument(msgspec.Struct, array_like=True):
    symbol: str
    tick_size: int
    lot_size: int
    reference_price: int
    sector: str


class Account(msgspec.Struct, array_like=True):
    account: str
    firm: str
    cash: int
    positions: dict[str, int]


class Seed(msgspec.Struct):
    """The instruments and the accounts' starting balances, from ``exchange.toml``:
    written once (an account already in the database keeps its balances)."""

    instruments: list[Instrument]
    accounts: list[Account]

    @classmethod
    def of(cls, config: ExchangeConfig) -> Seed:
        instruments = [Instrument(i.symbol, i.tick_size, i.lot_size, i.reference_price,
                                  i.sector) for i in config.instruments.values()]
        accounts = []
        for firm in config.firms.values():
            for name in firm.accounts:
                start = config.accounts.get(name)
                accounts.append(Account(name, firm.name, start.cash if start else 0,
                                        dict(start.positions) if start else {}))
        return cls(instruments, accounts)


class DatabaseWriter:
    """Writes the exchange's history to PostgreSQL (``[postgres]``)."""

    name = "postgres"

    def __init__(self, dsn: str, seed: Seed, retention_days: int = RETENTION_DAYS,
                 ) -> None:
        self.dsn = dsn
        self.seed = seed
        self.retention_days = retention_days
        self._conn: Any = None
        self._dates: dict[int, dt.date] = {}   # open orders -> the trade date of their row
        self._days: set[dt.date] = set()       # days whose partitions exist
        self._retention_checked: dt.date | None = None
        self.last_ts = 0                       # the timestamp of the last entry written (ns)
        self.rows_written = 0

    # -- DurableConsumer ------------------------------------------------------------

    def checkpoint(self) -> int:
        """Connect (again), migrate, seed, and read back what the writer needs: its
        checkpoint and the trade dates of the orders still open."""
        self.close()
        conn = self._open()
        migrate(conn)
        self._seed(conn)
        with conn.transaction():
            row = conn.execute("SELECT seq FROM writer_checkpoint WHERE name = %s",
                               (CHECKPOINT_NAME,)).fetchone()
            self._dates = dict(conn.execute(
                "SELECT order_id, trade_date FROM orders WHERE ord_status <> ALL(%s)",
                (list(CLOSED),)).fetchall())
        self._days = set()
        self._conn = conn
        return int(row[0]) if row is not None else 0

    def on_batch(self, entries: Sequence[Entry]) -> None:
        if self._conn is None:
            raise ConnectionError("no connection to PostgreSQL (reconnecting)")
        conn = self._conn
        dates = dict(self._dates)    # kept only if the batch commits
        rows = rows_of(entries, dates)
        days = _days_of(rows)
        with conn.transaction():
            for day in sorted(days - self._days):
                ensure_partitions(conn, day)
            _write(conn, rows)
            conn.execute("INSERT INTO writer_checkpoint (name, seq) VALUES (%s, %s) "
                         "ON CONFLICT (name) DO UPDATE SET seq = excluded.seq",
                         (CHECKPOINT_NAME, entries[-1].seq))
        self._dates = dates
        self._days |= days
        self.last_ts = entries[-1].ts
        self.rows_written += (len(rows.orders) + len(rows.events) + len(rows.trades)
                              + len(rows.settlements))
        self._keep_retention(moment(entries[-1].ts).date())

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    # -- helpers --------------------------------------------------------------------

    def _open(self) -> Any:
        import psycopg  # here: an exchange without a database never imports it

        return psycopg.connect(self.dsn, autocommit=True, application_name="fixserver")

    def _seed(self, conn: Any) -> None:
        with conn.transaction():
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO instruments (symbol, tick_size, lot_size, reference_price, "
                    "sector) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (symbol) DO UPDATE SET "
                    "tick_size = excluded.tick_size, lot_size = excluded.lot_size, "
                    "reference_price = excluded.reference_price, sector = excluded.sector",
                    [(i.symbol, i.tick_size, i.lot_size, i.reference_price, i.sector)
                     for i in self.seed.instruments])
                known = {r[0] for r in conn.execute("SELECT account FROM accounts")}
                fresh = [a for a in self.seed.accounts if a.account not in known]
                cur.executemany("INSERT INTO accounts (account, firm, cash) VALUES (%s, %s, %s)",
                                [(a.account, a.firm, a.cash) for a in fresh])
                cur.executemany(
                    "INSERT INTO positions (account, symbol, quantity) VALUES (%s, %s, %s) "
                    "ON CONFLICT DO NOTHING",
                    [(a.account, s, q) for a in fresh for s, q in a.positions.items()])

    def _keep_retention(self, today: dt.date) -> None:
        """Drop the partitions past the retention, once a trading day."""
        if self._retention_checked == today:
            return
        self._retention_checked = today
        cutoff = today - dt.timedelta(days=self.retention_days)
        dropped = drop_before(self._conn, cutoff)
        if dropped:
            self._days = {d for d in self._days if d >= cutoff}
            log.info("postgres: dropped %d partitions older than %d days (%s .. %s)",
                     len(dropped), self.retention_days, dropped[0], dropped[-1])


def _days_of(rows: Rows) -> set[dt.date]:
    days = {o.trade_date for o in rows.orders.values()}
    days.update(e.trade_date for e in rows.events)
    days.update(t.trade_date for t in rows.trades)
    days.update(s.trade_date for s in rows.settlements)
    return days


def _copy(cur: Any, table: str, rows: Sequence[msgspec.Struct]) -> None:
    if not rows:
        return
    columns = type(rows[0]).__struct_fields__
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(msgspec.structs.astuple(row))


def _write(conn: Any, rows: Rows) -> None:
    with conn.cursor() as cur:
        if rows.orders:
            cur.execute("CREATE TEMP TABLE IF NOT EXISTS orders_batch (LIKE orders) "
                        "ON COMMIT DELETE ROWS")
            _copy(cur, "orders_batch", list(rows.orders.values()))
            columns = ", ".join(_ORDER_COLUMNS)
            updates = ", ".join(f"{c} = excluded.{c}" for c in _UPDATED_ON_CONFLICT)
            cur.execute(f"INSERT INTO orders ({columns}) SELECT {columns} FROM orders_batch "
                        f"ON CONFLICT (trade_date, order_id) DO UPDATE SET {updates}")
        _copy(cur, "order_events", rows.events)
        _copy(cur, "trades", rows.trades)
        _copy(cur, "settlements", rows.settlements)
        if rows.settlements:
            _move_balances(cur, rows)


def _move_balances(cur: Any, rows: Rows) -> None:
    cash: Counter[str] = Counter()
    held: Counter[tuple[str, str]] = Counter()
    seq = rows.settlements[-1].seq
    for s in rows.settlements:
        cash[s.account] += s.cash_delta
        held[(s.account, s.symbol)] += s.quantity_delta
    # An account missing from exchange.toml (there is none today) still gets a row.
    cur.executemany(
        "INSERT INTO accounts (account, firm, cash, updated_seq) VALUES (%s, '', %s, %s) "
        "ON CONFLICT (account) DO UPDATE SET cash = accounts.cash + excluded.cash, "
        "updated_seq = excluded.updated_seq",
        [(a, delta, seq) for a, delta in sorted(cash.items())])
    cur.executemany(
        "INSERT INTO positions (account, symbol, quantity, updated_seq) "
        "VALUES (%s, %s, %s, %s) ON CONFLICT (account, symbol) DO UPDATE SET "
        "quantity = positions.quantity + excluded.quantity, "
        "updated_seq = excluded.updated_seq",
        [(a, s, delta, seq) for (a, s), delta in sorted(held.items())])
