"""database.rows: the rows of the scripted trading day (tests/venue/stream_kit), checked
against the exchange that made them. Pure: no database."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import msgspec
import pytest

from database.rows import Rows, rows_of
from tests.venue.stream_kit import run, server, trading_day
from tests.venue.support import SHIPPED_EXCHANGE_TOML
from venue.config import load_exchange_config

DAY_NS = 86_400 * 10**9


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Rows, dict]:
    srv = server(tmp_path_factory.mktemp("rows"))
    run(srv, trading_day())
    assert srv.event_log is not None and srv.exchange is not None
    entries = srv.event_log.read_after(0, 10**6)
    risk = srv.exchange.risk
    balances = {a: risk.account(a) for a in risk.accounts()}
    srv.close()
    dates: dict[int, dt.date] = {}
    rows = rows_of(entries[:10], dates)       # two batches, as a writer would get them
    more = rows_of(entries[10:], dates)
    rows.orders.update(more.orders)
    rows.events += more.events
    rows.trades += more.trades
    rows.settlements += more.settlements
    return rows, balances


def test_every_trade_is_one_row_with_both_sides(day) -> None:
    rows, _ = day
    assert [(t.trade_id, t.symbol, t.quantity) for t in rows.trades] == [
        (1, "AAPL", 100), (2, "AAPL", 20), (3, "AAPL", 30), (4, "AAPL", 60)]
    assert all(t.buy_account and t.sell_account and t.phase == "CONTINUOUS"
               for t in rows.trades)


def test_settlement_movements_add_up_to_each_accounts_cash_and_positions(day) -> None:
    rows, balances = day
    config = load_exchange_config(SHIPPED_EXCHANGE_TOML)
    cash, held = Counter(), Counter()
    for s in rows.settlements:
        cash[s.account] += s.cash_delta
        held[(s.account, s.symbol)] += s.quantity_delta
    for account, view in balances.items():
        start = config.accounts.get(account)
        assert (start.cash if start else 0) + cash[account] == view.cash, account
        for symbol, qty in view.positions.items():
            begin = start.positions.get(symbol, 0) if start else 0
            assert begin + held[(account, symbol)] == qty, (account, symbol)


def test_each_order_has_one_row_in_its_last_state(day) -> None:
    rows, _ = day
    statuses = {o.cl_ord_id: o.ord_status for o in rows.orders.values()}
    # An order is known by its current ClOrdID: a cancel or replace gives it a new one.
    assert statuses["s1"] == "2" and statuses["b1c"] == "4" and statuses["m1r2"] == "0"
    assert len(rows.orders) == len({o.order_id for o in rows.orders.values()})


def test_order_events_are_numbered_within_their_seq(day) -> None:
    rows, _ = day
    keys = [(e.seq, e.n) for e in rows.events]
    assert len(keys) == len(set(keys)) and keys == sorted(keys)
    assert Counter(e.event_type for e in rows.events)["FILLED"] == 2 * len(rows.trades)


def test_an_order_keeps_the_trade_date_it_was_accepted_on(tmp_path: Path) -> None:
    srv = server(tmp_path)
    day = trading_day()
    run(srv, day[:5])                    # m1 (GTC) accepted on the first day
    assert srv.event_log is not None
    first = srv.event_log.read_after(0, 10**6)
    run(srv, day[5:7])                   # replaced twice, the next day
    later = [msgspec.structs.replace(e, ts=e.ts + DAY_NS)
             for e in srv.event_log.read_after(first[-1].seq, 10**6)]
    srv.close()
    dates: dict[int, dt.date] = {}
    accepted = rows_of(first, dates)
    replaced = rows_of(later, dates)
    (m1,) = [o for o in accepted.orders.values() if o.cl_ord_id == "m1"]
    assert replaced.orders[m1.order_id].cl_ord_id == "m1r2"
    assert replaced.orders[m1.order_id].trade_date == m1.trade_date
    assert {e.trade_date for e in replaced.events} == {m1.trade_date + dt.timedelta(days=1)}


@pytest.mark.services
def test_the_rows_of_a_day_fit_the_schema(day, conn) -> None:
    from database.migrate import migrate
    from database.partitions import ensure_partitions
    rows, _ = day
    migrate(conn)
    ensure_partitions(conn, next(iter(rows.orders.values())).trade_date, 1)
    for table, items in (("orders", list(rows.orders.values())), ("order_events", rows.events),
                         ("trades", rows.trades), ("settlements", rows.settlements)):
        fields = type(items[0]).__struct_fields__
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {table} ({', '.join(fields)}) VALUES "
                            f"({', '.join(['%s'] * len(fields))})",
                            [msgspec.structs.astuple(r) for r in items])
    counts = [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("orders", "order_events", "trades", "settlements")]
    assert counts == [len(rows.orders), len(rows.events), len(rows.trades),
                      len(rows.settlements)]
