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


def test_logon_outside_the_session_window_is_refused_with_a_logout_saying_when_it_opens():
    d = Driver(config=base_config(start_time=dt.time(8, 0), end_time=dt.time(17, 0)))

    out = d.logon()

    assert types(out) == ["5"]
    assert out[0].get(58) == ("Logon outside of session time: the session opens at "
                              "2023-11-15 08:00:00 UTC")
    assert d.session.disconnect_reason is not None


def test_logon_inside_the_session_window_is_accepted():
    d = in_window()

    assert types(d.logon()) == ["A"]


def test_the_timer_is_due_at_end_time():
    d = in_window()
    d.logon(heartbeat=0)

    assert d.session.next_deadline() == pytest.approx(PERIOD_START + 14 * 60)


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


# -- QuickFIX's schedules at the session's boundaries --------------------------------------
# The fake clock starts on a Tuesday (2023-11-14), 22:13:20.250 UTC.


def test_a_24_hour_session_is_logged_out_at_start_time_and_starts_a_new_period():
    d = Driver(config=base_config(start_time=dt.time(22, 14), end_time=dt.time(22, 14)))
    d.logon(heartbeat=0)
    d.order("before")                                   # MsgSeqNum 2 in the old period

    out = d.advance(40)                                 # 22:14:00.250: the period ends

    assert types(out) == ["5"] and out[0].get(58) == "Session end time reached"


def test_after_the_24_hour_boundary_a_logon_resets_the_sequence_numbers():
    # 00:00 to 00:00: a store made yesterday belongs to the period before today's.
    store = MemoryStore()
    store.set_next_sender(7)
    store.set_next_target(7)
    store.creation_time = int(WALL_START) - 86400        # yesterday's period
    d = Driver(config=base_config(start_time=dt.time(0, 0), end_time=dt.time(0, 0)),
               store=store)

    out = d.logon()

    assert types(out) == ["A"] and out[0].seq == 1


def test_a_session_that_never_closes_keeps_its_sequence_numbers_across_days():
    store = MemoryStore()
    store.set_next_sender(7)
    store.set_next_target(7)
    store.creation_time = int(WALL_START) - 10 * 86400
    d = Driver(config=base_config(), store=store)

    out = d.logon(seq=7)

    assert types(out) == ["A"] and out[0].seq == 7


def test_a_non_stop_session_ignores_its_window():
    d = Driver(config=base_config(start_time=dt.time(8, 0), end_time=dt.time(17, 0),
                                  non_stop_session=True))

    assert types(d.logon()) == ["A"]


def test_a_logon_over_a_week_end_is_told_the_day_the_week_opens():
    # Monday 08:00 to Friday 17:00: the clock's Tuesday 22:13 is inside, so move to Saturday.
    d = Driver(config=base_config(start_time=dt.time(8, 0), end_time=dt.time(17, 0),
                                  start_day=0, end_day=4))
    d.clock.advance(4 * 86400)                           # Saturday 2023-11-18

    out = d.logon()

    assert types(out) == ["5"]
    assert out[0].get(58) == ("Logon outside of session time: the session opens at "
                              "2023-11-20 08:00:00 UTC")


def test_a_weekly_session_is_logged_out_at_its_end_day_and_time():
    d = Driver(config=base_config(start_time=dt.time(8, 0), end_time=dt.time(17, 0),
                                  start_day=0, end_day=1))   # Monday 08:00 to Tuesday 17:00
    d.clock.advance(-6 * 3600)                          # Tuesday 16:13:20.250
    d.logon(heartbeat=0)

    out = d.advance(47 * 60)                            # past 17:00

    assert types(out) == ["5"] and out[0].get(58) == "Session end time reached"


def test_the_window_is_read_in_the_time_zone():
    # 17:00 to 18:00 in New York is 22:00 to 23:00 UTC in November: the clock is inside.
    d = Driver(config=base_config(start_time=dt.time(17, 0), end_time=dt.time(18, 0),
                                  time_zone="America/New_York"))

    assert types(d.logon()) == ["A"]


def test_the_refusal_text_uses_the_zone_of_the_schedule():
    d = Driver(config=base_config(start_time=dt.time(9, 0), end_time=dt.time(16, 0),
                                  time_zone="America/New_York"))

    out = d.logon()

    assert out[0].get(58) == ("Logon outside of session time: the session opens at "
                              "2023-11-15 09:00:00 EST")


def test_a_logon_later_in_a_24_hour_period_keeps_the_sequence_numbers():
    store = MemoryStore()
    store.set_next_sender(7)
    store.set_next_target(7)
    store.creation_time = int(WALL_START) - 3600          # earlier today: the same period
    d = Driver(config=base_config(start_time=dt.time(0, 0), end_time=dt.time(0, 0)),
               store=store)

    out = d.logon(seq=7)

    assert types(out) == ["A"] and out[0].seq == 7
