"""Interoperability: a real QuickFIX initiator (the C++ engine a broker would run)
logs on to our server over TCP, exchanges heartbeats and orders with the echo
application, disconnects, misses messages, and gets them back by ResendRequest,
with and without a server restart in between.

The initiator validates what it receives with our own dictionaries/FIX4x.xml,
which also proves a broker's QuickFIX can load them.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.conftest import FixServer
from tests.interop.qfinitiator import QuickFixInitiator, Seen, new_order_single

pytestmark = pytest.mark.slow

SESSIONS_CFG = """\
[DEFAULT]
ConnectionType=acceptor
SocketAcceptPort=5001
SocketAcceptAddress=127.0.0.1
SenderCompID=EXCH
FileStorePath=store
Application=echo

[SESSION]
BeginString=FIX.4.4
TargetCompID=QF44
DataDictionary=FIX44.xml

[SESSION]
BeginString=FIX.4.2
TargetCompID=QF42
DataDictionary=FIX42.xml
"""

ORDER_FIELDS = (11, 21, 38, 40, 44, 54, 55, 60)


@pytest.fixture
def server(server_factory) -> FixServer:
    return server_factory(SESSIONS_CFG)


@pytest.fixture
def make_initiator(tmp_path: Path):
    """QuickFIX initiators that are always stopped at the end of the test."""
    made: list[QuickFixInitiator] = []

    def make(server: FixServer, begin_string: str = "FIX.4.4",
             sender: str = "QF44") -> QuickFixInitiator:
        qf = QuickFixInitiator(tmp_path / f"qf-{sender}", server.port, begin_string, sender,
                               "EXCH")
        made.append(qf)
        return qf

    yield make
    for qf in made:
        qf.stop(force=True)


def wait_server_log(server: FixServer, pattern: str, count: int = 1,
                    timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while len(re.findall(pattern, server.log())) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"server log lacks {count}x {pattern!r}:\n{server.log()}")
        time.sleep(0.05)


def server_seqnums(server: FixServer, session: str) -> tuple[int, int]:
    """(next sender, next target) from the server's FileStore."""
    text = (server.data_dir / "store" / f"{session}.seqnums").read_text()
    m = re.match(r"(\d+) : (\d+)", text)
    assert m, text
    return int(m[1]), int(m[2])


def stop_and_wait_logged_out(server: FixServer, qf: QuickFixInitiator, since: int,
                             count: int = 1) -> list[int]:
    """Stop ``qf`` (it logs out) and wait for the server's ``count``-th logout; check
    that the server read everything QuickFIX sent from ``since`` (a mark) up to its
    Logout, and return the MsgSeqNums QuickFIX sent after its Logout.

    Those the server never reads (it answers a Logout and closes), so it rightly asks
    for them at the next Logon: then something is missing. QuickFIX sends one when a
    TestRequest of the server crosses its Logout, and answers it with a Heartbeat
    after the Logout: stop() has it send the Logout at its next timer tick, about 1 s
    after its last message, and the server sends a TestRequest after 1.2 HeartBtInt
    (1.2 s) without one, so a busy machine that delays the tick by 0.2 s makes them
    cross."""
    qf.stop()
    wait_server_log(server, r"QF44: logged out", count)
    sent = [int(s.get(34) or 0) for s in qf.seen[since:] if s.direction == "out"]
    logouts = qf.messages("out", "5", since)
    assert logouts, "QuickFIX sent no Logout"
    logout = int(logouts[-1].get(34) or 0)
    server_sender, server_target = server_seqnums(server, "FIX.4.4-EXCH-QF44")
    assert server_target == logout + 1, (server_target, logout)
    assert qf.stored_seqnums() == (max(sent) + 1, server_sender)
    return [seq for seq in sent if seq > logout]


def resends_asked_by_server(qf: QuickFixInitiator, since: int) -> list[int]:
    """BeginSeqNo of every ResendRequest the server sent from ``since``."""
    return [int(r.get(7) or 0) for r in qf.messages("in", "2", since)]


def echoes(qf: QuickFixInitiator, since: int = 0) -> list[Seen]:
    return qf.messages("in", "D", since)


def send_orders(qf: QuickFixInitiator, prefix: str, n: int) -> list[str]:
    """Send n orders and wait for their n echoes; returns their ClOrdIDs."""
    mark = qf.mark()
    ids = [f"{prefix}-{i}" for i in range(n)]
    for cl_ord_id in ids:
        qf.send(new_order_single(qf.begin_string, cl_ord_id))
    qf.wait_for(lambda: len(echoes(qf, mark)) >= n, 10, f"{n} echoes of {prefix}")
    assert [e.get(11) for e in echoes(qf, mark)] == ids
    return ids


def test_quickfix_initiator_loads_our_dictionary_and_logs_on(server, make_initiator) -> None:
    qf = make_initiator(server)
    qf.start()
    qf.wait_logon()
    assert qf.logged_on()
    logon_in = qf.messages("in", "A")
    assert len(logon_in) == 1
    assert logon_in[0].get(108) == "1"
    assert logon_in[0].get(49) == "EXCH" and logon_in[0].get(56) == "QF44"
    wait_server_log(server, r"FIX\.4\.4:EXCH->QF44: logged on \(HeartBtInt=1\)")


