"""Shared pieces of the bad-input tests: the server's sessions.cfg and checks."""

from __future__ import annotations

import re
import time

from tests.conftest import FixServer
from tests.robustness.fixclient import RawFixClient, order_fields

LOGON_TIMEOUT = 1

SESSIONS_CFG = f"""\
[DEFAULT]
ConnectionType=acceptor
SocketAcceptPort=5001
SocketAcceptAddress=127.0.0.1
SenderCompID=EXCH
FileStorePath=store
Application=echo
BeginString=FIX.4.4
DataDictionary=FIX44.xml
LogonTimeout={LOGON_TIMEOUT}

[SESSION]
TargetCompID=BRK1

[SESSION]
TargetCompID=BRK2

[SESSION]
TargetCompID=BRK3
"""


def assert_unharmed(server: FixServer, watcher: RawFixClient, connect) -> None:
    """The server is up, the parallel session still answers, and a new session can
    log on and get an order echoed."""
    assert server.alive(), f"server died:\n{server.log()}"
    watcher.test_request("after")
    late = connect("BRK3")
    late.logon()
    late.send("D", order_fields("LATE-1"))
    assert late.expect("D").get(11) == b"LATE-1"
    assert server.alive()


def wait_log(server: FixServer, pattern: str, timeout: float = 5.0) -> str:
    """The first server log line matching ``pattern`` (a regex), waiting for it."""
    deadline = time.monotonic() + timeout
    while True:
        for line in server.log().splitlines():
            if re.search(pattern, line):
                return line
        if time.monotonic() > deadline:
            raise AssertionError(f"no server log line matches {pattern!r}:\n{server.log()}")
        time.sleep(0.05)
