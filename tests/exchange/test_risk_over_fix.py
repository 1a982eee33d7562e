"""Pre-trade risk end to end over FIX: for each check, an order exactly at the limit
is accepted (ExecType 0) and one unit or tick beyond it is rejected (ExecType and
OrdStatus 8, OrdRejReason 3 "order exceeds limit", a Text naming the limit, its
value and the order's); a replace beyond buying power gets an OrderCancelReject;
fills settle at once (T+0) with the firm's fee; the per-session message throttle
answers with a BusinessMessageReject and keeps the session; an account's kill
switch, turned on through the admin socket, refuses its orders.

Every test gets a fresh server of ``RISK_CONFIG`` (the throttle's tests: of
``max_messages_per_second = 5``), which the pool starts while the test before
runs: the template's accounts (ample cash and positions, no limits) plus one
BROKER1 account per group of limits, each named after what it carries, so that an
order of BRK1 (FIX.4.4) picks its limits with Account (1). Whatever an account
does not set is unlimited, so the order one unit beyond the limit breaks that
limit and no other. Values are marked at the reference prices (AAPL 190.00, MSFT
420.00) before any trade.

The ExecutionReport of a fill does not carry the fee (Commission 12) yet, so the
fee is observed through buying power only.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from decimal import Decimal

import pytest

from tests.conftest import FixServer
from tests.exchange.exchangeclient import BUY, SELL, Broker, Msg

pytestmark = pytest.mark.slow

AMPLE = "1000000000.00"

# Accounts of BROKER1 (session BRK1, FIX.4.4) by the limits they carry.
LIMITED_ACCOUNTS: dict[str, dict[str, object]] = {
    "BRK1-ORDERS": {"cash": AMPLE, "max_order_qty": 500, "max_order_value": "95000.00"},
    "BRK1-DAY": {"cash": AMPLE, "max_orders_per_day": 3},
    "BRK1-OPEN": {"cash": AMPLE, "max_open_orders": 2},
    "BRK1-CASH": {"cash": "19000.00"},                         # 100 AAPL at 190.00
    "BRK1-MARGIN": {"cash": "9500.00", "margin_pct": 50},       # the same, half paid
    "BRK1-LONG": {"cash": AMPLE, "positions": {"AAPL": 100}, "max_long": 500},
    "BRK1-SHORT": {"cash": AMPLE, "positions": {"AAPL": 100}, "allow_short": True,
                   "max_short": 300},
    # 95 MSFT = 39900.00 = 210 AAPL: at most 210 AAPL for AAPL to stay <= 50%.
    "BRK1-CONC": {"cash": AMPLE, "positions": {"MSFT": 95}, "max_concentration_pct": 50},
    # 100 MSFT = 42000.00 of Technology: at most 200 AAPL (38000.00) more.
    "BRK1-SECTOR": {"cash": AMPLE, "positions": {"MSFT": 100}, "sector_limit": "80000.00"},
}

RISK_CONFIG: dict[str, object] = {
    "firms": {
        "BROKER1": {"accounts": ["BRK1-MAIN", "BRK1-PROP", *LIMITED_ACCOUNTS]},
        "BROKER2": {"fee_bps": 10},   # BRK2-MAIN (FIX.4.2) pays 0.1% per fill
    },
    "accounts": {
        **LIMITED_ACCOUNTS,
        # 100 AAPL at 200.00 and its fee (20.00); or at 190.00 (fee 19.00), 1001.00 left.
        "BRK2-MAIN": {"cash": "20020.00", "positions": {}},
    },
    # 2% through the touch: 428.40 over an ask of 420.00, 411.60 under a bid of 420.00.
    "instruments": {"MSFT": {"fat_finger_pct": 2}},
}

MAX_MESSAGES_PER_SECOND = 5


@pytest.fixture
def server(start_server) -> FixServer:
    """A fresh server of RISK_CONFIG for each test (the pool starts the next ahead)."""
    return start_server(**RISK_CONFIG)


@pytest.fixture
def throttled_brk1(start_server, clients: list[Broker]) -> Broker:
    """BRK1 logged on to a server that takes MAX_MESSAGES_PER_SECOND per session."""
    server = start_server(
        exchange_options=f"max_messages_per_second = {MAX_MESSAGES_PER_SECOND}\n")
    broker = Broker(server.port, "BRK1")
    clients.append(broker)
    broker.logon()
    return broker


def assert_limit_reject(er: Msg, cl_ord_id: str, *text: str) -> None:
    """A rejected NewOrderSingle: OrdRejReason 3 and a Text holding each of ``text``."""
    assert (er.type, er[150], er[39], er[11]) == ("8", "8", "8", cl_ord_id), er
    assert er[103] == "3", f"OrdRejReason must be 3 (order exceeds limit): {er}"
    assert (int(er[14]), int(er[151])) == (0, 0), er
    for fragment in text:
        assert fragment in er.get(58, ""), f"Text lacks {fragment!r}: {er}"


def assert_accepted(er: Msg, cl_ord_id: str, account: str) -> None:
    assert (er.type, er[150], er[39], er[11], er[1]) == ("8", "0", "0", cl_ord_id,
                                                          account), er


# -- one unit or tick on either side of each limit -----------------------------------------

@dataclass(frozen=True)
class Boundary:
    """An order at the limit and one a unit or tick beyond, (qty, price) each; the
    reject's Text must hold every piece of ``text``; ``resting`` is an order of BRK3
    (side, qty, price) booked first."""

    id: str
    account: str
    side: str
    at: tuple[int, str]
    beyond: tuple[int, str]
    text: tuple[str, ...]
    symbol: str = "AAPL"
    sender: str = "BRK1"
    resting: tuple[str, int, str] | None = None


BOUNDARIES = [
    # At 171.00 both orders stay within the account's max_order_value.
    Boundary("max_order_qty-of-the-account", "BRK1-ORDERS", BUY, (500, "171.00"),
             (501, "171.00"), ("order quantity 501", "max order quantity 500",
                               "account BRK1-ORDERS")),
    Boundary("max_order_qty-of-the-instrument", "BRK1-MAIN", BUY, (100000, "190.00"),
             (100001, "190.00"), ("order quantity 100001", "max order quantity 100000",
                                  "instrument AAPL")),
    Boundary("max_order_value", "BRK1-ORDERS", BUY, (500, "190.00"), (500, "190.01"),
             ("order value 95005", "max order value 95000", "account BRK1-ORDERS")),
    Boundary("buying_power-is-cash", "BRK1-CASH", BUY, (100, "190.00"), (100, "190.01"),
             ("buy needs 19001 of buying power", "BRK1-CASH has 19000")),
    Boundary("buying_power-with-margin_pct", "BRK1-MARGIN", BUY, (100, "190.00"),
             (100, "190.01"), ("buy needs 9500.5 of buying power", "BRK1-MARGIN has 9500")),
    # 100 at 200.00 = 20000.00 + fee 20.00; at 200.01: 20001.00 + fee 20.001.
    Boundary("buying_power-covers-the-fee_bps-of-the-firm-fix42", "BRK2-MAIN", BUY,
             (100, "200.00"), (100, "200.01"),
             ("buy needs 20021.001 of buying power", "BRK2-MAIN has 20020"), sender="BRK2"),
    Boundary("max_long", "BRK1-LONG", BUY, (400, "190.00"), (401, "190.00"),
             ("long position could reach 501", "max long position 500",
              "account BRK1-LONG in AAPL")),
    Boundary("short_selling-not-allowed", "BRK1-LONG", SELL, (100, "190.00"),
             (101, "190.00"), ("sell of 101", "available position 100",
                               "account BRK1-LONG in AAPL", "short selling not allowed")),
    Boundary("max_short-with-allow_short", "BRK1-SHORT", SELL, (400, "190.00"),
             (401, "190.00"), ("short position could reach 301", "max short position 300",
                               "account BRK1-SHORT in AAPL")),
    Boundary("max_concentration_pct", "BRK1-CONC", BUY, (210, "190.00"), (211, "190.00"),
             ("AAPL would be", "gross exposure 79990", "max concentration 50%",
              "account BRK1-CONC")),
    Boundary("sector_limit", "BRK1-SECTOR", BUY, (200, "190.00"), (201, "190.00"),
             ("sector 'Technology' would be 80190", "sector limit 80000",
              "account BRK1-SECTOR")),
    Boundary("price_band_pct-above", "BRK1-MAIN", BUY, (100, "209.00"), (100, "209.01"),
             ("price 209.01", "outside the collar 171..209", "around 190", "AAPL")),
    Boundary("price_band_pct-below", "BRK1-MAIN", SELL, (100, "171.00"), (100, "170.99"),
             ("price 170.99", "outside the collar 171..209", "around 190", "AAPL")),
    Boundary("fat_finger_pct-buy-through-the-ask", "BRK1-MAIN", BUY, (10, "428.40"),
             (10, "428.41"), ("buy price 428.41", "fat-finger limit 428.4", "ask 420", "MSFT"),
             symbol="MSFT", resting=(SELL, 100, "420.00")),
    Boundary("fat_finger_pct-sell-through-the-bid", "BRK1-MAIN", SELL, (10, "411.60"),
             (10, "411.59"), ("sell price 411.59", "fat-finger limit 411.6", "bid 420",
                              "MSFT"),
             symbol="MSFT", resting=(BUY, 100, "420.00")),
]


@pytest.mark.parametrize("case", BOUNDARIES, ids=[b.id for b in BOUNDARIES])
def test_limit_rejects_an_order_one_unit_beyond_it_and_accepts_one_exactly_at_it(
        case: Boundary, login, brk3: Broker) -> None:
    broker = login(case.sender)
    if case.resting is not None:
        brk3.rest("RESTING", *case.resting, symbol=case.symbol)
    broker.new_order("BEYOND", case.side, *case.beyond, symbol=case.symbol,
                     account=case.account)
    assert_limit_reject(broker.er(), "BEYOND", *case.text)
    broker.new_order("AT", case.side, *case.at, symbol=case.symbol, account=case.account)
    assert_accepted(broker.er(), "AT", case.account)


def test_concentration_reject_states_a_share_above_the_limit(brk1: Broker) -> None:
    brk1.new_order("BEYOND", BUY, 211, "190.00", account="BRK1-CONC")
    er = brk1.er()
    assert_limit_reject(er, "BEYOND", "max concentration 50%")
    share = re.search(r"would be ([0-9.]+)%", er[58])
    assert share is not None and Decimal(share[1]) > 50, er[58]


# -- counts of orders ----------------------------------------------------------------------

def test_max_orders_per_day_accepts_that_many_orders_and_rejects_the_next_even_after_a_cancel(
        brk1: Broker) -> None:
    for i, price in enumerate(("189.00", "188.00", "187.00"), 1):
        assert_accepted(brk1.rest(f"D{i}", BUY, 1, price, account="BRK1-DAY"), f"D{i}",
                        "BRK1-DAY")
    brk1.cancel("C1", "D1", BUY, qty=1)
    assert brk1.er()[150] == "4"
    brk1.new_order("D4", BUY, 1, "186.00", account="BRK1-DAY")
    assert_limit_reject(brk1.er(), "D4", "max orders per day 3", "would be order 4",
                        "account BRK1-DAY")


def test_max_open_orders_accepts_that_many_open_orders_and_rejects_the_next_until_one_closes(
        brk1: Broker) -> None:
    for i, price in enumerate(("189.00", "188.00"), 1):
        assert_accepted(brk1.rest(f"O{i}", BUY, 1, price, account="BRK1-OPEN"), f"O{i}",
                        "BRK1-OPEN")
    brk1.new_order("O3", BUY, 1, "187.00", account="BRK1-OPEN")
    assert_limit_reject(brk1.er(), "O3", "max open orders 2", "would be open order 3",
                        "account BRK1-OPEN")
    brk1.cancel("C1", "O1", BUY, qty=1)
    assert brk1.er()[150] == "4"
    brk1.new_order("O4", BUY, 1, "187.00", account="BRK1-OPEN")
    assert_accepted(brk1.er(), "O4", "BRK1-OPEN")


# -- replace ---------------------------------------------------------------------------------

def test_replace_raising_a_buy_beyond_buying_power_is_refused_and_one_up_to_it_is_done(
        brk1: Broker) -> None:
    brk1.rest("B1", BUY, 50, "190.00", account="BRK1-CASH")     # reserves 9500.00 of 19000
    brk1.replace("B2", "B1", BUY, 100, "190.01")                 # needs 9501.00 more
    reject = brk1.next_of("9")
    assert (reject[11], reject[41], reject[434], reject[102], reject[39]) == (
        "B2", "B1", "2", "99", "0"), reject
    assert "buy needs 9501 of buying power" in reject[58], reject
    assert "BRK1-CASH has 9500" in reject[58], reject
    brk1.replace("B3", "B1", BUY, 100, "190.00")                 # needs exactly 9500.00
    replaced = brk1.er()
    assert (replaced[150], replaced[39], replaced[11], replaced[41]) == (
        "5", "0", "B3", "B1"), replaced
    assert (int(replaced[38]), replaced.dec(44)) == (100, 190), replaced


# -- settlement ------------------------------------------------------------------------------

def test_a_fill_settles_at_once_so_buying_power_drops_by_its_notional(
        brk1: Broker, brk3: Broker) -> None:
    brk3.rest("S1", SELL, 50, "190.00")
    brk1.new_order("B1", BUY, 50, "190.00", account="BRK1-CASH")  # 9500.00 of 19000.00
    new, fill = brk1.ers(2)
    assert (new[150], fill[150], fill[39], int(fill[32])) == ("0", "F", "2", 50), fill
    # Before the fill this order fitted; now the cash is 9500.00 and none is reserved.
    brk1.new_order("B2", BUY, 50, "190.01", account="BRK1-CASH")
    assert_limit_reject(brk1.er(), "B2", "buy needs 9500.5 of buying power",
                        "BRK1-CASH has 9500 (cash 9500, reserved 0)")
    brk1.new_order("B3", BUY, 50, "190.00", account="BRK1-CASH")
    assert_accepted(brk1.er(), "B3", "BRK1-CASH")


def test_a_fill_charges_the_firms_fee_at_once(brk2: Broker, brk3: Broker) -> None:
    brk3.rest("S1", SELL, 100, "190.00")
    brk2.new_order("B1", BUY, 100, "190.00")  # 19000.00 + fee 19.00 of 20020.00
    new, fill = brk2.ers(2)
    assert (new[150], fill[150], fill[39], int(fill[32])) == ("0", "2", "2", 100), fill
    assert (fill[12], fill[13]) == ("19", "3"), fill   # Commission, CommType 3 (absolute)
    # 1001.00 left: 5 at 200.00 is 1000.00 + fee 1.00; at 200.01, 1000.05 + fee 1.00.
    brk2.new_order("B2", BUY, 5, "200.01")
    assert_limit_reject(brk2.er(), "B2", "buy needs 1001.05 of buying power",
                        "BRK2-MAIN has 1001 (cash 1001, reserved 0)")
    brk2.new_order("B3", BUY, 5, "200.00")
    assert_accepted(brk2.er(), "B3", "BRK2-MAIN")


# -- throttle --------------------------------------------------------------------------------

def send_burst(broker: Broker, count: int) -> list[int]:
    """``count`` resting buys T1.. back to back; their MsgSeqNums."""
    seqs = []
    for i in range(1, count + 1):
        seqs.append(broker.next_seq)
        broker.new_order(f"T{i}", BUY, 1, f"{180 + i}.00")
    return seqs


def test_message_beyond_the_rate_limit_gets_a_business_reject_naming_the_limit(
        throttled_brk1: Broker) -> None:
    seqs = send_burst(throttled_brk1, MAX_MESSAGES_PER_SECOND + 1)
    answers = [throttled_brk1.next() for _ in seqs]
    reports = sorted((m for m in answers if m.type == "8"), key=lambda m: m[11])
    assert [(m[11], m[150]) for m in reports] == [
        (f"T{i}", "0") for i in range(1, MAX_MESSAGES_PER_SECOND + 1)], answers
    [reject] = [m for m in answers if m.type == "j"]
    last = MAX_MESSAGES_PER_SECOND + 1
    assert (reject[45], reject[372], reject[379], reject[380]) == (
        str(seqs[-1]), "D", f"T{last}", "0"), reject
    assert f"more than {MAX_MESSAGES_PER_SECOND} messages in one second" in reject[58], reject
    throttled_brk1.quiet(0.2)  # the throttled order never reached the book


def test_throttled_session_stays_logged_on_and_is_served_again_after_a_second(
        throttled_brk1: Broker) -> None:
    start = time.monotonic()
    seqs = send_burst(throttled_brk1, MAX_MESSAGES_PER_SECOND + 1)
    answers = [throttled_brk1.next() for _ in seqs]
    assert sorted(m.type for m in answers) == ["8"] * MAX_MESSAGES_PER_SECOND + ["j"]
    time.sleep(max(0.0, start + 1.1 - time.monotonic()))
    throttled_brk1.new_order("LATER", BUY, 1, "179.00")
    assert_accepted(throttled_brk1.er(), "LATER", "BRK1-MAIN")


# -- kill switch -----------------------------------------------------------------------------

def admin(server: FixServer, command: str) -> dict:
    """An operator's request to the server's admin socket (from outside its process)."""
    from venue.admin import request, socket_path  # here: only these tests need it
    reply = json.loads(request(socket_path(server.data_dir), command))
    assert reply["ok"] is True, reply
    return reply


def test_kill_switch_of_an_account_rejects_its_orders_and_not_those_of_its_firms_others(
        server: FixServer, brk1: Broker) -> None:
    admin(server, "kill account BRK1-PROP")
    brk1.new_order("K1", BUY, 100, "189.00", account="BRK1-PROP")
    er = brk1.er()
    assert (er[150], er[39], er[11], er[103]) == ("8", "8", "K1", "99"), er
    assert "kill switch of account BRK1-PROP is on" in er.get(58, ""), er
    brk1.new_order("K2", BUY, 100, "189.00", account="BRK1-MAIN")
    assert_accepted(brk1.er(), "K2", "BRK1-MAIN")


def test_fix42_kill_switch_reject_has_the_fix42_ord_rej_reason_for_other(
        server: FixServer, brk2: Broker) -> None:
    admin(server, "kill account BRK2-MAIN")
    brk2.new_order("K1", BUY, 1, "189.00")
    er = brk2.er()
    assert (er[150], er[39], er[11], er[103]) == ("8", "8", "K1", "0"), er  # 99 is 4.4 only
    assert "kill switch of account BRK2-MAIN is on" in er.get(58, ""), er
