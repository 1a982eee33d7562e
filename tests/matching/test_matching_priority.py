"""Price-time priority, trades, book structure and market data."""

from __future__ import annotations

from matching.constants import BUY, SELL
from matching.events import BookChanged, Trade
from tests.matching.helpers import SYM, Exchange, of_kind, px


def test_better_priced_order_trades_first() -> None:
    x = Exchange()
    worse = x.sell(10, px(2))
    better = x.sell(10, px(1))
    x.buy(10, px(5))
    assert x.fills() == [(3, better, px(1), 10)]
    assert x.queue(SELL, px(2)) == [worse]


def test_orders_at_the_same_price_trade_in_arrival_order() -> None:
    x = Exchange()
    first, second, third = x.sell(10, px(0)), x.sell(10, px(0)), x.sell(10, px(0))
    x.buy(25, px(0))
    assert [f[1] for f in x.fills()] == [first, second, third]
    assert [f[3] for f in x.fills()] == [10, 10, 5]
    assert x.queue(SELL, px(0)) == [third]


def test_trade_happens_at_the_resting_order_price() -> None:
    x = Exchange()
    x.buy(10, px(0))
    x.sell(10, px(-5))
    assert x.fills() == [(2, 1, px(0), 10)]


def test_trade_event_reports_both_sides_leaves_and_cumulative_quantity() -> None:
    x = Exchange()
    x.sell(30, px(0))
    x.buy(10, px(0))
    x.buy(50, px(0))
    (trade,) = x.trades()
    assert trade == Trade(SYM, 2, px(0), 20, BUY, 3, trade.aggressor_exec_id,
                          30, 20, 1, trade.resting_exec_id, 0, 30, False)


def test_partially_filled_resting_order_keeps_its_place() -> None:
    x = Exchange()
    first, second = x.sell(30, px(0)), x.sell(30, px(0))
    x.buy(10, px(0))
    assert x.queue(SELL, px(0)) == [first, second]
    assert x.engine.order(first).leaves == 20
    assert x.engine.order(first).cum == 10


def test_aggressor_sweeps_levels_up_to_its_limit_and_rests_the_rest() -> None:
    x = Exchange()
    x.sell(10, px(0))
    x.sell(10, px(1))
    x.sell(10, px(3))
    oid = x.buy(50, px(2))
    assert [(f[2], f[3]) for f in x.fills()] == [(px(0), 10), (px(1), 10)]
    assert x.depth(BUY) == [(px(2), 30, 1)]
    assert x.depth(SELL) == [(px(3), 10, 1)]
    assert x.engine.order(oid).cum == 20


def test_fully_filled_orders_leave_the_book() -> None:
    x = Exchange()
    resting = x.sell(10, px(0))
    aggressor = x.buy(10, px(0))
    assert x.engine.order(resting) is None and x.engine.order(aggressor) is None
    assert x.depth(SELL) == [] and x.depth(BUY) == []


def test_best_bid_and_ask_follow_the_book() -> None:
    x = Exchange()
    assert x.engine.best_bid(SYM) is None and x.engine.best_ask(SYM) is None
    x.buy(10, px(-1))
    x.buy(20, px(-2))
    x.sell(30, px(2))
    x.sell(40, px(1))
    assert x.engine.best_bid(SYM) == (px(-1), 10)
    assert x.engine.best_ask(SYM) == (px(1), 40)
    x.cancel(1)
    assert x.engine.best_bid(SYM) == (px(-2), 20)


def test_depth_lists_levels_best_first_with_quantity_and_count() -> None:
    x = Exchange()
    for price in (px(-3), px(-1), px(-2), px(-1)):
        x.buy(10, price)
    assert x.depth(BUY) == [(px(-1), 20, 2), (px(-2), 10, 1), (px(-3), 10, 1)]
    assert x.engine.depth(SYM, BUY, 2) == [(px(-1), 20, 2), (px(-2), 10, 1)]


def test_book_changed_reports_each_touched_level_once_with_its_new_totals() -> None:
    x = Exchange()
    x.sell(10, px(0))
    x.sell(10, px(0))
    x.sell(10, px(1))
    x.buy(25, px(1))
    assert of_kind(x.events, BookChanged) == [
        BookChanged(SYM, SELL, px(0), 0, 0),
        BookChanged(SYM, SELL, px(1), 5, 1),
    ]


def test_book_changed_after_aggressor_rests() -> None:
    x = Exchange()
    x.sell(10, px(0))
    x.buy(15, px(0))
    assert of_kind(x.events, BookChanged)[-1] == BookChanged(SYM, BUY, px(0), 5, 1)


def test_cancel_in_the_middle_of_a_queue_keeps_the_others_in_order() -> None:
    x = Exchange()
    oids = [x.sell(10, px(0)) for _ in range(5)]
    x.cancel(oids[1])
    x.cancel(oids[3])
    assert x.queue(SELL, px(0)) == [oids[0], oids[2], oids[4]]
    x.buy(30, px(0))
    assert [f[1] for f in x.fills()] == [oids[0], oids[2], oids[4]]


def test_queue_compaction_after_many_cancels_keeps_priority() -> None:
    x = Exchange()
    oids = [x.sell(1, px(0)) for _ in range(200)]
    for oid in oids[:150]:
        x.cancel(oid)
    level = x.book.asks.levels[px(0)]
    assert len(level.orders) < 100     # cancelled entries were compacted away
    assert x.queue(SELL, px(0)) == oids[150:]
    x.buy(50, px(0))
    assert [f[1] for f in x.fills()] == oids[150:]


def test_book_is_never_left_crossed_in_continuous_trading() -> None:
    x = Exchange()
    x.sell(10, px(0))
    x.buy(5, px(3))
    x.buy(10, px(1))
    assert not x.book.crossed()
    assert x.depth(BUY) == [(px(1), 5, 1)]


def test_emptied_level_behind_the_best_is_kept_for_reuse_and_hidden() -> None:
    x = Exchange()
    x.buy(10, px(0))
    behind = x.buy(10, px(-1))
    x.cancel(behind)
    level = x.book.bids.levels[px(-1)]
    assert level.count == 0 and x.depth(BUY) == [(px(0), 10, 1)]
    again = x.buy(5, px(-1))
    assert x.book.bids.levels[px(-1)] is level
    assert x.depth(BUY) == [(px(0), 10, 1), (px(-1), 5, 1)] and x.queue(BUY, px(-1)) == [again]


def test_empty_levels_behind_an_emptied_best_level_go_with_it() -> None:
    x = Exchange()
    best = x.buy(10, px(0))
    for ticks in (-1, -2):
        x.cancel(x.buy(10, px(ticks)))
    x.buy(10, px(-3))
    x.cancel(best)
    assert x.engine.best_bid(SYM) == (px(-3), 10)
    assert list(x.book.bids.levels) == [px(-3)]


def test_empty_levels_are_purged_when_they_outnumber_live_ones() -> None:
    x = Exchange()
    x.buy(10, px(0))
    for ticks in range(1, 40):
        x.cancel(x.buy(10, px(-ticks)))
    assert len(x.book.bids.levels) < 25
    assert x.depth(BUY) == [(px(0), 10, 1)]
