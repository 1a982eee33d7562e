"""What FIX market-data subscribers cost the order path, on a real server.

Starts one ``fixserver`` (``python -m server``) on a free loopback port with a
throwaway data directory, the exchange.toml of bench_exchange.py (generous limits,
its BTRD and BREST instruments) with the durable journal off (fsync = false; ``--fsync``
for the durable one), and a sessions config of one order-entry session (BRK1) and 10
market-data sessions (MD01 .. MD10, ``Application=marketdata``). Each subscriber is a
raw-socket client that logs on, sends one MarketDataRequest for every symbol the load
uses (full book, incremental, bids, offers and trades) and then reads continuously in
a thread of its own, in a process of its own (one process for the 10 threads, not the
load generator's, so that they never hold the load generator's GIL). Measures:

1. order-entry throughput: bench_exchange's phase B trading flow (its load generator,
   64 orders in flight, buy then sell 100 BTRD at 100.00, every sell trades) for
   BENCH_MD_SECONDS (10) per run, with 0 and with 10 subscribers, alternating
   (off, on, off, on); orders/s acknowledged per run, the median of each, the ratio
   on/off and whether it meets the goal (10 subscribers cost at most 10% of orders/s),
   with the server's CPU time per order and what the subscribers received;
2. event-to-subscriber latency: one order in flight on BREST, pairs of a buy that rests
   at a price of its own (90.00 .. 99.99, a new bid level) and a sell at that price that
   trades with it; for each order, the time from the client's send to the arrival at
   each subscriber of the X that shows it (the bid level's New entry, or the trade
   entry, found by MDEntryPx), beside the send -> first ExecutionReport latency of the
   same orders, and of the same flow without subscribers.

Takes about 50 s with the defaults. On a machine of two or more CPUs the server runs on
one CPU and the load generator and the subscribers' process share another (``--no-pin``
leaves it to the scheduler): on a 2-core machine the client side shares one core (with
the server's snapshotter process, nice 10 and not pinned), so a figure may be the
client's limit rather than the server's, and the table shows each one's CPU use to
tell. The machine may be shared by other processes as well
("others": CPUs they used meanwhile, beside the kernel's interrupts and softirqs,
"irq", where loopback TCP does much of its work).

Run from the repository root: ``python bench/bench_marketdata.py [options]`` (``--help``);
every option also reads a BENCH_MD_* environment variable.
"""

from __future__ import annotations

import argparse
import bisect
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
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
    REST_SYMBOL,
    TRADE_SYMBOL,
    ClOrdIDs,
    LoadClient,
    cpu_seconds,
    exchange_toml,
    free_port,
    one_in_flight,
    order_template,
    pin_cpus,
    pipelined,
    summary,
    trade_templates,
)

from fixserver.codec import Framer  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

LATENCY_SYMBOL = REST_SYMBOL          # nothing else trades it here
SYMBOLS = [TRADE_SYMBOL, LATENCY_SYMBOL]  # what the subscribers subscribe to
LATENCY_BASE = 9000                   # latency pairs at 90.00 .. 99.99 (cents)
LATENCY_LEVELS = 1000
GOAL_RATIO = 0.90                     # 10 subscribers cost at most 10% of orders/s

SESSIONS_HEAD = """\
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
ResetOnLogon=Y

[SESSION]
BeginString=FIX.4.4
TargetCompID=BRK1
Application=exchange
"""

SUBSCRIBER_SESSION = """
[SESSION]
BeginString=FIX.4.4
TargetCompID={name}
Application=marketdata
"""


def subscribers_text(n: int) -> str:
    return f"{n} subscriber{'' if n == 1 else 's'}"


def subscriber_names(n: int) -> list[bytes]:
    return [b"MD%02d" % (i + 1) for i in range(n)]


