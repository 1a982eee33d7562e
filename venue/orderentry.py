"""Order entry: the deterministic layer between FIX and the matching engine.

It takes the sequenced order-entry commands (built from FIX messages by
``requests.py`` and replayed from the journal after a restart), applies the
checks that need state — duplicate ClOrdID on a session, which order an
OrigClOrdID names, which accounts a session may use — runs the engine, and turns
its events into :class:`Report` objects: what each ExecutionReport,
OrderCancelReject or OrderMassCancelReport must say, independent of FIX version.

Like the engine it has no I/O and no clock; the same commands give the same
reports, which is how a restart rebuilds every order's ClOrdID, CumQty and AvgPx.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

from matching import commands as C
from matching import events as E
from matching import reasons as R
from matching.constants import BUY, GTD
from matching.engine import Engine
from risk.checks import ORD_REJ_REASON, RiskEngine

# Order-entry command kinds (first item of the journaled tuple).
NEW = 1        # (NEW, session, cl_ord_id, account, symbol, side, ord_type, price, stop_price,
#                 qty, tif, expire_time, min_qty, display_qty, error_code, error_text)
CANCEL = 2     # (CANCEL, session, cl_ord_id, orig_cl_ord_id, order_id, symbol, side)
REPLACE = 3    # (REPLACE, session, cl_ord_id, orig_cl_ord_id, order_id, symbol, side, qty,
#                 price, stop_price, ord_type, tif, error_code, error_text)
STATUS = 4     # (STATUS, session, cl_ord_id, order_id, symbol, side)
MASS_CANCEL = 5  # (MASS_CANCEL, session, cl_ord_id, request_type, symbol, side, account)
DISCONNECTED = 6  # (DISCONNECTED, session): cancel-on-disconnect
EXPIRE_GTD = 7   # (EXPIRE_GTD, as_of_ns): expire GTD orders whose ExpireTime has passed
END_OF_DAY = 8   # (END_OF_DAY,): expire every DAY order; a new risk day
KILL = 9         # (KILL, scope, name, on): kill switch of a "firm", "account" or
#                  "session" on (cancel its open orders, refuse new ones) or off

# Report kinds, named after the FIX message they become.
EXECUTION_REPORT = "8"
CANCEL_REJECT = "9"
MASS_CANCEL_REPORT = "r"

# Order-entry reject codes (in addition to matching.reasons), with FIX mappings.
DUPLICATE_CL_ORD_ID = "DUPLICATE_CL_ORD_ID"
UNKNOWN_ACCOUNT = "UNKNOWN_ACCOUNT"
NO_FIRM = "NO_FIRM"
INVALID_FIELD = "INVALID_FIELD"
UNSUPPORTED = "UNSUPPORTED"
# code -> (OrdRejReason 103, CxlRejReason 102); a refused replace is CxlRejReason 99.
LOCAL_REASONS: dict[str, tuple[int, int]] = {
    **{code: (reason, 99) for code, reason in ORD_REJ_REASON.items()},
    DUPLICATE_CL_ORD_ID: (6, 6),
    UNKNOWN_ACCOUNT: (15, 99),
    NO_FIRM: (99, 99),
    INVALID_FIELD: (99, 99),
    UNSUPPORTED: (11, 99),
}

# OrdStatus (39) values.
ST_NEW, ST_PARTIAL, ST_FILLED, ST_CANCELED = "0", "1", "2", "4"
ST_REJECTED, ST_EXPIRED = "8", "C"
CLOSED_STATUSES = frozenset((ST_FILLED, ST_CANCELED, ST_REJECTED, ST_EXPIRED))


def ord_rej_reason(code: str) -> int:
    if code in LOCAL_REASONS:
        return LOCAL_REASONS[code][0]
    reason = R.REASONS.get(code)
    return reason.ord_rej_reason if reason else 99


def cxl_rej_reason(code: str) -> int:
    if code in LOCAL_REASONS:
        return LOCAL_REASONS[code][1]
    reason = R.REASONS.get(code)
    return reason.cxl_rej_reason if reason else 99


class OrderView:
    """What the FIX side knows of one order: enough for every report about it."""

    __slots__ = ("oid", "session", "cl_ord_id", "orig_cl_ord_id", "account", "symbol", "side",
                 "ord_type", "price", "stop_price", "qty", "tif", "expire_time", "cum", "leaves",
                 "notional", "status")

    def __init__(self, oid: int, session: str, cl_ord_id: str, account: str, symbol: str,
                 side: int, ord_type: int, price: int, stop_price: int, qty: int, tif: int,
                 expire_time: int) -> None:
        self.oid = oid
        self.session = session
        self.cl_ord_id = cl_ord_id
        self.orig_cl_ord_id = ""
        self.account = account
        self.symbol = symbol
        self.side = side
        self.ord_type = ord_type
        self.price = price
        self.stop_price = stop_price
        self.qty = qty
        self.tif = tif
        self.expire_time = expire_time
        self.cum = 0
        self.leaves = qty
        self.notional = 0  # sum of price * qty over fills, for AvgPx
        self.status = ST_NEW

    @property
    def avg_px(self) -> int:
        return self.notional // self.cum if self.cum else 0

    def live_status(self) -> str:
        return ST_PARTIAL if self.cum else ST_NEW


class Report:
    """One message to send about an order, in FIX terms but for any FIX version.

    ``exec_type`` uses FIX 4.4 values ("0" new, "F" trade, "4" canceled,
    "5" replaced, "8" rejected, "C" expired, "I" status, "L" triggered,
    "D" restated); ``reports.py`` maps them for FIX 4.2.
    """

    __slots__ = ("kind", "session", "exec_type", "exec_id", "order_id", "cl_ord_id",
                 "orig_cl_ord_id", "account", "symbol", "side", "ord_type", "price",
                 "stop_price", "qty", "tif", "status", "cum", "leaves", "avg_px", "last_px",
                 "last_qty", "trade_id", "text", "reject_code", "transact_time",
                 "cxl_rej_response_to", "mass_request_type", "mass_response", "affected",
                 "expire_time", "replaced", "commission")

    def __init__(self, kind: str, session: str, transact_time: int) -> None:
        self.kind = kind
        self.session = session
        self.transact_time = transact_time
        self.exec_type = ""
        self.exec_id = ""
        self.order_id = "NONE"
        self.cl_ord_id = ""
        self.orig_cl_ord_id = ""
        self.account = ""
        self.symbol = ""
        self.side = 0
        self.ord_type = 0
        self.price = 0
        self.stop_price = 0
        self.qty = 0
        self.tif = -1
        self.status = ""
        self.cum = 0
        self.leaves = 0
        self.avg_px = 0
        self.last_px = 0
        self.last_qty = 0
        self.trade_id = 0
        self.text = ""
        self.reject_code = ""
        self.cxl_rej_response_to = ""
        self.mass_request_type = ""
        self.mass_response = ""
        self.affected = 0
        self.expire_time = 0
        self.replaced = False
        self.commission = 0  # fee charged on this fill at settlement (fixed point)

    def fill_from(self, view: OrderView) -> Report:
        self.order_id = str(view.oid)
        self.cl_ord_id = view.cl_ord_id
        self.orig_cl_ord_id = view.orig_cl_ord_id
        self.account = view.account
        self.symbol = view.symbol
        self.side = view.side
        self.ord_type = view.ord_type
        self.price = view.price
        self.stop_price = view.stop_price
        self.qty = view.qty
        self.tif = view.tif
        self.expire_time = view.expire_time
        self.status = view.status
        self.cum = view.cum
        self.leaves = view.leaves
        self.avg_px = view.avg_px
        return self


class OrderEntry:
    """Order-entry state and the engine: sequenced commands in, reports out."""

    def __init__(self, engine: Engine, accounts_of_session: Callable[[str], tuple[str, ...]],
                 default_account: Callable[[str], str | None],
                 risk: RiskEngine | None = None) -> None:
        """``risk``: the engine's risk hook, fed every event so that balances,
        positions and reservations follow each command before the next check."""
        self.engine = engine
        self._accounts_of = accounts_of_session
        self._default_account = default_account
        self.risk = risk
        self.views: dict[int, OrderView] = {}
        # (session, ClOrdID) -> oid for every ClOrdID an order has carried.
        self.by_cl_ord_id: dict[tuple[str, str], int] = {}
        # Every ClOrdID a session has used on a request: a second use is a duplicate.
        self.used_cl_ord_ids: set[tuple[str, str]] = set()
        self.next_local_id = 1
        self._handlers: dict[int, Callable[[tuple, int, list[Report]], None]] = {
            NEW: self._new, CANCEL: self._cancel, REPLACE: self._replace,
            STATUS: self._status, MASS_CANCEL: self._mass_cancel,
            DISCONNECTED: self._disconnected, EXPIRE_GTD: self._expire_gtd,
            END_OF_DAY: self._end_of_day, KILL: self._kill,
        }
        # (expire_time, oid) of GTD orders, soonest first; closed orders are skipped lazily.
        self.gtd_expiries: list[tuple[int, int]] = []

    def process(self, command: tuple, ts: int) -> list[Report]:
        """Apply one order-entry command stamped at ``ts`` (ns)."""
        out: list[Report] = []
        handler = self._handlers.get(command[0])
        if handler is not None:
            handler(command, ts, out)
        return out

    def view(self, session: str, cl_ord_id: str) -> OrderView | None:
        oid = self.by_cl_ord_id.get((session, cl_ord_id))
        return self.views.get(oid) if oid is not None else None

    # -- helpers ----------------------------------------------------------------

    def _local_id(self) -> str:
        exec_id = f"X{self.next_local_id}"
        self.next_local_id += 1
        return exec_id

    def _find(self, session: str, orig_cl_ord_id: str, order_id: str) -> OrderView | None:
        if order_id.isdigit():
            view = self.views.get(int(order_id))
            if view is not None and view.session == session:
                return view
        return self.view(session, orig_cl_ord_id)

    def _reject_new(self, cmd: tuple, code: str, text: str, ts: int, out: list[Report],
                    exec_id: str | None = None) -> None:
        (_, session, cl_ord_id, account, symbol, side, ord_type, price, stop_price, qty, tif,
         *_rest) = cmd
        r = Report(EXECUTION_REPORT, session, ts)
        r.exec_type = ST_REJECTED
        r.status = ST_REJECTED
        r.exec_id = exec_id or self._local_id()
        r.cl_ord_id, r.account, r.symbol, r.side = cl_ord_id, account, symbol, side
        r.ord_type, r.price, r.stop_price, r.qty, r.tif = ord_type, price, stop_price, qty, tif
        r.text, r.reject_code = text, code
        out.append(r)

    def _cancel_reject(self, session: str, cl_ord_id: str, orig_cl_ord_id: str,
                       view: OrderView | None, response_to: str, code: str, text: str,
                       ts: int, out: list[Report]) -> None:
        r = Report(CANCEL_REJECT, session, ts)
        r.cl_ord_id, r.orig_cl_ord_id = cl_ord_id, orig_cl_ord_id
        r.cxl_rej_response_to = response_to
        r.reject_code, r.text = code, text
        if view is not None:
            r.order_id = str(view.oid)
            r.status = view.status
        else:
            r.status = ST_REJECTED
        out.append(r)

    def _claim(self, session: str, cl_ord_id: str) -> bool:
        """Record a request's ClOrdID; False when the session already used it."""
        key = (session, cl_ord_id)
        if key in self.used_cl_ord_ids:
            return False
        self.used_cl_ord_ids.add(key)
        return True

    # -- commands -----------------------------------------------------------------

    def _new(self, cmd: tuple, ts: int, out: list[Report]) -> None:
        (_, session, cl_ord_id, account, symbol, side, ord_type, price, stop_price, qty, tif,
         expire_time, min_qty, display_qty, error_code, error_text) = cmd
        if not account:
            # Reports of early rejects carry the account the order would have had.
            default = self._default_account(session)
            if default:
                account = default
                cmd = (*cmd[:3], account, *cmd[4:])
        if not self._claim(session, cl_ord_id):
            self._reject_new(cmd, DUPLICATE_CL_ORD_ID,
                             f"duplicate ClOrdID {cl_ord_id} on this session", ts, out)
            return
        if error_code:
            self._reject_new(cmd, error_code, error_text, ts, out)
            return
        accounts = self._accounts_of(session)
        if not accounts:
            self._reject_new(cmd, NO_FIRM, "this session belongs to no firm in the exchange "
                             "configuration", ts, out)
            return
        if not account:
            account = accounts[0]
            cmd = (*cmd[:3], account, *cmd[4:])
        elif account not in accounts:
            self._reject_new(cmd, UNKNOWN_ACCOUNT,
                             f"account {account} is not an account of this session's firm",
                             ts, out)
            return
        events = self.engine.process(
            (C.NEW_ORDER, symbol, side, qty, price, ord_type, tif, cl_ord_id, session, account,
             stop_price, display_qty, min_qty, expire_time), ts)
        self._apply(events, ts, out, cmd)

    def _open_order_for(self, session: str, cl_ord_id: str, orig: str, order_id: str,
                        response_to: str, error: tuple[str, str], ts: int,
                        out: list[Report]) -> OrderView | None:
        """The open order a cancel (response_to "1") or replace ("2") names, or None
        after an OrderCancelReject saying why not."""
        view = self._find(session, orig, order_id)
        code, text = error
        if not self._claim(session, cl_ord_id):
            code, text = DUPLICATE_CL_ORD_ID, f"duplicate ClOrdID {cl_ord_id} on this session"
        elif view is None:
            code, text = R.UNKNOWN_ORDER, f"unknown order {orig or order_id}"
        elif not code and view.status in CLOSED_STATUSES:
            code, text = R.TOO_LATE, "order is no longer open"
        if code:
            self._cancel_reject(session, cl_ord_id, orig, view, response_to, code, text, ts,
                                out)
            return None
        return view

    def _cancel(self, cmd: tuple, ts: int, out: list[Report]) -> None:
        _, session, cl_ord_id, orig, order_id, _symbol, _side = cmd
        view = self._open_order_for(session, cl_ord_id, orig, order_id, "1", ("", ""), ts, out)
        if view is not None:
            events = self.engine.process((C.CANCEL, view.oid, cl_ord_id, session), ts)
            self._apply(events, ts, out, cmd)

    def _replace(self, cmd: tuple, ts: int, out: list[Report]) -> None:
        (_, session, cl_ord_id, orig, order_id, symbol, side, qty, price, stop_price, ord_type,
         tif, error_code, error_text) = cmd
        view = self._open_order_for(session, cl_ord_id, orig, order_id, "2",
                                    (error_code, error_text), ts, out)
        if view is None:
            return
        changed = [name for name, new, old in (
            ("Symbol", symbol or view.symbol, view.symbol), ("Side", side, view.side),
            ("OrdType", ord_type, view.ord_type),
            ("TimeInForce", view.tif if tif < 0 else tif, view.tif))
            if new != old]
        if changed:
            self._cancel_reject(session, cl_ord_id, orig, view, "2", UNSUPPORTED,
                                f"{', '.join(changed)} cannot be replaced: only OrderQty, "
                                "Price and StopPx can", ts, out)
            return
        events = self.engine.process((C.REPLACE, view.oid, cl_ord_id, session, qty, price,
                                      stop_price), ts)
        self._apply(events, ts, out, cmd)

    def _status(self, cmd: tuple, ts: int, out: list[Report]) -> None:
        _, session, cl_ord_id, order_id, symbol, side = cmd
        view = self._find(session, cl_ord_id, order_id)
        r = Report(EXECUTION_REPORT, session, ts)
        r.exec_type = "I"
        r.exec_id = self._local_id()
        if view is None:
            r.cl_ord_id, r.symbol, r.side = cl_ord_id, symbol, side
            r.status = ST_REJECTED
            r.text = f"unknown order {cl_ord_id or order_id}"
            r.reject_code = R.UNKNOWN_ORDER
        else:
            r.fill_from(view)
        out.append(r)

    def _mass_cancel(self, cmd: tuple, ts: int, out: list[Report]) -> None:
        _, session, cl_ord_id, request_type, symbol, side, account = cmd
        r = Report(MASS_CANCEL_REPORT, session, ts)
        r.cl_ord_id, r.mass_request_type, r.symbol, r.side = cl_ord_id, request_type, symbol, side
        r.order_id = f"M{self.next_local_id}"
        self.next_local_id += 1
        problem = None
        if request_type not in ("1", "7"):
            problem = "only MassCancelRequestType 1 (by security) and 7 (all orders) are supported"
        elif request_type == "1" and not symbol:
            problem = "MassCancelRequestType 1 needs a Symbol"
        elif request_type == "1" and symbol not in self.engine.books:
            problem = f"unknown symbol {symbol}"
        elif account and account not in self._accounts_of(session):
            problem = f"account {account} is not an account of this session's firm"
        if problem is not None:
            r.mass_response = "0"
            r.text = problem
            out.append(r)
            return
        events = self.engine.process((C.MASS_CANCEL, cl_ord_id, session, account,
                                      symbol if request_type == "1" else "", side), ts)
        self._apply(events, ts, out, cmd)
        r.mass_response = request_type
        r.affected = sum(1 for e in events if e[0] == E.CANCELLED)
        out.append(r)

    def next_gtd_expiry(self) -> int | None:
        """The earliest ExpireTime (ns) of an open GTD order, or None."""
        heap = self.gtd_expiries
        while heap and self.views[heap[0][1]].status in CLOSED_STATUSES:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def _expire_gtd(self, cmd: tuple, ts: int, out: list[Report]) -> None:
        # The cut-off is the timer's reading carried in the command (never a clock here).
        as_of = max(ts, cmd[1]) if len(cmd) > 1 else ts
        self._apply(self.engine.process((C.EXPIRE_GTD, ""), as_of), ts, out, cmd)

    def _end_of_day(self, cmd: tuple, ts: int, out: list[Report]) -> None:
        self._apply(self.engine.process((C.END_OF_DAY, ""), ts), ts, out, cmd)
        if self.risk is not None:
            self.risk.new_day()

    def _kill(self, cmd: tuple, ts: int, out: list[Report]) -> None:
        _, scope, name, on = cmd
        if self.risk is None:
            return
        if not on:
            self.risk.lift(**{scope: name})
            return
        for mass_cancel in self.risk.kill(**{scope: name}):
            self._apply(self.engine.process(mass_cancel, ts), ts, out, cmd)

    def _disconnected(self, cmd: tuple, ts: int, out: list[Report]) -> None:
        events = self.engine.process((C.MASS_CANCEL, "", cmd[1], "", "", 0), ts)
        self._apply(events, ts, out, cmd)

    # -- events -> reports ------------------------------------------------------------

    def _apply(self, events: list[tuple], ts: int, out: list[Report], cmd: tuple) -> None:
        views = self.views
        request_kind = cmd[0]
        on_event = self.risk.on_event if self.risk is not None else None
        for ev in events:
            kind = ev[0]
            settlement = on_event(ev) if on_event is not None else None
            if kind == E.TRADE:
                (_, _symbol, trade_id, price, qty, _aside, a_oid, a_exec, a_leaves, a_cum,
                 r_oid, r_exec, r_leaves, r_cum, _auction) = ev
                for oid, exec_id, leaves, cum in ((a_oid, a_exec, a_leaves, a_cum),
                                                  (r_oid, r_exec, r_leaves, r_cum)):
                    view = views[oid]
                    view.cum, view.leaves = cum, leaves
                    view.notional += price * qty
                    view.status = ST_FILLED if leaves == 0 and cum >= view.qty else (
                        view.live_status())
                    rep = Report(EXECUTION_REPORT, view.session, ts).fill_from(view)
                    rep.exec_type, rep.exec_id = "F", str(exec_id)
                    rep.last_px, rep.last_qty, rep.trade_id = price, qty, trade_id
                    if settlement is not None:
                        rep.commission = (settlement.buyer_fee if view.side == BUY
                                          else settlement.seller_fee)
                    out.append(rep)
            elif kind == E.ACCEPTED:
                _, exec_id, oid, nc = ev
                view = OrderView(oid, nc[8], nc[7], nc[9], nc[1], nc[2], nc[5], nc[4], nc[10],
                                 nc[3], nc[6], nc[13])
                views[oid] = view
                self.by_cl_ord_id[(view.session, view.cl_ord_id)] = oid
                if view.tif == GTD and view.expire_time:
                    heapq.heappush(self.gtd_expiries, (view.expire_time, oid))
                rep = Report(EXECUTION_REPORT, view.session, ts).fill_from(view)
                rep.exec_type, rep.exec_id = "0", str(exec_id)
                out.append(rep)
            elif kind == E.REJECTED:
                _, exec_id, reason, text, rejected = ev
                if rejected[0] == C.NEW_ORDER and request_kind == NEW:
                    self._reject_new(cmd, reason, text, ts, out, str(exec_id))
                elif rejected[0] in (C.CANCEL, C.REPLACE):
                    self._engine_cancel_reject(rejected, reason, text, ts, out, cmd)
            elif kind == E.CANCEL_REJECTED:
                _, reason, text, rejected = ev
                self._engine_cancel_reject(rejected, reason, text, ts, out, cmd)
            elif kind == E.CANCELLED:
                _, exec_id, oid, reason, text, _qty, cum, cl_ord_id = ev
                view = views[oid]
                if cl_ord_id and request_kind in (CANCEL, REPLACE):
                    view.orig_cl_ord_id = view.cl_ord_id
                    view.cl_ord_id = cl_ord_id
                    self.by_cl_ord_id[(view.session, cl_ord_id)] = oid
                view.cum, view.leaves, view.status = cum, 0, ST_CANCELED
                rep = Report(EXECUTION_REPORT, view.session, ts).fill_from(view)
                rep.exec_type, rep.exec_id, rep.text = "4", str(exec_id), text
                if request_kind == DISCONNECTED:
                    rep.text = "cancelled on disconnect"
                elif request_kind == KILL:
                    rep.text = f"cancelled by the kill switch of {cmd[1]} {cmd[2]}"
                if request_kind not in (CANCEL, REPLACE):
                    rep.orig_cl_ord_id = ""
                out.append(rep)
            elif kind == E.REPLACED:
                _, exec_id, oid, cl_ord_id, price, qty, leaves, cum, stop_price, _kept = ev
                view = views[oid]
                view.orig_cl_ord_id, view.cl_ord_id = view.cl_ord_id, cl_ord_id
                self.by_cl_ord_id[(view.session, cl_ord_id)] = oid
                view.price, view.qty, view.leaves, view.cum = price, qty, leaves, cum
                view.stop_price = stop_price
                rep = Report(EXECUTION_REPORT, view.session, ts).fill_from(view)
                rep.exec_type, rep.exec_id, rep.replaced = "5", str(exec_id), True
                out.append(rep)
            elif kind == E.EXPIRED:
                _, exec_id, oid, reason, text, _qty, cum = ev
                view = views[oid]
                view.cum, view.leaves, view.status = cum, 0, ST_EXPIRED
                rep = Report(EXECUTION_REPORT, view.session, ts).fill_from(view)
                rep.exec_type, rep.exec_id, rep.text = "C", str(exec_id), text
                out.append(rep)
            elif kind == E.TRIGGERED:
                _, exec_id, oid, _symbol, _price = ev
                view = views[oid]
                rep = Report(EXECUTION_REPORT, view.session, ts).fill_from(view)
                rep.exec_type, rep.exec_id = "L", str(exec_id)
                rep.text = "stop order triggered"
                out.append(rep)
            elif kind == E.RESTATED:
                _, exec_id, oid, reason, text, _by, qty, leaves, cum = ev
                view = views[oid]
                view.qty, view.leaves, view.cum = qty, leaves, cum
                rep = Report(EXECUTION_REPORT, view.session, ts).fill_from(view)
                rep.exec_type, rep.exec_id, rep.text = "D", str(exec_id), text
                out.append(rep)

    def _engine_cancel_reject(self, rejected: tuple, reason: str, text: str, ts: int,
                              out: list[Report], cmd: Any) -> None:
        view = self.views.get(rejected[1])
        orig = cmd[3] if cmd[0] in (CANCEL, REPLACE) else ""
        response_to = "2" if rejected[0] == C.REPLACE else "1"
        self._cancel_reject(rejected[3], rejected[2], orig, view, response_to, reason, text,
                            ts, out)
