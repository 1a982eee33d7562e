"""RequestForPositions (AN) on FIX 4.4: a RequestForPositionsAck (AO) with the
account's balances, then one PositionReport (AP) per symbol held, from the risk
ledger as it stands after every order received before the request.

Every account of the test exchange starts with 1,000,000,000.00 of cash and
10,000,000 units of AAPL, MSFT and XOM.
"""

from __future__ import annotations

import pytest

from tests.exchange.exchangeclient import BUY, SELL, Broker, Msg, tags_outside_message
from tests.robustness.fixclient import utc_now

pytestmark = pytest.mark.slow

HOLDING = 10_000_000


def request_positions(broker: Broker, req_id: str, account: str, pos_req_type: str = "0",
                      symbol: str | None = None) -> None:
    fields: list[tuple[int, object]] = [(1, account)]
    if symbol is not None:
        fields.append((55, symbol))
    fields += [(60, utc_now()), (581, "1"), (710, req_id), (715, utc_now()[:8]),
               (724, pos_req_type)]
    broker.send("AN", fields)


def answer(broker: Broker) -> tuple[Msg, list[Msg]]:
    ack = broker.next_of("AO")
    reports = [broker.next_of("AP") for _ in range(int(ack[727]))]
    return ack, reports


def position(reports: list[Msg], symbol: str) -> int:
    [report] = [r for r in reports if r[55] == symbol]
    return int(report[704]) - int(report[705])


def test_ack_says_how_many_position_reports_follow(brk1: Broker) -> None:
    request_positions(brk1, "P1", "BRK1-MAIN")
    ack, reports = answer(brk1)
    assert (ack[710], ack[728], ack[729], ack[727]) == ("P1", "0", "0", "3")
    assert sorted(r[55] for r in reports) == ["AAPL", "MSFT", "XOM"]


def test_ack_text_gives_cash_reserved_and_buying_power(brk1: Broker) -> None:
    brk1.rest("B1", BUY, 100, "189.00")
    request_positions(brk1, "P1", "BRK1-MAIN")
    ack, _ = answer(brk1)
    assert "cash 1000000000" in ack[58] and "reserved 18900" in ack[58], ack[58]
    assert "buying power 999981100" in ack[58], ack[58]


def test_position_reports_show_the_starting_positions(brk1: Broker) -> None:
    request_positions(brk1, "P1", "BRK1-MAIN")
    _, reports = answer(brk1)
    assert {r[55]: position(reports, r[55]) for r in reports} == {
        "AAPL": HOLDING, "MSFT": HOLDING, "XOM": HOLDING}


def test_a_trade_settles_at_once_in_both_accounts_positions(brk1: Broker, brk3: Broker) -> None:
    brk3.rest("S1", SELL, 300, "190.00")
    brk1.new_order("B1", BUY, 300, "190.00")
    assert (brk1.er()[150], brk1.er()[150], brk3.er()[150]) == ("0", "F", "F")
    request_positions(brk1, "P1", "BRK1-MAIN", symbol="AAPL")
    request_positions(brk3, "P2", "BRK3-MAIN", symbol="AAPL")
    (ack1, buyer), (ack3, seller) = answer(brk1), answer(brk3)
    assert (position(buyer, "AAPL"), position(seller, "AAPL")) == (HOLDING + 300,
                                                                    HOLDING - 300)
    assert "cash 999943000" in ack1[58] and "cash 1000057000" in ack3[58], (ack1, ack3)


def test_position_report_carries_the_mark_and_the_value_at_it(brk1: Broker) -> None:
    request_positions(brk1, "P1", "BRK1-MAIN", symbol="AAPL")
    _, [report] = answer(brk1)
    assert (report[730], report[734], report[707]) == ("190", "190", "FMTM"), report
    assert report[708] == str(190 * HOLDING), report


def test_another_firms_account_is_not_authorized(brk1: Broker) -> None:
    request_positions(brk1, "P1", "BRK2-MAIN")
    ack = brk1.next_of("AO")
    assert (ack[728], ack[729], ack[727]) == ("3", "2", "0"), ack
    assert "BRK2-MAIN" in ack[58]


def test_position_request_types_other_than_positions_are_not_supported(brk1: Broker) -> None:
    request_positions(brk1, "P1", "BRK1-MAIN", pos_req_type="1")
    ack = brk1.next_of("AO")
    assert (ack[728], ack[729]) == ("4", "2"), ack


def test_a_symbol_not_held_gives_no_positions_found(brk1: Broker) -> None:
    request_positions(brk1, "P1", "BRK1-MAIN", symbol="JPM")
    ack = brk1.next_of("AO")
    assert (ack[728], ack[729], ack[727]) == ("2", "0", "0"), ack


def test_ack_and_reports_carry_only_fields_of_fix44(brk1: Broker) -> None:
    request_positions(brk1, "P1", "BRK1-MAIN")
    ack, reports = answer(brk1)
    assert [tags_outside_message(m, "FIX.4.4") for m in (ack, *reports)] == [[]] * 4
