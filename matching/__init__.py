"""The matching core: deterministic price-time order books, commands in, events out.

Usage::

    from matching import Engine, Instrument, NewOrder, Cancel
    from matching.constants import BUY, LIMIT, IOC

    engine = Engine([Instrument("AAPL", tick_size=100, lot_size=1,
                                reference_price=1_900_000)])
    events = engine.process(NewOrder(symbol="AAPL", side=BUY, order_qty=100,
                                     price=1_900_000, cl_ord_id="c1", session="BRK1",
                                     account="ACC"), ts)

Prices and quantities are fixed-point ints (4 decimals: 12.3400 is 123400).
Commands and events are frozen, typed records (``msgspec.Struct``): dispatch on
the type (``type(event) is Trade``), read fields by name.

Modules: ``constants`` (side, order type, TIF, phase and STP codes),
``commands``, ``events``, ``reasons`` (reason codes, texts and FIX mapping),
``instruments``, ``orders``, ``book`` (levels and sides), ``auction`` (uncross
price), ``engine`` (the state machine and its matching rules) and ``snapshot``.
"""

from .commands import (
    AddInstrument,
    Cancel,
    EndOfDay,
    ExpireGTD,
    MassCancel,
    NewOrder,
    Replace,
    SetPhase,
    SetSelfTradePrevention,
)
from .engine import Engine, RiskCheck
from .instruments import Instrument

__all__ = [
    "AddInstrument", "Cancel", "EndOfDay", "Engine", "ExpireGTD", "Instrument", "MassCancel",
    "NewOrder", "Replace", "RiskCheck", "SetPhase", "SetSelfTradePrevention",
]
