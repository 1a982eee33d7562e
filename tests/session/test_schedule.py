"""The daily session window (StartTime/EndTime, UTC), read from the ``now`` the
session is given: a Logon outside it is refused, EndTime logs the session out, a
Logon in a new period resets the sequence numbers.

The fake clock starts at 2023-11-14 22:13:20.250 UTC.
"""

from __future__ import annotations

import datetime as dt

import pytest

from fixserver.store import MemoryStore

from .harness import WALL_START, Driver, base_config, types

# 22:00:00 to 22:14:00: the fake clock starts 40 s before the end of the window.
WINDOW = {"start_time": dt.time(22, 0), "end_time": dt.time(22, 14)}
PERIOD_START = WALL_START - (13 * 60 + 20.25)  # 22:00:00 that day


def in_window(**kwargs: object) -> Driver:
    return Driver(config=base_config(**WINDOW), **kwargs)  # type: ignore[arg-type]


def test_logon_outside_the_session_window_is_disconnected_without_reply():
    d = Driver(config=base_config(start_time=dt.time(8, 0), end_time=dt.time(17, 0)))

    out = d.logon()

    assert out == []
    assert d.session.disconnect_reason == "Logon outside of session time"


def test_logon_inside_the_session_window_is_accepted():
    d = in_window()

    assert types(d.logon()) == ["A"]


def test_end_time_is_checked_a_second_after_the_last_check():
    d = in_window()
    d.logon(heartbeat=0)

    assert d.session.next_deadline() - d.clock.wall == pytest.approx(1.0)


def test_reaching_end_time_sends_a_logout_with_its_text():
    d = in_window()
    d.logon(heartbeat=0)
    assert d.advance(39.5) == []  # 22:13:59.750: still in the window

    out = d.advance(0.5)  # 22:14:00.250

    assert types(out) == ["5"]
    assert out[0].get(58) == "Session end time reached"
    assert not d.disconnected


def test_end_time_sends_only_one_logout():
    d = in_window()
    d.logon(heartbeat=0)
    d.advance(40)

    assert d.advance(1.5) == []


def test_logon_in_a_new_session_period_resets_the_sequence_numbers():
    store = MemoryStore()
    store.set_next_sender(7)
    store.set_next_target(7)
    store.creation_time = int(PERIOD_START) - 3600  # made in the period before
    d = in_window(store=store)

    out = d.logon()  # MsgSeqNum 1

    assert types(out) == ["A"] and out[0].seq == 1


def test_logon_in_the_period_its_store_was_made_in_keeps_the_sequence_numbers():
    store = MemoryStore()
    store.set_next_sender(7)
    store.creation_time = int(PERIOD_START) + 60
    d = in_window(store=store)

    out = d.logon()

    assert types(out) == ["A"] and out[0].seq == 7
