"""Random crashes under pipelined load: kill -9 a durable exchange while three brokers
have orders, cancels and replaces in flight, restart it on the same data directory,
recover every session by ResendRequest, and check that nothing the exchange knows was
lost or reported twice (docs/FIX.md 1.4 "No report is lost", 6, 7).

One test runs several rounds on one data directory (the state carries over, so later
rounds recover from snapshots plus the journal's tail, with the state of the earlier
rounds in them). Each round:

1. BRK1 (FIX.4.4, CancelOnDisconnect=Y), BRK2 (FIX.4.2) and BRK3 (FIX.4.4) send a
   random mix of NewOrderSingle (resting and crossing, GTC and IOC, now and then an
   unknown symbol), OrderCancelRequest and OrderCancelReplaceRequest on orders they
   know, up to a few or (bursts) up to 80 in flight without waiting for the answers,
   and DC1 (drop copy of every firm) reads along; a timer SIGKILLs the server a random
   50-400 ms into the load.
2. The server is started again; every session logs on with its own next MsgSeqNum as
   it was (the server's ResendRequest for the requests it never processed is answered
   with a SequenceReset-GapFill: stale orders are not sent again) and asks for
   everything after the last MsgSeqNum it received. In about a third of the rounds
   the restarted server is SIGKILLed again 0-300 ms after it listens (during the
   Logons or the resends, or just after them) and the recovery starts over from what
   each session has by then.
3. Checks, strict:

   * per session, MsgSeqNum 1..N are each covered exactly once by a message received
     live, a PossDupFlag=Y copy or a SequenceReset-GapFill, and gap fills cover no
     application message; no ExecID arrives twice (on a broker session or on DC1);
   * every request the broker never got an answer for is unknown to the exchange
     (OrderStatusRequest: OrdStatus 8, OrderID NONE): what the exchange journaled has
     been reported;
   * every order the broker knows of (open ones, and any touched in the round) has,
     in its OrderStatusRequest answer, the OrderID, ClOrdID, OrdStatus, OrderQty,
     Price, CumQty, LeavesQty and AvgPx of the last report the broker has of it;
     BRK1's open orders are all cancelled on disconnect by the restart;
   * each account's positions and cash (admin interface) are its start plus the fills
     its broker saw, its reserved cash is the open buys' price x LeavesQty and its
     number of open orders is the number of open orders the broker knows of: no order
     in the book that the broker has no report of, none twice;
   * every fill has a counterpart of the opposite side (same symbol, LastPx, LastQty,
     TransactTime), and DC1 holds a copy of exactly the reports the brokers received.

The seed is printed and is in every failure message; run again with
``RANDOM_CRASH_SEED=<seed>`` (the kill lands at a different instant each run, so the
rest of a round follows the timing too).
"""

from __future__ import annotations

import bisect
import json
import os
import random
import re
import select
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from tests.conftest import FixServer
from tests.exchange.exchangeclient import BUY, SELL, Broker, Msg
from tests.robustness.fixclient import utc_now as now

pytestmark = pytest.mark.slow

ROUNDS = 10
BROKERS = ("BRK1", "BRK2", "BRK3")
DROP_COPY = "DC1"
ACCOUNTS = {"BRK1": "BRK1-MAIN", "BRK2": "BRK2-MAIN", "BRK3": "BRK3-MAIN"}
START_CASH = Decimal("1000000000")
START_POSITION = 10_000_000      # of each symbol (exchangeclient.EXCHANGE_TOML)
MID = {"AAPL": 19000, "MSFT": 42000}                   # cents
OPTIONS = ("snapshot_interval = 0.2\n"
           # no BusinessMessageReject for a burst: every request reaches the journal
           "max_messages_per_second = 1000000\n")
ADMIN_TYPES = frozenset("0 1 2 3 4 5 A".split())
FILL_EXEC_TYPES = frozenset(("F", "1", "2"))
ROUND_SECONDS = 20.0             # any wait of a round gives up after this


def cents(c: int) -> str:
    return f"{c // 100}.{c % 100:02d}"


