"""venue.report_writer.ReportWriter: reports (venue.reports) -> FIX 4.2 and 4.4 bodies."""

from __future__ import annotations

from typing import Any

import pytest

from fixserver.codec import encode, parse
from fixserver.dictionary import for_begin_string
from fixserver.validation import Validator
from matching import reasons as R
from matching.constants import BUY, GTD, LIMIT, SELL, STOP_LIMIT
from venue import orderentry as OE
from venue.report_writer import ReportWriter
from venue.reports import ExecutionReport, OrderCancelReject, OrderMassCancelReport, Report

from .support import px

FIX42, FIX44 = b"FIX.4.2", b"FIX.4.4"
VERSIONS = [FIX42, FIX44]
TS = 1_700_000_000_123_456_789     # 2023-11-14 22:13:20.123 UTC


def writer(version: bytes) -> ReportWriter:
    return ReportWriter(for_begin_string(version))


def execution(exec_type: str, status: str, **fields: Any) -> ExecutionReport:
    """An ExecutionReport about a limit buy of 100 AAPL at 190.00, with ``fields`` changed."""
    order = {"order_id": "7", "cl_ord_id": "c1", "account": "ACC", "symbol": "AAPL",
             "side": BUY, "ord_type": LIMIT, "price": px("190.00"), "order_qty": 100,
             "time_in_force": 0, "leaves_qty": 100}
    return ExecutionReport("S", TS, exec_type, status, "E1", **{**order, **fields})


def trade(leaves: int, cum: int, status: str) -> ExecutionReport:
    return execution("F", status, leaves_qty=leaves, cum_qty=cum, last_px=px("190.00"),
                     last_qty=40, avg_px=px("190.00"), trade_id=12)


def cancel_reject(code: str, response_to: str = "1", orig: str = "c0") -> OrderCancelReject:
    return OrderCancelReject("S", TS, cl_ord_id="c1", orig_cl_ord_id=orig, order_id="7",
                             ord_status="0", cxl_rej_response_to=response_to, reject_code=code,
                             text="why")


def mass_report(response: str, affected: int = 0, text: str = "") -> OrderMassCancelReport:
    return OrderMassCancelReport("S", TS, cl_ord_id="m1", order_id="M1",
                                 mass_cancel_request_type="1", mass_cancel_response=response,
                                 symbol="AAPL", text=text, total_affected_orders=affected)


def body(version: bytes, report: Report) -> dict[int, bytes]:
    _, fields = writer(version).write(report)
    return dict(fields)


def all_reports() -> list[tuple[str, Report]]:
    """One report of every kind the order entry makes, with every optional field set."""
    return [
        ("new", execution("0", "0")),
        ("partial", trade(60, 40, "1")),
        ("fill", trade(0, 100, "2")),
        ("canceled", execution("4", "4", leaves_qty=0, orig_cl_ord_id="c0", text="cancelled")),
        ("replaced", execution("5", "1", orig_cl_ord_id="c0", replaced=True, cum_qty=10,
                               leaves_qty=90, avg_px=px("190.00"))),
        ("rejected", execution("8", "8", leaves_qty=0, order_id="NONE",
                               reject_code=R.PRICE_NOT_ON_TICK, text="off the grid")),
        ("expired", execution("C", "C", leaves_qty=0, time_in_force=GTD, expire_time=TS)),
        ("status", execution("I", "1", cum_qty=10, leaves_qty=90, avg_px=px("190.00"))),
        ("status-unknown", execution("I", "8", order_id="NONE", reject_code=R.UNKNOWN_ORDER,
                                     text="unknown order c1")),
        ("triggered", execution("L", "0", ord_type=STOP_LIMIT, stop_px=px("189.00"),
                                text="stop order triggered")),
        ("restated", execution("D", "1", cum_qty=10, leaves_qty=80, order_qty=90,
                               text="self-trade")),
        ("cancel-reject", cancel_reject(R.UNKNOWN_ORDER)),
        ("replace-reject", cancel_reject(R.TOO_LATE, "2")),
        ("mass-cancel", mass_report("1", affected=3)),
        ("mass-cancel-rejected", mass_report("0", text="unsupported")),
    ]


# -- every report is a valid message of its version ---------------------------------------


def _validity_cases() -> list:
    cases = []
    for version in VERSIONS:
        for name, report in all_reports():
            if version == FIX42 and type(report) is OrderMassCancelReport:
                continue   # no mass cancel in FIX 4.2: a q is refused by the session layer
            cases.append(pytest.param(version, report, id=f"{version.decode()}-{name}"))
    return cases


