"""What metrics cost the order path, and where the server's time goes.

The same load as bench_audit.py's (bench_exchange.py's server subprocess, load generator
and exchange.toml, durable journal; crossing buy/sell pairs of 100 BTRD at 100.00, so
every sell trades), against a fresh server per run, in one of three cases:

* ``a``: ``[metrics] stage_timing = false``, ``[http] listen = ""`` (no listener);
* ``b``: ``stage_timing = true``, no listener;
* ``c``: ``stage_timing = true``, ``[http] listen`` on a free loopback port, with an
  observer process (this file, ``--observe``) that, during the whole load, GETs
  ``/metrics`` every second over one keep-alive connection (as Prometheus does) and
  reads the page's live stream ``/api/stream`` (the bearer token of
  ``<data-dir>/admin.token``), discarding its server-sent events.

The trading counters (consumers/metrics.py, consumers/tape.py, the sessions' counters)
and the alert task are always on: case ``a`` is the floor the server can be taken to.
The audit trail is off in every case (``[audit] enabled = false``), so only metrics
differ. On two or more CPUs the load generator is pinned to the first and the server to
the second, as in bench_exchange.py; the observer runs on the load generator's CPU, so
what it costs the server is the server's work to answer it, not its own CPU.

The cases are interleaved, a round each (the order rotated from round to round), since
the machine is noisy and only ratios of the same run count. Each run: logon, warm-up; 1
in flight for ``--one-seconds`` (send -> first ExecutionReport p50/p99/p99.9); then
``--window`` in flight for ``--seconds`` (orders/s, p50/p99, server CPU per order).

In case ``c`` the benchmark also scrapes ``/metrics`` itself just before and just after
each of the two loads; the difference of the two scrapes' ``fixserver_stage_seconds``
buckets is what the server's stage timers saw during that load. Pooled over the ``c``
rounds, it prints per stage the observations per order, p50/p99 (from the buckets,
interpolated within a bucket as ``metrics.latency.quantile`` and Prometheus'
``histogram_quantile`` do), the mean and the time per order. Case ``b`` has no listener
to scrape; its timers are the same as ``c``'s.

The costs of a few per cent are smaller than the run-to-run spread of orders/s on a
small shared machine, so it also prints them bottom-up: the stage timers as
observations per order (from those scrapes) x the time of one observation (two
``perf_counter_ns`` and ``Histogram.observe``, timed in this process) plus the timed
risk check's wrapper; and the server's CPU per ``/metrics`` answer (20 back-to-back
scrapes) and per ``/api/stream`` connection and first event (10 of them), read from the
server's threads' schedstat once a ``c`` run's load is over. Lines of the server log
that show a part of it failing (a corrupt journal read, the snapshotter stopping, a
traceback) are printed as PROBLEM lines.

Run from the repository root: ``python bench/bench_metrics.py [options]`` (``--help``);
every option also reads an environment variable (``BENCH_METRICS_ROUNDS`` or
``BENCH_ROUNDS``, ``BENCH_METRICS_SECONDS`` or ``BENCH_SECONDS``, ...). The default (3
rounds, 5 s loads) takes about 80 s; the orders/s of one case vary by 10-20% from run
to run on a 2-CPU VM, so to resolve a cost of a few per cent in orders/s it takes many
rounds, e.g. ``BENCH_METRICS_ROUNDS=15`` (about 6 minutes).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_audit import cpus_text, median  # noqa: E402
from bench_exchange import (  # noqa: E402
    PYTHON,
    ClOrdIDs,
    CpuMeter,
    LoadClient,
    Server,
    free_port,
    one_in_flight,
    pin_cpus,
    pipelined,
    stopped,
    summary,
    trade_templates,
)

from metrics.latency import BOUNDS_NS, STAGES, quantile, window  # noqa: E402
from venue.config import AUDIT_ENV, HTTP_LISTEN_ENV  # noqa: E402
from web.token import TOKEN_FILE  # noqa: E402

CASES = ("a", "b", "c")
CASE_TEXT = {
    "a": "stage_timing off, HTTP off",
    "b": "stage_timing on,  HTTP off",
    "c": "stage_timing on,  HTTP on + /metrics 1/s + /api/stream",
}
STAGE_FAMILY = "fixserver_stage_seconds"
STREAM_EVENT = b"event: state"
# Lines of the server log that mean a part of it failed during the run.
LOG_PROBLEMS = (("JournalCorrupt", "a reader found the journal corrupt"),
                ("the snapshotter stopped", "the snapshotter child stopped"),
                ("HTTP listener disabled", "the HTTP listener was disabled"),
                ("Traceback", "a traceback"))


# -- the observer (a process of its own: python bench/bench_metrics.py --observe ...) ----

class _Scraper:
    """GET /metrics over one keep-alive connection (a new one after an error)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.conn: http.client.HTTPConnection | None = None

    def get(self) -> bytes:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            self.conn.request("GET", "/metrics", headers={"Accept": "text/plain"})
            resp = self.conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise
        if resp.status != 200:
            raise OSError(f"/metrics answered {resp.status}")
        return body


