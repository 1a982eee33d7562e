"""The tape: the most recent trades, for the operator's page and the admin API.

An in-process consumer of the event stream that keeps the last ``keep`` trades of
the whole exchange in a ring; nothing else is retained (the history is in
PostgreSQL and the audit trail).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import msgspec

from matching.constants import SIDE_NAMES
from matching.events import Trade
from venue.stream import Entry


class Print(msgspec.Struct, frozen=True):
    """One trade as the tape shows it (fixed-point price and quantity)."""

    seq: int
    ts: int                 # the command's time, ns since the epoch
    trade_id: int
    symbol: str
    price: int
    qty: int
    aggressor: str          # BUY or SELL: the side that took liquidity
    auction: bool


class Tape:
    """The last ``keep`` trades, newest last."""

    def __init__(self, keep: int = 1000) -> None:
        self.prints: deque[Print] = deque(maxlen=keep)

    def on_batch(self, entries: Sequence[Entry]) -> None:
        for entry in entries:
            for event in entry.events:
                if type(event) is Trade:
                    self.prints.append(Print(
                        entry.seq, entry.ts, event.trade_id, event.symbol, event.last_px,
                        event.last_qty, SIDE_NAMES[event.aggressor_side],
                        event.auction))

    def recent(self, limit: int, symbol: str = "") -> list[Print]:
        """The newest ``limit`` trades (of ``symbol``, or all), newest first."""
        out: list[Print] = []
        if limit <= 0:
            return out
        for p in reversed(self.prints):
            if not symbol or p.symbol == symbol:
                out.append(p)
                if len(out) >= limit:
                    break
        return out