@dataclass
class Request:
    kind: str                    # D, F or G
    cl_ord_id: str
    round: int
    oid: str | None = None       # F, G: the OrderID of the order it is for
    answers: list[Msg] = field(default_factory=list)


@dataclass
class Order:
    oid: str
    side: str
    symbol: str
    reports: list[Msg] = field(default_factory=list)     # in MsgSeqNum order
    touched: int = 0             # the last round in which it was sent something / reported

    @property
    def last(self) -> Msg:
        return self.reports[-1]

    @property
    def open(self) -> bool:
        return int(self.last[151]) > 0


class Party:
    """One session (a broker or the drop copy) across connections and rounds: what it
    sent and everything it received, with the MsgSeqNums that covers."""

    def __init__(self, sender: str) -> None:
        self.sender = sender
        self.fix: Broker | None = None
        self.next_seq = 1
        self.connected = False
        self.can_send = False
        self.round = 0
        self.phase = "load"
        self.received: list[tuple[int, str, Msg]] = []      # (round, phase, message)
        self.cover: dict[int, str] = {}                     # MsgSeqNum -> app/admin/gap
        self.contiguous = 0                                 # 1..contiguous all covered
        self.max_seq = 0
        self.live_seq = 0            # the last MsgSeqNum received live on this connection
        self.problems: list[str] = []
        self.exec_ids: dict[str, Msg] = {}
        self.requests: dict[str, Request] = {}
        self.pending: set[str] = set()      # ClOrdIDs of this round's unanswered requests
        self.orders: dict[str, Order] = {}
        self.by_cl_ord_id: dict[str, str] = {}              # ClOrdID -> OrderID
        self.reports: list[Msg] = []                        # every ExecutionReport
        self.status_answers: list[Msg] = []                 # this verification's
        self.logon: Msg | None = None
        self.counter = 0

    # -- connection --------------------------------------------------------------------

    def connect(self, server: FixServer) -> None:
        self.live_seq = 0
        self.logon = None
        try:
            self.fix = Broker(server.port, self.sender, next_seq=self.next_seq)
        except OSError:          # killed again already
            self.fix = None
            self.connected = self.can_send = False
        else:
            self.connected = self.can_send = True

    def send(self, msg_type: str, fields: list[tuple[int, object]]) -> bool:
        if self.fix is None or not self.can_send:
            return False
        try:
            self.fix.send(msg_type, fields)
        except OSError:
            self.can_send = False
        self.next_seq = self.fix.next_seq
        return self.can_send

    def gap_fill_for(self, resend_request: Msg) -> None:
        """Answer the server's ResendRequest without resending anything: stale requests
        are not sent again (they are unknown to the exchange, and stay so)."""
        assert self.fix is not None
        begin = int(resend_request[7])
        try:
            self.fix.send("4", [(123, "Y"), (36, self.fix.next_seq)], seq=begin,
                          poss_dup=True)
        except OSError:
            self.can_send = False

    def read(self) -> None:
        """Read what the socket has (it is readable) and handle every whole message."""
        assert self.fix is not None
        try:
            data = self.fix.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.connected = self.can_send = False
            self.fix.close()
            return
        self.fix.parser.append_buffer(data)
        while (raw := self.fix.parser.get_message()) is not None:
            self.on_message(Msg(raw.pairs))

    # -- receiving ---------------------------------------------------------------------

    def problem(self, text: str) -> None:
        self.problems.append(f"{self.sender} round {self.round} ({self.phase}): {text}")

    def _cover(self, seq: int, kind: str, msg: Msg) -> None:
        was = self.cover.get(seq)
        if was is None:
            self.cover[seq] = kind
        elif not (was == "admin" and kind == "gap" or was == "gap" and kind == "admin"):
            self.problem(f"MsgSeqNum {seq} covered twice ({was}, then {kind}): {msg}")
        self.max_seq = max(self.max_seq, seq)
        while self.contiguous + 1 in self.cover:
            self.contiguous += 1

    def on_message(self, msg: Msg) -> None:
        self.received.append((self.round, self.phase, msg))
        seq = int(msg[34])
        poss_dup = msg.get(43) == "Y"
        kind = msg.type
        if kind == "4":
            if msg.get(123) != "Y":
                self.problem(f"SequenceReset in reset mode: {msg}")
            new_seq = int(msg[36])
            if new_seq <= seq:
                self.problem(f"gap fill that covers nothing: {msg}")
            for s in range(seq, new_seq):
                if self.cover.get(s) == "app":
                    self.problem(f"gap fill {seq}..{new_seq - 1} covers application "
                                 f"message {s}")
                else:
                    self._cover(s, "gap", msg)
            return
        if poss_dup and kind in ADMIN_TYPES:
            self.problem(f"session message resent instead of gap-filled: {msg}")
        if not poss_dup:
            if seq <= self.live_seq:
                self.problem(f"live MsgSeqNum {seq} after {self.live_seq}: {msg}")
            elif self.live_seq and seq != self.live_seq + 1:
                self.problem(f"live MsgSeqNum jumps from {self.live_seq} to {seq}: {msg}")
            self.live_seq = seq
        self._cover(seq, "admin" if kind in ADMIN_TYPES else "app", msg)
        if kind == "1":
            if self.can_send:
                self.send("0", [(112, msg[112])])
        elif kind == "2":
            self.gap_fill_for(msg)
        elif kind == "A":
            self.logon = msg
        elif kind in ("0", "5"):
            pass
        elif kind == "8":
            self.on_report(msg)
        elif kind == "9":
            request = self.requests.get(msg[11])
            if request is None:
                self.problem(f"OrderCancelReject for no request of ours: {msg}")
            else:
                request.answers.append(msg)
                self.pending.discard(request.cl_ord_id)
        else:
            self.problem(f"unexpected message: {msg}")

    def on_report(self, er: Msg) -> None:
        exec_id = er[17]
        if exec_id in self.exec_ids:
            self.problem(f"ExecID {exec_id} received twice: first {self.exec_ids[exec_id]}, "
                         f"again {er}")
            return
        self.exec_ids[exec_id] = er
        self.reports.append(er)
        if self.sender == DROP_COPY:
            return
        if self.phase == "verify" and is_status(er):
            self.status_answers.append(er)
            return
        if self.phase == "verify":
            self.problem(f"report other than a status answer while nothing trades: {er}")
        request = self.requests.get(er[11])
        if request is not None:
            request.answers.append(er)
            self.pending.discard(request.cl_ord_id)
        oid = er[37]
        if oid == "NONE":
            if er[150] != "8" or request is None or request.kind != "D":
                self.problem(f"report without an order: {er}")
            return
        order = self.orders.get(oid)
        if order is None:
            order = self.orders[oid] = Order(oid, er[54], er[55])
        bisect.insort(order.reports, er, key=seq_of)
        order.touched = self.round
        for tag in (11, 41):
            if tag in er:
                known = self.by_cl_ord_id.setdefault(er[tag], oid)
                if known != oid:
                    self.problem(f"ClOrdID {er[tag]} of orders {known} and {oid}: {er}")

    # -- order entry -------------------------------------------------------------------

    def next_id(self, kind: str) -> str:
        self.counter += 1
        return f"{self.sender}-{self.round}-{kind}{self.counter}"

    def in_flight(self) -> int:
        return len(self.pending)

    def send_random(self, rng: random.Random) -> None:
        assert self.fix is not None
        open_orders = [o for o in self.orders.values() if o.open]
        choice = rng.random()
        if not open_orders or choice < 0.55:
            self.send_new(rng)
            return
        order = rng.choice(open_orders)
        order.touched = self.round
        last = order.last
        cl_ord_id = self.next_id("C" if choice < 0.78 else "R")
        self.requests[cl_ord_id] = Request("F" if choice < 0.78 else "G", cl_ord_id,
                                           self.round, order.oid)
        self.pending.add(cl_ord_id)
        fields: list[tuple[int, object]]
        if choice < 0.78:
            fields = [(11, cl_ord_id), (38, last[38]), (41, last[11]), (54, order.side),
                      (55, order.symbol), (60, now())]
            self.send("F", fields)
            return
        qty = int(last[38])
        new_qty = max(1, qty + rng.choice((-1, 1)) * rng.randint(1, 100)) \
            if rng.random() < 0.8 else max(1, int(last[14]))   # sometimes at the filled qty
        price = int(Decimal(last[44]) * 100) + rng.choice((0, 0, -1, 1)) * rng.randint(1, 8)
        fields = [(11, cl_ord_id), (21, 1), (38, new_qty), (40, 2), (41, last[11]),
                  (44, cents(price)), (54, order.side), (55, order.symbol), (60, now())]
        self.send("G", fields)

    def send_new(self, rng: random.Random) -> None:
        cl_ord_id = self.next_id("N")
        self.requests[cl_ord_id] = Request("D", cl_ord_id, self.round)
        self.pending.add(cl_ord_id)
        symbol = rng.choice(("AAPL", "AAPL", "AAPL", "MSFT"))
        side = rng.choice((BUY, SELL))
        mid = MID[symbol]
        if rng.random() < 0.5:       # at or through the middle: it may trade at once
            offset = rng.randint(0, 10)
        else:                        # passive: it rests
            offset = -rng.randint(5, 60)
        price = mid + offset if side == BUY else mid - offset
        if rng.random() < 0.03:
            symbol = "NOPE"          # rejected before matching (ExecID X..., OrderID NONE)
        tif = "3" if rng.random() < 0.15 else "1"
        self.send("D", [(11, cl_ord_id), (21, 1), (38, rng.randint(1, 300)), (40, 2),
                        (44, cents(price)), (54, side), (55, symbol), (59, tif),
                        (60, now())])


