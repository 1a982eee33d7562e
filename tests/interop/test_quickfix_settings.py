"""A broker's QuickFIX acceptor settings, as QuickFIX's documentation writes them (a
24-hour session, a weekly one, message logs, socket keys, and keys of other setups
that the exchange ignores), start the server, and real QuickFIX initiators log on
and have an order echoed; the message and event logs appear under FileLogPath."""

from __future__ import annotations

import pytest

from tests.conftest import FixServer
from tests.interop.qfinitiator import QuickFixInitiator, new_order_single
from tests.interop.test_quickfix_interop import echoes, wait_server_log

pytestmark = pytest.mark.slow

QUICKFIX_STYLE = """\
# written as QuickFIX's configuration page shows an acceptor
[DEFAULT]
ConnectionType=acceptor
SocketAcceptPort=5001
SocketAcceptAddress=127.0.0.1
SocketReuseAddress=Y
SocketNodelay=Y
SenderCompID=EXCH
FileStorePath=store
FileLogPath=log
UseDataDictionary=Y
ValidateUserDefinedFields=N
AllowUnknownMsgFields=Y
ValidateUnorderedGroupFields=Y
RefreshOnLogon=N
TimeStampPrecision=3
LogonTimeout=10
LogoutTimeout=5
SendLogoutBeforeDisconnectFromTimeout=Y
ReconnectInterval=30
ScreenLogShowIncoming=N
HttpAcceptPort=9911
Application=echo

[SESSION]
# a 24-hour session
BeginString=FIX.4.4
TargetCompID=QF44
DataDictionary=FIX44.xml
StartTime=00:00:00
EndTime=00:00:00

[SESSION]
# a weekly session that covers the whole week but its last second
BeginString=FIX.4.2
TargetCompID=QF42
DataDictionary=FIX42.xml
StartDay=Monday
StartTime=00:00:00
EndDay=Sunday
EndTime=23:59:59
TimeZone=Europe/London
"""


@pytest.fixture
def server(server_factory) -> FixServer:
    return server_factory(QUICKFIX_STYLE)


@pytest.fixture
def initiators(tmp_path, server):
    made = [QuickFixInitiator(tmp_path / name, server.port, begin, name, "EXCH")
            for name, begin in (("QF44", "FIX.4.4"), ("QF42", "FIX.4.2"))]
    yield made
    for qf in made:
        qf.stop(force=True)


def test_the_server_starts_and_names_each_ignored_key_once(server) -> None:
    log = server.log()
    for key in ("ReconnectInterval", "ScreenLogShowIncoming", "HttpAcceptPort"):
        assert log.count(f"{key} is ignored") == 1, key


def test_quickfix_initiators_log_on_to_both_sessions_and_get_echoes(server, initiators) -> None:
    for qf in initiators:
        qf.start()
    for qf in initiators:
        qf.wait_logon()
        mark = qf.mark()
        qf.send(new_order_single(qf.begin_string, f"{qf.begin_string}-1"))
        qf.wait_for(lambda qf=qf, mark=mark: len(echoes(qf, mark)) >= 1, 10, "the echo")


def test_message_and_event_logs_appear_under_file_log_path(server, initiators) -> None:
    qf44 = initiators[0]
    qf44.start()
    qf44.wait_logon()
    qf44.send(new_order_single("FIX.4.4", "logged-1"))
    qf44.wait_for(lambda: len(echoes(qf44)) >= 1, 10, "the echo")
    qf44.stop()
    wait_server_log(server, r"FIX\.4\.4:EXCH->QF44: logged out")
    server.stop()
    log_dir = server.data_dir / "log"
    messages = (log_dir / "FIX.4.4-EXCH-QF44.messages.current.log").read_bytes()
    events = (log_dir / "FIX.4.4-EXCH-QF44.event.current.log").read_text()
    assert b"\x0135=A\x01" in messages and b"\x0111=logged-1\x01" in messages
    assert "logged on" in events and "logged out" in events