def observe(port: int, token: str, interval: float) -> int:
    """Scrape /metrics every ``interval`` s and read /api/stream until stdin closes;
    then print what was done as one JSON line. Prints ``ready`` once both work."""
    stop = threading.Event()
    scrapes: list[int] = []          # ns each
    sizes: list[int] = []
    errors: list[str] = []
    stream = {"frames": 0, "bytes": 0}
    first_scrape, first_frame = threading.Event(), threading.Event()

    def scraper() -> None:
        s = _Scraper("127.0.0.1", port)
        next_at = time.monotonic()
        while not stop.is_set():
            t0 = time.perf_counter_ns()
            try:
                body = s.get()
                scrapes.append(time.perf_counter_ns() - t0)
                sizes.append(len(body))
                first_scrape.set()
            except (OSError, http.client.HTTPException) as e:
                errors.append(f"scrape: {e!r}")
            next_at += interval
            stop.wait(max(0.0, next_at - time.monotonic()))

    def streamer() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", "/api/stream", headers={"Authorization": f"Bearer {token}",
                                                        "Accept": "text/event-stream"})
            resp = conn.getresponse()
            if resp.status != 200:
                errors.append(f"/api/stream answered {resp.status}: {resp.read()[:200]!r}")
                first_frame.set()
                return
            tail = b""
            while not stop.is_set():
                data = resp.read1(1 << 16)
                if not data:
                    errors.append("/api/stream ended")
                    return
                stream["bytes"] += len(data)
                buf = tail + data
                stream["frames"] += buf.count(STREAM_EVENT)
                tail = buf[-(len(STREAM_EVENT) - 1):]
                if stream["frames"]:
                    first_frame.set()
        except (OSError, http.client.HTTPException) as e:
            errors.append(f"/api/stream: {e!r}")
            first_frame.set()

    threads = [threading.Thread(target=f, daemon=True) for f in (scraper, streamer)]
    for t in threads:
        t.start()
    first_scrape.wait(15)
    first_frame.wait(15)
    print("ready", flush=True)
    sys.stdin.read()          # until the benchmark closes it
    stop.set()
    s = sorted(scrapes)
    print(json.dumps({"scrapes": len(s), "scrape_p50_ms": s[len(s) // 2] / 1e6 if s else None,
                      "scrape_max_ms": s[-1] / 1e6 if s else None,
                      "scrape_bytes": sizes[-1] if sizes else 0,
                      "frames": stream["frames"], "stream_bytes": stream["bytes"],
                      "errors": errors[:5]}), flush=True)
    return 0


class Observer:
    """The observer process, pinned to ``cpu``; ``stop()`` returns what it did."""

    def __init__(self, port: int, token: str, interval: float, cpu: int | None) -> None:
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [PYTHON, __file__, "--observe", str(port), "--interval", str(interval)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "BENCH_METRICS_TOKEN": token})
        if cpu is not None:
            try:
                os.sched_setaffinity(self.proc.pid, {cpu})
            except OSError:
                pass
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"the observer did not start: {line!r}")

    def stop(self) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        elapsed = time.perf_counter() - self.t0
        self.proc.stdin.close()
        try:
            out = json.loads(self.proc.stdout.readline())
        except ValueError:
            out = {"scrapes": 0, "frames": 0, "errors": ["no report from the observer"]}
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        out["seconds"] = elapsed
        return out


