"""The market-data book (marketdata.book): levels followed from the core's events.

Fed the events of a real matching engine over hypothesis-generated command streams
(the streams of the engine's own property tests), the level book is at every step
the engine's book summed by price, computed the slow way from its resting orders;
and the NEW / CHANGE / DELETE actions of ``level_diff`` take a subscriber from what
it was shown to exactly the book's top N levels.
"""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from marketdata.book import CHANGE, DELETE, NEW, Level, LevelBook, engine_levels, level_diff
from matching.commands import Command
from matching.constants import BUY, SELL
from matching.engine import Engine
from matching.events import BookChanged, Trade
from tests.matching.test_matching_properties import (
    PROFILE,
    SYM,
    make_engine,
    start_phases,
    stp_configs,
    streams,
)


def slow_levels(engine: Engine, side: int) -> dict[int, Level]:
    """The engine's side summed by price from its live resting orders."""
    book = engine.books[SYM]
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for level in (book.bids if side == BUY else book.asks).iter_levels():
        for order in level.live_orders():
            totals[order.price][0] += order.visible
            totals[order.price][1] += 1
    return {price: Level(price, qty, n) for price, (qty, n) in totals.items()}


def feed(book: LevelBook, events: list) -> None:
    for event in events:
        if type(event) is BookChanged:
            book.apply_level(event)
        elif type(event) is Trade:
            book.apply_trade(event, 0)


def apply(shown: dict[int, Level], actions: list) -> dict[int, Level]:
    """What a subscriber holds after the actions, applied by price."""
    out = dict(shown)
    for action in actions:
        if action.action == DELETE:
            del out[action.level.price]
        else:
            assert (action.action == NEW) == (action.level.price not in out)
            out[action.level.price] = action.level
    return out


@settings(PROFILE)
@given(stream=streams, stp=stp_configs, phase=start_phases)
def test_fed_the_engines_events_it_is_the_engines_book_summed_by_price(
        stream: list[Command], stp: dict[str, int], phase: int) -> None:
    engine = make_engine(stp, phase)
    book = LevelBook(SYM)
    for ts, command in enumerate(stream, start=1):
        feed(book, engine.process(command, ts))
        assert book.bids == slow_levels(engine, BUY), f"command {ts}: {command}"
        assert book.asks == slow_levels(engine, SELL), f"command {ts}: {command}"
        for side in (BUY, SELL):
            ranked = sorted(book.side(side), reverse=side == BUY)
            assert [lv.price for lv in book.top(side)] == ranked
            assert [book.rank(side, p) for p in ranked] == list(range(1, len(ranked) + 1))


@settings(PROFILE)
@given(stream=streams, stp=stp_configs, phase=start_phases)
def test_the_levels_read_from_an_engine_are_those_its_events_built(
        stream: list[Command], stp: dict[str, int], phase: int) -> None:
    engine = make_engine(stp, phase)
    followed = LevelBook(SYM)
    for ts, command in enumerate(stream, start=1):
        feed(followed, engine.process(command, ts))
    loaded = LevelBook(SYM)
    for symbol, side, level in engine_levels(engine):
        assert symbol == SYM
        loaded.set_level(side, level)
    assert (loaded.bids, loaded.asks) == (followed.bids, followed.asks)


@settings(PROFILE)
@given(stream=streams, stp=stp_configs, phase=start_phases, depth=st.integers(0, 4))
def test_a_subscriber_applying_the_diffs_holds_the_top_levels_at_every_step(
        stream: list[Command], stp: dict[str, int], phase: int, depth: int) -> None:
    engine = make_engine(stp, phase)
    book = LevelBook(SYM)
    shown: dict[int, dict[int, Level]] = {BUY: {}, SELL: {}}
    for ts, command in enumerate(stream, start=1):
        feed(book, engine.process(command, ts))
        for side in (BUY, SELL):
            top = book.top(side, depth)
            actions = level_diff(shown[side], top)
            shown[side] = apply(shown[side], actions)
            assert shown[side] == {lv.price: lv for lv in top}
            for action in actions:
                if action.action != DELETE:
                    assert top[action.position - 1] == action.level


def test_top_is_best_first_and_depth_limited() -> None:
    book = LevelBook(SYM)
    for side, prices in ((BUY, (99, 101, 100)), (SELL, (103, 102, 104))):
        for price in prices:
            book.apply_level(BookChanged(SYM, side, price, 10, 1))
    assert [lv.price for lv in book.top(BUY)] == [101, 100, 99]
    assert [lv.price for lv in book.top(SELL, 2)] == [102, 103]
    assert [lv.price for lv in book.top(BUY, 1)] == [101]


def test_a_level_with_nothing_left_is_gone() -> None:
    book = LevelBook(SYM)
    book.apply_level(BookChanged(SYM, BUY, 100, 10, 1))
    book.apply_level(BookChanged(SYM, BUY, 100, 0, 0))
    assert book.bids == {}


def test_an_unchanged_level_needs_no_action() -> None:
    level = Level(100, 10, 1)
    assert level_diff({100: level}, [level]) == []


def test_a_level_whose_quantity_changed_is_a_change_at_its_rank() -> None:
    actions = level_diff({101: Level(101, 5, 1), 100: Level(100, 10, 1)},
                         [Level(101, 5, 1), Level(100, 30, 2)])
    assert [(a.action, a.position, a.level.qty) for a in actions] == [(CHANGE, 2, 30)]
