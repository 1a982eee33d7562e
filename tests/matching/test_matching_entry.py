"""Order entry: acceptance, ids and validation rejects."""

from __future__ import annotations

from matching import reasons as R
from matching.commands import NewOrder
from matching.constants import BUY, GTD, LIMIT, MARKET, SELL, STOP_LIMIT
from matching.engine import Engine
from matching.events import Accepted, BookChanged, Rejected
from matching.instruments import Instrument
from tests.matching.helpers import SYM, Exchange, of_kind, px, reasons


def test_limit_order_that_does_not_cross_rests_in_the_book() -> None:
    x = Exchange()
    oid = x.buy(300, px(0))
    assert x.kinds() == [Accepted, BookChanged]
    assert x.events[1] == BookChanged(SYM, BUY, px(0), 300, 1)
    assert x.engine.best_bid(SYM) == (px(0), 300)
    assert x.engine.order(oid).leaves == 300


def test_accepted_event_carries_order_id_exec_id_and_the_command() -> None:
    x = Exchange()
    command = NewOrder(symbol=SYM, side=SELL, order_qty=5, price=px(1), cl_ord_id="c1",
                       session="S1")
    events = x.do(command)
    assert events[0] == Accepted(1, 1, command)
    assert events[0].order is command


def test_order_ids_exec_ids_and_trade_ids_come_from_engine_counters() -> None:
    x = Exchange()
    assert x.sell(10, px(0)) == 1
    assert x.sell(10, px(0)) == 2
    x.buy(20, px(0))
    trades = x.trades()
    assert [t.trade_id for t in trades] == [1, 2]
    # Accepted took exec ids 1, 2, 3; each trade takes one per side.
    assert [(t.aggressor_exec_id, t.resting_exec_id) for t in trades] == [(4, 5), (6, 7)]


def test_unknown_symbol_is_rejected() -> None:
    x = Exchange()
    assert x.buy(10, px(0), symbol="NOPE") == 0
    assert reasons(x.events) == [R.UNKNOWN_SYMBOL]


def test_rejected_event_carries_code_text_and_command() -> None:
    x = Exchange()
    command = NewOrder(symbol=SYM, side=BUY, order_qty=10, price=px(0) + 1)
    (event,) = x.do(command)
    assert event == Rejected(1, R.PRICE_NOT_ON_TICK, event.text, command)
    assert "tick" in event.text


def test_price_off_the_tick_grid_is_rejected() -> None:
    x = Exchange()
    x.buy(10, px(0) + 50)
    assert reasons(x.events) == [R.PRICE_NOT_ON_TICK]


def test_quantity_off_the_lot_size_is_rejected() -> None:
    x = Exchange(lot=100)
    x.buy(150, px(0))
    assert reasons(x.events) == [R.QUANTITY_NOT_LOT_MULTIPLE]
    assert x.buy(200, px(0)) > 0


def test_zero_or_negative_quantity_is_rejected() -> None:
    x = Exchange()
    x.buy(0, px(0))
    assert reasons(x.events) == [R.INVALID_QUANTITY]
    x.buy(-10, px(0))
    assert reasons(x.events) == [R.INVALID_QUANTITY]


def test_limit_order_without_positive_price_is_rejected() -> None:
    x = Exchange()
    x.buy(10, 0)
    assert reasons(x.events) == [R.INVALID_PRICE]


def test_float_price_or_quantity_is_rejected() -> None:
    x = Exchange()
    x.do(NewOrder(symbol=SYM, side=BUY, order_qty=10, price=float(px(0))))  # type: ignore[arg-type]
    assert reasons(x.events) == [R.INVALID_PRICE]
    x.do(NewOrder(symbol=SYM, side=BUY, order_qty=10.0, price=px(0)))  # type: ignore[arg-type]
    assert reasons(x.events) == [R.INVALID_QUANTITY]


