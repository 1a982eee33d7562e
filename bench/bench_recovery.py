"""Snapshots and recovery at a million resting orders.

A data directory is built by an in-process ``venue.exchange.Exchange`` (the primary)
on the shipped exchange.toml and sessions.cfg: BENCH_RECOVERY_ORDERS (default
1,000,000) non-crossing limit orders spread over the shipped instruments, accounts
and sessions, all accepted by risk and resting (checked). The shipped limits allow
10,000 open and 100,000 daily orders per account, so ``[risk] max_open_orders`` and
``max_orders_per_day`` are "unlimited" here, and ``fsync`` is off; everything else
(instruments, bands, cash, positions, firms) is as shipped. The event log is written
as the server writes it, so that a real server can start on the directory. Then:

1. The snapshot stall on the order path: the latency of ``submit`` + ``flush`` of one
   small batch (a NewOrderSingle and its cancel), BENCH_RECOVERY_RATE batches a
   second for BENCH_RECOVERY_SECONDS, (a) with no snapshotter, (b) with the
   snapshotter process (``python -m venue.snapshotter``, started as
   ``server/snapshots.py`` starts it) following the journal and writing a snapshot
   every second, (c) during a fork-based snapshot (a forked child captures and
   encodes the core). On a 2-CPU machine the snapshotter competes for the CPUs: that
   is what a user sees. Also: ``os.fork()`` of the primary at its RSS, and the time
   an in-process snapshot takes (the stall if the exchange took snapshots itself).
2. Recovery, with a snapshot covering the resting orders and BENCH_RECOVERY_TAIL
   (default 100,000) journal records after it (cancels of resting orders and new
   ones): ``Exchange.load()`` split into snapshot load (read, decode, restore) and
   tail replay; a full replay of the whole journal without the snapshot; spawn ->
   first Logon answered of a real ``fixserver`` on the directory (it must load the
   snapshot: checked in its log); and the interpreter's bare start-up.

The primary, the load and the full replay run in child processes of their own (each
holds a core of ~1.1 GB at a million orders; never more than two at once). Takes
about 2 to 3 minutes at the defaults, ~20 s with ``--quick`` (100,000 orders,
10,000 tail; also BENCH_RECOVERY_QUICK=1). ``--profile`` prints the top functions of
the load and of the full replay (cProfile). Run from the repository root:
``python bench/bench_recovery.py [--help]``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import heapq
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_exchange import cpu_seconds, free_port, proc_status, summary  # noqa: E402

from fixserver.settings import load_sessions  # noqa: E402
from matching.constants import BUY, DAY, LIMIT, SELL  # noqa: E402
from venue.commands import NewOrderSingle, OrderCancelRequest  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
MB = 1 << 20


# -- the configuration ------------------------------------------------------------------

def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    return str(v)


def bench_exchange_toml() -> str:
    """The shipped exchange.toml with fsync off and no count limits on orders (the
    shipped 10,000 open orders per account would cap the book at 30,000)."""
    shipped = tomllib.loads((REPO / "exchange.toml").read_text())
    ex = dict(shipped.get("exchange", {}))
    ex["fsync"] = False
    risk = dict(shipped.get("risk", {}))
    risk["max_open_orders"] = "unlimited"
    risk["max_orders_per_day"] = "unlimited"
    lines = ["[exchange]"] + [f"{k} = {_toml_value(v)}" for k, v in ex.items()]
    lines += ["[risk]"] + [f"{k} = {_toml_value(v)}" for k, v in risk.items()]
    for table in ("instruments", "firms", "accounts", "dropcopy"):
        for row in shipped.get(table, []):
            lines.append(f"\n[[{table}]]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in row.items()]
    return "\n".join(lines) + "\n"


def bench_sessions_cfg() -> tuple[str, int]:
    """The shipped sessions.cfg on free ports; and the port of the order-entry sessions."""
    text = (REPO / "sessions.cfg").read_text()
    ports = {p: free_port() for p in sorted(set(re.findall(r"SocketAcceptPort=(\d+)", text)))}
    first = re.search(r"SocketAcceptPort=(\d+)", text)
    assert first is not None
    text = re.sub(r"SocketAcceptPort=(\d+)", lambda m: f"SocketAcceptPort={ports[m[1]]}", text)
    return text, ports[first[1]]


def exchange_sessions(sessions_cfg: Path) -> list[tuple[str, str]]:
    """(session id, counterparty CompID) of the order-entry sessions, as the server
    adds them to its exchange (server.compose.build_sessions)."""
    return [(c.session_id, c.target_comp_id) for c in load_sessions(sessions_cfg)
            if c.application == "exchange"]


# -- the orders ---------------------------------------------------------------------------

class Bucket(NamedTuple):
    """Resting orders of one account in one symbol and side: qty each, on ``levels``
    price levels from one tick off the reference price outwards (buys below it, sells
    above it: nothing crosses); ``share`` of the first million orders (None: the rest)."""

    comp_id: str
    account: str
    symbol: str
    sell: bool
    qty: int
    levels: int
    share: float | None


# Within the shipped accounts' cash and positions (at 1,000,000 orders the sells use
# at most 80% of a position, the buys ~60% of BRK1-MAIN's cash and less of the
# others'), their max_long (BRK2-MAIN), max_short and concentration (BRK1-PROP) and
# the instruments' price bands. Beyond a million, only BRK1-MAIN's INTC buys grow.
BUCKETS = [
    Bucket("BRK1", "BRK1-MAIN", "AAPL", True, 1, 1000, 0.08),
    Bucket("BRK1", "BRK1-MAIN", "MSFT", True, 1, 1000, 0.04),
    Bucket("BRK1", "BRK1-MAIN", "INTC", True, 1, 200, 0.16),
    Bucket("BRK1", "BRK1-MAIN", "JPM", True, 1, 1000, 0.04),
    Bucket("BRK1", "BRK1-MAIN", "XOM", True, 100, 500, 0.0008),
    Bucket("BRK2", "BRK2-MAIN", "AAPL", True, 1, 1000, 0.04),
    Bucket("BRK2", "BRK2-MAIN", "MSFT", True, 1, 1000, 0.016),
    Bucket("BRK2", "BRK2-MAIN", "INTC", True, 1, 200, 0.08),
    Bucket("BRK2", "BRK2-MAIN", "JPM", True, 1, 1000, 0.016),
    Bucket("BRK2", "BRK2-MAIN", "XOM", True, 100, 500, 0.0004),
    Bucket("BRK1", "BRK1-PROP", "AAPL", True, 1, 1000, 0.005),     # short sales
    Bucket("BRK1", "BRK1-MAIN", "AAPL", False, 1, 1000, 0.03),
    Bucket("BRK1", "BRK1-MAIN", "MSFT", False, 1, 1000, 0.01),
    Bucket("BRK1", "BRK1-MAIN", "JPM", False, 1, 1000, 0.02),
    Bucket("BRK1", "BRK1-MAIN", "XOM", False, 100, 500, 0.0005),
    Bucket("BRK1", "BRK1-MAIN", "INTC", False, 1, 200, None),
    Bucket("BRK2", "BRK2-MAIN", "INTC", False, 1, 200, 0.06),
    Bucket("BRK2", "BRK2-MAIN", "JPM", False, 1, 1000, 0.01),
    Bucket("BRK1", "BRK1-PROP", "INTC", False, 10, 200, 0.0125),
    Bucket("BRK1", "BRK1-PROP", "JPM", False, 1, 1000, 0.0125),
]


def bucket_counts(n: int) -> list[int]:
    base = min(n, 1_000_000)
    counts = [int(b.share * base) if b.share is not None else 0 for b in BUCKETS]
    rest = n - sum(counts)
    if rest < 0:
        raise ValueError(f"{n} orders is too few for the mix")
    return [c if b.share is not None else rest for b, c in zip(BUCKETS, counts, strict=True)]


def schedule(n: int) -> Iterator[tuple[int, int]]:
    """(bucket, k) for the n orders, the buckets interleaved evenly (so that every
    account's mix of symbols, and so its concentration, stays as in the end)."""
    def one(b: int, count: int) -> Iterator[tuple[float, int, int]]:
        return (((k + 0.5) / count, b, k) for k in range(count))
    for _, b, k in heapq.merge(*(one(b, c) for b, c in enumerate(bucket_counts(n)) if c)):
        yield b, k


class Orders:
    """The commands of the benchmark, for one configuration and set of sessions."""

    def __init__(self, config: Any, sessions: list[tuple[str, str]]) -> None:
        self.session = {comp_id: sid for sid, comp_id in sessions}
        self.config = config
        self._params = []
        for b in BUCKETS:
            inst = config.instruments[b.symbol]
            step = inst.tick_size if b.sell else -inst.tick_size
            self._params.append((self.session[b.comp_id], b.account, b.symbol,
                                 SELL if b.sell else BUY, b.qty, b.levels,
                                 inst.reference_price, step))

    def new(self, b: int, k: int, suffix: str = "") -> NewOrderSingle:
        session, account, symbol, side, qty, levels, ref, step = self._params[b]
        return NewOrderSingle(session, f"{b}.{k}{suffix}", account, symbol, side, LIMIT,
                              ref + step * (1 + k % levels), 0, qty, DAY)

    def cancel(self, b: int, k: int, suffix: str = "") -> OrderCancelRequest:
        session, _, symbol, side, *_ = self._params[b]
        return OrderCancelRequest(session, f"{b}.{k}{suffix}.c", f"{b}.{k}{suffix}", "",
                                  symbol, side)

    def probe(self, n: int) -> tuple[NewOrderSingle, OrderCancelRequest]:
        """The order path's batch: a buy of BRK1-MAIN in INTC (below every sell) and
        its cancel."""
        session = self.session["BRK1"]
        cl = f"x{n}"
        return (NewOrderSingle(session, cl, "BRK1-MAIN", "INTC", BUY, LIMIT, 21_0000, 0,
                               1, DAY),
                OrderCancelRequest(session, cl + "c", cl, "", "INTC", BUY))


# -- the primary (a child process) ------------------------------------------------------------

class Rejects:
    """A consumer of the event stream that counts rejected orders and cancels."""

    def __init__(self) -> None:
        self.count = 0
        self.first = ""

    def on_batch(self, entries: Any) -> None:
        from venue.reports import ExecutionReport, OrderCancelReject
        for e in entries:
            for r in e.reports:
                if ((isinstance(r, ExecutionReport) and r.exec_type == "8")
                        or isinstance(r, OrderCancelReject)):
                    self.count += 1
                    if not self.first:
                        self.first = f"{r.cl_ord_id}: {r.text}"


class Primary:
    """The exchange as the server runs it, in process: journal, core, event log."""

    def __init__(self, directory: Path) -> None:
        from persistence.eventlog import EventLog
        from server.compose import event_log_path
        from venue.config import load_exchange_config
        from venue.exchange import Exchange
        from venue.stream import EVENT_LOG_VERSION, Entry, EventStream
        self.config = load_exchange_config(directory / "exchange.toml")
        self.sessions = exchange_sessions(directory / "sessions.cfg")
        self.ex = Exchange(self.config, directory / "data")
        for sid, comp_id in self.sessions:
            self.ex.add_session(sid, comp_id)
        self.ex.recover()
        self.event_log = EventLog(event_log_path(self.ex), Entry, EVENT_LOG_VERSION)
        self.stream = EventStream(self.event_log, self.event_log, self.event_log.last_seq)
        # As the server: the event log is written after the batch's reports went out.
        self.stream.on_unwritten = lambda: None
        self.rejects = Rejects()
        self.stream.subscribe(self.rejects)
        self.ex.publish = self.stream.publish
        self.orders = Orders(self.config, self.sessions)
        self.probes = 0
        # The journal write of each batch, timed (the slowest batch's share of it).
        assert self.ex.journal is not None
        self._commit = self.ex.journal.commit
        self.commit_ns = 0
        self.ex.journal.commit = self._timed_commit  # type: ignore[method-assign]

    def run(self, commands: Iterator[Any], batch: int) -> int:
        ex, n = self.ex, 0
        for command in commands:
            ex.submit(command)
            n += 1
            if n % batch == 0:
                ex.flush()
                self.stream.write_log()
                if n % (100 * batch) == 0:
                    gc.freeze()
        ex.flush()
        self.stream.write_log()
        gc.freeze()
        return n

    def order_path(self, seconds: float, rate: float,
                   until: Callable[[], bool] | None = None) -> dict[str, Any]:
        """Submit + flush of a probe batch, ``rate`` a second (0: back to back), for
        ``seconds`` or until ``until()`` (checked ~every 10 ms): the latency summary
        (us), batches over 1 ms, and the slowest batch: its CPU time (little CPU in a
        long batch: the process was not running, or waited in the kernel), the time
        in the journal write, when it came (s into the run) and the gc time meanwhile."""
        ex, stream, probe = self.ex, self.stream, self.orders.probe
        clock, cpu = time.perf_counter_ns, time.thread_time_ns
        out: list[int] = []
        worst = (-1, 0, 0, 0)
        gc_timer = GcTimer()
        gc.callbacks.append(gc_timer)
        start = clock()
        interval = int(1e9 / rate) if rate > 0 else 0
        next_at = start
        next_check = start
        next_freeze = start + 1_000_000_000
        end = start + int(seconds * 1e9)
        while True:
            new, cancel = probe(self.probes)
            self.probes += 1
            c0 = cpu()
            t0 = clock()
            ex.submit(new)
            ex.submit(cancel)
            ex.flush()
            t1 = clock()
            lat = t1 - t0
            out.append(lat)
            if lat > worst[0]:
                worst = (lat, cpu() - c0, self.commit_ns, t0 - start)
            stream.write_log()
            if t1 >= next_check:
                next_check = t1 + 10_000_000
                if (until() if until is not None else t1 >= end):
                    break
                if t1 >= next_freeze:     # as the server's timer task does each second
                    gc.freeze()
                    next_freeze = t1 + 1_000_000_000
            if interval:
                next_at += interval
                delay = next_at - clock()
                if delay > 0:
                    time.sleep(delay / 1e9)
                else:
                    next_at = clock()
        gc.callbacks.remove(gc_timer)
        result = summary(out)
        result.update(over_1ms=sum(1 for x in out if x > 1_000_000),
                      worst_cpu=worst[1] / 1000, worst_journal=worst[2] / 1000,
                      worst_at=worst[3] / 1e9, gc_seconds=gc_timer.seconds,
                      seconds=(clock() - start) / 1e9)
        return result

    def _timed_commit(self) -> None:
        t0 = time.perf_counter_ns()
        self._commit()
        self.commit_ns = time.perf_counter_ns() - t0

    def close(self) -> None:
        self.ex.close(snapshot=False)
        self.stream.close()
        self.event_log.close()


class SnapshotterChild:
    """``python -m venue.snapshotter`` as server/snapshots.py starts it."""

    def __init__(self, primary: Primary, log_path: Path) -> None:
        import msgspec

        from venue.snapshotter import Setup
        ex, config = primary.ex, primary.config
        setup = Setup(config, str(ex.data_dir), sorted(ex.comp_ids.items()),
                      config.snapshot_interval, config.snapshots_kept)
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([PYTHON, "-m", "venue.snapshotter"], cwd=REPO,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log)
        assert self.proc.stdin is not None
        self.proc.stdin.write(msgspec.json.encode(setup) + b"\n")
        self.proc.stdin.flush()
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.log_path = log_path

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.put(json.loads(line))
        self.events.put(None)

    def event(self, timeout: float) -> dict[str, Any]:
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            event = None
        if event is None:
            raise RuntimeError("the snapshotter stopped or did not answer:\n"
                               + self.log_path.read_text(errors="replace")[-3000:])
        if event.get("event") == "error":
            raise RuntimeError(f"snapshotter: {event}")
        return event

    def command(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.command("stop")
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(5)
        self._log.close()


def rss_mb(pid: int | None = None) -> float:
    return proc_status(pid or os.getpid())["VmRSS"] / 1024


def child_primary(directory: Path, args: argparse.Namespace) -> dict[str, Any]:
    from persistence.snapshots import snapshots
    from venue import snapshot as core_state
    out: dict[str, Any] = {}
    p = Primary(directory)
    ex, orders = p.ex, p.orders
    n = args.orders
    t0 = time.perf_counter()
    p.run((orders.new(b, k) for b, k in schedule(n)), 1000)
    out["build_seconds"] = time.perf_counter() - t0
    if len(ex.engine.orders) != n or p.rejects.count:
        raise RuntimeError(f"{len(ex.engine.orders):,} orders rest, not {n:,}: "
                           f"{p.rejects.count} rejected (first: {p.rejects.first})")
    out["resting"] = len(ex.engine.orders)
    out["rss_mb"] = rss_mb()
    print(f"  {n:,} resting orders in {out['build_seconds']:.1f} s, "
          f"primary RSS {out['rss_mb']:,.0f} MB", flush=True)

    # An in-process snapshot: how long the order path would stop for it.
    t0 = time.perf_counter()
    path = ex.write_snapshot()
    out["inprocess_snapshot_seconds"] = time.perf_counter() - t0
    assert path is not None
    out["snapshot_mb"] = path.stat().st_size / MB

    p.order_path(0.5, args.rate)                               # warm up
    out["none"] = p.order_path(args.seconds, args.rate)
    print(f"  (a) order path without a snapshotter: {out['none']['n']:,} batches", flush=True)

    # fork(): the page tables of the whole heap are copied.
    out["fork_rss_mb"] = rss_mb()
    forks = []
    for _ in range(args.forks):
        t0 = time.perf_counter_ns()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        forks.append(time.perf_counter_ns() - t0)
        os.waitpid(pid, 0)
    out["fork"] = summary(forks)

    # A fork-based snapshot: the child captures and encodes the core (and writes it to
    # a scratch file), the primary trades on, copying on write whatever it touches.
    scratch = directory / "fork-snapshot.tmp"
    faults = _minor_faults()
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            state = core_state.capture(ex, ex.applied_seq, ex.last_ts)
            scratch.write_bytes(core_state.encode(state))
            code = 0
        finally:
            os._exit(code)
    child: dict[str, Any] = {}

    def child_done() -> bool:
        got, status, usage = os.wait4(pid, os.WNOHANG)
        if got:
            if status != 0:
                raise RuntimeError(f"the forked snapshot child failed (status {status})")
            child["seconds"] = time.perf_counter() - t0
            child["maxrss_mb"] = usage.ru_maxrss / 1024
        return bool(got)

    out["forked"] = p.order_path(0, args.rate, child_done)
    out["forked_child"] = child
    out["forked_faults"] = _minor_faults() - faults
    scratch.unlink(missing_ok=True)
    print(f"  (c) order path during a fork-based snapshot: {out['forked']['n']:,} batches",
          flush=True)

    snap = SnapshotterChild(p, directory / "snapshotter.log")
    try:
        t0 = time.perf_counter()
        ready = snap.event(900)
        out["snapshotter_ready_seconds"] = time.perf_counter() - t0
        print(f"  snapshotter ready in {out['snapshotter_ready_seconds']:.1f} s", flush=True)
        written: list[dict[str, Any]] = []
        start_cpu = cpu_seconds(snap.proc.pid)
        t0 = time.perf_counter()

        def enough() -> bool:
            while True:
                try:
                    event = snap.events.get_nowait()
                except queue.Empty:
                    break
                if event is None:
                    raise RuntimeError("the snapshotter stopped")
                if event.get("new"):
                    written.append(event)
            return (len(written) >= 2 and time.perf_counter() - t0 >= args.seconds) or \
                time.perf_counter() - t0 > 300

        out["snapshotter"] = p.order_path(0, args.rate, enough)
        window = time.perf_counter() - t0
        out["snapshotter_window"] = window
        out["snapshotter_cpu"] = cpu_seconds(snap.proc.pid) - start_cpu
        out["snapshotter_hwm_mb"] = proc_status(snap.proc.pid)["VmHWM"] / 1024
        out["snapshotter_snapshots"] = [(e["seconds"], e["bytes"] / MB) for e in written]
        out["snapshotter_ready_seq"] = ready["seq"]
        print(f"  (b) order path with the snapshotter: {out['snapshotter']['n']:,} batches, "
              f"{len(written)} snapshots in {window:.1f} s", flush=True)
        # The snapshot that recovery starts from: everything so far (a periodic one
        # may still be on its way before the answer).
        snap.command("snapshot")
        last = snap.event(300)
        while last.get("seq") != ex.last_seq:
            last = snap.event(300)
        out["snapshot_seq"] = last["seq"]
    finally:
        snap.stop()
    if out["snapshot_seq"] != ex.last_seq:
        raise RuntimeError(f"the snapshotter's snapshot is at seq {out['snapshot_seq']}, "
                           f"the journal at {ex.last_seq}")

    # The tail: cancels of the oldest resting orders and as many new ones.
    t0 = time.perf_counter()
    tail = args.tail
    first = schedule(n)

    def tail_commands() -> Iterator[Any]:
        for i in range(tail):
            if i % 2 == 0:
                b, k = next(first)
                yield orders.cancel(b, k)
            else:
                yield orders.new(b, k, ".t")

    p.run(tail_commands(), 10)
    out["tail_seconds"] = time.perf_counter() - t0
    if p.rejects.count:
        raise RuntimeError(f"{p.rejects.count} rejects (first: {p.rejects.first})")
    out["resting_after_tail"] = len(ex.engine.orders)
    out["last_seq"] = ex.last_seq
    out["primary_hwm_mb"] = proc_status(os.getpid())["VmHWM"] / 1024
    newest = next(iter(snapshots(ex.snapshot_dir)))
    out["newest_snapshot_seq"] = newest.seq
    p.close()
    return out


def _minor_faults() -> int:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


# -- loads (child processes) ---------------------------------------------------------------

class GcTimer:
    """Time spent in the cyclic garbage collector (gc.callbacks)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full = 0
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._t0
            self.full += info["generation"] == 2


def child_load(directory: Path, args: argparse.Namespace, full: bool) -> dict[str, Any]:
    """Exchange.load() on the data directory as the server's start-up runs it; with
    ``full``, without the snapshots (moved aside for the time)."""
    import persistence.snapshots as snapshot_files
    from venue import exchange as exchange_module
    from venue import snapshot as core_state
    from venue.config import load_exchange_config
    from venue.exchange import Exchange
    config = load_exchange_config(directory / "exchange.toml")
    data = directory / "data"
    ex = Exchange(config, data)
    for sid, comp_id in exchange_sessions(directory / "sessions.cfg"):
        ex.add_session(sid, comp_id)
    times: dict[str, float] = {}
    gc_timer = GcTimer()

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn``, adding its time (and the collector's meanwhile) to ``times``."""
        def wrapper(*a: Any, **kw: Any) -> Any:
            t0, g0 = time.perf_counter(), gc_timer.seconds
            try:
                return fn(*a, **kw)
            finally:
                times[name] = times.get(name, 0.0) + time.perf_counter() - t0
                times[name + "_gc"] = times.get(name + "_gc", 0.0) + gc_timer.seconds - g0
        return wrapper

    # The parts of Exchange._load (read + crc, decode, restore) and the tail's replay.
    payload = snapshot_files.SnapshotFile.payload
    decode, restore = core_state.decode, core_state.restore
    snapshot_files.SnapshotFile.payload = timed("read", payload)  # type: ignore[method-assign]
    core_state.decode = timed("decode", decode)
    core_state.restore = timed("restore", restore)
    ex._load = timed("snapshot", ex._load)  # type: ignore[method-assign]
    ex.replay = timed("replay", ex.replay)  # type: ignore[method-assign]
    assert exchange_module.core_state is core_state
    aside = data / "snapshots.aside"
    if full:
        (data / "snapshots").rename(aside)
    gc.callbacks.append(gc_timer)
    profiler = None
    if args.profile:
        import cProfile
        profiler = cProfile.Profile()
        profiler.enable()
    try:
        t0 = time.perf_counter()
        replayed = ex.load()
        total = time.perf_counter() - t0
    finally:
        if profiler is not None:
            profiler.disable()
        gc.callbacks.remove(gc_timer)
        if full:
            aside.rename(data / "snapshots")
        snapshot_files.SnapshotFile.payload = payload  # type: ignore[method-assign]
        core_state.decode, core_state.restore = decode, restore
    if profiler is not None:
        import pstats
        what = "full replay" if full else "load (snapshot + tail)"
        print(f"\ncProfile of the {what}, by own time (cProfile slows it down):")
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(14)
    return {"total": total, "replayed": replayed, "snapshot_seq": ex.snapshot_seq,
            "orders": len(ex.engine.orders), "rss_mb": rss_mb(), "gc_seconds": gc_timer.seconds,
            "gc_full": gc_timer.full, **times}


def run_child(mode: str, directory: Path, args: argparse.Namespace) -> dict[str, Any]:
    result = directory / f"{mode}.json"
    cmd = [PYTHON, str(Path(__file__).resolve()), "--child", mode, "--dir", str(directory),
           "--orders", str(args.orders), "--tail", str(args.tail), "--seconds",
           str(args.seconds), "--rate", str(args.rate), "--forks", str(args.forks)]
    if args.profile:
        cmd.append("--profile")
    code = subprocess.call(cmd, cwd=REPO)
    if code != 0:
        raise RuntimeError(f"the {mode} child failed (exit code {code})")
    return json.loads(result.read_text())


# -- the real server ----------------------------------------------------------------------

LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) ", re.M)


def log_time(text: str, match: re.Match[str] | None) -> float | None:
    """The time stamp (epoch s, ms resolution) of the log line holding ``match``."""
    if match is None:
        return None
    stamp = LOG_TIME.match(text, text.rfind("\n", 0, match.start()) + 1)
    if stamp is None:
        return None
    return time.mktime(time.strptime(stamp[1], "%Y-%m-%d %H:%M:%S")) + int(stamp[2]) / 1000


def fix_message(begin: bytes, fields: list[tuple[int, bytes]]) -> bytes:
    body = b"".join(b"%d=%b\x01" % (tag, value) for tag, value in fields)
    msg = b"8=%b\x019=%d\x01%b" % (begin, len(body), body)
    return msg + b"10=%03d\x01" % (sum(msg) % 256)


def logon_message(begin: bytes, sender: bytes, target: bytes, seq: int, msg_type: bytes,
                  extra: list[tuple[int, bytes]]) -> bytes:
    ts = time.strftime("%Y%m%d-%H:%M:%S.000", time.gmtime()).encode()
    return fix_message(begin, [(35, msg_type), (34, b"%d" % seq), (49, sender), (52, ts),
                               (56, target), *extra])


def server_logon(directory: Path, port: int, resting: int, tail: int) -> dict[str, Any]:
    """Spawn a fixserver on the data directory and log on BRK2 (FIX.4.2; BRK1 has
    CancelOnDisconnect=Y: its logout would cancel its orders) as soon as the port
    accepts: the seconds from the spawn to the Logon answer, and what its log says."""
    log_path = directory / "server.log"
    out: dict[str, Any] = {}
    with open(log_path, "wb") as log:
        wall0 = time.time()
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [PYTHON, "-m", "server", "--sessions", str(directory / "sessions.cfg"),
             "--exchange", str(directory / "exchange.toml"), "--data-dir",
             str(directory / "data")], cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        try:
            while True:
                try:
                    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
                    break
                except OSError:
                    if proc.poll() is not None or time.perf_counter() - t0 > 600:
                        raise RuntimeError("the server did not listen:\n" + log_path.read_text(
                            errors="replace")[-3000:]) from None
                    time.sleep(0.005)
            out["listening"] = time.perf_counter() - t0
            with sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.sendall(logon_message(b"FIX.4.2", b"BRK2", b"EXCH", 1, b"A",
                                           [(98, b"0"), (108, b"30")]))
                buf = b""
                while b"\x0135=A\x01" not in buf:
                    data = sock.recv(65536)
                    if not data:
                        raise RuntimeError("the server closed the connection: "
                                           f"{buf!r}\n" + log_path.read_text()[-3000:])
                    buf += data
                out["logon"] = time.perf_counter() - t0
                sock.sendall(logon_message(b"FIX.4.2", b"BRK2", b"EXCH", 2, b"5", []))
                with contextlib.suppress(OSError):
                    sock.settimeout(5)
                    while b"\x0135=5\x01" not in buf and (data := sock.recv(65536)):
                        buf += data
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)   # it stops its snapshotter itself
                try:
                    proc.wait(120)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    text = log_path.read_text(errors="replace")
    loaded = re.search(r"venue\.exchange: snapshot \S+: seq (\d+), (\d+) open orders, "
                       r"([\d.]+) MB, loaded in ([\d.]+) s", text)
    replayed = re.search(r"venue\.exchange: journal \S+: replayed (\d+) commands after seq "
                         r"(\d+) in ([\d.]+) s", text)
    if loaded is None or replayed is None:
        raise RuntimeError("the server did not load the snapshot (or replay the tail after "
                           "it):\n" + text[-4000:])
    if int(replayed[1]) != tail or int(loaded[2]) != resting:
        raise RuntimeError(f"the server loaded a snapshot of {loaded[2]} open orders (not "
                           f"{resting}) and replayed {replayed[1]} commands after it (not "
                           f"{tail}):\n{text[-4000:]}")
    out["server_snapshot"] = float(loaded[4])
    out["server_replay"] = float(replayed[3])
    # A time line from the log's time stamps (ms), relative to the spawn.
    first = log_time(text, LOG_TIME.search(text))
    loaded_at = log_time(text, loaded)
    replayed_at = log_time(text, replayed)
    listening_at = log_time(text, re.search(rf"listening on 127\.0\.0\.1:{port}\b", text))
    if None not in (first, loaded_at, replayed_at, listening_at):
        assert first and loaded_at and replayed_at and listening_at
        out["first_log_line"] = first - wall0
        out["before_load"] = loaded_at - out["server_snapshot"] - first
        out["after_replay"] = listening_at - replayed_at
    return out


