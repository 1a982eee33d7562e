"""OrderEntry with the RiskEngine as the engine's risk hook: risk rejects become
ExecutionReports, every event reaches the ledger, fees reach the fill reports,
the kill switch and the end of day are commands like any other.

Accounts of firm 1 (F1-MAIN, F1-PROP, F1-AGENCY; session S1) and firm 2 (F2-MAIN;
session S2) hold RICH cash and HOLDING units of AAA and BBB.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from matching.constants import BUY, SELL
from risk import checks as RC
from risk.config import Limits
from venue import orderentry as OE
from venue.commands import EndTradingDay, KillSwitch
from venue.reports import ExecutionReport, OrderCancelReject, Report

from .support import (
    AAA,
    HOLDING,
    RICH,
    S1,
    S2,
    TS,
    cancel,
    new,
    order_entry,
    process,
    px,
    replace,
    risk_engine,
)


def of_type(reports: list[Report], exec_type: str) -> list[ExecutionReport]:
    return [r for r in reports if type(r) is ExecutionReport and r.exec_type == exec_type]


def test_risk_reject_is_an_execution_report_with_the_check_code_and_text() -> None:
    oe = order_entry(risk_engine(limits=Limits(max_order_value=px("1000.00"))))
    [r] = process(oe, new(S1, "o1", BUY, 11, px("100.00")), TS)
    assert (r.exec_type, r.ord_status, r.reject_code) == ("8", "8", RC.MAX_ORDER_VALUE)
    assert "1100" in r.text and "1000" in r.text


def test_risk_reject_maps_to_ord_rej_reason_3_and_cxl_rej_reason_99() -> None:
    assert (OE.ord_rej_reason(RC.BUYING_POWER), OE.cxl_rej_reason(RC.BUYING_POWER)) == (3, 99)
    assert OE.ord_rej_reason(RC.KILL_SWITCH) == 99


def test_refused_replace_is_a_cancel_reject_naming_the_limit() -> None:
    oe = order_entry(risk_engine(limits=Limits(max_order_qty=100)))
    process(oe, new(S1, "o1", BUY, 100, px("100.00")), TS)
    [r] = process(oe, replace(S1, "o2", "o1", 101, px("100.00")), TS)
    assert (type(r), r.cxl_rej_response_to, r.reject_code) == (OrderCancelReject, "2",
                                                               RC.MAX_ORDER_QTY)


def test_trade_settles_both_accounts_at_once() -> None:
    risk = risk_engine()
    oe = order_entry(risk)
    process(oe, new(S2, "s1", SELL, 10, px("100.00")), TS)
    process(oe, new(S1, "b1", BUY, 10, px("100.00"), account="F1-MAIN"), TS)
    buyer, seller = risk.account("F1-MAIN"), risk.account("F2-MAIN")
    assert (buyer.cash, buyer.positions[AAA]) == (RICH - px("1000.00"), HOLDING + 10)
    assert (seller.cash, seller.positions[AAA]) == (RICH + px("1000.00"), HOLDING - 10)


def test_fill_reports_carry_the_fee_charged_to_each_side() -> None:
    oe = order_entry(risk_engine(fee_bps=10))                # 0.1% of 1000.00 = 1.00
    process(oe, new(S2, "s1", SELL, 10, px("100.00")), TS)
    fills = of_type(process(oe, new(S1, "b1", BUY, 10, px("100.00")), TS), "F")
    assert [r.commission for r in fills] == [px("1.00"), px("1.00")]


def test_cancel_releases_the_reserved_buying_power() -> None:
    risk = risk_engine()
    oe = order_entry(risk)
    process(oe, new(S1, "o1", BUY, 10, px("100.00"), account="F1-MAIN"), TS)
    reserved = risk.account("F1-MAIN").reserved
    process(oe, cancel(S1, "c1", "o1"), TS)
    assert (reserved, risk.account("F1-MAIN").reserved) == (px("1000.00"), 0)


def test_kill_switch_of_an_account_cancels_its_open_orders() -> None:
    oe = order_entry(risk_engine())
    process(oe, new(S1, "o1", BUY, 10, px("100.00"), account="F1-MAIN"), TS)
    process(oe, new(S1, "o2", BUY, 10, px("100.00"), account="F1-PROP"), TS)
    cancelled = of_type(process(oe, KillSwitch("account", "F1-MAIN"), TS), "4")
    assert [(r.cl_ord_id, r.text) for r in cancelled] == [
        ("o1", "cancelled by the kill switch of account F1-MAIN")]


def test_kill_switch_refuses_new_orders_until_lifted() -> None:
    oe = order_entry(risk_engine())
    process(oe, KillSwitch("firm", "FIRM1"), TS)
    [refused] = process(oe, new(S1, "o1", BUY, 10, px("100.00")), TS)
    process(oe, KillSwitch("firm", "FIRM1", on=False), TS)
    [accepted] = process(oe, new(S1, "o2", BUY, 10, px("100.00")), TS)
    assert (refused.reject_code, accepted.exec_type) == (RC.KILL_SWITCH, "0")


def test_kill_switch_of_a_session_leaves_other_sessions_trading() -> None:
    oe = order_entry(risk_engine())
    process(oe, KillSwitch("session", S1), TS)
    [refused] = process(oe, new(S1, "o1", BUY, 10, px("100.00")), TS)
    [accepted] = process(oe, new(S2, "o1", BUY, 10, px("100.00")), TS)
    assert (refused.reject_code, accepted.exec_type) == (RC.KILL_SWITCH, "0")


def test_end_of_day_restarts_the_orders_per_day_count() -> None:
    oe = order_entry(risk_engine(limits=Limits(max_orders_per_day=1)))
    process(oe, new(S1, "o1", BUY, 10, px("100.00")), TS)
    [refused] = process(oe, new(S1, "o2", BUY, 10, px("100.00")), TS)
    process(oe, EndTradingDay(), TS)
    [accepted] = process(oe, new(S1, "o3", BUY, 10, px("100.00")), TS)
    assert (refused.reject_code, accepted.exec_type) == (RC.MAX_ORDERS_PER_DAY, "0")


ORDERS = st.lists(st.tuples(
    st.sampled_from((S1, S2)), st.sampled_from((BUY, SELL)), st.integers(1, 50),
    st.integers(-20, 20), st.booleans()), max_size=40)


@settings(max_examples=40, deadline=None)
@given(ORDERS)
def test_the_same_commands_give_the_same_balances(orders: list) -> None:
    """Risk state is deterministic: what journal replay after a restart relies on."""
    commands = []
    for i, (session, side, qty, ticks, kill_it) in enumerate(orders):
        commands.append(new(session, f"o{i}", side, qty, px("100.00") + ticks * 100))
        if kill_it and i % 7 == 0:
            commands.append(cancel(session, f"c{i}", f"o{i - 1}"))
    runs = []
    for _ in range(2):
        risk = risk_engine(fee_bps=3)
        oe = order_entry(risk)
        for command in commands:
            process(oe, command, TS)
        runs.append(risk.state())
    assert runs[0] == runs[1]
