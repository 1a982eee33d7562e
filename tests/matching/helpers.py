"""Shared helpers for the matching tests: a small exchange and event filters."""

from __future__ import annotations

from typing import Any, TypeVar

from matching.book import Book
from matching.commands import Cancel, Command, NewOrder, Replace
from matching.constants import BUY, CONTINUOUS, LIMIT, SELL
from matching.engine import Engine
from matching.events import (
    Accepted,
    BookChanged,
    Cancelled,
    CancelRejected,
    Event,
    Expired,
    Rejected,
    Replaced,
    Restated,
    Trade,
    Triggered,
)
from matching.instruments import Instrument

SYM = "ACME"
TICK = 100          # 0.01
REF = 100_000       # 10.00

E = TypeVar("E")


def px(ticks: int) -> int:
    """A price ``ticks`` ticks above 10.00 (negative: below)."""
    return REF + ticks * TICK


def make_engine(*, phase: int = CONTINUOUS, lot: int = 1, **kwargs: Any) -> Engine:
    return Engine([Instrument(SYM, TICK, lot, REF)], phase=phase, **kwargs)


class Exchange:
    """An engine plus the last command's events, with readable shortcuts."""

    def __init__(self, engine: Engine | None = None, **kwargs: Any) -> None:
        self.engine = engine if engine is not None else make_engine(**kwargs)
        self.events: list[Event] = []
        self.ts = 1_000

    def do(self, command: Command, ts: int | None = None) -> list[Event]:
        self.ts = self.ts + 1 if ts is None else ts
        self.events = self.engine.process(command, self.ts)
        return self.events

    def order(self, side: int, qty: int, price: int = 0, *, symbol: str = SYM,
              ord_type: int = LIMIT, session: str = "S1", account: str = "",
              cl_ord_id: str = "", **kwargs: Any) -> int:
        """Send a NewOrder (``kwargs``: its other fields, e.g. ``time_in_force``,
        ``stop_px``, ``max_floor``); returns its order id (0 if it was rejected)."""
        events = self.do(NewOrder(symbol=symbol, side=side, order_qty=qty, price=price,
                                  ord_type=ord_type, session=session, account=account,
                                  cl_ord_id=cl_ord_id, **kwargs))
        accepted = of_kind(events, Accepted)
        return accepted[0].order_id if accepted else 0

    def buy(self, qty: int, price: int = 0, **kwargs: Any) -> int:
        return self.order(BUY, qty, price, **kwargs)

    def sell(self, qty: int, price: int = 0, **kwargs: Any) -> int:
        return self.order(SELL, qty, price, **kwargs)

    def cancel(self, oid: int, session: str = "S1", cl_ord_id: str = "") -> list[Event]:
        return self.do(Cancel(order_id=oid, session=session, cl_ord_id=cl_ord_id))

    def replace(self, oid: int, qty: int, price: int, session: str = "S1",
                cl_ord_id: str = "", stop_px: int = 0) -> list[Event]:
        return self.do(Replace(order_id=oid, session=session, cl_ord_id=cl_ord_id,
                               order_qty=qty, price=price, stop_px=stop_px))

    @property
    def book(self) -> Book:
        return self.engine.books[SYM]

    def queue(self, side: int, price: int) -> list[int]:
        """Oids at one level, in priority order."""
        level = self.book.side(side).levels.get(price)
        return [] if level is None else [o.oid for o in level.live_orders()]

    def depth(self, side: int) -> list[tuple[int, int, int]]:
        return self.engine.depth(SYM, side)

    def trades(self) -> list[Trade]:
        return of_kind(self.events, Trade)

    def fills(self) -> list[tuple[int, int, int, int]]:
        """(aggressor oid, resting oid, price, qty) of the last command's trades."""
        return [(t.aggressor_order_id, t.resting_order_id, t.last_px, t.last_qty)
                for t in self.trades()]

    def kinds(self) -> list[type]:
        """The types of the last command's events, in order."""
        return [type(e) for e in self.events]


def of_kind(events: list[Event], kind: type[E]) -> list[E]:
    """The events of one type (exactly that type), in order."""
    return [e for e in events if type(e) is kind]


def reasons(events: list[Event]) -> list[str]:
    """Reason codes of the rejects, cancels, expiries and restatements, in order."""
    return [e.reason for e in events if type(e) in _WITH_REASON]  # type: ignore[union-attr]


_WITH_REASON = (Rejected, CancelRejected, Cancelled, Expired, Restated)


__all__ = [
    "Accepted", "BookChanged", "CancelRejected", "Cancelled", "Exchange", "Expired", "REF",
    "Rejected", "Replaced", "Restated", "SYM", "TICK", "Trade", "Triggered", "make_engine",
    "of_kind", "px", "reasons",
]
