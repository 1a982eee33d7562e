"""Trading phases, call auctions and instrument definition."""

from __future__ import annotations

from matching import reasons as R
from matching.auction import uncross_price
from matching.commands import AddInstrument, SetPhase
from matching.constants import (
    BUY,
    CLOSED,
    CLOSING_AUCTION,
    CONTINUOUS,
    FOK,
    HALTED,
    IOC,
    MARKET,
    OPENING_AUCTION,
    PRE_OPEN,
    SELL,
    STOP,
)
from matching.engine import Engine
from matching.events import Accepted, Cancelled, Event, PhaseChanged, Trade, Triggered
from matching.instruments import Instrument
from tests.matching.helpers import REF, SYM, TICK, Exchange, of_kind, px, reasons


def called(phase: int = OPENING_AUCTION) -> Exchange:
    return Exchange(phase=phase)


def open_market(x: Exchange, phase: int = CONTINUOUS) -> list[Event]:
    return x.do(SetPhase(symbol=SYM, phase=phase))


# ------------------------------------------------------------ call phases


def test_pre_open_accepts_orders_without_matching() -> None:
    x = called(PRE_OPEN)
    x.sell(10, px(-1))
    x.buy(10, px(1))
    assert not x.trades()
    assert x.book.crossed()


def test_ioc_fok_and_min_qty_orders_are_refused_in_a_call_phase() -> None:
    x = called(PRE_OPEN)
    for kwargs in ({"time_in_force": IOC}, {"time_in_force": FOK}, {"min_qty": 5},
                   {"ord_type": MARKET, "time_in_force": IOC}):
        x.buy(10, px(0), **kwargs)
        assert reasons(x.events) == [R.NOT_ALLOWED_IN_PHASE], kwargs


# The engine's default protection band is 500 bps (5%).

def test_a_market_order_in_a_call_rests_at_its_protection_price_from_the_touch() -> None:
    x = called()
    x.sell(10, px(0))                         # the ask: 10.00
    x.buy(30, ord_type=MARKET)
    assert x.depth(BUY) == [(px(50), 30, 1)]  # 10.00 + 5% = 10.50


def test_a_market_order_in_a_call_without_a_touch_is_protected_from_the_reference() -> None:
    x = called()
    x.sell(30, ord_type=MARKET)
    assert x.depth(SELL) == [(px(-50), 30, 1)]   # the reference 10.00 - 5%


def test_market_orders_take_part_in_the_uncross_ahead_of_worse_limits() -> None:
    x = called()
    x.sell(40, px(0))
    x.buy(30, ord_type=MARKET)                # at 10.50: ahead of the 10.00 bid
    bid = x.buy(30, px(0))
    open_market(x)
    assert [(t.last_px, t.last_qty, t.aggressor_order_id) for t in x.trades()] == [
        (px(0), 30, 2), (px(0), 10, bid)]


def test_what_the_call_did_not_execute_of_a_market_order_is_cancelled_when_it_ends(
        ) -> None:
    x = called()
    x.sell(10, px(0))
    market = x.buy(30, ord_type=MARKET)
    events = open_market(x)
    cancelled = of_kind(events, Cancelled)
    assert [(c.order_id, c.reason, c.cancelled_qty, c.cum_qty) for c in cancelled] == [
        (market, R.AUCTION_MARKET_UNFILLED, 20, 10)]
    assert [type(e) for e in events].index(Cancelled) < [type(e) for e in events].index(
        PhaseChanged)
    assert x.depth(BUY) == [] and x.engine.order(market) is None


def test_a_market_order_waits_through_a_halt_of_the_call() -> None:
    x = called()
    market = x.buy(30, ord_type=MARKET)
    open_market(x, HALTED)
    assert x.engine.order(market) is not None
    open_market(x, CLOSED)
    assert x.engine.order(market) is None


