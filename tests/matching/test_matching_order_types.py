"""Order types and time in force: market, stop, stop-limit, iceberg, MinQty, IOC, FOK,
DAY, GTC, GTD."""

from __future__ import annotations

from matching import reasons as R
from matching.commands import EndOfDay, ExpireGTD, NewOrder
from matching.constants import BUY, FOK, GTC, GTD, IOC, LIMIT, MARKET, SELL, STOP, STOP_LIMIT
from matching.events import Accepted, Cancelled, Expired, Trade, Triggered
from tests.matching.helpers import SYM, Exchange, of_kind, px, reasons

# ------------------------------------------------------------------ market


def test_market_order_trades_and_cancels_the_unfilled_rest() -> None:
    x = Exchange()
    x.sell(10, px(0))
    oid = x.buy(25, ord_type=MARKET)
    assert x.fills() == [(oid, 1, px(0), 10)]
    (cancelled,) = of_kind(x.events, Cancelled)
    assert (cancelled.order_id, cancelled.reason, cancelled.cancelled_qty,
            cancelled.cum_qty) == (oid, R.MARKET_NO_LIQUIDITY, 15, 10)
    assert x.engine.order(oid) is None and x.depth(BUY) == []


def test_market_order_against_an_empty_book_is_cancelled() -> None:
    x = Exchange()
    oid = x.sell(10, ord_type=MARKET)
    assert x.kinds() == [Accepted, Cancelled]
    assert reasons(x.events) == [R.MARKET_NO_LIQUIDITY]
    assert x.engine.order(oid) is None


def test_market_order_never_trades_beyond_the_protection_band() -> None:
    x = Exchange(market_protection_bps=100)     # 1% of 10.00 = 10 ticks
    x.sell(10, px(0))
    x.sell(10, px(10))
    x.sell(10, px(11))
    x.buy(30, ord_type=MARKET)
    assert [f[2] for f in x.fills()] == [px(0), px(10)]
    assert reasons(x.events) == [R.MARKET_NO_LIQUIDITY]
    assert x.depth(SELL) == [(px(11), 10, 1)]


def test_sell_market_order_band_is_below_the_best_bid() -> None:
    x = Exchange(market_protection_bps=100)
    x.buy(10, px(0))
    x.buy(10, px(-10))
    x.buy(10, px(-11))
    x.sell(30, ord_type=MARKET)
    assert [f[2] for f in x.fills()] == [px(0), px(-10)]
    assert x.depth(BUY) == [(px(-11), 10, 1)]


# ------------------------------------------------------------------- stops


def test_buy_stop_waits_until_a_trade_at_or_above_the_stop_price() -> None:
    x = Exchange()
    x.sell(100, px(0))
    x.sell(100, px(2))
    stop = x.buy(10, ord_type=STOP, stop_px=px(1))
    assert x.kinds() == [Accepted]               # waits outside the book
    x.buy(100, px(0))                             # last = 10.00 < stop
    assert not of_kind(x.events, Triggered)
    x.buy(10, px(2))                              # last = 10.02 >= stop
    triggered = of_kind(x.events, Triggered)
    assert triggered == [Triggered(triggered[0].exec_id, stop, SYM, px(2))]
    assert x.fills()[-1] == (stop, 2, px(2), 10)


def test_sell_stop_triggers_on_a_trade_at_or_below_the_stop_price() -> None:
    x = Exchange()
    x.buy(100, px(0))
    x.buy(100, px(-3))
    stop = x.sell(10, ord_type=STOP, stop_px=px(-1))
    x.sell(100, px(0))
    assert not of_kind(x.events, Triggered)
    x.sell(10, px(-3))
    assert [t.order_id for t in of_kind(x.events, Triggered)] == [stop]
    assert x.fills()[-1] == (stop, 2, px(-3), 10)


