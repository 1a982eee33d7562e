"""consumers.database.DatabaseWriter against the throwaway PostgreSQL: the scripted
trading day (tests/venue/stream_kit) gives exactly its rows, the balances equal the
risk ledger's, and a writer that starts again, or whose batch fails, writes every
row once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import msgspec
import psycopg
import pytest

from consumers.database import DatabaseWriter, Seed
from database.partitions import partitions
from database.rows import moment, rows_of
from tests.database.conftest import fixserver_db
from tests.venue.stream_kit import run, server, trading_day
from tests.venue.support import SHIPPED_EXCHANGE_TOML
from venue.config import load_exchange_config
from venue.stream import Entry

DAY_NS = 86_400 * 10**9
TABLES = ("orders", "order_events", "trades", "settlements")


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Entry], dict]:
    srv = server(tmp_path_factory.mktemp("writer"))
    run(srv, trading_day())
    assert srv.event_log is not None and srv.exchange is not None
    entries = srv.event_log.read_after(0, 10**6)
    risk = srv.exchange.risk
    balances = {a: (risk.account(a).cash, dict(risk.account(a).positions))
                for a in risk.accounts()}
    srv.close()
    return entries, balances


def writer(dsn: str) -> DatabaseWriter:
    return DatabaseWriter(dsn, Seed.of(load_exchange_config(SHIPPED_EXCHANGE_TOML)))


def feed(w: DatabaseWriter, entries: Sequence[Entry], batch: int = 7) -> None:
    """What ``DurableFeed`` does: from the checkpoint on, a batch at a time."""
    done = w.checkpoint()
    todo = [e for e in entries if e.seq > done]
    for i in range(0, len(todo), batch):
        w.on_batch(todo[i:i + batch])


def counts(conn: psycopg.Connection) -> dict[str, int]:
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def expected_counts(entries: Sequence[Entry]) -> dict[str, int]:
    return rows_of(entries, {}).counts()


def written(day: tuple[list[Entry], dict], dsn: str) -> list[Entry]:
    """The whole day written by a writer that is then closed; its entries."""
    entries, _ = day
    w = writer(dsn)
    feed(w, entries)
    w.close()
    return entries


def test_the_trading_day_gives_exactly_its_rows(day, schema_dsn: str,
                                                conn: psycopg.Connection) -> None:
    entries = written(day, schema_dsn)
    assert counts(conn) == expected_counts(entries)
    last = conn.execute("SELECT seq FROM writer_checkpoint").fetchone()[0]
    assert last == entries[-1].seq
    trades = conn.execute("SELECT trade_id, symbol, price, quantity FROM trades "
                          "ORDER BY trade_id").fetchall()
    assert [(t, s, q) for t, s, _, q in trades] == [
        (1, "AAPL", 100), (2, "AAPL", 20), (3, "AAPL", 30), (4, "AAPL", 60)]


def test_accounts_and_positions_equal_the_risk_ledgers_balances(
        day, schema_dsn: str, conn: psycopg.Connection) -> None:
    written(day, schema_dsn)
    _, balances = day
    cash = dict(conn.execute("SELECT account, cash FROM accounts").fetchall())
    held = {(a, s): q for a, s, q in
            conn.execute("SELECT account, symbol, quantity FROM positions").fetchall()}
    for account, (ledger_cash, ledger_positions) in balances.items():
        assert cash[account] == ledger_cash, account
        for symbol, qty in ledger_positions.items():
            assert held.get((account, symbol), 0) == qty, (account, symbol)


def test_settlement_movements_of_an_account_sum_to_its_cash_change(
        day, schema_dsn: str, conn: psycopg.Connection) -> None:
    written(day, schema_dsn)
    _, balances = day
    start = {a.account: a.cash for a in writer(schema_dsn).seed.accounts}
    moved = dict(conn.execute(
        "SELECT account, sum(cash_delta) FROM settlements GROUP BY account").fetchall())
    assert moved, "the day settles trades"
    for account, delta in moved.items():
        assert start[account] + delta == balances[account][0], account


def test_a_writer_started_again_resumes_after_its_checkpoint(
        day, schema_dsn: str, conn: psycopg.Connection) -> None:
    entries, balances = day
    half = len(entries) // 2
    first = writer(schema_dsn)
    feed(first, entries[:half])
    first.close()
    second = writer(schema_dsn)
    assert second.checkpoint() == entries[half - 1].seq
    feed(second, entries)
    second.close()
    assert counts(conn) == expected_counts(entries)
    cash = dict(conn.execute("SELECT account, cash FROM accounts").fetchall())
    assert {a: cash[a] for a in balances} == {a: c for a, (c, _) in balances.items()}


def test_a_batch_whose_connection_dies_before_commit_writes_nothing(
        day, schema_dsn: str, conn: psycopg.Connection) -> None:
    entries, balances = day
    w = writer(schema_dsn)
    feed(w, entries[:5])
    # The server end of the writer's connection goes away in the middle of a batch.
    pid = w._conn.info.backend_pid
    conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    conn.commit()
    with pytest.raises(psycopg.OperationalError):
        w.on_batch(entries[5:12])
    assert conn.execute("SELECT seq FROM writer_checkpoint").fetchone()[0] == entries[4].seq
    feed(w, entries)      # as the feed does after a failure: checkpoint (reconnects), go on
    w.close()
    assert counts(conn) == expected_counts(entries)


def test_a_day_boundary_writes_into_the_next_days_partition(
        day, schema_dsn: str, conn: psycopg.Connection) -> None:
    entries, _ = day
    moved = [msgspec.structs.replace(e, ts=e.ts + (DAY_NS if i >= 10 else 0))
             for i, e in enumerate(entries)]
    w = writer(schema_dsn)
    feed(w, moved)
    w.close()
    first = dt.datetime.fromtimestamp(entries[0].ts / 1e9, dt.UTC).date()
    per_day = dict(conn.execute(
        "SELECT trade_date, count(*) FROM order_events GROUP BY trade_date").fetchall())
    assert set(per_day) == {first, first + dt.timedelta(days=1)}
    names = partitions(conn)
    assert f"order_events_{first + dt.timedelta(days=1):%Y%m%d}" in names


def test_retention_drops_the_partitions_of_days_past_it(
        day, schema_dsn: str, conn: psycopg.Connection) -> None:
    entries, _ = day
    w = DatabaseWriter(schema_dsn, Seed.of(load_exchange_config(SHIPPED_EXCHANGE_TOML)),
                       retention_days=3)
    old = [msgspec.structs.replace(e, ts=e.ts - 10 * DAY_NS) for e in entries[:5]]
    feed(w, old)
    old_day = dt.datetime.fromtimestamp(old[0].ts / 1e9, dt.UTC).date()
    assert f"orders_{old_day:%Y%m%d}" in partitions(conn)
    w.on_batch(entries[5:])     # ten days later: the old day is past the three days kept
    w.close()
    assert not [n for n, d in partitions(conn).items() if d == old_day]
    assert counts(conn)["trades"] == expected_counts(entries[5:])["trades"]


def test_a_database_that_cannot_be_reached_fails_the_checkpoint_for_the_feed_to_retry(
        ) -> None:
    w = writer("postgresql://127.0.0.1:1/nothing?connect_timeout=2")
    with pytest.raises(psycopg.OperationalError):
        w.checkpoint()
    with pytest.raises(ConnectionError):
        w.on_batch([])


def show(*argv: str) -> tuple[int, str, str]:
    out = fixserver_db(*argv)
    return out.returncode, out.stdout, out.stderr


def test_fixserver_db_trades_prints_an_accounts_trades_as_a_table(day, schema_dsn: str
                                                                   ) -> None:
    entries = written(day, schema_dsn)
    since = moment(entries[0].ts).date().isoformat()
    code, out, err = show("trades", "--dsn", schema_dsn, "--since", since, "--symbol", "AAPL")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["date", "trade", "executed", "(UTC)"]
    assert [line.split()[1] for line in lines[2:-1]] == ["1", "2", "3", "4"]
    assert lines[-1] == "4 trades"
    code, out, _ = show("trades", "--dsn", schema_dsn, "--since", since, "--symbol", "MSFT")
    assert (code, out.strip()) == (0, f"no trades from {since} on")


def test_fixserver_db_orders_filters_by_account(day, schema_dsn: str,
                                                conn: psycopg.Connection) -> None:
    entries = written(day, schema_dsn)
    since = moment(entries[0].ts).date().isoformat()
    account = conn.execute("SELECT account FROM orders LIMIT 1").fetchone()[0]
    n = conn.execute("SELECT count(*) FROM orders WHERE account = %s", (account,)).fetchone()[0]
    code, out, err = show("orders", "--dsn", schema_dsn, "--since", since, "--account", account)
    assert code == 0, err
    rows = out.splitlines()[2:-1]
    assert len(rows) == n and all(line.split()[4] == account for line in rows)


def test_fixserver_db_orders_names_a_bad_date_and_a_database_without_the_schema(
        schema_dsn: str) -> None:
    code, _, err = show("orders", "--dsn", schema_dsn, "--since", "yesterday")
    assert code == 2 and "not a date (YYYY-MM-DD): 'yesterday'" in err
    code, _, err = show("orders", "--dsn", schema_dsn)
    assert code == 2 and "has no exchange schema yet" in err


def test_the_readmes_example_queries_run_against_the_schema(day, schema_dsn: str,
                                                            conn: psycopg.Connection) -> None:
    written(day, schema_dsn)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("## The history database", 1)[1].split("```sql\n", 1)[1]
    statements = [q for q in block.split("```", 1)[0].split(";") if q.strip()]
    assert len(statements) == 3
    for sql in statements:
        conn.execute(sql).fetchall()     # every column and table it names exists
