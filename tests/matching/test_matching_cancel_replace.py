"""Cancel, cancel/replace and mass cancel."""

from __future__ import annotations

from matching import reasons as R
from matching.commands import Cancel, MassCancel, Replace, SetPhase
from matching.constants import BUY, CLOSED, HALTED, SELL, STOP, STOP_LIMIT
from matching.engine import Engine
from matching.events import (
    BookChanged,
    Cancelled,
    CancelRejected,
    MassCancelDone,
    Replaced,
    Triggered,
)
from matching.instruments import Instrument
from tests.matching.helpers import REF, SYM, TICK, Exchange, of_kind, px, reasons

# ------------------------------------------------------------------ cancel


def test_cancel_removes_the_order_and_reports_the_level() -> None:
    x = Exchange()
    oid = x.buy(10, px(0))
    x.buy(5, px(0))
    x.cancel(oid, cl_ord_id="x1")
    assert x.events == [
        Cancelled(3, oid, R.CANCEL_REQUESTED, R.TEXT[R.CANCEL_REQUESTED], 10, 0, "x1"),
        BookChanged(SYM, BUY, px(0), 5, 1),
    ]
    assert x.engine.order(oid) is None


def test_cancel_of_the_last_order_at_a_level_removes_the_level() -> None:
    x = Exchange()
    oid = x.buy(10, px(0))
    x.buy(10, px(-1))
    x.cancel(oid)
    assert of_kind(x.events, BookChanged) == [BookChanged(SYM, BUY, px(0), 0, 0)]
    assert x.engine.best_bid(SYM) == (px(-1), 10)


def test_cancel_of_a_partially_filled_order_reports_cancelled_and_cumulative_quantity() -> None:
    x = Exchange()
    oid = x.buy(30, px(0))
    x.sell(10, px(0))
    x.cancel(oid)
    (cancelled,) = of_kind(x.events, Cancelled)
    assert (cancelled.cancelled_qty, cancelled.cum_qty) == (20, 10)


def test_cancel_of_an_unknown_order_is_rejected_as_unknown() -> None:
    x = Exchange()
    command = Cancel(order_id=42, session="S1")
    assert x.do(command) == [CancelRejected(R.UNKNOWN_ORDER, x.events[0].text, command)]


def test_cancel_of_a_filled_order_is_rejected_as_too_late() -> None:
    x = Exchange()
    oid = x.buy(10, px(0))
    x.sell(10, px(0))
    x.cancel(oid)
    assert reasons(x.events) == [R.TOO_LATE]


def test_cancel_of_an_already_cancelled_order_is_rejected_as_too_late() -> None:
    x = Exchange()
    oid = x.buy(10, px(0))
    x.cancel(oid)
    x.cancel(oid)
    assert reasons(x.events) == [R.TOO_LATE]


def test_cancel_from_another_session_is_rejected() -> None:
    x = Exchange()
    oid = x.buy(10, px(0), session="S1")
    x.cancel(oid, session="S2")
    assert reasons(x.events) == [R.NOT_OWNER]
    assert x.engine.order(oid) is not None


def test_operator_cancel_without_session_cancels_any_order() -> None:
    x = Exchange()
    oid = x.buy(10, px(0), session="S1")
    x.cancel(oid, session="")
    assert reasons(x.events) == [R.CANCEL_REQUESTED]


def test_cancel_of_an_untriggered_stop() -> None:
    x = Exchange()
    oid = x.buy(10, ord_type=STOP, stop_px=px(1))
    x.cancel(oid)
    assert reasons(x.events) == [R.CANCEL_REQUESTED]
    assert not of_kind(x.events, BookChanged)
    x.sell(10, px(1))
    x.buy(10, px(1))
    assert not of_kind(x.events, Triggered)


