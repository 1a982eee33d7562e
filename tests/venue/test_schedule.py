"""The trading day's schedule (venue.schedule, exchange.toml ``[schedule]``): which
phase an instrument is in at each time of day, and the exchange moving its
instruments there on its timer, journaled, with the operator's halts respected.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from pathlib import Path

import pytest

from matching.constants import (
    BUY,
    CLOSED,
    CLOSING_AUCTION,
    CONTINUOUS,
    HALTED,
    OPENING_AUCTION,
    PRE_OPEN,
    SELL,
)
from venue.admin import handle
from venue.commands import TradingPhase
from venue.config import ExchangeConfigError, load_exchange_config
from venue.schedule import ScheduleError, parse_schedule

from .support import SHIPPED_EXCHANGE_TOML, px
from .test_exchange_recovery import B1, B2, Running, journaled, new

DAY = {"pre_open": "07:00:00", "opening_auction": "07:50:00", "continuous": "08:00:00",
       "closing_auction": "16:25:00", "closed": "16:30:00"}
MONDAY = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def at(hhmmss: str) -> int:
    """Monday at that UTC time, in ns."""
    t = dt.time.fromisoformat(hhmmss)
    return int(MONDAY.replace(hour=t.hour, minute=t.minute, second=t.second).timestamp()
               ) * 10**9


def scheduled(tmp_path: Path, symbols: tuple[str, ...] = ("AAPL",)) -> Running:
    config = dataclasses.replace(load_exchange_config(SHIPPED_EXCHANGE_TOML), fsync=False,
                                 schedules={s: parse_schedule(DAY, "test") for s in symbols})
    return Running(tmp_path, config)


def tick(r: Running, hhmmss: str) -> None:
    r.exchange.on_timer(at(hhmmss))
    r.exchange.flush()


def phase(r: Running, symbol: str = "AAPL") -> int:
    return r.exchange.engine.books[symbol].phase


# -- the schedule itself -----------------------------------------------------------------

@pytest.mark.parametrize(("moment", "expected"), [
    ("00:00:00", CLOSED), ("06:59:59", CLOSED), ("07:00:00", PRE_OPEN),
    ("07:55:00", OPENING_AUCTION), ("08:00:00", CONTINUOUS), ("16:24:59", CONTINUOUS),
    ("16:25:00", CLOSING_AUCTION), ("16:30:00", CLOSED), ("23:59:59", CLOSED)])
def test_the_phase_at_a_time_is_that_of_the_last_step_before_it(moment: str, expected: int
                                                                ) -> None:
    assert parse_schedule(DAY, "t").phase_at_ns(at(moment)) == expected


@pytest.mark.parametrize(("table", "error"), [
    ({}, "a schedule is a table"),
    ({"halted": "12:00:00"}, "unknown phase 'halted'"),
    ({"lunch": "12:00:00"}, "unknown phase 'lunch'"),
    ({"continuous": "8am"}, "continuous must be a time HH:MM:SS"),
    ({"continuous": "08:00:00", "closed": "08:00:00"}, "two phases start at the same time"),
])
def test_a_bad_schedule_is_refused_naming_the_problem(table: dict, error: str) -> None:
    with pytest.raises(ScheduleError, match=error):
        parse_schedule(table, "t")


def test_exchange_toml_schedule_applies_to_every_instrument_unless_it_has_its_own(
        tmp_path: Path) -> None:
    text = SHIPPED_EXCHANGE_TOML.read_text().replace(
        "[[instruments]]\nsymbol = \"MSFT\"",
        "[[instruments]]\nsymbol = \"MSFT\"\nschedule = { continuous = \"09:30:00\", "
        "closed = \"16:00:00\" }", 1)
    text += "\n[schedule]\ncontinuous = \"08:00:00\"\nclosed = \"16:30:00\"\n"
    path = tmp_path / "exchange.toml"
    path.write_text(text)
    cfg = load_exchange_config(path)
    assert set(cfg.schedules) == set(cfg.instruments)
    assert cfg.schedules["MSFT"].phase_at_ns(at("09:00:00")) == CLOSED
    assert cfg.schedules["AAPL"].phase_at_ns(at("09:00:00")) == CONTINUOUS


def test_a_bad_schedule_in_exchange_toml_names_the_file_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "exchange.toml"
    path.write_text(SHIPPED_EXCHANGE_TOML.read_text() + "\n[schedule]\nlunch = \"12:00:00\"\n")
    with pytest.raises(ExchangeConfigError, match=r"exchange.toml: \[schedule\]: unknown phase"):
        load_exchange_config(path)


def test_without_a_schedule_instruments_trade_continuously_all_day(tmp_path: Path) -> None:
    r = Running(tmp_path)
    tick(r, "03:00:00")
    assert phase(r) == CONTINUOUS
    assert r.exchange.config.schedules == {}


# -- the exchange following it -------------------------------------------------------------

def test_the_timer_moves_a_scheduled_instrument_through_its_day(tmp_path: Path) -> None:
    r = scheduled(tmp_path)
    seen = []
    for moment in ("06:00:00", "07:00:01", "07:50:01", "08:00:01", "16:25:01", "16:30:01"):
        tick(r, moment)
        seen.append(phase(r))
    assert seen == [CLOSED, PRE_OPEN, OPENING_AUCTION, CONTINUOUS, CLOSING_AUCTION, CLOSED]
    assert phase(r, "MSFT") == CONTINUOUS          # not scheduled


def test_each_move_is_journaled_once(tmp_path: Path) -> None:
    r = scheduled(tmp_path)
    for _ in range(3):
        r.exchange.on_timer(at("07:00:01"))        # before the flush: submitted once
    r.exchange.flush()
    tick(r, "07:00:02")
    moves = [e.command for e in journaled(r.exchange.journal_path)
             if type(e.command) is TradingPhase]
    assert moves == [TradingPhase("AAPL", PRE_OPEN)]


def test_the_opening_uncross_fills_the_orders_of_the_call(tmp_path: Path) -> None:
    r = scheduled(tmp_path)
    tick(r, "07:00:01")
    r.run([new(B1, "b", BUY, 100, px("190.00")), new(B2, "s", SELL, 40, px("189.00"))])
    assert r.exchange.engine.next_trade_id == 1            # no trade in the call
    tick(r, "08:00:01")
    assert r.exchange.engine.next_trade_id == 2            # one uncross trade
    assert phase(r) == CONTINUOUS


def test_a_restart_at_any_time_finds_the_scheduled_phase(tmp_path: Path) -> None:
    r = scheduled(tmp_path)
    tick(r, "08:00:01")
    r.close()
    again = scheduled(tmp_path)
    assert phase(again) == CONTINUOUS                      # replayed from the journal
    tick(again, "16:40:00")                                # the close it was down for
    assert phase(again) == CLOSED


def test_a_halted_instrument_stays_halted_whatever_the_schedule_says(tmp_path: Path) -> None:
    r = scheduled(tmp_path)
    tick(r, "08:00:01")
    json.loads(handle(r.exchange, "halt AAPL"))
    tick(r, "16:25:01")
    assert phase(r) == HALTED


def test_resume_returns_a_scheduled_instrument_to_its_phase_of_the_moment(
        tmp_path: Path) -> None:
    r = scheduled(tmp_path)
    r.exchange.on_timer(time.time_ns())
    r.exchange.flush()
    assert json.loads(handle(r.exchange, "halt AAPL"))["ok"]
    now = r.exchange.scheduled_phase("AAPL", time.time_ns())   # the admin reads the clock
    assert json.loads(handle(r.exchange, "resume AAPL"))["ok"]
    assert phase(r) == now != HALTED


def test_the_operator_cannot_set_a_phase_the_schedule_decides(tmp_path: Path) -> None:
    r = scheduled(tmp_path)
    reply = json.loads(handle(r.exchange, "phase AAPL closed"))
    assert reply["ok"] is False and "follow the schedule" in reply["error"]
    assert json.loads(handle(r.exchange, "phase MSFT closed"))["ok"] is True
