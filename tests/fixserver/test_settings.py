"""Specification of the sessions.cfg reader (QuickFIX SessionSettings format)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from fixserver.settings import SettingsError, load_sessions

REPO = Path(__file__).resolve().parents[2]

BASE = """\
[DEFAULT]
ConnectionType=acceptor
SocketAcceptPort=5001
SenderCompID=ISLD
FileStorePath=store
HeartBtInt=30

[SESSION]
BeginString=FIX.4.2
TargetCompID=TW42

[SESSION]
BeginString=FIX.4.4
TargetCompID=TW44
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sessions.cfg"
    path.write_text(text)
    return path


def load_text(tmp_path: Path, text: str):
    return load_sessions(write(tmp_path, text))


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(SettingsError) as info:
        load_text(tmp_path, text)
    return str(info.value)


def session(extra: str = "", default_extra: str = "") -> str:
    return ("[DEFAULT]\nSocketAcceptPort=5001\nSenderCompID=ISLD\n" + default_extra
            + "[SESSION]\nBeginString=FIX.4.4\nTargetCompID=TW44\n" + extra)


# -- defaults and overrides ------------------------------------------------------------


def test_every_session_inherits_the_default_values(tmp_path):
    sessions = load_text(tmp_path, BASE)
    assert [s.port for s in sessions] == [5001, 5001]
    assert [s.sender_comp_id for s in sessions] == ["ISLD", "ISLD"]
    assert [s.file_store_path for s in sessions] == ["store", "store"]


def test_a_session_overrides_a_default_value(tmp_path):
    text = BASE + "HeartBtInt=5\nSenderCompID=EXCH\n"
    first, second = load_text(tmp_path, text)
    assert (first.heartbeat_interval, first.sender_comp_id) == (30, "ISLD")
    assert (second.heartbeat_interval, second.sender_comp_id) == (5, "EXCH")


def test_sessions_are_named_by_version_and_comp_ids(tmp_path):
    assert [s.session_id for s in load_text(tmp_path, BASE)] == [
        "FIX.4.2:ISLD->TW42", "FIX.4.4:ISLD->TW44"]


def test_unset_keys_take_their_documented_defaults(tmp_path):
    (s,) = load_text(tmp_path, session())
    assert s.application == "exchange"
    assert s.heartbeat_interval == 30
    assert (s.reset_on_logon, s.reset_on_logout, s.reset_on_disconnect) == (False,) * 3
    assert (s.use_data_dictionary, s.check_comp_id, s.check_latency) == (True,) * 3
    assert s.max_latency == 120
    assert (s.validate_user_defined_fields, s.validate_fields_out_of_order,
            s.validate_fields_have_values) == (True,) * 3
    assert (s.start_time, s.end_time) == (None, None)
    assert s.data_dictionary is None


def test_every_key_reaches_its_session_setting(tmp_path):
    text = session(
        "SocketAcceptAddress=127.0.0.1\nResetOnLogon=Y\nResetOnLogout=Y\nResetOnDisconnect=Y\n"
        "DataDictionary=FIX44.xml\nUseDataDictionary=N\nCheckCompID=N\nCheckLatency=N\n"
        "MaxLatency=5\nValidateUserDefinedFields=N\nValidateFieldsOutOfOrder=N\n"
        "ValidateFieldsHaveValues=N\nStartTime=08:00:00\nEndTime=17:30:00\nLogonTimeout=3\n"
        "LogoutTimeout=4\nPersistMessages=N\nResendRequestChunkSize=100\n"
        "SendRedundantResendRequests=Y\nApplication=echo\nCancelOnDisconnect=Y\n")
    (s,) = load_text(tmp_path, text)
    assert s.address == "127.0.0.1"
    assert (s.reset_on_logon, s.reset_on_logout, s.reset_on_disconnect) == (True,) * 3
    assert s.data_dictionary == "FIX44.xml"
    assert (s.use_data_dictionary, s.check_comp_id, s.check_latency) == (False,) * 3
    assert s.max_latency == 5
    assert (s.validate_user_defined_fields, s.validate_fields_out_of_order,
            s.validate_fields_have_values) == (False,) * 3
    assert (s.start_time, s.end_time) == (dt.time(8), dt.time(17, 30))
    assert (s.logon_timeout, s.logout_timeout) == (3, 4)
    assert s.persist_messages is False
    assert s.resend_request_chunk_size == 100
    assert s.send_redundant_resend_requests is True
    assert s.application == "echo"
    assert s.cancel_on_disconnect is True


