"""Time-driven commands: GTD expiry and end of day go through the journal like any
other command (Exchange.on_timer submits them), and replaces may omit TimeInForce."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from matching.constants import BUY, GTC, GTD
from venue.commands import CancelOnDisconnect, ExpireGTDOrders
from venue.config import load_exchange_config

from .support import SHIPPED_EXCHANGE_TOML, px
from .test_exchange_recovery import B1, T0, Running, journaled, new, replace

SECOND = 1_000_000_000


def exec_reports(running: Running, cl_ord_id: str) -> list[bytes]:
    return [m[150] for m in running.sent(B1)
            if m.get(35) == b"8" and m.get(11) == cl_ord_id.encode()]


def test_a_gtd_order_expires_once_its_expire_time_has_passed(tmp_path: Path) -> None:
    r = Running(tmp_path)
    r.run([new(B1, "g1", BUY, 10, px("189.00"), tif=GTD, expire_time=T0 + 60 * SECOND)])
    r.exchange.on_timer(T0 + 59 * SECOND)
    r.exchange.flush()
    assert exec_reports(r, "g1") == [b"0"]
    r.exchange.on_timer(T0 + 61 * SECOND)
    r.exchange.flush()
    assert exec_reports(r, "g1") == [b"0", b"C"]


def test_gtd_expiry_is_journaled_so_a_restart_does_not_resurrect_the_order(
        tmp_path: Path) -> None:
    r = Running(tmp_path)
    r.run([new(B1, "g1", BUY, 10, px("189.00"), tif=GTD, expire_time=T0 + 60 * SECOND)])
    r.exchange.on_timer(T0 + 61 * SECOND)
    r.exchange.flush()
    r.close()
    again = Running(tmp_path)
    assert again.exchange.engine.orders == {}
    assert type(journaled(again.exchange.journal_path)[-1].command) is ExpireGTDOrders


def test_end_of_day_expires_day_orders_and_keeps_gtc_orders(tmp_path: Path) -> None:
    day_start = int(dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC).timestamp()) * SECOND
    config = dataclasses.replace(load_exchange_config(SHIPPED_EXCHANGE_TOML), fsync=False,
                                 end_of_day=dt.time(21, 0))
    r = Running(tmp_path, config)
    r.run([new(B1, "d1", BUY, 10, px("189.00")),
           new(B1, "c1", BUY, 10, px("188.00"), tif=GTC)])
    r.exchange.on_timer(day_start)             # before the end of day: nothing
    r.exchange.flush()
    r.exchange.on_timer(day_start + 12 * 3600 * SECOND + SECOND)   # 21:00:01
    r.exchange.flush()
    r.exchange.on_timer(day_start + 12 * 3600 * SECOND + 2 * SECOND)  # once a day only
    r.exchange.flush()
    assert exec_reports(r, "d1") == [b"0", b"C"]
    assert exec_reports(r, "c1") == [b"0"]


def test_a_start_after_the_end_of_day_does_not_expire_at_once(tmp_path: Path) -> None:
    late = int(dt.datetime(2026, 1, 5, 22, 0, tzinfo=dt.UTC).timestamp()) * SECOND
    config = dataclasses.replace(load_exchange_config(SHIPPED_EXCHANGE_TOML), fsync=False,
                                 end_of_day=dt.time(21, 0))
    r = Running(tmp_path, config)
    r.run([new(B1, "d1", BUY, 10, px("189.00"))])
    r.exchange.on_timer(late)
    r.exchange.flush()
    assert exec_reports(r, "d1") == [b"0"]


def test_a_replace_without_time_in_force_keeps_the_orders(tmp_path: Path) -> None:
    r = Running(tmp_path)
    r.run([new(B1, "c1", BUY, 10, px("188.00"), tif=GTC)],
          [replace(B1, "c2", "c1", 5, px("188.00"), tif=-1)])
    assert exec_reports(r, "c2") == [b"5"]
    view = r.exchange.order_entry.view(B1, "c2")
    assert view is not None and view.tif == GTC


def test_cancel_on_disconnect_says_so_in_the_text(tmp_path: Path) -> None:
    r = Running(tmp_path)
    r.run([new(B1, "o1", BUY, 10, px("189.00"))], [CancelOnDisconnect(B1)])
    cancels = [m for m in r.sent(B1) if m.get(150) == b"4"]
    assert [m[58] for m in cancels] == [b"cancelled on disconnect"]