def test_cancel_is_accepted_while_halted_and_closed() -> None:
    x = Exchange()
    first, second = x.buy(10, px(0)), x.buy(10, px(0))
    x.do(SetPhase(symbol=SYM, phase=HALTED))
    x.cancel(first)
    assert reasons(x.events) == [R.CANCEL_REQUESTED]
    x.do(SetPhase(symbol=SYM, phase=CLOSED))
    x.cancel(second)
    assert reasons(x.events) == [R.CANCEL_REQUESTED]


# ----------------------------------------------------------------- replace


def test_replace_reducing_quantity_keeps_priority() -> None:
    x = Exchange()
    first, second = x.sell(30, px(0)), x.sell(30, px(0))
    x.replace(first, 20, px(0), cl_ord_id="r1")
    assert of_kind(x.events, Replaced) == [Replaced(3, first, "r1", px(0), 20, 20, 0, 0, True)]
    assert x.queue(SELL, px(0)) == [first, second]
    assert x.depth(SELL) == [(px(0), 50, 2)]


def test_replace_increasing_quantity_loses_priority() -> None:
    x = Exchange()
    first, second = x.sell(30, px(0)), x.sell(30, px(0))
    x.replace(first, 40, px(0))
    assert of_kind(x.events, Replaced)[0].kept_priority is False
    assert x.queue(SELL, px(0)) == [second, first]
    assert x.depth(SELL) == [(px(0), 70, 2)]


def test_replace_changing_price_loses_priority() -> None:
    x = Exchange()
    first = x.sell(30, px(1))
    second = x.sell(30, px(0))
    x.replace(first, 30, px(0))
    assert x.queue(SELL, px(0)) == [second, first]
    assert x.depth(SELL) == [(px(0), 60, 2)]


def test_replace_to_a_marketable_price_trades_immediately() -> None:
    x = Exchange()
    x.buy(10, px(0))
    oid = x.sell(30, px(1))
    x.replace(oid, 30, px(0))
    assert x.fills() == [(oid, 1, px(0), 10)]
    assert x.depth(SELL) == [(px(0), 20, 1)]


def test_replace_keeps_the_filled_quantity() -> None:
    x = Exchange()
    oid = x.sell(30, px(0))
    x.buy(10, px(0))
    x.replace(oid, 50, px(0))
    (replaced,) = of_kind(x.events, Replaced)
    assert (replaced.order_qty, replaced.leaves_qty, replaced.cum_qty) == (50, 40, 10)


def test_replace_down_to_the_filled_quantity_cancels_the_order() -> None:
    x = Exchange()
    oid = x.sell(30, px(0))
    x.buy(10, px(0))
    x.replace(oid, 10, px(0), cl_ord_id="r1")
    (cancelled,) = of_kind(x.events, Cancelled)
    assert (cancelled.order_id, cancelled.reason, cancelled.cancelled_qty,
            cancelled.cl_ord_id) == (oid, R.REPLACED_TO_FILLED, 20, "r1")
    assert x.engine.order(oid) is None and x.depth(SELL) == []


def test_replace_below_the_filled_quantity_cancels_the_order() -> None:
    x = Exchange()
    oid = x.sell(30, px(0))
    x.buy(10, px(0))
    x.replace(oid, 5, px(0))
    assert reasons(x.events) == [R.REPLACED_TO_FILLED]


def test_replace_of_an_iceberg_keeps_its_display_quantity() -> None:
    x = Exchange()
    oid = x.sell(100, px(0), max_floor=20)
    x.replace(oid, 200, px(1))
    assert x.depth(SELL) == [(px(1), 20, 1)]
    x.replace(oid, 10, px(1))
    assert x.depth(SELL) == [(px(1), 10, 1)]


def test_replace_of_an_untriggered_stop_changes_its_stop_price() -> None:
    x = Exchange()
    x.sell(100, px(0))
    oid = x.buy(10, px(2), ord_type=STOP_LIMIT, stop_px=px(5))
    x.replace(oid, 20, px(3), stop_px=px(0))
    # last is unset until a trade; the next trade at 10.00 now triggers it.
    x.buy(1, px(0))
    assert [t.order_id for t in of_kind(x.events, Triggered)] == [oid]
    assert x.fills()[-1] == (oid, 1, px(0), 20)


