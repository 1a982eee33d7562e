"""Shared helpers for the risk tests: a matching Engine wired to a RiskEngine."""

from __future__ import annotations

from typing import Any

from matching.commands import Cancel, Command, NewOrder, Replace
from matching.constants import BUY, LIMIT, SELL
from matching.engine import Engine
from matching.events import Accepted, CancelRejected, Event, Rejected, Settlement, Trade
from matching.instruments import Instrument
from risk.checks import RiskEngine, touch_of
from risk.config import AccountConfig, FirmRisk, InstrumentRisk, Limits, RiskConfig

TICK = 100
ACME, BETA, GAMMA = "ACME", "BETA", "GAMMA"
REFS = {ACME: 100_000, BETA: 200_000, GAMMA: 50_000}       # 10.00, 20.00, 5.00
SECTORS = {ACME: "Tech", BETA: "Tech", GAMMA: "Energy"}
RICH = 10 ** 12


def config(accounts: dict[str, dict[str, Any]] | None = None,
           firms: dict[str, Limits] | None = None, **inst_kw: Any) -> RiskConfig:
    """Accounts: name -> AccountConfig keywords (firm defaults to "F")."""
    accounts = accounts if accounts is not None else {
        "A": {"cash": RICH}, "B": {"positions": {ACME: 10_000, BETA: 10_000, GAMMA: 10_000}}}
    firm_limits = dict(firms or {})
    accs = {}
    for name, kw in accounts.items():
        kw = dict(kw)
        firm = kw.pop("firm", "F")
        firm_limits.setdefault(firm, Limits())
        accs[name] = AccountConfig(name, firm, **kw)
    return RiskConfig(
        instruments={s: InstrumentRisk(s, REFS[s], SECTORS[s], TICK, **inst_kw) for s in REFS},
        firms={f: FirmRisk(f, lim) for f, lim in firm_limits.items()},
        accounts=accs)


class Desk:
    """An exchange core: Engine with RiskEngine.check as its hook, events fed back."""

    def __init__(self, cfg: RiskConfig | None = None, **engine_kw: Any) -> None:
        self.cfg = cfg or config()
        self.risk = RiskEngine(self.cfg)
        self.engine = Engine([Instrument(s, TICK, 1, REFS[s]) for s in REFS],
                             market_protection_bps=self.cfg.market_protection_bps,
                             risk=self.risk.check, **engine_kw)
        self.risk.touch = touch_of(self.engine)
        self.settlements: list[Settlement] = []
        self.ts = 0

    def run(self, command: Command) -> list[Event]:
        self.ts += 1
        events = self.engine.process(command, self.ts)
        for ev in events:
            s = self.risk.on_event(ev)
            if s is not None:
                self.settlements.append(s)
        return events

    def order(self, account: str, side: int, qty: int, price: int = 0, symbol: str = ACME,
              **kw: Any) -> list[Event]:
        """A NewOrder (``kw``: its other fields, e.g. ``time_in_force``, ``stop_px``)."""
        kw.setdefault("ord_type", LIMIT)
        kw.setdefault("session", "S-" + account)
        return self.run(NewOrder(symbol=symbol, side=side, order_qty=qty, price=price,
                                 account=account, **kw))

    def buy(self, account: str, qty: int, price: int, **kw: Any) -> list[Event]:
        return self.order(account, BUY, qty, price, **kw)

    def sell(self, account: str, qty: int, price: int, **kw: Any) -> list[Event]:
        return self.order(account, SELL, qty, price, **kw)

    def cancel(self, oid: int) -> list[Event]:
        return self.run(Cancel(order_id=oid))

    def replace(self, oid: int, qty: int, price: int) -> list[Event]:
        return self.run(Replace(order_id=oid, order_qty=qty, price=price))

    def cash(self, account: str) -> int:
        return self.risk.account(account).cash

    def reserved(self, account: str) -> int:
        return self.risk.account(account).reserved

    def position(self, account: str, symbol: str = ACME) -> int:
        return self.risk.account(account).positions.get(symbol, 0)


def accepted_oid(events: list[Event]) -> int:
    for ev in events:
        if type(ev) is Accepted:
            return ev.order_id
    raise AssertionError(f"not accepted: {events}")


def rejection(events: list[Event]) -> tuple[str, str] | None:
    """(code, text) of a Rejected or CancelRejected, None if there is none."""
    for ev in events:
        if type(ev) is Rejected or type(ev) is CancelRejected:
            return ev.reason, ev.text
    return None


def trades(events: list[Event]) -> list[Trade]:
    return [ev for ev in events if type(ev) is Trade]
