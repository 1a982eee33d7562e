"""Every reason the exchange refuses a request, end to end: an ExecutionReport with
ExecType/OrdStatus 8 and the OrdRejReason (103) of the session's FIX version, an
OrderCancelReject (9) with CxlRejReason (102) and CxlRejResponseTo (434), or a
BusinessMessageReject (j) — each with a Text a person understands.

AAPL: tick 0.01, lot 1, max order quantity 100000, band 10% around 190.00
(171.00..209.00 before any trade). XOM: lot 100.
"""

from __future__ import annotations

import pytest

from tests.exchange.exchangeclient import BUY, SELL, Broker, Msg

pytestmark = pytest.mark.slow


def assert_rejected(er: Msg, cl_ord_id: str, ord_rej_reason: str) -> None:
    assert er.type == "8", er
    assert (er[150], er[39], er[11]) == ("8", "8", cl_ord_id), er
    assert er[103] == ord_rej_reason, er
    assert (int(er[14]), int(er[151])) == (0, 0), er
    assert er.get(58), f"a reject must say why: {er}"


def assert_not_in_book(rejected_side: str, price: str, victim: Broker) -> None:
    """Nothing rests at ``price`` on ``rejected_side``: an opposite IOC there finds nothing."""
    opposite = SELL if rejected_side == BUY else BUY
    victim.new_order("PROBE", opposite, 1, price, tif="3")
    new, canceled = victim.ers(2)
    assert (new[150], canceled[150], int(canceled[14])) == ("0", "4", 0), canceled


# -- NewOrderSingle ------------------------------------------------------------------------

def test_unknown_symbol_is_rejected_with_ord_rej_reason_1(brk1: Broker) -> None:
    brk1.new_order("R1", BUY, 100, "10.00", symbol="NOPE")
    er = brk1.er()
    assert_rejected(er, "R1", "1")
    assert "NOPE" in er[58]


def test_price_off_the_tick_grid_is_rejected(brk1: Broker, brk3: Broker) -> None:
    brk1.new_order("R1", BUY, 100, "190.005")
    er = brk1.er()
    assert_rejected(er, "R1", "99")
    assert "tick" in er[58]
    assert_not_in_book(BUY, "190.00", brk3)


def test_off_tick_reject_text_names_the_price_and_tick_as_the_broker_knows_them(
        brk1: Broker) -> None:
    brk1.new_order("R1", BUY, 100, "190.005")
    text = brk1.er()[58]
    assert "190.005" in text and "0.01" in text, text


def test_quantity_off_the_lot_size_is_rejected_with_ord_rej_reason_13(brk1: Broker) -> None:
    brk1.new_order("R1", BUY, 150, "115.00", symbol="XOM")
    er = brk1.er()
    assert_rejected(er, "R1", "13")
    assert "lot size 100" in er[58]


def test_price_outside_the_collar_is_rejected_with_ord_rej_reason_3_naming_it(
        brk1: Broker) -> None:
    brk1.new_order("R1", SELL, 100, "209.01")
    er = brk1.er()
    assert_rejected(er, "R1", "3")
    assert "collar" in er[58] and "171" in er[58] and "209" in er[58], er[58]


def test_reject_texts_are_plain_ascii(brk1: Broker) -> None:
    brk1.new_order("R1", SELL, 100, "209.01")
    text = brk1.er()[58]
    assert text.isascii(), text


def test_quantity_over_the_maximum_order_quantity_is_rejected_with_ord_rej_reason_3(
        brk1: Broker) -> None:
    brk1.new_order("R1", BUY, 100001, "190.00")
    er = brk1.er()
    assert_rejected(er, "R1", "3")
    assert "100000" in er[58]


def test_maximum_order_quantity_itself_is_accepted(brk1: Broker) -> None:
    brk1.rest("R1", BUY, 100000, "190.00")


def test_unsupported_ord_type_is_rejected_with_ord_rej_reason_11(brk1: Broker) -> None:
    brk1.new_order("R1", BUY, 100, "190.00", ord_type="P")  # pegged
    er = brk1.er()
    assert_rejected(er, "R1", "11")
    assert "OrdType" in er[58]