class Exchange:
    """The fixserver subprocess, in a temp directory of its own, pinned to ``cpu``."""

    def __init__(self, fsync: bool, subscribers: int, cpu: int | None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="bench-marketdata-"))
        self.port = free_port()
        cfg = SESSIONS_HEAD.format(port=self.port) + "".join(
            SUBSCRIBER_SESSION.format(name=name.decode()) for name in subscriber_names(subscribers))
        (self.dir / "sessions.cfg").write_text(cfg)
        (self.dir / "exchange.toml").write_text(exchange_toml(fsync))
        self.log_path = self.dir / "server.log"
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "server", "--sessions", str(self.dir / "sessions.cfg"),
             "--exchange", str(self.dir / "exchange.toml"), "--data-dir", str(self.dir / "data")],
            cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        if cpu is not None:
            try:
                os.sched_setaffinity(self.pid, {cpu})
            except OSError:
                pass
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"the server did not start:\n{self.log()}") from None
                time.sleep(0.05)

    def log(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


# -- the subscribers ------------------------------------------------------------------

def market_data_request(md_req_id: bytes, symbols: list[str]) -> bytes:
    """The body of a V: subscribe, full book, incremental, bids, offers and trades."""
    return (b"262=%b\x01263=1\x01264=0\x01265=1\x01267=3\x01269=0\x01269=1\x01269=2\x01"
            b"146=%d\x01%b" % (md_req_id, len(symbols),
                               b"".join(b"55=%b\x01" % s.encode() for s in symbols)))


def x_entries(chunks: list[tuple[int, bytes]]) -> list[tuple[bytes, bytes, bytes, int, int]]:
    """(MDUpdateAction, MDEntryType, Symbol, MDEntryPx in cents, arrival ns) of every
    entry of every X in what one subscriber received, with the arrival time of the
    chunk that completed the message."""
    framer = Framer()
    out = []
    for t, data in chunks:
        for raw in framer.feed(data):
            if b"\x0135=X\x01" not in raw:
                continue
            action = kind = symbol = b""
            for field in raw.split(b"\x01"):
                tag, _, value = field.partition(b"=")
                if tag == b"279":
                    action = value
                elif tag == b"269":
                    kind = value
                elif tag == b"55":
                    symbol = value
                elif tag == b"270":
                    out.append((action, kind, symbol, round(float(value) * 100), t))
    return out


def _read(client: LoadClient, names_ready: Any, record: bool, result: dict,
          lock: threading.Lock) -> None:
    """One subscriber's read loop: until the server's Logout or close. Counts W and X
    (markers split over two reads are counted once: the tail kept is shorter than a
    marker); with ``record``, keeps every read with its arrival time (perf_counter_ns,
    the same clock as the load generator's: CLOCK_MONOTONIC)."""
    sock = client.sock
    recv = sock.recv
    clock = time.perf_counter_ns
    chunks: list[tuple[int, bytes]] = []
    keep = chunks.append
    tail = client.buf
    xs = ws = nbytes = 0
    ready = False
    last = b""
    while True:
        try:
            data = recv(1 << 20)
        except OSError:
            break
        t = clock()
        if not data:
            break
        nbytes += len(data)
        if record:
            keep((t, data))
        probe = tail + data
        xs += probe.count(b"\x0135=X\x01")
        if not ready:
            ws += probe.count(b"\x0135=W\x01")
            if ws >= len(SYMBOLS):
                ready = True
                names_ready.release()
        if b"\x0135=1\x01" in probe:           # a TestRequest: answer it
            j = probe.find(b"\x01112=", probe.find(b"\x0135=1\x01")) + 5
            with lock:
                sock.sendall(client.message(b"0", b"112=%b\x01" % probe[j:probe.find(b"\x01", j)]))
        if b"\x0135=5\x01" in probe:
            break
        last = data if len(data) > 4096 else last[-4096:] + data
        tail = data[-6:]
    i = last.rfind(b"\x01369=")
    result.update(x=xs, w=ws, bytes=nbytes,
                  last_seq=int(last[i + 5:last.find(b"\x01", i + 5)]) if i >= 0 else 0,
                  entries=x_entries(chunks) if record else [])


def subscriber_process(port: int, names: list[bytes], record: bool, conn: Any,
                       stop: Any) -> None:
    """Log on and subscribe ``names``, read each in a thread until ``stop``, then log
    out and send back what each received."""
    try:
        clients, threads, results = [], [], []
        ready = threading.Semaphore(0)
        lock = threading.Lock()
        for name in names:
            c = LoadClient(port, sender=name)
            c.logon()
            c.sock.settimeout(None)
            with lock:
                c.sock.sendall(c.message(b"V", market_data_request(b"bench-" + name, SYMBOLS)))
            result: dict = {"name": name.decode()}
            th = threading.Thread(target=_read, args=(c, ready, record, result, lock),
                                  daemon=True)
            th.start()
            clients.append(c)
            threads.append(th)
            results.append(result)
        for _ in names:
            if not ready.acquire(timeout=30):
                raise RuntimeError("a subscriber got no snapshot")
        conn.send("ready")
        stop.wait()
        for c in clients:
            with lock:
                try:
                    c.sock.sendall(c.message(b"5", b""))
                except OSError:
                    pass
        for c, th in zip(clients, threads, strict=True):
            th.join(10)
            if th.is_alive():
                c.sock.shutdown(socket.SHUT_RDWR)
                th.join(5)
            c.sock.close()
        conn.send(results)
    except Exception as e:   # report it to the parent rather than hang it
        conn.send(f"error: {e!r}")


class Subscribers:
    """``n`` subscribers in ``procs`` processes of their own, logged on and subscribed
    (each has its snapshots) when the constructor returns."""

    def __init__(self, port: int, n: int, procs: int, record: bool) -> None:
        ctx = multiprocessing.get_context("fork")
        self.stop_event = ctx.Event()
        names = subscriber_names(n)
        self.procs = []
        self.conns = []
        for k in range(procs):
            parent, child = ctx.Pipe(duplex=False)
            p = ctx.Process(target=subscriber_process,
                            args=(port, names[k::procs], record, child, self.stop_event),
                            daemon=True)
            p.start()
            child.close()
            self.procs.append(p)
            self.conns.append(parent)
        for conn in self.conns:
            if not conn.poll(60):
                raise RuntimeError("the subscribers did not get ready")
            msg = conn.recv()
            if msg != "ready":
                raise RuntimeError(f"subscriber process: {msg}")

    def cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.procs)

    def finish(self) -> list[dict]:
        self.stop_event.set()
        out: list[dict] = []
        for conn, p in zip(self.conns, self.procs, strict=True):
            if not conn.poll(60):
                raise RuntimeError("a subscriber process did not report")
            msg = conn.recv()
            if isinstance(msg, str):
                raise RuntimeError(f"subscriber process: {msg}")
            out += msg
            p.join(10)
        return out


