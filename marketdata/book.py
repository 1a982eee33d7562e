"""The market-data view of one instrument: price levels and trades, from the core's
events.

:class:`LevelBook` follows ``BookChanged`` events (the aggregated displayed quantity
and order count at one price after each change) and ``Trade`` events; it knows
nothing of orders. ``top`` gives the best levels of a side, and :func:`level_diff`
turns what a subscriber was shown of a side into what it must be shown now, as
FIX's NEW / CHANGE / DELETE actions, so that a subscriber to the top N levels sees
a level enter, change and leave its window exactly as the book moves (a level is
known by its side and price).

Pure and deterministic: no I/O, no clock; prices and quantities are the core's
integers.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Final, NamedTuple

from matching.auction import uncross_price
from matching.constants import BUY, SELL
from matching.events import BookChanged, Trade

if TYPE_CHECKING:
    from matching.engine import Engine

# MDUpdateAction (279).
NEW: Final = b"0"
CHANGE: Final = b"1"
DELETE: Final = b"2"


class Level(NamedTuple):
    """One price level as market data shows it."""

    price: int
    qty: int
    orders: int


class LevelAction(NamedTuple):
    """A change to show a subscriber: ``action`` on the level at ``position`` (1 =
    best) of a side; a DELETE carries the level as it was last shown."""

    action: bytes
    position: int
    level: Level


class Print(NamedTuple):
    """A trade, as market data prints it (``ts``: its command's time, ns)."""

    trade_id: int
    price: int
    qty: int
    ts: int


class LevelBook:
    """The levels of both sides of one instrument and its last trade. Each side's
    prices are also kept sorted, so that its best N levels and a level's rank cost
    O(N) and O(log levels), not a sort of the side at every change."""

    __slots__ = ("symbol", "bids", "asks", "last", "_prices")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids: dict[int, Level] = {}
        self.asks: dict[int, Level] = {}
        self.last: Print | None = None
        self._prices: dict[int, list[int]] = {BUY: [], SELL: []}   # ascending

    def side(self, side: int) -> dict[int, Level]:
        """Price -> level of one side (to read; change it with set_level)."""
        return self.bids if side == BUY else self.asks

    def set_level(self, side: int, level: Level) -> None:
        levels = self.bids if side == BUY else self.asks
        if level.price not in levels:
            bisect.insort(self._prices[side], level.price)
        levels[level.price] = level

    def remove_level(self, side: int, price: int) -> None:
        levels = self.bids if side == BUY else self.asks
        if levels.pop(price, None) is not None:
            prices = self._prices[side]
            del prices[bisect.bisect_left(prices, price)]

    def apply_level(self, event: BookChanged) -> None:
        if event.qty:
            self.set_level(event.side, Level(event.price, event.qty, event.order_count))
        else:
            self.remove_level(event.side, event.price)

    def apply_trade(self, event: Trade, ts: int) -> Print:
        self.last = Print(event.trade_id, event.last_px, event.last_qty, ts)
        return self.last

    def top(self, side: int, depth: int = 0) -> list[Level]:
        """The best ``depth`` levels of ``side`` (0: all), best first."""
        prices = self._prices[side]
        if side == BUY:
            best = prices[::-1] if depth <= 0 else prices[:-depth - 1:-1]
        else:
            best = prices if depth <= 0 else prices[:depth]
        levels = self.side(side)
        return [levels[p] for p in best]

    def rank(self, side: int, price: int) -> int:
        """The position of the level at ``price`` from the best (1 = best)."""
        prices = self._prices[side]
        i = bisect.bisect_left(prices, price)
        return len(prices) - i if side == BUY else i + 1


def level_diff(shown: Mapping[int, Level], now: list[Level]) -> list[LevelAction]:
    """What turns ``shown`` (price -> level: what the subscriber has) into ``now`` (the
    levels it should have, best first): a DELETE for each shown level that is gone,
    then, in the order of ``now``, a NEW for each level it lacks and a CHANGE for each
    it has with another quantity or order count. Levels are told apart by price;
    the position is the level's rank in ``now`` (0 for a DELETE)."""
    prices = {level.price for level in now}
    actions = [LevelAction(DELETE, 0, level) for price, level in shown.items()
               if price not in prices]
    for position, level in enumerate(now, 1):
        old = shown.get(level.price)
        if old is None:
            actions.append(LevelAction(NEW, position, level))
        elif old != level:
            actions.append(LevelAction(CHANGE, position, level))
    return actions


def engine_levels(engine: Engine) -> Iterator[tuple[str, int, Level]]:
    """(symbol, side, level) of every level in ``engine``'s books: where market data
    starts from after a recovery."""
    for symbol, book in engine.books.items():
        for side in (book.bids, book.asks):
            for level in side.iter_levels():
                yield symbol, side.side, Level(level.price, level.qty, level.count)


def engine_phases(engine: Engine) -> dict[str, int]:
    """Symbol -> the phase of its book in ``engine``."""
    return {symbol: book.phase for symbol, book in engine.books.items()}


def indicative_uncross(book: LevelBook, reference_price: int, tick: int
                       ) -> tuple[int, int] | None:
    """(price, volume) the book would uncross at now (matching.auction), from the
    displayed levels: what market data can show without revealing icebergs'
    hidden reserve. None when nothing would execute."""
    bids = [(lv.price, lv.qty) for lv in book.top(BUY)]
    asks = [(lv.price, lv.qty) for lv in book.top(SELL)]
    return uncross_price(bids, asks, reference_price, tick)