def test_replace_with_an_invalid_price_is_rejected() -> None:
    x = Exchange()
    oid = x.buy(10, px(0))
    command = Replace(order_id=oid, session="S1", order_qty=10, price=px(0) + 1)
    x.do(command)
    assert x.events == [CancelRejected(R.PRICE_NOT_ON_TICK, x.events[0].text, command)]


def test_replace_is_rejected_while_halted() -> None:
    x = Exchange()
    oid = x.buy(10, px(0))
    x.do(SetPhase(symbol=SYM, phase=HALTED))
    x.replace(oid, 5, px(0))
    assert reasons(x.events) == [R.MARKET_HALTED]


def test_replace_from_another_session_is_rejected() -> None:
    x = Exchange()
    oid = x.buy(10, px(0), session="S1")
    x.replace(oid, 5, px(0), session="S2")
    assert reasons(x.events) == [R.NOT_OWNER]


def test_replace_of_an_unknown_order_is_rejected() -> None:
    x = Exchange()
    x.replace(7, 5, px(0))
    assert reasons(x.events) == [R.UNKNOWN_ORDER]


# ------------------------------------------------------------- mass cancel


def mass_exchange() -> tuple[Exchange, dict[str, int]]:
    engine = Engine([Instrument(SYM, TICK, 1, REF), Instrument("OTHR", TICK, 1, REF)])
    x = Exchange(engine)
    oids = {
        "s1_a_buy": x.buy(10, px(-1), session="S1", account="A"),
        "s1_a_sell": x.sell(10, px(1), session="S1", account="A"),
        "s1_b_buy": x.buy(10, px(-1), session="S1", account="B"),
        "s2_a_buy": x.buy(10, px(-1), session="S2", account="A"),
        "s1_a_other": x.buy(10, px(-1), session="S1", account="A", symbol="OTHR"),
        "s1_a_stop": x.sell(10, session="S1", account="A", ord_type=STOP, stop_px=px(-9)),
    }
    return x, oids


def cancelled_oids(x: Exchange) -> list[int]:
    return [c.order_id for c in of_kind(x.events, Cancelled)]


def test_mass_cancel_by_session() -> None:
    x, o = mass_exchange()
    x.do(MassCancel(session="S2", cl_ord_id="m1"))
    assert cancelled_oids(x) == [o["s2_a_buy"]]
    assert x.events[-1] == MassCancelDone(1, x.events[-1].command)


def test_mass_cancel_by_account() -> None:
    x, o = mass_exchange()
    x.do(MassCancel(account="B"))
    assert cancelled_oids(x) == [o["s1_b_buy"]]


def test_mass_cancel_by_symbol_includes_untriggered_stops() -> None:
    x, o = mass_exchange()
    x.do(MassCancel(symbol=SYM, session="S1", account="A"))
    assert cancelled_oids(x) == [o["s1_a_buy"], o["s1_a_sell"], o["s1_a_stop"]]


def test_mass_cancel_by_side() -> None:
    x, o = mass_exchange()
    x.do(MassCancel(side=SELL))
    assert cancelled_oids(x) == [o["s1_a_sell"], o["s1_a_stop"]]


def test_mass_cancel_reports_its_request_and_reason() -> None:
    x, o = mass_exchange()
    x.do(MassCancel(session="S2", cl_ord_id="m1"))
    (cancelled,) = of_kind(x.events, Cancelled)
    assert (cancelled.reason, cancelled.cl_ord_id) == (R.MASS_CANCEL, "m1")


def test_mass_cancel_without_filters_cancels_everything() -> None:
    x, o = mass_exchange()
    x.do(MassCancel())
    assert cancelled_oids(x) == sorted(o.values())
    assert x.engine.orders == {}
    assert x.events[-1].total_affected_orders == len(o)
