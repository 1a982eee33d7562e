"""Builders shared by the venue unit tests: journaled commands, an engine with two
instruments and an OrderEntry with two sessions of different firms.

Everything here is a real object of the project; nothing is mocked.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from matching.constants import BUY, DAY, LIMIT
from matching.engine import Engine
from matching.instruments import Instrument
from risk.checks import RiskEngine, touch_of
from risk.config import AccountConfig, FirmRisk, InstrumentRisk, Limits, RiskConfig
from venue import orderentry as OE
from venue.commands import (
    CancelOnDisconnect,
    Command,
    NewOrderSingle,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    OrderMassCancelRequest,
    OrderStatusRequest,
)
from venue.reports import Report

REPO = Path(__file__).resolve().parents[2]
SHIPPED_EXCHANGE_TOML = REPO / "exchange.toml"
SHIPPED_SESSIONS_CFG = REPO / "sessions.cfg"

# Two sessions of two different firms.
S1, S2 = "FIX.4.4:EXCH->FIRM1", "FIX.4.2:EXCH->FIRM2"
NO_FIRM_SESSION = "FIX.4.4:EXCH->NOBODY"
# S1's default account is neither its first nor its last.
ACCOUNTS = {S1: ("F1-MAIN", "F1-PROP", "F1-AGENCY"), S2: ("F2-MAIN",)}
DEFAULT_ACCOUNT = {S1: "F1-PROP", S2: "F2-MAIN"}

# Instruments: AAA on a 0.01 grid with lot 1, BBB on a 0.05 grid with lot 10.
AAA, BBB = "AAA", "BBB"
TICK_AAA, TICK_BBB = 100, 500
REF_AAA, REF_BBB = 100_0000, 50_0000   # 100.00 and 50.00
TS = 1_700_000_000_000_000_000          # a fixed timestamp (ns)


def px(text: str) -> int:
    """ "100.01" -> 1000100 (written here without the code under test)."""
    whole, _, frac = text.partition(".")
    return int(whole) * 10_000 + int((frac + "0000")[:4])


def instruments() -> list[Instrument]:
    return [Instrument(AAA, TICK_AAA, 1, REF_AAA), Instrument(BBB, TICK_BBB, 10, REF_BBB)]


RICH = 10 ** 15            # cash of every account of the risk engine below
HOLDING = 1_000_000        # starting position of every account in every instrument


def risk_engine(max_order_qty: int = 10_000, band_pct: int = 10,
                limits: Limits | None = None, fee_bps: int = 0) -> RiskEngine:
    """A RiskEngine over AAA and BBB; firm 1 and firm 2 accounts hold RICH cash and
    HOLDING of each instrument, with ``limits`` (and ``fee_bps``) for every account."""
    insts = {AAA: InstrumentRisk(AAA, REF_AAA, "Tech", TICK_AAA, band_pct * 100,
                                 max_order_qty=max_order_qty),
             BBB: InstrumentRisk(BBB, REF_BBB, "Energy", TICK_BBB, band_pct * 100,
                                 max_order_qty=max_order_qty)}
    firms, accounts = {}, {}
    for session, names in ACCOUNTS.items():
        firm = "FIRM1" if session == S1 else "FIRM2"
        firms[firm] = FirmRisk(firm, Limits(fee_bps=fee_bps))
        for name in names:
            accounts[name] = AccountConfig(name, firm, RICH, {AAA: HOLDING, BBB: HOLDING},
                                           limits or Limits())
    return RiskEngine(RiskConfig(insts, firms, accounts))


def order_entry(risk: RiskEngine | None = None) -> OE.OrderEntry:
    """A fresh engine (AAA, BBB) and OrderEntry with sessions S1 (firm 1) and S2 (firm 2),
    with ``risk`` as the engine's risk hook."""
    engine = Engine(instruments(), risk=risk.check if risk is not None else None)
    if risk is not None:
        risk.touch = touch_of(engine)
    return OE.OrderEntry(engine, lambda s: ACCOUNTS.get(s, ()), DEFAULT_ACCOUNT.get, risk=risk)


def new(session: str, cl_ord_id: str, side: int, qty: int, price: int, symbol: str = AAA,
        account: str = "", ord_type: int = LIMIT, tif: int = DAY, stop_price: int = 0,
        expire_time: int = 0, min_qty: int = 0, display_qty: int = 0, error_code: str = "",
        error_text: str = "") -> NewOrderSingle:
    return NewOrderSingle(session, cl_ord_id, account, symbol, side, ord_type, price,
                          stop_price, qty, tif, expire_time, min_qty, display_qty, error_code,
                          error_text)


def cancel(session: str, cl_ord_id: str, orig: str = "", order_id: str = "",
           symbol: str = AAA, side: int = BUY) -> OrderCancelRequest:
    return OrderCancelRequest(session, cl_ord_id, orig, order_id, symbol, side)


def replace(session: str, cl_ord_id: str, orig: str, qty: int, price: int,
            order_id: str = "", symbol: str = AAA, side: int = BUY, ord_type: int = LIMIT,
            tif: int = DAY, stop_price: int = 0, error_code: str = "",
            error_text: str = "") -> OrderCancelReplaceRequest:
    return OrderCancelReplaceRequest(session, cl_ord_id, orig, order_id, symbol, side, qty,
                                     price, stop_price, ord_type, tif, error_code, error_text)


def status(session: str, cl_ord_id: str, order_id: str = "", symbol: str = AAA,
           side: int = BUY) -> OrderStatusRequest:
    return OrderStatusRequest(session, cl_ord_id, order_id, symbol, side)


def mass_cancel(session: str, cl_ord_id: str, request_type: str, symbol: str = "",
                side: int = 0, account: str = "") -> OrderMassCancelRequest:
    return OrderMassCancelRequest(session, cl_ord_id, request_type, symbol, side, account)


def disconnected(session: str) -> CancelOnDisconnect:
    return CancelOnDisconnect(session)


def process(oe: OE.OrderEntry, command: Command, ts: int = 0) -> list[Report]:
    """The reports of one command (the events are checked where they matter)."""
    return oe.process(command, ts)[1]


def report_values(report: Report) -> tuple:
    """Every field of a report, for comparing runs."""
    return msgspec.structs.astuple(report)


def view_state(oe: OE.OrderEntry) -> dict[int, tuple]:
    """What the FIX side knows of every order."""
    return {oid: tuple(getattr(v, name) for name in OE.OrderView.__slots__)
            for oid, v in oe.views.items()}


def engine_orders(engine: Engine) -> dict[int, tuple]:
    """The engine's open orders (their state without the book links)."""
    return {oid: o.state() for oid, o in engine.orders.items()}
