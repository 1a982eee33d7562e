"""Reader of ``exchange.toml``: instruments, firms, accounts and who owns which session.

Prices in the file are decimal strings ("189.50") and become integers with
PRICE_DECIMALS decimals; a float in a price field is refused, because money is
never a float here. Every problem is an error naming the file, the key and why.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from .fixedpoint import PRICE_DECIMALS, PRICE_SCALE

# Self-trade prevention modes by name (the matching engine's STP_* codes).
STP_MODES = {"none": 0, "cancel_resting": 1, "cancel_aggressor": 2, "cancel_both": 3,
             "decrement_and_cancel": 4}


class ExchangeConfigError(Exception):
    """A problem in exchange.toml, naming the file, the key and the problem."""


@dataclass(frozen=True, slots=True)
class InstrumentConfig:
    """One tradable symbol; prices are fixed-point integers (PRICE_DECIMALS)."""

    symbol: str
    tick_size: int
    lot_size: int
    reference_price: int
    sector: str
    max_order_qty: int
    price_band_pct: int


@dataclass(frozen=True, slots=True)
class FirmConfig:
    """A member firm: its accounts, its order-entry CompIDs and default account."""

    name: str
    accounts: tuple[str, ...]
    default_account: str
    comp_ids: tuple[str, ...]
    self_trade_prevention: str = "none"  # applies to each of the firm's accounts


@dataclass(frozen=True, slots=True)
class DropCopyConfig:
    """A drop-copy session (by counterparty CompID) and the firms it sees ('*': all)."""

    comp_id: str
    firms: tuple[str, ...]

    def sees(self, firm: str) -> bool:
        return "*" in self.firms or firm in self.firms


@dataclass(slots=True)
class ExchangeConfig:
    """The whole exchange configuration."""

    instruments: dict[str, InstrumentConfig] = field(default_factory=dict)
    firms: dict[str, FirmConfig] = field(default_factory=dict)
    dropcopy: dict[str, DropCopyConfig] = field(default_factory=dict)
    journal_path: str = "journal/commands.wal"
    fsync: bool = True
    market_protection_pct: int = 5
    end_of_day: dt.time | None = None  # UTC time at which DAY orders expire
    source: str = ""

    def firm_of_comp_id(self, comp_id: str) -> FirmConfig | None:
        for firm in self.firms.values():
            if comp_id in firm.comp_ids:
                return firm
        return None


def parse_price(text: object, where: str) -> int:
    """A decimal string -> fixed-point int; refuses floats and sub-tick precision."""
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise ExchangeConfigError(f"{where}: expected a decimal string like \"12.34\", "
                                  f"got {text!r}")
    try:
        value = Decimal(str(text)) * PRICE_SCALE
    except InvalidOperation as e:
        raise ExchangeConfigError(f"{where}: not a number: {text!r}") from e
    if not value.is_finite():
        raise ExchangeConfigError(f"{where}: not a finite number: {text!r}")
    if value < 0:
        raise ExchangeConfigError(f"{where}: must not be negative: {text!r}")
    if value != value.to_integral_value():
        raise ExchangeConfigError(f"{where}: more than {PRICE_DECIMALS} decimals: {text!r}")
    return int(value)


def _get(table: dict, key: str, kind: type | tuple[type, ...], where: str,
         default: object = ...) -> object:
    if key not in table:
        if default is ...:
            raise ExchangeConfigError(f"{where}: missing key {key!r}")
        return default
    value = table[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ExchangeConfigError(f"{where}: {key} has the wrong type ({type(value).__name__})")
    return value


def _check_keys(table: dict, allowed: set[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise ExchangeConfigError(f"{where}: unknown key {key!r}")


def load_exchange_config(path: str | Path) -> ExchangeConfig:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise ExchangeConfigError(f"{path}: cannot read: {e.strerror}") from e
    except tomllib.TOMLDecodeError as e:
        raise ExchangeConfigError(f"{path}: {e}") from e
    _check_keys(data, {"exchange", "instruments", "firms", "dropcopy"}, str(path))
    if not isinstance(data.get("exchange", {}), dict):
        raise ExchangeConfigError(f"{path}: exchange must be a table: [exchange]")
    for section in ("instruments", "firms", "dropcopy"):
        items = data.get(section, [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ExchangeConfigError(f"{path}: {section} must be an array of tables: "
                                      f"[[{section}]]")
    cfg = ExchangeConfig(source=str(path))
    ex = data.get("exchange", {})
    where = f"{path}: [exchange]"
    _check_keys(ex, {"journal", "fsync", "market_protection_pct", "end_of_day"}, where)
    if "end_of_day" in ex:
        try:
            cfg.end_of_day = dt.time.fromisoformat(str(_get(ex, "end_of_day", str, where)))
        except ValueError as e:
            raise ExchangeConfigError(f"{where}: end_of_day must be HH:MM:SS (UTC): {e}") from e
    cfg.journal_path = str(_get(ex, "journal", str, where, cfg.journal_path))
    cfg.fsync = bool(_get(ex, "fsync", bool, where, True))
    cfg.market_protection_pct = int(_get(ex, "market_protection_pct", int, where, 5))  # type: ignore[arg-type]
    for i, inst in enumerate(data.get("instruments", [])):
        where = f"{path}: instruments[{i}]"
        _check_keys(inst, {"symbol", "tick_size", "lot_size", "reference_price", "sector",
                           "max_order_qty", "price_band_pct"}, where)
        symbol = str(_get(inst, "symbol", str, where))
        where = f"{path}: instrument {symbol}"
        tick = parse_price(_get(inst, "tick_size", (str, int), where), f"{where}: tick_size")
        ref = parse_price(_get(inst, "reference_price", (str, int), where),
                          f"{where}: reference_price")
        lot = int(_get(inst, "lot_size", int, where, 1))  # type: ignore[arg-type]
        if tick <= 0 or lot <= 0:
            raise ExchangeConfigError(f"{where}: tick_size and lot_size must be positive")
        if ref % tick:
            raise ExchangeConfigError(f"{where}: reference_price is not on the tick grid")
        if symbol in cfg.instruments:
            raise ExchangeConfigError(f"{where}: defined twice")
        cfg.instruments[symbol] = InstrumentConfig(
            symbol, tick, lot, ref, str(_get(inst, "sector", str, where, "")),
            int(_get(inst, "max_order_qty", int, where, 1_000_000)),  # type: ignore[arg-type]
            int(_get(inst, "price_band_pct", int, where, 10)),  # type: ignore[arg-type]
        )
    for i, firm in enumerate(data.get("firms", [])):
        where = f"{path}: firms[{i}]"
        _check_keys(firm, {"name", "accounts", "default_account", "comp_ids",
                           "self_trade_prevention"}, where)
        name = str(_get(firm, "name", str, where))
        where = f"{path}: firm {name}"
        accounts = tuple(str(a) for a in _get(firm, "accounts", list, where))  # type: ignore[union-attr]
        if not accounts:
            raise ExchangeConfigError(f"{where}: accounts is empty")
        default = str(_get(firm, "default_account", str, where, accounts[0]))
        if default not in accounts:
            raise ExchangeConfigError(f"{where}: default_account {default!r} is not one of "
                                      "its accounts")
        comp_ids = tuple(str(c) for c in _get(firm, "comp_ids", list, where))  # type: ignore[union-attr]
        if name in cfg.firms:
            raise ExchangeConfigError(f"{where}: defined twice")
        stp = str(_get(firm, "self_trade_prevention", str, where, "none"))
        if stp not in STP_MODES:
            raise ExchangeConfigError(f"{where}: self_trade_prevention must be one of "
                                      f"{', '.join(STP_MODES)}, got {stp!r}")
        cfg.firms[name] = FirmConfig(name, accounts, default, comp_ids, stp)
    for what, names_of in (("CompID", lambda f: f.comp_ids), ("account", lambda f: f.accounts)):
        owners: dict[str, str] = {}
        for firm in cfg.firms.values():
            for name in names_of(firm):
                if name in owners:
                    raise ExchangeConfigError(f"{path}: {what} {name} belongs to both "
                                              f"{owners[name]} and {firm.name}")
                owners[name] = firm.name
    for i, dc in enumerate(data.get("dropcopy", [])):
        where = f"{path}: dropcopy[{i}]"
        _check_keys(dc, {"comp_id", "firms"}, where)
        comp_id = str(_get(dc, "comp_id", str, where))
        firms = tuple(str(f) for f in _get(dc, "firms", list, where))  # type: ignore[union-attr]
        for f in firms:
            if f != "*" and f not in cfg.firms:
                raise ExchangeConfigError(f"{where}: unknown firm {f!r}")
        if comp_id in cfg.dropcopy:
            raise ExchangeConfigError(f"{where}: drop-copy comp_id {comp_id} defined twice")
        cfg.dropcopy[comp_id] = DropCopyConfig(comp_id, firms)
    return cfg