def test_stop_limit_enters_the_book_as_a_limit_order_when_triggered() -> None:
    x = Exchange()
    x.sell(10, px(0))
    stop = x.buy(50, px(1), ord_type=STOP_LIMIT, stop_px=px(0))
    x.buy(10, px(0))
    assert [t.order_id for t in of_kind(x.events, Triggered)] == [stop]
    assert x.depth(BUY) == [(px(1), 50, 1)]
    assert x.engine.order(stop).ord_type == LIMIT


def test_triggered_order_is_queued_behind_orders_already_at_its_price() -> None:
    x = Exchange()
    x.sell(10, px(0))
    stop = x.buy(10, px(-1), ord_type=STOP_LIMIT, stop_px=px(0))
    early = x.buy(10, px(-1))                     # arrives after the stop but before trigger
    x.buy(10, px(0))                              # trade at 10.00 triggers the stop now
    assert x.queue(BUY, px(-1)) == [early, stop]


def test_stop_whose_condition_already_holds_triggers_on_arrival() -> None:
    x = Exchange()
    x.sell(10, px(0))
    x.buy(5, px(0))                                # last = 10.00
    stop = x.buy(5, ord_type=STOP, stop_px=px(0))
    assert [t.order_id for t in of_kind(x.events, Triggered)] == [stop]
    assert x.fills() == [(stop, 1, px(0), 5)]


def test_triggered_stop_is_protected_from_its_stop_price_not_the_touch() -> None:
    x = Exchange(market_protection_bps=100)     # 1% of 10.00 = 10 ticks
    x.sell(10, px(0))
    x.sell(10, px(10))
    x.sell(10, px(20))
    stop = x.buy(30, ord_type=STOP, stop_px=px(0))
    x.buy(10, px(0))                              # triggers: the ask is now 10.10
    assert [f[2] for f in x.fills() if f[0] == stop] == [px(10)]   # 10.20 > 10.00 + 1%
    assert x.depth(SELL) == [(px(20), 10, 1)]


def test_triggered_stops_cascade() -> None:
    x = Exchange()
    x.sell(10, px(0))
    x.sell(10, px(1))
    x.sell(10, px(2))
    first = x.buy(10, ord_type=STOP, stop_px=px(0))
    second = x.buy(10, ord_type=STOP, stop_px=px(1))
    buyer = x.buy(10, px(0))   # 10.00 triggers the first, whose trade at 10.01 the second
    assert [t.order_id for t in of_kind(x.events, Triggered)] == [first, second]
    assert [(f[0], f[2]) for f in x.fills()] == [(buyer, px(0)), (first, px(1)),
                                                 (second, px(2))]


def test_stops_elected_together_trigger_lowest_buy_stop_first() -> None:
    x = Exchange()
    x.sell(100, px(0))
    high = x.buy(1, ord_type=STOP, stop_px=px(0))
    x.cancel(high)
    low_late = x.buy(1, px(1), ord_type=STOP_LIMIT, stop_px=px(-1))
    low_early = x.buy(1, px(1), ord_type=STOP_LIMIT, stop_px=px(-2))
    x.buy(1, px(0))
    assert [t.order_id for t in of_kind(x.events, Triggered)] == [low_early, low_late]


# ----------------------------------------------------------------- iceberg


def test_iceberg_shows_only_its_display_quantity() -> None:
    x = Exchange()
    oid = x.sell(100, px(0), max_floor=20)
    assert x.depth(SELL) == [(px(0), 20, 1)]
    assert x.engine.order(oid).leaves == 100


def test_iceberg_replenishment_goes_to_the_back_of_the_queue() -> None:
    x = Exchange()
    iceberg = x.sell(100, px(0), max_floor=20)
    other = x.sell(30, px(0))
    x.buy(20, px(0))                    # takes the iceberg's first slice
    assert x.queue(SELL, px(0)) == [other, iceberg]
    assert x.depth(SELL) == [(px(0), 50, 2)]
    x.buy(40, px(0))
    assert x.fills() == [(4, other, px(0), 30), (4, iceberg, px(0), 10)]


