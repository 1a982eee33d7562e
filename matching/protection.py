"""Market protection: the worst price a market order (or a triggered stop) may trade at.

One formula for the engine, which stops a market order there, and for the risk
checks, which value and reserve a market or stop buy at exactly that price.
"""

from __future__ import annotations

from .constants import BUY


def protection_limit(base: int, side: int, protection_bps: int, tick: int) -> int:
    """``protection_bps`` through ``base`` (the opposite touch, or a stop's stop
    price), rounded inwards to the tick grid; a sell's floor is at least one tick."""
    band = base * protection_bps // 10_000
    if side == BUY:
        return (base + band) // tick * tick
    low = -(-(base - band) // tick) * tick
    return low if low >= tick else tick
