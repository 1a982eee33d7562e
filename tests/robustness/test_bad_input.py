"""Bad input over real sockets: the server answers per the FIX session protocol or
drops the connection, logs why, stays up, and the other sessions keep working.

Each test has a parallel session (the ``watcher``) that answers a TestRequest
before and after, and ends by logging on a fresh session (``assert_unharmed``).
"""

from __future__ import annotations

import random
import re
import socket
import struct
import threading
import time

import pytest

from tests.robustness.fixclient import (
    RawFixClient,
    order_fields,
    with_body_length,
    with_wrong_checksum,
)
from tests.robustness.support import LOGON_TIMEOUT, assert_unharmed, wait_log

pytestmark = pytest.mark.slow

TEN_MB = 10_000_000


def garbage(seed: int, size: int = 4096) -> bytes:
    """Random binary that holds no BeginString ("8="), so it cannot start a frame."""
    return random.Random(seed).randbytes(size).replace(b"8=", b"8-")


def log_lines_since(server, mark: int) -> list[str]:
    return server.log().splitlines()[mark:]


def log_mark(server) -> int:
    return len(server.log().splitlines())


def client_port(client: RawFixClient) -> int:
    return client.sock.getsockname()[1]


# -- before logon -----------------------------------------------------------------------


def test_random_garbage_before_logon_is_disconnected(server, watcher, connect) -> None:
    c = connect()
    c.send_raw(garbage(1))
    # Garbage is no Logon: the connection is dropped at the latest when the logon
    # timeout expires (10 s is the server's default; LogonTimeout=1 is configured).
    closed_after = c.wait_closed(12)
    assert closed_after is not None, "connection still open 12 s after garbage"
    assert c.received == []  # nothing is answered to garbage
    wait_log(server, rf"connection from 127\.0\.0\.1:{client_port(c)} closed: no Logon received")
    assert_unharmed(server, watcher, connect)


def test_unframeable_header_before_logon_is_disconnected_at_once(server, watcher,
                                                                 connect) -> None:
    c = connect()
    c.send_raw(b"8=FIX.4.4\x019=12x4\x0135=A\x01")
    closed_after = c.wait_closed(3)
    assert closed_after is not None and closed_after < 2
    assert c.received == []
    wait_log(server, rf"127\.0\.0\.1:{client_port(c)} closed: unreadable byte stream: "
                     r"BodyLength is not a number")
    assert_unharmed(server, watcher, connect)


def test_logon_with_wrong_checksum_is_disconnected_without_reply(server, watcher,
                                                                 connect) -> None:
    c = connect()
    c.send_raw(with_wrong_checksum(c.encode("A", [(98, 0), (108, 30)])))
    closed_after = c.wait_closed(3)
    assert closed_after is not None and closed_after < 2
    assert c.received == []  # a garbled Logon gets no Logon (nor anything) back
    wait_log(server, rf"127\.0\.0\.1:{client_port(c)} closed: garbled message before logon: "
                     r"CheckSum \d+ is wrong")
    assert_unharmed(server, watcher, connect)


def test_silent_client_is_dropped_after_logon_timeout(server, watcher, connect) -> None:
    c = connect()
    closed_after = c.wait_closed(LOGON_TIMEOUT + 1.5)
    assert closed_after is not None, f"still connected {LOGON_TIMEOUT + 1.5} s later " \
                                     f"with LogonTimeout={LOGON_TIMEOUT}"
    assert closed_after >= LOGON_TIMEOUT - 0.2
    wait_log(server, rf"127\.0\.0\.1:{client_port(c)} closed: no Logon received")
    assert_unharmed(server, watcher, connect)


# -- after logon ------------------------------------------------------------------------


def test_random_garbage_after_logon_is_ignored(server, watcher, connect) -> None:
    c = connect()
    c.logon()
    c.send_raw(garbage(2))
    c.assert_silent(0.3)
    c.test_request("after-garbage")  # next MsgSeqNum: the garbage consumed none
    c.send("D", order_fields("G-1"))
    assert c.expect("D").get(11) == b"G-1"
    assert not any(m.get(35) in (b"2", b"3", b"5") for m in c.received)
    assert_unharmed(server, watcher, connect)


