"""Incoming MsgSeqNum, PossDup, SendingTime, CompID and BeginString checks
(QuickFIX suite 2b, 2c, 2e, 2f, 2g, 2i, 2k, 2o, 10, 11)."""

from __future__ import annotations

import pytest

from .harness import Driver, RecordingApp, base_config, logged_on, order_fields, types


def possdup(d, offset: float = -1.0) -> list:  # noqa: ANN001 - Driver
    """Header fields of a possible duplicate sent ``offset`` seconds from now."""
    return [(43, "Y"), (122, d.clock.utc(offset))]


# -- too high -----------------------------------------------------------------


def test_msg_seq_num_too_high_sends_a_resend_request_from_the_expected_number():
    d = logged_on()

    out = d.send("0", seq=5)

    assert types(out) == ["2"]
    assert out[0].get(7) == "2"
    assert out[0].get(16) == "0"


def test_msg_seq_num_too_high_sends_only_one_resend_request_while_the_gap_is_open():
    d = logged_on()
    d.next_seq = 5

    out = d.send("0") + d.send("0") + d.order("X") + d.send("1", (112, "T"))

    assert types(out) == ["2"]


def test_messages_past_a_gap_are_queued_not_processed():
    app = RecordingApp()
    d = logged_on(app=app)
    d.next_seq = 4

    d.order("O4")
    out = d.send("1", (112, "QUEUED"))

    assert app.messages == []
    assert out == []  # the TestRequest is not answered before the gap is filled
    assert d.session.next_target_seq == 2


def test_queued_messages_are_processed_in_order_when_the_gap_fills():
    app = RecordingApp()
    d = logged_on(app=app)
    d.next_seq = 5
    d.order("O5")
    d.order("O6")
    d.send("1", (112, "T7"))
    d.order("O8")
    assert app.messages == []

    # The counterparty resends 2 and 3 and gap-fills 4.
    d.order("O2", seq=2, header=possdup(d))
    d.order("O3", seq=3, header=possdup(d))
    out = d.send("4", (36, 5), (123, "Y"), seq=4, header=possdup(d))

    assert app.received() == ["O2", "O3", "O5", "O6", "O8"]
    assert types(out) == ["0"] and out[0].get(112) == "T7"
    assert d.session.next_target_seq == 9


def test_queued_messages_out_of_arrival_order_are_processed_by_msg_seq_num():
    app = RecordingApp()
    d = logged_on(app=app)
    d.order("O4", seq=4)
    d.order("O3", seq=3)

    d.order("O2", seq=2, header=possdup(d))

    assert app.received() == ["O2", "O3", "O4"]
    assert d.session.next_target_seq == 5


def test_a_new_gap_after_the_first_one_is_filled_gets_its_own_resend_request():
    d = logged_on()
    assert types(d.send("0", seq=4)) == ["2"]
    d.send("4", (36, 4), (123, "Y"), seq=2, header=possdup(d))
    assert d.session.next_target_seq == 5

    out = d.send("0", seq=8)

    assert types(out) == ["2"]
    assert out[0].get(7) == "5"


def test_a_new_gap_after_a_high_logon_was_gap_filled_gets_a_resend_request():
    d = Driver()
    out = d.logon(seq=5)
    assert types(out) == ["A", "2"]
    d.send("4", (36, 5), (123, "Y"), seq=1, header=possdup(d))
    assert d.session.next_target_seq == 6  # gap filled, queued Logon counted

    out = d.send("0", seq=8)  # 6 and 7 were lost

    assert types(out) == ["2"]
    assert out[0].get(7) == "6"


# -- too low ------------------------------------------------------------------


def test_msg_seq_num_too_low_without_possdup_logs_out_and_disconnects():
    d = logged_on()
    d.send("0")
    d.send("0")
    d.send("0")  # expecting 5 now

    out = d.send("0", seq=2)

    assert types(out) == ["5"]
    assert out[0].get(58) == "MsgSeqNum too low, expecting 5 but received 2"
    assert d.disconnected


def test_msg_seq_num_too_low_does_not_reach_the_application():
    app = RecordingApp()
    d = logged_on(app=app)
    d.order("O2")

    d.order("O2-again", seq=2)

    assert app.received() == ["O2"]


def test_possdup_too_low_with_orig_sending_time_is_ignored():
    app = RecordingApp()
    d = logged_on(app=app)
    d.order("O2")
    d.order("O3")

    out = d.order("O2", seq=2, header=possdup(d))

    assert out == []
    assert not d.disconnected
    assert app.received() == ["O2", "O3"]
    assert d.session.next_target_seq == 4


def test_possdup_gap_fill_too_low_is_ignored():
    """10_MsgSeqNumLess.def: a SequenceReset-GapFill with PossDup=Y below the expected
    number is dropped; the session carries on."""
    d = logged_on()

    out = d.send("4", (36, 20), (123, "Y"), seq=1, header=possdup(d))
    assert out == []
    assert d.session.next_target_seq == 2

    hb = d.send("1", (112, "HELLO"), seq=2)
    assert types(hb) == ["0"] and hb[0].get(112) == "HELLO"


def test_gap_fill_too_low_without_possdup_logs_out():
    d = logged_on()
    d.send("0")

    out = d.send("4", (36, 20), (123, "Y"), seq=1)

    assert types(out) == ["5"]
    assert out[0].get(58) == "MsgSeqNum too low, expecting 3 but received 1"
    assert d.disconnected


