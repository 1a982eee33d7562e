"""The ExecutionReport body in C (venue/_report_writer.c) is the bytes the Python writer
makes (ReportWriter._execution_report), for FIX 4.2 and 4.4, or it leaves the report to
it (None). In CI the extension must be there; elsewhere a missing one skips these."""

from __future__ import annotations

import os

from hypothesis import given
from hypothesis import strategies as st

from fixserver import dictionary
from matching.constants import GTD, PRICED_ORD_TYPES, STOP_ORD_TYPES
from tests.conftest import compiled_or_skip
from venue import report_writer
from venue.report_writer import ReportWriter
from venue.reports import ExecutionReport

execution_report = compiled_or_skip("venue._report_writer").execution_report

WRITERS = [ReportWriter(dictionary.for_begin_string(v)) for v in (b"FIX.4.2", b"FIX.4.4")]
text = st.text(max_size=8).filter(lambda s: "\x01" not in s)
code = st.one_of(st.integers(-1, 9), st.sampled_from(["", "Z", "99"]))
amount = st.one_of(st.just(0), st.integers(-10**12, 10**12))
ns = st.integers(0, 4_102_444_800 * 10**9)

reports = st.builds(
    ExecutionReport, session=text, transact_time=ns,
    exec_type=st.sampled_from(["0", "F", "4", "5", "8", "C", "I", "L", "D"]),
    ord_status=st.sampled_from(["0", "1", "2", "4", "5", "8", "C", "E"]), exec_id=text,
    order_id=text, cl_ord_id=text, orig_cl_ord_id=text, account=text, symbol=text,
    side=code, ord_type=code, price=amount, stop_px=amount, order_qty=amount,
    time_in_force=code, expire_time=st.one_of(st.just(0), ns), cum_qty=amount,
    leaves_qty=amount, avg_px=amount, last_px=amount, last_qty=amount, text=text,
    reject_code=st.sampled_from(["", "PRICE_COLLAR", "UNKNOWN_SYMBOL"]),
    replaced=st.booleans(), commission=amount)


@given(reports, st.sampled_from(WRITERS))
def test_the_c_body_is_the_python_body_or_none(report: ExecutionReport,
                                               writer: ReportWriter) -> None:
    body = execution_report(report, writer.fix42, PRICED_ORD_TYPES, STOP_ORD_TYPES, GTD)
    assert body is None or body == writer._execution_report(report)


@given(reports.filter(lambda r: all(isinstance(c, int) for c in
                                    (r.side, r.ord_type, r.time_in_force))
                      and not (r.ord_status == r.exec_type == "8" and r.reject_code)),
       st.sampled_from(WRITERS))
def test_the_common_report_is_written_in_c(report: ExecutionReport,
                                           writer: ReportWriter) -> None:
    body = execution_report(report, writer.fix42, PRICED_ORD_TYPES, STOP_ORD_TYPES, GTD)
    assert body == writer._execution_report(report)


def test_an_order_reject_is_left_to_python_which_maps_its_reason() -> None:
    reject = ExecutionReport("S", 0, "8", "8", "1", side=1, ord_type=2,
                             reject_code="UNKNOWN_SYMBOL")
    for writer in WRITERS:
        assert execution_report(reject, writer.fix42, PRICED_ORD_TYPES, STOP_ORD_TYPES,
                                GTD) is None
        assert b"103=" in writer.encoded(reject)[1]


def test_the_writer_uses_the_c_body_unless_it_is_turned_off() -> None:
    turned_off = bool(os.environ.get("FIXSERVER_PURE_PYTHON"))
    assert report_writer._c_execution_report is (None if turned_off else execution_report)
