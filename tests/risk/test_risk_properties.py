"""Properties over random order flow through a real matching Engine whose risk
hook is the RiskEngine, fed back every event: conservation of cash and positions,
no account beyond its limits, reservations equal to what the open orders need,
and identical balances when the same commands are replayed into a fresh pair."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching.commands import Cancel, Command, EndOfDay, MassCancel, NewOrder, Replace
from matching.constants import BUY, DAY, IOC, LIMIT, MARKET, SELL, STOP, STOP_LIMIT
from risk.accounts import O_LEAVES, reservation
from risk.config import NO_LIMIT, Limits
from tests.risk.kit import ACME, BETA, REFS, TICK, Desk, config

# Per-test settings (not a global profile, which would leak into other test modules).
risk_settings = settings(max_examples=int(os.environ.get("RISK_EXAMPLES", "150")),
                         deadline=None, suppress_health_check=[HealthCheck.too_slow])

ACCOUNTS = {
    "A": {"cash": 200 * 100_000, "firm": "F1", "limits": Limits(max_long=120)},
    "B": {"cash": 50 * 100_000, "firm": "F1",
          "positions": {ACME: 200, BETA: 100}, "limits": Limits(fee_bps=7)},
    "C": {"cash": 100 * 100_000, "firm": "F2",
          "limits": Limits(allow_short=True, max_short=80, short_margin_pct=50)},
    "D": {"cash": 30 * 100_000, "firm": "F2", "positions": {ACME: 50, BETA: 300},
          "limits": Limits(max_open_orders=4, max_order_qty=40, fee_bps=3)},
}
NAMES = sorted(ACCOUNTS)
SYMBOLS = (ACME, BETA)



def _order(acc: str, sym: str, side: int, qty: int, ticks: int, kind: str, ioc: bool,
           stop_ticks: int) -> NewOrder:
    step = TICK * (REFS[sym] // 100_000)
    price = REFS[sym] + ticks * step
    if kind == "market":
        return NewOrder(symbol=sym, side=side, order_qty=qty, ord_type=MARKET,
                        time_in_force=IOC, account=acc, session="S-" + acc)
    if kind == "stop":
        # A stop buy reserves at its stop price plus the protection band, which is also
        # the worst price it can trade at once triggered.
        return NewOrder(symbol=sym, side=side, order_qty=qty, ord_type=STOP,
                        stop_px=REFS[sym] + stop_ticks * step, account=acc,
                        session="S-" + acc)
    if kind == "stop_limit":
        return NewOrder(symbol=sym, side=side, order_qty=qty, price=price, ord_type=STOP_LIMIT,
                        stop_px=REFS[sym] + stop_ticks * step, account=acc,
                        session="S-" + acc)
    return NewOrder(symbol=sym, side=side, order_qty=qty, price=price, ord_type=LIMIT,
                    time_in_force=IOC if ioc else DAY, account=acc, session="S-" + acc)


new_order = st.builds(
    _order, st.sampled_from(NAMES), st.sampled_from(SYMBOLS), st.sampled_from((BUY, SELL)),
    st.integers(1, 60), st.integers(-4, 4),
    st.sampled_from(("limit", "limit", "limit", "limit", "market", "stop_limit", "stop")),
    st.sampled_from((False, False, False, False, True)), st.integers(-2, 2))
step = st.tuples(st.integers(0, 99), new_order, st.integers(0, 20), st.integers(1, 60),
                 st.integers(-3, 3)).map(
    lambda t: t[1] if t[0] < 75 else ("cancel", t[2]) if t[0] < 88
    else ("replace", t[2], t[3], t[4]) if t[0] < 98 else ("eod",))
flows = st.lists(step, min_size=5, max_size=60)


def run(steps: list, check=None, commands: list[Command] | None = None
        ) -> tuple[Desk, list]:
    """Run ``steps`` (or replay ``commands``); cancels and replaces pick an open order
    of the engine by index. Returns the desk and, per command, (command, events)."""
    desk = Desk(config(ACCOUNTS))
    log = []
    for s in (commands if commands is not None else steps):
        if commands is None and isinstance(s, tuple) and s and isinstance(s[0], str):
            open_orders = sorted(desk.engine.orders)
            if s[0] == "eod":
                s = EndOfDay()
            elif not open_orders:
                s = Cancel(order_id=10_000)
            else:
                order = desk.engine.orders[open_orders[s[1] % len(open_orders)]]
                if s[0] == "cancel":
                    s = Cancel(order_id=order.oid)
                else:
                    price = order.price + s[3] * TICK if order.price else 0
                    # an untriggered stop also moves its stop price
                    stop = (order.stop_price + s[3] * TICK
                            if order.stop_key is not None else 0)
                    s = Replace(order_id=order.oid, order_qty=s[2], price=price, stop_px=stop)
        log.append((s, desk.run(s)))
        if check is not None:
            check(desk)
    return desk, log


def totals(desk: Desk) -> tuple[int, dict[str, int]]:
    lg = desk.risk.ledger
    cash = sum(lg.cash.values()) + lg.fees_collected
    pos = {s: sum(lg.positions[a].get(s, 0) for a in NAMES) for s in SYMBOLS}
    return cash, pos


START_CASH = sum(a["cash"] for a in ACCOUNTS.values())
START_POS = {s: sum(a.get("positions", {}).get(s, 0) for a in ACCOUNTS.values())
             for s in SYMBOLS}


def within_limits(desk: Desk) -> None:
    for name in NAMES:
        view = desk.risk.account(name)
        lim = desk.risk.limits(name)
        assert view.buying_power >= 0, (name, view)
        assert view.cash >= 0, (name, view)
        for sym, qty in view.positions.items():
            if lim.max_long != NO_LIMIT:
                assert qty <= lim.max_long, (name, sym, qty)
            if not lim.allow_short:
                assert qty >= 0, (name, sym, qty)
            elif lim.max_short != NO_LIMIT:
                assert -qty <= lim.max_short, (name, sym, qty)
        if lim.max_open_orders != NO_LIMIT:
            assert view.open_orders <= lim.max_open_orders


@risk_settings
@given(flows)
def test_cash_and_positions_are_conserved(steps):
    desk, _ = run(steps)
    assert totals(desk) == (START_CASH, START_POS)


@risk_settings
@given(flows)
def test_no_account_ends_beyond_its_limits(steps):
    run(steps, within_limits)


@risk_settings
@given(flows)
def test_reservations_follow_the_engines_open_orders(steps):
    desk, _ = run(steps)
    lg = desk.risk.ledger
    assert {o: o_.leaves for o, o_ in desk.engine.orders.items()} == {
        o: rec[O_LEAVES] for o, rec in lg.orders.items()}
    for name in NAMES:
        lim = desk.risk.limits(name)
        need = sum(reservation(rec[3], rec[O_LEAVES], lim) for rec in lg.orders.values()
                   if rec[0] == name and rec[2] == BUY)
        assert lg.reserved[name] == need


@risk_settings
@given(flows)
def test_cancelling_everything_releases_every_reservation(steps):
    desk, _ = run(steps)
    desk.run(MassCancel())
    assert all(desk.reserved(n) == 0 and desk.risk.account(n).open_orders == 0 for n in NAMES)


@risk_settings
@given(flows)
def test_replay_into_a_fresh_pair_gives_identical_balances(steps):
    first, log = run(steps)
    second, log2 = run([], commands=[c for c, _ in log])
    assert log == log2
    assert first.risk.balances() == second.risk.balances()
    assert first.risk.state() == second.risk.state()
