"""Logon: the acceptor answers a valid Logon with its own and refuses a bad one
without a word (QuickFIX suite 1a, 1c, 1d, SessionReset)."""

from __future__ import annotations

from fixserver.store import MemoryStore

from .harness import Driver, RecordingApp, base_config, logged_on, types


def test_logon_is_answered_with_a_logon_carrying_the_clients_heartbtint():
    d = Driver(config=base_config(heartbeat_interval=30))

    out = d.logon(heartbeat=17)

    assert types(out) == ["A"]
    logon = out[0]
    assert logon.seq == 1
    assert logon.get(98) == "0"
    assert logon.get(108) == "17"  # an acceptor takes the initiator's HeartBtInt
    assert logon.get(49) == "ISLD" and logon.get(56) == "TW44"
    assert 141 not in logon
    assert d.session.logged_on
    assert d.session.heartbeat_interval == 17


def test_logon_response_echoes_reset_seq_num_flag_when_requested():
    d = Driver()

    out = d.logon(reset=True)

    assert types(out) == ["A"]
    assert out[0].get(141) == "Y"
    assert out[0].seq == 1


def test_logon_tells_the_application():
    app = RecordingApp()
    d = Driver(app=app)

    d.logon()

    assert app.logons == 1


def test_logon_advances_the_expected_target_seq_num():
    d = logged_on()

    assert d.session.next_target_seq == 2
    assert d.session.next_sender_seq == 2


def test_reset_on_logon_resets_both_sequence_numbers():
    store = MemoryStore()
    store.set_next_sender(40)
    store.set_next_target(30)
    d = Driver(config=base_config(reset_on_logon=True), store=store)

    out = d.logon(seq=1)

    assert types(out) == ["A"]
    assert out[0].seq == 1  # our Logon restarts at 1
    assert d.session.next_sender_seq == 2
    assert d.session.next_target_seq == 2  # their Logon was 1


def test_reset_seq_num_flag_mid_session_restarts_both_sequence_numbers():
    """SessionReset.def: a Logon 141=Y with MsgSeqNum 1 while logged on."""
    d = logged_on()
    for _ in range(8):
        d.send("0")
    assert d.send("1", (112, "1"))[0].seq == 2

    out = d.logon(reset=True, seq=1, connect=False)

    assert types(out) == ["A"]
    assert out[0].seq == 1 and out[0].get(141) == "Y"
    d.next_seq = 2
    hb = d.send("1", (112, "1"))
    assert types(hb) == ["0"] and hb[0].seq == 2 and hb[0].get(112) == "1"


def test_without_reset_sequence_numbers_carry_over_to_the_next_logon():
    store = MemoryStore()
    store.set_next_sender(40)
    store.set_next_target(30)
    d = Driver(store=store)

    out = d.logon(seq=30)

    assert types(out) == ["A"]
    assert out[0].seq == 40
    assert d.session.next_target_seq == 31


def test_logon_with_msg_seq_num_too_high_gets_logon_then_one_resend_request():
    d = Driver()

    out = d.logon(seq=5)

    assert types(out) == ["A", "2"]
    assert out[0].seq == 1
    rr = out[1]
    assert rr.seq == 2
    assert rr.get(7) == "1"  # BeginSeqNo: what we expect
    assert rr.get(16) == "0"  # EndSeqNo: "everything after" in FIX 4.2+


def test_gap_fill_after_a_high_logon_processes_the_queued_messages():
    app = RecordingApp()
    d = Driver(app=app)
    d.logon(seq=5)
    d.next_seq = 6
    # Two orders arrive while the gap 1..4 is still open: queued, not processed.
    assert d.order("Q6") == []
    assert d.order("Q7") == []
    assert app.messages == []

    d.send("4", (36, 5), (123, "Y"), seq=1,
           header=[(43, "Y"), (122, d.clock.utc())])

    assert app.received() == ["Q6", "Q7"]
    assert d.session.next_target_seq == 8


def test_logon_with_sending_time_out_of_range_is_disconnected_without_reply():
    app = RecordingApp()
    d = Driver(app=app)

    out = d.logon(sending_time=d.clock.utc(-121))

    assert out == []
    assert d.disconnected
    assert not d.session.logged_on
    assert app.logons == 0


def test_logon_with_a_wrong_sender_comp_id_is_disconnected_without_reply():
    d = Driver()

    out = d.logon(sender="WT")

    assert out == []
    assert d.disconnected
    assert not d.session.logged_on


def test_logon_with_a_wrong_target_comp_id_is_disconnected_without_reply():
    d = Driver()

    out = d.logon(target="DLSI")

    assert out == []
    assert d.disconnected


def test_logon_failing_validation_is_disconnected_without_reply():
    d = Driver()
    d.connect()

    # HeartBtInt (108) is required in a Logon.
    out = d.send("A", (98, 0))

    assert out == []
    assert d.disconnected
    assert not d.session.logged_on


def test_logon_with_a_malformed_field_is_disconnected_without_reply():
    d = Driver()
    d.connect()

    out = d.send("A", (98, 0), (108, "abc"))

    assert out == []
    assert d.disconnected


def test_refused_logon_does_not_consume_sequence_numbers():
    d = Driver()

    d.logon(sending_time=d.clock.utc(+300))

    assert d.session.next_sender_seq == 1
    assert d.session.next_target_seq == 1


def test_no_logon_within_logon_timeout_disconnects():
    d = Driver(config=base_config(logon_timeout=10))
    d.connect()

    assert d.session.next_deadline() == d.clock.wall + 10
    assert d.advance(9.9) == [] and not d.disconnected
    assert d.advance(0.2) == []
    assert d.disconnected


def test_second_logon_without_reset_while_logged_on_is_disconnected_without_reply():
    app = RecordingApp()
    d = Driver(app=app)
    d.logon()
    d.send("0")

    out = d.logon(connect=False)  # MsgSeqNum 3, no 141=Y

    assert out == []
    assert d.disconnected
    assert app.logons == 1