def test_possdup_without_orig_sending_time_is_rejected_with_tag_122_missing():
    d = logged_on()
    d.order("O2")
    d.order("O3")

    out = d.order("O2", seq=2, header=[(43, "Y")])

    assert types(out) == ["3"]
    rej = out[0]
    assert rej.get(45) == "2"
    assert rej.get(58) == "Required tag missing"
    assert rej.get(371) == "122"
    assert rej.get(372) == "D"
    assert rej.get(373) == "1"
    assert not d.disconnected
    assert d.session.next_target_seq == 4  # the reject does not consume a number


def test_orig_sending_time_later_than_sending_time_is_rejected_then_logged_out():
    d = logged_on()
    d.order("O2")
    d.order("O3")

    out = d.order("O2", seq=2, header=possdup(d, offset=+10))

    assert types(out) == ["3", "5"]
    rej = out[0]
    assert rej.get(45) == "2"
    assert rej.get(58) == "SendingTime accuracy problem"
    assert rej.get(372) == "D"
    assert rej.get(373) == "10"
    assert 371 not in rej


# -- SendingTime, CompID, BeginString ----------------------------------------------


@pytest.mark.parametrize("offset", [-121, +121])
def test_sending_time_beyond_max_latency_is_rejected_then_logged_out(offset):
    d = logged_on()

    out = d.send("0", sending_time=d.clock.utc(offset))

    assert types(out) == ["3", "5"]
    rej = out[0]
    assert rej.get(45) == "2"
    assert rej.get(58) == "SendingTime accuracy problem"
    assert rej.get(372) == "0"
    assert rej.get(373) == "10"
    assert out[1].get(58) is None


def test_sending_time_within_max_latency_is_accepted():
    d = logged_on()

    assert d.send("1", (112, "X"), sending_time=d.clock.utc(-119)) != []
    assert d.session.next_target_seq == 3


def test_max_latency_is_configurable():
    d = Driver(config=base_config(max_latency=5))
    d.logon()

    out = d.send("0", sending_time=d.clock.utc(-6))

    assert types(out) == ["3", "5"]


def test_sending_time_is_not_checked_when_check_latency_is_off():
    d = Driver(config=base_config(check_latency=False))
    d.logon()

    out = d.send("1", (112, "X"), sending_time=d.clock.utc(-3600))

    assert types(out) == ["0"]


@pytest.mark.parametrize(("sender", "target"), [("WT", "ISLD"), ("TW44", "DLSI"), ("WT", "DLSI")])
def test_wrong_comp_id_mid_session_is_rejected_then_logged_out(sender, target):
    app = RecordingApp()
    d = logged_on(app=app)

    out = d.send("D", *order_fields("ID", d.clock.utc()), sender=sender, target=target)

    assert types(out) == ["3", "5"]
    rej = out[0]
    assert rej.get(45) == "2"
    assert rej.get(58) == "CompID problem"
    assert rej.get(372) == "D"
    assert rej.get(373) == "9"
    assert app.messages == []


def test_logout_after_a_reject_waits_for_the_counterpartys_logout():
    d = logged_on()
    d.send("0", sending_time=d.clock.utc(200))
    assert not d.disconnected

    out = d.send("5")

    assert out == []  # no second Logout
    assert d.disconnected


def test_wrong_begin_string_mid_session_logs_out_incorrect_begin_string():
    d = logged_on()

    out = d.send("1", (112, "id"), begin_string="FIX.4.1")

    assert types(out) == ["5"]
    assert out[0].get(58) == "Incorrect BeginString"
    assert out[0].seq == 2


def test_wrong_begin_string_then_their_logout_disconnects():
    d = logged_on()
    d.send("1", (112, "id"), begin_string="FIX.4.1")

    assert d.send("5") == []
    assert d.disconnected


# -- SequenceReset ------------------------------------------------------------------


def test_sequence_reset_gap_fill_moves_the_expected_number_forward():
    d = logged_on()

    out = d.send("4", (36, 10), (123, "Y"))

    assert out == []
    assert d.session.next_target_seq == 10
    d.next_seq = 10
    assert types(d.send("1", (112, "X"))) == ["0"]


def test_sequence_reset_reset_mode_moves_the_expected_number_forward():
    d = logged_on()

    out = d.send("4", (36, 20), seq=99)  # Reset mode ignores MsgSeqNum

    assert out == []
    assert d.session.next_target_seq == 20


def test_sequence_reset_reset_mode_lower_new_seq_no_is_rejected_value_incorrect():
    """11c_NewSeqNoLess.def"""
    d = logged_on()

    out = d.send("4", (36, 1), seq=0)

    assert types(out) == ["3"]
    rej = out[0]
    assert rej.get(45) == "0"
    assert rej.get(58) == "Value is incorrect (out of range) for this tag"
    assert rej.get(372) == "4"
    assert rej.get(373) == "5"
    assert 371 not in rej
    assert d.session.next_target_seq == 2
    assert not d.disconnected


def test_sequence_reset_with_new_seq_no_equal_changes_nothing():
    d = logged_on()

    out = d.send("4", (36, 2), seq=2)

    assert out == []
    assert d.session.next_target_seq == 2
