"""venue.requests: FIX order-entry messages -> journaled commands (venue.commands)."""

from __future__ import annotations

import calendar

import pytest

from fixserver.codec import Message
from venue import orderentry as OE
from venue import requests as RQ
from venue.commands import (
    NewOrderSingle,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    OrderMassCancelRequest,
    OrderStatusRequest,
)

SESSION = "FIX.4.4:EXCH->BRK1"

NEW_LIMIT = [(11, b"c1"), (1, b"BRK1-MAIN"), (55, b"AAPL"), (54, b"1"), (38, b"100"),
             (40, b"2"), (44, b"190.25"), (59, b"1")]


def msg(msg_type: bytes, fields: list[tuple[int, bytes]]) -> Message:
    return Message(b"FIX.4.4", [(35, msg_type), *fields])


def with_fields(fields: list[tuple[int, bytes]], **changes: bytes | None) -> list:
    """``fields`` with tags replaced (t44=b"1"), removed (t44=None) or added."""
    wanted = {int(k[1:]): v for k, v in changes.items()}
    out = [(t, wanted.get(t, v)) for t, v in fields if wanted.get(t, v) is not None]
    present = {t for t, _ in fields}
    out += [(t, v) for t, v in wanted.items() if t not in present and v is not None]
    return out


def new_order(**changes: bytes | None) -> NewOrderSingle:
    return RQ.new_order(msg(b"D", with_fields(NEW_LIMIT, **changes)), SESSION)


# -- NewOrderSingle -------------------------------------------------------------------------


def test_new_order_single_becomes_a_new_command() -> None:
    assert new_order() == NewOrderSingle(SESSION, "c1", "BRK1-MAIN", "AAPL", side=1, ord_type=2,
                                         price=1_902_500, stop_px=0, order_qty=100,
                                         time_in_force=1, expire_time=0, min_qty=0,
                                         max_floor=0, error_code="", error_text="")


def test_new_order_time_in_force_defaults_to_day() -> None:
    assert new_order(t59=None).time_in_force == 0


def test_new_order_without_account_has_an_empty_account() -> None:
    assert new_order(t1=None).account == ""


def test_market_order_needs_no_price() -> None:
    command = new_order(t40=b"1", t44=None)
    assert (command.ord_type, command.price, command.error_code) == (1, 0, "")


def test_stop_limit_order_carries_price_and_stop_price() -> None:
    command = new_order(t40=b"4", t99=b"189.5")
    assert (command.ord_type, command.price, command.stop_px, command.error_code) == \
        (4, 1_902_500, 1_895_000, "")


def test_gtd_order_carries_expire_time_in_nanoseconds() -> None:
    command = new_order(t59=b"6", t126=b"20300102-03:04:05.678")
    expected = (calendar.timegm((2030, 1, 2, 3, 4, 5, 0, 0, 0)) * 1000 + 678) * 1_000_000
    assert (command.time_in_force, command.expire_time, command.error_code) == (6, expected, "")


def test_min_qty_and_max_floor_are_carried() -> None:
    command = new_order(t110=b"20", t111=b"10")
    assert (command.min_qty, command.max_floor) == (20, 10)


def test_sell_side_and_ioc_are_mapped() -> None:
    command = new_order(t54=b"2", t59=b"3")
    assert (command.side, command.time_in_force) == (2, 3)


def test_quantity_with_a_zero_fraction_is_accepted() -> None:
    command = new_order(t38=b"100.00")
    assert (command.order_qty, command.error_code) == (100, "")


@pytest.mark.parametrize(("changes", "code", "tag"), [
    ({"t54": None}, OE.INVALID_FIELD, 54),
    ({"t54": b"5"}, OE.UNSUPPORTED, 54),
    ({"t40": None}, OE.INVALID_FIELD, 40),
    ({"t40": b"P"}, OE.UNSUPPORTED, 40),
    ({"t59": b"2"}, OE.UNSUPPORTED, 59),
    ({"t38": None}, OE.INVALID_FIELD, 38),
    ({"t38": b"10.5"}, OE.INVALID_FIELD, 38),
    ({"t38": b"abc"}, OE.INVALID_FIELD, 38),
    ({"t44": None}, OE.INVALID_FIELD, 44),
    ({"t44": b"190.12345"}, OE.INVALID_FIELD, 44),
    ({"t44": b"0"}, OE.INVALID_FIELD, 44),
    ({"t44": b"-1"}, OE.INVALID_FIELD, 44),
    ({"t44": b"1,5"}, OE.INVALID_FIELD, 44),
    ({"t40": b"3", "t44": None}, OE.INVALID_FIELD, 99),
    ({"t40": b"4", "t44": None, "t99": b"189"}, OE.INVALID_FIELD, 44),
    ({"t40": b"4", "t99": b"abc"}, OE.INVALID_FIELD, 99),
    ({"t59": b"6"}, OE.INVALID_FIELD, 126),
    ({"t126": b"2030-01-02T03:04:05"}, OE.INVALID_FIELD, 126),
    ({"t110": b"x"}, OE.INVALID_FIELD, 110),
    ({"t111": b"1.5"}, OE.INVALID_FIELD, 111),
], ids=lambda v: repr(v))
def test_bad_field_gives_its_error_code_and_a_text_naming_the_tag(
        changes: dict, code: str, tag: int) -> None:
    command = new_order(**changes)
    assert (command.error_code, f"({tag})" in command.error_text) == (code, True), \
        command.error_text