def test_a_replaced_market_order_in_a_call_is_protected_from_the_touch_of_the_moment() -> None:
    x = called()
    market = x.buy(30, ord_type=MARKET)       # no ask: 10.50 from the reference
    x.sell(10, px(-20))
    x.replace(market, 40, 0)
    assert x.depth(BUY) == [(px(29), 40, 1)]  # 9.80 + 5% = 10.29


def test_stop_orders_are_accepted_in_a_call_phase_and_wait() -> None:
    x = called(PRE_OPEN)
    x.buy(10, ord_type=STOP, stop_px=px(0))
    assert x.kinds() == [Accepted]


def test_opening_auction_uncrosses_at_the_price_of_maximum_volume() -> None:
    x = called()
    x.buy(100, px(2))
    x.buy(50, px(1))
    x.sell(80, px(0))
    x.sell(60, px(1))
    open_market(x)
    trades = x.trades()
    assert {t.last_px for t in trades} == {px(1)}
    assert sum(t.last_qty for t in trades) == 140
    assert x.book.phase == CONTINUOUS and not x.book.crossed()
    assert x.depth(BUY) == [(px(1), 10, 1)]
    assert x.depth(SELL) == []


def test_uncross_prefers_the_price_with_the_smallest_imbalance() -> None:
    x = called()
    x.buy(100, px(2))
    x.buy(50, px(0))
    x.sell(100, px(0))
    x.sell(50, px(2))
    open_market(x)
    # 100 executes at 10.00, 10.01 and 10.02; only 10.01 leaves no imbalance.
    assert {t.last_px for t in x.trades()} == {px(1)}
    assert sum(t.last_qty for t in x.trades()) == 100


def test_uncross_prefers_the_price_closest_to_the_reference_price() -> None:
    x = called()
    x.buy(100, px(5))
    x.sell(100, px(-5))
    open_market(x)
    assert {t.last_px for t in x.trades()} == {REF}
    x2 = called()
    x2.buy(100, px(9))
    x2.sell(100, px(4))
    open_market(x2)
    assert {t.last_px for t in x2.trades()} == {px(4)}


def test_uncross_breaks_remaining_ties_with_the_lower_price() -> None:
    assert uncross_price([(4, 10)], [(2, 10)], 3, 2) == (2, 10)


def test_uncross_without_a_cross_executes_nothing() -> None:
    x = called()
    x.buy(10, px(-1))
    x.sell(10, px(1))
    open_market(x)
    assert not x.trades()
    assert uncross_price([(px(-1), 10)], [(px(1), 10)], REF, TICK) is None


def test_auction_trades_are_flagged_with_the_buy_order_in_the_aggressor_fields() -> None:
    x = called()
    seller = x.sell(10, px(0))
    buyer = x.buy(10, px(0))
    open_market(x)
    (trade,) = x.trades()
    assert trade == Trade(SYM, 1, px(0), 10, BUY, buyer, trade.aggressor_exec_id, 0, 10,
                          seller, trade.resting_exec_id, 0, 10, True)


def test_auction_executes_in_price_then_time_priority() -> None:
    x = called()
    late_better = x.buy(10, px(2))
    x.sell(15, px(0))
    early = x.buy(10, px(1))
    later = x.buy(10, px(1))
    open_market(x)
    assert [(t.aggressor_order_id, t.last_qty) for t in x.trades()] == [(late_better, 10),
                                                                       (early, 5)]
    assert x.queue(BUY, px(1)) == [early, later]


def test_auction_executes_iceberg_reserve() -> None:
    x = called()
    x.buy(100, px(0), max_floor=10)
    x.sell(60, px(0))
    open_market(x)
    assert sum(t.last_qty for t in x.trades()) == 60


def test_pre_open_to_continuous_uncrosses_a_crossed_book() -> None:
    x = called(PRE_OPEN)
    x.sell(10, px(-1))
    x.buy(10, px(1))
    open_market(x)
    assert sum(t.last_qty for t in x.trades()) == 10
    assert not x.book.crossed()


