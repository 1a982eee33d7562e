"""venue.orderentry.OrderEntry: journaled commands in, the core's events and reports out.

An engine with AAA (tick 0.01, lot 1) and BBB (tick 0.05, lot 10), and two sessions
of two firms: S1 (accounts F1-MAIN, F1-PROP, F1-AGENCY; default F1-PROP) and S2 (F2-MAIN).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching import reasons as R
from matching.constants import BUY, GTC, IOC, MARKET, SELL
from matching.events import BookChanged, Cancelled, Event, Settlement, Trade
from risk.checks import MAX_ORDER_QTY as ORDER_QTY_LIMIT
from venue import orderentry as OE
from venue.commands import Command
from venue.reports import ExecutionReport, OrderCancelReject, OrderMassCancelReport, Report

from .support import (
    AAA,
    BBB,
    NO_FIRM_SESSION,
    S1,
    S2,
    TS,
    cancel,
    disconnected,
    engine_orders,
    mass_cancel,
    new,
    order_entry,
    process,
    px,
    replace,
    report_values,
    risk_engine,
    status,
    view_state,
)


def only(reports: list[Report]) -> ExecutionReport:
    """The one report, an ExecutionReport."""
    assert len(reports) == 1 and type(reports[0]) is ExecutionReport, reports
    return reports[0]


def only_cancel_reject(reports: list[Report]) -> OrderCancelReject:
    """The one report, an OrderCancelReject."""
    assert len(reports) == 1 and type(reports[0]) is OrderCancelReject, reports
    return reports[0]


def only_mass_cancel_report(reports: list[Report]) -> OrderMassCancelReport:
    """The one report, an OrderMassCancelReport."""
    assert len(reports) == 1 and type(reports[0]) is OrderMassCancelReport, reports
    return reports[0]


def executions(reports: list[Report], exec_type: str) -> list[ExecutionReport]:
    return [r for r in reports if type(r) is ExecutionReport and r.exec_type == exec_type]


def rest(oe: OE.OrderEntry, session: str, cl: str, side: int, qty: int, price: int,
         symbol: str = AAA) -> ExecutionReport:
    """Enter an order that rests; its New report."""
    (accepted,) = executions(process(oe, new(session, cl, side, qty, price, symbol), TS), "0")
    return accepted


@pytest.fixture
def oe() -> OE.OrderEntry:
    return order_entry()


# -- new orders -----------------------------------------------------------------------------


def test_new_order_is_acknowledged_with_exec_type_new(oe: OE.OrderEntry) -> None:
    r = only(process(oe, new(S1, "o1", BUY, 100, px("100.00")), TS))
    assert (r.exec_type, r.ord_status, r.session) == ("0", "0", S1)


def test_new_order_report_carries_the_engines_order_id(oe: OE.OrderEntry) -> None:
    r = only(process(oe, new(S1, "o1", BUY, 100, px("100.00")), TS))
    assert r.order_id.isdigit() and int(r.order_id) in oe.engine.orders


def test_new_order_report_echoes_the_order(oe: OE.OrderEntry) -> None:
    r = only(process(oe, new(S1, "o1", SELL, 70, px("100.05"), tif=GTC), TS))
    assert (r.cl_ord_id, r.symbol, r.side, r.order_qty, r.price, r.time_in_force, r.cum_qty,
            r.leaves_qty, r.transact_time) == ("o1", AAA, SELL, 70, px("100.05"), GTC, 0, 70, TS)


def test_new_orders_get_distinct_order_ids_and_exec_ids(oe: OE.OrderEntry) -> None:
    a = rest(oe, S1, "o1", BUY, 10, px("99.00"))
    b = rest(oe, S2, "o2", BUY, 10, px("99.00"))
    assert a.order_id != b.order_id and a.exec_id != b.exec_id


def test_order_the_engine_refuses_is_rejected_with_the_engines_reason(
        oe: OE.OrderEntry) -> None:
    r = only(process(oe, new(S1, "o1", BUY, 100, 1_000_050), TS))   # 100.005: off the grid
    assert (r.exec_type, r.ord_status, r.reject_code, r.order_id) == \
        ("8", "8", R.PRICE_NOT_ON_TICK, "NONE")


def test_unknown_symbol_is_rejected(oe: OE.OrderEntry) -> None:
    r = only(process(oe, new(S1, "o1", BUY, 100, px("1.00"), symbol="ZZZ"), TS))
    assert (r.exec_type, r.reject_code) == ("8", R.UNKNOWN_SYMBOL)


def test_request_error_from_the_fix_layer_becomes_a_reject(oe: OE.OrderEntry) -> None:
    r = only(process(oe, new(S1, "o1", BUY, 100, 0, error_code=OE.INVALID_FIELD,
                             error_text="Price (44) is required for this OrdType"), TS))
    assert (r.exec_type, r.reject_code, r.text) == \
        ("8", OE.INVALID_FIELD, "Price (44) is required for this OrdType")


def test_request_error_never_reaches_the_engine(oe: OE.OrderEntry) -> None:
    process(oe, new(S1, "o1", BUY, 100, px("100.00"), error_code=OE.UNSUPPORTED,
                    error_text="x"), TS)
    assert oe.engine.orders == {}


def test_risk_reject_carries_the_limit_code() -> None:
    oe = order_entry(risk_engine(max_order_qty=1_000))
    r = only(process(oe, new(S1, "o1", BUY, 1_001, px("100.00")), TS))
    assert (r.exec_type, r.reject_code) == ("8", ORDER_QTY_LIMIT)


# -- trades ---------------------------------------------------------------------------------


def test_crossing_orders_give_a_trade_report_to_each_side(oe: OE.OrderEntry) -> None:
    rest(oe, S1, "s1", SELL, 100, px("100.00"))
    reports = process(oe, new(S2, "b1", BUY, 100, px("100.00")), TS)
    trades = executions(reports, "F")
    assert sorted((r.session, r.cl_ord_id) for r in trades) == sorted([(S1, "s1"), (S2, "b1")])


def test_trade_reports_carry_last_price_and_quantity(oe: OE.OrderEntry) -> None:
    rest(oe, S1, "s1", SELL, 100, px("100.00"))
    trades = executions(process(oe, new(S2, "b1", BUY, 40, px("100.10")), TS), "F")
    assert {(r.last_px, r.last_qty) for r in trades} == {(px("100.00"), 40)}


def test_both_sides_of_a_trade_share_its_trade_id(oe: OE.OrderEntry) -> None:
    rest(oe, S1, "s1", SELL, 100, px("100.00"))
    trades = executions(process(oe, new(S2, "b1", BUY, 40, px("100.00")), TS), "F")
    assert len({r.trade_id for r in trades}) == 1 and trades[0].trade_id > 0


def test_partial_fill_reports_cum_leaves_and_partial_status(oe: OE.OrderEntry) -> None:
    rest(oe, S1, "s1", SELL, 100, px("100.00"))
    trades = executions(process(oe, new(S2, "b1", BUY, 40, px("100.00")), TS), "F")
    resting = next(r for r in trades if r.cl_ord_id == "s1")
    assert (resting.cum_qty, resting.leaves_qty, resting.ord_status) == (40, 60, "1")


def test_full_fill_reports_filled_status_and_no_leaves(oe: OE.OrderEntry) -> None:
    rest(oe, S1, "s1", SELL, 100, px("100.00"))
    trades = executions(process(oe, new(S2, "b1", BUY, 100, px("100.00")), TS), "F")
    assert {(r.cum_qty, r.leaves_qty, r.ord_status) for r in trades} == {(100, 0, "2")}


def test_avg_px_over_fills_at_two_prices_is_integer_fixed_point(oe: OE.OrderEntry) -> None:
    rest(oe, S1, "s1", SELL, 1, px("10.00"))
    rest(oe, S1, "s2", SELL, 2, px("10.01"))
    trades = executions(process(oe, new(S2, "b1", BUY, 3, px("10.01")), TS), "F")
    last = [r for r in trades if r.cl_ord_id == "b1"][-1]
    # (1 * 10.00 + 2 * 10.01) / 3 = 10.00666..., kept in four decimals (floor).
    assert (last.avg_px, type(last.avg_px), last.cum_qty) == (100_066, int, 3)


def test_avg_px_after_the_first_of_two_fills_is_that_price(oe: OE.OrderEntry) -> None:
    rest(oe, S1, "s1", SELL, 1, px("10.00"))
    rest(oe, S1, "s2", SELL, 2, px("10.01"))
    trades = executions(process(oe, new(S2, "b1", BUY, 3, px("10.01")), TS), "F")
    first = [r for r in trades if r.cl_ord_id == "b1"][0]
    assert (first.avg_px, first.cum_qty, first.leaves_qty) == (px("10.00"), 1, 2)


def test_ioc_remainder_is_cancelled_after_its_fill(oe: OE.OrderEntry) -> None:
    rest(oe, S1, "s1", SELL, 10, px("100.00"))
    reports = process(oe, new(S2, "b1", BUY, 30, px("100.00"), tif=IOC), TS)
    mine = [(r.exec_type, r.cum_qty, r.leaves_qty, r.ord_status)
            for r in reports if r.session == S2]
    assert mine == [("0", 0, 30, "0"), ("F", 10, 20, "1"), ("4", 10, 0, "4")]


def test_market_order_without_liquidity_is_cancelled(oe: OE.OrderEntry) -> None:
    reports = process(oe, new(S1, "m1", BUY, 10, 0, ord_type=MARKET), TS)
    assert [(r.exec_type, r.ord_status) for r in reports] == [("0", "0"), ("4", "4")]


# -- duplicate ClOrdID ----------------------------------------------------------------------


def test_duplicate_cl_ord_id_is_rejected_with_its_code(oe: OE.OrderEntry) -> None:
    rest(oe, S1, "o1", BUY, 100, px("99.00"))
    r = only(process(oe, new(S1, "o1", BUY, 5, px("98.00")), TS))
    assert (r.exec_type, r.ord_status, r.reject_code) == ("8", "8", OE.DUPLICATE_CL_ORD_ID)


def test_duplicate_cl_ord_id_leaves_the_original_order_unaffected(oe: OE.OrderEntry) -> None:
    first = rest(oe, S1, "o1", BUY, 100, px("99.00"))
    oid = int(first.order_id)
    before = (engine_orders(oe.engine), view_state(oe))
    process(oe, new(S1, "o1", SELL, 5, px("98.00")), TS)
    assert (engine_orders(oe.engine), view_state(oe)) == before and oid in oe.engine.orders


def test_duplicate_of_a_rejected_orders_cl_ord_id_is_rejected(oe: OE.OrderEntry) -> None:
    process(oe, new(S1, "o1", BUY, 100, px("1.00"), symbol="ZZZ"), TS)
    r = only(process(oe, new(S1, "o1", BUY, 100, px("99.00")), TS))
    assert r.reject_code == OE.DUPLICATE_CL_ORD_ID


def test_same_cl_ord_id_on_two_sessions_is_not_a_duplicate(oe: OE.OrderEntry) -> None:
    rest(oe, S1, "o1", BUY, 100, px("99.00"))
    r = only(process(oe, new(S2, "o1", BUY, 100, px("99.00")), TS))
    assert r.exec_type == "0"


def test_cancel_reusing_a_cl_ord_id_is_a_duplicate_cancel_reject(oe: OE.OrderEntry) -> None:
    rest(oe, S1, "o1", BUY, 100, px("99.00"))
    r = only_cancel_reject(process(oe, cancel(S1, "o1", orig="o1"), TS))
    assert (r.reject_code, r.cxl_rej_response_to) == (OE.DUPLICATE_CL_ORD_ID, "1")


# -- cancel ---------------------------------------------------------------------------------


def test_cancel_by_orig_cl_ord_id(oe: OE.OrderEntry) -> None:
    a = rest(oe, S1, "o1", BUY, 100, px("99.00"))
    r = only(executions(process(oe, cancel(S1, "c1", orig="o1"), TS), "4"))
    assert (r.order_id, r.cl_ord_id, r.orig_cl_ord_id, r.ord_status, r.leaves_qty) == \
        (a.order_id, "c1", "o1", "4", 0)


def test_cancel_by_order_id(oe: OE.OrderEntry) -> None:
    a = rest(oe, S1, "o1", BUY, 100, px("99.00"))
    r = only(executions(process(oe, cancel(S1, "c1", order_id=a.order_id), TS), "4"))
    assert (r.order_id, r.orig_cl_ord_id) == (a.order_id, "o1")


def test_cancel_removes_the_order_from_the_engine(oe: OE.OrderEntry) -> None:
    a = rest(oe, S1, "o1", BUY, 100, px("99.00"))
    process(oe, cancel(S1, "c1", orig="o1"), TS)
    assert int(a.order_id) not in oe.engine.orders


def test_cancel_of_a_partially_filled_order_keeps_its_cum(oe: OE.OrderEntry) -> None:
    rest(oe, S1, "s1", SELL, 100, px("100.00"))
    process(oe, new(S2, "b1", BUY, 30, px("100.00")), TS)
    r = only(process(oe, cancel(S1, "c1", orig="s1", side=SELL), TS))
    assert (r.exec_type, r.cum_qty, r.leaves_qty, r.avg_px) == ("4", 30, 0, px("100.00"))


def test_cancel_of_another_sessions_order_by_order_id_is_unknown_order(
        oe: OE.OrderEntry) -> None:
    a = rest(oe, S1, "o1", BUY, 100, px("99.00"))
    r = only_cancel_reject(process(oe, cancel(S2, "c1", order_id=a.order_id), TS))
    assert (r.session, r.reject_code) == (S2, R.UNKNOWN_ORDER)


def test_cancel_of_another_sessions_order_by_cl_ord_id_is_unknown_order(
        oe: OE.OrderEntry) -> None:
    rest(oe, S1, "o1", BUY, 100, px("99.00"))
    r = only_cancel_reject(process(oe, cancel(S2, "c1", orig="o1"), TS))
    assert r.reject_code == R.UNKNOWN_ORDER


def test_cancel_of_another_sessions_order_leaves_it_open(oe: OE.OrderEntry) -> None:
    a = rest(oe, S1, "o1", BUY, 100, px("99.00"))
    process(oe, cancel(S2, "c1", orig="o1", order_id=a.order_id), TS)
    assert oe.engine.orders[int(a.order_id)].leaves == 100


def test_cancel_of_an_unknown_order_is_a_cancel_reject(oe: OE.OrderEntry) -> None:
    r = only_cancel_reject(process(oe, cancel(S1, "c1", orig="nope"), TS))
    assert (r.reject_code, r.cxl_rej_response_to, r.ord_status, r.orig_cl_ord_id) == \
        (R.UNKNOWN_ORDER, "1", "8", "nope")


def test_cancel_of_a_filled_order_is_too_late(oe: OE.OrderEntry) -> None:
    rest(oe, S1, "s1", SELL, 10, px("100.00"))
    process(oe, new(S2, "b1", BUY, 10, px("100.00")), TS)
    r = only_cancel_reject(process(oe, cancel(S1, "c1", orig="s1", side=SELL), TS))
    assert (r.reject_code, r.ord_status) == (R.TOO_LATE, "2")


def test_second_cancel_of_the_same_order_is_too_late(oe: OE.OrderEntry) -> None:
    rest(oe, S1, "o1", BUY, 100, px("99.00"))
    process(oe, cancel(S1, "c1", orig="o1"), TS)
    r = only_cancel_reject(process(oe, cancel(S1, "c2", orig="o1"), TS))
    assert (r.reject_code, r.ord_status) == (R.TOO_LATE, "4")


# -- replace --------------------------------------------------------------------------------


def test_replace_reports_exec_type_replaced_with_new_values(oe: OE.OrderEntry) -> None:
    a = rest(oe, S1, "o1", BUY, 100, px("99.00"))
    r = only(executions(process(oe, replace(S1, "r1", "o1", 150, px("99.50")), TS), "5"))
    assert (r.order_id, r.cl_ord_id, r.orig_cl_ord_id, r.order_qty, r.price, r.leaves_qty,
            r.replaced) == (a.order_id, "r1", "o1", 150, px("99.50"), 150, True)


def test_replace_chain_reports_the_previous_cl_ord_id_as_orig(oe: OE.OrderEntry) -> None:
    rest(oe, S1, "o1", BUY, 100, px("99.00"))
    process(oe, replace(S1, "r1", "o1", 90, px("99.00")), TS)
    r = only(executions(process(oe, replace(S1, "r2", "r1", 80, px("99.00")), TS), "5"))
    assert (r.cl_ord_id, r.orig_cl_ord_id) == ("r2", "r1")


def test_cancel_by_the_latest_cl_ord_id_of_a_replace_chain(oe: OE.OrderEntry) -> None:
    a = rest(oe, S1, "o1", BUY, 100, px("99.00"))
    process(oe, replace(S1, "r1", "o1", 90, px("99.00")), TS)
    process(oe, replace(S1, "r2", "r1", 80, px("99.00")), TS)
    r = only(process(oe, cancel(S1, "c1", orig="r2"), TS))
    assert (r.exec_type, r.order_id, r.orig_cl_ord_id) == ("4", a.order_id, "r2")


def test_cancel_by_the_first_cl_ord_id_of_a_replace_chain_resolves(oe: OE.OrderEntry) -> None:
    a = rest(oe, S1, "o1", BUY, 100, px("99.00"))
    process(oe, replace(S1, "r1", "o1", 90, px("99.00")), TS)
    process(oe, replace(S1, "r2", "r1", 80, px("99.00")), TS)
    r = only(process(oe, cancel(S1, "c1", orig="o1"), TS))
    assert (r.exec_type, r.order_id) == ("4", a.order_id)


def test_replace_changing_side_is_rejected_unsupported(oe: OE.OrderEntry) -> None:
    a = rest(oe, S1, "o1", BUY, 100, px("99.00"))
    r = only_cancel_reject(process(oe, replace(S1, "r1", "o1", 100, px("99.00"), side=SELL), TS))
    assert (r.reject_code, r.cxl_rej_response_to, r.order_id) == \
        (OE.UNSUPPORTED, "2", a.order_id) and "Side" in r.text


def test_replace_changing_side_leaves_the_order_unchanged(oe: OE.OrderEntry) -> None:
    rest(oe, S1, "o1", BUY, 100, px("99.00"))
    before = engine_orders(oe.engine)
    process(oe, replace(S1, "r1", "o1", 120, px("99.10"), side=SELL), TS)
    assert engine_orders(oe.engine) == before


def test_replace_changing_symbol_is_rejected_unsupported(oe: OE.OrderEntry) -> None:
    rest(oe, S1, "o1", BUY, 100, px("99.00"))
    r = only_cancel_reject(process(oe, replace(S1, "r1", "o1", 100, px("99.00"), symbol=BBB), TS))
    assert (r.reject_code, "Symbol" in r.text) == (OE.UNSUPPORTED, True)


def test_replace_of_an_unknown_order_is_a_cancel_reject_to_a_replace(
        oe: OE.OrderEntry) -> None:
    r = only_cancel_reject(process(oe, replace(S1, "r1", "nope", 100, px("99.00")), TS))
    assert (r.reject_code, r.cxl_rej_response_to) == (R.UNKNOWN_ORDER, "2")


def test_replace_the_engine_refuses_is_a_cancel_reject(oe: OE.OrderEntry) -> None:
    rest(oe, S1, "o1", BUY, 100, px("99.00"))
    r = only_cancel_reject(process(oe, replace(S1, "r1", "o1", 100, 990_050), TS))
    assert (r.reject_code, r.cxl_rej_response_to, r.orig_cl_ord_id) == \
        (R.PRICE_NOT_ON_TICK, "2", "o1")


def test_replace_to_at_most_the_filled_quantity_cancels_the_order(oe: OE.OrderEntry) -> None:
    rest(oe, S1, "s1", SELL, 100, px("100.00"))
    process(oe, new(S2, "b1", BUY, 30, px("100.00")), TS)
    r = only(process(oe, replace(S1, "r1", "s1", 30, px("100.00"), side=SELL), TS))
    assert (r.exec_type, r.ord_status, r.cl_ord_id, r.cum_qty) == ("4", "4", "r1", 30)


def test_replace_that_crosses_trades_after_the_replaced_report(oe: OE.OrderEntry) -> None:
    rest(oe, S2, "s1", SELL, 50, px("100.00"))
    rest(oe, S1, "o1", BUY, 50, px("99.00"))
    reports = process(oe, replace(S1, "r1", "o1", 50, px("100.00")), TS)
    assert [(r.session, r.exec_type) for r in reports] == [(S1, "5"), (S1, "F"), (S2, "F")]


# -- status ---------------------------------------------------------------------------------


def test_status_of_an_unknown_order(oe: OE.OrderEntry) -> None:
    r = only(process(oe, status(S1, "nope"), TS))
    assert (r.exec_type, r.ord_status, r.reject_code, r.order_id) == \
        ("I", "8", R.UNKNOWN_ORDER, "NONE")


def test_status_of_another_sessions_order_is_unknown(oe: OE.OrderEntry) -> None:
    a = rest(oe, S1, "o1", BUY, 100, px("99.00"))
    r = only(process(oe, status(S2, "o1", order_id=a.order_id), TS))
    assert (r.ord_status, r.reject_code) == ("8", R.UNKNOWN_ORDER)


def test_status_of_a_partially_filled_order(oe: OE.OrderEntry) -> None:
    a = rest(oe, S1, "s1", SELL, 100, px("100.00"))
    process(oe, new(S2, "b1", BUY, 30, px("100.00")), TS)
    r = only(process(oe, status(S1, "s1"), TS))
    assert (r.exec_type, r.order_id, r.ord_status, r.cum_qty, r.leaves_qty, r.avg_px) == \
        ("I", a.order_id, "1", 30, 70, px("100.00"))


def test_status_by_the_cl_ord_id_of_the_cancel_finds_the_cancelled_order(
        oe: OE.OrderEntry) -> None:
    a = rest(oe, S1, "o1", BUY, 100, px("99.00"))
    process(oe, cancel(S1, "c1", orig="o1"), TS)
    r = only(process(oe, status(S1, "c1"), TS))
    assert (r.order_id, r.cl_ord_id, r.ord_status) == (a.order_id, "c1", "4")


def test_status_by_order_id(oe: OE.OrderEntry) -> None:
    a = rest(oe, S1, "o1", BUY, 100, px("99.00"))
    r = only(process(oe, status(S1, "", order_id=a.order_id), TS))
    assert (r.cl_ord_id, r.ord_status) == ("o1", "0")


def test_status_changes_no_state(oe: OE.OrderEntry) -> None:
    rest(oe, S1, "o1", BUY, 100, px("99.00"))
    before = (engine_orders(oe.engine), view_state(oe))
    process(oe, status(S1, "o1"), TS)
    assert (engine_orders(oe.engine), view_state(oe)) == before


# -- mass cancel ----------------------------------------------------------------------------


def _book_for_mass_cancel(oe: OE.OrderEntry) -> None:
    rest(oe, S1, "a1", BUY, 10, px("99.00"))
    rest(oe, S1, "a2", SELL, 10, px("101.00"))
    rest(oe, S1, "b1", BUY, 10, px("49.00"), symbol=BBB)
    rest(oe, S2, "x1", BUY, 10, px("99.00"))


def test_mass_cancel_by_symbol_cancels_that_symbols_orders_of_the_session(
        oe: OE.OrderEntry) -> None:
    _book_for_mass_cancel(oe)
    reports = process(oe, mass_cancel(S1, "m1", "1", symbol=AAA), TS)
    assert sorted(r.cl_ord_id for r in executions(reports, "4")) == ["a1", "a2"]


def test_mass_cancel_by_symbol_reports_the_number_affected(oe: OE.OrderEntry) -> None:
    _book_for_mass_cancel(oe)
    reports = process(oe, mass_cancel(S1, "m1", "1", symbol=AAA), TS)
    (r,) = [r for r in reports if type(r) is OrderMassCancelReport]
    assert (r.cl_ord_id, r.mass_cancel_response, r.total_affected_orders) == ("m1", "1", 2)


def test_mass_cancel_all_cancels_every_order_of_the_session_only(oe: OE.OrderEntry) -> None:
    _book_for_mass_cancel(oe)
    process(oe, mass_cancel(S1, "m1", "7"), TS)
    assert sorted(o.cl_ord_id for o in oe.engine.orders.values()) == ["x1"]


def test_mass_cancel_by_side_cancels_only_that_side(oe: OE.OrderEntry) -> None:
    _book_for_mass_cancel(oe)
    process(oe, mass_cancel(S1, "m1", "7", side=SELL), TS)
    assert sorted(o.cl_ord_id for o in oe.engine.orders.values()) == ["a1", "b1", "x1"]


def test_mass_cancelled_orders_keep_their_own_cl_ord_id(oe: OE.OrderEntry) -> None:
    _book_for_mass_cancel(oe)
    reports = executions(process(oe, mass_cancel(S1, "m1", "7"), TS), "4")
    assert {(r.cl_ord_id, r.orig_cl_ord_id) for r in reports} == \
        {("a1", ""), ("a2", ""), ("b1", "")}


@pytest.mark.parametrize("request_type", ["2", "3", "4", "5", "6", "", "9"])
def test_mass_cancel_of_an_unsupported_request_type_is_rejected(
        oe: OE.OrderEntry, request_type: str) -> None:
    _book_for_mass_cancel(oe)
    r = only_mass_cancel_report(process(oe, mass_cancel(S1, "m1", request_type, symbol=AAA), TS))
    assert (r.mass_cancel_response, len(oe.engine.orders)) == ("0", 4)


def test_mass_cancel_by_symbol_without_a_symbol_is_rejected(oe: OE.OrderEntry) -> None:
    _book_for_mass_cancel(oe)
    r = only_mass_cancel_report(process(oe, mass_cancel(S1, "m1", "1"), TS))
    assert (r.mass_cancel_response, "Symbol" in r.text, len(oe.engine.orders)) == ("0", True, 4)


def test_mass_cancel_of_an_unknown_symbol_is_rejected(oe: OE.OrderEntry) -> None:
    r = only_mass_cancel_report(process(oe, mass_cancel(S1, "m1", "1", symbol="ZZZ"), TS))
    assert (r.mass_cancel_response, "ZZZ" in r.text) == ("0", True)


def test_mass_cancel_for_a_foreign_account_is_rejected(oe: OE.OrderEntry) -> None:
    _book_for_mass_cancel(oe)
    r = only_mass_cancel_report(process(oe, mass_cancel(S1, "m1", "7", account="F2-MAIN"), TS))
    assert (r.mass_cancel_response, len(oe.engine.orders)) == ("0", 4)


# -- cancel on disconnect ---------------------------------------------------------------------


def test_disconnected_cancels_only_that_sessions_orders(oe: OE.OrderEntry) -> None:
    _book_for_mass_cancel(oe)
    reports = process(oe, disconnected(S2), TS)
    assert ([(r.session, r.cl_ord_id, r.exec_type) for r in reports],
            sorted(o.cl_ord_id for o in oe.engine.orders.values())) == \
        ([(S2, "x1", "4")], ["a1", "a2", "b1"])


def test_disconnected_with_no_open_orders_reports_nothing(oe: OE.OrderEntry) -> None:
    assert process(oe, disconnected(S1), TS) == []


# -- accounts -------------------------------------------------------------------------------


def test_missing_account_uses_the_sessions_default_account(oe: OE.OrderEntry) -> None:
    r = rest(oe, S1, "o1", BUY, 10, px("99.00"))
    assert (r.account, oe.engine.orders[int(r.order_id)].account) == ("F1-PROP", "F1-PROP")


def test_own_firms_other_account_is_accepted(oe: OE.OrderEntry) -> None:
    r = only(process(oe, new(S1, "o1", BUY, 10, px("99.00"), account="F1-AGENCY"), TS))
    assert (r.exec_type, r.account) == ("0", "F1-AGENCY")


def test_foreign_account_is_rejected_unknown_account(oe: OE.OrderEntry) -> None:
    r = only(process(oe, new(S1, "o1", BUY, 10, px("99.00"), account="F2-MAIN"), TS))
    assert (r.exec_type, r.reject_code, "F2-MAIN" in r.text, oe.engine.orders) == \
        ("8", OE.UNKNOWN_ACCOUNT, True, {})


def test_session_of_no_firm_is_rejected(oe: OE.OrderEntry) -> None:
    r = only(process(oe, new(NO_FIRM_SESSION, "o1", BUY, 10, px("99.00")), TS))
    assert (r.exec_type, r.reject_code) == ("8", OE.NO_FIRM)


# -- the core's events beside the reports ---------------------------------------------------


def test_trade_is_followed_by_its_settlement_naming_both_accounts_and_fees() -> None:
    oe = order_entry(risk_engine(fee_bps=10))                # 0.1% of 1000.00 = 1.00
    process(oe, new(S2, "s1", SELL, 10, px("100.00")), TS)
    events, _ = oe.process(new(S1, "b1", BUY, 10, px("100.00"), account="F1-MAIN"), TS)
    (at,) = [i for i, e in enumerate(events) if type(e) is Trade]
    trade = events[at]
    assert events[at + 1] == Settlement(trade.trade_id, AAA, px("100.00"), 10, "F1-MAIN",
                                        "F2-MAIN", px("1.00"), px("1.00"))


def test_each_trade_is_followed_by_its_own_settlement() -> None:
    oe = order_entry(risk_engine())
    process(oe, new(S2, "s1", SELL, 10, px("100.00")), TS)
    process(oe, new(S2, "s2", SELL, 10, px("100.01")), TS)
    events, _ = oe.process(new(S1, "b1", BUY, 20, px("100.01")), TS)
    first, second = [e.trade_id for e in events if type(e) is Trade]
    assert [(type(e), e.trade_id) for e in events if type(e) in (Trade, Settlement)] == \
        [(Trade, first), (Settlement, first), (Trade, second), (Settlement, second)]


def test_rejected_duplicate_cl_ord_id_gives_a_report_and_no_events(oe: OE.OrderEntry) -> None:
    rest(oe, S1, "o1", BUY, 100, px("99.00"))
    events, reports = oe.process(new(S1, "o1", BUY, 5, px("98.00")), TS)
    assert (events, only(reports).reject_code) == ([], OE.DUPLICATE_CL_ORD_ID)


def test_status_request_gives_no_events(oe: OE.OrderEntry) -> None:
    rest(oe, S1, "o1", BUY, 100, px("99.00"))
    events, reports = oe.process(status(S1, "o1"), TS)
    assert (events, only(reports).exec_type) == ([], "I")


def test_events_of_a_cancel_are_the_engines_cancelled_and_book_changed(
        oe: OE.OrderEntry) -> None:
    a = rest(oe, S1, "o1", BUY, 100, px("99.00"))
    events, _ = oe.process(cancel(S1, "c1", orig="o1"), TS)
    (cancelled,) = [e for e in events if type(e) is Cancelled]
    assert (cancelled.order_id, cancelled.cancelled_qty, cancelled.cl_ord_id) == \
        (int(a.order_id), 100, "c1")
    assert BookChanged(AAA, BUY, px("99.00"), 0, 0) in events   # the level is gone


# -- determinism ------------------------------------------------------------------------------

CL_IDS = [f"c{i}" for i in range(12)]
sessions = st.sampled_from([S1, S2])
symbols = st.sampled_from([AAA, BBB, "ZZZ"])
sides = st.sampled_from([BUY, SELL])
prices = st.sampled_from([px("99.90"), px("100.00"), px("100.05"), px("100.10"),
                          px("50.00"), px("49.95"), 1_000_050])
qtys = st.sampled_from([10, 20, 30, 50, 100, 5_000])
cl_ids = st.sampled_from(CL_IDS)

command = st.one_of(
    st.builds(lambda s, c, side, q, p, sym, tif: new(s, c, side, q, p, sym, tif=tif),
              sessions, cl_ids, sides, qtys, prices, symbols, st.sampled_from([0, 1, 3, 4])),
    st.builds(lambda s, c, side, q: new(s, c, side, q, 0, ord_type=MARKET),
              sessions, cl_ids, sides, qtys),
    st.builds(lambda s, c, o: cancel(s, c, orig=o), sessions, cl_ids, cl_ids),
    st.builds(lambda s, c, oid: cancel(s, c, order_id=str(oid)), sessions, cl_ids,
              st.integers(1, 12)),
    st.builds(lambda s, c, o, q, p, side: replace(s, c, o, q, p, side=side),
              sessions, cl_ids, cl_ids, qtys, prices, sides),
    st.builds(lambda s, c: status(s, c), sessions, cl_ids),
    st.builds(lambda s, c, t, sym: mass_cancel(s, c, t, symbol=sym), sessions, cl_ids,
              st.sampled_from(["1", "7", "3"]), symbols),
    st.builds(disconnected, sessions),
)


def run(commands: list[Command]) -> tuple[list[Event], list[Report], OE.OrderEntry]:
    """Every event and report of ``commands`` on a fresh OrderEntry (with risk), and it."""
    oe = order_entry(risk_engine(max_order_qty=1_000))
    events: list[Event] = []
    reports: list[Report] = []
    for i, c in enumerate(commands):
        more_events, more_reports = oe.process(c, TS + i)
        events += more_events
        reports += more_reports
    return events, reports, oe


@settings(max_examples=150, deadline=None)
@given(st.lists(command, max_size=40))
def test_same_commands_give_identical_reports_on_two_fresh_order_entries(
        commands: list[Command]) -> None:
    _, first, oe1 = run(commands)
    _, second, oe2 = run(commands)
    assert ([report_values(r) for r in first], view_state(oe1), engine_orders(oe1.engine)) == \
        ([report_values(r) for r in second], view_state(oe2), engine_orders(oe2.engine))


@settings(max_examples=150, deadline=None)
@given(st.lists(command, max_size=40))
def test_same_commands_give_equal_events_and_reports_on_two_fresh_order_entries(
        commands: list[Command]) -> None:
    first_events, first_reports, _ = run(commands)
    second_events, second_reports, _ = run(commands)
    assert (first_events, first_reports) == (second_events, second_reports)


@settings(max_examples=150, deadline=None)
@given(st.lists(command, max_size=40))
def test_views_of_live_orders_agree_with_the_engines_open_orders(
        commands: list[Command]) -> None:
    _, _, oe = run(commands)
    fields = ("cum", "leaves", "qty", "price", "cl_ord_id", "symbol", "side", "account")
    live = {oid: tuple(getattr(v, f) for f in fields) for oid, v in oe.views.items()
            if v.status not in OE.CLOSED_STATUSES}
    assert live == {oid: tuple(getattr(o, f) for f in fields)
                    for oid, o in oe.engine.orders.items()}