# -- measurements -----------------------------------------------------------------------

def machine_seconds() -> tuple[float, float]:
    """CPU time spent by everything on the machine (all CPUs, not idle nor iowait) and,
    of it, in interrupts and softirqs (where the kernel does much of loopback TCP's
    work, charged to no process), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(v) - v[3] - v[4]) / tick, (v[5] + v[6]) / tick


def children_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each child process of ``pid`` (the server's snapshotter)."""
    out = {}
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                try:
                    out[int(child)] = cpu_seconds(int(child))
                except OSError:
                    pass
    except OSError:
        pass
    return out


class Meter:
    """CPU time of the server, this process, the subscribers, the kernel's interrupts
    and everything else."""

    def __init__(self, server_pid: int, subscribers: Subscribers | None) -> None:
        self.pid = server_pid
        self.subs = subscribers
        self.t = time.perf_counter()
        self.server = cpu_seconds(server_pid)
        t = os.times()
        self.own = t.user + t.system
        self.sub = subscribers.cpu() if subscribers else 0.0
        self.children = children_cpu(server_pid)
        self.machine, self.irq = machine_seconds()

    def stop(self) -> dict[str, float]:
        elapsed = time.perf_counter() - self.t
        server = cpu_seconds(self.pid) - self.server
        t = os.times()
        own = t.user + t.system - self.own
        sub = (self.subs.cpu() - self.sub) if self.subs else 0.0
        children = sum(t - self.children.get(pid, 0.0)
                       for pid, t in children_cpu(self.pid).items())
        machine, irq = machine_seconds()
        irq -= self.irq
        others = machine - self.machine - irq - server - children - own - sub
        return {"server_cpu": server, "client_cpu": own / elapsed, "sub_cpu": sub / elapsed,
                "server_util": server / elapsed, "snap": children / elapsed,
                "irq": irq / elapsed, "others": max(0.0, others / elapsed)}


