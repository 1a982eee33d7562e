"""The matching core: deterministic price-time order books, commands in, events out.

Usage::

    from matching import Engine, Instrument, NewOrder, Cancel
    from matching.constants import BUY, LIMIT, IOC

    engine = Engine([Instrument("AAPL", tick_size=100, lot_size=1,
                                reference_price=1_900_000)])
    events = engine.process(NewOrder(symbol="AAPL", side=BUY, qty=100, price=1_900_000,
                                     cl_ord_id="c1", session="BRK1", account="ACC"), ts)
    # or, for the sequencer's batches of (seq, ts, command):
    per_command_events = engine.process_batch(batch)

Prices and quantities are fixed-point ints (4 decimals: 12.3400 is 123400).
Events are plain tuples whose first item is the kind (``events.TRADE``...);
``events.decode(event)`` gives a NamedTuple view with field names.

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
from .events import decode
from .instruments import Instrument

__all__ = [
    "AddInstrument", "Cancel", "EndOfDay", "Engine", "ExpireGTD", "Instrument", "MassCancel",
    "NewOrder", "Replace", "RiskCheck", "SetPhase", "SetSelfTradePrevention", "decode",
]
