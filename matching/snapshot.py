"""The whole engine state as a typed record, and back.

:func:`capture` gives an :class:`EngineState`, a msgspec record of plain data (no
engine classes, so the format does not follow their layout) that encodes
deterministically: equal states give equal bytes. It holds the counters, the STP
modes, every book (instrument, phase, last price, each level's queue as oids in
priority order, the stop lists) and every open order's fields. :func:`restore`
rebuilds the books by queuing the orders in that order, so the restored engine
produces exactly the events the original would have. Cancelled entries awaiting lazy
deletion, empty levels kept for reuse and spare Level objects are not saved: they
never affect events.

The orders are stored by column (one list per field, the repeated strings as indexes
into ``names``): a million orders decode in C without a Python object per field, and
are rebuilt with one call each (:func:`_order`), which is what makes a restart from
a snapshot fast.
"""

from __future__ import annotations

from operator import attrgetter
from typing import TYPE_CHECKING

import msgspec

from .book import Book
from .instruments import Instrument
from .orders import Order

if TYPE_CHECKING:
    from .book import BookSide, Level
    from .engine import Engine, RiskCheck

VERSION = 3     # of EngineState below (1 was a pickle of plain data, 2 had no level index)

StopKey = tuple[int, int, int]


class OrderColumns(msgspec.Struct, array_like=True, gc=False):
    """Every open order, one list per field, in the engine's index order. ``symbol``,
    ``session`` and ``account`` are indexes into ``EngineState.names``; ``level``
    is the index of the order's level in the books' levels, in the order the
    ``BookState``s list them (-1: an untriggered stop)."""

    oid: list[int]
    symbol: list[int]
    side: list[int]
    ord_type: list[int]
    price: list[int]
    stop_price: list[int]
    qty: list[int]
    cum: list[int]
    leaves: list[int]
    visible: list[int]
    display: list[int]
    min_qty: list[int]
    tif: list[int]
    expire_time: list[int]
    cl_ord_id: list[str]
    session: list[int]
    account: list[int]
    stop_key: list[StopKey | None]
    level: list[int]


# The order's own fields, in column order (``level`` links it into the book).
ORDER_FIELDS = tuple(f for f in OrderColumns.__struct_fields__ if f != "level")


class LevelState(msgspec.Struct, array_like=True, gc=False):
    """One price level: its price, displayed quantity and orders' oids in time
    priority (so that a restore touches each order once, in the order it was made)."""

    price: int
    qty: int
    oids: list[int]


class BookState(msgspec.Struct, array_like=True, gc=False):
    """One book: its instrument, phase and last price, each side's levels best first
    (a level: its orders' oids in time priority) and the untriggered stops."""

    symbol: str
    tick_size: int
    lot_size: int
    reference_price: int
    phase: int
    last_price: int
    bids: list[LevelState]
    asks: list[LevelState]
    buy_stops: list[StopKey]
    sell_stops: list[StopKey]


class EngineState(msgspec.Struct, array_like=True, gc=False):
    """The engine's whole state (see the module docstring)."""

    version: int
    next_oid: int
    next_exec_id: int
    next_trade_id: int
    next_stop_seq: int
    market_protection_bps: int
    stp: list[tuple[str, int]]
    books: list[BookState]
    names: list[str]
    orders: OrderColumns


class Names(dict[str, int]):
    """Interns repeated strings for a snapshot: ``names[s]`` is the index of ``s`` in
    ``names.table``, added on first sight."""

    def __init__(self) -> None:
        super().__init__()
        self.table: list[str] = []

    def __missing__(self, name: str) -> int:
        self[name] = index = len(self.table)
        self.table.append(name)
        return index


def column(objects: list, name: str) -> list:
    """One attribute of every object, in order."""
    return list(map(attrgetter(name), objects))


def interned(objects: list, name: str, names: Names) -> list[int]:
    """One string attribute of every object, as indexes into ``names``."""
    return list(map(names.__getitem__, map(attrgetter(name), objects)))


