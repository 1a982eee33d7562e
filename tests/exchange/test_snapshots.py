"""Snapshots of a running exchange: the snapshotter process writes them as the
exchange trades, the operator can ask for one, and a restart after a kill -9 loads
the newest and replays only the journal after it.

Real servers (``fixserver`` processes) and real FIX clients; the snapshot files are
read from the data directory.
"""

from __future__ import annotations

import json
import re
import signal
import time

import pytest

from persistence.snapshots import snapshots
from tests.conftest import FixServer
from tests.exchange.exchangeclient import BUY, SELL, Broker, connect

pytestmark = pytest.mark.slow

FAST = "snapshot_interval = 0.2\n"
ON_DEMAND = "snapshot_interval = 3600\n"    # the snapshotter runs, but only when asked


def newest_seq(server: FixServer) -> int:
    snap = next(iter(snapshots(server.data_dir / "snapshots")), None)
    return snap.seq if snap is not None else 0


def wait_for_snapshot(server: FixServer, seq: int, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while (got := newest_seq(server)) < seq:
        assert time.monotonic() < deadline, f"no snapshot at seq {seq}:\n{server.log()}"
        time.sleep(0.05)
    return got


def admin(server: FixServer, command: str) -> dict:
    from venue.admin import request, socket_path
    return json.loads(request(socket_path(server.data_dir), command, timeout=60))


def wait_ready(server: FixServer) -> None:
    deadline = time.monotonic() + 20
    while "snapshotter ready" not in server.log():
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)


# The Logon is journaled (seq 1, for the audit trail): the orders start at seq 2.
LOGON = 1


def rest_orders(broker: Broker, prefix: str, n: int) -> None:
    for i in range(n):
        broker.rest(f"{prefix}{i}", BUY if i % 2 else SELL, 10,
                    "189.00" if i % 2 else "191.00")


def test_the_snapshotter_writes_snapshots_while_the_exchange_trades(
        start_server, clients: list[Broker]) -> None:
    server = start_server(exchange_options=FAST)
    brk2 = connect(server, "BRK2")
    clients.append(brk2)
    brk2.logon()
    rest_orders(brk2, "A", 10)
    assert wait_for_snapshot(server, LOGON + 10) == LOGON + 10
    assert "snapshotter ready at seq" in server.log()
    assert re.search(r"snapshot 000000000011\.snapshot: seq 11, 10 open orders, .* "
                     r"\(snapshotter\)", server.log())


def test_the_snapshotter_keeps_only_the_newest_snapshots(start_server, clients: list[Broker]
                                                         ) -> None:
    server = start_server(exchange_options=FAST + "snapshots_kept = 2\n")
    brk2 = connect(server, "BRK2")
    clients.append(brk2)
    brk2.logon()
    for k in range(4):
        rest_orders(brk2, f"K{k}-", 2)
        wait_for_snapshot(server, 2 * (k + 1))
    time.sleep(0.3)
    assert [s.seq for s in snapshots(server.data_dir / "snapshots")] == [LOGON + 8, LOGON + 6]


def test_the_admin_snapshot_request_answers_once_the_snapshot_is_on_disk(
        start_server, clients: list[Broker]) -> None:
    server = start_server(exchange_options=ON_DEMAND)
    brk2 = connect(server, "BRK2")
    clients.append(brk2)
    brk2.logon()
    rest_orders(brk2, "A", 5)
    wait_ready(server)
    reply = admin(server, "snapshot")
    assert reply["ok"] is True, reply
    assert (reply["snapshot"]["seq"], reply["snapshot"]["new"]) == (LOGON + 5, True)
    assert (server.data_dir / "snapshots" / reply["snapshot"]["file"]).exists()
    again = admin(server, "snapshot")
    assert (again["snapshot"]["seq"], again["snapshot"]["new"]) == (LOGON + 5, False)


def test_a_restart_after_a_kill_loads_the_snapshot_and_replays_only_the_rest(
        start_server, clients: list[Broker]) -> None:
    server = start_server(durable=True, exchange_options=ON_DEMAND)
    brk2 = connect(server, "BRK2")
    clients.append(brk2)
    brk2.logon()
    rest_orders(brk2, "A", 6)
    wait_ready(server)
    assert admin(server, "snapshot")["snapshot"]["seq"] == LOGON + 6
    rest_orders(brk2, "B", 3)
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    brk2.close()
    mark = len(server.log())
    server.start()
    log = server.log()[mark:]
    assert re.search(r"snapshot 000000000007\.snapshot: seq 7, 6 open orders, .* loaded in",
                     log), log
    assert "replayed 3 commands after seq 7" in log
    again = connect(server, "BRK2", next_seq=brk2.next_seq)
    clients.append(again)
    again.logon()
    again.status("B2", SELL)
    assert again.er()[39] == "0"


def test_journal_segments_nothing_needs_are_deleted_and_a_restart_still_recovers(
        start_server, clients: list[Broker]) -> None:
    # Segments of about 1 KB (a few orders each), kept no time at all once unneeded.
    server = start_server(durable=True, exchange_options=FAST + "journal_segment_mb = 0.001\n"
                          "retention_hours = 0\n")
    journal = server.data_dir / "journal"
    brk2 = connect(server, "BRK2")
    clients.append(brk2)
    brk2.logon()
    rest_orders(brk2, "A", 40)
    deadline = time.monotonic() + 20
    # The segment goes first, then the line saying so: wait for both.
    while (journal / "commands.wal").exists() or "journal retention: deleted" not in server.log():
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    brk2.close()
    server.start()
    again = connect(server, "BRK2", next_seq=brk2.next_seq)
    clients.append(again)
    again.logon()
    again.status("A0", SELL)      # the first order, in a segment long deleted
    assert again.er()[39] == "0"
