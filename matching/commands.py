"""Commands: everything that can change the matching engine's state.

Each command is a frozen, typed record (``msgspec.Struct``); the engine dispatches
on its type. Build them with keywords, every field has a default::

    NewOrder(symbol="AAPL", side=BUY, order_qty=100, price=1_900_000)

Fields are named after FIX where FIX has a name (OrderQty, StopPx, TimeInForce,
MaxFloor for the displayed quantity of an iceberg, ...). Time is not in the
command: the sequencer stamps it and passes it to ``Engine.process(command, ts)``
(nanoseconds since the epoch). Order ids are the engine's own (``order_id`` in
events, FIX OrderID); the venue maps ClOrdIDs to them. Conventions: prices and
quantities are fixed-point ints (``constants.PRICE_SCALE``); an empty string or 0
in a filter field means "any".

These are the engine's input, not the journal's: the journal holds what brokers
and operators asked for (``venue.commands``), and order entry turns each of those
into the commands here. The tags identify a command inside an event that carries
it (``Rejected.command``) in the event log.
"""

from __future__ import annotations

import msgspec

from .constants import CONTINUOUS, DAY, LIMIT


class _Command(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """Base of the engine's commands: immutable, encoded as arrays."""


class NewOrder(_Command, tag=1):
    """Enter an order. ``price`` is ignored for MARKET and STOP orders; ``stop_px``
    is used by STOP and STOP_LIMIT; ``max_floor`` > 0 (and < order_qty) makes an
    iceberg; ``min_qty`` > 0 requires that much to execute on arrival;
    ``expire_time`` (ns) is the GTD expiry."""

    symbol: str = ""
    side: int = 0
    order_qty: int = 0
    price: int = 0
    ord_type: int = LIMIT
    time_in_force: int = DAY
    cl_ord_id: str = ""
    session: str = ""
    account: str = ""
    stop_px: int = 0
    max_floor: int = 0
    min_qty: int = 0
    expire_time: int = 0


class Cancel(_Command, tag=2):
    """Cancel an open order. ``session`` must own the order; an empty session is the
    operator, who may cancel any order. ``cl_ord_id`` is the request's own ClOrdID."""

    order_id: int = 0
    cl_ord_id: str = ""
    session: str = ""


class Replace(_Command, tag=3):
    """Cancel/replace: the order's new total quantity and limit price (FIX OrderQty
    and Price). ``stop_px`` 0 keeps the current stop price of an untriggered stop."""

    order_id: int = 0
    cl_ord_id: str = ""
    session: str = ""
    order_qty: int = 0
    price: int = 0
    stop_px: int = 0


class MassCancel(_Command, tag=4):
    """Cancel every open order matching all the given filters ("" / 0 = any)."""

    cl_ord_id: str = ""
    session: str = ""
    account: str = ""
    symbol: str = ""
    side: int = 0


class SetPhase(_Command, tag=5):
    """Change the trading phase of one instrument ("" = every instrument)."""

    symbol: str = ""
    phase: int = CONTINUOUS


class EndOfDay(_Command, tag=6):
    """Expire every DAY order of one instrument ("" = every instrument)."""

    symbol: str = ""


class ExpireGTD(_Command, tag=7):
    """Expire every GTD order whose expire time is at or before the command's time."""

    symbol: str = ""


class AddInstrument(_Command, tag=8):
    """Define a new instrument and create its book in ``phase``."""

    symbol: str = ""
    tick_size: int = 0
    lot_size: int = 1
    reference_price: int = 0
    phase: int = CONTINUOUS


class SetSelfTradePrevention(_Command, tag=9):
    """Set an account's self-trade prevention mode (``constants.STP_*``)."""

    account: str = ""
    mode: int = 0


Command = (NewOrder | Cancel | Replace | MassCancel | SetPhase | EndOfDay | ExpireGTD
           | AddInstrument | SetSelfTradePrevention)
