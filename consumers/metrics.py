"""Trading metrics: counts of what the core did, per symbol and per reason.

An in-process consumer of the event stream. Each batch adds to plain integer counters
(a dict per metric, keyed by symbol or reason); nothing is formatted or locked on the
order path. The Prometheus exposition (``metrics/exposition.py``) reads them at scrape
time, in the same thread. Quantities are whole units; notional (price x quantity)
stays a fixed-point integer (4 decimals, ``PRICE_SCALE``) that the exposition scales.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from matching.events import Cancelled, Trade
from risk.checks import ORD_REJ_REASON
from venue.commands import (
    NewOrderSingle,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    OrderMassCancelRequest,
)
from venue.orderentry import AUDIT_UNAVAILABLE
from venue.reports import ExecutionReport, OrderCancelReject
from venue.stream import Entry

# Reject codes that are the exchange's fault, not the broker's: they count towards
# the error-rate alert. Every other reject is the broker's request refused by a rule.
EXCHANGE_FAULTS = frozenset({AUDIT_UNAVAILABLE})
RISK_CODES = frozenset(ORD_REJ_REASON)

REJECTED = "8"     # OrdStatus / ExecType rejected


class TradingMetrics:
    """Counters of requests, rejects, trades, volume and notional (see the module)."""

    def __init__(self) -> None:
        self.orders: Counter[str] = Counter()          # NewOrderSingle by symbol
        self.cancels: Counter[str] = Counter()         # OrderCancelRequest by symbol
        self.replaces: Counter[str] = Counter()        # OrderCancelReplaceRequest by symbol
        self.mass_cancels = 0
        self.rejects: Counter[str] = Counter()         # rejected orders by reject code
        self.cancel_rejects: Counter[str] = Counter()  # refused cancels/replaces by code
        self.trades: Counter[str] = Counter()          # trades by symbol
        self.volume: Counter[str] = Counter()          # traded quantity
        self.notional: Counter[str] = Counter()        # price x quantity (fixed point)
        self.cancelled: Counter[str] = Counter()       # orders ended by a cancel, by reason
        self.commands = 0
        self.last_seq = 0

    def on_batch(self, entries: Sequence[Entry]) -> None:
        orders, cancels, replaces = self.orders, self.cancels, self.replaces
        for entry in entries:
            command = entry.command
            kind = type(command)
            if kind is NewOrderSingle:
                orders[command.symbol] += 1
            elif kind is OrderCancelRequest:
                cancels[command.symbol] += 1
            elif kind is OrderCancelReplaceRequest:
                replaces[command.symbol] += 1
            elif kind is OrderMassCancelRequest:
                self.mass_cancels += 1
            for event in entry.events:
                ek = type(event)
                if ek is Trade:
                    self.trades[event.symbol] += 1
                    self.volume[event.symbol] += event.last_qty
                    self.notional[event.symbol] += event.last_px * event.last_qty
                elif ek is Cancelled:
                    self.cancelled[event.reason] += 1
            # Rejects are counted from the reports: order entry rejects some orders
            # itself (a duplicate ClOrdID), with no Rejected event of the engine.
            for report in entry.reports:
                rk = type(report)
                if rk is ExecutionReport:
                    if report.exec_type == REJECTED:
                        self.rejects[report.reject_code or "OTHER"] += 1
                elif rk is OrderCancelReject:
                    self.cancel_rejects[report.reject_code or "OTHER"] += 1
        self.commands += len(entries)
        if entries:
            self.last_seq = entries[-1].seq

    def risk_rejects(self) -> int:
        return sum(n for code, n in self.rejects.items() if code in RISK_CODES)

    def exchange_faults(self) -> int:
        return sum(n for code, n in self.rejects.items() if code in EXCHANGE_FAULTS)
