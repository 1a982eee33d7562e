"""The statistics of the day in market data: market data follows them from the event
stream with the same functions (matching.stats) that order entry keeps them with in
the core's state, and must agree with it after any trading day.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.marketdata import MarketData
from marketdata.book import engine_levels
from matching.constants import BUY, CLOSED, SELL
from matching.stats import DayStats, closed, new_day, traded
from tests.venue.support import px
from tests.venue.test_snapshot_recovery import B1, B2, _commands, exchange, new, run
from venue.commands import Command, EndTradingDay, TradingPhase


def followed(ex_dir: Path, commands: list[Command]) -> tuple[dict, dict]:
    """(order entry's statistics, market data's) after ``commands``."""
    ex = exchange(ex_dir)
    md = MarketData(ex.config.instruments)
    md.load(engine_levels(ex.engine), ex.last_seq, None, ex.order_entry.stats)
    ex.publish = md.on_batch
    run(ex, commands)
    return ({s: v for s, v in ex.order_entry.stats.items()},
            {s: v for s, v in md.stats.items() if s in ex.order_entry.stats or v != DayStats()})


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commands=st.lists(_commands, min_size=1, max_size=40))
def test_market_data_keeps_the_statistics_order_entry_keeps(
        tmp_path_factory: pytest.TempPathFactory, commands: list[Command]) -> None:
    core, market = followed(tmp_path_factory.mktemp("stats"), commands)
    assert market == core


def test_trades_make_the_open_high_low_and_volume(tmp_path: Path) -> None:
    core, _ = followed(tmp_path, [
        new(B1, "s1", SELL, 100, px("190.10")), new(B1, "s2", SELL, 100, px("190.00")),
        new(B2, "b1", BUY, 60, px("190.00")), new(B2, "b2", BUY, 100, px("190.10"))])
    assert core["AAPL"] == DayStats(open=px("190.00"), high=px("190.10"), low=px("190.00"),
                                    last=px("190.10"), volume=160, trades=3)


def test_closing_makes_the_last_trade_the_close_and_the_day_end_keeps_only_it(
        tmp_path: Path) -> None:
    core, _ = followed(tmp_path, [
        new(B1, "s1", SELL, 100, px("190.00")), new(B2, "b1", BUY, 60, px("190.00")),
        TradingPhase("AAPL", CLOSED), EndTradingDay()])
    assert core["AAPL"] == DayStats(last=px("190.00"), close=px("190.00"))


def test_the_pure_functions_compose_as_a_day() -> None:
    day = traded(traded(DayStats(close=5), 10, 1), 8, 2)
    assert (day.open, day.high, day.low, day.last, day.volume, day.close) == (10, 10, 8, 8, 3, 5)
    assert closed(day).close == 8
    assert new_day(day) == DayStats(last=8, close=8)
    assert closed(DayStats(close=5)) == DayStats(close=5)      # no trade: no new close