@pytest.mark.parametrize(("version", "report"), _validity_cases())
def test_report_is_valid_against_the_versions_dictionary(version: bytes,
                                                         report: Report) -> None:
    msg_type, fields = writer(version).write(report)
    header = [(35, msg_type), (34, b"2"), (49, b"EXCH"), (52, b"20231114-22:13:20.123"),
              (56, b"BRK1")]
    message = parse(encode(version, header + fields))
    assert Validator(for_begin_string(version)).validate(message) is None


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: v.decode())
@pytest.mark.parametrize(("name", "report"), all_reports(), ids=[n for n, _ in all_reports()])
def test_body_tags_are_in_ascending_order_without_repeats(version: bytes, name: str,
                                                          report: Report) -> None:
    _, fields = writer(version).write(report)
    tags = [t for t, _ in fields]
    assert tags == sorted(set(tags))


def test_message_types_of_the_report_kinds() -> None:
    w = writer(FIX44)
    assert [w.write(r)[0] for r in (execution("0", "0"), cancel_reject(R.UNKNOWN_ORDER),
                                    mass_report("1"))] == [b"8", b"9", b"r"]


# -- FIX 4.2 vs 4.4 -------------------------------------------------------------------------


def test_exec_trans_type_is_sent_in_fix42_only() -> None:
    r = execution("0", "0")
    assert (body(FIX42, r).get(20), body(FIX44, r).get(20)) == (b"0", None)


def test_new_order_has_exec_type_0_in_both_versions() -> None:
    r = execution("0", "0")
    assert (body(FIX42, r)[150], body(FIX44, r)[150]) == (b"0", b"0")


def test_partial_fill_is_exec_type_1_in_fix42_and_f_in_fix44() -> None:
    r = trade(60, 40, "1")
    assert (body(FIX42, r)[150], body(FIX44, r)[150]) == (b"1", b"F")


def test_fill_is_exec_type_2_in_fix42_and_f_in_fix44() -> None:
    r = trade(0, 100, "2")
    assert (body(FIX42, r)[150], body(FIX44, r)[150]) == (b"2", b"F")


def test_trade_carries_last_px_and_last_qty_in_both_versions() -> None:
    r = trade(60, 40, "1")
    assert [(b[31], b[32]) for b in (body(FIX42, r), body(FIX44, r))] == [(b"190", b"40")] * 2


def test_trade_match_id_880_is_not_sent_as_the_fix44_dictionary_does_not_allow_it() -> None:
    r = trade(60, 40, "1")
    assert (body(FIX42, r).get(880), body(FIX44, r).get(880)) == (None, None)


def test_replace_is_ord_status_5_in_fix42_only() -> None:
    r = execution("5", "1", orig_cl_ord_id="c0", replaced=True, cum_qty=10, leaves_qty=90)
    assert ((body(FIX42, r)[39], body(FIX42, r)[150]), (body(FIX44, r)[39], body(FIX44, r)[150])) \
        == ((b"5", b"5"), (b"1", b"5"))


def test_status_report_is_exec_type_i_in_fix44_and_the_ord_status_in_fix42() -> None:
    r = execution("I", "1", cum_qty=10, leaves_qty=90)
    assert (body(FIX42, r)[150], body(FIX44, r)[150]) == (b"1", b"I")


def test_status_report_is_exec_trans_type_status_in_fix42() -> None:
    assert body(FIX42, execution("I", "0"))[20] == b"3"


def test_triggered_stop_is_reported_as_restated_in_both_versions() -> None:
    r = execution("L", "0", ord_type=STOP_LIMIT, stop_px=px("189.00"))
    assert (body(FIX42, r)[150], body(FIX44, r)[150]) == (b"D", b"D")


@pytest.mark.parametrize("exec_type", ["4", "8", "C", "D"])
def test_exec_types_common_to_both_versions_are_unchanged(exec_type: str) -> None:
    r = execution(exec_type, "4" if exec_type == "4" else exec_type, leaves_qty=0)
    assert (body(FIX42, r)[150], body(FIX44, r)[150]) == (exec_type.encode(),) * 2