def test_invalid_side_order_type_and_time_in_force_are_rejected() -> None:
    x = Exchange()
    x.order(3, 10, px(0))
    assert reasons(x.events) == [R.INVALID_SIDE]
    x.buy(10, px(0), ord_type=9)
    assert reasons(x.events) == [R.INVALID_ORDER_TYPE]
    x.buy(10, px(0), time_in_force=2)
    assert reasons(x.events) == [R.INVALID_TIME_IN_FORCE]


def test_stop_limit_needs_a_stop_price_on_the_tick_grid() -> None:
    x = Exchange()
    x.buy(10, px(0), ord_type=STOP_LIMIT)
    assert reasons(x.events) == [R.INVALID_STOP_PRICE]
    x.buy(10, px(0), ord_type=STOP_LIMIT, stop_px=px(1) + 1)
    assert reasons(x.events) == [R.INVALID_STOP_PRICE]


def test_gtd_order_needs_a_future_expire_time() -> None:
    x = Exchange()
    x.do(NewOrder(symbol=SYM, side=BUY, order_qty=10, price=px(0), time_in_force=GTD),
         ts=5_000)
    assert reasons(x.events) == [R.INVALID_EXPIRE_TIME]
    x.do(NewOrder(symbol=SYM, side=BUY, order_qty=10, price=px(0), time_in_force=GTD,
                  expire_time=5_000), ts=5_000)
    assert reasons(x.events) == [R.INVALID_EXPIRE_TIME]
    x.do(NewOrder(symbol=SYM, side=BUY, order_qty=10, price=px(0), time_in_force=GTD,
                  expire_time=5_001), ts=5_000)
    assert of_kind(x.events, Accepted)


def test_market_order_price_is_ignored() -> None:
    x = Exchange()
    x.sell(10, px(0))
    x.buy(10, 12345, ord_type=MARKET)
    assert x.fills() == [(2, 1, px(0), 10)]


def test_rejected_order_consumes_no_order_id() -> None:
    x = Exchange()
    x.buy(10, px(0), symbol="NOPE")
    assert x.buy(10, px(0)) == 1


def test_rejected_order_changes_nothing() -> None:
    x = Exchange()
    x.buy(10, px(0))
    before = x.engine.snapshot()
    x.buy(10, px(0) + 1)
    x.buy(-1, px(0))
    # Only the exec id counter moved (each Rejected has an ExecID).
    after = Engine.restore(x.engine.snapshot())
    restored_before = Engine.restore(before)
    assert after.orders.keys() == restored_before.orders.keys()
    assert after.depth(SYM, BUY) == restored_before.depth(SYM, BUY)


def test_something_that_is_not_a_matching_command_raises_type_error() -> None:
    import pytest

    x = Exchange()
    x.buy(10, px(0))
    before = (x.engine.snapshot(), x.engine.next_exec_id)
    command = NewOrder(symbol=SYM, side=BUY, order_qty=10, price=px(0))
    old_layout = (1, *(getattr(command, f) for f in command.__struct_fields__))
    for thing in (old_layout, (1, SYM, BUY), (99, "x"), (), None, "NewOrder",
                  Accepted(1, 1, command)):
        with pytest.raises(TypeError):
            x.engine.process(thing, 2_000)  # type: ignore[arg-type]
    assert (x.engine.snapshot(), x.engine.next_exec_id) == before


def test_engine_refuses_an_invalid_instrument_definition() -> None:
    import pytest

    with pytest.raises(ValueError):
        Engine([Instrument(SYM, 0, 1, 0)])
    with pytest.raises(ValueError):
        Engine([Instrument(SYM, 100, 1, 150)])   # reference price off the tick grid
    with pytest.raises(ValueError):
        Engine([Instrument(SYM, 100), Instrument(SYM, 100)])


def test_every_reason_code_has_a_text_and_fix_mapping() -> None:
    for code, reason in R.REASONS.items():
        assert reason.code == code and reason.text
        assert isinstance(reason.ord_rej_reason, int) and isinstance(reason.cxl_rej_reason, int)


def test_limit_is_the_default_order_type() -> None:
    assert NewOrder().ord_type == LIMIT