def test_heartbeats_flow_both_ways_at_heartbtint_1(server, make_initiator) -> None:
    qf = make_initiator(server)
    qf.start()
    qf.wait_logon()
    qf.wait_for(lambda: len(qf.messages("in", "0")) >= 4 and len(qf.messages("out", "0")) >= 4,
                7, "4 heartbeats each way")
    # Heartbeats kept the session up; any TestRequest either side sent was answered
    # by a Heartbeat carrying its TestReqID.
    assert qf.messages("in", "5") == [] and qf.logged_on()
    for asked, answered in (("out", "in"), ("in", "out")):
        for probe in qf.messages(asked, "1"):
            test_req_id = probe.get(112)
            qf.wait_for(lambda a=answered, t=test_req_id: any(
                h.get(112) == t for h in qf.messages(a, "0")), 3, f"Heartbeat 112={test_req_id}")
    # Ours come about one HeartBtInt apart, not in a burst nor only after timeouts.
    times = [s.at for s in qf.messages("in", "0") if s.get(112) is None]
    gaps = sorted(b - a for a, b in zip(times, times[1:], strict=False))
    assert gaps and 0.5 < gaps[len(gaps) // 2] < 1.6, gaps


def test_new_order_single_is_echoed_to_quickfix(server, make_initiator) -> None:
    qf = make_initiator(server)
    qf.start()
    qf.wait_logon()
    qf.send(new_order_single("FIX.4.4", "ECHO-1", symbol="MSFT", qty=250, price="101.25"))
    qf.wait_for(lambda: len(echoes(qf)) == 1, 5, "the echo")
    sent = qf.messages("out", "D")[0]
    echo = echoes(qf)[0]
    assert {t: echo.get(t) for t in ORDER_FIELDS} == {t: sent.get(t) for t in ORDER_FIELDS}
    assert (echo.get(49), echo.get(56)) == ("EXCH", "QF44")
    assert echo.get(43) is None
    # QuickFIX accepted it (no Reject sent back) and the session stays up.
    assert qf.messages("out", "3") == [] and qf.logged_on()


def test_fix42_quickfix_initiator_logs_on_and_gets_echo(server, make_initiator) -> None:
    qf = make_initiator(server, "FIX.4.2", "QF42")
    qf.start()
    qf.wait_logon()
    qf.send(new_order_single("FIX.4.2", "ECHO-42"))
    qf.wait_for(lambda: len(echoes(qf)) == 1, 5, "the FIX.4.2 echo")
    echo = echoes(qf)[0]
    assert echo.raw.startswith("8=FIX.4.2\x01")
    assert echo.get(11) == "ECHO-42" and echo.get(21) == "1"
    assert qf.messages("out", "3") == [] and qf.logged_on()
    wait_server_log(server, r"FIX\.4\.2:EXCH->QF42: logged on")


def test_reconnect_without_gap_resumes_sequence_numbers(server, make_initiator) -> None:
    qf = make_initiator(server)
    qf.start()
    qf.wait_logon()
    send_orders(qf, "A", 3)
    unread = stop_and_wait_logged_out(server, qf, 0)
    mark = qf.mark()
    qf.start()
    qf.wait_logon(count=2)
    logon = qf.messages("in", "A", mark)[0]
    assert int(logon.get(34)) > 1  # no reset: numbering continued
    send_orders(qf, "B", 1)
    # The server asks for nothing, unless QuickFIX sent something after its Logout.
    assert qf.messages("out", "2", mark) == []
    assert resends_asked_by_server(qf, mark) == unread[:1]


def _missed_messages_recovered(server: FixServer, qf: QuickFixInitiator,
                               restart_server: bool) -> None:
    qf.start()
    qf.wait_logon()
    first = send_orders(qf, "MISS", 5)
    first_echo_seqs = [int(e.get(34)) for e in echoes(qf)]
    unread = stop_and_wait_logged_out(server, qf, 0)
    if restart_server:
        server.restart()
    # The initiator "missed" everything the server sent after its Logon.
    qf.set_next_target_seq(2)
    mark = qf.mark()
    qf.start()
    qf.wait_logon(count=2)
    qf.wait_for(lambda: len(echoes(qf, mark)) >= 5, 10, "the 5 resent echoes")
    resent = echoes(qf, mark)
    assert [e.get(11) for e in resent] == first
    assert [int(e.get(34)) for e in resent] == first_echo_seqs
    assert all(e.get(43) == "Y" and e.get(122) for e in resent), [e.raw for e in resent]
    resend_requests = qf.messages("out", "2", mark)
    assert len(resend_requests) == 1
    assert resend_requests[0].get(7) == "2"
    wait_server_log(server, r"QF44: ResendRequest 2\.\.\d+")
    # In sync afterwards: a new order is echoed as a fresh message, and a couple of
    # heartbeat rounds later nobody asked for another resend or rejected anything.
    after = qf.mark()
    send_orders(qf, "AFTER", 1)
    assert echoes(qf, after)[0].get(43) is None
    qf.wait_for(lambda: len(qf.messages("in", "0", after)) >= 2
                and len(qf.messages("out", "0", after)) >= 2, 5, "heartbeats after the resend")
    assert len(qf.messages("out", "2", mark)) == 1
    # Nothing was missing on the server's side, unless QuickFIX sent something after
    # its Logout (see stop_and_wait_logged_out): then one ResendRequest from there on.
    assert resends_asked_by_server(qf, mark) == unread[:1]
    assert qf.messages("in", "3", mark) == [] and qf.messages("out", "3", mark) == []
    assert qf.messages("in", "5", mark) == [] and qf.logged_on()
    stop_and_wait_logged_out(server, qf, mark, count=2)


def test_missed_messages_are_resent_as_possdup_after_reconnect(server, make_initiator) -> None:
    _missed_messages_recovered(server, make_initiator(server), restart_server=False)


def test_missed_messages_are_resent_after_server_restart(server, make_initiator) -> None:
    _missed_messages_recovered(server, make_initiator(server), restart_server=True)
