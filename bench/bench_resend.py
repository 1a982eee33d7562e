"""One broker's large resend against another broker's orders, on a real server.

A broker that reconnects after a long outage asks for everything it missed: a
ResendRequest over BENCH_RESEND_MESSAGES (default 100,000) stored messages. The
exchange answers it from its store, reading and re-stamping each message
(PossDupFlag, OrigSendingTime) as it writes them. Meanwhile another broker trades,
one order in flight at a time; what matters is that its orders do not wait for the
resend. This prints that broker's latency (send -> ExecutionReport) with and
without the resend running, and how long the resend took and at what rate.

Set-up: a ``fixserver`` with two sessions on one port, BRK1 (order entry) and RSND
(a drop-copy style session whose store is filled before the server starts with the
messages to resend). Takes about 30 s.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_exchange import (  # noqa: E402
    ClOrdIDs,
    LoadClient,
    exchange_toml,
    free_port,
    order_template,
    summary,
)

from fixserver.codec import encode  # noqa: E402
from fixserver.store import FileStore  # noqa: E402

REPO = Path(__file__).resolve().parent.parent

SESSIONS = """\
[DEFAULT]
ConnectionType=acceptor
SocketAcceptPort={port}
SocketAcceptAddress=127.0.0.1
SenderCompID=EXCH
FileStorePath=store
StartTime=00:00:00
EndTime=00:00:00
HeartBtInt=30
CheckLatency=N

[SESSION]
BeginString=FIX.4.4
TargetCompID=BRK1
ResetOnLogon=Y
Application=exchange

[SESSION]
BeginString=FIX.4.4
TargetCompID=RSND
Application=echo
"""


def fill_store(data_dir: Path, n: int) -> None:
    """RSND's store holds ``n`` ExecutionReports, as if sent while it was away."""
    store = FileStore(data_dir / "store", "FIX.4.4-EXCH-RSND")
    ts = time.strftime("%Y%m%d-%H:%M:%S.000", time.gmtime()).encode()
    for seq in range(1, n + 1):
        raw = encode(b"FIX.4.4", [
            (35, b"8"), (34, b"%d" % seq), (49, b"EXCH"), (52, ts), (56, b"RSND"),
            (6, b"190"), (11, b"C%d" % seq), (14, b"100"), (17, b"E%d" % seq), (31, b"190"),
            (32, b"100"), (37, b"%d" % seq), (38, b"100"), (39, b"2"), (54, b"1"),
            (55, b"AAPL"), (60, ts), (150, b"F"), (151, b"0")])
        store.save(seq, raw)
    store.set_next_sender(n + 1)
    store.close()


class Exchange:
    """The fixserver subprocess."""

    def __init__(self, directory: Path, resend_messages: int) -> None:
        self.dir = directory
        self.port = free_port()
        (directory / "sessions.cfg").write_text(SESSIONS.format(port=self.port))
        (directory / "exchange.toml").write_text(exchange_toml(False))
        fill_store(directory / "data", resend_messages)
        self.log_path = directory / "server.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server", "--sessions", str(directory / "sessions.cfg"),
                 "--exchange", str(directory / "exchange.toml"), "--data-dir",
                 str(directory / "data")], cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(self.log_path.read_text()) from None
                time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def resend(port: int, expected: int, started: Any, report: Any) -> None:
    """RSND logs on without a reset, asks for everything and reads it all; run in a
    process of its own, so that its reading does not hold the GIL of the trader's
    process (which would show in the trader's latency, not the exchange's)."""
    c = LoadClient(port, sender=b"RSND")
    c.sock.sendall(c.message(b"A", b"98=0\x01108=30\x01"))
    t0 = time.perf_counter()
    c.sock.sendall(c.message(b"2", b"7=1\x0116=0\x01"))
    started.set()
    received = 0
    tail = b""
    while received < expected:
        data = c.recv()
        received += (tail + data).count(b"\x0143=Y\x01")
        tail = data[-8:]
    report.send((received, time.perf_counter() - t0))


def orders(client: LoadClient, ids: ClOrdIDs, seconds: float, until: threading.Event | None
           ) -> list[int]:
    """One order in flight for ``seconds`` (or until ``until`` is set); latencies in ns."""
    templates = [order_template("AAPL", 1, 18000), order_template("AAPL", 2, 20000)]
    out = []
    deadline = time.monotonic() + seconds
    k = 0
    while time.monotonic() < deadline and not (until is not None and until.is_set()):
        ts = client.timestamp()
        msg = client.order(ids.take(), templates[k % 2], ts)
        k += 1
        t0 = time.perf_counter_ns()
        client.sock.sendall(msg)
        while not client.scan(client.recv()):
            pass
        out.append(time.perf_counter_ns() - t0)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int,
                   default=int(os.environ.get("BENCH_RESEND_MESSAGES", 100_000)),
                   help="stored messages resent (BENCH_RESEND_MESSAGES)")
    p.add_argument("--baseline-seconds", type=float, default=5.0)
    args = p.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="bench-resend-"))
    server = None
    try:
        print(f"filling RSND's store with {args.messages:,} messages ...", flush=True)
        server = Exchange(directory, args.messages)
        trader = LoadClient(server.port)
        trader.logon()
        ids = ClOrdIDs()
        orders(trader, ids, 1.0, None)                      # warm up
        baseline = summary(sorted(orders(trader, ids, args.baseline_seconds, None)))
        mp = multiprocessing.get_context("fork")
        started = mp.Event()
        receiving, report = mp.Pipe(duplex=False)
        reader = mp.Process(target=resend, args=(server.port, args.messages, started, report),
                            daemon=True)
        reader.start()
        started.wait(30)
        done = threading.Event()
        waiter = threading.Thread(target=lambda: (reader.join(120), done.set()), daemon=True)
        waiter.start()
        during = sorted(orders(trader, ids, 120.0, done))
        if not receiving.poll(5):
            raise RuntimeError(f"the resend reader failed (exit code {reader.exitcode})")
        received, seconds = receiving.recv()
        busy = summary(during)
        print(f"resend of {received:,} messages: {seconds:.2f} s "
              f"({received / seconds:,.0f} messages/s)")
        print(f"{'BRK1 orders, 1 in flight':34} {'n':>7} {'p50 us':>9} {'p99 us':>9} "
              f"{'max us':>9}")
        for label, s, n in (("without a resend", baseline, None),
                            ("during RSND's resend", busy, len(during))):
            count = n if n is not None else "-"
            print(f"  {label:32} {count:>7} {s['p50']:9.0f} {s['p99']:9.0f} "
                  f"{s['max']:9.0f}")
        trader.close()
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
