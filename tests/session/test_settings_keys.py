"""QuickFIX session settings the session itself carries out: TimeStampPrecision and
MillisecondsInTimeStamp (SendingTime), SendLogoutBeforeDisconnectFromTimeout and
RefreshOnLogon."""

from __future__ import annotations

import re

from fixserver.store import FileStore

from .harness import Driver, base_config, logged_on, types


def sending_time(d: Driver) -> str:
    out = d.send("1", (112, "T"))          # a TestRequest: answered with a Heartbeat
    return out[0].get(52)


def test_sending_time_has_milliseconds_by_default():
    assert re.fullmatch(r"\d{8}-\d\d:\d\d:\d\d\.\d{3}", sending_time(logged_on()))


def test_timestamp_precision_sets_the_digits_of_the_second():
    d = logged_on(config=base_config(timestamp_precision=6))
    assert re.fullmatch(r"\d{8}-\d\d:\d\d:\d\d\.\d{6}", sending_time(d))


def test_timestamp_precision_0_has_no_fraction():
    d = logged_on(config=base_config(timestamp_precision=0))
    assert re.fullmatch(r"\d{8}-\d\d:\d\d:\d\d", sending_time(d))


def test_milliseconds_in_timestamp_n_has_no_fraction():
    d = logged_on(config=base_config(milliseconds_in_timestamp=False))
    assert re.fullmatch(r"\d{8}-\d\d:\d\d:\d\d", sending_time(d))


def test_timestamp_precision_wins_over_milliseconds_in_timestamp():
    d = logged_on(config=base_config(milliseconds_in_timestamp=False, timestamp_precision=9))
    assert re.fullmatch(r"\d{8}-\d\d:\d\d:\d\d\.\d{9}", sending_time(d))


def test_a_heartbeat_timeout_disconnects_without_a_logout_by_default():
    d = logged_on()
    out = d.advance(2.4 * 30 + 1)

    assert "5" not in types(out)
    assert d.session.disconnect_reason == "timed out waiting for a heartbeat"


def test_send_logout_before_disconnect_from_timeout_sends_a_logout_first():
    d = logged_on(config=base_config(send_logout_before_timeout_disconnect=True))
    out = d.advance(2.4 * 30 + 1)

    assert types(out)[-1] == "5" and out[-1].get(58) == "Timed out waiting for heartbeat"
    assert d.session.disconnect_reason == "timed out waiting for a heartbeat"


def test_refresh_on_logon_reads_sequence_numbers_another_process_wrote(tmp_path):
    ours = FileStore(tmp_path, "S")
    d = Driver(config=base_config(refresh_on_logon=True), store=ours)
    standby = FileStore(tmp_path, "S")       # the same files, as a standby would have them
    standby.set_next_sender(40)
    standby.set_next_target(3)

    out = d.logon(seq=3)

    assert types(out) == ["A"] and out[0].seq == 40
    standby.close()
    ours.close()


def test_without_refresh_on_logon_the_store_in_memory_is_used(tmp_path):
    ours = FileStore(tmp_path, "S")
    d = Driver(config=base_config(), store=ours)
    standby = FileStore(tmp_path, "S")
    standby.set_next_sender(40)

    out = d.logon()

    assert types(out) == ["A"] and out[0].seq == 1
    standby.close()
    ours.close()
