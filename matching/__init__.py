"""The matching core: deterministic price-time order books, commands in, events out.

Modules: ``constants`` (side, order type, TIF, phase, STP codes), ``commands``,
``events``, ``reasons`` (reason codes and their FIX mapping), ``instruments``,
``orders``, ``book`` (levels and sides), ``auction`` (uncross price),
``engine`` (the state machine) and ``snapshot``.
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
