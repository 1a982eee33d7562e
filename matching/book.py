"""The order book of one instrument: two sides of FIFO price levels.

Each side keeps its levels in a dict (price -> Level) for O(1) lookup, and
their order in a plain list of ranks kept sorted with ``bisect`` (C code); the
best level is cached, so the best bid/ask is O(1). Both sides sort the same way
by using a signed key: an ask's key is its price and a bid's key is minus its
price, so the matching code is the same for both sides (an order crosses a
level when ``level.key <= limit_key``). The rank list holds the negated keys in
ascending order, so the best level is at its end: the commonest changes, a
level appearing or going at the touch, are an insert near the end and a
``pop()``. (Against the ``sortedcontainers.SortedList`` this replaced, an add and
a remove near the touch cost ~80 ns instead of ~500 ns, and the matching
benchmark runs ~6% faster. A level far from the touch costs a memmove of the
list: ~0.3 µs at 1,000 levels, ~2.6 µs at 10,000; price collars bound a side's
levels in practice.)

Two kinds of lazy deletion keep cancels cheap:

* In a level's queue (a deque), a cancelled order is only marked
  (``order.level = None``) and the level's totals fixed, in O(1), without
  touching the deque; dead entries are dropped when they reach the front, and
  the queue is compacted when they outnumber live ones.
* A level that empties and is not the best stays in the dict and the sorted
  keys as an empty level (``count == 0``), so that the very common case of a
  price level near the touch emptying and filling again costs no sorted-list
  update. Empty levels are never ahead of the best level: when the best level
  empties it is removed together with any empty levels behind it, so
  ``keys[0]`` is always the best level. They are purged in bulk when they
  outnumber the live ones. ``depth`` and ``iter_levels`` skip them.

The Book also keeps copies of the best prices (``top_bid``, ``top_ask``) and of
the two level dicts: the commonest command, a limit order that rests, can then
check for a cross and find its level without touching the BookSide and Level
objects. With a hundred books, every object touched is a likely cache miss,
and those cost more than the bytecodes here.

This module only keeps the structure consistent; the matching rules live in
``engine.py``.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque

from sortedcontainers import SortedList

from .constants import BUY, CONTINUOUS, SELL
from .instruments import Instrument
from .orders import Order

# Book.top_ask when there are no asks: above any price, so nothing crosses it.
NO_ASK = 1 << 62


class Level:
    """One price level: a FIFO queue of orders, the total displayed quantity and the
    number of live orders (0: an empty level kept for reuse)."""

    __slots__ = ("price", "key", "orders", "qty", "count", "dead", "side")

    def __init__(self, price: int, key: int, side: BookSide) -> None:
        self.price = price
        self.key = key          # sign * price: lower is better on both sides
        self.orders: deque[Order] = deque()
        self.qty = 0            # sum of live orders' visible quantity
        self.count = 0          # live orders in the queue
        # Cancelled entries still in the queue. Kept here so that a cancel need not
        # touch the deque at all (one cache miss fewer).
        self.dead = 0
        self.side = side        # the BookSide holding this level

    def compact(self) -> None:
        """Drop cancelled entries, so that memory stays O(live orders)."""
        self.orders = deque(o for o in self.orders if o.level is self)
        self.dead = 0

    def live_orders(self) -> list[Order]:
        """The live orders in queue (time priority) order."""
        return [o for o in self.orders if o.level is self]


class BookSide:
    """The bids or the asks of one book."""

    __slots__ = ("side", "sign", "levels", "ranks", "best", "empty", "book", "spare")

    def __init__(self, side: int, book: Book) -> None:
        self.side = side
        self.sign = -1 if side == BUY else 1
        self.levels: dict[int, Level] = {}     # includes empty levels
        # -key of every level in ``levels``, ascending: the best level is the last.
        self.ranks: list[int] = []
        self.best: Level | None = None         # the best non-empty level
        self.empty = 0                         # how many levels are empty
        self.book = book
        # Removed Level objects, to reuse: a level that empties and comes back at
        # the touch is the common case, and allocating a Level and its deque
        # costs more than the rest of an order entry. Not part of the state.
        self.spare: list[Level] = []

    def set_best(self, level: Level | None) -> None:
        """Change the best level, and the book's copy of its price."""
        self.best = level
        if self.side == BUY:
            self.book.top_bid = 0 if level is None else level.price
        else:
            self.book.top_ask = NO_ASK if level is None else level.price

    def new_level(self, price: int) -> Level:
        """Create the (empty) level at ``price``, which must not exist yet, and count
        it as live: the caller is about to put an order in it."""
        key = self.sign * price
        if self.spare:
            level = self.spare.pop()
            level.price, level.key = price, key
        else:
            level = Level(price, key, self)
        self.levels[price] = level
        insort(self.ranks, -key)
        best = self.best
        if best is None or key < best.key:
            self.set_best(level)
        return level

    def add(self, order: Order) -> Level:
        """Append ``order`` to the back of the queue at its price."""
        level = self.levels.get(order.price)
        if level is None:
            level = self.new_level(order.price)
        elif not level.count:
            self.empty -= 1     # an empty level comes back (never ahead of the best)
        level.orders.append(order)
        level.qty += order.visible
        level.count += 1
        order.level = level
        return level

    def remove(self, order: Order) -> Level:
        """Take a resting order out of its level in O(1); returns the level so the
        caller can report it."""
        level = order.level
        assert level is not None
        order.level = None
        level.qty -= order.visible
        level.count -= 1
        level.dead += 1
        if not level.count:
            self.emptied(level)
        elif level.dead > level.count + 16:
            level.compact()
        return level

    def emptied(self, level: Level) -> None:
        """``level`` just lost its last order. The best level is removed (with any
        empty levels right behind it); any other level is kept, empty, for reuse."""
        level.orders.clear()
        level.dead = 0
        if level is not self.best:
            self.empty += 1
            if self.empty > 16 and 2 * self.empty > len(self.levels):
                self.purge()
            return
        levels, ranks, sign = self.levels, self.ranks, self.sign
        del levels[level.price]
        ranks.pop()
        self.recycle(level)
        while ranks:
            best = levels[-sign * ranks[-1]]
            if best.count:
                self.set_best(best)
                return
            del levels[best.price]
            ranks.pop()
            self.empty -= 1
            self.recycle(best)
        self.set_best(None)

    def recycle(self, level: Level) -> None:
        """Keep a removed, empty level for reuse by ``new_level``."""
        if len(self.spare) < 64:
            self.spare.append(level)

    def purge(self) -> None:
        """Forget every empty level."""
        for price in [p for p, level in self.levels.items() if not level.count]:
            self.recycle(self.levels.pop(price))
        self.ranks = sorted(-level.key for level in self.levels.values())
        self.empty = 0

    def depth(self, n: int | None = None) -> list[tuple[int, int, int]]:
        """(price, displayed qty, order count) of the best ``n`` levels, best first."""
        out = []
        for level in self.iter_levels():
            if n is not None and len(out) >= n:
                break
            out.append((level.price, level.qty, level.count))
        return out

    def iter_levels(self, limit_key: int | None = None) -> list[Level]:
        """Every non-empty level, best first (with ``limit_key``: those whose key is
        at or below it, i.e. that an order limited there would reach)."""
        sign, levels, ranks = self.sign, self.levels, self.ranks
        start = 0 if limit_key is None else bisect_left(ranks, -limit_key)
        return [level for level in (levels[-sign * ranks[i]]
                                    for i in range(len(ranks) - 1, start - 1, -1))
                if level.count]


