"""Commands: everything that can change the engine's state.

Each command is a NamedTuple whose first field ``kind`` is a small int; the
engine dispatches on ``command[0]`` and reads the other fields by position, so
a plain ``tuple`` with the same layout (for example one read back from the
journal, which stores commands with ``marshal`` and therefore needs
``tuple(command)``) is processed identically. Every field has a default, so
build commands with keywords: ``NewOrder(symbol="AAPL", side=BUY, qty=100,
price=1_900_000)``.

Time is not in the command: the sequencer stamps it and passes it to
``Engine.process(command, ts)`` (nanoseconds since the epoch). Order ids are the
engine's own (``oid`` in events); the FIX layer maps ClOrdID to oid.
Conventions: prices and quantities are fixed-point ints (``constants.PRICE_SCALE``);
an empty string or 0 in a filter field means "any".
"""

from __future__ import annotations

from typing import Final, NamedTuple

from .constants import CONTINUOUS, DAY, LIMIT

NEW_ORDER: Final = 1
CANCEL: Final = 2
REPLACE: Final = 3
MASS_CANCEL: Final = 4
SET_PHASE: Final = 5
END_OF_DAY: Final = 6
EXPIRE_GTD: Final = 7
ADD_INSTRUMENT: Final = 8
SET_SELF_TRADE_PREVENTION: Final = 9


class NewOrder(NamedTuple):
    """Enter an order. ``price`` is ignored for MARKET and STOP orders; ``stop_price``
    is used by STOP and STOP_LIMIT; ``display_qty`` > 0 (and < qty) makes an iceberg;
    ``min_qty`` > 0 requires that much to execute on arrival; ``expire_time`` (ns)
    is the GTD expiry."""

    kind: int = NEW_ORDER
    symbol: str = ""
    side: int = 0
    qty: int = 0
    price: int = 0
    ord_type: int = LIMIT
    tif: int = DAY
    cl_ord_id: str = ""
    session: str = ""
    account: str = ""
    stop_price: int = 0
    display_qty: int = 0
    min_qty: int = 0
    expire_time: int = 0


class Cancel(NamedTuple):
    """Cancel an open order. ``session`` must own the order; an empty session is the
    operator, who may cancel any order. ``cl_ord_id`` is the request's own ClOrdID."""

    kind: int = CANCEL
    oid: int = 0
    cl_ord_id: str = ""
    session: str = ""


class Replace(NamedTuple):
    """Cancel/replace: the order's new total quantity and limit price (FIX OrderQty and
    Price). ``stop_price`` 0 keeps the current stop price of an untriggered stop."""

    kind: int = REPLACE
    oid: int = 0
    cl_ord_id: str = ""
    session: str = ""
    qty: int = 0
    price: int = 0
    stop_price: int = 0


class MassCancel(NamedTuple):
    """Cancel every open order matching all the given filters ("" / 0 = any)."""

    kind: int = MASS_CANCEL
    cl_ord_id: str = ""
    session: str = ""
    account: str = ""
    symbol: str = ""
    side: int = 0


class SetPhase(NamedTuple):
    """Change the trading phase of one instrument ("" = every instrument)."""

    kind: int = SET_PHASE
    symbol: str = ""
    phase: int = CONTINUOUS


class EndOfDay(NamedTuple):
    """Expire every DAY order of one instrument ("" = every instrument)."""

    kind: int = END_OF_DAY
    symbol: str = ""


class ExpireGTD(NamedTuple):
    """Expire every GTD order whose expire time is at or before the command's time."""

    kind: int = EXPIRE_GTD
    symbol: str = ""


class AddInstrument(NamedTuple):
    """Define a new instrument and create its book in ``phase``."""

    kind: int = ADD_INSTRUMENT
    symbol: str = ""
    tick_size: int = 0
    lot_size: int = 1
    reference_price: int = 0
    phase: int = CONTINUOUS


class SetSelfTradePrevention(NamedTuple):
    """Set an account's self-trade prevention mode (``constants.STP_*``)."""

    kind: int = SET_SELF_TRADE_PREVENTION
    account: str = ""
    mode: int = 0


Command = NewOrder | Cancel | Replace | MassCancel | SetPhase | EndOfDay | ExpireGTD | \
    AddInstrument | SetSelfTradePrevention

COMMAND_TYPES: Final[dict[int, type]] = {
    NEW_ORDER: NewOrder, CANCEL: Cancel, REPLACE: Replace, MASS_CANCEL: MassCancel,
    SET_PHASE: SetPhase, END_OF_DAY: EndOfDay, EXPIRE_GTD: ExpireGTD,
    ADD_INSTRUMENT: AddInstrument, SET_SELF_TRADE_PREVENTION: SetSelfTradePrevention,
}


def decode_command(command: tuple) -> tuple:
    """The NamedTuple view of a plain command tuple (e.g. one read from the journal)."""
    cls = COMMAND_TYPES.get(command[0]) if command else None
    return cls._make(command) if cls is not None else command
