"""Reports: what order entry tells a session about its requests and orders.

One record per FIX message it becomes (``report_writer.py`` writes them for FIX
4.2 or 4.4), built by ``orderentry.py`` from the core's events and carried in the
event stream beside them, so that every consumer (the owner's ExecutionReports, drop
copy, later the audit trail and the database) sees the same thing. Fields are
named after the FIX tags they fill; prices and quantities are fixed-point ints.
Side, OrdType and TimeInForce are the engine's ints, or, in the reject of a request
that carried an unsupported value, that value as sent.

``exec_type`` uses FIX 4.4 values ("0" new, "F" trade, "4" canceled, "5" replaced,
"8" rejected, "C" expired, "I" status, "L" triggered, "D" restated); the writer
maps them for FIX 4.2.
"""

from __future__ import annotations

import msgspec

from .commands import Code


class _Report(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """Base of the reports: immutable, encoded as arrays."""


class ExecutionReport(_Report, tag=1):
    """An ExecutionReport (8) to ``session``: an order's state after an event, or the
    reject of a NewOrderSingle, or the answer to an OrderStatusRequest."""

    session: str
    transact_time: int
    exec_type: str
    ord_status: str
    exec_id: str
    order_id: str = "NONE"
    cl_ord_id: str = ""
    orig_cl_ord_id: str = ""
    account: str = ""
    symbol: str = ""
    side: Code = 0
    ord_type: Code = 0
    price: int = 0
    stop_px: int = 0
    order_qty: int = 0
    time_in_force: Code = -1
    expire_time: int = 0
    cum_qty: int = 0
    leaves_qty: int = 0
    avg_px: int = 0
    last_px: int = 0
    last_qty: int = 0
    trade_id: int = 0
    text: str = ""
    # The reject's code (matching.reasons, risk.checks or order entry's own): the
    # writer maps it to OrdRejReason (103).
    reject_code: str = ""
    # A replace took effect (FIX 4.2 reports OrdStatus 5 for it).
    replaced: bool = False
    # The fee charged on this fill at settlement (Commission 12, CommType 3).
    commission: int = 0


class OrderCancelReject(_Report, tag=2):
    """An OrderCancelReject (9): a cancel ("1") or replace ("2") request refused."""

    session: str
    transact_time: int
    cl_ord_id: str
    orig_cl_ord_id: str
    order_id: str
    ord_status: str
    cxl_rej_response_to: str
    reject_code: str
    text: str


class OrderMassCancelReport(_Report, tag=3):
    """An OrderMassCancelReport (r): how many orders a mass cancel cancelled, or why
    it was refused (``mass_cancel_response`` "0")."""

    session: str
    transact_time: int
    cl_ord_id: str
    order_id: str
    mass_cancel_request_type: str
    mass_cancel_response: str
    symbol: str = ""
    side: Code = 0
    text: str = ""
    total_affected_orders: int = 0


Report = ExecutionReport | OrderCancelReject | OrderMassCancelReport
