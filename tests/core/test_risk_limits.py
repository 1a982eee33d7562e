"""risk.limits.InstrumentLimitCheck: maximum order quantity and the price band."""

from __future__ import annotations

from matching import events as E
from matching.commands import NewOrder, Replace
from matching.constants import BUY, LIMIT, MARKET, SELL, STOP, STOP_LIMIT
from matching.engine import Engine
from matching.orders import Order
from risk.limits import ORDER_QTY_LIMIT, PRICE_BAND, InstrumentLimitCheck, InstrumentLimits

from .support import AAA, BBB, instruments

TICK = 100
REF = 100_0000            # 100.00
MAX_QTY = 5_000
# A 10% band around 100.00 is 90.00 .. 110.00.
LOW, HIGH = 90_0000, 110_0000


def check(band_pct: int = 10) -> InstrumentLimitCheck:
    return InstrumentLimitCheck({
        AAA: InstrumentLimits(MAX_QTY, band_pct, REF),
        # BBB: tighter quantity, a band around 50.00 (45.00 .. 55.00).
        BBB: InstrumentLimits(100, 10, 50_0000),
    })


def order(qty: int = 10, price: int = REF, symbol: str = AAA, ord_type: int = LIMIT,
          side: int = BUY) -> NewOrder:
    return NewOrder(symbol=symbol, side=side, qty=qty, price=price, ord_type=ord_type,
                    cl_ord_id="c1", session="S1")


def open_order(symbol: str = AAA, ord_type: int = LIMIT) -> Order:
    return Order(oid=1, symbol=symbol, side=BUY, ord_type=ord_type, price=REF, stop_price=0,
                 qty=10, display=0, min_qty=0, tif=0, expire_time=0, cl_ord_id="c1",
                 session="S1", account="A")


# -- maximum order quantity ----------------------------------------------------------------


def test_quantity_exactly_at_the_maximum_passes() -> None:
    assert check()(order(qty=MAX_QTY), None) is None


def test_quantity_one_above_the_maximum_is_refused_with_its_code() -> None:
    verdict = check()(order(qty=MAX_QTY + 1), None)
    assert verdict is not None and verdict[0] == ORDER_QTY_LIMIT


def test_quantity_refusal_text_names_the_limit_and_the_orders_value() -> None:
    _, text = check()(order(qty=MAX_QTY + 1), None)
    assert str(MAX_QTY) in text and str(MAX_QTY + 1) in text and AAA in text


def test_market_order_above_the_maximum_is_refused() -> None:
    verdict = check()(order(qty=MAX_QTY + 1, price=0, ord_type=MARKET), None)
    assert verdict is not None and verdict[0] == ORDER_QTY_LIMIT


# -- price band ------------------------------------------------------------------------------


def test_band_is_the_percentage_around_the_reference_price_before_any_trade() -> None:
    assert check().band(AAA) == (LOW, HIGH)


def test_price_exactly_at_the_upper_band_edge_passes() -> None:
    assert check()(order(price=HIGH), None) is None


def test_price_one_tick_above_the_band_is_refused() -> None:
    verdict = check()(order(price=HIGH + TICK), None)
    assert verdict is not None and verdict[0] == PRICE_BAND


def test_price_exactly_at_the_lower_band_edge_passes() -> None:
    assert check()(order(price=LOW, side=SELL), None) is None


def test_price_one_tick_below_the_band_is_refused() -> None:
    verdict = check()(order(price=LOW - TICK, side=SELL), None)
    assert verdict is not None and verdict[0] == PRICE_BAND


def test_price_band_text_names_the_price_and_the_band() -> None:
    _, text = check()(order(price=HIGH + TICK), None)
    assert "110.01" in text and "90" in text and "110" in text and "10%" in text


def test_band_recentres_on_the_last_trade_price() -> None:
    limits = check()
    limits.on_trade(AAA, 120_0000)
    assert limits.band(AAA) == (108_0000, 132_0000)


def test_price_outside_the_old_band_passes_after_a_trade_moves_it() -> None:
    limits = check()
    limits.on_trade(AAA, 120_0000)
    assert limits(order(price=130_0000), None) is None


def test_price_inside_the_old_band_is_refused_after_a_trade_moves_it() -> None:
    limits = check()
    limits.on_trade(AAA, 120_0000)
    verdict = limits(order(price=95_0000), None)
    assert verdict is not None and verdict[0] == PRICE_BAND


def test_trade_in_one_symbol_leaves_the_other_band_alone() -> None:
    limits = check()
    limits.on_trade(AAA, 120_0000)
    assert limits.band(BBB) == (45_0000, 55_0000)


def test_market_order_is_not_price_checked() -> None:
    assert check()(order(price=500_0000, ord_type=MARKET), None) is None


def test_stop_order_price_is_not_checked() -> None:
    assert check()(order(price=500_0000, ord_type=STOP), None) is None


def test_stop_limit_order_price_is_checked() -> None:
    verdict = check()(order(price=HIGH + TICK, ord_type=STOP_LIMIT), None)
    assert verdict is not None and verdict[0] == PRICE_BAND


def test_zero_band_percentage_means_no_band() -> None:
    assert check(band_pct=0)(order(price=10 * REF), None) is None


def test_symbol_without_limits_is_not_checked() -> None:
    assert check()(order(symbol="ZZZ", qty=10**9, price=1), None) is None


# -- replace ---------------------------------------------------------------------------------


def test_replace_is_checked_against_the_orders_symbol_band() -> None:
    # 100.00 is inside AAA's band but outside BBB's (45.00 .. 55.00).
    command = Replace(oid=1, cl_ord_id="r1", session="S1", qty=10, price=REF)
    verdict = check()(command, open_order(symbol=BBB))
    assert verdict is not None and verdict[0] == PRICE_BAND and BBB in verdict[1]


def test_replace_is_checked_against_the_orders_symbol_quantity_limit() -> None:
    command = Replace(oid=1, cl_ord_id="r1", session="S1", qty=101, price=50_0000)
    verdict = check()(command, open_order(symbol=BBB))
    assert verdict is not None and verdict[0] == ORDER_QTY_LIMIT


def test_replace_within_the_limits_passes() -> None:
    command = Replace(oid=1, cl_ord_id="r1", session="S1", qty=MAX_QTY, price=HIGH)
    assert check()(command, open_order(symbol=AAA)) is None


def test_replace_without_an_open_order_is_not_checked() -> None:
    command = Replace(oid=1, cl_ord_id="r1", session="S1", qty=10**9, price=1)
    assert check()(command, None) is None


# -- as the engine's risk hook --------------------------------------------------------------


def test_engine_rejects_an_order_the_check_refuses_with_its_code() -> None:
    engine = Engine(instruments(), risk=check())
    events = engine.process(order(qty=MAX_QTY + 1), 1)
    assert [(e[0], e[2]) for e in events] == [(E.REJECTED, ORDER_QTY_LIMIT)]


def test_engine_rejects_a_replace_the_check_refuses_and_keeps_the_order() -> None:
    engine = Engine(instruments(), risk=check())
    engine.process(order(qty=10, price=REF), 1)
    events = engine.process(Replace(oid=1, cl_ord_id="r1", session="S1", qty=10,
                                    price=HIGH + TICK), 2)
    assert ([(e[0], e[1]) for e in events], engine.orders[1].price) == \
        ([(E.CANCEL_REJECTED, PRICE_BAND)], REF)