def seq_of(msg: Msg) -> int:
    return int(msg[34])


def is_status(er: Msg) -> bool:
    return er[150] == "I" or er.get(20) == "3"


def is_fill(er: Msg) -> bool:
    return er[150] in FILL_EXEC_TYPES and not is_status(er)


def ord_status(er: Msg) -> str:
    """OrdStatus as a status answer gives it (FIX.4.2 replace reports say 5)."""
    status = er[39]
    if status == "5":
        return "1" if int(er[14]) > 0 else "0"
    return status


def pump(parties: list[Party], timeout: float) -> bool:
    """Wait up to ``timeout`` for any of the connected parties' sockets and read all that
    arrived; False when nothing did."""
    live = {p.fix.sock.fileno(): p for p in parties if p.connected and p.fix is not None}
    if not live:
        time.sleep(timeout)
        return False
    poller = select.poll()
    for fd in live:
        poller.register(fd, select.POLLIN)
    ready = poller.poll(max(0.0, timeout) * 1000)
    for fd, _ in ready:
        live[fd].read()
    return bool(ready)


def settle(parties: list[Party], done, what: str, quiet: float = 0.05) -> None:
    """Read until ``done()`` and then nothing more for ``quiet`` seconds."""
    deadline = time.monotonic() + ROUND_SECONDS
    while True:
        if not pump(parties, quiet) and done():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: " + "; ".join(
                f"{p.sender} contiguous {p.contiguous} max {p.max_seq}" for p in parties))