@pytest.mark.parametrize("value,expected", [("Y", True), ("y", True), ("YES", True),
                                            ("true", True), ("1", True), ("N", False),
                                            ("n", False), ("no", False), ("False", False),
                                            ("0", False)])
def test_a_bool_is_read_from_its_usual_spellings(tmp_path, value, expected):
    (s,) = load_text(tmp_path, session(f"ResetOnLogon={value}\n"))
    assert s.reset_on_logon is expected


def test_blank_lines_comments_and_spaces_around_equals_are_ignored(tmp_path):
    text = ("# a comment\n; another\n\n[DEFAULT]\n  SocketAcceptPort = 6000  \nSenderCompID=X\n"
            "[session]\nBeginString=FIX.4.2\n# TargetCompID=NO\nTargetCompID=Y\n")
    (s,) = load_text(tmp_path, text)
    assert (s.port, s.sender_comp_id, s.target_comp_id) == (6000, "X", "Y")


def test_a_file_with_only_defaults_has_no_sessions(tmp_path):
    assert load_text(tmp_path, "[DEFAULT]\nSocketAcceptPort=5001\n") == []


# -- errors --------------------------------------------------------------------------


def test_an_unknown_key_names_the_key_and_its_file_and_line(tmp_path):
    text = session("HeartBeatInt=30\n")
    message = error_of(tmp_path, text)
    assert "HeartBeatInt" in message
    assert f"{tmp_path / 'sessions.cfg'}:7:" in message


def test_an_unknown_key_in_the_default_section_is_an_error(tmp_path):
    message = error_of(tmp_path, session(default_extra="SocketAcceptPrt=1\n"))
    assert "SocketAcceptPrt" in message
    assert "sessions.cfg:4:" in message


def test_a_bad_bool_names_the_key_and_the_line(tmp_path):
    message = error_of(tmp_path, session("ResetOnLogon=maybe\n"))
    assert "ResetOnLogon" in message and "maybe" in message and "sessions.cfg:7:" in message


def test_a_bad_int_names_the_key_and_the_line(tmp_path):
    message = error_of(tmp_path, session("HeartBtInt=thirty\n"))
    assert "HeartBtInt" in message and "sessions.cfg:7:" in message


def test_an_empty_int_is_an_error(tmp_path):
    assert "MaxLatency" in error_of(tmp_path, session("MaxLatency=\n"))


def test_a_bad_time_is_an_error(tmp_path):
    message = error_of(tmp_path, session("StartTime=25:00:00\nEndTime=17:00:00\n"))
    assert "StartTime" in message and "sessions.cfg:7:" in message


def test_a_bad_application_names_the_allowed_values(tmp_path):
    message = error_of(tmp_path, session("Application=matching\n"))
    assert "Application" in message and "matching" in message
    assert "exchange" in message and "dropcopy" in message and "echo" in message


@pytest.mark.parametrize("key", ["SocketAcceptPort", "BeginString", "SenderCompID",
                                 "TargetCompID"])
def test_a_session_lacking_a_required_key_is_an_error(tmp_path, key):
    lines = [line for line in session().splitlines() if not line.startswith(key + "=")]
    message = error_of(tmp_path, "\n".join(lines) + "\n")
    assert key in message
    assert f"sessions.cfg:{lines.index('[SESSION]') + 1}:" in message


@pytest.mark.parametrize("begin", ["FIX.4.3", "FIXT.1.1", "FIX.4.0", "fix.4.4"])
def test_an_unsupported_begin_string_is_an_error(tmp_path, begin):
    text = session().replace("BeginString=FIX.4.4", f"BeginString={begin}")
    message = error_of(tmp_path, text)
    assert begin in message and "BeginString" in message


