"""A small raw-socket FIX client for the robustness tests.

It encodes and parses with simplefix, an independent codec (not the server's),
keeps its own MsgSeqNum, and can also write arbitrary bytes to the socket.
Every read has a deadline: a test never hangs on a silent server.
"""

from __future__ import annotations

import datetime as dt
import select
import socket
import time
from collections.abc import Iterable

import simplefix


class ConnectionClosed(Exception):
    """The server closed (or reset) the connection."""


def utc_now() -> str:
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%d-%H:%M:%S.") + f"{now.microsecond // 1000:03d}"


def build(begin_string: str, msg_type: str, seq: int, sender: str, target: str,
          fields: Iterable[tuple[int, object]] = (), poss_dup: bool = False) -> bytes:
    """An encoded message: header 8, 9, 35, 34, (43), 49, 52, 56, (122), then ``fields``."""
    msg = simplefix.FixMessage()
    msg.append_pair(8, begin_string)
    msg.append_pair(35, msg_type)
    msg.append_pair(34, seq)
    if poss_dup:
        msg.append_pair(43, "Y")
    msg.append_pair(49, sender)
    now = utc_now()
    msg.append_pair(52, now)
    msg.append_pair(56, target)
    if poss_dup:
        msg.append_pair(122, now)
    for tag, value in fields:
        msg.append_pair(tag, value)
    return msg.encode()


def order_fields(cl_ord_id: str) -> list[tuple[int, object]]:
    """A FIX.4.4 limit NewOrderSingle body."""
    return [(11, cl_ord_id), (21, 1), (38, 100), (40, 2), (44, "10.5"), (54, 1), (55, "IBM"),
            (60, utc_now())]


class RawFixClient:
    """One TCP connection speaking FIX as ``sender`` to ``target``."""

    def __init__(self, port: int, sender: str, target: str = "EXCH",
                 begin_string: str = "FIX.4.4", connect_timeout: float = 5.0) -> None:
        self.sender = sender
        self.target = target
        self.begin_string = begin_string
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=connect_timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.parser = simplefix.FixParser()
        self.next_seq = 1
        self.received: list[simplefix.FixMessage] = []
        self.closed = False

    # -- sending ----------------------------------------------------------------------

    def encode(self, msg_type: str, fields: Iterable[tuple[int, object]] = (),
               seq: int | None = None, poss_dup: bool = False) -> bytes:
        """Encode the next message (consuming a MsgSeqNum unless ``seq`` is given)."""
        if seq is None:
            seq = self.next_seq
            self.next_seq += 1
        return build(self.begin_string, msg_type, seq, self.sender, self.target, fields,
                     poss_dup)

    def send(self, msg_type: str, fields: Iterable[tuple[int, object]] = (),
             seq: int | None = None, poss_dup: bool = False) -> None:
        self.send_raw(self.encode(msg_type, fields, seq, poss_dup))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    # -- receiving --------------------------------------------------------------------

    def receive(self, timeout: float) -> simplefix.FixMessage | None:
        """The next message, or None if none arrives within ``timeout``.

        Raises ConnectionClosed when the server closes the connection.
        """
        deadline = time.monotonic() + timeout
        while True:
            msg = self.parser.get_message()
            if msg is not None:
                self.received.append(msg)
                return msg
            if self.closed:
                raise ConnectionClosed("connection closed by the server")
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            # poll, not select: the thousand-connection test uses descriptors past 1024.
            poller = select.poll()
            poller.register(self.sock, select.POLLIN)
            if not poller.poll(left * 1000):
                return None
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError) as e:
                self.closed = True
                raise ConnectionClosed(f"connection reset: {e}") from e
            if not data:
                self.closed = True
            else:
                self.parser.append_buffer(data)

    def expect(self, msg_type: str, timeout: float = 5.0) -> simplefix.FixMessage:
        """The next message other than a Heartbeat; it must be of ``msg_type``."""
        deadline = time.monotonic() + timeout
        while True:
            msg = self.receive(max(0.0, deadline - time.monotonic()))
            if msg is None:
                raise AssertionError(f"{self.sender}: no {msg_type!r} within {timeout}s")
            got = (msg.get(35) or b"").decode()
            if got == msg_type:
                return msg
            if got != "0":
                raise AssertionError(f"{self.sender}: expected {msg_type!r}, got {msg}")

    def assert_silent(self, duration: float) -> None:
        """Nothing but Heartbeats arrives for ``duration`` seconds."""
        deadline = time.monotonic() + duration
        while (left := deadline - time.monotonic()) > 0:
            msg = self.receive(left)
            if msg is not None and msg.get(35) != b"0":
                raise AssertionError(f"{self.sender}: unexpected {msg}")

    def wait_closed(self, timeout: float) -> float | None:
        """Seconds until the server closed the connection, or None if it did not
        within ``timeout``. Messages received meanwhile are kept in ``received``."""
        start = time.monotonic()
        deadline = start + timeout
        try:
            while (left := deadline - time.monotonic()) > 0:
                self.receive(left)
        except ConnectionClosed:
            return time.monotonic() - start
        return None

    # -- session ----------------------------------------------------------------------

    def logon(self, heartbeat: int = 30, reset: bool = False,
              timeout: float = 5.0) -> simplefix.FixMessage:
        fields: list[tuple[int, object]] = [(98, 0), (108, heartbeat)]
        if reset:
            fields.append((141, "Y"))
        self.send("A", fields)
        return self.expect("A", timeout)

    def test_request(self, test_req_id: str, timeout: float = 5.0) -> None:
        """TestRequest -> Heartbeat with the same TestReqID (fails otherwise)."""
        self.send("1", [(112, test_req_id)])
        deadline = time.monotonic() + timeout
        while True:
            hb = self.expect("0", max(0.0, deadline - time.monotonic()))
            if hb.get(112) == test_req_id.encode():
                return

    def logout(self, timeout: float = 5.0) -> None:
        self.send("5")
        self.expect("5", timeout)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def checksum(data: bytes) -> bytes:
    return b"%03d" % (sum(data) % 256)


def with_wrong_checksum(raw: bytes) -> bytes:
    """``raw`` with a CheckSum off by one (everything else intact)."""
    body = raw[:raw.rindex(b"\x0110=") + 1]
    wrong = (int(checksum(body)) + 1) % 256
    return body + b"10=%03d\x01" % wrong


def with_body_length(raw: bytes, delta: int) -> bytes:
    """``raw`` declaring a BodyLength off by ``delta``, with a CheckSum that is
    correct for the altered bytes (so only the length is wrong)."""
    start = raw.index(b"\x019=") + 3
    end = raw.index(b"\x01", start)
    altered = raw[:start] + b"%d" % (int(raw[start:end]) + delta) + raw[end:]
    body = altered[:altered.rindex(b"\x0110=") + 1]
    return body + b"10=" + checksum(body) + b"\x01"