def admin(server: FixServer, command: str) -> dict:
    from venue.admin import request, socket_path
    deadline = time.monotonic() + 10
    while True:
        try:
            reply = json.loads(request(socket_path(server.data_dir), command, timeout=10))
            assert reply["ok"], reply
            return reply
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# -- the phases of a round -------------------------------------------------------------------


def load_and_kill(server: FixServer, parties: list[Party], rng: random.Random,
                  kill_after: float, log: list[str]) -> None:
    brokers = [p for p in parties if p.sender != DROP_COPY]
    # requests in flight per broker: a few, or a burst (large group commits, many
    # reports between the journal and the stores when the kill comes)
    windows = {p.sender: rng.randint(1, 10) if rng.random() < 0.7 else rng.randint(20, 80)
               for p in brokers}
    gaps = {p.sender: 0.0 if windows[p.sender] >= 20 else rng.uniform(0.0, 0.003)
            for p in brokers}
    next_send = dict.fromkeys(windows, 0.0)
    for p in parties:
        p.phase = "load"
        p.pending.clear()        # the last round's unanswered requests are dead
    killer = threading.Timer(kill_after, server.stop, (signal.SIGKILL,))
    start = time.monotonic()
    killer.start()
    sent = 0
    while any(p.connected for p in parties):
        t = time.monotonic()
        for p in brokers:
            if not p.can_send or t < next_send[p.sender]:
                continue
            # a burst fills its window at once, the others send one at a time
            for _ in range(windows[p.sender] - p.in_flight() if gaps[p.sender] == 0 else 1):
                if p.in_flight() >= windows[p.sender]:
                    break
                p.send_random(rng)
                sent += 1
            next_send[p.sender] = t + gaps[p.sender]
        pump(parties, 0.0005)
        if t - start > kill_after + ROUND_SECONDS:
            raise AssertionError("the connections are still open long after the kill")
    killer.join()
    assert server.proc is not None and server.proc.returncode == -signal.SIGKILL, \
        server.log()[-3000:]
    unanswered = sum(p.in_flight() for p in brokers)
    log.append(f"kill after {kill_after * 1000:.0f} ms (windows {windows}): {sent} requests "
               f"sent, {unanswered} unanswered at the kill")


