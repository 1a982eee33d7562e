"""Events: everything the core tells the outside world.

The matching engine emits every event here but one; ``Settlement`` comes from the
risk ledger (``risk.accounts``), which settles each Trade at once and whose record
is placed right after that Trade in the event stream. Each event is a frozen,
typed record (``msgspec.Struct``): consumers dispatch on its type
(``type(event) is Trade``) and read fields by name. Fields are named after FIX
where FIX has a name (OrderID, ExecID, ClOrdID, LastPx, LastQty, LeavesQty,
CumQty, TradeID, ...).

ExecIDs: every event that the venue turns into an ExecutionReport carries an
``exec_id`` (a Trade carries one per side) from one engine-wide counter, so they
are unique and replay identically. TradeIDs come from a second counter.

The tags identify the type of each event in the event log (``persistence.eventlog``):
a tag, like a field's position, is part of that file format and never reused.
"""

from __future__ import annotations

import msgspec

from .commands import Cancel, Command, MassCancel, NewOrder, Replace


class _Event(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """Base of the core's events: immutable, encoded as arrays."""


class Accepted(_Event, tag=1):
    """A NewOrder was accepted as order ``order_id``; ``order`` is the NewOrder itself
    (it has every attribute of the order). Trades, resting or cancellation follow."""

    exec_id: int
    order_id: int
    order: NewOrder


class Rejected(_Event, tag=2):
    """A command was refused with no effect (``reason`` is a code from ``reasons``)."""

    exec_id: int
    reason: str
    text: str
    command: Command


class Trade(_Event, tag=3):
    """An execution between the incoming (aggressor) order and a resting order, at the
    resting order's price. In an auction uncross (``auction`` True) there is no
    aggressor: the buy order is in the aggressor fields and the sell in the resting.
    Leaves and cum are each order's quantities after this trade."""

    symbol: str
    trade_id: int
    last_px: int
    last_qty: int
    aggressor_side: int
    aggressor_order_id: int
    aggressor_exec_id: int
    aggressor_leaves_qty: int
    aggressor_cum_qty: int
    resting_order_id: int
    resting_exec_id: int
    resting_leaves_qty: int
    resting_cum_qty: int
    auction: bool


class Cancelled(_Event, tag=4):
    """An order ended with ``cancelled_qty`` unfilled. ``cl_ord_id`` is the ClOrdID of
    the request that caused it (cancel, replace, mass cancel), "" when unsolicited."""

    exec_id: int
    order_id: int
    reason: str
    text: str
    cancelled_qty: int
    cum_qty: int
    cl_ord_id: str


class Replaced(_Event, tag=5):
    """A cancel/replace took effect; the order's new ClOrdID, price and quantities.
    ``kept_priority`` says whether it kept its place in the queue."""

    exec_id: int
    order_id: int
    cl_ord_id: str
    price: int
    order_qty: int
    leaves_qty: int
    cum_qty: int
    stop_px: int
    kept_priority: bool


class CancelRejected(_Event, tag=6):
    """A Cancel or Replace was refused; ``command`` is the request."""

    reason: str
    text: str
    command: Cancel | Replace


class Triggered(_Event, tag=7):
    """A stop order was triggered by a trade at ``trigger_price`` and now enters the
    book as a market (STOP) or limit (STOP_LIMIT) order."""

    exec_id: int
    order_id: int
    symbol: str
    trigger_price: int


class Expired(_Event, tag=8):
    """A DAY or GTD order expired with ``expired_qty`` unfilled."""

    exec_id: int
    order_id: int
    reason: str
    text: str
    expired_qty: int
    cum_qty: int


class PhaseChanged(_Event, tag=9):
    """An instrument's trading phase changed (old_phase 0: the instrument is new)."""

    symbol: str
    old_phase: int
    new_phase: int


class BookChanged(_Event, tag=10):
    """The aggregated displayed quantity and order count at one price level after a
    change; ``qty`` 0 means the level is gone. The input market data needs."""

    symbol: str
    side: int
    price: int
    qty: int
    order_count: int


class MassCancelDone(_Event, tag=11):
    """A MassCancel finished after cancelling ``total_affected_orders`` orders."""

    total_affected_orders: int
    command: MassCancel


class Restated(_Event, tag=12):
    """An order's quantity was reduced by the exchange (decrement-and-cancel
    self-trade prevention); the order stays open with the new quantities."""

    exec_id: int
    order_id: int
    reason: str
    text: str
    reduced_by: int
    order_qty: int
    leaves_qty: int
    cum_qty: int


class Settlement(_Event, tag=13):
    """The T+0 settlement of one Trade by the risk ledger: the buyer paid
    ``last_px * last_qty`` plus ``buyer_fee`` and received the quantity; the seller the
    reverse, less ``seller_fee``. An account the ledger does not manage is ""."""

    trade_id: int
    symbol: str
    last_px: int
    last_qty: int
    buy_account: str
    sell_account: str
    buyer_fee: int
    seller_fee: int


Event = (Accepted | Rejected | Trade | Cancelled | Replaced | CancelRejected | Triggered
         | Expired | PhaseChanged | BookChanged | MassCancelDone | Restated | Settlement)
