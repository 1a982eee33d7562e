"""End-to-end exchange benchmark over loopback TCP.

Starts the server (``python -m server``) as a subprocess on a free loopback
port with a throwaway data directory, a one-session ``sessions.cfg`` (EXCH <-
BRK1, FIX.4.4, Application=exchange, ResetOnLogon=Y) and a copy of the shipped
``exchange.toml`` with generous limits and instruments of its own, then drives
it from this process with a fast load generator (pre-encoded NewOrderSingle
templates; only MsgSeqNum, SendingTime/TransactTime and ClOrdID are patched in,
and replies are scanned for ``35=8`` and their ClOrdID only). On two or more
CPUs the server and the load generator are pinned to different ones. Prints:

* the fdatasync time of this disk (the floor of a durable group commit), and the
  floor of the client + loopback TCP (the same client against a trivial echo server);
* phase A, one order in flight: send -> first ExecutionReport p50/p99/p99.9,
  for orders that rest and for orders that trade;
* phase B, 64 orders in flight: orders/s and send -> first ER percentiles;
* both with the default durable journal (fsync = true) and with fsync = false;
* phase C: the server's peak RSS (VmHWM) after loading 1,000,000 resting orders
  (durable journal, 256 in flight);
* with each figure, the server's and the load generator's CPU time per order and
  the CPU used by other processes meanwhile (the machine may be shared).

The servers run the default audit trail (``[audit]`` is left out of their
exchange.toml: JSON-lines files, in a child process of the server that inherits its
CPU); the header says so, and ``bench/bench_audit.py`` measures what it costs.

Run from the repository root: ``python bench/bench_exchange.py [options]``
(``--help``); every option also reads an environment variable
(``BENCH_RESTING=100000`` for a shorter memory phase, ``BENCH_SECONDS``,
``BENCH_ONE``, ...). ``--profile FILE`` instead runs the server profiled (cProfile,
or py-spy with ``--py-spy PATH``) for one phase-B run and prints the functions with
the most own time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from zlib import adler32

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

# Reference figures from issue 4, measured on this machine.
REFERENCES = [
    ("QuickFIX C++ ordermatch", "~25,000", "67"),
    ("QuickFIX + Python app", "~5,900", "210"),
    ("goal (durable journal)", ">= 25,000", "<= 100"),
]

# Instruments of the benchmark: ref 100.00, tick 0.01, band 50% -> 50.00 .. 150.00.
REST_SYMBOL = "BREST"    # phases A/B, resting orders (never cross)
TRADE_SYMBOL = "BTRD"    # phases A/B, alternating buy/sell at 100.00 (every sell trades)
MEM_SYMBOLS = [f"M{i:02d}" for i in range(20)]  # phase C
MEM_LEVELS = 1000        # price levels per side and symbol in phase C


# -- the load generator -------------------------------------------------------------

def _checksum(data: bytes) -> int:
    """Byte sum mod 256 (adler32's low half is 1 + byte sum for up to 256 bytes)."""
    n = len(data)
    if n <= 256:
        return ((adler32(data) & 0xFFFF) - 1) & 0xFF
    return sum(data) & 0xFF


def order_template(symbol: str, side: int, price_cents: int, qty: int = 100) -> bytes:
    """The constant part of a limit Day NewOrderSingle body, after ClOrdID and before
    TransactTime (fields of the FIX.4.4 body; the server does not require tag order)."""
    return b"38=%d\x0140=2\x0144=%d.%02d\x0154=%d\x0155=%b\x0159=0\x01" % (
        qty, price_cents // 100, price_cents % 100, side, symbol.encode())


class ProtocolError(Exception):
    pass


class LoadClient:
    """One FIX session (FIX.4.4 BRK1 -> EXCH unless told) over a blocking socket, built
    for speed."""

    def __init__(self, port: int, sender: bytes = b"BRK1", target: bytes = b"EXCH",
                 begin_string: bytes = b"FIX.4.4") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(30)
        self.seq = 1
        self.sender = sender
        self.target = target
        self.begin = b"8=%b\x019=" % begin_string
        self.prefix = b"\x0149=%b\x0152=" % sender
        self.mid = b"\x0156=%b\x0111=" % target
        self.buf = b""
        self._second = -1
        self._ts_prefix = b""
        # What came back besides ExecutionReports, and rejected orders.
        self.rejected = 0
        self.fills = 0        # ExecutionReports with ExecType F (trade)
        self.session_rejects = 0
        self.business_rejects = 0
        self.last_problem = b""

    def timestamp(self) -> bytes:
        t = time.time()
        second = int(t)
        if second != self._second:
            self._second = second
            self._ts_prefix = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(second)).encode()
        return b"%b.%03d" % (self._ts_prefix, int((t - second) * 1000))

    def message(self, msg_type: bytes, fields: bytes, ts: bytes | None = None) -> bytes:
        if ts is None:
            ts = self.timestamp()
        seq = self.seq
        self.seq = seq + 1
        body = b"35=%b\x0134=%d%b%b\x0156=%b\x01%b" % (msg_type, seq, self.prefix, ts,
                                                        self.target, fields)
        msg = b"%b%d\x01%b" % (self.begin, len(body), body)
        return msg + b"10=%03d\x01" % _checksum(msg)

    def order(self, cl: bytes, template: bytes, ts: bytes) -> bytes:
        """A NewOrderSingle: the pre-encoded template with seq, times and ClOrdID."""
        seq = self.seq
        self.seq = seq + 1
        body = b"35=D\x0134=%d%b%b%b%b\x01%b60=%b\x01" % (seq, self.prefix, ts, self.mid, cl,
                                                          template, ts)
        msg = b"%b%d\x01%b" % (self.begin, len(body), body)
        return msg + b"10=%03d\x01" % _checksum(msg)

    def scan(self, data: bytes) -> list[bytes]:
        """ClOrdIDs of the ExecutionReports whose body is complete in what has arrived."""
        buf = self.buf + data if self.buf else data
        pieces = buf.split(b"\x0110=")
        last = pieces.pop()
        if pieces:
            i = last.find(b"\x01")
            self.buf = last[i + 1:] if i >= 0 else b"\x0110=" + last
        else:
            self.buf = last
        out = []
        for p in pieces:
            if b"\x0135=8\x01" in p:
                j = p.find(b"\x0111=") + 4
                out.append(p[j:p.find(b"\x01", j)])
                if b"\x01150=F\x01" in p:
                    self.fills += 1
                elif b"\x01150=8\x01" in p:
                    self.rejected += 1
                    self.last_problem = p
            elif b"\x0135=0\x01" in p:
                continue
            elif b"\x0135=1\x01" in p:  # TestRequest: answer it
                j = p.find(b"\x01112=") + 5
                self.sock.sendall(self.message(b"0", b"112=%b\x01" % p[j:p.find(b"\x01", j)]))
            elif b"\x0135=3\x01" in p:
                self.session_rejects += 1
                self.last_problem = p
            elif b"\x0135=j\x01" in p:
                self.business_rejects += 1
                self.last_problem = p
            elif b"\x0135=5\x01" in p:
                raise ProtocolError(f"server logged out: {p!r}")
        return out

    def recv(self) -> bytes:
        data = self.sock.recv(1 << 20)
        if not data:
            raise ProtocolError("server closed the connection")
        return data

    def logon(self) -> None:
        self.sock.sendall(self.message(b"A", b"98=0\x01108=30\x01141=Y\x01"))
        buf = b""
        deadline = time.monotonic() + 10
        while b"\x0135=A\x01" not in buf:
            if time.monotonic() > deadline:
                raise ProtocolError(f"no Logon reply: {buf!r}")
            buf += self.recv()
        end = buf.find(b"\x0110=", buf.find(b"\x0135=A\x01"))
        end = buf.find(b"\x01", end + 4) + 1
        self.buf = buf[end:]

    def close(self, timeout: float = 5.0) -> None:
        """Log out (wait for the server's Logout, or its close) and close the socket."""
        try:
            self.sock.sendall(self.message(b"5", b""))
            self.sock.settimeout(timeout)
            buf = self.buf
            while b"\x0135=5\x01" not in buf:
                data = self.sock.recv(1 << 20)
                if not data:
                    break
                buf = buf[-64:] + data
        except OSError:
            pass
        self.sock.close()

    def problems(self) -> str:
        parts = []
        if self.rejected:
            parts.append(f"{self.rejected} orders rejected")
        if self.session_rejects:
            parts.append(f"{self.session_rejects} session Rejects")
        if self.business_rejects:
            parts.append(f"{self.business_rejects} BusinessMessageRejects")
        if parts:
            text = self.last_problem.replace(b"\x01", b"|").decode("latin-1")
            parts.append(f"last: {text[:300]}")
        return "; ".join(parts)


# -- phases ---------------------------------------------------------------------------

class ClOrdIDs:
    """Unique ClOrdIDs across the life of one server (duplicates are rejected)."""

    def __init__(self) -> None:
        self.n = 0

    def take(self) -> bytes:
        self.n += 1
        return b"%d" % self.n


def pct(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))] / 1000


