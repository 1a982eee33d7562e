"""consumers.audit.SpoolWatch: how the server reacts to an audit trail that falls
behind (its spool, the event log after the trail's checkpoint, fills up)."""

from __future__ import annotations

import logging

import pytest

from consumers.audit import SpoolWatch


def test_a_trail_within_its_limit_refuses_nothing() -> None:
    watch = SpoolWatch(limit=10, policy="reject_orders")
    watch.update(9, 30.0, 0.0)
    assert (watch.full, watch.refusal()) == (False, None)


def test_a_full_spool_with_reject_orders_gives_the_reason_new_orders_are_refused() -> None:
    watch = SpoolWatch(limit=10, policy="reject_orders")
    watch.update(10, 3.0, 0.0)
    assert watch.full
    assert watch.refusal() == ("the exchange's audit trail is 10 entries behind; new orders "
                               "are refused until it catches up")


def test_a_full_spool_with_keep_trading_refuses_nothing() -> None:
    watch = SpoolWatch(limit=10, policy="keep_trading")
    watch.update(50, 3.0, 0.0)
    assert (watch.full, watch.refusal()) == (True, None)


def test_a_spool_that_drains_below_its_limit_accepts_orders_again() -> None:
    watch = SpoolWatch(limit=10, policy="reject_orders")
    watch.update(10, 3.0, 0.0)
    watch.update(9, 3.0, 1.0)
    assert (watch.full, watch.refusal()) == (False, None)


def test_the_alert_is_logged_once_when_full_and_once_when_drained(
        caplog: pytest.LogCaptureFixture) -> None:
    watch = SpoolWatch(limit=10, policy="keep_trading")
    with caplog.at_level(logging.INFO, logger="consumers.audit"):
        for now in range(3):
            watch.update(20, 3.0, float(now))
        watch.update(0, 0.0, 3.0)
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if m.startswith("ALERT audit trail: spool full")]) == 1
    assert [m for m in messages if "below its limit again" in m] == [
        "audit trail: spool below its limit again (0 entries behind)"]


def test_a_lag_is_warned_about_after_a_while_and_not_at_every_look(
        caplog: pytest.LogCaptureFixture) -> None:
    watch = SpoolWatch(limit=1000, policy="keep_trading")
    with caplog.at_level(logging.WARNING, logger="consumers.audit"):
        watch.update(5, 1.0, 0.0)            # a busy trail: normal
        for now in range(1, 12):
            watch.update(5, 6.0 + now, float(now))
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == ["audit trail behind by 5 entries (7.0 s)",
                        "audit trail behind by 5 entries (17.0 s)"]
