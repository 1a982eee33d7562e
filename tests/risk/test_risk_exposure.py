"""The exposure totals the ledger keeps incrementally (for the concentration and
sector checks) against an obviously-correct model: the from-scratch definition
over every symbol the account touches, as the check used to compute it.

After every command of a random flow (limit, IOC, market and stop-limit orders,
cancels, replaces, end of day) through a real matching Engine:

* each tracking account's gross exposure value, value per sector and units per
  symbol equal the from-scratch recomputation at the current marks;
* probe orders (not sent) get the same position/concentration/sector verdict,
  code and text, from ``RiskEngine.check`` as from the from-scratch check: at a
  random quantity and on both sides of the model's refusal boundary, where a
  total off by any amount shows (including the drift of a symbol whose holders
  are not revalued yet);
* a fresh RiskEngine loaded from ``state()`` rebuilds the same totals.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching.commands import Cancel, Command, EndOfDay, NewOrder, Replace
from matching.constants import BUY, DAY, IOC, LIMIT, MARKET, SELL, STOP_LIMIT
from matching.events import Rejected
from risk import checks as K
from risk.checks import RiskEngine, px
from risk.config import NO_LIMIT, InstrumentRisk, Limits
from tests.risk.kit import ACME, BETA, GAMMA, REFS, RICH, TICK, Desk, config

exposure_settings = settings(max_examples=int(os.environ.get("RISK_EXAMPLES", "150")),
                             deadline=None, suppress_health_check=[HealthCheck.too_slow])

P = 100_000     # 10.00
ACCOUNTS = {
    # Concentration and sector limits tight enough to refuse some orders.
    "A": {"cash": 300 * P, "firm": "F1",
          "limits": Limits(max_concentration_pct=60, concentration_floor=100 * P,
                           sector_limit=150 * P)},
    "B": {"cash": 100 * P, "firm": "F1", "positions": {ACME: 200, BETA: 100, GAMMA: 300},
          "limits": Limits(max_concentration_pct=45, fee_bps=5)},
    "C": {"cash": 200 * P, "firm": "F2", "positions": {GAMMA: 50},
          "limits": Limits(allow_short=True, short_margin_pct=50, max_short=100,
                           sector_limit=120 * P)},
    # No exposure limit: a counterparty whose totals the ledger does not keep.
    "D": {"cash": RICH, "firm": "F2", "positions": {ACME: 500, BETA: 500, GAMMA: 500},
          "limits": Limits(allow_short=True)},
}
NAMES = sorted(ACCOUNTS)
TRACKED = ("A", "B", "C")
SYMBOLS = (ACME, BETA, GAMMA)
POSITION_CODES = {K.SHORT_SELLING, K.MAX_LONG_POSITION, K.MAX_SHORT_POSITION,
                  K.CONCENTRATION, K.SECTOR_EXPOSURE}


# ---------------------------------------------------------------- the model

def exposure_units(risk: RiskEngine, account: str, symbol: str, extra_buy: int = 0,
                   extra_sell: int = 0) -> int:
    lg = risk.ledger
    held = lg.positions[account].get(symbol, 0)
    return max(held + lg.open_buys[account].get(symbol, 0) + extra_buy,
               lg.open_sells[account].get(symbol, 0) + extra_sell - held, 0)


def sector_of(risk: RiskEngine, symbol: str) -> str:
    inst = risk.instruments.get(symbol)
    return inst.sector if inst is not None else ""


def scratch_totals(risk: RiskEngine, account: str
                   ) -> tuple[int, dict[str, int], dict[str, int]]:
    """(gross value, sector -> value, symbol -> units), from scratch, zeros left out."""
    lg = risk.ledger
    symbols = set(lg.positions[account]) | set(lg.open_buys[account]) | set(
        lg.open_sells[account])
    units = {s: exposure_units(risk, account, s) for s in symbols}
    units = {s: u for s, u in units.items() if u}
    sectors: dict[str, int] = {}
    for s, u in units.items():
        sectors[sector_of(risk, s)] = sectors.get(sector_of(risk, s), 0) + u * risk.mark(s)
    return (sum(u * risk.mark(s) for s, u in units.items()),
            {k: v for k, v in sectors.items() if v}, units)


def scratch_verdict(risk: RiskEngine, account: str, symbol: str, side: int,
                    added: int) -> K.Verdict:
    """The position checks as the check computed them before the ledger kept totals:
    a union of the account's symbols, each valued at its mark."""
    if added <= 0:
        return None
    lg, limits = risk.ledger, risk.limits(account)
    held = lg.positions[account].get(symbol, 0)
    if side == BUY:
        longest = held + lg.open_buys[account].get(symbol, 0) + added
        if limits.max_long != NO_LIMIT and longest > limits.max_long:
            return K.MAX_LONG_POSITION, (f"long position could reach {longest}, above the max "
                                         f"long position {limits.max_long} of account "
                                         f"{account} in {symbol}")
        extra_buy, extra_sell = added, 0
    else:
        selling = lg.open_sells[account].get(symbol, 0) + added
        if not limits.allow_short and selling > held:
            return K.SHORT_SELLING, (f"sell of {added} exceeds the available position "
                                     f"{max(held - selling + added, 0)} of account {account} "
                                     f"in {symbol} (short selling not allowed)")
        shortest = selling - held
        if limits.max_short != NO_LIMIT and shortest > limits.max_short:
            return K.MAX_SHORT_POSITION, (f"short position could reach {shortest}, above the "
                                          f"max short position {limits.max_short} of account "
                                          f"{account} in {symbol}")
        extra_buy, extra_sell = 0, added
    pct, cap = limits.max_concentration_pct, limits.sector_limit
    if pct >= 100 and cap == NO_LIMIT:
        return None
    symbols = set(lg.positions[account]) | set(lg.open_buys[account]) | set(
        lg.open_sells[account]) | {symbol}
    values = {s: exposure_units(risk, account, s, *((extra_buy, extra_sell) if s == symbol
                                                    else (0, 0))) * risk.mark(s)
              for s in symbols}
    if pct < 100:
        gross = sum(values.values())
        mine = values[symbol]
        if gross > limits.concentration_floor and mine * 100 > pct * gross:
            share = -(-mine * 10_000 // gross)     # 0.01%, rounded up
            return K.CONCENTRATION, (f"{symbol} would be {share // 100}.{share % 100:02d}% "
                                     "of account "
                                     f"{account}'s gross exposure {px(gross)}, above the max "
                                     f"concentration {pct}%")
    if cap != NO_LIMIT:
        sector = sector_of(risk, symbol)
        total = sum(v for s, v in values.items() if sector_of(risk, s) == sector)
        if total > cap:
            return K.SECTOR_EXPOSURE, (f"exposure of account {account} to sector {sector!r} "
                                       f"would be {px(total)}, above the sector limit "
                                       f"{px(cap)}")
    return None


# ---------------------------------------------------------------- the flow

def _order(acc: str, sym: str, side: int, qty: int, ticks: int, kind: str) -> NewOrder:
    price = REFS[sym] + ticks * TICK
    if kind == "market":
        return NewOrder(symbol=sym, side=side, order_qty=qty, ord_type=MARKET,
                        time_in_force=IOC, account=acc, session="S-" + acc)
    if kind == "stop_limit":
        return NewOrder(symbol=sym, side=side, order_qty=qty, price=price, ord_type=STOP_LIMIT,
                        stop_px=price, account=acc, session="S-" + acc)
    return NewOrder(symbol=sym, side=side, order_qty=qty, price=price, ord_type=LIMIT,
                    time_in_force=IOC if kind == "ioc" else DAY, account=acc,
                    session="S-" + acc)


new_order = st.builds(
    # D (rich, may short) twice as often: the counterparty that makes trades happen.
    _order, st.sampled_from(NAMES + ["D"]), st.sampled_from(SYMBOLS),
    st.sampled_from((BUY, SELL)), st.integers(1, 80), st.integers(-4, 4),
    st.sampled_from(("limit", "limit", "limit", "ioc", "market", "stop_limit")))
command = st.tuples(st.integers(0, 99), new_order, st.integers(0, 30), st.integers(1, 80),
                    st.integers(-3, 3)).map(
    lambda t: t[1] if t[0] < 75 else ("cancel", t[2]) if t[0] < 88
    else ("replace", t[2], t[3], t[4]) if t[0] < 98 else ("eod",))
# A probe: (account, symbol, side, qty, replace?, which open order).
probe = st.tuples(st.sampled_from(TRACKED + ("D",)), st.sampled_from(SYMBOLS),
                  st.sampled_from((BUY, SELL)), st.integers(1, 120), st.booleans(),
                  st.integers(0, 30))
flows = st.lists(st.tuples(command, st.lists(probe, max_size=3)), min_size=10, max_size=80)


def to_command(desk: Desk, s: Any) -> Command:
    if not (isinstance(s, tuple) and s and isinstance(s[0], str)):
        return s
    if s[0] == "eod":
        return EndOfDay()
    open_orders = sorted(desk.engine.orders)
    if not open_orders:
        return Cancel(order_id=10_000)
    order = desk.engine.orders[open_orders[s[1] % len(open_orders)]]
    if s[0] == "cancel":
        return Cancel(order_id=order.oid)
    price = order.price + s[3] * TICK if order.price else 0
    return Replace(order_id=order.oid, order_qty=s[2], price=price)


def assert_totals(risk: RiskEngine) -> None:
    for name in TRACKED:
        assert risk.ledger.exposure(name) == scratch_totals(risk, name), name
    assert [n for n, t in risk.ledger.terms.items() if t[2] is not None] == list(TRACKED)


def assert_same_verdict(desk: Desk, account: str, symbol: str, side: int, added: int,
                        order: Any = None) -> None:
    """RiskEngine.check on an order (not sent) adding ``added`` to the account's
    ``side`` in ``symbol`` (a new limit order at the mark, or a replace of ``order``)
    gives the model's verdict, whenever the order gets as far as the position checks
    (and, if the model lets it through, it may still lack buying power)."""
    risk = desk.risk
    cmd: NewOrder | Replace
    if order is not None:
        cmd = Replace(order_id=order.oid, order_qty=order.qty + added, price=order.price)
    else:
        cmd = NewOrder(symbol=symbol, side=side, order_qty=added, price=risk.mark(symbol),
                       ord_type=LIMIT, account=account, session="S-" + account)
    pending = risk.ledger.pending
    got = risk.check(cmd, order)
    risk.ledger.pending = pending           # the probe is never processed
    if got is not None and got[0] not in POSITION_CODES | {K.BUYING_POWER}:
        return                              # refused before the position checks
    want = scratch_verdict(risk, account, symbol, side, added)
    if want is None:
        assert got is None or got[0] == K.BUYING_POWER, (account, symbol, side, added, got)
    else:
        assert got == want, (account, symbol, side, added)


def first_refused(risk: RiskEngine, account: str, symbol: str, side: int,
                  most: int = 4096) -> int | None:
    """The smallest quantity the model refuses to add (it refuses every larger one:
    exposure only grows with it), None if it takes ``most``."""
    if scratch_verdict(risk, account, symbol, side, most) is None:
        return None
    passes, refused = 0, most
    while refused - passes > 1:
        mid = (passes + refused) // 2
        if scratch_verdict(risk, account, symbol, side, mid) is None:
            passes = mid
        else:
            refused = mid
    return refused


def assert_probe(desk: Desk, p: tuple) -> None:
    """A probe: the given quantity, and both sides of the model's boundary, where a
    total off by any amount would show."""
    account, symbol, side, qty, replace, which = p
    if replace:
        risk = desk.risk
        mine = sorted(o for o, rec in risk.ledger.orders.items() if rec[0] == account)
        limit_orders = [desk.engine.orders[o] for o in mine
                        if o in desk.engine.orders and desk.engine.orders[o].ord_type == LIMIT]
        if limit_orders:
            order = limit_orders[which % len(limit_orders)]
            assert_same_verdict(desk, account, order.symbol, order.side, qty, order)
        return
    assert_same_verdict(desk, account, symbol, side, qty)
    edge = first_refused(desk.risk, account, symbol, side)
    if edge is not None:
        if edge > 1:
            assert_same_verdict(desk, account, symbol, side, edge - 1)
        assert_same_verdict(desk, account, symbol, side, edge)


def run(steps: list) -> Desk:
    # Wide collar and fat-finger bands: probes at the mark reach the position checks.
    desk = Desk(config(ACCOUNTS, collar_bps=3000, fat_finger_bps=10_000))
    for s, probes in steps:
        desk.run(to_command(desk, s))
        assert_totals(desk.risk)
        for p in probes:
            assert_probe(desk, p)
    return desk


@exposure_settings
@given(flows)
def test_incremental_exposure_totals_equal_the_from_scratch_definition(steps):
    desk = run(steps)
    fresh = RiskEngine(desk.cfg)
    fresh.load_state(desk.risk.state())
    assert_totals(fresh)
    for name in TRACKED:
        assert fresh.ledger.exposure(name) == desk.risk.ledger.exposure(name)


# ---------------------------------------------------------------- examples

def test_concentration_and_sector_rejects_occur_in_such_flows():
    """The model comparison is not vacuous: these limits do refuse orders."""
    desk = Desk(config(ACCOUNTS, collar_bps=3000, fat_finger_bps=10_000))
    codes = set()
    for _ in range(3):
        for sym in SYMBOLS:
            for ev in desk.buy("A", 60, REFS[sym], symbol=sym):
                if type(ev) is Rejected:
                    codes.add(ev.reason)
    assert {K.CONCENTRATION, K.SECTOR_EXPOSURE} <= codes
    assert_totals(desk.risk)


def test_a_trade_that_moves_the_price_revalues_every_holder():
    desk = Desk(config(ACCOUNTS, collar_bps=3000, fat_finger_bps=10_000))
    desk.sell("D", 10, 105_000)
    desk.buy("A", 10, 105_000)                  # ACME last 10.50: A and B hold ACME
    assert desk.risk.ledger.moved == ACME       # B's totals: drift until revalued
    desk.sell("D", 10, 51_000, symbol=GAMMA)
    desk.buy("A", 10, 51_000, symbol=GAMMA)     # another symbol moves: ACME revalued
    assert desk.risk.ledger.moved == GAMMA
    assert desk.risk.ledger.valued_at[ACME] == 105_000
    assert_totals(desk.risk)
    desk.risk.ledger.revalue()
    assert desk.risk.ledger.moved is None and desk.risk.ledger.valued_at[GAMMA] == 51_000
    assert_totals(desk.risk)


def test_a_sweep_through_levels_revalues_once_at_the_last_price():
    desk = Desk(config(ACCOUNTS, collar_bps=3000, fat_finger_bps=10_000))
    for k in range(1, 4):
        desk.sell("D", 1, REFS[ACME] + k * TICK)
    desk.buy("B", 3, REFS[ACME] + 3 * TICK)     # three trades, three prices
    assert desk.risk.ledger.moved == ACME
    assert_totals(desk.risk)


def test_adding_an_instrument_again_moves_its_sector_and_mark():
    desk = Desk(config(ACCOUNTS))
    desk.risk.add_instrument(InstrumentRisk(GAMMA, 60_000, "Tech", TICK))
    _, sectors, _ = desk.risk.ledger.exposure("B")
    assert sectors == {"Tech": 200 * REFS[ACME] + 100 * REFS[BETA] + 300 * 60_000}
    assert_totals(desk.risk)
