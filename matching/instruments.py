"""Instrument definitions: what may trade and on which price and quantity grid."""

from __future__ import annotations


class Instrument:
    """A tradable symbol. ``tick_size`` and ``reference_price`` are fixed-point prices
    (4 decimals); ``lot_size`` is the quantity increment. The reference price is the
    auction tie-breaker (the previous close, typically)."""

    __slots__ = ("symbol", "tick_size", "lot_size", "reference_price")

    def __init__(self, symbol: str, tick_size: int, lot_size: int = 1,
                 reference_price: int = 0) -> None:
        self.symbol = symbol
        self.tick_size = tick_size
        self.lot_size = lot_size
        self.reference_price = reference_price

    def problem(self) -> str | None:
        """Why this definition is unusable, or None when it is fine."""
        if not isinstance(self.symbol, str) or not self.symbol:
            return "symbol must be a non-empty string"
        for name in ("tick_size", "lot_size"):
            value = getattr(self, name)
            if type(value) is not int or value <= 0:
                return f"{name} must be a positive integer, got {value!r}"
        ref = self.reference_price
        if type(ref) is not int or ref < 0 or ref % self.tick_size:
            return f"reference_price {ref!r} must be a non-negative multiple of the tick size"
        return None

    def as_tuple(self) -> tuple[str, int, int, int]:
        return (self.symbol, self.tick_size, self.lot_size, self.reference_price)

    def __repr__(self) -> str:
        return (f"Instrument({self.symbol!r}, tick_size={self.tick_size}, "
                f"lot_size={self.lot_size}, reference_price={self.reference_price})")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Instrument) and self.as_tuple() == other.as_tuple()

    def __hash__(self) -> int:
        return hash(self.as_tuple())