def test_unsupported_time_in_force_is_rejected_with_ord_rej_reason_11(brk1: Broker) -> None:
    brk1.new_order("R1", BUY, 100, "190.00", tif="2")  # at the opening
    er = brk1.er()
    assert_rejected(er, "R1", "11")
    assert "TimeInForce" in er[58]


@pytest.mark.parametrize(("tag", "value"), [(54, "5"), (59, "2")], ids=["Side", "TimeInForce"])
def test_reject_of_an_unsupported_value_does_not_report_another_value(
        brk1: Broker, tag: int, value: str) -> None:
    side, tif = (value, None) if tag == 54 else (BUY, value)
    brk1.new_order("R1", side, 100, "190.00", tif=tif)
    er = brk1.er()
    assert er[150] == "8"
    assert er.get(tag) in (None, value), er


def test_unsupported_side_is_rejected_with_ord_rej_reason_11(brk1: Broker) -> None:
    brk1.new_order("R1", "5", 100, "190.00")  # sell short
    er = brk1.er()
    assert_rejected(er, "R1", "11")
    assert "Side" in er[58]


def test_price_with_more_than_four_decimals_is_rejected(brk1: Broker) -> None:
    brk1.new_order("R1", BUY, 100, "190.00001")
    er = brk1.er()
    assert_rejected(er, "R1", "99")
    assert "Price (44)" in er[58] and "4 decimals" in er[58]


def test_fix42_reject_uses_a_fix42_ord_rej_reason(brk2: Broker) -> None:
    brk2.new_order("R1", BUY, 100, "190.00001")
    er = brk2.er()
    assert_rejected(er, "R1", "0")  # 99 does not exist in 4.2: broker option
    assert er[20] == "0"


def test_duplicate_cl_ord_id_is_rejected_with_ord_rej_reason_6(brk1: Broker) -> None:
    first = brk1.rest("D1", BUY, 100, "189.00")
    brk1.new_order("D1", BUY, 50, "189.50")
    er = brk1.er()
    assert_rejected(er, "D1", "6")
    assert "duplicate" in er[58].lower()
    # The original order is untouched.
    brk1.status("D1", BUY)
    status = brk1.er()
    assert (status[37], status[39], int(status[151])) == (first[37], "0", 100)


def test_the_same_cl_ord_id_on_another_session_is_not_a_duplicate(brk1: Broker,
                                                                   brk3: Broker) -> None:
    brk1.rest("D1", BUY, 100, "189.00")
    brk3.rest("D1", BUY, 100, "189.00")


def test_account_of_another_firm_is_rejected_with_ord_rej_reason_15(brk1: Broker) -> None:
    brk1.new_order("R1", BUY, 100, "190.00", account="BRK2-MAIN")
    er = brk1.er()
    assert_rejected(er, "R1", "15")
    assert "BRK2-MAIN" in er[58]


def test_fix42_account_of_another_firm_is_rejected(brk2: Broker) -> None:
    brk2.new_order("R1", BUY, 100, "190.00", account="BRK1-MAIN")
    er = brk2.er()
    assert_rejected(er, "R1", "0")  # 15 does not exist in 4.2: broker option
    assert "BRK1-MAIN" in er[58]


def test_order_without_account_is_booked_to_the_firms_default_account(brk1: Broker) -> None:
    er = brk1.rest("A1", BUY, 100, "189.00")
    assert er[1] == "BRK1-MAIN"


def test_order_with_another_account_of_the_firm_is_booked_to_it(brk1: Broker) -> None:
    er = brk1.rest("A1", BUY, 100, "189.00", account="BRK1-PROP")
    assert er[1] == "BRK1-PROP"


# -- OrderCancelRequest / OrderCancelReplaceRequest ----------------------------------------

def test_cancel_of_an_unknown_order_is_refused_as_unknown_order(brk1: Broker) -> None:
    brk1.cancel("C1", "NEVER-SENT", BUY)
    reject = brk1.next_of("9")
    assert (reject[11], reject[41], reject[434]) == ("C1", "NEVER-SENT", "1")
    assert (reject[102], reject[39]) == ("1", "8")
    assert "NEVER-SENT" in reject[58]


