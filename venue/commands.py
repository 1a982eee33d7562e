"""The journal schema: every command the exchange sequences and journals.

A command is what a broker, an operator or a timer asked for, as it was asked:
``requests.py`` builds the first five from FIX messages (named after them), the
rest come from sessions, timers and the admin interface. Order entry
(``orderentry.py``) turns each into the matching engine's commands
(``matching.commands``) and the reports sessions are told. Each command is a
frozen, typed record; the journal stores it as a msgpack array, its tag first.

A request whose field the exchange cannot use (a price finer than four decimals,
an OrdType it does not support, ...) is journaled all the same, with an
``error_code`` and an ``error_text`` naming the field, and answered with a reject:
every request consumes its ClOrdID and ExecID the same way on replay. Side,
OrdType and TimeInForce are the engine's ints, or the text as sent when the
exchange does not support the value (so the reject can report it).

Evolving the schema (``SCHEMA_VERSION`` is in the journal's file header): a new
field goes at the end of its record with a default, which old journals decode to;
a new command gets a new tag. Removing or reordering fields, or reusing a tag,
changes the format: bump ``SCHEMA_VERSION`` and teach ``journal_upgrade.py`` to
convert.
"""

from __future__ import annotations

from typing import Final

import msgspec

# Version of the command schema below, recorded in every journal's header.
SCHEMA_VERSION: Final = 1

# Code = an int code of the engine (matching.constants), or the unsupported value as sent.
Code = int | str


class _Command(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """Base of the journaled commands: immutable, encoded as arrays."""


class NewOrderSingle(_Command, tag=1):
    """A NewOrderSingle (D). An empty ``account`` is the session's default account."""

    session: str = ""
    cl_ord_id: str = ""
    account: str = ""
    symbol: str = ""
    side: Code = 0
    ord_type: Code = 0
    price: int = 0
    stop_px: int = 0
    order_qty: int = 0
    time_in_force: Code = 0
    expire_time: int = 0
    min_qty: int = 0
    max_floor: int = 0
    error_code: str = ""
    error_text: str = ""


class OrderCancelRequest(_Command, tag=2):
    """An OrderCancelRequest (F): the order named by OrigClOrdID or OrderID."""

    session: str = ""
    cl_ord_id: str = ""
    orig_cl_ord_id: str = ""
    order_id: str = ""
    symbol: str = ""
    side: Code = 0


class OrderCancelReplaceRequest(_Command, tag=3):
    """An OrderCancelReplaceRequest (G). ``time_in_force`` -1 and ``symbol`` "" mean
    "as the order has it" (the fields were absent)."""

    session: str = ""
    cl_ord_id: str = ""
    orig_cl_ord_id: str = ""
    order_id: str = ""
    symbol: str = ""
    side: Code = 0
    order_qty: int = 0
    price: int = 0
    stop_px: int = 0
    ord_type: Code = 0
    time_in_force: Code = -1
    error_code: str = ""
    error_text: str = ""


class OrderStatusRequest(_Command, tag=4):
    """An OrderStatusRequest (H): answered with an ExecutionReport, ExecType I."""

    session: str = ""
    cl_ord_id: str = ""
    order_id: str = ""
    symbol: str = ""
    side: Code = 0


class OrderMassCancelRequest(_Command, tag=5):
    """An OrderMassCancelRequest (q); ``account`` "" is every account of the session."""

    session: str = ""
    cl_ord_id: str = ""
    mass_cancel_request_type: str = ""
    symbol: str = ""
    side: Code = 0
    account: str = ""


class CancelOnDisconnect(_Command, tag=6):
    """A session with CancelOnDisconnect=Y logged out or lost its connection
    (``reason``: the session's, for the audit trail)."""

    session: str = ""
    reason: str = ""


class ExpireGTDOrders(_Command, tag=7):
    """The timer: expire the GTD orders whose ExpireTime is at or before ``as_of`` (ns,
    the timer's reading; never a clock in the core)."""

    as_of: int = 0


class EndTradingDay(_Command, tag=8):
    """The end-of-day timer: every DAY order expires; the risk day restarts."""


class KillSwitch(_Command, tag=9):
    """The operator turns the kill switch of a firm, account or session (``scope``)
    on (its open orders are cancelled, new orders and replaces refused) or off."""

    scope: str = ""
    name: str = ""
    on: bool = True


class SessionLogon(_Command, tag=10):
    """An order-entry session logged on. One with CancelOnDisconnect=Y is logged on as
    far as the core knows until its CancelOnDisconnect: after a crash (no logout was
    journaled), the next start cancels its orders as a disconnect would have. (Journals
    from before ``cancel_on_disconnect`` existed hold this only for such sessions.)"""

    session: str = ""
    cancel_on_disconnect: bool = True


class TradingPhase(_Command, tag=11):
    """The operator moves an instrument ("" = every instrument) to a trading phase
    (``matching.constants``: PRE_OPEN ... CLOSED). Leaving a call auction uncrosses
    the book; a halt suspends trading, and a call, until the next phase."""

    symbol: str = ""
    phase: int = 0


class SessionLogout(_Command, tag=12):
    """An order-entry session with CancelOnDisconnect=N logged out or lost its
    connection (one with Y journals CancelOnDisconnect): the core does nothing; the
    audit trail records it with the session's ``reason``."""

    session: str = ""
    reason: str = ""


class OperatorAction(_Command, tag=13):
    """The operator changed something outside the core through the admin API (a
    session's sequence numbers, a disconnect): the core does nothing; it is journaled
    for the audit trail, which records ``action`` on ``target`` with ``detail``."""

    action: str = ""
    target: str = ""
    detail: str = ""


Command = (NewOrderSingle | OrderCancelRequest | OrderCancelReplaceRequest
           | OrderStatusRequest | OrderMassCancelRequest | CancelOnDisconnect
           | ExpireGTDOrders | EndTradingDay | KillSwitch | SessionLogon | TradingPhase
           | SessionLogout | OperatorAction)

# The requests a session's FIX messages become (they have ``session`` and ``cl_ord_id``).
Request = (NewOrderSingle | OrderCancelRequest | OrderCancelReplaceRequest
           | OrderStatusRequest | OrderMassCancelRequest)
