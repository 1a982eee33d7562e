"""Self-trade prevention, per account."""

from __future__ import annotations

from matching import reasons as R
from matching.commands import SetSelfTradePrevention
from matching.constants import (
    FOK,
    SELL,
    STP_CANCEL_AGGRESSOR,
    STP_CANCEL_BOTH,
    STP_CANCEL_RESTING,
    STP_DECREMENT_AND_CANCEL,
    STP_NONE,
)
from matching.events import Cancelled, Restated
from tests.matching.helpers import Exchange, of_kind, px, reasons


def stp_exchange(mode: int) -> Exchange:
    return Exchange(self_trade_prevention={"A": mode})


def test_without_stp_an_account_may_trade_with_itself() -> None:
    x = Exchange()
    x.sell(10, px(0), account="A")
    x.buy(10, px(0), account="A")
    assert len(x.trades()) == 1


def test_stp_cancel_resting_cancels_the_own_resting_order_and_keeps_matching() -> None:
    x = stp_exchange(STP_CANCEL_RESTING)
    own = x.sell(10, px(0), account="A")
    other = x.sell(10, px(0), account="B")
    aggressor = x.buy(10, px(0), account="A")
    assert [(c.order_id, c.reason) for c in of_kind(x.events, Cancelled)] == \
        [(own, R.SELF_TRADE)]
    assert x.fills() == [(aggressor, other, px(0), 10)]


def test_stp_cancel_aggressor_cancels_the_incoming_order() -> None:
    x = stp_exchange(STP_CANCEL_AGGRESSOR)
    other = x.sell(5, px(0), account="B")
    own = x.sell(10, px(0), account="A")
    aggressor = x.buy(20, px(0), account="A")
    assert x.fills() == [(aggressor, other, px(0), 5)]
    (cancelled,) = of_kind(x.events, Cancelled)
    assert (cancelled.order_id, cancelled.reason, cancelled.cancelled_qty,
            cancelled.cum_qty) == (aggressor, R.SELF_TRADE, 15, 5)
    assert x.queue(SELL, px(0)) == [own]


def test_stp_cancel_both_cancels_both_orders() -> None:
    x = stp_exchange(STP_CANCEL_BOTH)
    own = x.sell(10, px(0), account="A")
    aggressor = x.buy(20, px(0), account="A")
    assert not x.trades()
    assert [c.order_id for c in of_kind(x.events, Cancelled)] == [own, aggressor]
    assert x.engine.orders == {}


def test_stp_decrement_and_cancel_reduces_the_larger_and_cancels_the_smaller() -> None:
    x = stp_exchange(STP_DECREMENT_AND_CANCEL)
    own = x.sell(30, px(0), account="A")
    aggressor = x.buy(10, px(0), account="A")
    assert not x.trades()
    restated = of_kind(x.events, Restated)
    assert restated == [Restated(restated[0].exec_id, own, R.SELF_TRADE, R.TEXT[R.SELF_TRADE],
                                 10, 20, 20, 0)]
    assert [(c.order_id, c.cancelled_qty) for c in of_kind(x.events, Cancelled)] == \
        [(aggressor, 10)]
    assert x.depth(SELL) == [(px(0), 20, 1)]


def test_stp_decrement_and_cancel_continues_matching_with_the_decremented_aggressor() -> None:
    x = stp_exchange(STP_DECREMENT_AND_CANCEL)
    own = x.sell(10, px(0), account="A")
    other = x.sell(50, px(0), account="B")
    aggressor = x.buy(30, px(0), account="A")
    assert [(c.order_id, c.cancelled_qty) for c in of_kind(x.events, Cancelled)] == [(own, 10)]
    assert [(r.order_id, r.reduced_by, r.leaves_qty) for r in of_kind(x.events, Restated)] == \
        [(aggressor, 10, 20)]
    assert x.fills() == [(aggressor, other, px(0), 20)]


def test_stp_applies_only_to_the_same_account() -> None:
    x = stp_exchange(STP_CANCEL_BOTH)
    x.sell(10, px(0), account="B")
    x.buy(10, px(0), account="A")
    assert len(x.trades()) == 1


def test_stp_mode_is_set_per_account_by_command() -> None:
    x = Exchange()
    x.do(SetSelfTradePrevention(account="A", mode=STP_CANCEL_RESTING))
    own = x.sell(10, px(0), account="A")
    x.buy(10, px(0), account="A")
    assert [c.order_id for c in of_kind(x.events, Cancelled)] == [own]
    x.do(SetSelfTradePrevention(account="A", mode=STP_NONE))
    x.sell(10, px(0), account="A")      # meets the buy that rested above
    assert len(x.trades()) == 1


def test_unknown_stp_mode_is_rejected() -> None:
    x = Exchange()
    x.do(SetSelfTradePrevention(account="A", mode=42))
    assert reasons(x.events) == [R.INVALID_STP_MODE]


def test_fok_does_not_count_own_orders_it_would_cancel() -> None:
    x = stp_exchange(STP_CANCEL_RESTING)
    x.sell(10, px(0), account="A")
    x.sell(10, px(0), account="B")
    x.buy(20, px(0), account="A", time_in_force=FOK)
    assert not x.trades()
    assert reasons(x.events) == [R.FOK_NOT_FILLABLE]


def test_fok_meeting_an_own_order_under_cancel_aggressor_does_not_trade() -> None:
    x = stp_exchange(STP_CANCEL_AGGRESSOR)
    x.sell(10, px(0), account="B")
    x.sell(10, px(0), account="A")
    x.sell(10, px(0), account="B")
    x.buy(20, px(0), account="A", time_in_force=FOK)
    assert not x.trades()
    assert reasons(x.events) == [R.FOK_NOT_FILLABLE]