def test_aggressor_meets_an_iceberg_slice_by_slice_and_takes_its_reserve() -> None:
    x = Exchange()
    iceberg = x.sell(50, px(0), max_floor=20)
    x.buy(50, px(0))
    assert x.fills() == [(2, iceberg, px(0), 20), (2, iceberg, px(0), 20),
                         (2, iceberg, px(0), 10)]
    assert x.depth(SELL) == []


def test_incoming_iceberg_trades_its_full_quantity_then_shows_a_slice() -> None:
    x = Exchange()
    x.sell(30, px(0))
    oid = x.buy(100, px(0), max_floor=20)
    assert x.fills() == [(oid, 1, px(0), 30)]
    assert x.depth(BUY) == [(px(0), 20, 1)]
    assert x.engine.order(oid).leaves == 70


def test_iceberg_display_quantity_must_be_valid() -> None:
    x = Exchange(lot=10)
    x.sell(100, px(0), max_floor=15)
    assert reasons(x.events) == [R.INVALID_DISPLAY_QTY]
    x.sell(100, px(0), max_floor=20, time_in_force=IOC)
    assert reasons(x.events) == [R.INVALID_DISPLAY_QTY]
    x.sell(100, max_floor=20, ord_type=MARKET)
    assert reasons(x.events) == [R.INVALID_DISPLAY_QTY]


def test_display_quantity_at_or_above_the_order_quantity_is_not_an_iceberg() -> None:
    x = Exchange()
    oid = x.sell(100, px(0), max_floor=100)
    assert x.engine.order(oid).display == 0
    assert x.depth(SELL) == [(px(0), 100, 1)]


# ------------------------------------------------------------------ MinQty


def test_min_qty_not_available_cancels_the_order_without_trading() -> None:
    x = Exchange()
    x.sell(10, px(0))
    oid = x.buy(50, px(0), min_qty=20)
    assert not x.trades()
    assert reasons(x.events) == [R.MIN_QTY_NOT_AVAILABLE]
    assert x.engine.order(oid) is None and x.depth(SELL) == [(px(0), 10, 1)]


def test_min_qty_met_trades_and_rests_the_remainder() -> None:
    x = Exchange()
    x.sell(10, px(0))
    x.sell(15, px(1))
    oid = x.buy(50, px(1), min_qty=20)
    assert sum(f[3] for f in x.fills()) == 25
    assert x.depth(BUY) == [(px(1), 25, 1)]
    assert x.engine.order(oid).min_qty == 0     # applies to the arrival only


def test_min_qty_counts_only_liquidity_within_the_limit_price() -> None:
    x = Exchange()
    x.sell(10, px(0))
    x.sell(50, px(2))
    x.buy(50, px(1), min_qty=20)
    assert not x.trades()
    assert reasons(x.events) == [R.MIN_QTY_NOT_AVAILABLE]


def test_min_qty_above_the_order_quantity_is_rejected() -> None:
    x = Exchange()
    x.buy(10, px(0), min_qty=20)
    assert reasons(x.events) == [R.INVALID_MIN_QTY]


# ------------------------------------------------------------ IOC and FOK


def test_ioc_trades_what_it_can_and_cancels_the_rest() -> None:
    x = Exchange()
    x.sell(10, px(0))
    oid = x.buy(25, px(0), time_in_force=IOC)
    assert x.fills() == [(oid, 1, px(0), 10)]
    (cancelled,) = of_kind(x.events, Cancelled)
    assert (cancelled.reason, cancelled.text, cancelled.cancelled_qty, cancelled.cum_qty) == \
        (R.IOC_REMAINDER, R.TEXT[R.IOC_REMAINDER], 15, 10)
    assert x.depth(BUY) == []


def test_ioc_that_cannot_trade_is_cancelled() -> None:
    x = Exchange()
    x.buy(10, px(0), time_in_force=IOC)
    assert x.kinds() == [Accepted, Cancelled]
    assert x.depth(BUY) == []


