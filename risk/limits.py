"""Instrument limits checked before an order reaches the book.

A deterministic pre-trade check the matching engine calls (its ``RiskCheck``):
an order quantity above the instrument's maximum, or a limit price outside the
price band around the last trade price (the reference price before the first
trade), is refused with a reason code and a text that names the limit, its
value and the order's value.
"""

from __future__ import annotations

from dataclasses import dataclass

ORDER_QTY_LIMIT = "ORDER_QTY_LIMIT"
PRICE_BAND = "PRICE_BAND"

NEW_ORDER, REPLACE = 1, 3  # matching.commands kinds this check looks at


@dataclass(frozen=True, slots=True)
class InstrumentLimits:
    """Limits of one instrument: quantities in units, the band in percent."""

    max_order_qty: int
    price_band_pct: int
    reference_price: int


class InstrumentLimitCheck:
    """The engine's risk hook for instrument limits; tracks last trade prices."""

    def __init__(self, limits: dict[str, InstrumentLimits]) -> None:
        self.limits = limits
        self.last_price: dict[str, int] = {}

    def on_trade(self, symbol: str, price: int) -> None:
        self.last_price[symbol] = price

    def band(self, symbol: str) -> tuple[int, int] | None:
        """(lowest, highest) acceptable limit price, or None when unbounded."""
        lim = self.limits.get(symbol)
        if lim is None or lim.price_band_pct <= 0:
            return None
        anchor = self.last_price.get(symbol, lim.reference_price)
        if anchor <= 0:
            return None
        width = anchor * lim.price_band_pct // 100
        return anchor - width, anchor + width

    def __call__(self, command: tuple, order: object | None) -> tuple[str, str] | None:
        kind = command[0]
        if kind == NEW_ORDER:
            symbol, qty, price, ord_type = command[1], command[3], command[4], command[5]
        elif kind == REPLACE and order is not None:
            symbol, qty, price = order.symbol, command[4], command[5]  # type: ignore[attr-defined]
            ord_type = order.ord_type  # type: ignore[attr-defined]
        else:
            return None
        lim = self.limits.get(symbol)
        if lim is None:
            return None
        if qty > lim.max_order_qty:
            return ORDER_QTY_LIMIT, (f"order quantity {qty} exceeds the maximum order quantity "
                                     f"{lim.max_order_qty} for {symbol}")
        if ord_type in (2, 4) and price:
            band = self.band(symbol)
            if band is not None and not band[0] <= price <= band[1]:
                return PRICE_BAND, (f"price {_px(price)} is outside the price band "
                                    f"{_px(band[0])}..{_px(band[1])} "
                                    f"(+/-{lim.price_band_pct}%) for {symbol}")
        return None


def _px(value: int) -> str:
    whole, frac = divmod(value, 10_000)
    return f"{whole}.{frac:04d}".rstrip("0").rstrip(".")
