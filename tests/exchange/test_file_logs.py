"""With FileLogPath, the running server keeps each session's QuickFIX-style message
and event logs: every message in and out and the session's events, one line each,
on disk by the time the server has stopped."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import FixServer, free_port
from tests.exchange.exchangeclient import BUY, SESSIONS_CFG, Broker, write_exchange_toml

pytestmark = pytest.mark.slow

# Relative: under the data directory, as FileStorePath.
LOGGED_CFG = SESSIONS_CFG.replace("FileStorePath=store\n",
                                  "FileStorePath=store\nFileLogPath=log\n")


def fields(line: bytes) -> dict[bytes, bytes]:
    """The tags of the message logged on ``line`` (its first value of each)."""
    _, raw = line.split(b" : ", 1)
    out: dict[bytes, bytes] = {}
    for pair in raw.split(b"\x01"):
        if pair:
            tag, _, value = pair.partition(b"=")
            out.setdefault(tag, value)
    return out


def test_a_sessions_messages_and_events_are_logged_under_file_log_path(tmp_path: Path):
    assert LOGGED_CFG != SESSIONS_CFG
    write_exchange_toml(tmp_path)
    server = FixServer(LOGGED_CFG, tmp_path, free_port())
    server.start()
    try:
        brk1 = Broker(server.port, "BRK1")
        brk1.logon()
        brk1.new_order("B1", BUY, 100, "190.00")
        assert brk1.er()[11] == "B1"
        brk1.logout_and_close()
    finally:
        assert server.stop() == 0, server.log()

    log_dir = tmp_path / "log"
    messages = (log_dir / "FIX.4.4-EXCH-BRK1.messages.current.log").read_bytes().splitlines()
    logged = [(m[b"35"], m[b"49"], m.get(b"11")) for m in map(fields, messages)]
    assert logged == [
        (b"A", b"BRK1", None), (b"A", b"EXCH", None),   # Logon in, Logon out
        (b"D", b"BRK1", b"B1"), (b"8", b"EXCH", b"B1"),  # the order, its ExecutionReport
        (b"5", b"BRK1", None), (b"5", b"EXCH", None),   # Logout in, Logout out
    ]
    assert all(re.match(rb"\d{8}-\d\d:\d\d:\d\d\.\d{6} : 8=FIX\.4\.4\x01", line)
               for line in messages)

    events = (log_dir / "FIX.4.4-EXCH-BRK1.event.current.log").read_text().splitlines()
    texts = [line.split(" : ", 1)[1] for line in events]
    assert texts[0] == "Created session"
    assert "logged on (HeartBtInt=30)" in texts
    assert texts.index("logged on (HeartBtInt=30)") < texts.index("logged out")
    assert any(t.startswith("disconnected: ") for t in texts)
    # Every session has its log from the start, logged on or not.
    other = (log_dir / "FIX.4.2-EXCH-BRK2.event.current.log").read_text()
    assert other.endswith(" : Created session\n")
