"""This exchange beside QuickFIX C++'s ``ordermatch``, on the same machine, in one run.

The benchmark peer of issue 17: ``../shared/peers/quickfix-ordermatch/build.sh`` builds
``ordermatch`` (QuickFIX's example order matcher, C++) once into the cache; this starts it
and this exchange in turn (with its journal durable, fdatasync per batch, and with fsync
off, and with fsync off and busy polling, ``[exchange] busy_poll_us = 1000``),
``--rounds`` times, and drives them with the same load generator
(``bench_exchange.LoadClient``: crossing buy/sell pairs at one price, every sell trading),
one order in flight and then ``--window`` in flight. ordermatch stores every message in
QuickFIX's FileStore, written but not fsynced (FileStoreSync=N, QuickFIX's default): its
like is this exchange with fsync off. The exchange runs as
shipped: every consumer on (ExecutionReports, drop copy, FIX market data without
subscribers, the audit trail to files, metrics and the HTTP listener, the snapshotter).
ordermatch speaks FIX 4.2 (CLIENT1 -> ORDERMATCH), the exchange FIX 4.4 (BRK1 -> EXCH);
the orders carry HandlInst (21), which 4.2 requires. Prints a table with the ratios,
and where the CPU goes per order at 64 in flight: the server's, its children's (the
snapshotter and the audit trail follow the journal and the event log behind the load:
counted until they are idle again) and the load generator's. On a 2-core machine the
children run on the load generator's CPU (the server is pinned to the other).
The goals of issue 17: at least ordermatch's orders/s at 64 in flight; a one-in-flight
p50 within 1.5x of it (fsync off) or within fdatasync + 100 µs (durable).

    python bench/bench_vs_quickfix.py [--rounds 3] [--seconds 5] [--one 2000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_exchange import (  # noqa: E402
    ClOrdIDs,
    CpuMeter,
    LoadClient,
    Server,
    fdatasync_time,
    free_port,
    one_in_flight,
    order_template,
    pin_cpus,
    pipelined,
    summary,
)

REPO = Path(__file__).resolve().parent.parent
PEER = REPO.parent / "shared" / "peers" / "quickfix-ordermatch" / "build.sh"
SYMBOL = "BTRD"
BUSY = "busy poll (fsync off)"
BUSY_POLL_US = 1000     # [exchange] busy_poll_us of that column


def templates() -> list[bytes]:
    """Buy then sell 100 at 100.00 (each sell fills the buy before it), with HandlInst."""
    return [b"21=1\x01" + order_template(SYMBOL, side, 10000) for side in (1, 2)]


def build_peer() -> Path:
    """ordermatch, built once by the shared script (Debian's libquickfix-dev)."""
    if not PEER.exists():
        raise SystemExit(f"bench_vs_quickfix: {PEER} is missing (../shared beside the repo)")
    out = subprocess.run(["bash", str(PEER)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"bench_vs_quickfix: building ordermatch failed:\n{out.stderr[-2000:]}")
    return Path(out.stdout.strip().splitlines()[-1])


class Peer:
    """ordermatch on a free port with a store of its own; stdin held open (EOF quits it)."""

    def __init__(self, binary: Path, cpu: int | None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="bench-ordermatch-"))
        self.port = free_port()
        example = (binary.parent / "ordermatch.cfg.example").read_text()
        cfg = example.replace("SocketAcceptPort=5001", f"SocketAcceptPort={self.port}")
        cfg = cfg.replace("FileStorePath=store", f"FileStorePath={self.dir / 'store'}")
        (self.dir / "ordermatch.cfg").write_text(cfg)
        self.proc = subprocess.Popen([str(binary), str(self.dir / "ordermatch.cfg")],
                                     cwd=self.dir, stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pid = self.proc.pid
        if cpu is not None:
            os.sched_setaffinity(self.pid, {cpu})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise SystemExit("bench_vs_quickfix: ordermatch did not listen")

    def client(self) -> LoadClient:
        return LoadClient(self.port, b"CLIENT1", b"ORDERMATCH", b"FIX.4.2")

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def measure(client: LoadClient, pid: int, args: argparse.Namespace) -> dict[str, float]:
    """One in flight, then ``window`` in flight, against a logged-on client."""
    ids, tpl = ClOrdIDs(), templates()
    one_in_flight(client, ids, tpl, 300)                       # warm-up
    pipelined(client, ids, tpl, args.window, 3000, 5)
    lat = one_in_flight(client, ids, tpl, args.one)
    one = summary(lat)
    meter = CpuMeter(pid)
    lat, done, elapsed = pipelined(client, ids, tpl, args.window, 10_000_000, args.seconds)
    many = summary(lat)
    cpu = meter.stop(done, settle=True)
    problems = client.problems()
    if problems:
        print(f"    PROBLEM: {problems}")
    return {"rate": done / elapsed, "p50_1": one["p50"], "p99_1": one["p99"],
            "p50_w": many["p50"], "p99_w": many["p99"], "cpu": cpu["server_cpu_us"],
            "children": cpu["children_cpu_us"], "client": cpu["client_cpu_us"],
            "settle": cpu["settle_s"]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    env = os.environ.get
    p.add_argument("--rounds", type=int, default=int(env("BENCH_ROUNDS", 3)))
    p.add_argument("--seconds", type=float, default=float(env("BENCH_SECONDS", 5)))
    p.add_argument("--one", type=int, default=int(env("BENCH_ONE", 2000)))
    p.add_argument("--window", type=int, default=int(env("BENCH_WINDOW", 64)))
    args = p.parse_args()
    binary = build_peer()
    load_cpu, server_cpu = pin_cpus()
    os.environ["FIXSERVER_HTTP_LISTEN"] = "127.0.0.1:0"     # on, on a port of its own
    sync50, sync99 = fdatasync_time(Path(tempfile.gettempdir()))
    print(f"this exchange beside QuickFIX C++ ordermatch ({binary}): {args.rounds} rounds, "
          f"alternating; crossing pairs, {args.one:,} orders 1 in flight then {args.seconds:g} s "
          f"at {args.window} in flight; load generator on CPU {load_cpu}, servers on CPU "
          f"{server_cpu}; fdatasync p50 {sync50:.0f} µs p99 {sync99:.0f} µs; load average "
          f"{os.getloadavg()[0]:.2f}")
    names = ("ordermatch", "fixserver", "fixserver (fsync off)", BUSY)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for r in range(args.rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            if name == "ordermatch":
                peer = Peer(binary, server_cpu)
                client, pid, stop = peer.client(), peer.pid, peer.stop
            else:
                server = Server(fsync=name == "fixserver", cpu=server_cpu,
                                exchange={"busy_poll_us": BUSY_POLL_US} if name == BUSY
                                else None)
                client, pid, stop = LoadClient(server.port), server.pid, server.stop
            try:
                client.logon()
                res = measure(client, pid, args)
            finally:
                client.close()
                stop()
            results[name].append(res)
            print(f"  round {r + 1} {name:21}: {res['rate']:8,.0f} orders/s at {args.window} "
                  f"in flight (p50 {res['p50_w']:,.0f} µs), CPU µs an order: server "
                  f"{res['cpu']:.0f}, its children {res['children']:.0f} (idle again "
                  f"{res['settle']:.1f} s after), load generator {res['client']:.0f}; "
                  f"1 in flight p50 {res['p50_1']:.0f} µs p99 {res['p99_1']:.0f} µs",
                  flush=True)

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    print(f"\nmedians of {args.rounds} rounds       ordermatch    fixserver (ratio)   "
          "fsync off (ratio)  + busy poll (ratio)")
    for label, key, unit in (("orders/s, 64 in flight", "rate", ""),
                             ("server CPU per order", "cpu", " µs"),
                             ("its children's CPU", "children", " µs"),
                             ("load generator's CPU", "client", " µs"),
                             ("1 in flight p50", "p50_1", " µs"),
                             ("1 in flight p99", "p99_1", " µs"),
                             ("64 in flight p50", "p50_w", " µs")):
        a = med("ordermatch", key)
        cells = "".join(f" {med(n, key):9,.0f}{unit:3}" + (f" ({med(n, key) / a:4.2f}x)" if a
                                                             else "        ")
                        for n in names[1:])
        print(f"  {label:26} {a:9,.0f}{unit:3}{cells}")
    rate = med("fixserver", "rate") / med("ordermatch", "rate")
    p50, p50_off = med("fixserver", "p50_1"), med("fixserver (fsync off)", "p50_1")
    p50_busy, p50_peer = med(BUSY, "p50_1"), med("ordermatch", "p50_1")
    print(f"\ngoals (issue 17): durable orders/s >= ordermatch's: {rate:.2f}x "
          f"({'met' if rate >= 1 else 'not met'}); 1 in flight p50 with fsync off within 1.5x "
          f"of ordermatch's: {p50_off / p50_peer:.2f}x "
          f"({'met' if p50_off <= 1.5 * p50_peer else 'not met'}; busy polling "
          f"{p50_busy / p50_peer:.2f}x, {'met' if p50_busy <= 1.5 * p50_peer else 'not met'}); "
          f"durable 1 in flight p50 <= fdatasync + 100 µs = {sync50 + 100:.1f} µs: "
          f"{p50:.1f} µs ({'met' if p50 <= sync50 + 100 else 'not met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