def capture(engine: Engine) -> EngineState:
    """The engine's state, as plain data."""
    books = []
    level_index: dict[int, int] = {}      # id(Level) -> its index in the snapshot

    def levels(side: BookSide) -> list[LevelState]:
        out = []
        for level in side.iter_levels():
            level_index[id(level)] = len(level_index)
            out.append(LevelState(level.price, level.qty,
                                  [o.oid for o in level.live_orders()]))
        return out

    for book in engine.books.values():
        inst = book.instrument
        books.append(BookState(
            inst.symbol, inst.tick_size, inst.lot_size, inst.reference_price, book.phase,
            book.last_price, levels(book.bids), levels(book.asks), list(book.buy_stops),
            list(book.sell_stops)))
    orders = list(engine.orders.values())
    names = Names()
    columns = OrderColumns(
        column(orders, "oid"), interned(orders, "symbol", names), column(orders, "side"),
        column(orders, "ord_type"), column(orders, "price"), column(orders, "stop_price"),
        column(orders, "qty"), column(orders, "cum"), column(orders, "leaves"),
        column(orders, "visible"), column(orders, "display"), column(orders, "min_qty"),
        column(orders, "tif"), column(orders, "expire_time"), column(orders, "cl_ord_id"),
        interned(orders, "session", names), interned(orders, "account", names),
        column(orders, "stop_key"),
        [-1 if o.level is None else level_index[id(o.level)] for o in orders])
    return EngineState(VERSION, engine.next_oid, engine.next_exec_id, engine.next_trade_id,
                       engine.next_stop_seq, engine.market_protection_bps,
                       sorted(engine.stp.items()), books, names.table, columns)


_new_order = Order.__new__


def _order(oid: int, symbol: str, side: int, ord_type: int, price: int, stop_price: int,
           qty: int, cum: int, leaves: int, visible: int, display: int, min_qty: int,
           tif: int, expire_time: int, cl_ord_id: str, session: str, account: str,
           stop_key: StopKey | None, level: Level | None) -> Order:
    """An Order with every field given."""
    o = _new_order(Order)
    o.level = level
    o.leaves = leaves
    o.visible = visible
    o.cum = cum
    o.oid = oid
    o.side = side
    o.price = price
    o.qty = qty
    o.display = display
    o.session = session
    o.symbol = symbol
    o.account = account
    o.ord_type = ord_type
    o.tif = tif
    o.stop_key = stop_key
    o.stop_price = stop_price
    o.min_qty = min_qty
    o.expire_time = expire_time
    o.cl_ord_id = cl_ord_id
    return o


def restore_into(engine: Engine, state: EngineState) -> None:
    """Put ``engine`` (any engine: its books and orders are replaced) in ``state``."""
    if state.version != VERSION:
        raise ValueError(f"matching state version {state.version} is not {VERSION}")
    engine.next_oid = state.next_oid
    engine.next_exec_id = state.next_exec_id
    engine.next_trade_id = state.next_trade_id
    engine.next_stop_seq = state.next_stop_seq
    engine.market_protection_bps = state.market_protection_bps
    engine.stp = dict(state.stp)
    # Levels first, then each order made with its level, then the queues: every
    # order is touched once, in the order it was allocated (a second pass in book
    # order, over a few hundred MB of orders, missed the cache: 0.7 s at 1M orders).
    books, levels = {}, []
    for b in state.books:
        book = Book(Instrument(b.symbol, b.tick_size, b.lot_size, b.reference_price), b.phase)
        book.last_price = b.last_price
        for side, sides in ((book.bids, b.bids), (book.asks, b.asks)):
            for saved in sides:
                level = side.new_level(saved.price)
                level.qty = saved.qty
                level.count = len(saved.oids)
                levels.append(level)
        book.buy_stops.update(b.buy_stops)
        book.sell_stops.update(b.sell_stops)
        book.stop_count = len(b.buy_stops) + len(b.sell_stops)
        books[book.symbol] = book
    c, name = state.orders, state.names.__getitem__
    level_of = [*levels, None].__getitem__       # index -1: no level
    orders = dict(zip(c.oid, map(
        _order, c.oid, map(name, c.symbol), c.side, c.ord_type, c.price, c.stop_price, c.qty,
        c.cum, c.leaves, c.visible, c.display, c.min_qty, c.tif, c.expire_time, c.cl_ord_id,
        map(name, c.session), map(name, c.account), c.stop_key, map(level_of, c.level)),
        strict=True))
    engine.orders = orders
    saved_levels = (saved for b in state.books for sides in (b.bids, b.asks) for saved in sides)
    for level, saved in zip(levels, saved_levels, strict=True):
        level.orders.extend(map(orders.__getitem__, saved.oids))
    engine.books = books


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(EngineState).decode


def dump(engine: Engine) -> bytes:
    """The engine state as bytes: equal states give equal bytes."""
    return _encode(capture(engine))


def load(data: bytes, risk: RiskCheck | None = None) -> Engine:
    """An engine from ``dump`` bytes (ValueError for bytes that are not one)."""
    from .engine import Engine

    try:
        state = _decode(data)
    except msgspec.DecodeError as e:
        raise ValueError(f"not a matching snapshot of version {VERSION}: {e}") from None
    engine = Engine(risk=risk)
    restore_into(engine, state)
    return engine