def data_sizes(directory: Path) -> dict[str, float]:
    """MB of the journal (and its segment count), the event log and the snapshots."""
    from persistence.segments import segment_files
    from venue.config import load_exchange_config
    path = directory / "data" / load_exchange_config(directory / "exchange.toml").journal_path
    journal = segment_files(path)
    return {"journal": sum(f.stat().st_size for f in journal) / MB, "segments": len(journal),
            "events": path.with_name("events.log").stat().st_size / MB,
            "snapshots": len(list((directory / "data" / "snapshots").glob("*.snapshot")))}


def interpreter(code: str, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([PYTHON, "-c", code], cwd=REPO, check=True)
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


# -- main ---------------------------------------------------------------------------------

def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--orders", type=int, default=None,
                   help="resting orders (BENCH_RECOVERY_ORDERS, default 1,000,000)")
    p.add_argument("--tail", type=int, default=None,
                   help="journal records after the snapshot (BENCH_RECOVERY_TAIL, "
                        "default 100,000)")
    p.add_argument("--seconds", type=float, default=None,
                   help="seconds of each order-path measurement (BENCH_RECOVERY_SECONDS, "
                        "default 5)")
    p.add_argument("--rate", type=float,
                   default=float(os.environ.get("BENCH_RECOVERY_RATE", 1000)),
                   help="order-path batches per second, 0: back to back "
                        "(BENCH_RECOVERY_RATE, default 1000)")
    p.add_argument("--forks", type=int, default=env_int("BENCH_RECOVERY_FORKS", 20),
                   help="fork() calls timed (BENCH_RECOVERY_FORKS)")
    p.add_argument("--quick", action="store_true",
                   default=os.environ.get("BENCH_RECOVERY_QUICK", "") not in ("", "0"),
                   help="100,000 orders, 10,000 tail, 2 s measurements unless given "
                        "(BENCH_RECOVERY_QUICK=1)")
    p.add_argument("--profile", action="store_true",
                   help="print the top functions (cProfile) of the load and the full replay")
    p.add_argument("--keep", action="store_true", help="keep the data directory")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    quick = args.quick
    if args.orders is None:
        args.orders = 100_000 if quick else env_int("BENCH_RECOVERY_ORDERS", 1_000_000)
    if args.tail is None:
        args.tail = 10_000 if quick else env_int("BENCH_RECOVERY_TAIL", 100_000)
    if args.seconds is None:
        args.seconds = 2.0 if quick else float(os.environ.get("BENCH_RECOVERY_SECONDS", 5))

    if args.child is not None:
        if args.child == "primary":
            result = child_primary(args.dir, args)
        else:
            result = child_load(args.dir, args, full=args.child == "full")
        (args.dir / f"{args.child}.json").write_text(json.dumps(result))
        return 0

    started = time.perf_counter()
    directory = Path(tempfile.mkdtemp(prefix="bench-recovery-"))
    try:
        (directory / "exchange.toml").write_text(bench_exchange_toml())
        sessions_cfg, port = bench_sessions_cfg()
        (directory / "sessions.cfg").write_text(sessions_cfg)
        n, tail = args.orders, args.tail
        print(f"building {n:,} resting orders, then the order path, the snapshotter and the "
              f"{tail:,}-record tail ...", flush=True)
        primary = run_child("primary", directory, args)
        print("loading from the snapshot ...", flush=True)
        load = run_child("load", directory, args)
        print("replaying the whole journal ...", flush=True)
        full = run_child("full", directory, args)
        sizes = data_sizes(directory)
        print("starting a fixserver on the data directory ...", flush=True)
        server: dict[str, Any] | None = None
        server_error: RuntimeError | None = None
        try:
            server = server_logon(directory, port, primary["resting"], tail)
        except RuntimeError as e:     # the other figures are printed first
            server_error = e
        bare = interpreter("pass")
        imports = interpreter("import server.compose")
        elapsed = time.perf_counter() - started
    finally:
        if args.keep:
            print(f"data directory kept: {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)

    if load["snapshot_seq"] != primary["snapshot_seq"] or load["replayed"] != tail:
        raise RuntimeError(f"the load started from seq {load['snapshot_seq']} (not "
                           f"{primary['snapshot_seq']}) and replayed {load['replayed']}")
    if full["snapshot_seq"] != 0 or full["replayed"] != primary["last_seq"]:
        raise RuntimeError(f"the full replay replayed {full['replayed']} commands, not "
                           f"{primary['last_seq']}")
    for what, orders in (("load", load["orders"]), ("full replay", full["orders"])):
        if orders != primary["resting_after_tail"]:
            raise RuntimeError(f"{what}: {orders} open orders, not "
                               f"{primary['resting_after_tail']}")

    print()
    print(f"{n:,} resting orders built in {primary['build_seconds']:.1f} s (primary RSS "
          f"{primary['rss_mb']:,.0f} MB); snapshot {primary['snapshot_mb']:.0f} MB; "
          f"{os.cpu_count()} CPUs")
    rate = f"{args.rate:,.0f}/s" if args.rate > 0 else "back to back"
    head = f"order path at {n:,} resting: 1 order + 1 cancel, submit+flush ({rate})"
    print(f"{head:74} {'n':>7} {'p50 us':>8} {'p99 us':>8} {'p99.9 us':>9} {'max us':>9} "
          f"{'>1 ms':>6}")
    rows = [("(a) no snapshotter", primary["none"]),
            ("(b) snapshotter process writing a snapshot every 1 s", primary["snapshotter"]),
            ("(c) a forked child capturing + encoding a snapshot", primary["forked"])]
    for label, s in rows:
        print(f"  {label:72} {s['n']:>7,} {s['p50']:8.0f} {s['p99']:8.0f} {s['p999']:9.0f} "
              f"{s['max']:9.0f} {s['over_1ms']:>6,}")
    for label, s in rows:
        print(f"  {label[:3]} slowest batch: {s['max']:,.0f} us, of which {s['worst_cpu']:,.0f} "
              f"us on the CPU and {s['worst_journal']:,.0f} us in the journal write, "
              f"{s['worst_at']:.1f} s into {s['seconds']:.1f} s; gc "
              f"{s['gc_seconds'] * 1000:.0f} ms in all")
    snaps = primary["snapshotter_snapshots"]
    snap_secs = ", ".join(f"{s:.2f}" for s, _ in snaps)
    print(f"  (b): the snapshotter was ready {primary['snapshotter_ready_seconds']:.1f} s "
          f"after its start; {len(snaps)} snapshots in {primary['snapshotter_window']:.1f} s "
          f"(each {snap_secs} s), {primary['snapshotter_cpu']:.1f} s of its CPU; its peak "
          f"RSS {primary['snapshotter_hwm_mb']:,.0f} MB")
    child = primary["forked_child"]
    print(f"  (c): the child took {child.get('seconds', float('nan')):.2f} s (peak RSS "
          f"{child.get('maxrss_mb', float('nan')):,.0f} MB); the primary took "
          f"{primary['forked_faults']:,} page faults meanwhile")
    fork = primary["fork"]
    print(f"  os.fork() of the primary at {primary['fork_rss_mb']:,.0f} MB RSS: p50 "
          f"{fork['p50'] / 1000:.1f} ms, max {fork['max'] / 1000:.1f} ms ({fork['n']} forks, "
          "the child exits at once)")
    print(f"  a snapshot taken in the primary (capture, encode, write) would stop it for "
          f"{primary['inprocess_snapshot_seconds']:.2f} s")

    print()
    print(f"data directory: journal {sizes['journal']:,.0f} MB in {sizes['segments']} "
          f"segments, event log {sizes['events']:,.0f} MB, {sizes['snapshots']} snapshots kept")
    head = f"recovery at {n:,} resting + {tail:,} tail"
    print(f"{head:60} {'seconds':>8}")
    def gc_note(name: str) -> str:
        seconds = load.get(name + "_gc", 0.0)
        return f"  (gc {seconds:.2f})" if seconds >= 0.005 else ""

    parts = load["read"] + load["decode"] + load["restore"]
    load["rest_gc"] = load.get("snapshot_gc", 0.0) - sum(
        load.get(f"{k}_gc", 0.0) for k in ("read", "decode", "restore"))
    rows2: list[tuple[str, float | None, str]] = [
        (f"snapshot load ({primary['snapshot_mb']:.0f} MB)", load["snapshot"],
         gc_note("snapshot")),
        ("  read + crc", load["read"], ""),
        ("  decode (msgspec)", load["decode"], gc_note("decode")),
        ("  restore into the core", load["restore"], gc_note("restore")),
        ("  the rest (freeing the decoded state, gc)", load["snapshot"] - parts,
         gc_note("rest")),
        (f"tail replay ({load['replayed']:,} commands)", load["replay"], gc_note("replay")),
        ("total load (Exchange.load)", load["total"],
         f"  (gc {load['gc_seconds']:.2f}, {load['gc_full']} full collections)"),
        (f"full replay, no snapshot ({full['replayed']:,} commands)", full["total"],
         f"  (gc {full['gc_seconds']:.2f}, {full['gc_full']} full collections)"),
    ]
    if server is not None:
        rows2.append(("spawn -> first Logon answered (snapshot)", server["logon"], ""))
        timeline = "first_log_line" in server
        if timeline:
            rows2 += [
                ("  to its first log line (interpreter, imports)", server["first_log_line"], ""),
                ("  then to the snapshot load (config, event log index, ...)",
                 server["before_load"], "")]
        rows2 += [
            ("  snapshot load (server log)", server["server_snapshot"], ""),
            ("  tail replay + event log fill (server log)", server["server_replay"], "")]
        if timeline:
            rows2.append(("  then until it listens (consumers, sessions, ports)",
                          server["after_replay"], ""))
        rows2.append(("  spawn -> port accepting", server["listening"], ""))
    rows2 += [
        ("interpreter start-up: python -c pass", bare, ""),
        ("  python -c 'import server.compose'", imports, ""),
    ]
    for label, seconds, note in rows2:
        print(f"  {label:58} {seconds:8.3f}{note}")
    print(f"  (the primary's peak RSS {primary['primary_hwm_mb']:,.0f} MB; after the load "
          f"{load['rss_mb']:,.0f} MB)")
    print(f"bench_recovery: {elapsed:.0f} s")
    if server_error is not None:
        raise server_error
    return 0


if __name__ == "__main__":
    sys.exit(main())