def throughput_run(server: Exchange, client: LoadClient, ids: ClOrdIDs,
                   args: argparse.Namespace, n_subs: int) -> dict[str, Any]:
    subs = Subscribers(server.port, n_subs, args.subscriber_procs, False) if n_subs else None
    try:
        fills0 = client.fills
        meter = Meter(server.pid, subs)
        lat, done, elapsed = pipelined(client, ids, trade_templates(), args.window,
                                       10**9, args.seconds)
        res: dict[str, Any] = meter.stop()
        res.update(subs=n_subs, orders=done, seconds=elapsed, rate=done / elapsed,
                   server_us=1e6 * res["server_cpu"] / max(done, 1),
                   p50=summary(lat)["p50"], fills=client.fills - fills0)
        if subs is not None:
            time.sleep(0.3)  # let the subscribers read what is still on its way
            got = subs.finish()
            subs = None
            xs = [g["x"] for g in got]
            res.update(x_min=min(xs), x_max=max(xs), x_rate=statistics.mean(xs) / elapsed,
                       mb=sum(g["bytes"] for g in got) / 1e6,
                       last_seqs=sorted({g["last_seq"] for g in got}))
        return res
    finally:
        if subs is not None:
            subs.finish()


def latency_templates() -> list[tuple[bytes, tuple[bytes, bytes, int]]]:
    """Pairs at 90.00 .. 99.99: a buy that rests alone at its price (the X shows a New
    bid level there), then a sell at that price that trades with it (a trade entry);
    with the key (MDUpdateAction, MDEntryType, price in cents) of that X entry."""
    out = []
    for i in range(LATENCY_LEVELS):
        price = LATENCY_BASE + (i * 7) % LATENCY_LEVELS   # 7 is prime to 1000: all levels
        out.append((order_template(LATENCY_SYMBOL, 1, price), (b"0", b"0", price)))
        out.append((order_template(LATENCY_SYMBOL, 2, price), (b"0", b"2", price)))
    return out


class LatencyFlow:
    """One order in flight on the latency symbol; the cycle of prices goes on across
    runs, so that a price comes back only after 1,000 pairs."""

    def __init__(self) -> None:
        self.templates = latency_templates()
        self.k = 0

    def run(self, client: LoadClient, ids: ClOrdIDs, n: int
            ) -> list[tuple[int, int, tuple[bytes, bytes, int]]]:
        """(send ns, first ExecutionReport ns, X entry key) per order; ``n`` is rounded
        up to whole pairs."""
        out = []
        sock = client.sock
        scan = client.scan
        clock = time.perf_counter_ns
        templates = self.templates
        for _ in range(n + n % 2):
            tpl, key = templates[self.k % len(templates)]
            self.k += 1
            cl = ids.take()
            msg = client.order(cl, tpl, client.timestamp())
            t0 = clock()
            sock.sendall(msg)
            while True:
                data = sock.recv(1 << 20)
                t1 = clock()
                if not data:
                    raise RuntimeError("the server closed the connection")
                if cl in scan(data):
                    break
            out.append((t0, t1, key))
        return out