def test_unsupported_value_is_named_in_the_text() -> None:
    assert "P" in new_order(t40=b"P").error_text


def test_first_problem_is_the_one_reported() -> None:
    command = new_order(t54=b"9", t38=b"abc")
    assert "(54)" in command.error_text and "(38)" not in command.error_text


def test_bad_field_is_zeroed_in_the_command() -> None:
    assert new_order(t44=b"1.23456").price == 0


# -- OrderCancelRequest ---------------------------------------------------------------------


def test_order_cancel_request_becomes_a_cancel_command() -> None:
    m = msg(b"F", [(11, b"c2"), (41, b"c1"), (37, b"17"), (55, b"AAPL"), (54, b"2")])
    assert RQ.cancel(m, SESSION) == OrderCancelRequest(SESSION, "c2", orig_cl_ord_id="c1",
                                                       order_id="17", symbol="AAPL", side=2)


def test_cancel_without_order_id_or_side_has_empty_defaults() -> None:
    m = msg(b"F", [(11, b"c2"), (41, b"c1"), (55, b"AAPL")])
    assert RQ.cancel(m, SESSION) == OrderCancelRequest(SESSION, "c2", orig_cl_ord_id="c1",
                                                       order_id="", symbol="AAPL", side=0)


# -- OrderCancelReplaceRequest -------------------------------------------------------------

REPLACE = [(11, b"r1"), (41, b"c1"), (37, b"17"), (55, b"AAPL"), (54, b"1"), (38, b"150"),
           (40, b"2"), (44, b"190.5"), (59, b"0")]


def test_order_cancel_replace_request_becomes_a_replace_command() -> None:
    command = RQ.replace(msg(b"G", REPLACE), SESSION)
    assert command == OrderCancelReplaceRequest(
        SESSION, "r1", orig_cl_ord_id="c1", order_id="17", symbol="AAPL", side=1, order_qty=150,
        price=1_905_000, stop_px=0, ord_type=2, time_in_force=0, error_code="", error_text="")


@pytest.mark.parametrize(("changes", "code", "tag"), [
    ({"t44": b"abc"}, OE.INVALID_FIELD, 44),
    ({"t44": None}, OE.INVALID_FIELD, 44),
    ({"t38": b"1.5"}, OE.INVALID_FIELD, 38),
    ({"t54": None}, OE.INVALID_FIELD, 54),
    ({"t40": b"K"}, OE.UNSUPPORTED, 40),
    ({"t59": b"7"}, OE.UNSUPPORTED, 59),
], ids=lambda v: repr(v))
def test_bad_replace_field_gives_its_error_code_and_a_text_naming_the_tag(
        changes: dict, code: str, tag: int) -> None:
    command = RQ.replace(msg(b"G", with_fields(REPLACE, **changes)), SESSION)
    assert (command.error_code, f"({tag})" in command.error_text) == (code, True), \
        command.error_text


# -- OrderStatusRequest, OrderMassCancelRequest ---------------------------------------------


def test_order_status_request_becomes_a_status_command() -> None:
    m = msg(b"H", [(11, b"c1"), (37, b"17"), (55, b"AAPL"), (54, b"1")])
    assert RQ.status(m, SESSION) == OrderStatusRequest(SESSION, "c1", order_id="17",
                                                       symbol="AAPL", side=1)


def test_order_mass_cancel_request_becomes_a_mass_cancel_command() -> None:
    m = msg(b"q", [(11, b"m1"), (530, b"1"), (55, b"AAPL"), (54, b"2")])
    assert RQ.mass_cancel(m, SESSION) == OrderMassCancelRequest(
        SESSION, "m1", mass_cancel_request_type="1", symbol="AAPL", side=2, account="")


def test_mass_cancel_all_without_symbol_or_side() -> None:
    m = msg(b"q", [(11, b"m1"), (530, b"7")])
    assert RQ.mass_cancel(m, SESSION) == OrderMassCancelRequest(
        SESSION, "m1", mass_cancel_request_type="7", symbol="", side=0, account="")


def test_text_fields_are_decoded_as_latin_1() -> None:
    command = new_order(t11=b"caf\xe9")
    assert command.cl_ord_id == "caf\u00e9"