def test_cancel_of_another_sessions_order_is_refused_as_unknown(brk1: Broker,
                                                                 brk3: Broker) -> None:
    theirs = brk3.rest("T1", BUY, 100, "189.00")
    brk1.cancel("C1", "T1", BUY, order_id=theirs[37])
    reject = brk1.next_of("9")
    assert (reject[434], reject[102]) == ("1", "1")
    brk3.quiet()


def test_cancel_of_a_filled_order_is_refused_as_too_late(brk1: Broker, brk3: Broker) -> None:
    new = brk1.rest("S1", SELL, 100, "190.00")
    brk3.new_order("B1", BUY, 100, "190.00")
    assert brk1.er()[39] == "2"
    brk1.cancel("C1", "S1", SELL)
    reject = brk1.next_of("9")
    assert (reject[11], reject[41], reject[434], reject[37]) == ("C1", "S1", "1", new[37])
    assert (reject[102], reject[39]) == ("0", "2")


def test_cancel_of_a_canceled_order_is_refused_as_too_late(brk2: Broker) -> None:
    brk2.rest("B1", BUY, 100, "189.00")
    brk2.cancel("C1", "B1", BUY)
    assert brk2.er()[150] == "4"
    brk2.cancel("C2", "B1", BUY)
    reject = brk2.next_of("9")
    assert (reject[434], reject[102], reject[39]) == ("1", "0", "4")


def test_replace_changing_side_is_refused_with_a_cancel_reject(brk1: Broker) -> None:
    new = brk1.rest("B1", BUY, 100, "189.00")
    brk1.replace("B2", "B1", SELL, 100, "189.00")
    reject = brk1.next_of("9")
    assert (reject[11], reject[41], reject[434], reject[37]) == ("B2", "B1", "2", new[37])
    assert reject[39] == "0"
    assert "Side" in reject[58]
    # The order is unchanged and still open under its ClOrdID.
    brk1.status("B1", BUY)
    status = brk1.er()
    assert (status[54], status[39], int(status[151])) == ("1", "0", 100)


def test_replace_of_an_unknown_order_is_refused_as_unknown_order(brk1: Broker) -> None:
    brk1.replace("B2", "NEVER-SENT", BUY, 100, "189.00")
    reject = brk1.next_of("9")
    assert (reject[434], reject[102], reject[39]) == ("2", "1", "8")


def test_replace_outside_the_collar_is_refused_and_the_order_stays(brk1: Broker) -> None:
    brk1.rest("B1", BUY, 100, "189.00")
    brk1.replace("B2", "B1", BUY, 100, "150.00")
    reject = brk1.next_of("9")
    assert reject[434] == "2" and "collar" in reject[58]
    brk1.status("B1", BUY)
    assert brk1.er()[39] == "0"


def test_cancel_request_reusing_a_cl_ord_id_is_refused_as_duplicate(brk1: Broker) -> None:
    brk1.rest("B1", BUY, 100, "189.00")
    brk1.cancel("B1", "B1", BUY)
    reject = brk1.next_of("9")
    assert (reject[434], reject[102]) == ("1", "6")
    brk1.status("B1", BUY)
    assert brk1.er()[39] == "0"


# -- other messages ------------------------------------------------------------------------

def test_application_message_the_exchange_does_not_support_gets_business_reject_3(
        brk1: Broker) -> None:
    brk1.send("c", [(320, "SD1"), (321, 0)])  # SecurityDefinitionRequest
    seq = brk1.next_seq - 1
    reject = brk1.next_of("j")
    assert (reject[372], reject[380], reject[45]) == ("c", "3", str(seq))
    # The session goes on.
    brk1.rest("B1", BUY, 100, "189.00")


def test_mass_cancel_of_an_unsupported_request_type_is_refused_in_the_report(
        brk1: Broker) -> None:
    brk1.rest("B1", BUY, 100, "189.00")
    brk1.mass_cancel("Q1", "3")  # by product
    report = brk1.next_of("r")
    assert (report[11], report[530], report[531]) == ("Q1", "3", "0")
    assert report.get(58)
    brk1.status("B1", BUY)
    assert brk1.er()[39] == "0"