# -- the server's stage histograms, from /metrics ------------------------------------------

def stage_buckets(port: int) -> dict[str, tuple[list[int], float]]:
    """Per stage: the bucket counts (as in ``metrics.latency.Histogram``, not cumulative)
    and the sum in ns, from one scrape of ``fixserver_stage_seconds``."""
    body = _Scraper("127.0.0.1", port).get().decode()
    cumulative: dict[str, list[tuple[float, float]]] = {}
    sums: dict[str, float] = {}
    for line in body.splitlines():
        if not line.startswith(STAGE_FAMILY + "_"):
            continue
        name, _, value = line.rpartition(" ")
        metric, _, labels = name.partition("{")
        fields = dict(kv.split("=", 1) for kv in labels.rstrip("}").split(","))
        fields = {k: v.strip('"') for k, v in fields.items()}
        stage = fields["stage"]
        if metric.endswith("_bucket"):
            cumulative.setdefault(stage, []).append((float(fields["le"]), float(value)))
        elif metric.endswith("_sum"):
            sums[stage] = float(value) * 1e9
    out = {}
    for stage, points in cumulative.items():
        points.sort()
        if len(points) != len(BOUNDS_NS) + 1:
            raise ValueError(f"{STAGE_FAMILY}{{stage={stage}}}: {len(points)} buckets, not "
                             f"{len(BOUNDS_NS) + 1}")
        counts, before = [], 0
        for _, c in points:
            counts.append(int(c) - before)
            before = int(c)
        out[stage] = (counts, sums.get(stage, 0.0))
    return out


def stage_window(after: dict, before: dict) -> dict[str, tuple[list[int], float]]:
    return {stage: (window(after[stage][0], before[stage][0]),
                    after[stage][1] - before[stage][1]) for stage in after}


def pooled(windows: list[dict]) -> dict[str, tuple[list[int], float]]:
    """The sum of several stage windows (the same stages in each)."""
    out: dict[str, tuple[list[int], float]] = {}
    for w in windows:
        for stage, (counts, total) in w.items():
            if stage in out:
                c0, t0 = out[stage]
                out[stage] = ([a + b for a, b in zip(c0, counts, strict=True)], t0 + total)
            else:
                out[stage] = (list(counts), total)
    return out


def wait_http(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except (OSError, http.client.HTTPException):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"no HTTP listener answering /api/health on port {port} "
                               f"after {timeout:.0f} s")
        time.sleep(0.05)