def summary(lat_ns: list[int]) -> dict[str, float]:
    s = sorted(lat_ns)
    return {"p50": pct(s, 0.50), "p99": pct(s, 0.99), "p999": pct(s, 0.999),
            "max": s[-1] / 1000 if s else float("nan"), "n": len(s)}


def one_in_flight(client: LoadClient, ids: ClOrdIDs, templates: list[bytes],
                  n: int) -> list[int]:
    """Send one order, wait for its first ExecutionReport, repeat. Latencies in ns."""
    lat: list[int] = []
    sock = client.sock
    scan = client.scan
    ntpl = len(templates)
    clock = time.perf_counter_ns
    for i in range(n):
        cl = ids.take()
        msg = client.order(cl, templates[i % ntpl], client.timestamp())
        t0 = clock()
        sock.sendall(msg)
        while True:
            data = sock.recv(1 << 20)
            t1 = clock()
            if not data:
                raise ProtocolError("server closed the connection")
            if cl in scan(data):
                break
        lat.append(t1 - t0)
    return lat


def pipelined(client: LoadClient, ids: ClOrdIDs, templates: list[bytes], window: int,
              max_orders: int, seconds: float,
              progress: Callable[[int], None] | None = None) -> tuple[list[int], int, float]:
    """Keep ``window`` orders outstanding; a new one goes out for each first ER.
    Returns (latencies in ns, orders completed, elapsed seconds)."""
    sock = client.sock
    scan = client.scan
    order = client.order
    take = ids.take
    ntpl = len(templates)
    clock = time.perf_counter_ns
    inflight: dict[bytes, int] = {}
    lat: list[int] = []
    sent = 0
    done = 0
    start = clock()
    stop_at = start + int(seconds * 1e9)
    next_progress = 100_000

    def send(k: int) -> None:
        nonlocal sent
        ts = client.timestamp()
        msgs = []
        cls = []
        for _ in range(k):
            cl = take()
            msgs.append(order(cl, templates[sent % ntpl], ts))
            cls.append(cl)
            sent += 1
        t = clock()
        for cl in cls:
            inflight[cl] = t
        sock.sendall(b"".join(msgs))

    send(min(window, max_orders))
    sending = True
    while inflight:
        data = sock.recv(1 << 20)
        t1 = clock()
        if not data:
            raise ProtocolError("server closed the connection")
        k = 0
        for cl in scan(data):
            t0 = inflight.pop(cl, None)
            if t0 is not None:
                lat.append(t1 - t0)
                k += 1
        done += k
        if sending and (t1 >= stop_at or sent >= max_orders):
            sending = False
        if sending and k:
            send(min(k, max_orders - sent))
        if progress is not None and done >= next_progress:
            progress(done)
            next_progress += 100_000
    elapsed = (clock() - start) / 1e9
    return lat, done, elapsed