def match_arrivals(orders: list[tuple[int, int, tuple[bytes, bytes, int]]],
                   got: list[dict]) -> tuple[list[list[int]], int]:
    """Per order, send -> arrival (ns) at each subscriber of the X entry with its key:
    the first arrival after the send and before the next order with the same key.
    Returns the lists and the number of (order, subscriber) with none."""
    next_same: list[float] = [float("inf")] * len(orders)
    seen: dict[tuple, int] = {}
    for i in range(len(orders) - 1, -1, -1):
        key = orders[i][2]
        if key in seen:
            next_same[i] = orders[seen[key]][0]
        seen[key] = i
    per_order: list[list[int]] = [[] for _ in orders]
    missing = 0
    for g in got:
        arrivals: dict[tuple, list[int]] = {}
        for action, kind, symbol, price, t in g["entries"]:
            if symbol == LATENCY_SYMBOL.encode():
                arrivals.setdefault((action, kind, price), []).append(t)
        for i, (t0, _, key) in enumerate(orders):
            ts = arrivals.get(key, [])
            j = bisect.bisect_left(ts, t0)
            if j < len(ts) and ts[j] < next_same[i]:
                per_order[i].append(ts[j] - t0)
            else:
                missing += 1
    return per_order, missing


# -- output ---------------------------------------------------------------------------

def print_throughput(runs: list[dict], args: argparse.Namespace) -> dict[str, float]:
    print()
    print(f"1. order-entry throughput: {args.window} orders in flight, buy/sell pairs on "
          f"{TRADE_SYMBOL} (every sell trades), {args.seconds:g} s per run; subscribers "
          f"subscribe to {', '.join(SYMBOLS)}")
    head = (f"{'run':>3} {'subs':>4} {'orders':>9} {'orders/s':>9} {'p50 µs':>8} "
            f"{'srv µs/ord':>10} {'srv CPU':>7} {'client':>6} {'subs CPU':>8} "
            f"{'snap':>5} {'irq':>5} {'others':>6} {'X/s per sub':>11} {'X min..max':>15} "
            f"{'MB in':>7}")
    print(head)
    print("-" * len(head))
    for i, r in enumerate(runs, 1):
        xs = (f"{r['x_rate']:>11,.0f} {r['x_min']:>7,}..{r['x_max']:<7,} {r['mb']:>7.1f}"
              if r["subs"] else f"{'-':>11} {'-':>15} {'-':>7}")
        print(f"{i:>3} {r['subs']:>4} {r['orders']:>9,} {r['rate']:>9,.0f} {r['p50']:>8.0f} "
              f"{r['server_us']:>10.1f} {r['server_util']:>7.2f} {r['client_cpu']:>6.2f} "
              f"{r['sub_cpu']:>8.2f} {r['snap']:>5.2f} {r['irq']:>5.2f} {r['others']:>6.2f} {xs}")
    print("-" * len(head))
    off = [r for r in runs if not r["subs"]]
    on = [r for r in runs if r["subs"]]
    med = {k: statistics.median(r["rate"] for r in rs) for k, rs in (("off", off), ("on", on))}
    cpu = {k: statistics.median(r["server_us"] for r in rs)
           for k, rs in (("off", off), ("on", on))}
    ratio = med["on"] / med["off"]
    print(f"median orders/s: {med['off']:,.0f} with 0 subscribers, {med['on']:,.0f} with "
          f"{args.subscribers}; ratio on/off {ratio:.3f} (cost {100 * (1 - ratio):.1f}% of "
          f"orders/s)")
    print(f"median server CPU per order: {cpu['off']:.1f} µs with 0 subscribers, "
          f"{cpu['on']:.1f} µs with {args.subscribers} (+{cpu['on'] - cpu['off']:.1f} µs, "
          f"{100 * (cpu['on'] / cpu['off'] - 1):+.1f}%)")
    met = ratio >= GOAL_RATIO
    print(f"goal: {subscribers_text(args.subscribers)} cost the order path at most "
          f"{100 * (1 - GOAL_RATIO):.0f}% of orders/s (ratio >= {GOAL_RATIO:.2f}): "
          f"{'MET' if met else 'NOT MET'}")
    for r in on:
        if len(r["last_seqs"]) > 1:
            print(f"  note: the subscribers' last X did not all reflect the same exchange "
                  f"seq (369): {r['last_seqs'][:3]} ... (some were held back or behind)")
    print("(srv µs/ord: server CPU time per order; srv CPU, client, subs CPU, snap, irq, "
          "others: CPUs used meanwhile by the server, the load generator, the subscribers' "
          "process, the server's snapshotter process (nice 10, not pinned), the kernel's "
          "interrupts and softirqs (loopback TCP) and the rest of the machine; "
          "X/s per sub: MarketDataIncrementalRefresh received per "
          "second by each subscriber, about one per batch of the exchange)")
    return {"off": med["off"], "on": med["on"], "ratio": ratio}


