"""The audit records (audit/records.py) of real flows through the exchange, and their
schema (docs/audit.schema.json).

The reference is the scripted trading day of the stream kit, written out below
command by command: what each command must leave in the trail, in order.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from audit.files import audit_files
from audit.records import EVENT_TYPES
from matching.constants import SELL
from tests.conftest import (
    AUDIT_SCHEMA,
    audit_problems,
    audit_validator,
)
from tests.venue.support import new, px, status
from venue import orderentry as OE
from venue.commands import NewOrderSingle

from .audit_kit import B1, B2, decimal, lines, other_day, records, trading_day, write_day

DAY = trading_day()

PLACED, ACCEPTED, REJECTED = "ORDER_PLACED", "ORDER_ACCEPTED", "ORDER_REJECTED"
CANCELLED, REPLACED, EXPIRED = "ORDER_CANCELLED", "ORDER_REPLACED", "ORDER_EXPIRED"
TRADE, SETTLEMENT = "TRADE_EXECUTED", "SETTLEMENT"

# What each command of the day (its seq) leaves in the trail, in this order.
DAY_RECORDS: dict[int, tuple[str, ...]] = {
    1: (PLACED, ACCEPTED),                                      # s1 rests
    2: (PLACED, ACCEPTED),                                      # s2 rests
    3: (PLACED, ACCEPTED),                                      # b1 rests
    4: (PLACED, ACCEPTED, TRADE, SETTLEMENT, TRADE, SETTLEMENT),  # b2 takes s1, then s2
    5: (PLACED, ACCEPTED),                                      # m1 rests
    6: ("REPLACE_REQUESTED", REPLACED),                         # m1 -> m1r
    7: ("REPLACE_REQUESTED", REPLACED),                         # m1r -> m1r2
    8: (PLACED, REJECTED),                                      # x1: not a lot multiple
    9: ("CANCEL_REQUESTED", CANCELLED),                         # b1 cancelled
    10: (PLACED, ACCEPTED, TRADE, SETTLEMENT, CANCELLED),       # i1: IOC, 30 of 40
    11: (PLACED, ACCEPTED),                                     # j1 rests
    12: (PLACED, ACCEPTED),                                     # j2 rests
    13: (CANCELLED, CANCELLED, "MASS_CANCEL"),                  # j1, j2, then the report
    14: (PLACED, ACCEPTED),                                     # g1 (GTD) rests
    15: (PLACED, ACCEPTED),                                     # k1 rests
    16: ("KILL_SWITCH", CANCELLED),                             # BROKER2 off: k1 cancelled
    17: (PLACED, REJECTED),                                     # k2 refused
    18: ("KILL_SWITCH",),                                       # BROKER2 on again
    19: (EXPIRED,),                                             # g1 expires
    20: (PLACED, ACCEPTED),                                     # b3 rests
    21: (PLACED, ACCEPTED, TRADE, SETTLEMENT),                  # s3 takes b3
    22: ("TRADING_DAY_ENDED",),
}

# The day's trades: (trade_id, seq, price, quantity, aggressor side,
#                    (buy cl_ord_id, account, firm), (sell cl_ord_id, account, firm)).
DAY_TRADES = [
    (1, 4, "190", 100, "BUY", ("b2", "BRK2-MAIN", "BROKER2"), ("s1", "BRK1-MAIN", "BROKER1")),
    (2, 4, "190.1", 20, "BUY", ("b2", "BRK2-MAIN", "BROKER2"), ("s2", "BRK1-PROP", "BROKER1")),
    (3, 10, "190.1", 30, "BUY", ("i1", "BRK2-MAIN", "BROKER2"), ("s2", "BRK1-PROP", "BROKER1")),
    (4, 21, "190", 60, "SELL", ("b3", "BRK2-MAIN", "BROKER2"), ("s3", "BRK1-MAIN", "BROKER1")),
]
BROKER2_FEE = Decimal("0.0001")   # fee_bps = 1 in the shipped exchange.toml


@pytest.fixture(scope="module")
def day_trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_day(tmp_path_factory.mktemp("day"), DAY)


@pytest.fixture(scope="module")
def day(day_trail: Path) -> list[dict[str, Any]]:
    return records(day_trail)


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return records(write_day(tmp_path_factory.mktemp("other"), other_day(), batch=1,
                             stp=True))


def of_type(recs: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [r for r in recs if r["event_type"] == event_type]


# -- the scripted day ----------------------------------------------------------------------


def test_the_day_leaves_these_records_in_this_order(day: list[dict[str, Any]]) -> None:
    expected = [(seq, t) for seq, types in DAY_RECORDS.items() for t in types]
    assert [(r["seq"], r["event_type"]) for r in day] == expected


def test_records_are_numbered_from_1_and_stamped_with_their_entry(
        day: list[dict[str, Any]]) -> None:
    assert [r["record"] for r in day] == list(range(1, len(day) + 1))
    stamps = {r["seq"]: r["timestamp"] for r in day}
    assert all(r["timestamp"] == stamps[r["seq"]] for r in day)   # one time per entry
    assert stamps[1] == "2025-06-15T15:06:40.000000Z"            # the kit's clock, T0


def test_an_order_is_placed_as_sent_then_accepted_or_rejected(
        day: list[dict[str, Any]]) -> None:
    orders = {c.cl_ord_id: c for c in DAY if isinstance(c, NewOrderSingle)}
    placed = [i for i, r in enumerate(day) if r["event_type"] == PLACED]
    assert [day[i]["cl_ord_id"] for i in placed] == list(orders)
    for i in placed:
        request, answer = day[i], day[i + 1]
        sent = orders[request["cl_ord_id"]]
        assert answer["event_type"] in (ACCEPTED, REJECTED)
        assert (answer["cl_ord_id"], answer["seq"]) == (request["cl_ord_id"], request["seq"])
        assert request["order_id"] is None                       # not yet an order
        assert (answer["order_id"] is not None) == (answer["event_type"] == ACCEPTED)
        assert request["symbol"] == sent.symbol and request["quantity"] == sent.order_qty
        assert request["side"] == {1: "BUY", 2: "SELL"}[sent.side]
        assert request["price"] == decimal(sent.price)
        assert request["user_id"] == (sent.account or None)     # as sent: often none
        assert answer["user_id"] is not None                     # the account it got


def test_a_reject_says_why(day: list[dict[str, Any]]) -> None:
    assert [(r["cl_ord_id"], r["reason"], r["ord_status"]) for r in of_type(day, REJECTED)
            ] == [("x1", "QUANTITY_NOT_LOT_MULTIPLE", "8"), ("k2", "KILL_SWITCH", "8")]


def test_each_trade_is_one_record_with_both_sides_then_its_settlement(
        day: list[dict[str, Any]]) -> None:
    trades = [(i, r) for i, r in enumerate(day) if r["event_type"] == TRADE]
    assert [r["trade_id"] for _, r in trades] == [t[0] for t in DAY_TRADES]
    for (i, trade), (trade_id, seq, price, qty, side, buy, sell) in zip(trades, DAY_TRADES,
                                                                         strict=True):
        assert (trade["seq"], trade["price"], trade["quantity"], trade["side"],
                trade["auction"]) == (seq, Decimal(price), qty, side, False)
        for got, (cl_ord_id, account, firm) in ((trade["buy"], buy), (trade["sell"], sell)):
            assert (got["cl_ord_id"], got["user_id"], got["firm"]) == (cl_ord_id, account, firm)
        aggressor = trade["buy"] if side == "BUY" else trade["sell"]
        assert (trade["user_id"], trade["order_id"]) == (aggressor["user_id"],
                                                         aggressor["order_id"])
        settlement = day[i + 1]
        assert settlement["event_type"] == SETTLEMENT
        assert (settlement["trade_id"], settlement["seq"], settlement["price"],
                settlement["quantity"]) == (trade_id, seq, Decimal(price), qty)
        assert (settlement["buy_account"], settlement["buy_firm"]) == buy[1:]
        assert (settlement["sell_account"], settlement["sell_firm"]) == sell[1:]
        assert settlement["notional"] == Decimal(price) * qty
        assert settlement["buyer_fee"] == trade["buy"]["commission"]
        assert settlement["seller_fee"] == trade["sell"]["commission"]


def test_fees_are_charged_to_the_firm_that_has_them(day: list[dict[str, Any]]) -> None:
    for s in of_type(day, SETTLEMENT):   # BROKER2 buys every trade of the day
        assert (s["buyer_fee"], s["seller_fee"]) == (s["notional"] * BROKER2_FEE, 0)


def test_the_sides_state_after_each_fill(day: list[dict[str, Any]]) -> None:
    assert [(t["buy"]["cum_qty"], t["buy"]["leaves_qty"], t["sell"]["cum_qty"],
             t["sell"]["leaves_qty"]) for t in of_type(day, TRADE)] == [
        (100, 20, 100, 0), (120, 0, 20, 30), (30, 10, 50, 0), (60, 0, 60, 0)]


def test_prices_are_exact_decimals_of_the_fixed_point_ints(day_trail: Path) -> None:
    raw = lines(day_trail)
    s2_placed = raw[2]
    assert b'"cl_ord_id":"s2"' in s2_placed and b'"price":190.1,' in s2_placed
    second_settlement = [line for line in raw if b'"event_type":"SETTLEMENT"' in line][1]
    assert b'"notional":3802,' in second_settlement
    assert b'"buyer_fee":0.3802,' in second_settlement
    assert b'"seller_fee":0,' in second_settlement
    assert records(day_trail)[2]["price"] == Decimal("190.1")
    for line in raw:   # no float artefact anywhere: at most 4 decimals, no exponent
        assert not re.search(rb'":-?[0-9]+(\.[0-9]{5,}|(\.[0-9]+)?[eE])', line), line


def test_a_replace_names_the_order_it_replaces(day: list[dict[str, Any]]) -> None:
    assert [(r["cl_ord_id"], r["orig_cl_ord_id"], r["quantity"], r["price"])
            for r in of_type(day, REPLACED)] == [
        ("m1r", "m1", 150, Decimal("419.5")), ("m1r2", "m1r", 140, Decimal("419.5"))]


def test_a_kill_switch_names_its_scope_and_state(day: list[dict[str, Any]]) -> None:
    assert [(r["scope"], r["name"], r["on"]) for r in of_type(day, "KILL_SWITCH")] == [
        ("firm", "BROKER2", True), ("firm", "BROKER2", False)]


def test_a_status_request_makes_no_record(tmp_path: Path) -> None:
    trail = write_day(tmp_path, [new(B1, "s1", SELL, 10, px("190.00"), symbol="AAPL"),
                                 status(B1, "s1", symbol="AAPL", side=SELL)], batch=1)
    assert [(r["seq"], r["event_type"]) for r in records(trail)] == [(1, PLACED),
                                                                     (1, ACCEPTED)]


# -- the other event types -----------------------------------------------------------------


def test_every_event_type_is_made_by_a_real_flow(day: list[dict[str, Any]],
                                                 other: list[dict[str, Any]]) -> None:
    seen = {r["event_type"] for r in day + other}
    assert seen == set(EVENT_TYPES)


def test_an_auction_uncross_is_a_trade_without_an_aggressor(
        other: list[dict[str, Any]]) -> None:
    uncross = [r for r in other if r["seq"] == 6]
    assert [r["event_type"] for r in uncross] == ["PHASE_CHANGED", TRADE, SETTLEMENT]
    phase, trade, _ = uncross
    assert (phase["symbol"], phase["old_phase"], phase["new_phase"]) == (
        "MSFT", "OPENING_AUCTION", "CONTINUOUS")
    assert (trade["auction"], trade["side"], trade["buy"]["cl_ord_id"],
            trade["sell"]["cl_ord_id"]) == (True, None, "a2", "a1")


def test_logons_and_logouts_name_the_session_and_its_firm(
        other: list[dict[str, Any]]) -> None:
    sessions = [(r["event_type"], r["session"], r["comp_id"], r["firm"],
                 r.get("cancel_on_disconnect"), r.get("reason"))
                for r in other if r["event_type"].startswith("SESSION_")]
    assert sessions == [
        ("SESSION_LOGON", B1, "BRK1", "BROKER1", None, None),
        ("SESSION_LOGON", B2, "BRK2", "BROKER2", None, None),
        ("SESSION_LOGOUT", B2, "BRK2", "BROKER2", True, None),
        ("SESSION_LOGOUT", B1, "BRK1", "BROKER1", False, "logout requested")]


def test_a_refused_cancel_or_replace_says_which_it_was(other: list[dict[str, Any]]) -> None:
    assert [(r["cl_ord_id"], r["response_to"], r["reason"])
            for r in of_type(other, "CANCEL_REJECTED")] == [
        ("nc", "CANCEL", "UNKNOWN_ORDER"), ("nr", "REPLACE", "UNKNOWN_ORDER")]


def test_a_value_the_exchange_does_not_support_is_recorded_as_sent(
        other: list[dict[str, Any]]) -> None:
    bad = [r for r in other if r.get("cl_ord_id") == "bad"]
    assert [(r["event_type"], r["side"], r.get("reason")) for r in bad] == [
        (PLACED, "7", None), (REJECTED, "7", OE.UNSUPPORTED)]


def test_a_triggered_stop_and_a_restatement_are_order_records(
        other: list[dict[str, Any]]) -> None:
    assert [(r["cl_ord_id"], r["order_type"], r["stop_px"])
            for r in of_type(other, "ORDER_TRIGGERED")] == [("st1", "STOP", Decimal("190.5"))]
    assert [(r["cl_ord_id"], r["quantity"], r["leaves_qty"])
            for r in of_type(other, "ORDER_RESTATED")] == [("r1", 6, 6)]


# -- the schema ----------------------------------------------------------------------------


def test_every_record_of_the_day_validates_against_the_schema(day_trail: Path) -> None:
    count = sum(len(types) for types in DAY_RECORDS.values())
    assert audit_problems(audit_files(day_trail)) == (count, count, [])


def test_every_record_of_the_other_event_types_validates_against_the_schema(
        tmp_path: Path) -> None:
    trail = write_day(tmp_path, other_day(), batch=1, stp=True)
    count, _, problems = audit_problems(audit_files(trail))
    assert (count, problems) == (len(records(trail)), [])


def test_the_schema_has_the_event_types_of_the_code_each_closed() -> None:
    schema = json.loads(AUDIT_SCHEMA.read_text())
    assert schema["properties"]["event_type"]["enum"] == list(EVENT_TYPES)
    dispatched = {}
    for rule in schema["allOf"]:
        test = rule["if"]["properties"]["event_type"]
        target = rule["then"]["$ref"].removeprefix("#/$defs/")
        for event_type in test.get("enum", [test.get("const")]):
            dispatched[event_type] = target
    assert sorted(dispatched) == sorted(EVENT_TYPES)
    for target in set(dispatched.values()):
        definition = schema["$defs"][target]
        assert definition["additionalProperties"] is False, target
        assert sorted(definition["required"]) == sorted(definition["properties"]), target


@pytest.mark.parametrize("change", [
    pytest.param(lambda r: r.update(venue="XNAS"), id="a field it does not know"),
    pytest.param(lambda r: r.pop("time_in_force"), id="a field missing"),
    pytest.param(lambda r: r.update(price="190.1"), id="a price as a string"),
    pytest.param(lambda r: r.update(quantity=Decimal("10.5")), id="a fractional quantity"),
    pytest.param(lambda r: r.update(timestamp="2025-06-15T15:06:40Z"),
                 id="a timestamp without microseconds"),
    pytest.param(lambda r: r.update(hash="ABC"), id="a hash that is not 64 hex digits"),
    pytest.param(lambda r: r.update(event_type="ORDER_LOST"), id="an unknown event type"),
    pytest.param(lambda r: r.update(event_type="SETTLEMENT"),
                 id="the fields of another event type"),
])
def test_the_schema_refuses_a_record_that_differs_from_the_code(
        day: list[dict[str, Any]], change: Any) -> None:
    validator = audit_validator()
    record = dict(day[1])   # s1's ORDER_ACCEPTED
    assert validator.is_valid(record)
    change(record)
    assert not validator.is_valid(record)
