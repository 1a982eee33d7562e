"""T+0 settlement, fees, reservation release on every event kind, kill switches,
the message throttle and snapshots."""

from __future__ import annotations

import msgspec

from matching.commands import EndOfDay, MassCancel, NewOrder, SetSelfTradePrevention
from matching.constants import BUY, IOC, MARKET, STOP, STOP_LIMIT, STP_DECREMENT_AND_CANCEL
from matching.events import Accepted, Trade
from risk import checks as K
from risk.checks import RiskEngine, RiskState
from risk.config import Limits
from risk.throttle import THROTTLED, Throttle
from tests.risk.kit import ACME, RICH, Desk, accepted_oid, config, rejection

P = 100_000


def fee_desk(a_bps: int = 0, b_bps: int = 0) -> Desk:
    return Desk(config({"A": {"cash": RICH, "firm": "FA"},
                        "B": {"positions": {ACME: 1000}, "firm": "FB"}},
                       firms={"FA": Limits(fee_bps=a_bps), "FB": Limits(fee_bps=b_bps)}))


def test_trade_settles_cash_and_positions_at_the_resting_price():
    d = fee_desk()
    d.sell("B", 100, P)
    d.buy("A", 100, 101_000)                       # trades at the resting 10.00
    assert d.cash("A") == RICH - 100 * P and d.position("A") == 100
    assert d.cash("B") == 100 * P and d.position("B") == 900


def test_settlement_record_names_the_trade_and_both_accounts():
    d = fee_desk()
    d.sell("B", 40, P)
    events = d.buy("A", 40, P)
    trade_id = next(ev.trade_id for ev in events if type(ev) is Trade)
    s = d.settlements[-1]
    assert (s.trade_id, s.symbol, s.last_px, s.last_qty, s.buy_account, s.sell_account) == (
        trade_id, ACME, P, 40, "A", "B")


def test_fees_are_charged_per_firm_in_basis_points():
    d = fee_desk(a_bps=10, b_bps=25)
    d.sell("B", 100, P)
    d.buy("A", 100, P)                             # notional 1000.00
    assert d.cash("A") == RICH - 100 * P - 100 * P * 10 // 10_000
    assert d.cash("B") == 100 * P - 100 * P * 25 // 10_000
    assert d.risk.ledger.fees_collected == 100 * P * 35 // 10_000


def test_fill_releases_the_reservation_of_the_filled_part():
    d = fee_desk()
    d.buy("A", 100, P)
    assert d.reserved("A") == 100 * P
    d.sell("B", 30, P)
    assert d.reserved("A") == 70 * P


def test_buy_filled_below_its_limit_releases_the_whole_reservation():
    d = fee_desk()
    d.sell("B", 10, 98_000)
    assert rejection(d.buy("A", 10, P)) is None
    assert d.reserved("A") == 0 and d.cash("A") == RICH - 10 * 98_000


def test_cancel_releases_the_reservation():
    d = fee_desk()
    oid = accepted_oid(d.buy("A", 100, P))
    d.cancel(oid)
    assert d.reserved("A") == 0 and d.risk.account("A").open_orders == 0


def test_replace_moves_the_reservation_to_the_new_price_and_quantity():
    d = fee_desk()
    oid = accepted_oid(d.buy("A", 100, P))
    d.replace(oid, 50, 102_000)
    assert d.reserved("A") == 50 * 102_000


def test_expiry_releases_the_reservation():
    d = fee_desk()
    d.buy("A", 100, P)
    d.run(EndOfDay())
    assert d.reserved("A") == 0 and d.risk.account("A").open_orders == 0


def test_restatement_shrinks_the_reservation():
    d = Desk(config({"A": {"cash": RICH, "positions": {ACME: 100}}}))
    d.run(SetSelfTradePrevention(account="A", mode=STP_DECREMENT_AND_CANCEL))
    d.buy("A", 100, P)
    d.sell("A", 30, P)                             # decrements the resting buy by 30
    assert d.reserved("A") == 70 * P


def test_ioc_remainder_releases_the_reservation():
    d = fee_desk()
    d.sell("B", 10, P)
    d.buy("A", 50, P, time_in_force=IOC)
    assert d.reserved("A") == 0 and d.position("A") == 10


def test_market_order_without_liquidity_releases_the_reservation():
    d = fee_desk()
    d.run(NewOrder(symbol=ACME, side=BUY, order_qty=10, ord_type=MARKET, account="A"))
    assert d.reserved("A") == 0 and d.risk.account("A").open_orders == 0


def test_mass_cancel_releases_every_reservation():
    d = fee_desk()
    d.buy("A", 10, P)
    d.buy("A", 10, 99_000)
    d.run(MassCancel(account="A"))
    assert d.reserved("A") == 0