# -- the server -------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SESSIONS_CFG = """\
[DEFAULT]
ConnectionType=acceptor
SocketAcceptPort={port}
SocketAcceptAddress=127.0.0.1
SenderCompID=EXCH
FileStorePath=store
HeartBtInt=30
Application=exchange

[SESSION]
BeginString=FIX.4.4
TargetCompID=BRK1
ResetOnLogon=Y
"""


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


def exchange_toml(fsync: bool, **exchange: object) -> str:
    """The shipped exchange.toml with generous limits, plus the benchmark's symbols;
    ``exchange``: other keys of its ``[exchange]`` table (``busy_poll_us=1000``).

    Every risk check still runs on every order; only the limits are out of reach
    (and the throttle, since one session sends far more than a broker's rate)."""
    shipped = tomllib.loads((REPO / "exchange.toml").read_text())
    ex = dict(shipped.get("exchange", {}))
    ex["fsync"] = fsync
    ex.update(exchange)
    ex["max_messages_per_second"] = 100_000_000
    risk = {"max_order_value": "unlimited", "max_orders_per_day": "unlimited",
            "max_open_orders": "unlimited"}
    instruments = []
    for inst in shipped.get("instruments", []):
        inst = dict(inst)
        inst["max_order_qty"] = 1_000_000_000
        inst["price_band_pct"] = 50
        instruments.append(inst)
    for sym in [REST_SYMBOL, TRADE_SYMBOL, *MEM_SYMBOLS]:
        instruments.append({"symbol": sym, "tick_size": "0.01", "lot_size": 1,
                            "reference_price": "100.00", "sector": "Bench",
                            "max_order_qty": 1_000_000_000, "price_band_pct": 50})
    symbols = [i["symbol"] for i in instruments]
    accounts = [{"name": a, "cash": "1000000000000.00",
                 "positions": {s: 1_000_000_000_000 for s in symbols}}
                for firm in shipped.get("firms", []) for a in firm["accounts"]]
    lines = ["[exchange]"] + [f"{k} = {_toml_value(v)}" for k, v in ex.items()]
    lines += ["[risk]"] + [f"{k} = {_toml_value(v)}" for k, v in risk.items()]
    for table, rows in (("instruments", instruments), ("firms", shipped.get("firms", [])),
                        ("accounts", accounts), ("dropcopy", shipped.get("dropcopy", []))):
        for row in rows:
            lines.append(f"\n[[{table}]]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in row.items()]
    return "\n".join(lines) + "\n"


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM, ... of a process, in kB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Vm"):
                key, _, value = line.partition(":")
                out[key] = int(value.split()[0])
    return out


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time spent by everything on the machine (all CPUs), from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:9]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds(pid: int) -> float:
    """The CPU time of the children ``pid`` has now (the server's snapshotter and
    consumer processes)."""
    total = 0.0
    for path in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            for child in path.read_text().split():
                total += cpu_seconds(int(child))
        except OSError:   # a task or child that has just gone
            pass
    return total


class CpuMeter:
    """Server, its children, load generator and everything else's CPU time over one
    measurement: the machine is shared, and other processes' load shows up in the
    figures."""

    SETTLED = 0.005    # CPU seconds per SETTLE_POLL below which the children are idle
    SETTLE_POLL = 0.3

    def __init__(self, server_pid: int) -> None:
        self.pid = server_pid
        self.t = time.perf_counter()
        self.server = cpu_seconds(server_pid)
        self.children = children_cpu_seconds(server_pid)
        t = os.times()
        self.own = t.user + t.system
        self.machine = machine_busy_seconds()

    def stop(self, orders: int, settle: bool = False) -> dict[str, float]:
        """Per order; with ``settle``, the children's CPU counts until they are idle
        again (they follow the journal and the event log behind the load: their work
        for these orders ends later), at most 20 s, and ``settle_s`` says how long."""
        elapsed = time.perf_counter() - self.t
        server = cpu_seconds(self.pid) - self.server
        t = os.times()
        own = t.user + t.system - self.own
        others = machine_busy_seconds() - self.machine - server - own
        children = children_cpu_seconds(self.pid)
        ended = time.perf_counter()
        while settle and time.perf_counter() - ended < 20:
            time.sleep(self.SETTLE_POLL)
            now = children_cpu_seconds(self.pid)
            if now - children < self.SETTLED:
                break
            children = now
        return {"server_cpu_us": 1e6 * server / max(orders, 1),
                "client_cpu_us": 1e6 * own / max(orders, 1),
                "children_cpu_us": 1e6 * (children - self.children) / max(orders, 1),
                "settle_s": time.perf_counter() - ended if settle else 0.0,
                "other_load": max(0.0, others / elapsed)}


def audit_text(server_cpu: int | None, extra_toml: str = "") -> str:
    """The audit trail the servers of ``Server(..., extra_toml=extra_toml)`` run, as
    their exchange.toml and this environment (``FIXSERVER_AUDIT_*``) configure it."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from venue.config import AuditConfig, load_exchange_config
    with tempfile.TemporaryDirectory(prefix="bench-exchange-") as tmp:
        path = Path(tmp) / "exchange.toml"
        path.write_text(exchange_toml(True) + extra_toml)
        cfg = load_exchange_config(path).audit.with_environment(dict(os.environ))
    if not cfg.enabled:
        return "audit trail: off ([audit] enabled = false)"
    where = (f"Kafka {cfg.kafka}, topic {cfg.topic}" if cfg.kafka
             else "JSON-lines files in <data-dir>/audit/, fdatasync per batch")
    cpu = (f"which inherits the server's CPU {server_cpu}" if server_cpu is not None
           else "unpinned")
    which = " (the default [audit])" if cfg == AuditConfig() else ""
    return (f"audit trail: on{which}: {where}; written by the server's "
            f"child process (server/consumer_process.py, nice +5), {cpu}; "
            f"bench/bench_audit.py measures what it costs")


def cpu_text(res: dict) -> str:
    return (f"CPU/order: server {res['server_cpu_us']:.0f} µs, load generator "
            f"{res['client_cpu_us']:.0f} µs; other processes {res['other_load']:.2f} CPU")


class Server:
    """The fixserver subprocess with its own temp directory; always stopped by stop()."""

    def __init__(self, fsync: bool, *, profile: Path | None = None,
                 py_spy: str | None = None, cpu: int | None = None,
                 extra_toml: str = "", exchange: dict[str, object] | None = None) -> None:
        """``extra_toml`` is appended to the exchange.toml of ``exchange_toml(fsync)``
        (tables it leaves out, such as ``[audit]``); ``exchange``: keys of its
        ``[exchange]`` table."""
        self.dir = Path(tempfile.mkdtemp(prefix="bench-exchange-"))
        self.port = free_port()
        self.fsync = fsync
        (self.dir / "sessions.cfg").write_text(SESSIONS_CFG.format(port=self.port))
        (self.dir / "exchange.toml").write_text(exchange_toml(fsync, **(exchange or {}))
                                                + extra_toml)
        self.data_dir = self.dir / "data"
        self.log_path = self.dir / "server.log"
        cmd = [PYTHON]
        if profile is not None and py_spy:
            # Sampling (CPU time only: idle samples are left out), 500 samples/s.
            cmd = [py_spy, "record", "-r", "500", "--function", "-f", "raw",
                   "-o", str(profile), "--", PYTHON]
        elif profile is not None:
            cmd += ["-m", "cProfile", "-o", str(profile)]
        cmd += ["-m", "server", "--sessions", str(self.dir / "sessions.cfg"),
                "--exchange", str(self.dir / "exchange.toml"), "--data-dir", str(self.data_dir)]
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        if py_spy and profile is not None:
            self.pid = self._child_of(self.proc.pid)
        if cpu is not None:
            try:
                os.sched_setaffinity(self.pid, {cpu})
            except OSError:
                pass
        self._wait_listening()

    @staticmethod
    def _child_of(pid: int, timeout: float = 10) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for task in Path(f"/proc/{pid}/task").iterdir():
                children = (task / "children").read_text().split()
                if children:
                    return int(children[0])
            time.sleep(0.02)
        raise RuntimeError(f"no child process under {pid}")

    def _wait_listening(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server not listening on {self.port} after {timeout}s:\n"
                           f"{self.log()}")

    def log(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def status(self) -> dict[str, int]:
        return proc_status(self.pid)

    def stop(self) -> int | None:
        """SIGTERM (to the server itself when it runs under a profiler), then SIGKILL."""
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                for pid in {self.pid, self.proc.pid}:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


# A trivial blocking echo "exchange": answers each NewOrderSingle with a canned
# ExecutionReport carrying its ClOrdID. Run through the same load generator, it gives
# the floor that loopback TCP, two Python processes and the client itself put under
# every figure.
FLOOR_SERVER = r"""
import socket, sys
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1]))); ls.listen(1)
print("ready", flush=True)
s, _ = ls.accept(); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
er = (b"8=FIX.4.49=%d%b10=000")
body = (b"35=834=249=EXCH52=20260101-00:00:00.00056=BRK11=BRK1-MAIN"
        b"6=011=%b14=017=E137=O138=10039=040=244=99.99"
        b"54=155=BREST59=060=20260101-00:00:00.000150=0151=100")