def test_fok_fills_completely_when_enough_is_available() -> None:
    x = Exchange()
    x.sell(10, px(0))
    x.sell(20, px(1))
    oid = x.buy(30, px(1), time_in_force=FOK)
    assert [f[3] for f in x.fills()] == [10, 20]
    assert x.engine.order(oid) is None and x.depth(SELL) == []


def test_fok_that_cannot_fill_completely_does_not_trade_at_all() -> None:
    x = Exchange()
    x.sell(10, px(0))
    x.sell(20, px(2))
    oid = x.buy(30, px(1), time_in_force=FOK)
    assert not x.trades()
    assert of_kind(x.events, Cancelled) == [
        Cancelled(4, oid, R.FOK_NOT_FILLABLE, R.TEXT[R.FOK_NOT_FILLABLE], 30, 0, "")]
    assert x.depth(SELL) == [(px(0), 10, 1), (px(2), 20, 1)]


def test_fok_counts_iceberg_reserve_as_available() -> None:
    x = Exchange()
    x.sell(100, px(0), max_floor=10)
    x.buy(60, px(0), time_in_force=FOK)
    assert sum(f[3] for f in x.fills()) == 60


def test_fok_market_order_fills_completely_or_not_at_all() -> None:
    x = Exchange()
    x.sell(10, px(0))
    x.buy(20, ord_type=MARKET, time_in_force=FOK)
    assert not x.trades() and reasons(x.events) == [R.FOK_NOT_FILLABLE]


# ------------------------------------------------------- DAY, GTC and GTD


def test_end_of_day_expires_day_orders_and_keeps_gtc_and_gtd() -> None:
    x = Exchange()
    day = x.buy(10, px(0))
    gtc = x.buy(10, px(-1), time_in_force=GTC)
    gtd = x.buy(10, px(-2), time_in_force=GTD, expire_time=10**12)
    day_stop = x.sell(10, ord_type=STOP, stop_px=px(-5))
    x.do(EndOfDay(symbol=SYM))
    expired = of_kind(x.events, Expired)
    assert [(e.order_id, e.reason, e.expired_qty) for e in expired] == \
        [(day, R.DAY_EXPIRED, 10), (day_stop, R.DAY_EXPIRED, 10)]
    assert set(x.engine.orders) == {gtc, gtd}


def test_expire_gtd_command_expires_only_orders_that_are_due() -> None:
    x = Exchange()
    due = x.buy(10, px(0), time_in_force=GTD, expire_time=5_000)
    later = x.buy(10, px(0), time_in_force=GTD, expire_time=9_000)
    x.do(ExpireGTD(), ts=5_000)
    assert of_kind(x.events, Expired) == [
        Expired(of_kind(x.events, Expired)[0].exec_id, due, R.GTD_EXPIRED,
                R.TEXT[R.GTD_EXPIRED], 10, 0)]
    assert set(x.engine.orders) == {later}
    x.do(ExpireGTD(), ts=9_000)
    assert x.engine.orders == {}


def test_expired_partially_filled_order_reports_its_cumulative_quantity() -> None:
    x = Exchange()
    oid = x.buy(30, px(0))
    x.sell(10, px(0))
    x.do(EndOfDay())
    (expired,) = of_kind(x.events, Expired)
    assert (expired.order_id, expired.expired_qty, expired.cum_qty) == (oid, 20, 10)


def test_gtc_order_survives_end_of_day() -> None:
    x = Exchange()
    oid = x.buy(10, px(0), time_in_force=GTC)
    x.do(EndOfDay())
    assert x.engine.order(oid) is not None and not x.events


def test_end_of_day_for_an_unknown_symbol_is_rejected() -> None:
    x = Exchange()
    x.do(EndOfDay(symbol="NOPE"))
    assert reasons(x.events) == [R.UNKNOWN_SYMBOL]


def test_new_order_defaults_make_a_day_limit_order() -> None:
    x = Exchange()
    x.do(NewOrder(symbol=SYM, side=BUY, order_qty=10, price=px(0)))
    assert x.engine.order(1).tif == 0 and x.engine.order(1).ord_type == LIMIT
    assert not of_kind(x.events, Trade)
