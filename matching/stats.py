"""An instrument's statistics of the trading day: open, high, low, last, volume,
close.

Pure functions of the trades, the close and the end of the day, shared by the two
that keep them: order entry (in the core's state, so they survive a restart) and
market data, which follows them from the event stream and must agree exactly.
"""

from __future__ import annotations

import msgspec


class DayStats(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """One instrument's day; prices 0 where there is none yet. ``close`` is the last
    closing price (the day's last trade when the instrument closed, or when the day
    ended), kept into the next day as the previous close."""

    open: int = 0
    high: int = 0
    low: int = 0
    last: int = 0
    volume: int = 0
    trades: int = 0
    close: int = 0


def traded(stats: DayStats, price: int, qty: int) -> DayStats:
    """After a trade of ``qty`` at ``price``."""
    if not stats.trades:
        return DayStats(price, price, price, price, qty, 1, stats.close)
    return DayStats(stats.open, max(stats.high, price), min(stats.low, price), price,
                    stats.volume + qty, stats.trades + 1, stats.close)


def closed(stats: DayStats) -> DayStats:
    """The instrument closed: the day's last trade, if any, is its closing price."""
    return msgspec.structs.replace(stats, close=stats.last) if stats.trades else stats


def new_day(stats: DayStats) -> DayStats:
    """The day ended: only the close carries over."""
    return DayStats(last=stats.last, close=closed(stats).close)