def lat_row(label: str, ns: list[int]) -> None:
    s = summary(ns)
    print(f"{label:52} {s['n']:>7,} {s['p50']:>8.1f} {s['p99']:>8.1f} {s['max']:>9.1f}")


def print_latency(base: list, orders: list, per_order: list[list[int]], missing: int,
                  n_subs: int, usage: dict[str, float]) -> None:
    print()
    print(f"2. event-to-subscriber latency: 1 order in flight on {LATENCY_SYMBOL}, "
          f"{len(orders):,} orders (a buy resting at a new bid level, then a sell trading "
          f"with it), {subscribers_text(n_subs)}")
    head = f"{'µs':52} {'n':>7} {'p50':>8} {'p99':>8} {'max':>9}"
    print(head)
    print("-" * len(head))
    lat_row("send -> first ExecutionReport, no subscribers", [t1 - t0 for t0, t1, _ in base])
    lat_row(f"send -> first ExecutionReport, {subscribers_text(n_subs)}",
            [t1 - t0 for t0, t1, _ in orders])
    lat_row(f"send -> its X at a subscriber (each of the {n_subs})",
            [d for ds in per_order for d in ds])
    lat_row(f"send -> its X at the first of the {n_subs}", [min(ds) for ds in per_order if ds])
    lat_row(f"send -> its X at the last of the {n_subs}",
            [max(ds) for ds in per_order if len(ds) == n_subs])
    rest = [d for i, ds in enumerate(per_order) if i % 2 == 0 for d in ds]
    trade = [d for i, ds in enumerate(per_order) if i % 2 == 1 for d in ds]
    lat_row("  of which: buys that rest (New bid level)", rest)
    lat_row("  of which: sells that trade (trade entry)", trade)
    print("-" * len(head))
    ers = {i: t1 - t0 for i, (t0, t1, _) in enumerate(orders)}
    after = [min(ds) - ers[i] for i, ds in enumerate(per_order) if ds]
    s = summary(after)
    print(f"X at the first subscriber after the ExecutionReport at the load generator: p50 "
          f"{s['p50']:+.1f} µs, p99 {s['p99']:+.1f} µs")
    print(f"server CPU per order: {usage['base_per_order']:.1f} µs without subscribers, "
          f"{usage['per_order']:.1f} µs with {n_subs}; meanwhile the load generator used "
          f"{usage['client_cpu']:.2f} CPU, the subscribers {usage['sub_cpu']:.2f}, the "
          f"snapshotter {usage['snap']:.2f}, interrupts "
          f"and softirqs {usage['irq']:.2f}, the rest of the machine {usage['others']:.2f}")
    if missing:
        print(f"PROBLEM: {missing:,} (order, subscriber) pairs without a matching X entry")


