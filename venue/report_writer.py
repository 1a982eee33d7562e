"""Reports (``reports.py``) -> FIX message bodies, per FIX version.

FIX 4.4 ExecutionReports carry ExecType 0/F/4/5/8/C/I/L/D and LastQty; FIX 4.2
ones carry ExecTransType, ExecType 0/1/2/4/5/8/C/D with OrdStatus 5 on a
replace, and LastShares (the same tag 32). Codes the session's dictionary does
not know for OrdRejReason or CxlRejReason fall back to that version's
"broker/exchange option" value. Bodies are in ascending tag order.
"""

from __future__ import annotations

from fixserver.codec import Field, encode_fields
from fixserver.dictionary import DataDictionary
from fixserver.speedups import load
from fixserver.utctime import Timestamps
from matching.constants import GTD, PRICED_ORD_TYPES, STOP_ORD_TYPES

from .fixedpoint import format_price
from .orderentry import ST_REJECTED, cxl_rej_reason, ord_rej_reason
from .reports import ExecutionReport, OrderCancelReject, OrderMassCancelReport, Report

_fmt_time = Timestamps().format_ns
# The body in C when it was built (venue/_report_writer.c); None leaves a report to
# _execution_report.
_report_writer_c = load("venue._report_writer")
_c_execution_report = (_report_writer_c.execution_report if _report_writer_c is not None
                       else None)


def _code(value: int | str) -> bytes:
    """A Side/OrdType/TimeInForce code: the engine's int, or the unsupported text a
    rejected request carried (reported as sent)."""
    return value.encode() if isinstance(value, str) else b"%d" % value


class ReportWriter:
    """Writes reports for sessions of one FIX version."""

    def __init__(self, dictionary: DataDictionary) -> None:
        self.fix42 = dictionary.begin_string <= b"FIX.4.2"
        fields = dictionary.fields
        self._ord_rej = fields[103].enums or frozenset()
        self._cxl_rej = fields[102].enums or frozenset()
        self._ord_rej_default = b"0" if self.fix42 else b"99"
        self._cxl_rej_default = b"2" if self.fix42 else b"99"

    def write(self, r: Report) -> tuple[bytes, list[Field]]:
        """(MsgType, body fields) for a report: ``encoded``'s body, as fields."""
        msg_type, body = self.encoded(r)
        return msg_type, [(int(tag), value) for tag, _, value in
                          (f.partition(b"=") for f in body.split(b"\x01")[:-1])]

    def encoded(self, r: Report) -> tuple[bytes, bytes]:
        """(MsgType, body as ``tag=value<SOH>`` bytes) for a report."""
        kind = type(r)
        if kind is ExecutionReport:
            if _c_execution_report is not None:
                body = _c_execution_report(r, self.fix42, PRICED_ORD_TYPES, STOP_ORD_TYPES,
                                           GTD)
                if body is not None:
                    return b"8", body
            return b"8", self._execution_report(r)
        if kind is OrderCancelReject:
            return b"9", encode_fields(self._cancel_reject(r))
        if kind is OrderMassCancelReport:
            return b"r", encode_fields(self._mass_cancel_report(r))
        raise TypeError(f"not a report: {r!r:.80}")

    # Written as bytes field by field, not as (tag, value) pairs joined after: the
    # ExecutionReport is on every order's path, and the pairs and the join cost about
    # half of writing it (bench_inprocess).
    def _execution_report(self, r: ExecutionReport) -> bytes:
        fix42 = self.fix42
        exec_type = r.exec_type
        status = r.ord_status
        if exec_type == "L":
            # Neither FIX 4.2 nor 4.4 has "triggered" (L is FIX 5.0): a stop entering the
            # book is reported as Restated, with a Text saying so.
            exec_type = "D"
        if fix42:
            if exec_type == "F":
                exec_type = "2" if r.leaves_qty == 0 else "1"
            elif exec_type == "I":
                exec_type = status
            if r.replaced:
                status = "5"
        out: list[bytes] = []
        add = out.append
        if r.account:
            add(b"1=%b\x01" % r.account.encode())
        add(b"6=%b\x01" % format_price(r.avg_px))
        if r.cl_ord_id:
            add(b"11=%b\x01" % r.cl_ord_id.encode())
        if r.commission:
            # CommType 3: absolute, in the price currency
            add(b"12=%b\x0113=3\x01" % format_price(r.commission))
        add(b"14=%d\x0117=%b\x01" % (r.cum_qty, r.exec_id.encode()))
        if fix42:
            add(b"20=3\x01" if r.exec_type == "I" else b"20=0\x01")
        if r.last_qty:
            add(b"31=%b\x0132=%d\x01" % (format_price(r.last_px), r.last_qty))
        add(b"37=%b\x01" % r.order_id.encode())
        if r.order_qty:
            add(b"38=%d\x01" % r.order_qty)
        add(b"39=%b\x01" % status.encode())
        if r.ord_type:
            add(b"40=%b\x01" % _code(r.ord_type))
        if r.orig_cl_ord_id:
            add(b"41=%b\x01" % r.orig_cl_ord_id.encode())
        if r.price and r.ord_type in PRICED_ORD_TYPES:
            add(b"44=%b\x01" % format_price(r.price))
        add(b"54=%b\x0155=%b\x01" % (_code(r.side) if r.side else b"1",
                                      (r.symbol or "NONE").encode()))
        if r.text:
            add(b"58=%b\x01" % r.text.encode())
        tif = r.time_in_force
        if r.ord_type and (isinstance(tif, str) or tif >= 0):
            add(b"59=%b\x01" % _code(tif))
        add(b"60=%b\x01" % _fmt_time(r.transact_time))
        if r.stop_px and r.ord_type in STOP_ORD_TYPES:
            add(b"99=%b\x01" % format_price(r.stop_px))
        if status == ST_REJECTED and r.reject_code and r.exec_type == ST_REJECTED:
            code = b"%d" % ord_rej_reason(r.reject_code)
            add(b"103=%b\x01" % (code if code in self._ord_rej else self._ord_rej_default))
        if r.expire_time and tif == GTD:
            add(b"126=%b\x01" % _fmt_time(r.expire_time))
        add(b"150=%b\x01151=%d\x01" % (exec_type.encode(), r.leaves_qty))
        # TrdMatchID (880) would carry the trade id, but the FIX 4.4 ExecutionReport of
        # QuickFIX's dictionary (which brokers validate with) does not allow it.
        return b"".join(out)

    def _cancel_reject(self, r: OrderCancelReject) -> list[Field]:
        code = b"%d" % cxl_rej_reason(r.reject_code)
        return [
            (11, r.cl_ord_id.encode() or b"NONE"),
            (37, r.order_id.encode()),
            (39, r.ord_status.encode()),
            (41, r.orig_cl_ord_id.encode() or b"NONE"),
            (58, r.text.encode()),
            (102, code if code in self._cxl_rej else self._cxl_rej_default),
            (434, r.cxl_rej_response_to.encode()),
        ]

    def _mass_cancel_report(self, r: OrderMassCancelReport) -> list[Field]:
        body: list[Field] = [(11, r.cl_ord_id.encode()), (37, r.order_id.encode())]
        if r.side:
            body.append((54, _code(r.side)))
        if r.symbol:
            body.append((55, r.symbol.encode()))
        if r.text:
            body.append((58, r.text.encode()))
        body.append((530, r.mass_cancel_request_type.encode() or b"0"))
        body.append((531, r.mass_cancel_response.encode()))
        if r.mass_cancel_response == "0":
            body.append((532, b"99"))
        body.append((533, b"%d" % r.total_affected_orders))
        return body