def test_stops_trigger_when_continuous_trading_starts_after_the_auction() -> None:
    x = called()
    stop = x.buy(5, ord_type=STOP, stop_px=px(0))
    seller = x.sell(20, px(0))
    x.buy(10, px(0))
    open_market(x)
    assert [t.order_id for t in of_kind(x.events, Triggered)] == [stop]
    assert x.fills()[-1] == (stop, seller, px(0), 5)


def test_closing_auction_uncrosses_when_the_market_closes() -> None:
    x = Exchange()
    open_market(x, CLOSING_AUCTION)
    x.sell(10, px(0))
    x.buy(10, px(1))
    assert not x.trades()
    open_market(x, CLOSED)
    assert sum(t.last_qty for t in x.trades()) == 10
    assert of_kind(x.events, PhaseChanged) == [PhaseChanged(SYM, CLOSING_AUCTION, CLOSED)]


# ------------------------------------------------------- halted and closed


def test_halted_instrument_rejects_new_orders_and_does_not_match() -> None:
    x = Exchange()
    x.sell(10, px(0))
    open_market(x, HALTED)
    x.buy(10, px(0))
    assert reasons(x.events) == [R.MARKET_HALTED]
    open_market(x)
    assert not x.trades()
    x.buy(10, px(0))
    assert len(x.trades()) == 1


def test_halt_during_the_call_keeps_the_book_until_trading_resumes() -> None:
    x = called()
    x.sell(10, px(0))
    x.buy(10, px(0))
    open_market(x, HALTED)
    assert not x.trades()
    open_market(x)
    assert sum(t.last_qty for t in x.trades()) == 10


def test_closed_instrument_rejects_new_orders() -> None:
    x = Exchange()
    open_market(x, CLOSED)
    x.buy(10, px(0))
    assert reasons(x.events) == [R.MARKET_CLOSED]


# ----------------------------------------------------------- phase changes


def test_phase_change_is_reported_with_old_and_new_phase() -> None:
    x = called(PRE_OPEN)
    assert open_market(x, OPENING_AUCTION) == [PhaseChanged(SYM, PRE_OPEN, OPENING_AUCTION)]


def test_setting_the_current_phase_again_does_nothing() -> None:
    x = Exchange()
    assert open_market(x) == []


def test_phase_change_without_symbol_applies_to_every_instrument() -> None:
    engine = Engine([Instrument("BBB", TICK), Instrument("AAA", TICK)])
    events = engine.process(SetPhase(phase=HALTED))
    assert [(e.symbol, e.new_phase) for e in events] == [("AAA", HALTED), ("BBB", HALTED)]


def test_unknown_phase_or_symbol_is_rejected() -> None:
    x = Exchange()
    x.do(SetPhase(symbol=SYM, phase=42))
    assert reasons(x.events) == [R.INVALID_PHASE]
    x.do(SetPhase(symbol="NOPE", phase=HALTED))
    assert reasons(x.events) == [R.UNKNOWN_SYMBOL]


# ------------------------------------------------------------- instruments


def test_add_instrument_creates_a_book_in_the_given_phase() -> None:
    engine = Engine()
    events = engine.process(AddInstrument(symbol="NEW", tick_size=TICK, lot_size=10,
                                          reference_price=REF, phase=PRE_OPEN))
    assert events == [PhaseChanged("NEW", 0, PRE_OPEN)]
    assert engine.books["NEW"].instrument == Instrument("NEW", TICK, 10, REF)


def test_add_instrument_twice_is_rejected() -> None:
    x = Exchange()
    x.do(AddInstrument(symbol=SYM, tick_size=TICK))
    assert reasons(x.events) == [R.DUPLICATE_SYMBOL]


def test_add_instrument_with_invalid_grid_is_rejected() -> None:
    x = Exchange()
    x.do(AddInstrument(symbol="BAD", tick_size=0))
    assert reasons(x.events) == [R.INVALID_INSTRUMENT]
    assert "BAD" not in x.engine.books