def recover(server: FixServer, parties: list[Party], rnd: int, log: list[str],
            kill_again: float | None) -> None:
    """Restart, log every session on again and have each ask for what it missed; with
    ``kill_again``, SIGKILL the restarted server that long after it listens (during the
    Logons or the resends, or just after them) and recover from that too."""
    unanswered = [r for p in parties for r in p.requests.values()
                  if not r.answers and r.round == rnd]
    while True:
        mark = len(server.log())
        t0 = time.monotonic()
        server.start(timeout=30)
        started = time.monotonic() - t0
        killer = None
        if kill_again is not None:
            killer = threading.Timer(kill_again, server.stop, (signal.SIGKILL,))
            killer.start()
        seen = {p.sender: p.max_seq for p in parties}
        for p in parties:
            p.phase = "recover"
            p.connect(server)
            p.send("A", [(98, 0), (108, 30)])
        settle(parties, lambda: all(p.logon is not None or not p.connected for p in parties),
               "the Logons")
        gaps = []
        for p in parties:
            if p.logon is None:
                continue
            logon_seq = int(p.logon[34])
            assert seen[p.sender] < logon_seq, (
                f"{p.sender}: the server's Logon after the restart has MsgSeqNum {logon_seq}, "
                f"but {seen[p.sender]} was received before the crash: the restarted server "
                f"numbers its messages again from a number it already used")
            if p.contiguous + 1 < logon_seq:
                gaps.append(f"{p.sender} {p.contiguous + 1}..{logon_seq - 1}")
                p.send("2", [(7, p.contiguous + 1), (16, 0)])
        settle(parties, lambda: all(p.contiguous >= p.max_seq or not p.connected
                                    for p in parties), "the resends")
        resent = sum(1 for p in parties for r, phase, m in p.received
                     if r == rnd and phase == "recover" and m.get(43) == "Y" and m.type == "8")
        text = server.log()[mark:]
        snapshot = re.search(r"snapshot (\d+)\.snapshot: .* loaded in", text)
        replayed = re.search(r"venue.exchange: journal .*: replayed (\d+) commands", text)
        redelivered = re.search(r"after seq (\d+) \(the last whose reports were all "
                                r"stored\), (\d+) commands were replayed", text)
        log.append(f"restarted in {started:.2f} s from "
                   f"{'snapshot ' + str(int(snapshot[1])) if snapshot else 'no snapshot'} + "
                   f"{replayed[1] if replayed else 0 if snapshot else '?'} commands"
                   + (f", {redelivered[2]} after the delivered mark {redelivered[1]}"
                      if redelivered else "")
                   + f"; resend of {', '.join(gaps) or 'nothing'}: {resent} reports so far")
        if killer is None:
            break
        killer.join()
        kill_again = None
        deadline = time.monotonic() + ROUND_SECONDS
        while any(p.connected for p in parties):       # what was on its way, then EOF
            pump(parties, 0.01)
            assert time.monotonic() < deadline, "connections open after the second kill"
        assert server.proc is not None and server.proc.returncode == -signal.SIGKILL
        log.append(f"killed again {killer.interval * 1000:.0f} ms after the restart")
    late = sum(1 for r in unanswered if r.answers)
    log.append(f"{late} of {len(unanswered)} unanswered requests answered by the resend")


