"""The pre-trade risk hook, and snapshot/restore."""

from __future__ import annotations

from matching import reasons as R
from matching.commands import NewOrder, Replace, SetPhase
from matching.constants import BUY, OPENING_AUCTION, SELL, STOP, STP_CANCEL_RESTING
from matching.engine import Engine
from matching.events import Rejected
from matching.orders import Order
from matching.snapshot import ORDER_FIELDS, OrderColumns
from tests.matching.helpers import SYM, Exchange, make_engine, px, reasons

# ---------------------------------------------------------------- risk hook


class MaxQty:
    """A toy risk check: refuse orders above a quantity, remember what it saw."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen: list[tuple[NewOrder | Replace, Order | None]] = []

    def __call__(self, command: NewOrder | Replace, order: Order | None
                 ) -> tuple[str, str] | None:
        self.seen.append((command, order))
        qty = command.order_qty
        if qty > self.limit:
            return "MAX_QTY", f"quantity {qty} above {self.limit}"
        return None


def test_risk_hook_rejection_becomes_a_rejected_event() -> None:
    x = Exchange(risk=MaxQty(100))
    x.sell(50, px(0))
    x.buy(500, px(0))
    assert x.events == [Rejected(2, "MAX_QTY", "quantity 500 above 100", x.events[0].command)]
    assert x.engine.depth(SYM, SELL) == [(px(0), 50, 1)]


def test_risk_hook_is_consulted_before_matching_and_passes_valid_orders() -> None:
    risk = MaxQty(100)
    x = Exchange(risk=risk)
    x.sell(50, px(0))
    x.buy(50, px(0))
    assert len(x.trades()) == 1
    assert [order for _, order in risk.seen] == [None, None]


def test_risk_hook_is_not_consulted_for_orders_the_engine_rejects_itself() -> None:
    risk = MaxQty(100)
    x = Exchange(risk=risk)
    x.buy(50, px(0) + 1)
    assert risk.seen == []


def test_risk_hook_sees_replaces_with_the_open_order() -> None:
    risk = MaxQty(100)
    x = Exchange(risk=risk)
    oid = x.buy(50, px(0))
    x.replace(oid, 500, px(0))
    assert reasons(x.events) == ["MAX_QTY"]
    command, order = risk.seen[-1]
    assert isinstance(command, Replace) and order is not None and order.oid == oid


def test_risk_hook_may_answer_with_a_bare_code() -> None:
    x = Exchange(risk=lambda command, order: R.RISK_REJECTED)
    x.buy(1, px(0))
    assert reasons(x.events) == [R.RISK_REJECTED]
    assert x.events[0].text == R.TEXT[R.RISK_REJECTED]


def test_no_risk_hook_by_default() -> None:
    assert Engine().risk is None


# ----------------------------------------------------------------- snapshot


def busy_exchange() -> Exchange:
    """A book with every kind of state: levels, icebergs, partial fills, stops, STP,
    a pending call phase on a second instrument, cancelled entries in queues."""
    x = Exchange(self_trade_prevention={"A": STP_CANCEL_RESTING}, market_protection_bps=250)
    for i in range(5):
        x.buy(10 + i, px(-i), account="A")
        x.sell(10 + i, px(i + 1), account="B")
    x.sell(100, px(1), max_floor=10)
    x.buy(25, px(1))                       # partial fills, iceberg replenished
    x.buy(5, ord_type=STOP, stop_px=px(3))
    x.sell(5, px(-9), ord_type=STOP, stop_px=px(-2))
    x.cancel(2)
    x.cancel(3)
    return x


def test_snapshot_restores_an_identical_state() -> None:
    x = busy_exchange()
    data = x.engine.snapshot()
    restored = Engine.restore(data)
    assert restored.snapshot() == data
    assert restored.depth(SYM, BUY) == x.engine.depth(SYM, BUY)
    assert restored.depth(SYM, SELL) == x.engine.depth(SYM, SELL)
    assert restored.stp == x.engine.stp
    assert restored.market_protection_bps == 250


def test_restored_engine_produces_the_same_events_for_the_same_commands() -> None:
    x = busy_exchange()
    restored = Exchange(Engine.restore(x.engine.snapshot()))
    script = [
        lambda e: e.buy(200, px(5), account="A"),        # sweeps, triggers the buy stop
        lambda e: e.sell(300, px(-5)),                   # sweeps bids, triggers the sell stop
        lambda e: e.replace(4, 5, px(-1)),
        lambda e: e.cancel(7),
        lambda e: e.do(SetPhase(symbol=SYM, phase=OPENING_AUCTION)),
        lambda e: e.buy(50, px(2)),
        lambda e: e.sell(50, px(-2)),
        lambda e: e.do(SetPhase(symbol=SYM)),
    ]
    for step in script:
        step(x)
        step(restored)
        assert restored.events == x.events
    assert restored.engine.snapshot() == x.engine.snapshot()


def test_snapshot_is_deterministic_bytes() -> None:
    assert busy_exchange().engine.snapshot() == busy_exchange().engine.snapshot()


def test_snapshot_does_not_include_the_risk_hook() -> None:
    engine = make_engine(risk=MaxQty(1))
    assert Engine.restore(engine.snapshot()).risk is None
    hook = MaxQty(1)
    assert Engine.restore(engine.snapshot(), risk=hook).risk is hook


def test_restore_refuses_bytes_that_are_not_a_matching_snapshot() -> None:
    import pickle

    import pytest

    with pytest.raises(ValueError):
        Engine.restore(pickle.dumps({"format": "something else"}))


def test_snapshot_keeps_untriggered_stops_working() -> None:
    x = Exchange()
    x.sell(10, px(0))
    stop = x.buy(5, ord_type=STOP, stop_px=px(0))
    restored = Exchange(Engine.restore(x.engine.snapshot()))
    restored.buy(5, px(0))
    assert restored.fills()[-1] == (stop, 1, px(0), 5)


def test_same_commands_give_identical_events_and_state() -> None:
    first, second = busy_exchange(), busy_exchange()
    assert first.engine.snapshot() == second.engine.snapshot()
    for x in (first, second):
        x.buy(500, px(9))
        x.do(SetPhase(symbol=SYM, phase=OPENING_AUCTION))
        x.sell(20, px(-3))
        x.do(SetPhase(symbol=SYM))
    assert first.events == second.events
    assert first.engine.snapshot() == second.engine.snapshot()


def test_snapshot_order_columns_cover_every_order_slot_but_the_level_link() -> None:
    assert sorted(ORDER_FIELDS) == sorted(set(Order.__slots__) - {"level"})
    assert OrderColumns.__struct_fields__ == (*ORDER_FIELDS, "level")


def test_a_restored_order_has_every_slot_set() -> None:
    x = busy_exchange()
    restored = Engine.restore(x.engine.snapshot())
    for order in restored.orders.values():
        assert [name for name in Order.__slots__ if not hasattr(order, name)] == []
        assert order.state() == x.engine.orders[order.oid].state()
