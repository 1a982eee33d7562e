"""The running server writes every entry of its event stream to the event log beside
the journal (off the order path, after the reports are sent), and a kill -9 loses
none of it for the consumers: the restart completes the log from the journal."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from persistence.eventlog import EventLog
from tests.conftest import FixServer
from tests.exchange.exchangeclient import BUY, SELL, Broker, connect
from venue.commands import NewOrderSingle, SessionLogon
from venue.reports import ExecutionReport
from venue.stream import EVENT_LOG_VERSION, Entry

pytestmark = pytest.mark.slow


def log_path(server: FixServer) -> Path:
    return server.data_dir / "journal" / "events.log"


def logged(server: FixServer) -> list[Entry]:
    log = EventLog(log_path(server), Entry, EVENT_LOG_VERSION, readonly=True)
    try:
        return log.read_after(0, max_entries=10**6)
    finally:
        log.close()


def trade(brk2: Broker, brk3: Broker) -> None:
    brk3.rest("S1", SELL, 100, "190.00")
    brk2.new_order("B1", BUY, 40, "190.00")
    brk2.ers(2)
    brk3.er()


def wait_logged(server: FixServer, n: int, timeout: float = 5.0) -> list[Entry]:
    deadline = time.monotonic() + timeout
    while True:
        entries = logged(server)
        if len(entries) >= n or time.monotonic() > deadline:
            return entries
        time.sleep(0.05)


def test_the_event_log_holds_each_order_with_its_reports(start_server, clients) -> None:
    server = start_server()
    brk2, brk3 = connect(server, "BRK2"), connect(server, "BRK3")
    clients += [brk2, brk3]
    brk2.logon()
    brk3.logon()
    trade(brk2, brk3)
    entries = wait_logged(server, 4)
    # Each logon is journaled too (for the audit trail), before the orders.
    assert [e.seq for e in entries] == [1, 2, 3, 4]
    assert [type(e.command) for e in entries[:2]] == [SessionLogon, SessionLogon]
    assert [e.command.cl_ord_id for e in entries
            if type(e.command) is NewOrderSingle] == ["S1", "B1"]
    execs = [(r.cl_ord_id, r.exec_type) for e in entries for r in e.reports
             if type(r) is ExecutionReport]
    assert execs == [("S1", "0"), ("B1", "0"), ("B1", "F"), ("S1", "F")]


def test_a_kill_9_loses_nothing_of_the_event_log(start_server, clients) -> None:
    server = start_server(durable=True)
    brk2, brk3 = connect(server, "BRK2"), connect(server, "BRK3")
    clients += [brk2, brk3]
    brk2.logon()
    brk3.logon()
    trade(brk2, brk3)
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    log_path(server).unlink(missing_ok=True)       # as if it had not reached the disk
    server.start()
    entries = wait_logged(server, 4)
    server.stop()
    assert [e.seq for e in entries] == [1, 2, 3, 4]