# -- reject reasons ------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "fix42", "fix44"), [
    (OE.DUPLICATE_CL_ORD_ID, b"6", b"6"),
    (R.UNKNOWN_SYMBOL, b"1", b"1"),
    ("MAX_ORDER_QTY", b"3", b"3"),
    ("KILL_SWITCH", b"0", b"99"),
    (OE.UNKNOWN_ACCOUNT, b"0", b"15"),        # 15 is not in FIX 4.2's OrdRejReason
    (R.INVALID_QUANTITY, b"0", b"13"),
    (OE.UNSUPPORTED, b"0", b"11"),
    (OE.INVALID_FIELD, b"0", b"99"),
    ("NO_SUCH_CODE", b"0", b"99"),
])
def test_ord_rej_reason_falls_back_to_the_versions_broker_option(
        code: str, fix42: bytes, fix44: bytes) -> None:
    r = execution("8", "8", leaves_qty=0, reject_code=code)
    assert (body(FIX42, r)[103], body(FIX44, r)[103]) == (fix42, fix44)


def test_ord_rej_reason_is_only_on_rejects() -> None:
    r = execution("I", "8", reject_code=R.UNKNOWN_ORDER)
    assert (103 in body(FIX42, r), 103 in body(FIX44, r)) == (False, False)


@pytest.mark.parametrize(("code", "fix42", "fix44"), [
    (R.UNKNOWN_ORDER, b"1", b"1"),
    (R.TOO_LATE, b"0", b"0"),
    (R.MARKET_CLOSED, b"2", b"2"),
    (OE.DUPLICATE_CL_ORD_ID, b"2", b"6"),     # 6 is not in FIX 4.2's CxlRejReason
    (OE.UNSUPPORTED, b"2", b"99"),
    ("NO_SUCH_CODE", b"2", b"99"),
])
def test_cxl_rej_reason_falls_back_to_the_versions_broker_option(
        code: str, fix42: bytes, fix44: bytes) -> None:
    r = cancel_reject(code)
    assert (body(FIX42, r)[102], body(FIX44, r)[102]) == (fix42, fix44)


def test_cancel_reject_says_what_it_responds_to() -> None:
    assert (body(FIX44, cancel_reject(R.UNKNOWN_ORDER, "1"))[434],
            body(FIX44, cancel_reject(R.UNKNOWN_ORDER, "2"))[434]) == (b"1", b"2")


def test_cancel_reject_without_orig_cl_ord_id_sends_none() -> None:
    assert body(FIX44, cancel_reject(R.UNKNOWN_ORDER, orig=""))[41] == b"NONE"


# -- other fields ---------------------------------------------------------------------------


def test_execution_report_core_fields() -> None:
    b = body(FIX44, trade(60, 40, "1"))
    assert {t: b[t] for t in (1, 6, 11, 14, 17, 37, 38, 39, 40, 44, 54, 55, 151)} == {
        1: b"ACC", 6: b"190", 11: b"c1", 14: b"40", 17: b"E1", 37: b"7", 38: b"100",
        39: b"1", 40: b"2", 44: b"190", 54: b"1", 55: b"AAPL", 151: b"60"}


def test_avg_px_is_written_in_decimal_from_fixed_point() -> None:
    r = execution("F", "2", avg_px=100_066, cum_qty=3, leaves_qty=0)
    assert body(FIX44, r)[6] == b"10.0066"


def test_transact_time_is_utc_with_milliseconds() -> None:
    assert body(FIX44, execution("0", "0"))[60] == b"20231114-22:13:20.123"


def test_price_is_omitted_for_a_market_order() -> None:
    assert 44 not in body(FIX44, execution("0", "0", ord_type=1))


def test_stop_price_is_sent_for_stop_limit_only() -> None:
    assert (body(FIX44, execution("0", "0", ord_type=STOP_LIMIT, stop_px=px("1")))[99],
            99 in body(FIX44, execution("0", "0", stop_px=px("1")))) == (b"1", False)


def test_expire_time_is_sent_for_gtd_only() -> None:
    assert (body(FIX44, execution("0", "0", time_in_force=GTD, expire_time=TS))[126],
            126 in body(FIX44, execution("0", "0", expire_time=TS))) == \
        (b"20231114-22:13:20.123", False)


def test_side_of_a_sell_is_2() -> None:
    assert body(FIX42, execution("0", "0", side=SELL))[54] == b"2"


def test_mass_cancel_report_of_an_accepted_request() -> None:
    b = body(FIX44, mass_report("1", affected=3))
    assert (b[530], b[531], b[533], 532 in b) == (b"1", b"1", b"3", False)


def test_mass_cancel_report_of_a_rejected_request_has_reject_reason() -> None:
    b = body(FIX44, mass_report("0", text="unsupported"))
    assert (b[531], b[532], b[58]) == (b"0", b"99", b"unsupported")


def test_writing_what_is_not_a_report_is_an_error() -> None:
    with pytest.raises(TypeError):
        writer(FIX44).write(object())  # type: ignore[arg-type]