def verify(server: FixServer, parties: list[Party], rnd: int, log: list[str]) -> None:
    brokers = [p for p in parties if p.sender != DROP_COPY]
    dc = next(p for p in parties if p.sender == DROP_COPY)
    problems: list[str] = []
    expected: dict[str, list[tuple[str, object]]] = {}
    for p in parties:
        p.phase = "verify"
        p.status_answers = []
    for p in brokers:
        asked: list[tuple[str, object]] = []
        for r in p.requests.values():
            if not r.answers and r.round == rnd:
                # never answered, before or after the crash: the exchange must not know it
                asked.append((r.cl_ord_id, r))
                p.send("H", [(11, r.cl_ord_id), (54, BUY), (55, "AAPL")])
        for order in p.orders.values():
            if order.open or order.touched == rnd:
                asked.append((order.last[11], order))
                p.send("H", [(11, order.last[11]), (54, order.side), (55, order.symbol)])
        expected[p.sender] = asked
    settle(parties, lambda: all(len(p.status_answers) >= len(expected[p.sender])
                                for p in brokers), "the status answers")
    for p in brokers:
        answers = p.status_answers
        if len(answers) != len(expected[p.sender]):
            problems.append(f"{p.sender}: {len(answers)} status answers to "
                            f"{len(expected[p.sender])} requests")
        for (cl_ord_id, what), answer in zip(expected[p.sender], answers, strict=False):
            if answer[11] != cl_ord_id:
                problems.append(f"{p.sender}: status of {cl_ord_id} answered for "
                                f"{answer[11]}: {answer}")
            elif isinstance(what, Request):
                if (answer[39], answer[37]) != ("8", "NONE"):
                    problems.append(
                        f"{p.sender}: the exchange knows {what.kind} {cl_ord_id}, which the "
                        f"broker never got a report of (not before the crash, not in the "
                        f"resend): {answer}")
            else:
                last = what.last
                want = (last[37], last[11], ord_status(last), last.get(38), last.get(44),
                        last[14], last[151], Decimal(last[6]))
                got = (answer[37], answer[11], answer[39], answer.get(38), answer.get(44),
                       answer[14], answer[151], Decimal(answer[6]))
                if got != want:
                    problems.append(f"{p.sender}: order {what.oid} is {got} at the exchange "
                                    f"but {want} by the last report {last}")
    # the book and the accounts, through the admin interface
    for p in brokers:
        account = admin(server, f"account {ACCOUNTS[p.sender]}")["account"]
        positions: Counter[str] = Counter()
        cash = START_CASH
        for er in p.reports:
            if is_fill(er):
                qty = int(er[32])
                sign = 1 if er[54] == BUY else -1
                positions[er[55]] += sign * qty
                cash -= sign * qty * Decimal(er[31])
        open_orders = [o for o in p.orders.values() if o.open]
        reserved = sum((int(o.last[151]) * Decimal(o.last[44]) for o in open_orders
                        if o.side == BUY), Decimal(0))
        want = {"cash": cash, "reserved": reserved, "open_orders": len(open_orders),
                "positions": {s: START_POSITION + positions[s] for s in ("AAPL", "MSFT", "XOM")}}
        got = {"cash": Decimal(account["cash"]), "reserved": Decimal(account["reserved"]),
               "open_orders": account["open_orders"],
               "positions": {s: account["positions"].get(s, 0) for s in ("AAPL", "MSFT", "XOM")}}
        if got != want:
            problems.append(f"{p.sender}: account {ACCOUNTS[p.sender]} is {got} at the exchange "
                            f"but {want} by the broker's reports")
        if p.sender == "BRK1" and open_orders:
            problems.append(f"BRK1 (CancelOnDisconnect=Y) has orders open after the restart: "
                            f"{[o.last for o in open_orders]}")
    # every fill has its other side
    sides: dict[str, Counter] = {BUY: Counter(), SELL: Counter()}
    for p in brokers:
        for er in p.reports:
            if is_fill(er):
                sides[er[54]][(er[55], Decimal(er[31]), int(er[32]), er[60])] += 1
    if sides[BUY] != sides[SELL]:
        problems.append(f"fills without a counterpart: buys {sides[BUY] - sides[SELL]}, "
                        f"sells {sides[SELL] - sides[BUY]}")
    # ExecIDs are unique across the exchange
    twice = [x for x, n in Counter(x for p in brokers for x in p.exec_ids).items() if n > 1]
    if twice:
        problems.append(f"ExecIDs on two sessions: {twice[:20]}")
    # the drop copy has exactly the reports the brokers have
    total = sum(len(p.reports) for p in brokers)
    settle(parties, lambda: len(dc.reports) >= total, "the drop copies")
    copied = Counter((c[128], copy_key(c)) for c in dc.reports)
    owned = Counter((p.sender, copy_key(er)) for p in brokers for er in p.reports)
    if copied != owned:
        problems.append(f"drop copies that no broker has: {copied - owned}; reports without "
                        f"a drop copy: {owned - copied}")
    for p in parties:
        if p.contiguous != p.max_seq:
            problems.append(f"{p.sender}: MsgSeqNum covered up to {p.contiguous}, received up "
                            f"to {p.max_seq}")
        problems += p.problems
        p.problems = []
    if not server.alive():
        problems.append(f"the server died by itself: {server.log()[-3000:]}")
    assert not problems, "\n".join(problems[:40])
    log.append(f"verified {sum(len(v) for v in expected.values())} statuses; open orders "
               + ", ".join(f"{p.sender} {sum(o.open for o in p.orders.values())}"
                           for p in brokers)
               + f"; {total} reports, {sum(len(p.exec_ids) for p in brokers)} ExecIDs")