def test_open_sells_are_released_on_cancel():
    d = fee_desk()
    oid = accepted_oid(d.sell("B", 1000, P))
    d.cancel(oid)
    assert rejection(d.sell("B", 1000, P)) is None


def test_kill_switch_of_an_account_blocks_and_its_cancels_clear_open_orders():
    d = fee_desk()
    d.buy("A", 10, P)
    for command in d.risk.kill(account="A"):
        d.run(command)
    assert d.reserved("A") == 0 and d.risk.account("A").open_orders == 0
    code, text = rejection(d.buy("A", 1, P))
    assert code == K.KILL_SWITCH and "account A" in text


def test_kill_switch_of_a_firm_blocks_its_accounts():
    d = fee_desk()
    d.risk.kill(firm="FA")
    assert rejection(d.buy("A", 1, P))[0] == K.KILL_SWITCH
    assert rejection(d.sell("B", 1, P)) is None


def test_kill_switch_of_a_session_blocks_that_session_only():
    d = fee_desk()
    d.risk.kill(session="S-A")
    assert rejection(d.buy("A", 1, P))[0] == K.KILL_SWITCH
    assert rejection(d.buy("A", 1, P, session="OTHER")) is None


def test_lifted_kill_switch_lets_orders_through():
    d = fee_desk()
    d.risk.kill(account="A")
    d.risk.lift(account="A")
    assert rejection(d.buy("A", 1, P)) is None


def test_kill_switch_blocks_replaces():
    d = fee_desk()
    oid = accepted_oid(d.buy("A", 10, P))
    d.risk.kill(session="S-A")
    assert rejection(d.replace(oid, 5, P))[0] == K.KILL_SWITCH


def test_throttle_boundary_in_one_window():
    t = Throttle(3, 1000)
    assert [t.check("S", ts) for ts in (0, 1, 2)] == [None, None, None]
    code, text = t.check("S", 999)
    assert code == THROTTLED and "3 messages per 1000 ns" in text


def test_throttle_window_slides():
    t = Throttle(2, 1000)
    t.check("S", 0)
    t.check("S", 500)
    assert t.check("S", 1000) is None              # the message at 0 left the window
    assert t.check("S", 1001) is not None


def test_throttle_counts_sessions_separately():
    t = Throttle(1, 1000)
    t.check("S1", 0)
    assert t.check("S2", 0) is None


def test_snapshot_restores_identical_balances_and_behaviour():
    d = fee_desk(a_bps=5)
    d.sell("B", 100, P)
    oid = accepted_oid(d.buy("A", 150, P))
    fresh = RiskEngine(d.cfg)
    fresh.load_state(d.risk.state())
    assert fresh.balances() == d.risk.balances()
    d.risk = fresh
    d.engine.risk = fresh.check
    d.cancel(oid)
    assert d.reserved("A") == 0 and d.position("A") == 100


def test_stop_limit_buy_reserves_at_its_limit_price():
    d = fee_desk()
    d.run(NewOrder(symbol=ACME, side=BUY, order_qty=10, price=102_000, stop_px=101_000,
                   ord_type=STOP_LIMIT, account="A"))
    assert d.reserved("A") == 10 * 102_000


def test_stop_buy_reserves_at_its_stop_price_plus_the_protection_band():
    d = fee_desk()
    d.run(NewOrder(symbol=ACME, side=BUY, order_qty=10, stop_px=101_000, ord_type=STOP,
                   account="A"))
    assert d.reserved("A") == 10 * 106_000       # 10.1505 down to the tick


def test_snapshot_survives_a_json_round_trip():
    d = fee_desk(a_bps=5)
    d.sell("B", 10, P)
    d.buy("A", 30, P)
    d.risk.kill(session="X")
    fresh = RiskEngine(d.cfg)
    fresh.load_state(msgspec.json.decode(msgspec.json.encode(d.risk.state()), type=RiskState))
    assert fresh.state() == d.risk.state()


def test_process_runs_the_engine_and_returns_the_settlements():
    d = fee_desk()
    d.sell("B", 10, P)
    events, settlements = d.risk.process(
        d.engine, NewOrder(symbol=ACME, side=BUY, order_qty=10, price=P, account="A"), 99)
    assert len(settlements) == 1 and settlements[0].last_qty == 10 and d.position("A") == 10
    assert type(events[0]) is Accepted


def test_self_trade_prevention_mode_of_an_account_reaches_the_engine():
    cfg = config({"A": {"cash": RICH, "positions": {ACME: 100},
                        "self_trade_prevention": STP_DECREMENT_AND_CANCEL}})
    risk = RiskEngine(cfg)
    assert risk.self_trade_prevention() == {"A": STP_DECREMENT_AND_CANCEL}
    d = Desk(cfg, self_trade_prevention=risk.self_trade_prevention())
    d.buy("A", 100, P)
    d.sell("A", 30, P)
    assert d.position("A") == 100 and d.reserved("A") == 70 * P
