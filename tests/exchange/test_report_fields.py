"""ExecutionReport and OrderCancelReject fields per FIX version, checked against the
specification: FIX 4.2 has ExecTransType (20), ExecType 1/2 for partial fill and
fill, OrdStatus 5 after a replace and LastShares (32); FIX 4.4 has ExecType F,
no tag 20, and LastQty (32). Required fields of each version are always present,
and every field and value is one the session's dictionary defines.
"""

from __future__ import annotations

import pytest

from tests.exchange.exchangeclient import (
    BUY,
    SELL,
    Broker,
    Msg,
    assert_required_er_fields,
    tags_outside_message,
    values_outside_dictionary,
)

pytestmark = pytest.mark.slow


def lifecycle(broker: Broker, counterparty: Broker) -> list[Msg]:
    """Drive one of each report kind for ``broker``; returns what it received."""
    broker.rest("L1", BUY, 100, "189.00")
    broker.replace("L2", "L1", BUY, 80, "189.00")                  # replaced
    broker.er()
    counterparty.new_order("C1", SELL, 30, "189.00")               # partial fill
    broker.er()
    broker.status("L2", BUY)                                       # status
    broker.er()
    counterparty.new_order("C2", SELL, 50, "189.00")               # fill
    broker.er()
    broker.rest("L3", SELL, 100, "195.00")
    broker.cancel("L4", "L3", SELL)                                # canceled
    broker.er()
    broker.new_order("L5", BUY, 10, "10.00", symbol="NOPE")        # rejected
    broker.er()
    broker.new_order("L6", BUY, 10, "180.00", tif="3")             # IOC: new, canceled
    broker.ers(2)
    broker.cancel("L7", "UNKNOWN", BUY)                            # cancel reject
    broker.next_of("9")
    return list(broker.app)


@pytest.fixture(params=["BRK1", "BRK2"], ids=["FIX.4.4", "FIX.4.2"])
def reports(request, login) -> list[Msg]:
    broker = login(request.param)
    return lifecycle(broker, login("BRK3"))


def test_every_execution_report_carries_the_required_fields_of_its_version(
        reports: list[Msg]) -> None:
    ers = [m for m in reports if m.type == "8"]
    assert len(ers) == 10
    fix42 = ers[0][8] == "FIX.4.2"
    for er in ers:
        assert_required_er_fields(er, fix42)


def test_exec_types_follow_the_version(reports: list[Msg]) -> None:
    ers = [m for m in reports if m.type == "8"]
    if ers[0][8] == "FIX.4.4":
        expected = ["0", "5", "F", "I", "F", "0", "4", "8", "0", "4"]
    else:
        expected = ["0", "5", "1", "1", "2", "0", "4", "8", "0", "4"]
    assert [er[150] for er in ers] == expected


def test_ord_status_after_a_replace_is_replaced_in_fix42_and_the_order_state_in_fix44(
        reports: list[Msg]) -> None:
    replaced = next(m for m in reports if m.type == "8" and m[150] == "5")
    assert replaced[39] == ("5" if replaced[8] == "FIX.4.2" else "0")
    assert (replaced[11], replaced[41], int(replaced[38]), int(replaced[151])) == \
        ("L2", "L1", 80, 80)


def test_fix42_status_report_has_exec_trans_type_status_and_others_new(
        login) -> None:
    reports = lifecycle(login("BRK2"), login("BRK3"))
    ers = [m for m in reports if m.type == "8"]
    assert [er[20] for er in ers] == ["0", "0", "0", "3", "0", "0", "0", "0", "0", "0"]


def test_trade_reports_carry_last_px_and_last_qty_or_last_shares(reports: list[Msg]) -> None:
    trades = [m for m in reports if m.type == "8" and m.get(31)]
    assert [(m[31], m[32], m[14], m[151]) for m in trades] == \
        [("189", "30", "30", "50"), ("189", "50", "80", "0")]
    others = [m for m in reports if m.type == "8" and m not in trades]
    assert all(31 not in m and 32 not in m for m in others)


def test_cancel_reject_carries_its_required_fields(reports: list[Msg]) -> None:
    reject = next(m for m in reports if m.type == "9")
    assert [t for t in (37, 11, 41, 39, 434) if t not in reject] == []
    assert (reject[11], reject[41], reject[434], reject[37]) == ("L7", "UNKNOWN", "1", "NONE")
    assert reject[102] == "1"


def test_every_value_is_one_the_sessions_dictionary_defines(reports: list[Msg]) -> None:
    begin_string = reports[0][8]
    assert [(m.type, bad) for m in reports
            if (bad := values_outside_dictionary(m, begin_string))] == []


def test_every_field_is_one_the_sessions_dictionary_defines_for_the_message(
        reports: list[Msg]) -> None:
    # E.g. no TrdMatchID (880): the FIX.4.4 ExecutionReport does not have it.
    begin_string = reports[0][8]
    assert [(m.type, bad) for m in reports
            if (bad := tags_outside_message(m, begin_string))] == []


def test_the_two_sides_of_one_trade_each_follow_their_own_version(brk1: Broker,
                                                                    brk2: Broker) -> None:
    brk1.rest("S1", SELL, 100, "190.00")       # FIX.4.4 seller
    brk2.new_order("B1", BUY, 100, "190.00")   # FIX.4.2 buyer
    brk2.er()
    buy = brk2.er()
    sell = brk1.er()
    assert (buy[20], buy[150], buy[39], buy[32], buy[31]) == ("0", "2", "2", "100", "190")
    assert (sell[150], sell[39], sell[32], sell[31]) == ("F", "2", "100", "190")
    assert 20 not in sell
