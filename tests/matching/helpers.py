"""Shared helpers for the matching tests: a small exchange and event filters."""

from __future__ import annotations

from typing import Any

from matching.book import Book
from matching.commands import Cancel, NewOrder, Replace
from matching.constants import BUY, CONTINUOUS, LIMIT, SELL
from matching.engine import Engine
from matching.events import (
    ACCEPTED,
    BOOK_CHANGED,
    CANCEL_REJECTED,
    CANCELLED,
    EXPIRED,
    REJECTED,
    REPLACED,
    RESTATED,
    TRADE,
    TRIGGERED,
    decode,
)
from matching.instruments import Instrument

SYM = "ACME"
TICK = 100          # 0.01
REF = 100_000       # 10.00


def px(ticks: int) -> int:
    """A price ``ticks`` ticks above 10.00 (negative: below)."""
    return REF + ticks * TICK


def make_engine(*, phase: int = CONTINUOUS, lot: int = 1, **kwargs: Any) -> Engine:
    return Engine([Instrument(SYM, TICK, lot, REF)], phase=phase, **kwargs)


class Exchange:
    """An engine plus the last command's events, with readable shortcuts."""

    def __init__(self, engine: Engine | None = None, **kwargs: Any) -> None:
        self.engine = engine if engine is not None else make_engine(**kwargs)
        self.events: list[tuple] = []
        self.ts = 1_000

    def do(self, command: tuple, ts: int | None = None) -> list[tuple]:
        self.ts = self.ts + 1 if ts is None else ts
        self.events = self.engine.process(command, self.ts)
        return self.events

    def order(self, side: int, qty: int, price: int = 0, *, symbol: str = SYM,
              ord_type: int = LIMIT, session: str = "S1", account: str = "",
              cl_ord_id: str = "", **kwargs: Any) -> int:
        """Send a NewOrder; returns its oid (0 if it was rejected)."""
        events = self.do(NewOrder(symbol=symbol, side=side, qty=qty, price=price,
                                  ord_type=ord_type, session=session, account=account,
                                  cl_ord_id=cl_ord_id, **kwargs))
        accepted = of_kind(events, ACCEPTED)
        return accepted[0].oid if accepted else 0

    def buy(self, qty: int, price: int = 0, **kwargs: Any) -> int:
        return self.order(BUY, qty, price, **kwargs)

    def sell(self, qty: int, price: int = 0, **kwargs: Any) -> int:
        return self.order(SELL, qty, price, **kwargs)

    def cancel(self, oid: int, session: str = "S1", cl_ord_id: str = "") -> list[tuple]:
        return self.do(Cancel(oid=oid, session=session, cl_ord_id=cl_ord_id))

    def replace(self, oid: int, qty: int, price: int, session: str = "S1",
                cl_ord_id: str = "", stop_price: int = 0) -> list[tuple]:
        return self.do(Replace(oid=oid, session=session, cl_ord_id=cl_ord_id, qty=qty,
                               price=price, stop_price=stop_price))

    @property
    def book(self) -> Book:
        return self.engine.books[SYM]

    def queue(self, side: int, price: int) -> list[int]:
        """Oids at one level, in priority order."""
        level = self.book.side(side).levels.get(price)
        return [] if level is None else [o.oid for o in level.live_orders()]

    def depth(self, side: int) -> list[tuple[int, int, int]]:
        return self.engine.depth(SYM, side)

    def trades(self) -> list[tuple]:
        return of_kind(self.events, TRADE)

    def fills(self) -> list[tuple[int, int, int, int]]:
        """(aggressor oid, resting oid, price, qty) of the last command's trades."""
        return [(t.aggressor_oid, t.resting_oid, t.price, t.qty) for t in self.trades()]

    def kinds(self) -> list[int]:
        return [e[0] for e in self.events]


def of_kind(events: list[tuple], kind: int) -> list[Any]:
    """The events of one kind, decoded to their NamedTuple view."""
    return [decode(e) for e in events if e[0] == kind]


def reasons(events: list[tuple]) -> list[str]:
    """Reason codes of the rejects, cancels, expiries and restatements, in order."""
    return [decode(e).reason for e in events
            if e[0] in (REJECTED, CANCEL_REJECTED, CANCELLED, EXPIRED, RESTATED)]


__all__ = [
    "ACCEPTED", "BOOK_CHANGED", "CANCELLED", "CANCEL_REJECTED", "EXPIRED", "Exchange", "REF",
    "REJECTED", "REPLACED", "RESTATED", "SYM", "TICK", "TRADE", "TRIGGERED", "make_engine",
    "of_kind", "px", "reasons",
]