def cpu_ns(pid: int) -> int:
    """CPU time of every thread of process ``pid`` so far, in ns (the first field of each
    thread's schedstat: finer than /proc/PID/stat's clock ticks)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, IndexError, ValueError):
            continue   # the thread is gone
    return total


def http_costs(pid: int, port: int, token: str, scrapes: int = 20,
               streams: int = 10) -> dict[str, float]:
    """The server's CPU per answer, once the load is over: ``scrapes`` back-to-back GETs
    of /metrics over one connection, and ``streams`` connections to /api/stream that
    each read the first event and close (so that figure includes a connection's set-up
    and the bearer check: more than one event of an open stream costs)."""
    s = _Scraper("127.0.0.1", port)
    s.get()
    c0 = cpu_ns(pid)
    for _ in range(scrapes):
        s.get()
    c1 = cpu_ns(pid)
    for _ in range(streams):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/api/stream", headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        seen = b""
        while b"\n\n" not in seen:
            data = resp.read1(1 << 16)
            if not data:
                break
            seen += data
        conn.close()
    c2 = cpu_ns(pid)
    return {"scrape_cpu_ms": (c1 - c0) / 1e6 / scrapes,
            "stream_cpu_ms": (c2 - c1) / 1e6 / streams}


def timer_costs(n: int = 200_000, repeat: int = 5) -> tuple[float, float]:
    """ns of one stage observation as the server makes it (two perf_counter_ns and a
    ``Histogram.observe``), and of the timed risk check's wrapper (a call and two
    perf_counter_ns), in this process: the best of ``repeat`` loops of ``n``, less the
    empty loop."""
    from time import perf_counter_ns

    from metrics.latency import Histogram
    h = Histogram()
    spent = [0]

    def check(a: int, b: int) -> int:
        return a

    def wrapped(a: int, b: int) -> int:
        started = perf_counter_ns()
        verdict = check(a, b)
        spent[0] += perf_counter_ns() - started
        return verdict

    def loop(kind: str) -> float:
        t0 = perf_counter_ns()
        if kind == "empty":
            for _ in range(n):
                pass
        elif kind == "observe":
            for _ in range(n):
                started = perf_counter_ns()
                h.observe(perf_counter_ns() - started)
        elif kind == "check":
            for i in range(n):
                check(i, i)
        else:
            for i in range(n):
                wrapped(i, i)
        return (perf_counter_ns() - t0) / n

    best = {k: min(loop(k) for _ in range(repeat)) for k in ("empty", "observe", "check",
                                                                 "wrapped")}
    return best["observe"] - best["empty"], best["wrapped"] - best["check"]


# -- one run ------------------------------------------------------------------------------

def case_toml(case: str, http_port: int | None) -> str:
    listen = f"127.0.0.1:{http_port}" if http_port is not None else ""
    return ("\n[audit]\nenabled = false\n"
            f"\n[metrics]\nstage_timing = {'false' if case == 'a' else 'true'}\n"
            f'\n[http]\nlisten = "{listen}"\n')


def problem(results: dict, text: str) -> None:
    results.setdefault("problems", []).append(text)


def timed_one_in_flight(client: LoadClient, ids: ClOrdIDs, templates: list[bytes],
                        seconds: float) -> list[int]:
    """``one_in_flight`` in slices of 500 orders (an even number: whole buy/sell pairs)
    until ``seconds`` have passed."""
    lat: list[int] = []
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        lat += one_in_flight(client, ids, templates, 500)
    return lat


def run_once(case: str, args: argparse.Namespace, cpus: tuple[int | None, int | None],
             results: dict) -> dict:
    """One server in ``case``: warm-up, 1 in flight, then ``args.window`` in flight."""
    http_port = free_port() if case == "c" else None
    server = Server(True, cpu=cpus[1], extra_toml=case_toml(case, http_port))
    client = LoadClient(server.port)
    observer: Observer | None = None
    out: dict = {"case": case}
    try:
        if http_port is not None:
            wait_http(http_port)
        client.logon()
        ids = ClOrdIDs()
        trade = trade_templates()
        one_in_flight(client, ids, trade, 500)
        pipelined(client, ids, trade, args.window, 5000, 10)
        if http_port is not None:
            token = (server.data_dir / TOKEN_FILE).read_text().strip()
            observer = Observer(http_port, token, args.interval, cpus[0])
            s0 = stage_buckets(http_port)
        one = timed_one_in_flight(client, ids, trade, args.one_seconds)
        out["one"] = summary(one)
        if http_port is not None:
            s1 = stage_buckets(http_port)
        meter = CpuMeter(server.pid)
        lat, done, elapsed = pipelined(client, ids, trade, args.window, args.max_orders,
                                       args.seconds)
        out.update(meter.stop(done))
        out.update(rate=done / elapsed, orders=done, many=summary(lat))
        if http_port is not None:
            s2 = stage_buckets(http_port)
            out["stages_one"] = stage_window(s1, s0)
            out["stages_many"] = stage_window(s2, s1)
        if observer is not None:
            seen = out["observer"] = observer.stop()
            observer = None
            out.update(http_costs(server.pid, http_port, token))
            for e in seen.get("errors", []):
                problem(results, f"{case}: observer: {e}")
            if not seen["frames"] or not seen["scrapes"]:
                problem(results, f"{case}: the observer had {seen['scrapes']} scrapes and "
                                 f"{seen['frames']} stream events")
        problems = client.problems()
        if problems:
            problem(results, f"{case}: {problems}")
    except Exception:
        print(server.log())
        raise
    finally:
        if observer is not None:
            observer.stop()
        client.close()
        log = server.log(1 << 22)
        for text, what in LOG_PROBLEMS:
            if text in log:
                problem(results, f"{case}: {what} {log.count(text)} times (server log: "
                                 f"{_line_with(log, text)})")
        stopped(server, results, f"server in case {case}")
    return out


def _line_with(log: str, text: str) -> str:
    for line in log.splitlines():
        if text in line:
            return line.strip()[:240]
    return ""


def run_text(r: dict) -> str:
    text = (f"{r['orders']:,} orders = {r['rate']:,.0f} orders/s, p50 {r['many']['p50']:.0f} "
            f"p99 {r['many']['p99']:.0f} µs, server CPU {r['server_cpu_us']:.1f} µs/order; "
            f"1 in flight ({r['one']['n']:,} orders) p50 {r['one']['p50']:.0f} p99 "
            f"{r['one']['p99']:.0f} p99.9 {r['one']['p999']:.0f} max {r['one']['max']:.0f} µs; "
            f"other processes {r['other_load']:.2f} CPU")
    o = r.get("observer")
    if o:
        text += (f"; observer: {o['scrapes']} scrapes of {o['scrape_bytes']:,} bytes in "
                 f"{o['seconds']:.1f} s (p50 {o['scrape_p50_ms']:.1f} ms, max "
                 f"{o['scrape_max_ms']:.1f} ms), {o['frames']} stream events "
                 f"({o['stream_bytes']:,} bytes); after the load, server CPU "
                 f"{r['scrape_cpu_ms']:.2f} ms per /metrics, {r['stream_cpu_ms']:.2f} ms "
                 f"per /api/stream connection and first event")
    return text


# -- the report -------------------------------------------------------------------------

def costs_of(rs: list[dict], base: list[dict]) -> list[float]:
    """The cost in orders/s of each round against case a of the same round, in %."""
    return [100 * (1 - r["rate"] / b["rate"]) for r, b in zip(rs, base, strict=False)]


def cpu_deltas(rs: list[dict], base: list[dict]) -> list[float]:
    return [r["server_cpu_us"] - b["server_cpu_us"] for r, b in zip(rs, base, strict=False)]


def print_table(runs: dict[str, list[dict]], args: argparse.Namespace,
                timers: tuple[float, float]) -> None:
    base = runs["a"]
    print()
    print(f"Summary: medians of {args.rounds} rounds (crossing pairs, durable journal, audit "
          f"trail off; send -> first ExecutionReport, µs)")
    head = (f"{'case':58} {'orders/s':>9} {'cost':>6} {'srv CPU/order':>14} "
            f"{f'{args.window} in flight p50/p99':>21} {'1 in flight p50/p99/p99.9/max':>31}")
    print(head)
    print("-" * len(head))
    for case, rs in runs.items():
        if not rs:
            continue
        rate = median([r["rate"] for r in rs])
        cost = "-" if case == "a" else f"{median(costs_of(rs, base)):.1f}%"
        cpu = median([r["server_cpu_us"] for r in rs])
        cpu_text = (f"{cpu:.1f} µs" if case == "a"
                    else f"{cpu:.1f} ({median(cpu_deltas(rs, base)):+.1f})")
        many = (f"{median([r['many']['p50'] for r in rs]):.0f} / "
                f"{median([r['many']['p99'] for r in rs]):.0f}")
        one = (f"{median([r['one']['p50'] for r in rs]):.0f} / "
               f"{median([r['one']['p99'] for r in rs]):.0f} / "
               f"{median([r['one']['p999'] for r in rs]):.0f} / "
               f"{median([r['one']['max'] for r in rs]):.0f}")
        print(f"{case + ': ' + CASE_TEXT[case]:58} {rate:>9,.0f} {cost:>6} {cpu_text:>14} "
              f"{many:>21} {one:>31}")
    print("-" * len(head))
    print("cost: the median of the per-round costs in orders/s against case a of the same "
          "round; srv CPU/order: the server process's CPU time per order during the "
          f"{args.window}-in-flight load (in brackets: the median per-round difference to a).")
    for case, rs in runs.items():
        if case == "a" or not rs:
            continue
        rates = ", ".join(f"{r['rate']:,.0f}" for r in rs)
        costs = ", ".join(f"{c:.1f}%" for c in costs_of(rs, base))
        deltas = ", ".join(f"{d:+.1f}" for d in cpu_deltas(rs, base))
        print(f"  {case}: per-round orders/s {rates}; costs {costs}; CPU/order {deltas} µs")
    print("  a: per-round orders/s " + ", ".join(f"{r['rate']:,.0f}" for r in base))
    others = "; ".join(f"{case} " + ", ".join(f"{r['other_load']:.2f}" for r in rs)
                       for case, rs in runs.items() if rs)
    print(f"other processes (CPUs busy during each round's load besides the server and the "
          f"load generator: the observer, the snapshotter, kernel threads, anything outside "
          f"the benchmark): {others}")

    cs = runs.get("c", [])
    if not cs:
        return
    for key, title, orders in (
            ("stages_one", "1 in flight", sum(r["one"]["n"] for r in cs)),
            ("stages_many", f"{args.window} in flight", sum(r["orders"] for r in cs))):
        stages = pooled([r[key] for r in cs])
        print()
        print(f"The server's stage timers during the {title} loads of case c (difference of "
              f"two /metrics scrapes, pooled over {len(cs)} rounds, {orders:,} orders; "
              f"quantiles from the 1-2-5 buckets, interpolated within a bucket):")
        head = (f"  {'stage':11} {'per order':>9} {'p50 µs':>9} {'p99 µs':>9} {'mean µs':>9} "
                f"{'µs/order':>9}")
        print(head)
        print("  " + "-" * (len(head) - 2))
        timed = 0.0
        for stage in STAGES:
            if stage not in stages:
                continue
            counts, total = stages[stage]
            n = sum(counts)
            p50, p99 = quantile(counts, 0.5), quantile(counts, 0.99)
            per_order = total / 1000 / max(orders, 1)
            if stage != "end_to_end":
                timed += per_order
            print(f"  {stage:11} {n / max(orders, 1):>9.3f} "
                  f"{_us(p50):>9} {_us(p99):>9} "
                  f"{(total / n / 1000 if n else float('nan')):>9.1f} {per_order:>9.1f}")
        cpu = (median([r["server_cpu_us"] for r in cs]) if key == "stages_many" else None)
        print(f"  the stages but end_to_end (which spans them) add up to {timed:.1f} µs per "
              f"order" + (f", against {cpu:.1f} µs of server CPU per order (the journal's "
                          f"is mostly waiting for fdatasync, not CPU)" if cpu else ""))
    print("  per order: observations per order (decode and validation per message, journal "
          "per group commit, risk and matching per command, encode per report, end_to_end "
          "per socket read); µs/order: the stage's total time over the orders.")

    # Bottom-up: what the timers and the answers cost, measured apart from the noise of
    # whole runs.
    base_cpu = median([r["server_cpu_us"] for r in base])
    many = pooled([r["stages_many"] for r in cs])
    orders = sum(r["orders"] for r in cs)
    observations = sum(sum(counts) for counts, _ in many.values()) / max(orders, 1)
    risks = sum(many["risk"][0]) / max(orders, 1) if "risk" in many else 0.0
    observe_ns, wrap_ns = timers
    timer_us = (observations * observe_ns + risks * wrap_ns) / 1000
    print()
    print("Bottom-up (apart from the run-to-run noise of the orders/s):")
    print(f"  stage timers: {observations:.2f} observations per order x {observe_ns:.0f} ns "
          f"(two perf_counter_ns and Histogram.observe, timed in this process) + "
          f"{risks:.2f} timed risk checks x {wrap_ns:.0f} ns (the wrapper) = "
          f"{timer_us:.2f} µs per order, {100 * timer_us / base_cpu:.1f}% of case a's "
          f"{base_cpu:.1f} µs of server CPU per order")
    scrape = median([r["scrape_cpu_ms"] for r in cs])
    stream = median([r["stream_cpu_ms"] for r in cs])
    per_second = scrape / args.interval + stream / 1.0
    print(f"  HTTP: server CPU {scrape:.2f} ms per /metrics scrape and {stream:.2f} ms per "
          f"/api/stream connection with its first event (medians of the c rounds, once the "
          f"load is over); at one scrape every {args.interval:g} s and one event a second "
          f"that is at most {per_second:.1f} ms of CPU a second, {per_second / 10:.1f}% of "
          f"the server's CPU, taken in one piece per answer (the event loop does nothing "
          f"else meanwhile)")


def _us(ns: int | None) -> str:
    return "-" if ns is None else f"{ns / 1000:.1f}"


def main() -> int:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int,
                   default=int(env("BENCH_METRICS_ROUNDS", env("BENCH_ROUNDS", 3))),
                   help="rounds of a/b/c runs (BENCH_METRICS_ROUNDS or BENCH_ROUNDS)")
    p.add_argument("--seconds", type=float,
                   default=float(env("BENCH_METRICS_SECONDS", env("BENCH_SECONDS", 5))),
                   help="duration of each many-in-flight load (BENCH_METRICS_SECONDS or "
                        "BENCH_SECONDS)")
    p.add_argument("--one-seconds", type=float,
                   default=float(env("BENCH_METRICS_ONE_SECONDS", 2)),
                   help="duration of each 1-in-flight load (BENCH_METRICS_ONE_SECONDS)")
    p.add_argument("--window", type=int, default=int(env("BENCH_METRICS_WINDOW", 64)),
                   help="orders in flight (BENCH_METRICS_WINDOW)")
    p.add_argument("--max-orders", type=int,
                   default=int(env("BENCH_METRICS_MAX_ORDERS", 500_000)),
                   help="most orders per load (BENCH_METRICS_MAX_ORDERS)")
    p.add_argument("--cases", default=env("BENCH_METRICS_CASES", ",".join(CASES)),
                   help="comma-separated, of a,b,c (BENCH_METRICS_CASES)")
    p.add_argument("--interval", type=float, default=1.0,
                   help="seconds between the observer's scrapes of /metrics in case c")
    p.add_argument("--no-pin", action="store_true", default=env("BENCH_NO_PIN") == "1",
                   help="do not pin the server and the load generator to separate CPUs")
    p.add_argument("--observe", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.observe is not None:
        return observe(args.observe, env("BENCH_METRICS_TOKEN", ""), args.interval)
    cases = [c for c in args.cases.split(",") if c]
    if any(c not in CASES for c in cases) or "a" not in cases:
        p.error(f"--cases: of {', '.join(CASES)}, with a (the costs are against it)")
    if args.rounds < 1:
        p.error("--rounds: at least 1")

    avail = sorted(os.sched_getaffinity(0))
    cpus = pin_cpus(not args.no_pin)
    # The servers' [audit] and [http] come from exchange.toml only.
    for var in (*AUDIT_ENV, HTTP_LISTEN_ENV):
        if os.environ.pop(var, None) is not None:
            print(f"({var} is ignored here: each case sets it in exchange.toml)")
    pin = (f"load generator and observer on CPU {cpus[0]}, server on CPU {cpus[1]}, its "
           f"snapshotter off it ({cpus_text(avail)} available)" if cpus[0] is not None
           else "not pinned")
    print(f"metrics benchmark: {sys.executable} on {os.cpu_count()} CPUs, {pin}; load average "
          f"{os.getloadavg()[0]:.2f} at start; {args.rounds} rounds of {', '.join(cases)}; "
          f"each: {args.one_seconds:g} s 1 in flight, then {args.seconds:g} s at {args.window} "
          f"in flight (crossing pairs, durable journal, audit trail off); case c's observer "
          f"scrapes /metrics every {args.interval:g} s and reads /api/stream", flush=True)
    for case in cases:
        print(f"  {case}: {CASE_TEXT[case]}")

    results: dict = {}
    runs: dict[str, list[dict]] = {c: [] for c in cases}
    for n in range(args.rounds):
        order = cases[n % len(cases):] + cases[:n % len(cases)]
        for case in order:
            r = run_once(case, args, cpus, results)
            runs[case].append(r)
            print(f"  round {n + 1} {case}: {run_text(r)}", flush=True)

    print_table(runs, args, timer_costs())
    for text in results.get("problems", []):
        print(f"PROBLEM {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
