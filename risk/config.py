"""Risk configuration: plain frozen dataclasses with documented defaults.

Money and prices are fixed-point integers with 4 decimals (12.34 is 123400);
quantities are plain integers (units). A notional is ``price * qty`` and is in
the same 4-decimal cash unit.

Resolution of an account's limits, field by field: the account's ``Limits``,
else its firm's ``Limits``, else ``DEFAULT_LIMITS``. ``None`` in a ``Limits``
field means "inherit"; ``NO_LIMIT`` (-1) means "no limit" explicitly. A field
is never skipped silently: whatever is missing resolves to the default below.

Defaults (``DEFAULT_LIMITS``):

================================  =========  =========================================
field                             default    meaning
================================  =========  =========================================
allow_short                       False      a sell needs the position (net of open sells)
margin_pct                        100        % of a buy's value that must be covered by
                                             buying power (100: fully paid; 50: 2:1)
short_margin_pct                  100        % of the value of the *short part* of a sell
                                             that must be covered by buying power
max_long                          NO_LIMIT   max long position per symbol (units)
max_short                         NO_LIMIT   max short position per symbol (units)
max_concentration_pct             100        max share (%) of one symbol in the account's
                                             gross exposure value (100: no limit)
concentration_floor               0          concentration is checked only when the gross
                                             exposure after the order exceeds this (cash)
sector_limit                      NO_LIMIT   max gross exposure value per sector (cash)
max_order_qty                     NO_LIMIT   max quantity of one order (units)
max_order_value                   NO_LIMIT   max notional of one order (cash)
max_orders_per_day                NO_LIMIT   accepted orders per account per day
max_open_orders                   NO_LIMIT   open orders per account at once
fee_bps                           0          fee per trade side, basis points of notional
================================  =========  =========================================

Starting balances (``AccountConfig``): cash 0 and no positions unless given, so
an account without configured cash cannot buy (buying power 0).

Per instrument (``InstrumentRisk``): ``collar_bps`` 1000 (+/-10% around the last
trade price, the reference price before the first trade), ``fat_finger_bps`` 500
(a limit price at most 5% through the opposite touch), ``max_order_qty``
NO_LIMIT, ``sector`` "" (its own sector named "").
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Final

NO_LIMIT: Final = -1

BPS: Final = 10_000


@dataclass(frozen=True, slots=True)
class Limits:
    """Limits of a firm or an account; ``None`` = inherit (see the module docstring)."""

    allow_short: bool | None = None
    margin_pct: int | None = None
    short_margin_pct: int | None = None
    max_long: int | None = None
    max_short: int | None = None
    max_concentration_pct: int | None = None
    concentration_floor: int | None = None
    sector_limit: int | None = None
    max_order_qty: int | None = None
    max_order_value: int | None = None
    max_orders_per_day: int | None = None
    max_open_orders: int | None = None
    fee_bps: int | None = None


DEFAULT_LIMITS: Final = Limits(
    allow_short=False, margin_pct=100, short_margin_pct=100, max_long=NO_LIMIT,
    max_short=NO_LIMIT, max_concentration_pct=100, concentration_floor=0,
    sector_limit=NO_LIMIT, max_order_qty=NO_LIMIT, max_order_value=NO_LIMIT,
    max_orders_per_day=NO_LIMIT, max_open_orders=NO_LIMIT, fee_bps=0,
)


def resolve(*layers: Limits | None) -> Limits:
    """The first non-None value of each field over ``layers``, then the default."""
    values = {}
    for f in fields(Limits):
        value = None
        for layer in (*layers, DEFAULT_LIMITS):
            if layer is not None:
                value = getattr(layer, f.name)
                if value is not None:
                    break
        values[f.name] = value
    return Limits(**values)


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """An account of a firm, its starting balances and its own limit overrides."""

    name: str
    firm: str
    cash: int = 0
    positions: dict[str, int] = field(default_factory=dict)
    limits: Limits = Limits()
    # Self-trade prevention mode (matching.constants STP_*; 0 = none, the default),
    # given to the matching engine by ``RiskEngine.self_trade_prevention()``.
    self_trade_prevention: int = 0


@dataclass(frozen=True, slots=True)
class FirmRisk:
    """A firm's limits (defaults for its accounts)."""

    name: str
    limits: Limits = Limits()


@dataclass(frozen=True, slots=True)
class InstrumentRisk:
    """Per-instrument risk parameters (see the module docstring for defaults)."""

    symbol: str
    reference_price: int
    sector: str = ""
    tick_size: int = 1
    collar_bps: int = 1000
    fat_finger_bps: int = 500
    max_order_qty: int = NO_LIMIT


@dataclass(frozen=True, slots=True)
class RiskConfig:
    """Everything the risk engine needs. ``market_protection_bps`` must equal the
    matching engine's (its default 500), so that a market buy reserves exactly the
    worst price it can trade at."""

    instruments: dict[str, InstrumentRisk] = field(default_factory=dict)
    firms: dict[str, FirmRisk] = field(default_factory=dict)
    accounts: dict[str, AccountConfig] = field(default_factory=dict)
    market_protection_bps: int = 500