buf = b""
while True:
    data = s.recv(1 << 20)
    if not data:
        break
    pieces = (buf + data).split(b"10=")
    last = pieces.pop()
    i = last.find(b"")
    buf = (last[i + 1:] if i >= 0 else b"10=" + last) if pieces else last
    out = []
    for p in pieces:
        if b"35=A" in p:
            out.append(b"8=FIX.4.49=535=A10=000")
        elif b"35=D" in p:
            j = p.find(b"11=") + 4
            b = body % p[j:p.find(b"", j)]
            out.append(er % (len(b), b))
    if out:
        s.sendall(b"".join(out))
"""


def pin_cpus(pin: bool = True) -> tuple[int | None, int | None]:
    """(load generator CPU, server CPU): this process is pinned to the first CPU it may
    use and the server is to go on the second; (None, None) when not ``pin`` or on one
    CPU."""
    avail = sorted(os.sched_getaffinity(0))
    if not pin or len(avail) < 2:
        return None, None
    os.sched_setaffinity(0, {avail[0]})
    return avail[0], avail[1]


def floor_latency(n: int, window: int, cpu: int | None) -> dict[str, float]:
    """Phase A against the trivial echo server: the client + loopback floor; and phase B
    against it for 3 s: what the load generator can drive (orders/s)."""
    port = free_port()
    proc = subprocess.Popen([PYTHON, "-c", FLOOR_SERVER, str(port)], stdout=subprocess.PIPE)
    try:
        if cpu is not None:
            os.sched_setaffinity(proc.pid, {cpu})
        assert proc.stdout is not None
        proc.stdout.readline()
        client = LoadClient(port)
        client.logon()
        ids = ClOrdIDs()
        one_in_flight(client, ids, rest_templates(), 500)
        res = summary(one_in_flight(client, ids, rest_templates(), n))
        _, done, elapsed = pipelined(client, ids, rest_templates(), window, 200_000, 3)
        res["rate"] = done / elapsed
        client.sock.close()
        return res
    finally:
        proc.kill()
        proc.wait()


# -- measurements -----------------------------------------------------------------------

def fdatasync_time(directory: Path, n: int = 300) -> tuple[float, float]:
    """p50 and p99 of write(8 kB) + fdatasync on the disk of ``directory``, in µs."""
    path = directory / "fdatasync.probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    block = b"x" * 8192
    times = []
    try:
        for _ in range(n):
            os.write(fd, block)
            t0 = time.perf_counter_ns()
            os.fdatasync(fd)
            times.append(time.perf_counter_ns() - t0)
    finally:
        os.close(fd)
        path.unlink()
    s = sorted(times)
    return pct(s, 0.5), pct(s, 0.99)


def rest_templates() -> list[bytes]:
    """Alternating buys below 100.00 and sells above it over 2 x 400 levels: never cross."""
    out = []
    for i in range(400):
        out.append(order_template(REST_SYMBOL, 1, 9999 - i))
        out.append(order_template(REST_SYMBOL, 2, 10001 + i))
    return out


def trade_templates() -> list[bytes]:
    """Buy then sell 100 at 100.00: each sell fills the buy just before it."""
    return [order_template(TRADE_SYMBOL, 1, 10000), order_template(TRADE_SYMBOL, 2, 10000)]


def mem_templates() -> list[bytes]:
    """Over 20 symbols, buys at 99.99 .. 90.00 and sells at 100.01 .. 110.00 (1000 levels
    a side); consecutive orders go to different books."""
    out = []
    for level in range(MEM_LEVELS):
        for sym in MEM_SYMBOLS:
            out.append(order_template(sym, 1, 9999 - level))
            out.append(order_template(sym, 2, 10001 + level))
    return out


def run_latency_set(server: Server, args: argparse.Namespace, label: str,
                    results: dict) -> None:
    """Phases A and B (resting and trading) against one running server."""
    client = LoadClient(server.port)
    try:
        client.logon()
        ids = ClOrdIDs()
        rest, trade = rest_templates(), trade_templates()
        # Warm-up (imports, caches, first allocation of the books).
        one_in_flight(client, ids, rest, 500)
        one_in_flight(client, ids, trade, 500)
        pipelined(client, ids, rest, args.window, 5000, 10)
        for kind, tpl in (("resting", rest), ("trading", trade)):
            meter = CpuMeter(server.pid)
            fills0 = client.fills
            t0 = time.perf_counter()
            lat = one_in_flight(client, ids, tpl, args.one)
            elapsed = time.perf_counter() - t0
            res = summary(lat)
            res.update(meter.stop(len(lat)))
            res["rate"] = len(lat) / elapsed
            res["fills"] = client.fills - fills0
            if kind == "trading":
                # every other order (the sell) trades; report it on its own too
                res["aggressor"] = summary(lat[1::2])
            results[(label, "A", kind)] = res
            print(f"  A  1 in flight, {kind:7}: n={len(lat):,}  p50 {res['p50']:7.1f} µs  "
                  f"p99 {res['p99']:7.1f} µs  p99.9 {res['p999']:7.1f} µs  "
                  f"({res['rate']:,.0f} orders/s; {cpu_text(res)})"
                  + (f"  [the {res['aggressor']['n']:,} sells that trade: p50 "
                     f"{res['aggressor']['p50']:.1f} µs; {res['fills']:,} fill reports]"
                     if kind == "trading" else ""), flush=True)
        for kind, tpl in (("resting", rest), ("trading", trade)):
            meter = CpuMeter(server.pid)
            fills0 = client.fills
            lat, done, elapsed = pipelined(client, ids, tpl, args.window, args.max_orders,
                                           args.seconds)
            res = summary(lat)
            res.update(meter.stop(done))
            res["rate"] = done / elapsed
            res["fills"] = client.fills - fills0
            results[(label, "B", kind)] = res
            print(f"  B {args.window:2d} in flight, {kind:7}: {done:,} orders in {elapsed:.1f} s "
                  f"= {res['rate']:,.0f} orders/s  p50 {res['p50']:7.1f} µs  "
                  f"p99 {res['p99']:7.1f} µs  p99.9 {res['p999']:7.1f} µs  "
                  f"max {res['max']:7.1f} µs  "
                  f"({cpu_text(res)})"
                  + (f" [{res['fills']:,} fill reports]" if kind == "trading" else ""),
                  flush=True)
        problems = client.problems()
        if problems:
            print(f"  PROBLEM: {problems}")
            results.setdefault("problems", []).append(f"{label}: {problems}")
    finally:
        client.close()


def run_memory(server: Server, args: argparse.Namespace, results: dict) -> None:
    client = LoadClient(server.port)
    try:
        client.logon()
        ids = ClOrdIDs()
        base = server.status()
        meter = CpuMeter(server.pid)
        t0 = time.perf_counter()

        def progress(done: int) -> None:
            st = server.status()
            print(f"    {done:>9,} resting, {time.perf_counter() - t0:6.1f} s, "
                  f"RSS {st['VmRSS'] / 1024:7.1f} MB", flush=True)

        lat, done, elapsed = pipelined(client, ids, mem_templates(), args.mem_window,
                                       args.resting, 1e9,
                                       progress if args.resting >= 200_000 else None)
        cpu = meter.stop(done)
        st = server.status()
        per_order = (st["VmHWM"] - base["VmRSS"]) * 1024 / max(done, 1)
        lat_s = summary(lat)
        res = {"n": done, "seconds": elapsed, "rate": done / elapsed,
               "p50": lat_s["p50"], "p999": lat_s["p999"], "max": lat_s["max"],
               "base_mb": base["VmRSS"] / 1024, "hwm_mb": st["VmHWM"] / 1024,
               "rss_mb": st["VmRSS"] / 1024, "per_order": per_order,
               "extrapolated_mb": (base["VmRSS"] * 1024 + per_order * 1_000_000) / 2**20,
               **cpu}
        results["C"] = res
        print(f"  C  {done:,} resting orders loaded in {elapsed:.1f} s ({res['rate']:,.0f} "
              f"orders/s, {args.mem_window} in flight); RSS at start {res['base_mb']:.1f} MB, "
              f"peak (VmHWM) {res['hwm_mb']:.1f} MB = {per_order:,.0f} bytes per resting order; "
              f"{cpu_text(res)}; send -> first ER p50 {res['p50']:.0f} µs, p99.9 "
              f"{res['p999']:.0f} µs, max {res['max']:.0f} µs", flush=True)
        if done != 1_000_000:
            print(f"     extrapolated peak RSS for 1,000,000 resting orders: "
                  f"{res['extrapolated_mb']:,.0f} MB (linear; a short run overestimates it, "
                  f"since most of its orders open a new price level)")
        problems = client.problems()
        if problems:
            print(f"  PROBLEM: {problems}")
            results.setdefault("problems", []).append(f"memory: {problems}")
    finally:
        client.close()


def print_table(results: dict, args: argparse.Namespace) -> None:
    print()
    print("Summary (send -> first ExecutionReport, µs; orders/s)")
    if not any(isinstance(k, tuple) for k in results):
        print("(phases A and B skipped)")
    head = (f"{'':42} {'orders/s':>9} {'p50':>8} {'p99':>8} {'p99.9':>8} {'srv CPU':>8} "
            f"{'others':>6}")
    print(head)
    print("-" * len(head))
    for label in ("durable (fsync=true)", "fsync=false"):
        for phase, kind in (("A", "resting"), ("A", "trading"), ("B", "resting"),
                            ("B", "trading")):
            r = results.get((label, phase, kind))
            if r is None:
                continue
            flight = "1 in flight" if phase == "A" else f"{args.window} in flight"
            name = f"{label}, {flight}, {kind}"
            print(f"{name:42} {r['rate']:>9,.0f} {r['p50']:>8.1f} {r['p99']:>8.1f} "
                  f"{r['p999']:>8.1f} {r['server_cpu_us']:>6.0f}µs {r['other_load']:>6.2f}")
    print("-" * len(head))
    print(f"{'reference (issue 4, this machine)':42} {'orders/s':>9} {'p50 (1 in flight)':>18}")
    for name, rate, p50 in REFERENCES:
        print(f"{'  ' + name:42} {rate:>9} {p50:>18}")
    print("(srv CPU: server CPU time per order; others: CPUs used by other processes on the "
          "machine meanwhile)")
    if "floor" in results:
        f = results["floor"]
        print(f"floor: the same client against a trivial Python echo server, 1 in flight: "
              f"p50 {f['p50']:.1f} µs, p99 {f['p99']:.1f} µs; load generator capacity "
              f"{f['rate']:,.0f} orders/s ({args.window} in flight)")
    if "fdatasync" in results:
        p50, p99 = results["fdatasync"]
        print(f"fdatasync of an 8 kB write on this disk: p50 {p50:.0f} µs, p99 {p99:.0f} µs")
    c = results.get("C")
    if c:
        line = (f"memory ({results['C_mode']}): {c['n']:,} resting orders, peak RSS "
                f"{c['hwm_mb']:,.1f} MB (start {c['base_mb']:.1f} MB), "
                f"{c['per_order']:,.0f} bytes/order, loaded at {c['rate']:,.0f} orders/s")
        print(line)
        if c["n"] != 1_000_000:
            print(f"  extrapolated to 1,000,000 resting orders: {c['extrapolated_mb']:,.0f} MB "
                  "(linear, an overestimate)")
    for p in results.get("problems", []):
        print(f"PROBLEM {p}")


def collapsed_summary(path: Path, top: int) -> None:
    """Own and inclusive sample counts per function from py-spy's raw (collapsed) output,
    counting only samples taken while serving (inside trio's run loop: no start-up)."""
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or "unrolled_run" not in stack:
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for f in set(frames):
            incl[f] = incl.get(f, 0) + n
    print(f"{total:,} CPU samples while serving (idle time is not sampled)")
    print(f"{'own %':>6} {'incl %':>6}  function")
    for f, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{100 * n / total:6.1f} {100 * incl[f] / total:6.1f}  {f}")
    print(f"\nby inclusive time (top {top}):")
    for f, n in sorted(incl.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{100 * own.get(f, 0) / total:6.1f} {100 * n / total:6.1f}  {f}")


def profile_run(args: argparse.Namespace, cpus: tuple[int | None, int | None]) -> None:
    """One phase-B run (resting orders) with the server profiled."""
    import pstats

    out = Path(args.profile).resolve()
    if out.exists():
        out.unlink()
    server = Server(args.profile_fsync, profile=out, py_spy=args.py_spy, cpu=cpus[1])
    try:
        client = LoadClient(server.port)
        client.logon()
        ids = ClOrdIDs()
        lat, done, elapsed = pipelined(client, ids, rest_templates(), args.window,
                                       args.max_orders, args.seconds)
        tool = "py-spy" if args.py_spy else "cProfile"
        journal = "durable" if args.profile_fsync else "fsync=false"
        print(f"profiled phase B ({journal}, resting, {args.window} in flight, under {tool}): "
              f"{done:,} orders in {elapsed:.1f} s = {done / elapsed:,.0f} orders/s, "
              f"p50 {summary(lat)['p50']:.1f} µs")
        client.close()
    finally:
        rc = server.stop()
        server.cleanup()
    if not out.exists():
        print(f"no profile written (server exit code {rc})")
        return
    if args.py_spy:
        collapsed_summary(out, args.top)
    else:
        stats = pstats.Stats(str(out))
        stats.sort_stats("tottime").print_stats(args.top)


def stopped(server: Server, results: dict, label: str) -> None:
    """Stop the server; a bad exit on SIGTERM is reported with the log's last error."""
    rc = server.stop()
    if rc not in (0, None):
        lines = [ln.strip(" |+") for ln in server.log(20000).splitlines()]
        errors = [ln for ln in lines if "Error" in ln or "Exception" in ln]
        last = errors[-1] if errors else (lines[-1] if lines else "")
        results.setdefault("problems", []).append(
            f"{label}: server exited with code {rc} on SIGTERM (last error in its log: {last})")
    server.cleanup()


def main() -> int:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--one", type=int, default=int(env("BENCH_ONE", 5000)),
                   help="orders per phase-A run, one in flight (BENCH_ONE)")
    p.add_argument("--window", type=int, default=int(env("BENCH_WINDOW", 64)),
                   help="orders in flight in phase B (BENCH_WINDOW)")
    p.add_argument("--seconds", type=float, default=float(env("BENCH_SECONDS", 10)),
                   help="duration of each phase-B run (BENCH_SECONDS)")
    p.add_argument("--max-orders", type=int, default=int(env("BENCH_MAX_ORDERS", 200_000)),
                   help="most orders per phase-B run (BENCH_MAX_ORDERS)")
    p.add_argument("--resting", type=int, default=int(env("BENCH_RESTING", 1_000_000)),
                   help="resting orders loaded in phase C, 0 to skip (BENCH_RESTING)")
    p.add_argument("--mem-window", type=int, default=int(env("BENCH_MEM_WINDOW", 256)),
                   help="orders in flight while loading phase C (BENCH_MEM_WINDOW)")
    p.add_argument("--mem-fsync", action=argparse.BooleanOptionalAction,
                   default=env("BENCH_MEM_FSYNC", "1") == "1",
                   help="durable journal in phase C (default; --no-mem-fsync or "
                        "BENCH_MEM_FSYNC=0 for fsync=false)")
    p.add_argument("--no-latency", action="store_true",
                   default=env("BENCH_NO_LATENCY") == "1",
                   help="skip phases A and B (BENCH_NO_LATENCY=1)")
    p.add_argument("--no-pin", action="store_true", default=env("BENCH_NO_PIN") == "1",
                   help="do not pin the server and the load generator to separate CPUs")
    p.add_argument("--profile", default=env("BENCH_PROFILE"),
                   help="only run phase B once with the server under cProfile, writing FILE")
    p.add_argument("--py-spy", default=env("BENCH_PY_SPY"), metavar="PATH",
                   help="with --profile: sample with this py-spy binary instead of cProfile")
    p.add_argument("--profile-fsync", action=argparse.BooleanOptionalAction, default=True,
                   help="with --profile: durable journal (default) or not")
    p.add_argument("--top", type=int, default=15, help="functions listed with --profile")
    args = p.parse_args()

    cpus = pin_cpus(not args.no_pin)
    pin_text = (f"load generator on CPU {cpus[0]}, server on CPU {cpus[1]}"
                if cpus[0] is not None else "not pinned")

    if args.profile:
        print(audit_text(cpus[1]))
        profile_run(args, cpus)
        return 0

    results: dict = {}
    probe_dir = Path(tempfile.mkdtemp(prefix="bench-exchange-"))
    try:
        results["fdatasync"] = fdatasync_time(probe_dir)
    finally:
        shutil.rmtree(probe_dir, ignore_errors=True)
    print(f"end-to-end exchange benchmark: {PYTHON} on {os.cpu_count()} CPUs, {pin_text}; "
          f"load average {os.getloadavg()[0]:.2f} at start")
    print(f"fdatasync of an 8 kB write on the temp disk: p50 {results['fdatasync'][0]:.0f} µs, "
          f"p99 {results['fdatasync'][1]:.0f} µs")
    print(audit_text(cpus[1]))

    if not args.no_latency:
        floor = results["floor"] = floor_latency(args.one, args.window, cpus[1])
        print(f"floor (same client, trivial Python echo server, 1 in flight): p50 "
              f"{floor['p50']:.1f} µs  p99 {floor['p99']:.1f} µs  p99.9 {floor['p999']:.1f} µs; "
              f"the load generator drives it at {floor['rate']:,.0f} orders/s with "
              f"{args.window} in flight", flush=True)

    for fsync, label in ((True, "durable (fsync=true)"), (False, "fsync=false")):
        if args.no_latency:
            break
        print(f"server with journal {label}:", flush=True)
        server = Server(fsync, cpu=cpus[1])
        try:
            run_latency_set(server, args, label, results)
        except Exception:
            print(server.log())
            raise
        finally:
            stopped(server, results, f"server with journal {label}")

    if args.resting > 0:
        mode = "durable journal" if args.mem_fsync else "journal fsync=false"
        results["C_mode"] = mode
        print(f"server with {mode}, loading {args.resting:,} resting orders over "
              f"{len(MEM_SYMBOLS)} symbols x 2 sides x {MEM_LEVELS} levels:", flush=True)
        server = Server(args.mem_fsync, cpu=cpus[1])
        try:
            run_memory(server, args, results)
        except Exception:
            print(server.log())
            raise
        finally:
            stopped(server, results, f"memory phase server ({mode})")

    print_table(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
