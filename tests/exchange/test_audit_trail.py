"""The audit trail of a running server: FIX sessions in, records in
``<data-dir>/audit/`` out, and what happens when the trail's spool fills up.

Real server subprocess, real FIX over TCP; the "Kafka down" cases point the trail
at a loopback port where nothing listens.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from audit.chain import parse
from audit.files import read_lines
from tests.conftest import FixServer, free_port
from tests.exchange.exchangeclient import BUY, Broker, connect, one_trade

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def records(server: FixServer) -> list[dict]:
    return [parse(line) for _, _, line in read_lines(server.data_dir / "audit")]


def wait_records(server: FixServer, done, timeout: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        got = records(server) if (server.data_dir / "audit").exists() else []
        if done(got):
            return got
        assert time.monotonic() < deadline, (got[-5:], server.log()[-3000:])
        time.sleep(0.05)


def kafka_down(limit: int, policy: str) -> str:
    """An [audit] table whose broker is never there."""
    return (f'[audit]\nkafka = "127.0.0.1:{free_port()}"\nspool_limit = {limit}\n'
            f'when_spool_full = "{policy}"\nsend_timeout = 1.0\n')


def test_a_sessions_day_is_in_the_audit_files_and_verifies(start_server, clients) -> None:
    server = start_server()
    brk2, _ = one_trade(server, clients)
    brk2.logout_and_close()
    got = wait_records(server, lambda rs: any(r["event_type"] == "SESSION_LOGOUT" for r in rs))
    kinds = [r["event_type"] for r in got]
    assert kinds == ["SESSION_LOGON", "SESSION_LOGON", "ORDER_PLACED", "ORDER_ACCEPTED",
                     "ORDER_PLACED", "ORDER_ACCEPTED", "TRADE_EXECUTED", "SETTLEMENT",
                     "SESSION_LOGOUT"]
    logout = got[-1]
    assert (logout["comp_id"], logout["reason"]) == ("BRK2", "Logout")
    trade = got[6]
    assert (trade["buy"]["cl_ord_id"], trade["sell"]["cl_ord_id"]) == ("B1", "S1")
    assert (str(trade["price"]), trade["quantity"]) == ("190", 40)
    out = subprocess.run([sys.executable, "-c", "import sys; from server.cli import main; "
                          "sys.exit(main(sys.argv[1:]))", "audit", "verify", "--data-dir",
                          str(server.data_dir)], capture_output=True, text=True, cwd=REPO,
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "OK: every record checks out" in out.stdout


def test_a_lost_connection_is_a_logout_with_its_reason(start_server, clients) -> None:
    server = start_server()
    brk2 = connect(server, "BRK2")
    clients.append(brk2)
    brk2.logon()
    brk2.close()
    got = wait_records(server, lambda rs: any(r["event_type"] == "SESSION_LOGOUT" for r in rs))
    assert got[-1]["reason"] == "connection lost"


def test_a_full_spool_with_reject_orders_refuses_new_orders_with_a_reason(
        start_server, clients: list[Broker]) -> None:
    server = start_server(risk=kafka_down(limit=3, policy="reject_orders"))
    brk2 = connect(server, "BRK2")
    clients.append(brk2)
    brk2.logon()
    deadline = time.monotonic() + 15
    n = 0
    while True:   # the logon and each order wait in the spool: it fills up
        n += 1
        brk2.new_order(f"A{n}", BUY, 1, "180.00")
        er = brk2.er()
        if er[39] == "8":
            break
        assert time.monotonic() < deadline, server.log()[-3000:]
        time.sleep(0.2)
    assert er[58].startswith("the exchange's audit trail is ")
    assert er[58].endswith("entries behind; new orders are refused until it catches up")
    assert "ALERT audit trail: spool full" in server.log()
    brk2.cancel("C1", "A1", BUY, qty=1)   # cancels still go through
    assert brk2.er()[39] == "4"


def test_a_full_spool_with_keep_trading_only_alerts(start_server, clients: list[Broker]
                                                    ) -> None:
    server = start_server(risk=kafka_down(limit=2, policy="keep_trading"))
    brk2 = connect(server, "BRK2")
    clients.append(brk2)
    brk2.logon()
    for n in range(3):
        brk2.new_order(f"K{n}", BUY, 1, "180.00")
        assert brk2.er()[39] == "0"
    deadline = time.monotonic() + 10
    while "ALERT audit trail: spool full" not in server.log():
        assert time.monotonic() < deadline, server.log()[-3000:]
        time.sleep(0.1)
    brk2.new_order("K9", BUY, 1, "180.00")
    assert brk2.er()[39] == "0"


def audit_child(server: FixServer) -> int:
    """The PID of the server's audit-trail process."""
    assert server.proc is not None
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        argv = cmdline.split(b"\0")[:-1]    # it ends in a NUL
        if int(fields[1]) == server.proc.pid and argv[-2:] == [b"server.consumer_process",
                                                               b"audit"]:
            return int(stat.parent.name)
    raise AssertionError("no audit process")


def test_the_audit_process_killed_is_started_again_and_loses_nothing(
        start_server, clients: list[Broker]) -> None:
    server = start_server()
    brk2 = connect(server, "BRK2")
    clients.append(brk2)
    brk2.logon()
    brk2.rest("A1", BUY, 1, "180.00")
    wait_records(server, lambda rs: len(rs) == 3)
    os.kill(audit_child(server), signal.SIGKILL)
    brk2.rest("A2", BUY, 1, "180.00")       # while no process writes the trail
    got = wait_records(server, lambda rs: len(rs) == 5, timeout=20)
    assert [r.get("cl_ord_id") for r in got[1:]] == ["A1", "A1", "A2", "A2"]
    assert "the audit consumer's process stopped" in server.log()
