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


# -- the schedule keys (their rules: tests/fixserver/test_schedule.py) ---------------------


def utc(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def test_a_session_without_start_and_end_time_is_always_open(tmp_path):
    (s,) = load_text(tmp_path, session())
    assert s.schedule.always_open
    assert all(s.schedule.is_open(utc(f"2024-04-15 {h:02d}:00")) for h in range(24))


def test_start_and_end_time_make_a_daily_window(tmp_path):
    (s,) = load_text(tmp_path, session("StartTime=08:00:00\nEndTime=17:00:00\n"))
    assert s.schedule.is_open(utc("2024-04-15 12:00"))
    assert not s.schedule.is_open(utc("2024-04-15 18:00"))


def test_equal_start_and_end_time_is_a_24_hour_session(tmp_path):
    (s,) = load_text(tmp_path, session("StartTime=00:00:00\nEndTime=00:00:00\n"))
    assert all(s.schedule.is_open(utc(f"2024-04-15 {h:02d}:30")) for h in range(24))


def test_start_and_end_day_make_a_weekly_window(tmp_path):
    (s,) = load_text(tmp_path, session("StartDay=sunday\nStartTime=17:00:00\n"
                                       "EndDay=fr\nEndTime=17:00:00\n"))
    assert s.schedule.is_open(utc("2024-04-17 12:00"))       # a Wednesday
    assert not s.schedule.is_open(utc("2024-04-20 12:00"))   # a Saturday


def test_time_zone_names_the_zone_of_start_and_end_time(tmp_path):
    (s,) = load_text(tmp_path, session("StartTime=09:00:00\nEndTime=17:00:00\n"
                                       "TimeZone=America/New_York\n"))
    assert s.schedule.is_open(utc("2024-04-15 13:30"))       # 09:30 in New York
    assert not s.schedule.is_open(utc("2024-04-15 12:30"))   # 08:30 in New York


def test_non_stop_session_never_closes(tmp_path):
    (s,) = load_text(tmp_path, session("StartTime=08:00:00\nEndTime=17:00:00\n"
                                       "NonStopSession=Y\n"))
    assert s.schedule.is_open(utc("2024-04-15 03:00"))


def test_an_unknown_time_zone_is_an_error_naming_it(tmp_path):
    assert "Mars/Olympus" in error_of(tmp_path, session("TimeZone=Mars/Olympus\n"))


def test_a_bad_day_is_an_error(tmp_path):
    text = session("StartDay=someday\nEndDay=fr\nStartTime=08:00:00\nEndTime=17:00:00\n")
    assert "StartDay" in error_of(tmp_path, text)


@pytest.mark.parametrize("given", ["StartDay=mo", "EndDay=fr"])
def test_start_day_and_end_day_go_together(tmp_path, given):
    text = session(given + "\nStartTime=08:00:00\nEndTime=17:00:00\n")
    assert "StartDay and EndDay go together" in error_of(tmp_path, text)


def test_days_need_times(tmp_path):
    assert "need StartTime" in error_of(tmp_path, session("StartDay=mo\nEndDay=fr\n"))


# -- the shipped configuration ----------------------------------------------------------


def test_the_conformance_sessions_load_as_two_sessions_on_one_port():
    sessions = load_sessions(REPO / "tests" / "conformance" / "sessions.cfg")
    assert [s.session_id for s in sessions] == ["FIX.4.2:ISLD->TW42", "FIX.4.4:ISLD->TW44"]
    assert len({s.port for s in sessions}) == 1
    assert all(s.application == "echo" and s.reset_on_logon for s in sessions)
    assert [s.data_dictionary for s in sessions] == ["FIX42.xml", "FIX44.xml"]


# -- QuickFIX's keys: implemented, ignored with a warning, unknown ---------------------------


QUICKFIX_ACCEPTOR = """\
# an acceptor file as QuickFIX's documentation writes one
[DEFAULT]
ConnectionType=acceptor
SocketAcceptPort=5001
SocketReuseAddress=Y
SocketNodelay=Y
SenderCompID=EXCH
FileStorePath=store
FileLogPath=log
StartTime=00:00:00
EndTime=00:00:00
UseDataDictionary=Y
ValidateUserDefinedFields=N
AllowUnknownMsgFields=Y
ValidateUnorderedGroupFields=N
TimeStampPrecision=6
LogonTimeout=30
LogoutTimeout=5
SendLogoutBeforeDisconnectFromTimeout=Y
RefreshOnLogon=Y
MillisecondsInTimeStamp=Y
ScreenLogShowIncoming=N
ReconnectInterval=60

[SESSION]
BeginString=FIX.4.4
TargetCompID=BRK1
SessionQualifier=MAIN

[SESSION]
BeginString=FIX.4.2
TargetCompID=BRK2
StartDay=su
StartTime=17:00:00
EndDay=fr
EndTime=17:00:00
TimeZone=America/Chicago
"""


def test_an_acceptor_file_written_as_quickfix_documents_it_loads(tmp_path):
    brk1, brk2 = load_text(tmp_path, QUICKFIX_ACCEPTOR)
    assert (brk1.file_log_path, brk1.precision, brk1.logout_timeout) == ("log", 6, 5)
    assert brk1.allow_unknown_msg_fields and not brk1.validate_unordered_group_fields
    assert brk1.refresh_on_logon and brk1.send_logout_before_timeout_disconnect
    assert brk2.schedule.weekly and str(brk2.schedule.zone) == "America/Chicago"


def test_a_key_quickfix_documents_and_the_exchange_ignores_is_a_warning_once(tmp_path, caplog):
    load_text(tmp_path, QUICKFIX_ACCEPTOR)
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert sum("ReconnectInterval is ignored" in w for w in warned) == 1
    assert sum("SessionQualifier is ignored" in w for w in warned) == 1
    assert sum("ScreenLogShowIncoming is ignored" in w for w in warned) == 1


def test_an_implemented_key_is_not_warned_about(tmp_path, caplog):
    load_text(tmp_path, QUICKFIX_ACCEPTOR)
    assert not any("FileLogPath" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("key", ["SocketConnectHost1", "SocketConnectPort12",
                                 "MySQLStoreDatabase", "OdbcLogEventTable",
                                 "PostgreSQLLogUseConnectionPool", "CertificateRevocationListFile"])
def test_documented_keys_of_other_setups_are_accepted(tmp_path, key):
    assert load_text(tmp_path, session(f"{key}=x\n"))


@pytest.mark.parametrize("typo, suggestion", [("HeartBtInterval", "HeartBtInt"),
                                              ("StartTIme", "StartTime"),
                                              ("FileLogPth", "FileLogPath"),
                                              ("socketnodelay", "SocketNodelay")])
def test_an_unknown_key_suggests_the_closest_known_one(tmp_path, typo, suggestion):
    assert f"did you mean {suggestion}?" in error_of(tmp_path, session(f"{typo}=1\n"))


def test_a_key_nothing_resembles_has_no_suggestion(tmp_path):
    message = error_of(tmp_path, session("Zzyzx=1\n"))
    assert "unknown key 'Zzyzx'" in message and "did you mean" not in message


def test_a_plain_text_password_is_refused_with_the_way_to_hash_it(tmp_path):
    message = error_of(tmp_path, session("Username=u\nPassword=secret\n"))
    assert "plain-text password" in message and "fixserver-passwd" in message
    assert "secret" not in message


def test_username_and_password_hash_go_together(tmp_path):
    assert "go together" in error_of(tmp_path, session("Username=u\n"))


def test_allowed_remote_addresses_are_addresses_and_networks(tmp_path):
    (s,) = load_text(tmp_path, session("AllowedRemoteAddresses=127.0.0.1, 10.0.0.0/8 ::1\n"))
    assert [str(n) for n in s.allowed_remote_addresses] == ["127.0.0.1/32", "10.0.0.0/8",
                                                            "::1/128"]


def test_a_bad_remote_address_is_an_error_naming_it(tmp_path):
    assert "'10.0.0.999'" in error_of(tmp_path, session("AllowedRemoteAddresses=10.0.0.999\n"))


@pytest.mark.parametrize("value", ["-1", "10"])
def test_timestamp_precision_is_0_to_9(tmp_path, value):
    assert "0 to 9" in error_of(tmp_path, session(f"TimeStampPrecision={value}\n"))


def test_socket_tcp_no_delay_is_quickfixj_s_name_for_socket_nodelay(tmp_path):
    (s,) = load_text(tmp_path, session("SocketNodelay=Y\nSocketTcpNoDelay=N\n"))
    assert s.nodelay is False


def test_ssl_needs_a_server_certificate(tmp_path):
    assert "needs ServerCertificateFile" in error_of(tmp_path, session("SocketUseSSL=Y\n"))


def test_client_certificate_verification_needs_a_ca_file(tmp_path):
    text = session("SocketUseSSL=Y\nServerCertificateFile=s.pem\nCertificateVerifyLevel=1\n")
    assert "needs CertificationAuthoritiesFile" in error_of(tmp_path, text)


def test_the_readme_lists_every_key_with_its_status():
    from fixserver.settings import IGNORED, KEYS
    text = (REPO / "README.md").read_text()
    section = text[text.index("## sessions.cfg"):text.index("## exchange.toml")]
    rows = [line.split("|")[1:-1] for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| key ")]
    status_of: dict[str, str] = {}
    prefixes: dict[str, str] = {}
    for cells in rows:
        names, status = cells[0], cells[2].strip()
        for name in names.replace(" / ", ",").replace(" (and numbered)", "").split(","):
            name = name.strip().replace("\\*", "*")
            if name.endswith("*"):
                prefixes[name[:-1]] = status
            elif name:
                status_of[name] = status
    expected = {IGNORED: "ignored", "implemented": "yes", "extension": "extension"}
    for key, spec in KEYS.items():
        status = status_of.get(key) or next(
            (s for p, s in prefixes.items() if key.startswith(p)), None)
        want = "refused" if key == "Password" else expected[spec.status]
        assert status == want, (key, status, want)