def copy_key(er: Msg) -> tuple[str, ...]:
    """What a report and its drop copy share, whatever their FIX versions."""
    return tuple(er.get(t, "") for t in (17, 37, 11, 41, 14, 151, 6, 31, 32, 55, 54, 1))


def test_random_kills_under_pipelined_load_lose_and_repeat_no_report(start_server) -> None:
    seed = int(os.environ.get("RANDOM_CRASH_SEED", random.SystemRandom().randrange(2**32)))
    rng = random.Random(seed)
    print(f"RANDOM_CRASH_SEED={seed}")
    server: FixServer = start_server(durable=True, exchange_options=OPTIONS)
    parties = [Party(s) for s in (*BROKERS, DROP_COPY)]
    log: list[str] = []
    began = time.monotonic()
    try:
        for p in parties:
            p.connect(server)
            p.send("A", [(98, 0), (108, 30)])
        settle(parties, lambda: all(p.logon is not None for p in parties), "the first Logons")
        for rnd in range(1, ROUNDS + 1):
            for p in parties:
                p.round = rnd
            log.append(f"round {rnd}:")
            load_and_kill(server, parties, rng, rng.uniform(0.05, 0.4), log)
            recover(server, parties, rnd, log,
                    rng.uniform(0.0, 0.3) if rng.random() < 0.3 else None)
            verify(server, parties, rnd, log)
    except AssertionError as e:
        raise AssertionError(f"RANDOM_CRASH_SEED={seed}, after {time.monotonic() - began:.1f} "
                             f"s:\n" + "\n".join(log) + f"\n{e}") from None
    finally:
        for p in parties:
            if p.fix is not None:
                p.fix.close()
        print("\n".join(log))
    kinds = Counter(er[150] if not is_status(er) else "status"
                    for p in parties if p.sender != DROP_COPY for er in p.reports)
    print(f"{ROUNDS} rounds in {time.monotonic() - began:.1f} s; ExecTypes {dict(kinds)}")
    for exec_types in (("0",), ("F", "1", "2"), ("4",), ("5",), ("8",)):
        assert any(kinds[t] for t in exec_types), (f"RANDOM_CRASH_SEED={seed}: no report "
                                                   f"of ExecType {exec_types}: {kinds}")