def test_a_session_defined_twice_is_an_error(tmp_path):
    text = session() + "[SESSION]\nBeginString=FIX.4.4\nTargetCompID=TW44\nSocketAcceptPort=7\n"
    message = error_of(tmp_path, text)
    assert "FIX.4.4:ISLD->TW44" in message and "twice" in message


def test_the_same_comp_ids_on_two_versions_are_two_sessions(tmp_path):
    text = session() + "[SESSION]\nBeginString=FIX.4.2\nTargetCompID=TW44\n"
    assert len(load_text(tmp_path, text)) == 2


@pytest.mark.parametrize("given,missing", [("StartTime=08:00:00", "EndTime"),
                                           ("EndTime=17:00:00", "StartTime")])
def test_start_time_and_end_time_go_together(tmp_path, given, missing):
    message = error_of(tmp_path, session(given + "\n"))
    assert missing in message


def test_an_initiator_session_is_an_error(tmp_path):
    message = error_of(tmp_path, session("ConnectionType=initiator\n"))
    assert "ConnectionType" in message and "initiator" in message


def test_an_unknown_section_is_an_error(tmp_path):
    message = error_of(tmp_path, "[DEFAULTS]\nSocketAcceptPort=1\n")
    assert "DEFAULTS" in message and "sessions.cfg:1:" in message


def test_a_setting_before_any_section_is_an_error(tmp_path):
    assert "sessions.cfg:1:" in error_of(tmp_path, "SocketAcceptPort=1\n[DEFAULT]\n")


def test_a_line_without_equals_is_an_error(tmp_path):
    message = error_of(tmp_path, session("ResetOnLogon\n"))
    assert "ResetOnLogon" in message and "sessions.cfg:7:" in message


def test_a_missing_file_is_a_settings_error(tmp_path):
    with pytest.raises(SettingsError) as info:
        load_sessions(tmp_path / "nope.cfg")
    assert "nope.cfg" in str(info.value)


# -- session time ----------------------------------------------------------------------


def at(hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(2024, 4, 15, hour, minute, second, tzinfo=dt.UTC)


def test_a_session_without_start_and_end_time_is_always_in_session(tmp_path):
    (s,) = load_text(tmp_path, session())
    assert all(s.in_session_time(at(h)) for h in range(24))


def test_a_same_day_window_holds_the_times_between_start_and_end(tmp_path):
    (s,) = load_text(tmp_path, session("StartTime=08:00:00\nEndTime=17:00:00\n"))
    assert s.in_session_time(at(8))
    assert s.in_session_time(at(12, 30))
    assert s.in_session_time(at(17))
    assert not s.in_session_time(at(7, 59, 59))
    assert not s.in_session_time(at(17, 0, 1))
    assert not s.in_session_time(at(0))


def test_an_overnight_window_holds_the_times_after_start_and_before_end(tmp_path):
    (s,) = load_text(tmp_path, session("StartTime=22:00:00\nEndTime=06:00:00\n"))
    assert s.in_session_time(at(22))
    assert s.in_session_time(at(23, 59, 59))
    assert s.in_session_time(at(0))
    assert s.in_session_time(at(3))
    assert s.in_session_time(at(6))
    assert not s.in_session_time(at(6, 0, 1))
    assert not s.in_session_time(at(12))
    assert not s.in_session_time(at(21, 59, 59))


# -- the shipped configuration ----------------------------------------------------------


def test_the_conformance_sessions_load_as_two_sessions_on_one_port():
    sessions = load_sessions(REPO / "tests" / "conformance" / "sessions.cfg")
    assert [s.session_id for s in sessions] == ["FIX.4.2:ISLD->TW42", "FIX.4.4:ISLD->TW44"]
    assert len({s.port for s in sessions}) == 1
    assert all(s.application == "echo" and s.reset_on_logon for s in sessions)
    assert [s.data_dictionary for s in sessions] == ["FIX42.xml", "FIX44.xml"]