def main() -> int:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=float(env("BENCH_MD_SECONDS", 10)),
                   help="duration of each throughput run (BENCH_MD_SECONDS)")
    p.add_argument("--window", type=int, default=int(env("BENCH_MD_WINDOW", 64)),
                   help="orders in flight in the throughput runs (BENCH_MD_WINDOW)")
    p.add_argument("--reps", type=int, default=int(env("BENCH_MD_REPS", 2)),
                   help="throughput runs with and without subscribers each, alternating "
                        "(BENCH_MD_REPS)")
    p.add_argument("--subscribers", type=int, default=int(env("BENCH_MD_SUBSCRIBERS", 10)),
                   help="market-data subscribers (BENCH_MD_SUBSCRIBERS)")
    p.add_argument("--subscriber-procs", type=int,
                   default=int(env("BENCH_MD_SUBSCRIBER_PROCS", 1)),
                   help="processes the subscribers' threads are spread over "
                        "(BENCH_MD_SUBSCRIBER_PROCS)")
    p.add_argument("--latency-orders", type=int,
                   default=int(env("BENCH_MD_LATENCY_ORDERS", 5000)),
                   help="orders of the latency measurement (BENCH_MD_LATENCY_ORDERS)")
    p.add_argument("--fsync", action=argparse.BooleanOptionalAction,
                   default=env("BENCH_MD_FSYNC", "0") == "1",
                   help="durable journal (default off; BENCH_MD_FSYNC=1)")
    p.add_argument("--no-pin", action="store_true", default=env("BENCH_MD_NO_PIN") == "1",
                   help="do not pin the server and the clients to separate CPUs "
                        "(BENCH_MD_NO_PIN=1)")
    args = p.parse_args()
    args.subscriber_procs = max(1, min(args.subscriber_procs, args.subscribers))

    started = time.perf_counter()
    cpus = pin_cpus(not args.no_pin)
    pin = (f"server on CPU {cpus[1]}, load generator and subscribers on CPU {cpus[0]}"
           if cpus[0] is not None else "not pinned")
    print(f"market-data benchmark: {PYTHON} on {os.cpu_count()} CPUs, {pin}; journal "
          f"{'durable (fsync=true)' if args.fsync else 'fsync=false'}; load average "
          f"{os.getloadavg()[0]:.2f} at start", flush=True)

    server = Exchange(args.fsync, args.subscribers, cpus[1])
    client = None
    try:
        client = LoadClient(server.port)
        client.logon()
        ids = ClOrdIDs()
        # Warm-up (imports, caches, the books).
        one_in_flight(client, ids, trade_templates(), 500)
        pipelined(client, ids, trade_templates(), args.window, 5000, 10)
        flow = LatencyFlow()
        flow.run(client, ids, 500)

        runs = []
        for rep in range(args.reps):
            for n_subs in (0, args.subscribers):
                r = throughput_run(server, client, ids, args, n_subs)
                runs.append(r)
                print(f"  run {len(runs)} (rep {rep + 1}), {n_subs:2d} subscribers: "
                      f"{r['orders']:,} orders in {r['seconds']:.1f} s = {r['rate']:,.0f} "
                      f"orders/s, server {r['server_us']:.1f} µs CPU/order", flush=True)
        problems = client.problems()

        meter = Meter(server.pid, None)
        base = flow.run(client, ids, args.latency_orders)
        cpu_base = 1e6 * meter.stop()["server_cpu"] / len(base)
        subs = Subscribers(server.port, args.subscribers, args.subscriber_procs, True)
        try:
            flow.run(client, ids, 200)   # the subscribers' first messages, warm
            meter = Meter(server.pid, subs)
            orders = flow.run(client, ids, args.latency_orders)
            usage = meter.stop()
            time.sleep(0.3)
        finally:
            got = subs.finish()
        usage["per_order"] = 1e6 * usage["server_cpu"] / len(orders)
        usage["base_per_order"] = cpu_base
        per_order, missing = match_arrivals(orders, got)
        problems = problems or client.problems()

        print_throughput(runs, args)
        print_latency(base, orders, per_order, missing, args.subscribers, usage)
        if problems:
            print(f"PROBLEM: {problems}")
    except Exception:
        print(server.log())
        raise
    finally:
        if client is not None:
            client.close()
        rc = server.stop()
        if rc not in (0, None):
            print(f"PROBLEM: the server exited with code {rc} on SIGTERM:\n{server.log(2000)}")
        server.cleanup()
    print()
    print(f"took {time.perf_counter() - started:.0f} s. Caveat: on a 2-core machine the "
          "server has one core and the load generator, the subscribers and the server's "
          "snapshotter share the other; see the CPU columns for which side was the limit.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