class Book:
    """The order book of one instrument: bids, asks, untriggered stops, the trading
    phase and the last trade price (which triggers stops)."""

    __slots__ = ("instrument", "symbol", "tick", "lot", "bids", "asks", "phase",
                 "last_price", "buy_stops", "sell_stops", "stop_count", "top_bid", "top_ask",
                 "bid_levels", "ask_levels")

    def __init__(self, instrument: Instrument, phase: int = CONTINUOUS) -> None:
        self.instrument = instrument
        self.symbol = instrument.symbol
        # Copies of the grid for the hot path (one attribute load instead of two).
        self.tick = instrument.tick_size
        self.lot = instrument.lot_size
        self.bids = BookSide(BUY, self)
        self.asks = BookSide(SELL, self)
        # Copies for the commonest command, a limit order that rests: it can check
        # for a cross and find its level without touching the BookSide and Level
        # objects (with a hundred books, each object touched is a likely cache miss).
        self.top_bid = 0            # best bid price, 0 if none
        self.top_ask = NO_ASK       # best ask price, NO_ASK if none
        self.bid_levels = self.bids.levels
        self.ask_levels = self.asks.levels
        self.phase = phase
        self.last_price = 0     # 0: no trade yet
        # Untriggered stops, in trigger order: buy stops by (stop price, seq),
        # sell stops by (-stop price, seq); the third item is the oid.
        self.buy_stops: SortedList = SortedList()
        self.sell_stops: SortedList = SortedList()
        # len(buy_stops) + len(sell_stops), kept as an int: the hot path asks
        # "any stops?" after every trade and SortedList.__len__ is a Python call.
        self.stop_count = 0

    def side(self, side: int) -> BookSide:
        return self.bids if side == BUY else self.asks

    def crossed(self) -> bool:
        bid, ask = self.bids.best, self.asks.best
        return bid is not None and ask is not None and bid.price >= ask.price

    def best_bid(self) -> tuple[int, int] | None:
        level = self.bids.best
        return None if level is None else (level.price, level.qty)

    def best_ask(self) -> tuple[int, int] | None:
        level = self.asks.best
        return None if level is None else (level.price, level.qty)

    def stops(self, side: int) -> SortedList:
        return self.buy_stops if side == BUY else self.sell_stops

    def __repr__(self) -> str:
        return (f"Book({self.symbol}, phase={self.phase}, bids={self.bids.depth(5)}, "
                f"asks={self.asks.depth(5)})")
