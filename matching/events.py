"""Events: everything the engine tells the outside world.

For speed the engine emits *plain tuples*: building a tuple costs about a third
of building a NamedTuple, and the engine emits several per command. Each
event's first item is its ``kind`` (an int below), and the NamedTuple classes
here define the layout and field names. Because a NamedTuple compares equal to
a plain tuple with the same items, ``decode(event)`` gives a readable view and
tests can write ``assert event == Trade(...)``. Consumers on a hot path unpack
by position: ``_, symbol, trade_id, price, qty, *rest = event``.

ExecIDs: every event that the FIX layer turns into an ExecutionReport carries an
``exec_id`` (a Trade carries one per side) from one engine-wide counter, so they
are unique and replay identically. TradeIDs come from a second counter.
"""

from __future__ import annotations

from typing import Final, NamedTuple

ACCEPTED: Final = 1
REJECTED: Final = 2
TRADE: Final = 3
CANCELLED: Final = 4
REPLACED: Final = 5
CANCEL_REJECTED: Final = 6
TRIGGERED: Final = 7
EXPIRED: Final = 8
PHASE_CHANGED: Final = 9
BOOK_CHANGED: Final = 10
MASS_CANCEL_DONE: Final = 11
RESTATED: Final = 12


class Accepted(NamedTuple):
    """A NewOrder was accepted as order ``oid``; ``command`` is the NewOrder itself
    (it has every attribute of the order). Trades, resting or cancellation follow."""

    kind: int
    exec_id: int
    oid: int
    command: tuple


class Rejected(NamedTuple):
    """A command was refused with no effect (``reason`` is a code from ``reasons``)."""

    kind: int
    exec_id: int
    reason: str
    text: str
    command: tuple


class Trade(NamedTuple):
    """An execution between the incoming (aggressor) order and a resting order, at the
    resting order's price. In an auction uncross (``auction`` True) there is no
    aggressor: the buy order is in the aggressor fields and the sell in the resting.
    Leaves and cum are each order's quantities after this trade."""

    kind: int
    symbol: str
    trade_id: int
    price: int
    qty: int
    aggressor_side: int
    aggressor_oid: int
    aggressor_exec_id: int
    aggressor_leaves: int
    aggressor_cum: int
    resting_oid: int
    resting_exec_id: int
    resting_leaves: int
    resting_cum: int
    auction: bool


class Cancelled(NamedTuple):
    """An order ended with ``cancelled_qty`` unfilled. ``cl_ord_id`` is the ClOrdID of
    the request that caused it (cancel, replace, mass cancel), "" when unsolicited."""

    kind: int
    exec_id: int
    oid: int
    reason: str
    text: str
    cancelled_qty: int
    cum: int
    cl_ord_id: str


class Replaced(NamedTuple):
    """A cancel/replace took effect; the order's new ClOrdID, price and quantities.
    ``kept_priority`` says whether it kept its place in the queue."""

    kind: int
    exec_id: int
    oid: int
    cl_ord_id: str
    price: int
    qty: int
    leaves: int
    cum: int
    stop_price: int
    kept_priority: bool


class CancelRejected(NamedTuple):
    """A Cancel or Replace was refused; ``command`` is the request."""

    kind: int
    reason: str
    text: str
    command: tuple


class Triggered(NamedTuple):
    """A stop order was triggered by a trade at ``trigger_price`` and now enters the
    book as a market (STOP) or limit (STOP_LIMIT) order."""

    kind: int
    exec_id: int
    oid: int
    symbol: str
    trigger_price: int


class Expired(NamedTuple):
    """A DAY or GTD order expired with ``expired_qty`` unfilled."""

    kind: int
    exec_id: int
    oid: int
    reason: str
    text: str
    expired_qty: int
    cum: int


class PhaseChanged(NamedTuple):
    """An instrument's trading phase changed (old_phase 0: the instrument is new)."""

    kind: int
    symbol: str
    old_phase: int
    new_phase: int


class BookChanged(NamedTuple):
    """The aggregated displayed quantity and order count at one price level after a
    change; ``qty`` 0 means the level is gone. The input market data needs."""

    kind: int
    symbol: str
    side: int
    price: int
    qty: int
    count: int


class MassCancelDone(NamedTuple):
    """A MassCancel finished after cancelling ``affected`` orders."""

    kind: int
    affected: int
    command: tuple


class Restated(NamedTuple):
    """An order's quantity was reduced by the exchange (decrement-and-cancel
    self-trade prevention); the order stays open with the new quantities."""

    kind: int
    exec_id: int
    oid: int
    reason: str
    text: str
    reduced_by: int
    qty: int
    leaves: int
    cum: int


Event = tuple
EVENT_TYPES: Final[dict[int, type]] = {
    ACCEPTED: Accepted, REJECTED: Rejected, TRADE: Trade, CANCELLED: Cancelled,
    REPLACED: Replaced, CANCEL_REJECTED: CancelRejected, TRIGGERED: Triggered,
    EXPIRED: Expired, PHASE_CHANGED: PhaseChanged, BOOK_CHANGED: BookChanged,
    MASS_CANCEL_DONE: MassCancelDone, RESTATED: Restated,
}


def decode(event: tuple) -> tuple:
    """The NamedTuple view of an event tuple (readable fields; compares equal to it)."""
    return EVENT_TYPES[event[0]]._make(event)
