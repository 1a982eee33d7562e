"""Order entry: the deterministic layer between the journal and the matching engine.

It takes the sequenced commands of the journal (``commands.py``: built from FIX
messages by ``requests.py``, or by timers and the operator), applies the checks
that need state — duplicate ClOrdID on a session, which order an OrigClOrdID
names, which accounts a session may use — runs the engine (with the risk engine
as its pre-trade hook and settlement after every trade), and returns, per
command, the core's events (``matching.events``, each Trade followed by its
Settlement) and the reports that sessions are told (``reports.py``): what each
ExecutionReport, OrderCancelReject or OrderMassCancelReport must say,
independent of FIX version.

Like the engine it has no I/O and no clock; the same commands give the same
events and reports, which is how a restart rebuilds every order's ClOrdID,
CumQty and AvgPx, and how a consumer that missed a stretch is given it again.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

import msgspec

from matching import reasons as R
from matching.commands import (
    Cancel,
    EndOfDay,
    ExpireGTD,
    MassCancel,
    NewOrder,
    Replace,
    SetPhase,
)
from matching.constants import BUY, CLOSED, GTD
from matching.engine import Engine
from matching.events import (
    Accepted,
    Cancelled,
    CancelRejected,
    Event,
    Expired,
    MassCancelDone,
    PhaseChanged,
    Rejected,
    Replaced,
    Restated,
    Trade,
    Triggered,
)
from matching.snapshot import Names, column, interned
from matching.stats import DayStats, closed, new_day, traded
from risk.checks import ORD_REJ_REASON, RiskEngine

from .commands import (
    CancelOnDisconnect,
    Command,
    EndTradingDay,
    ExpireGTDOrders,
    KillSwitch,
    NewOrderSingle,
    OperatorAction,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    OrderMassCancelRequest,
    OrderStatusRequest,
    SessionLogon,
    SessionLogout,
    TradingPhase,
)
from .reports import ExecutionReport, OrderCancelReject, OrderMassCancelReport, Report

# Order-entry reject codes (in addition to matching.reasons), with FIX mappings.
DUPLICATE_CL_ORD_ID = "DUPLICATE_CL_ORD_ID"
UNKNOWN_ACCOUNT = "UNKNOWN_ACCOUNT"
NO_FIRM = "NO_FIRM"
INVALID_FIELD = "INVALID_FIELD"
UNSUPPORTED = "UNSUPPORTED"
# New orders refused at the edge while the audit trail's spool is full and the
# configured policy is to refuse them (consumers/audit.py, SpoolWatch).
AUDIT_UNAVAILABLE = "AUDIT_UNAVAILABLE"
# code -> (OrdRejReason 103, CxlRejReason 102); a refused replace is CxlRejReason 99.
LOCAL_REASONS: dict[str, tuple[int, int]] = {
    **{code: (reason, 99) for code, reason in ORD_REJ_REASON.items()},
    DUPLICATE_CL_ORD_ID: (6, 6),
    UNKNOWN_ACCOUNT: (15, 99),
    NO_FIRM: (99, 99),
    INVALID_FIELD: (99, 99),
    UNSUPPORTED: (11, 99),
    AUDIT_UNAVAILABLE: (99, 99),
}

# OrdStatus (39) values.
ST_NEW, ST_PARTIAL, ST_FILLED, ST_CANCELED = "0", "1", "2", "4"
ST_REJECTED, ST_EXPIRED = "8", "C"
CLOSED_STATUSES = frozenset((ST_FILLED, ST_CANCELED, ST_REJECTED, ST_EXPIRED))

# CxlRejResponseTo (434): what a refused request was.
TO_CANCEL, TO_REPLACE = "1", "2"

# The requests that name an order and may give it a new ClOrdID.
_CANCEL_OR_REPLACE = (OrderCancelRequest, OrderCancelReplaceRequest)


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
    """What order entry knows of one order: enough for every report about it."""

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

    def report(self, ts: int, exec_type: str, exec_id: str, text: str = "",
               orig_cl_ord_id: str | None = None, last_px: int = 0, last_qty: int = 0,
               trade_id: int = 0, replaced: bool = False,
               commission: int = 0) -> ExecutionReport:
        """The ExecutionReport of the order as it is now."""
        return ExecutionReport(
            self.session, ts, exec_type, self.status, exec_id, str(self.oid), self.cl_ord_id,
            self.orig_cl_ord_id if orig_cl_ord_id is None else orig_cl_ord_id, self.account,
            self.symbol, self.side, self.ord_type, self.price, self.stop_price, self.qty,
            self.tif, self.expire_time, self.cum, self.leaves,
            self.notional // self.cum if self.cum else 0, last_px, last_qty, trade_id, text,
            "", replaced, commission)


class ViewColumns(msgspec.Struct, array_like=True, gc=False):
    """Every OrderView, one list per field, in order of the views' index; ``session``,
    ``account``, ``symbol`` and ``status`` are indexes into ``OrderEntryState.names``."""

    oid: list[int]
    session: list[int]
    cl_ord_id: list[str]
    orig_cl_ord_id: list[str]
    account: list[int]
    symbol: list[int]
    side: list[int]
    ord_type: list[int]
    price: list[int]
    stop_price: list[int]
    qty: list[int]
    tif: list[int]
    expire_time: list[int]
    cum: list[int]
    leaves: list[int]
    notional: list[int]
    status: list[int]


class SessionClOrdIDs(msgspec.Struct, array_like=True, gc=False):
    """The ClOrdIDs one session has used, in order of first use, and the oid of the
    order each one names (0: none)."""

    session: str
    cl_ord_id: list[str]
    oid: list[int]


class OrderEntryState(msgspec.Struct, array_like=True, gc=False):
    """Order entry's state: the views, every session's ClOrdIDs, the local ExecID
    counter, the GTD expiry heap, the CancelOnDisconnect sessions logged on and each
    instrument's statistics of the day."""

    names: list[str]
    views: ViewColumns
    cl_ord_ids: list[SessionClOrdIDs]
    next_local_id: int
    gtd_expiries: list[tuple[int, int]]
    logged_on: list[str]
    stats: list[tuple[str, DayStats]]


