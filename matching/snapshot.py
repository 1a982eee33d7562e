"""Snapshot and restore of the whole engine state.

The snapshot is a pickle of *plain data* only (ints, strings, tuples, lists,
dicts; no engine classes), so it does not depend on the classes' layout, and
equal states give equal bytes (the pickler runs without its memo, so the bytes
do not depend on object identity). It holds the counters, configuration,
instruments, phases, last prices, every open order's fields, each level's queue
as a list of oids in priority order and the stop lists. Restoring rebuilds the
books by re-queuing the orders in that order, so the restored engine produces
exactly the events the original would have. Cancelled entries awaiting lazy
deletion are not saved: they never affect events.
"""

from __future__ import annotations

import io
import pickle
from typing import TYPE_CHECKING, Any

from .book import Book
from .instruments import Instrument
from .orders import Order

if TYPE_CHECKING:
    from .engine import Engine, RiskCheck

FORMAT = "fix-exchange-matching"
VERSION = 1


def to_state(engine: Engine) -> dict[str, Any]:
    """The engine state as plain data."""
    books = []
    for book in engine.books.values():
        books.append({
            "instrument": book.instrument.as_tuple(),
            "phase": book.phase,
            "last_price": book.last_price,
            "bids": [[o.oid for o in level.live_orders()] for level in book.bids.iter_levels()],
            "asks": [[o.oid for o in level.live_orders()] for level in book.asks.iter_levels()],
            "buy_stops": list(book.buy_stops),
            "sell_stops": list(book.sell_stops),
        })
    return {
        "format": FORMAT,
        "version": VERSION,
        "counters": (engine.next_oid, engine.next_exec_id, engine.next_trade_id,
                     engine.next_stop_seq),
        "market_protection_bps": engine.market_protection_bps,
        "stp": sorted(engine.stp.items()),
        "books": books,
        # In the index's own order, so that the restored dict iterates the same way.
        "orders": [order.state() for order in engine.orders.values()],
    }


def from_state(state: dict[str, Any], risk: RiskCheck | None = None) -> Engine:
    """An engine rebuilt from ``to_state`` data."""
    from .engine import Engine

    if state.get("format") != FORMAT or state.get("version") != VERSION:
        raise ValueError(f"not a matching snapshot of version {VERSION}: "
                         f"{state.get('format')!r} {state.get('version')!r}")
    engine = Engine(market_protection_bps=state["market_protection_bps"],
                    self_trade_prevention=dict(state["stp"]), risk=risk)
    (engine.next_oid, engine.next_exec_id, engine.next_trade_id,
     engine.next_stop_seq) = state["counters"]
    for fields in state["orders"]:
        order = Order.from_state(fields)
        engine.orders[order.oid] = order
    orders = engine.orders
    for data in state["books"]:
        book = Book(Instrument(*data["instrument"]), data["phase"])
        book.last_price = data["last_price"]
        for side, levels in ((book.bids, data["bids"]), (book.asks, data["asks"])):
            for oids in levels:
                for oid in oids:
                    side.add(orders[oid])
        book.buy_stops.update(data["buy_stops"])
        book.sell_stops.update(data["sell_stops"])
        book.stop_count = len(book.buy_stops) + len(book.sell_stops)
        engine.books[book.symbol] = book
    return engine


def dump(engine: Engine) -> bytes:
    """The engine state as bytes: equal states give equal bytes."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=5)
    # No memo: otherwise the bytes would depend on which equal strings happen to be
    # the same object (the state is plain data without cycles, so this is safe).
    pickler.fast = True
    pickler.dump(to_state(engine))
    return buffer.getvalue()


def load(data: bytes, risk: RiskCheck | None = None) -> Engine:
    """An engine from ``dump`` bytes. Only load snapshots you wrote: this is pickle."""
    return from_state(pickle.loads(data), risk)
