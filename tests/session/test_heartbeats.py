"""Heartbeats and TestRequests: HeartBtInt of silence on our side -> Heartbeat;
1.2 x HeartBtInt without hearing from them -> TestRequest; 2.4 x -> disconnect
(QuickFIX suite 4a, 4b, 6)."""

from __future__ import annotations

import pytest

from .harness import Driver, FakeClock, decode_all, logged_on, types


def logged_on_hb(hb: int) -> Driver:
    d = Driver()
    assert types(d.logon(heartbeat=hb)) == ["A"]
    return d


def test_heartbeat_sent_after_heartbtint_of_silence_on_our_side():
    d = logged_on_hb(30)

    assert d.advance(29.9) == []
    out = d.advance(0.1)

    assert types(out) == ["0"]
    assert out[0].seq == 2
    assert 112 not in out[0]


def test_heartbeats_keep_coming_while_the_counterparty_answers():
    d = logged_on_hb(6)
    seen = []
    for _ in range(5):
        out = d.advance(6)
        seen += out
        d.send("0")
    assert types(seen) == ["0"] * 5
    assert [m.seq for m in seen] == [2, 3, 4, 5, 6]


def test_sending_anything_postpones_the_heartbeat():
    d = logged_on_hb(30)
    d.advance(20)
    assert types(d.send("1", (112, "X"))) == ["0"]  # we sent at t=20

    assert d.advance(29.9) == []
    assert types(d.advance(0.1)) == ["0"]


def test_test_request_sent_after_1_2_heartbtint_without_receiving():
    d = logged_on_hb(30)
    d.advance(30)  # our heartbeat at 30 s

    assert d.advance(5.9) == []
    out = d.advance(0.1)  # 36 s = 1.2 x 30 since their Logon

    assert types(out) == ["1"]
    assert out[0].get(112) == "TEST"
    assert not d.disconnected


def test_disconnect_after_2_4_heartbtint_without_receiving():
    d = logged_on_hb(30)

    out = d.advance(71.9)
    assert types(out) == ["0", "1"]  # the heartbeat at 30 s, the TestRequest at 36 s
    assert not d.disconnected

    assert d.advance(0.1) == []
    assert d.disconnected
    assert "heartbeat" in d.session.disconnect_reason


def test_only_one_test_request_before_the_timeout():
    d = logged_on_hb(30)

    out = d.advance(80)

    assert types(out).count("1") == 1
    assert d.disconnected


def test_answer_to_test_request_cancels_the_timeout():
    d = logged_on_hb(30)
    out = d.advance(36)
    assert types(out) == ["0", "1"]

    d.send("0", (112, "TEST"))
    assert d.advance(60) != []

    assert not d.disconnected


def test_test_request_answered_with_heartbeat_with_same_test_req_id():
    d = logged_on()

    out = d.send("1", (112, "HELLO"))

    assert types(out) == ["0"]
    assert out[0].get(112) == "HELLO"
    assert out[0].seq == 2
    assert d.session.next_target_seq == 3


def test_receiving_a_heartbeat_advances_target_and_sends_nothing():
    d = logged_on()

    assert d.send("0") == []
    assert d.session.next_target_seq == 3


def test_timers_and_sending_time_follow_the_now_given_not_a_clock():
    d = logged_on_hb(30)
    later = d.clock.wall + 30  # the fake clock itself does not move

    d.session.on_timer(later)
    out = decode_all(d.session.drain(later))

    assert types(out) == ["0"]
    assert out[0].get(52) == FakeClock(later).utc()


def test_next_deadline_is_our_heartbeat_when_they_just_spoke():
    d = logged_on_hb(30)
    start = d.clock.wall

    # Their Logon and our Logon answer were both at `start`: the earliest timer is
    # our heartbeat at +30 (the TestRequest would be at +36, the timeout at +72).
    assert d.session.next_deadline() - start == pytest.approx(30)


def test_next_deadline_is_the_test_request_after_our_heartbeat():
    d = logged_on_hb(30)
    start = d.clock.wall
    d.advance(30)  # heartbeat sent

    assert d.session.next_deadline() - start == pytest.approx(36)


def test_next_deadline_is_the_timeout_once_a_test_request_is_outstanding():
    d = logged_on_hb(30)
    start = d.clock.wall
    d.advance(36)  # heartbeat, then TestRequest

    assert d.session.next_deadline() - start == pytest.approx(72)


def test_next_deadline_moves_when_a_message_is_received():
    d = logged_on_hb(30)
    d.advance(36)
    t = d.clock.wall

    d.send("0", (112, "TEST"))

    # Heard from them at t; our last send was the TestRequest at t too.
    assert d.session.next_deadline() - t == pytest.approx(30)


def test_next_deadline_is_none_when_not_connected():
    d = logged_on()
    d.session.on_disconnect(d.clock.wall)

    assert d.session.next_deadline() is None


def test_heartbtint_zero_sends_no_heartbeats():
    d = logged_on_hb(0)

    assert d.session.next_deadline() is None
    assert d.advance(1000) == []
    assert not d.disconnected