_new_view = OrderView.__new__


def _view(oid: int, session: str, cl_ord_id: str, orig_cl_ord_id: str, account: str,
          symbol: str, side: int, ord_type: int, price: int, stop_price: int, qty: int,
          tif: int, expire_time: int, cum: int, leaves: int, notional: int,
          status: str) -> OrderView:
    """An OrderView with every field given (restoring a snapshot)."""
    v = _new_view(OrderView)
    v.oid = oid
    v.session = session
    v.cl_ord_id = cl_ord_id
    v.orig_cl_ord_id = orig_cl_ord_id
    v.account = account
    v.symbol = symbol
    v.side = side
    v.ord_type = ord_type
    v.price = price
    v.stop_price = stop_price
    v.qty = qty
    v.tif = tif
    v.expire_time = expire_time
    v.cum = cum
    v.leaves = leaves
    v.notional = notional
    v.status = status
    return v


NO_TRADES = DayStats()


class OrderEntry:
    """Order-entry state and the engine: sequenced commands in, events and reports out."""

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
        # Session -> every ClOrdID it has used on a request (a second use is a
        # duplicate) -> the oid of the order that carried it, 0 for none (a rejected
        # order, a refused cancel). One dict per session, keyed by the ClOrdID alone:
        # no (session, ClOrdID) tuple per order, which halved the memory and the
        # restore time of these maps (2 tuples and 2 dict entries an order before).
        # Insertion-ordered, so a snapshot is the same bytes for the same history.
        self.cl_ord_ids: dict[str, dict[str, int]] = {}
        self.next_local_id = 1
        self._handlers: dict[type, Callable[[Any, int, list[Event], list[Report]], None]] = {
            NewOrderSingle: self._new, OrderCancelRequest: self._cancel,
            OrderCancelReplaceRequest: self._replace, OrderStatusRequest: self._status,
            OrderMassCancelRequest: self._mass_cancel, CancelOnDisconnect: self._disconnected,
            ExpireGTDOrders: self._expire_gtd, EndTradingDay: self._end_of_day,
            KillSwitch: self._kill, SessionLogon: self._logon, TradingPhase: self._phase,
            SessionLogout: self._logout, OperatorAction: self._nothing,
        }
        # The sessions with CancelOnDisconnect=Y logged on (SessionLogon, not yet
        # CancelOnDisconnect), in logon order.
        self.logged_on: dict[str, None] = {}
        # (expire_time, oid) of GTD orders, soonest first; closed orders are skipped lazily.
        self.gtd_expiries: list[tuple[int, int]] = []
        # Symbol -> its statistics of the day (matching.stats), once it has traded.
        self.stats: dict[str, DayStats] = {}

    def process(self, command: Command, ts: int) -> tuple[list[Event], list[Report]]:
        """Apply one journaled command stamped at ``ts`` (ns): the core's events, in
        order (each Trade followed by its Settlement), and the reports to send."""
        events: list[Event] = []
        reports: list[Report] = []
        self._handlers[type(command)](command, ts, events, reports)
        return events, reports

    def view(self, session: str, cl_ord_id: str) -> OrderView | None:
        ids = self.cl_ord_ids.get(session)
        oid = ids.get(cl_ord_id) if ids is not None else None
        return self.views.get(oid) if oid else None

    # -- snapshot -----------------------------------------------------------------

    def state(self) -> OrderEntryState:
        """Everything order entry keeps, as plain data."""
        views = list(self.views.values())
        names = Names()

        def strings(name: str) -> list[int]:
            return interned(views, name, names)

        columns = ViewColumns(
            column(views, "oid"), strings("session"), column(views, "cl_ord_id"),
            column(views, "orig_cl_ord_id"), strings("account"), strings("symbol"),
            column(views, "side"), column(views, "ord_type"), column(views, "price"),
            column(views, "stop_price"), column(views, "qty"), column(views, "tif"),
            column(views, "expire_time"), column(views, "cum"), column(views, "leaves"),
            column(views, "notional"), strings("status"))
        cl_ord_ids = [SessionClOrdIDs(session, list(ids), list(ids.values()))
                      for session, ids in self.cl_ord_ids.items()]
        return OrderEntryState(names.table, columns, cl_ord_ids, self.next_local_id,
                               list(self.gtd_expiries), list(self.logged_on),
                               list(self.stats.items()))

    def load_state(self, state: OrderEntryState) -> None:
        name = state.names.__getitem__
        c = state.views
        self.views = dict(zip(c.oid, map(
            _view, c.oid, map(name, c.session), c.cl_ord_id, c.orig_cl_ord_id,
            map(name, c.account), map(name, c.symbol), c.side, c.ord_type, c.price,
            c.stop_price, c.qty, c.tif, c.expire_time, c.cum, c.leaves, c.notional,
            map(name, c.status)), strict=True))
        self.cl_ord_ids = {ids.session: dict(zip(ids.cl_ord_id, ids.oid, strict=True))
                           for ids in state.cl_ord_ids}
        self.next_local_id = state.next_local_id
        self.gtd_expiries = list(state.gtd_expiries)
        self.logged_on = dict.fromkeys(state.logged_on)
        self.stats = dict(state.stats)

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

    def _reject_new(self, cmd: NewOrderSingle, code: str, text: str, ts: int,
                    out: list[Report], exec_id: str | None = None) -> None:
        out.append(ExecutionReport(
            cmd.session, ts, ST_REJECTED, ST_REJECTED, exec_id or self._local_id(),
            cl_ord_id=cmd.cl_ord_id, account=cmd.account, symbol=cmd.symbol, side=cmd.side,
            ord_type=cmd.ord_type, price=cmd.price, stop_px=cmd.stop_px,
            order_qty=cmd.order_qty, time_in_force=cmd.time_in_force, text=text,
            reject_code=code))

    def _cancel_reject(self, session: str, cl_ord_id: str, orig_cl_ord_id: str,
                       view: OrderView | None, response_to: str, code: str, text: str,
                       ts: int, out: list[Report]) -> None:
        if view is not None:
            order_id, status = str(view.oid), view.status
        else:
            order_id, status = "NONE", ST_REJECTED
        out.append(OrderCancelReject(session, ts, cl_ord_id, orig_cl_ord_id, order_id, status,
                                     response_to, code, text))

    def _claim(self, session: str, cl_ord_id: str) -> bool:
        """Record a request's ClOrdID; False when the session already used it."""
        ids = self.cl_ord_ids.get(session)
        if ids is None:
            self.cl_ord_ids[session] = ids = {}
        elif cl_ord_id in ids:
            return False
        ids[cl_ord_id] = 0
        return True

    # -- commands -----------------------------------------------------------------

    def _new(self, cmd: NewOrderSingle, ts: int, events: list[Event],
             reports: list[Report]) -> None:
        session, cl_ord_id, account = cmd.session, cmd.cl_ord_id, cmd.account
        if not account:
            # Reports of early rejects carry the account the order would have had.
            default = self._default_account(session)
            if default:
                account = default
                cmd = msgspec.structs.replace(cmd, account=account)
        if not self._claim(session, cl_ord_id):
            self._reject_new(cmd, DUPLICATE_CL_ORD_ID,
                             f"duplicate ClOrdID {cl_ord_id} on this session", ts, reports)
            return
        if cmd.error_code:
            self._reject_new(cmd, cmd.error_code, cmd.error_text, ts, reports)
            return
        accounts = self._accounts_of(session)
        if not accounts:
            self._reject_new(cmd, NO_FIRM, "this session belongs to no firm in the exchange "
                             "configuration", ts, reports)
            return
        if not account:
            account = accounts[0]
            cmd = msgspec.structs.replace(cmd, account=account)
        elif account not in accounts:
            self._reject_new(cmd, UNKNOWN_ACCOUNT,
                             f"account {account} is not an account of this session's firm",
                             ts, reports)
            return
        order = NewOrder(cmd.symbol, cmd.side, cmd.order_qty, cmd.price, cmd.ord_type,
                         cmd.time_in_force, cl_ord_id, session, account, cmd.stop_px,
                         cmd.max_floor, cmd.min_qty, cmd.expire_time)
        self._apply(self.engine.process(order, ts), ts, events, reports, cmd)

    def _open_order_for(self, session: str, cl_ord_id: str, orig: str, order_id: str,
                        response_to: str, error: tuple[str, str], ts: int,
                        out: list[Report]) -> OrderView | None:
        """The open order a cancel or replace names, or None after an
        OrderCancelReject saying why not."""
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

    def _cancel(self, cmd: OrderCancelRequest, ts: int, events: list[Event],
                reports: list[Report]) -> None:
        view = self._open_order_for(cmd.session, cmd.cl_ord_id, cmd.orig_cl_ord_id,
                                    cmd.order_id, TO_CANCEL, ("", ""), ts, reports)
        if view is not None:
            engine_events = self.engine.process(
                Cancel(view.oid, cmd.cl_ord_id, cmd.session), ts)
            self._apply(engine_events, ts, events, reports, cmd)

    def _replace(self, cmd: OrderCancelReplaceRequest, ts: int, events: list[Event],
                 reports: list[Report]) -> None:
        view = self._open_order_for(cmd.session, cmd.cl_ord_id, cmd.orig_cl_ord_id,
                                    cmd.order_id, TO_REPLACE, (cmd.error_code, cmd.error_text),
                                    ts, reports)
        if view is None:
            return
        tif = cmd.time_in_force
        changed = [name for name, new, old in (
            ("Symbol", cmd.symbol or view.symbol, view.symbol), ("Side", cmd.side, view.side),
            ("OrdType", cmd.ord_type, view.ord_type),
            ("TimeInForce", view.tif if tif == -1 else tif, view.tif))
            if new != old]
        if changed:
            self._cancel_reject(cmd.session, cmd.cl_ord_id, cmd.orig_cl_ord_id, view,
                                TO_REPLACE, UNSUPPORTED,
                                f"{', '.join(changed)} cannot be replaced: only OrderQty, "
                                "Price and StopPx can", ts, reports)
            return
        engine_events = self.engine.process(
            Replace(view.oid, cmd.cl_ord_id, cmd.session, cmd.order_qty, cmd.price,
                    cmd.stop_px), ts)
        self._apply(engine_events, ts, events, reports, cmd)

    def _status(self, cmd: OrderStatusRequest, ts: int, events: list[Event],
                reports: list[Report]) -> None:
        view = self._find(cmd.session, cmd.cl_ord_id, cmd.order_id)
        if view is None:
            reports.append(ExecutionReport(
                cmd.session, ts, "I", ST_REJECTED, self._local_id(), cl_ord_id=cmd.cl_ord_id,
                symbol=cmd.symbol, side=cmd.side,
                text=f"unknown order {cmd.cl_ord_id or cmd.order_id}",
                reject_code=R.UNKNOWN_ORDER))
        else:
            reports.append(view.report(ts, "I", self._local_id()))

    def _mass_cancel(self, cmd: OrderMassCancelRequest, ts: int, events: list[Event],
                     reports: list[Report]) -> None:
        request_type, symbol, account = cmd.mass_cancel_request_type, cmd.symbol, cmd.account
        order_id = f"M{self.next_local_id}"
        self.next_local_id += 1
        problem = None
        if request_type not in ("1", "7"):
            problem = "only MassCancelRequestType 1 (by security) and 7 (all orders) are supported"
        elif request_type == "1" and not symbol:
            problem = "MassCancelRequestType 1 needs a Symbol"
        elif request_type == "1" and symbol not in self.engine.books:
            problem = f"unknown symbol {symbol}"
        elif account and account not in self._accounts_of(cmd.session):
            problem = f"account {account} is not an account of this session's firm"
        if problem is not None:
            reports.append(OrderMassCancelReport(cmd.session, ts, cmd.cl_ord_id, order_id,
                                                 request_type, "0", symbol, cmd.side, problem))
            return
        engine_events = self.engine.process(
            MassCancel(cmd.cl_ord_id, cmd.session, account,
                       symbol if request_type == "1" else "", cmd.side), ts)
        self._apply(engine_events, ts, events, reports, cmd)
        done = engine_events[-1]
        assert type(done) is MassCancelDone
        reports.append(OrderMassCancelReport(cmd.session, ts, cmd.cl_ord_id, order_id,
                                             request_type, request_type, symbol, cmd.side,
                                             total_affected_orders=done.total_affected_orders))

    def next_gtd_expiry(self) -> int | None:
        """The earliest ExpireTime (ns) of an open GTD order, or None."""
        heap = self.gtd_expiries
        while heap and self.views[heap[0][1]].status in CLOSED_STATUSES:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def _expire_gtd(self, cmd: ExpireGTDOrders, ts: int, events: list[Event],
                    reports: list[Report]) -> None:
        # The cut-off is the timer's reading carried in the command (never a clock here).
        as_of = max(ts, cmd.as_of)
        self._apply(self.engine.process(ExpireGTD(), as_of), ts, events, reports, cmd)

    def _end_of_day(self, cmd: EndTradingDay, ts: int, events: list[Event],
                    reports: list[Report]) -> None:
        self._apply(self.engine.process(EndOfDay(), ts), ts, events, reports, cmd)
        self.stats = {symbol: new_day(s) for symbol, s in self.stats.items()}
        if self.risk is not None:
            self.risk.new_day()

    def _kill(self, cmd: KillSwitch, ts: int, events: list[Event],
              reports: list[Report]) -> None:
        if self.risk is None:
            return
        scope = {cmd.scope: cmd.name}
        if not cmd.on:
            self.risk.lift(**scope)
            return
        for mass_cancel in self.risk.kill(**scope):
            self._apply(self.engine.process(mass_cancel, ts), ts, events, reports, cmd)

    def _phase(self, cmd: TradingPhase, ts: int, events: list[Event],
               reports: list[Report]) -> None:
        self._apply(self.engine.process(SetPhase(cmd.symbol, cmd.phase), ts), ts, events,
                    reports, cmd)

    def _logon(self, cmd: SessionLogon, ts: int, events: list[Event],
               reports: list[Report]) -> None:
        if cmd.cancel_on_disconnect:
            self.logged_on[cmd.session] = None

    def _logout(self, cmd: SessionLogout, ts: int, events: list[Event],
                reports: list[Report]) -> None:
        """Nothing to do: the logout of a session without CancelOnDisconnect is
        journaled for the audit trail alone."""

    def _nothing(self, cmd: OperatorAction, ts: int, events: list[Event],
                 reports: list[Report]) -> None:
        """An operator's action outside the core: journaled for the audit trail."""

    def _disconnected(self, cmd: CancelOnDisconnect, ts: int, events: list[Event],
                      reports: list[Report]) -> None:
        self.logged_on.pop(cmd.session, None)
        engine_events = self.engine.process(MassCancel(session=cmd.session), ts)
        self._apply(engine_events, ts, events, reports, cmd)

    # -- events -> reports ------------------------------------------------------------

    def _apply(self, engine_events: list[Event], ts: int, events: list[Event],
               reports: list[Report], cmd: Command) -> None:
        """Settle, record and report the engine's events of ``cmd``."""
        views = self.views
        request = type(cmd)
        on_event = self.risk.on_event if self.risk is not None else None
        add_event = events.append
        out = reports.append
        for ev in engine_events:
            add_event(ev)
            kind = type(ev)
            settlement = on_event(ev) if on_event is not None else None
            if kind is Trade:
                if settlement is not None:
                    add_event(settlement)
                price, qty, trade_id = ev.last_px, ev.last_qty, ev.trade_id
                stats = self.stats
                stats[ev.symbol] = traded(stats.get(ev.symbol, NO_TRADES), price, qty)
                for oid, exec_id, leaves, cum in (
                        (ev.aggressor_order_id, ev.aggressor_exec_id, ev.aggressor_leaves_qty,
                         ev.aggressor_cum_qty),
                        (ev.resting_order_id, ev.resting_exec_id, ev.resting_leaves_qty,
                         ev.resting_cum_qty)):
                    view = views[oid]
                    view.cum, view.leaves = cum, leaves
                    view.notional += price * qty
                    view.status = ST_FILLED if leaves == 0 and cum >= view.qty else (
                        view.live_status())
                    fee = 0
                    if settlement is not None:
                        fee = settlement.buyer_fee if view.side == BUY else settlement.seller_fee
                    out(view.report(ts, "F", str(exec_id), last_px=price, last_qty=qty,
                                    trade_id=trade_id, commission=fee))
            elif kind is Accepted:
                nc = ev.order
                oid = ev.order_id
                view = OrderView(oid, nc.session, nc.cl_ord_id, nc.account, nc.symbol, nc.side,
                                 nc.ord_type, nc.price, nc.stop_px, nc.order_qty,
                                 nc.time_in_force, nc.expire_time)
                views[oid] = view
                self.cl_ord_ids.setdefault(view.session, {})[view.cl_ord_id] = oid
                if view.tif == GTD and view.expire_time:
                    heapq.heappush(self.gtd_expiries, (view.expire_time, oid))
                out(view.report(ts, "0", str(ev.exec_id)))
            elif kind is Rejected:
                if type(ev.command) is NewOrder and request is NewOrderSingle:
                    self._reject_new(cmd, ev.reason, ev.text, ts, reports, str(ev.exec_id))
            elif kind is CancelRejected:
                self._engine_cancel_reject(ev, ts, reports, cmd)
            elif kind is Cancelled:
                view = views[ev.order_id]
                cl_ord_id = ev.cl_ord_id
                solicited = request in _CANCEL_OR_REPLACE
                if cl_ord_id and solicited:
                    view.orig_cl_ord_id = view.cl_ord_id
                    view.cl_ord_id = cl_ord_id
                    self.cl_ord_ids.setdefault(view.session, {})[cl_ord_id] = ev.order_id
                view.cum, view.leaves, view.status = ev.cum_qty, 0, ST_CANCELED
                text = ev.text
                if request is CancelOnDisconnect:
                    text = "cancelled on disconnect"
                elif request is KillSwitch:
                    text = f"cancelled by the kill switch of {cmd.scope} {cmd.name}"
                out(view.report(ts, "4", str(ev.exec_id), text,
                                orig_cl_ord_id=None if solicited else ""))
            elif kind is Replaced:
                view = views[ev.order_id]
                view.orig_cl_ord_id, view.cl_ord_id = view.cl_ord_id, ev.cl_ord_id
                self.cl_ord_ids.setdefault(view.session, {})[ev.cl_ord_id] = ev.order_id
                view.price, view.qty = ev.price, ev.order_qty
                view.leaves, view.cum = ev.leaves_qty, ev.cum_qty
                view.stop_price = ev.stop_px
                out(view.report(ts, "5", str(ev.exec_id), replaced=True))
            elif kind is Expired:
                view = views[ev.order_id]
                view.cum, view.leaves, view.status = ev.cum_qty, 0, ST_EXPIRED
                out(view.report(ts, "C", str(ev.exec_id), ev.text))
            elif kind is Triggered:
                out(views[ev.order_id].report(ts, "L", str(ev.exec_id), "stop order triggered"))
            elif kind is Restated:
                view = views[ev.order_id]
                view.qty, view.leaves, view.cum = ev.order_qty, ev.leaves_qty, ev.cum_qty
                out(view.report(ts, "D", str(ev.exec_id), ev.text))
            elif kind is PhaseChanged and ev.new_phase == CLOSED and ev.symbol in self.stats:
                self.stats[ev.symbol] = closed(self.stats[ev.symbol])

    def _engine_cancel_reject(self, ev: CancelRejected, ts: int, out: list[Report],
                              cmd: Command) -> None:
        rejected = ev.command
        orig = cmd.orig_cl_ord_id if type(cmd) in _CANCEL_OR_REPLACE else ""
        response_to = TO_REPLACE if type(rejected) is Replace else TO_CANCEL
        self._cancel_reject(rejected.session, rejected.cl_ord_id, orig,
                            self.views.get(rejected.order_id), response_to, ev.reason,
                            ev.text, ts, out)
