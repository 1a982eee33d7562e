"""Logout handshake, LogoutTimeout, and the Reset* settings (QuickFIX suite 13b, 2i)."""

from __future__ import annotations

from fixserver.store import MemoryStore

from .harness import Driver, RecordingApp, base_config, logged_on, types


def test_logout_from_the_client_is_answered_with_logout_then_disconnect():
    d = logged_on()

    out = d.send("5")

    assert types(out) == ["5"]
    assert out[0].seq == 2
    assert 58 not in out[0]
    assert d.disconnected


def test_logout_from_the_client_consumes_its_sequence_number():
    d = logged_on()

    d.send("5")

    assert d.session.next_target_seq == 3
    assert d.session.next_sender_seq == 3


def test_our_logout_followed_by_theirs_disconnects_without_another_logout():
    d = logged_on()
    ours = d.send("1", (112, "id"), begin_string="FIX.4.1")  # -> Logout "Incorrect BeginString"
    assert types(ours) == ["5"]
    assert not d.disconnected

    out = d.send("5")

    assert out == []
    assert d.disconnected


def test_no_logout_response_within_logout_timeout_disconnects():
    d = Driver(config=base_config(logout_timeout=2))
    d.logon()
    d.send("1", (112, "id"), begin_string="FIX.4.1")

    assert d.session.next_deadline() == d.clock.wall + 2
    assert d.advance(1.9) == [] and not d.disconnected
    assert d.advance(0.1) == []
    assert d.disconnected
    assert "Logout" in d.session.disconnect_reason


def test_application_is_told_of_the_logout_when_the_connection_goes():
    app = RecordingApp()
    d = logged_on(app=app)
    d.send("5")

    d.session.on_disconnect(d.clock.wall)

    assert app.logouts == 1
    assert not d.session.logged_on


def test_a_connection_that_never_logged_on_does_not_tell_the_application():
    app = RecordingApp()
    d = Driver(app=app)
    d.logon(sending_time=d.clock.utc(-500))  # refused

    d.session.on_disconnect(d.clock.wall)

    assert app.logouts == 0


def test_reset_on_logout_resets_sequence_numbers():
    d = logged_on(config=base_config(reset_on_logout=True))
    d.send("0")

    d.send("5")

    assert (d.store.next_sender_seq, d.store.next_target_seq) == (1, 1)


def test_without_reset_on_logout_sequence_numbers_are_kept():
    d = logged_on()
    d.send("0")

    d.send("5")
    d.session.on_disconnect(d.clock.wall)

    assert (d.store.next_sender_seq, d.store.next_target_seq) == (3, 4)


def test_reset_on_logout_applies_when_the_client_answers_our_logout():
    d = logged_on(config=base_config(reset_on_logout=True))
    d.send("1", (112, "id"), begin_string="FIX.4.1")

    d.send("5")

    assert (d.store.next_sender_seq, d.store.next_target_seq) == (1, 1)


def test_reset_on_disconnect_resets_sequence_numbers():
    store = MemoryStore()
    d = logged_on(config=base_config(reset_on_disconnect=True), store=store)
    d.send("0")
    assert store.next_target_seq == 3

    d.session.on_disconnect(d.clock.wall)

    assert (store.next_sender_seq, store.next_target_seq) == (1, 1)


def test_without_reset_on_disconnect_a_reconnect_continues_the_numbers():
    d = logged_on()
    d.send("0")
    d.session.on_disconnect(d.clock.wall)

    out = d.logon()  # client's 3

    assert types(out) == ["A"]
    assert out[0].seq == 2
    assert d.session.next_target_seq == 4


def test_reconnect_after_reset_on_disconnect_starts_from_one():
    d = logged_on(config=base_config(reset_on_disconnect=True))
    d.send("0")
    d.session.on_disconnect(d.clock.wall)
    d.next_seq = 1

    out = d.logon()

    assert types(out) == ["A"]
    assert out[0].seq == 1


def test_logout_with_bad_sending_time_is_rejected_and_answered_with_logout():
    d = logged_on()

    out = d.send("5", sending_time=d.clock.utc(500))

    assert types(out) == ["3", "5"]
    assert out[0].get(373) == "10" and out[0].get(372) == "5"
