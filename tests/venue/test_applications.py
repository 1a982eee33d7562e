"""The venue's applications seen from their sessions: what a logon does.

Real sessions (the sans-IO session with a memory store, driven by the session test
harness) with the venue's applications behind them.
"""

from __future__ import annotations

from tests.session.harness import Driver, base_config, types
from venue.application import DropCopyApplication


def test_a_drop_copy_session_with_cancel_on_disconnect_logs_on_and_off() -> None:
    # It has no orders: CancelOnDisconnect=Y has nothing to journal or cancel.
    driver = Driver(config=base_config(cancel_on_disconnect=True),
                    app=DropCopyApplication())
    assert types(driver.logon()) == ["A"]
    driver.session.on_disconnect(driver.clock.wall)
    assert not driver.session.logged_on
