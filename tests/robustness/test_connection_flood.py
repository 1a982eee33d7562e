"""A thousand TCP connections opened at once: the server accepts them, stays up,
keeps serving the logged-on session and accepts new logons; it releases every
descriptor when they close."""

from __future__ import annotations

import os
import re
import resource
import selectors
import socket
import time
from collections.abc import Iterator

import pytest

from tests.conftest import FixServer, free_port
from tests.robustness.fixclient import RawFixClient, order_fields
from tests.robustness.support import SESSIONS_CFG

pytestmark = pytest.mark.slow

FLOOD = 1000


def open_files_limit(pid: int) -> int:
    """The soft RLIMIT_NOFILE of a process, from /proc."""
    for line in open(f"/proc/{pid}/limits"):
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError(f"no open files limit for {pid}")


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_fd_count(pid: int, ok, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        n = fd_count(pid)
        if ok(n) or time.monotonic() > deadline:
            return n
        time.sleep(0.05)


@pytest.fixture
def room_for_sockets() -> Iterator[None]:
    """Let this test process hold the flood (the server's own limit is not touched)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * FLOOD + 512
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {need}: cannot open the flood")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def open_at_once(port: int, n: int, timeout: float = 10.0) -> tuple[list[socket.socket], int]:
    """n non-blocking connects issued back to back; returns the sockets and how many
    completed within ``timeout``."""
    socks = []
    sel = selectors.DefaultSelector()
    try:
        for _ in range(n):
            s = socket.socket()
            socks.append(s)
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            sel.register(s, selectors.EVENT_WRITE)
        pending = len(socks)
        connected = 0
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(0.5):
                sel.unregister(key.fileobj)
                pending -= 1
                if key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    connected += 1
        return socks, connected
    finally:
        sel.close()


def close_all(socks: list[socket.socket]) -> None:
    for s in socks:
        s.close()


def test_thousand_connections_at_once_leave_sessions_working(server: FixServer, watcher,
                                                             connect, room_for_sockets) -> None:
    pid = server.proc.pid
    limit = open_files_limit(pid)
    baseline = fd_count(pid)
    socks, connected = open_at_once(server.port, FLOOD)
    try:
        assert connected == FLOOD, f"only {connected}/{FLOOD} connects completed"
        held = wait_fd_count(pid, lambda n: n >= baseline + FLOOD, 10)
        assert held >= baseline + FLOOD, (
            f"server holds {held} descriptors, expected {baseline + FLOOD}: it ran out? "
            f"(its RLIMIT_NOFILE soft limit is {limit})")
        assert server.alive()
        # While the flood is open: the logged-on session answers, a new one logs on.
        watcher.test_request("during-flood")
        late = connect("BRK3")
        late.logon()
        late.send("D", order_fields("FLOOD-1"))
        assert late.expect("D").get(11) == b"FLOOD-1"
    finally:
        close_all(socks)
    # Every descriptor of the flood is released once the clients close.
    left = wait_fd_count(pid, lambda n: n <= baseline + 1, 10)
    assert left <= baseline + 1, f"server still holds {left} descriptors (baseline {baseline})"
    assert server.alive()
    watcher.test_request("after-flood")
    assert "Too many open files" not in server.log()


def test_flood_past_default_fd_limit_does_not_lock_out_logons(tmp_path,
                                                              room_for_sockets) -> None:
    # Run the server as `ulimit -n 1024` (soft and hard) would: it cannot raise its own
    # limit, so only its cap on connections that have not logged on keeps descriptors free.
    server = FixServer(SESSIONS_CFG, tmp_path, free_port())
    server.open_files_limit = 1024
    server.start()
    try:
        assert open_files_limit(server.proc.pid) == 1024
        watcher = RawFixClient(server.port, "BRK2")
        late = None
        watcher.logon()
        socks, _ = open_at_once(server.port, 1100)
        try:
            watcher.test_request("during-flood")
            late = RawFixClient(server.port, "BRK3", connect_timeout=3)
            late.logon(timeout=3)
        finally:
            close_all(socks)
            watcher.close()
            if late is not None:
                late.close()
        assert server.alive()
        errors = re.findall(r"Too many open files", server.log())
        assert not errors, f"{len(errors)} EMFILE errors in the server log"
        assert "too many connections without a Logon" in server.log()
    finally:
        server.stop()