def test_random_garbage_after_logon_is_logged(server, watcher, connect) -> None:
    c = connect()
    c.logon()
    mark = log_mark(server)
    c.send_raw(garbage(3))
    c.test_request("after-garbage")  # once answered, the garbage has been read
    lines = log_lines_since(server, mark)
    assert any("BRK1" in line or f":{client_port(c)}" in line for line in lines), lines


def test_truncated_message_then_close_leaves_session_consistent(server, watcher,
                                                                connect) -> None:
    c = connect()
    c.logon()
    raw = c.encode("D", order_fields("TRUNC-1"))  # MsgSeqNum 2
    c.send_raw(raw[:len(raw) // 2])
    c.close()
    wait_log(server, r"EXCH->BRK1: logged out")
    assert server.alive()
    # The half message consumed no MsgSeqNum: a Logon with 2 is in sequence.
    again = connect()
    again.next_seq = 2
    logon = again.logon()
    assert logon.get(34) == b"2"
    again.send("D", order_fields("TRUNC-2"))
    echo = again.expect("D")
    assert echo.get(11) == b"TRUNC-2" and echo.get(34) == b"3"
    assert not any(m.get(35) in (b"2", b"3", b"5") for m in again.received)
    assert_unharmed(server, watcher, connect)


def test_peer_close_mid_message_is_logged(server, watcher, connect) -> None:
    c = connect()
    c.logon()
    port = client_port(c)
    raw = c.encode("D", order_fields("TRUNC-1"))
    c.send_raw(raw[:len(raw) // 2])
    c.close()
    wait_log(server, r"EXCH->BRK1: logged out")
    wait_log(server, rf"connection from 127\.0\.0\.1:{port} (closed|lost)", timeout=1)


def test_wrong_checksum_after_logon_is_ignored(server, watcher, connect) -> None:
    c = connect()
    c.logon()
    raw = c.encode("D", order_fields("CS-1"))  # MsgSeqNum 2
    c.send_raw(with_wrong_checksum(raw))
    c.assert_silent(0.5)  # no echo, no Reject: a garbled message is dropped
    wait_log(server, r"BRK1: garbled message ignored: CheckSum \d+ is wrong")
    # The garbled message did not consume MsgSeqNum 2: the same order sent again
    # correctly with 2 is processed normally, without any resend.
    c.send("D", order_fields("CS-2"), seq=2)
    echo = c.expect("D")
    assert echo.get(11) == b"CS-2"
    c.test_request("after-checksum")
    assert not any(m.get(35) in (b"2", b"3", b"5") for m in c.received)
    assert_unharmed(server, watcher, connect)


def test_short_body_length_after_logon_is_ignored_and_gap_recovered(server, watcher,
                                                                   connect) -> None:
    c = connect()
    c.logon()
    lost = c.encode("D", order_fields("BL-1"))  # MsgSeqNum 2, as the client counts it
    c.send_raw(with_body_length(lost, -3))
    c.assert_silent(0.5)
    wait_log(server, r"BRK1: garbled message ignored: BodyLength \d+ is wrong")
    # The client moves on with 3: the server sees the gap and asks for 2 again...
    c.send("1", [(112, "after-length")])
    resend = c.expect("2")
    assert (resend.get(7), resend.get(16)) == (b"2", b"0")
    # ...gets the order as a PossDup resend, echoes it, then processes the queued 3.
    c.send("D", order_fields("BL-1"), seq=2, poss_dup=True)
    assert c.expect("D").get(11) == b"BL-1"
    hb = c.expect("0")
    assert hb.get(112) == b"after-length"
    c.test_request("in-sync")
    assert_unharmed(server, watcher, connect)


def test_long_body_length_costs_the_next_message_and_gap_is_recovered(server, watcher,
                                                                      connect) -> None:
    c = connect()
    c.logon()
    # BodyLength 40 bytes too long: the frame reaches into the next message (3),
    # so both are dropped as garbled, as in other FIX engines.
    c.send_raw(with_body_length(c.encode("D", order_fields("LONG-1")), 40))
    c.send("1", [(112, "swallowed")])
    c.assert_silent(0.5)
    wait_log(server, r"BRK1: garbled message ignored: BodyLength \d+ is wrong")
    # The next message (4) reveals the gap; a GapFill over 2..3 resynchronises.
    c.send("1", [(112, "after-long")])
    resend = c.expect("2")
    assert resend.get(7) == b"2"
    c.send("4", [(36, 4), (123, "Y")], seq=2, poss_dup=True)
    hb = c.expect("0")
    assert hb.get(112) == b"after-long"
    c.test_request("in-sync")
    assert_unharmed(server, watcher, connect)


# -- oversized ----------------------------------------------------------------------------


def _stream(client: RawFixClient, head: bytes, total: int, errors: list[OSError]) -> None:
    """Write ``head`` then filler up to ``total`` bytes; stop when the server hangs up."""
    chunk = b"A" * 65536
    try:
        client.send_raw(head)
        sent = len(head)
        while sent < total:
            client.send_raw(chunk)
            sent += len(chunk)
    except OSError as e:
        errors.append(e)


@pytest.mark.parametrize("logged_on", [False, True], ids=["before_logon", "after_logon"])
def test_ten_megabyte_message_drops_connection(server, watcher, connect, logged_on) -> None:
    c = connect()
    c.sock.settimeout(10)
    if logged_on:
        c.logon()
    head = b"8=FIX.4.4\x019=%d\x0135=D\x0134=%d\x0149=BRK1\x0156=EXCH\x0158=" % (
        TEN_MB, c.next_seq)
    errors: list[OSError] = []
    writer = threading.Thread(target=_stream, args=(c, head, TEN_MB, errors), daemon=True)
    started = time.monotonic()
    writer.start()
    closed_after = c.wait_closed(10)
    writer.join(10)
    assert closed_after is not None, "connection still open while streaming 10 MB"
    assert not writer.is_alive()
    assert time.monotonic() - started < 10
    wait_log(server, rf"127\.0\.0\.1:{client_port(c)} closed: unreadable byte stream: "
                     r"message of \d+ bytes exceeds the limit")
    assert_unharmed(server, watcher, connect)


def test_ten_megabytes_without_checksum_drops_connection(server, watcher, connect) -> None:
    """A small BodyLength, then 10 MB that never reach a CheckSum field."""
    c = connect()
    c.sock.settimeout(10)
    c.logon()
    head = b"8=FIX.4.4\x019=100\x0135=D\x0134=2\x0149=BRK1\x0156=EXCH\x0158="
    errors: list[OSError] = []
    writer = threading.Thread(target=_stream, args=(c, head, TEN_MB, errors), daemon=True)
    writer.start()
    closed_after = c.wait_closed(10)
    writer.join(10)
    assert closed_after is not None, "connection still open while streaming 10 MB"
    line = wait_log(server, rf"127\.0\.0\.1:{client_port(c)} closed: ")
    assert re.search(r"CheckSum|limit", line), line
    assert_unharmed(server, watcher, connect)


def test_server_survives_reset_connections(server, watcher, connect) -> None:
    """Connections reset (RST) mid-logon and mid-message do not disturb anything."""
    for logged_on in (False, True):
        c = connect()
        if logged_on:
            c.logon()
        raw = c.encode("D", order_fields("RST"))
        c.send_raw(raw[:20])
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()  # SO_LINGER 0: the close sends RST
    wait_log(server, r"EXCH->BRK1: logged out")
    assert_unharmed(server, watcher, connect)


def test_a_timestamp_in_year_0_is_rejected_as_incorrect_data_format(server, watcher,
                                                                    connect) -> None:
    # 0000 matches the UTCTimestamp pattern, but no calendar has it: its conversion
    # raised, and took the server down.
    c = connect()
    c.logon()
    fields = [(k, "00001203-12:00:00.000" if k == 60 else v) for k, v in order_fields("Y0-1")]
    c.send("D", fields)
    reject = c.expect("3")
    assert (reject.get(371), reject.get(373)) == (b"60", b"6")
    assert server.alive()
    assert_unharmed(server, watcher, connect)
