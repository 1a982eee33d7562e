"""The database rows of event-stream entries: a pure function, for the writer.

Per batch of entries: the latest state of each order touched (one ``orders`` row an
order, inserted or updated), every order event, every trade with both sides and the
phase it happened in, and each trade's settlement as one movement per account (cash
fee included, position). The trade date of a row is the UTC date of its entry; an
order keeps the date it was accepted on, which ``dates`` (order id -> trade date, of
the orders still open) carries from batch to batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import msgspec

from matching.constants import BUY, PHASE_NAMES, SELL
from matching.events import PhaseChanged, Settlement, Trade
from venue.reports import ExecutionReport, OrderCancelReject
from venue.stream import Entry

# ExecType -> order_events.event_type (FIX 4.4 values, as venue.reports has them).
EVENT_OF_EXEC_TYPE = {"0": "ACCEPTED", "8": "REJECTED", "4": "CANCELLED", "5": "REPLACED",
                      "C": "EXPIRED", "L": "TRIGGERED", "D": "RESTATED", "F": "FILLED"}
STATUS_ANSWER = "I"                          # an OrderStatusRequest's answer: no row
CLOSED = frozenset(("2", "4", "8", "C"))     # OrdStatus filled, canceled, rejected, expired


class OrderRow(msgspec.Struct, gc=False):
    trade_date: dt.date
    order_id: int
    session: str
    cl_ord_id: str
    account: str
    symbol: str
    side: int
    ord_type: int
    time_in_force: int
    price: int | None
    stop_px: int | None
    order_qty: int
    leaves_qty: int
    cum_qty: int
    avg_px: int | None
    ord_status: str
    accepted_seq: int
    accepted_at: dt.datetime
    updated_seq: int
    updated_at: dt.datetime


class OrderEventRow(msgspec.Struct, gc=False):
    trade_date: dt.date
    seq: int
    n: int
    event_type: str
    at: dt.datetime
    order_id: int | None
    session: str
    cl_ord_id: str
    account: str
    symbol: str
    price: int | None
    order_qty: int | None
    leaves_qty: int | None
    cum_qty: int | None
    reason: str
    text: str


class TradeRow(msgspec.Struct, gc=False):
    trade_date: dt.date
    trade_id: int
    seq: int
    executed_at: dt.datetime
    symbol: str
    price: int
    quantity: int
    aggressor_side: int | None
    phase: str
    buy_order_id: int
    buy_account: str
    sell_order_id: int
    sell_account: str


class SettlementRow(msgspec.Struct, gc=False):
    trade_date: dt.date
    trade_id: int
    side: int       # BUY: the buyer's movement, SELL: the seller's
    account: str
    seq: int
    settled_at: dt.datetime
    symbol: str
    cash_delta: int
    quantity_delta: int
    fee: int


class Rows(msgspec.Struct):
    """The rows of a batch; ``orders`` holds the last state of each order touched."""

    orders: dict[int, OrderRow]
    events: list[OrderEventRow]
    trades: list[TradeRow]
    settlements: list[SettlementRow]

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        return {"orders": len(self.orders), "order_events": len(self.events),
                "trades": len(self.trades), "settlements": len(self.settlements)}


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def moment(ts: int) -> dt.datetime:
    """Nanoseconds since the epoch -> an aware UTC datetime (microseconds, integers)."""
    return _EPOCH + dt.timedelta(microseconds=ts // 1000)


def _code(value: int | str) -> int:
    return value if isinstance(value, int) else 0   # an unsupported value as sent: 0


def rows_of(entries: Sequence[Entry], dates: dict[int, dt.date]) -> Rows:
    """The rows of ``entries``; ``dates`` is updated (new orders in, closed ones out)."""
    out = Rows({}, [], [], [])
    for entry in entries:
        at = moment(entry.ts)
        day = at.date()
        accounts: dict[int, str] = {}    # order id -> account, for the trades
        n = 0
        for report in entry.reports:
            if type(report) is OrderCancelReject:
                n += 1
                out.events.append(OrderEventRow(
                    day, entry.seq, n, "CANCEL_REJECTED", at,
                    None if report.order_id == "NONE" else int(report.order_id),
                    report.session, report.cl_ord_id, "", "", None, None, None, None,
                    report.reject_code, report.text))
                continue
            if type(report) is not ExecutionReport or report.exec_type == STATUS_ANSWER:
                continue
            n += 1
            order_id = None if report.order_id == "NONE" else int(report.order_id)
            out.events.append(OrderEventRow(
                day, entry.seq, n, EVENT_OF_EXEC_TYPE.get(report.exec_type, report.exec_type),
                at, order_id, report.session, report.cl_ord_id, report.account, report.symbol,
                report.price or None, report.order_qty, report.leaves_qty, report.cum_qty,
                report.reject_code, report.text))
            if order_id is None:
                continue
            accounts[order_id] = report.account
            known = out.orders.get(order_id)
            if known is None and report.exec_type == "0":
                dates[order_id] = day
            trade_date = dates.get(order_id, day)
            out.orders[order_id] = OrderRow(
                trade_date, order_id, report.session, report.cl_ord_id, report.account,
                report.symbol, _code(report.side), _code(report.ord_type),
                _code(report.time_in_force), report.price or None, report.stop_px or None,
                report.order_qty, report.leaves_qty, report.cum_qty, report.avg_px or None,
                report.ord_status,
                known.accepted_seq if known is not None else entry.seq,
                known.accepted_at if known is not None else at, entry.seq, at)
            if report.ord_status in CLOSED:
                dates.pop(order_id, None)
        phases = {ev.symbol: ev.old_phase for ev in entry.events if type(ev) is PhaseChanged}
        for ev in entry.events:
            if type(ev) is Trade:
                out.trades.append(_trade(ev, entry.seq, at, accounts, phases))
            elif type(ev) is Settlement:
                out.settlements.extend(_settlement(ev, entry.seq, at))
    return out


def _trade(t: Trade, seq: int, at: dt.datetime, accounts: dict[int, str],
           phases: dict[str, int]) -> TradeRow:
    # In an auction uncross the buy order is in the aggressor fields (events.Trade).
    if t.auction or t.aggressor_side == BUY:
        buy, sell = t.aggressor_order_id, t.resting_order_id
    else:
        buy, sell = t.resting_order_id, t.aggressor_order_id
    phase = (PHASE_NAMES.get(phases.get(t.symbol, 0), "AUCTION") if t.auction
             else "CONTINUOUS")
    return TradeRow(at.date(), t.trade_id, seq, at, t.symbol, t.last_px, t.last_qty,
                    None if t.auction else t.aggressor_side, phase, buy,
                    accounts.get(buy, ""), sell, accounts.get(sell, ""))


def _settlement(s: Settlement, seq: int, at: dt.datetime) -> list[SettlementRow]:
    notional = s.last_px * s.last_qty
    rows = []
    if s.buy_account:
        rows.append(SettlementRow(at.date(), s.trade_id, BUY, s.buy_account, seq, at, s.symbol,
                                  -notional - s.buyer_fee, s.last_qty, s.buyer_fee))
    if s.sell_account:
        rows.append(SettlementRow(at.date(), s.trade_id, SELL, s.sell_account, seq, at,
                                  s.symbol,
                                  notional - s.seller_fee, -s.last_qty, s.seller_fee))
    return rows
