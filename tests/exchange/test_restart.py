"""A restart in the middle of a session: kill -9 the server (durable default journal),
start it again on the same data directory, reconnect the brokers.

Resting orders, partial fills, the book's time priority, session sequence numbers
and the ExecID sequence are all still there; nothing acknowledged is lost.
"""

from __future__ import annotations

import datetime as dt
import signal
import time
from dataclasses import dataclass
from decimal import Decimal

import pytest

from tests.conftest import FixServer
from tests.exchange.exchangeclient import BUY, SELL, Broker, Msg, connect

pytestmark = pytest.mark.slow


@dataclass
class Restarted:
    server: FixServer
    before: dict[str, Broker]   # the brokers' sessions before the crash (closed)
    brk2: Broker                # logged on again after the restart (FIX.4.2)
    brk3: Broker                # logged on again after the restart (FIX.4.4)
    logons: dict[str, Msg]      # the server's Logon answers after the restart
    s1: Msg                     # acknowledgement of S1 (sell 100 @190.00, 30 filled)
    b1: Msg                     # acknowledgement of B1 (buy 50 @189.00, resting)


@pytest.fixture
def restarted(start_server, clients: list[Broker]) -> Restarted:
    server = start_server(durable=True)
    brk2, brk3 = connect(server, "BRK2"), connect(server, "BRK3")
    clients += [brk2, brk3]
    brk2.logon()
    brk3.logon()
    s1 = brk3.rest("S1", SELL, 100, "190.00")
    brk3.rest("S2", SELL, 100, "190.05")
    brk2.new_order("X1", BUY, 30, "190.00")          # S1: 30 filled, 70 left
    brk2.ers(2)
    assert (brk3.er()[14], brk3.app[-1][151]) == ("30", "70")
    b1 = brk2.rest("B1", BUY, 50, "189.00")
    brk3.rest("S3", SELL, 100, "190.00")             # behind S1 at 190.00
    brk3.status("S2", SELL)                          # ExecIDs of the order-entry layer too
    brk3.er()

    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    brk2.close()
    brk3.close()
    server.start()

    again = {}
    logons = {}
    for old in (brk2, brk3):
        new = connect(server, old.sender, next_seq=old.next_seq)
        clients.append(new)
        logons[old.sender] = new.logon()
        again[old.sender] = new
    return Restarted(server, {"BRK2": brk2, "BRK3": brk3}, again["BRK2"], again["BRK3"],
                     logons, s1, b1)


def test_status_after_the_restart_has_the_same_order_id_cum_qty_and_leaves_qty(
        restarted: Restarted) -> None:
    r = restarted
    r.brk3.status("S1", SELL)
    s1 = r.brk3.er()
    assert (s1[37], s1[39], s1[14], s1[151]) == (r.s1[37], "1", "30", "70")
    assert s1.dec(6) == Decimal("190")
    r.brk2.status("B1", BUY)
    b1 = r.brk2.er()
    assert (b1[37], b1[39], b1[14], b1[151], b1[20]) == (r.b1[37], "0", "0", "50", "3")


def test_the_book_is_rebuilt_with_its_time_priority(restarted: Restarted) -> None:
    r = restarted
    r.brk2.new_order("X2", BUY, 200, "190.05")
    new, *fills = r.brk2.ers(4)
    assert [(f[31], f[32]) for f in fills] == [("190", "70"), ("190", "100"), ("190.05", "30")]
    s1, s3, s2 = r.brk3.ers(3)
    assert [(m[11], m[14], m[151], m[39]) for m in (s1, s3, s2)] == \
        [("S1", "100", "0", "2"), ("S3", "100", "0", "2"), ("S2", "30", "70", "1")]
    # The resting buy is still there too.
    r.brk3.new_order("X3", SELL, 50, "189.00")
    assert r.brk3.ers(2)[1][39] == "2"
    fill = r.brk2.er()
    assert (fill[37], fill[150], fill[39]) == (r.b1[37], "2", "2")


def test_session_sequence_numbers_continue_after_the_restart(restarted: Restarted) -> None:
    r = restarted
    for sender, logon in r.logons.items():
        before = r.before[sender]
        assert int(logon[34]) == before.last_seq_in + 1, logon
        assert logon.get(141) != "Y"
    # The server takes our next numbers as expected: no ResendRequest, no Logout,
    # and its own numbering goes on from the Logon.
    r.brk3.status("S1", SELL)
    status = r.brk3.er()
    assert int(status[34]) == int(r.logons["BRK3"][34]) + 1
    assert [m.type for m in r.brk3.app] == ["8"]


def test_exec_ids_do_not_repeat_across_the_restart(restarted: Restarted) -> None:
    r = restarted
    before = {m[17] for b in r.before.values() for m in b.app if m.type == "8"}
    r.brk2.new_order("X2", BUY, 200, "190.05")
    r.brk2.ers(4)
    r.brk3.ers(3)
    r.brk3.status("S2", SELL)
    r.brk3.er()
    r.brk2.new_order("R1", BUY, 10, "1.00", symbol="NOPE")
    r.brk2.er()
    after = [m[17] for b in (r.brk2, r.brk3) for m in b.app if m.type == "8"]
    assert len(after) == len(set(after)) == 9
    assert before & set(after) == set()


def test_cl_ord_ids_used_before_the_restart_are_still_duplicates(restarted: Restarted) -> None:
    r = restarted
    r.brk3.new_order("S1", SELL, 10, "191.00")
    er = r.brk3.er()
    assert (er[150], er[103]) == ("8", "6")


def test_gtd_order_that_expired_while_the_server_was_down_expires_at_start_up(
        start_server, clients: list[Broker]) -> None:
    server = start_server(durable=True)
    brk = connect(server, "BRK3")
    clients.append(brk)
    brk.logon()
    expire = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.5)
    new = brk.rest("G1", BUY, 100, "189.00", tif="6",
                   extra=[(126, expire.strftime("%Y%m%d-%H:%M:%S.%f")[:-3])])
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    brk.close()
    time.sleep(max(0.0, (expire - dt.datetime.now(dt.UTC)).total_seconds()) + 0.1)
    server.start()
    again = connect(server, "BRK3", next_seq=brk.next_seq)
    clients.append(again)
    logon = again.logon()
    if int(logon[34]) > brk.last_seq_in + 1:   # the expiry was reported before the logon
        again.resend_request(brk.last_seq_in + 1)
    expired = again.er(timeout=3)
    assert (expired[150], expired[39], expired[11], expired[37]) == ("C", "C", "G1", new[37])


def test_sigterm_logs_every_broker_out_and_exits_cleanly(server: FixServer, brk1: Broker,
                                                         brk2: Broker) -> None:
    assert server.stop(signal.SIGTERM) == 0
    for broker in (brk1, brk2):
        assert broker.next(2).type == "5"
