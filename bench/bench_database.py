"""What the PostgreSQL writer costs the order path, how fast it writes, how far behind it runs.

The load of bench_audit.py (bench_exchange.py's server subprocess, load generator and
exchange.toml, durable journal; crossing buy/sell pairs of 100 BTRD at 100.00, so every
sell trades), against a fresh server per run, in one of two arms:

* ``off``: no ``[postgres]`` table: no writer;
* ``on``: ``[postgres] dsn = ...``, a schema of its own per run (created before, dropped
  after): the server runs the writer in a child process (``python -m
  server.consumer_process postgres``), which follows the event log file and writes the
  tables orders, order_events, trades, settlements and its ``writer_checkpoint``.

The audit trail is off in both (``[audit] enabled = false``), so only the database
differs. The PostgreSQL is ``FIXEX_PG_DSN`` when it is set; otherwise a throwaway one that
``scripts/test-services start DIR`` starts (with its Tansu broker, unused here) and that is
stopped at the end; without either, nothing is measured (and the exit status is 0).

The arms alternate, a round each (the order swapped from round to round), since the machine
is noisy and only ratios of the same run count. Each run: logon, warm-up, the writer caught
up; ``--window`` in flight for ``--seconds`` (orders/s, p50/p99). At the end of the load: how
far behind the writer is (the journal's last seq - ``writer_checkpoint``'s seq), and how long
after the load ended it had every entry (drain). Rows/s: the rows the load added to the four
tables, over the time from the load's first order until the checkpoint reached the journal's
last seq.

Run from the repository root: ``python bench/bench_database.py [options]`` (``--help``);
options also read environment variables (``BENCH_DATABASE_ROUNDS``, ...). ``--quick``: one
round of 2 s loads.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_audit import GOAL_PCT, Trail, cpus_text, median, seconds_text  # noqa: E402
from bench_exchange import (  # noqa: E402
    REPO,
    ClOrdIDs,
    LoadClient,
    Server,
    pin_cpus,
    pipelined,
    stopped,
    summary,
    trade_templates,
)

from consumers.database import CHECKPOINT_NAME  # noqa: E402
from venue.config import AUDIT_ENV, POSTGRES_DSN_ENV  # noqa: E402

ARMS = ("off", "on")
PG_DSN_VAR = "FIXEX_PG_DSN"
TABLES = ("orders", "order_events", "trades", "settlements")
SERVICES = REPO / "scripts" / "test-services"


# -- the database -----------------------------------------------------------------------

class Services:
    """A throwaway PostgreSQL from scripts/test-services, in a temporary directory."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="bench-database-"))
        done = subprocess.run([str(SERVICES), "start", str(self.dir)], cwd=REPO,
                              capture_output=True, text=True)
        if done.returncode != 0:
            self.stop()
            raise RuntimeError((done.stderr or done.stdout).strip()[-2000:])
        env = dict(line.split("=", 1) for line in (self.dir / "env").read_text().splitlines()
                   if "=" in line)
        self.dsn = env[PG_DSN_VAR]

    def stop(self) -> None:
        subprocess.run([str(SERVICES), "stop", str(self.dir)], cwd=REPO,
                       capture_output=True)
        subprocess.run(["rm", "-rf", str(self.dir)], capture_output=True)


class Schema:
    """A fresh schema of ``dsn``'s database; ``dsn`` is a URI whose connections use it."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.name = f"bench_db_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {self.name}")
        sep = "&" if "?" in base else "?"
        self.dsn = f"{base}{sep}options=-csearch_path%3D{self.name}"

    def drop(self) -> None:
        with psycopg.connect(self.base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {self.name} CASCADE")


class Writer(Trail):
    """Where the journal (read from its files) and the PostgreSQL writer (its
    ``writer_checkpoint`` row) of one running server stand."""

    def __init__(self, server: Server, dsn: str) -> None:
        super().__init__(server, "postgres", "")
        self.conn: Any = psycopg.connect(dsn, autocommit=True)

    def position(self) -> tuple[int, int]:
        """(checkpoint seq, 0); (0, 0) before the writer has made its tables."""
        try:
            row = self.conn.execute("SELECT seq FROM writer_checkpoint WHERE name = %s",
                                    (CHECKPOINT_NAME,)).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0, 0
        return (int(row[0]) if row else 0), 0

    def rows(self) -> int:
        """Rows in the four tables of the history."""
        try:
            row = self.conn.execute(
                "SELECT " + " + ".join(f"(SELECT count(*) FROM {t})" for t in TABLES)
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
        return int(row[0])

    def close(self) -> None:
        super().close()
        self.conn.close()


# -- one run ----------------------------------------------------------------------------

def postgres_table(dsn: str) -> str:
    table = "\n[audit]\nenabled = false\n"
    return table + (f'\n[postgres]\ndsn = "{dsn}"\n' if dsn else "")


def problem(results: dict, text: str) -> None:
    results.setdefault("problems", []).append(text)


def run_once(arm: str, args: argparse.Namespace, cpu: int | None, base_dsn: str,
             results: dict) -> dict:
    """One server with the writer ``arm``: warm-up, then ``args.window`` in flight."""
    schema = Schema(base_dsn) if arm == "on" else None
    server = Server(True, cpu=cpu, extra_toml=postgres_table(schema.dsn if schema else ""))
    writer = Writer(server, schema.dsn) if schema else None
    client = LoadClient(server.port)
    out: dict = {"arm": arm}

    def caught_up(what: str) -> None:
        if writer is not None and writer.wait(writer.journal_seq(), args.drain_timeout) is None:
            problem(results, f"{arm}: the writer was not caught up {what} after "
                             f"{args.drain_timeout:.0f} s (seq {writer.position()[0]} of "
                             f"{writer.journal_seq()})")

    try:
        client.logon()
        ids = ClOrdIDs()
        trade = trade_templates()
        pipelined(client, ids, trade, args.window, 5000, 10)
        caught_up("before the load")
        rows0 = writer.rows() if writer else 0
        t0 = time.perf_counter()
        lat, done, elapsed = pipelined(client, ids, trade, args.window, args.max_orders,
                                       args.seconds)
        out.update(rate=done / elapsed, orders=done, many=summary(lat))
        if writer is not None:
            target = writer.journal_seq()
            out["lag"] = target - writer.position()[0]
            drain = writer.wait(target, args.drain_timeout)
            out["drain"] = drain
            written = time.perf_counter() - t0
            if drain is None:
                out["lag_left"] = target - writer.position()[0]
            out["rows"] = writer.rows() - rows0
            out["rows_rate"] = out["rows"] / written
            out["per_order"] = out["rows"] / done
        problems = client.problems()
        if problems:
            problem(results, f"{arm}: {problems}")
    except Exception:
        print(server.log())
        raise
    finally:
        client.close()
        if writer is not None:
            writer.close()
        log = server.log(1 << 20)
        for text, what in (("consumer postgres: failed", "the writer failed"),
                           ("the postgres consumer's process stopped", "its child stopped")):
            if log.count(text):
                problem(results, f"{arm}: {what} {log.count(text)} times (server log)")
        stopped(server, results, f"server with the writer {arm}")
        if schema is not None:
            schema.drop()
    return out


def run_text(r: dict) -> str:
    text = (f"{r['orders']:,} orders = {r['rate']:,.0f} orders/s, p50 {r['many']['p50']:.0f} "
            f"p99 {r['many']['p99']:.0f} µs")
    if r["arm"] == "on":
        drain = (f"not drained after the timeout ({r['lag_left']:,} left)"
                 if r["drain"] is None else f"drained in {seconds_text(r['drain'])}")
        text += (f"; {r['rows']:,} rows = {r['rows_rate']:,.0f} rows/s "
                 f"({r['per_order']:.1f} per order); {r['lag']:,} entries behind at the "
                 f"end, {drain}")
    return text


# -- the report -------------------------------------------------------------------------

def costs_of(on: list[dict], off: list[dict]) -> list[float]:
    """The cost in orders/s of each round against the run with the writer off, in %."""
    return [100 * (1 - r["rate"] / o["rate"]) for r, o in zip(on, off, strict=False)]


def print_table(runs: dict[str, list[dict]], args: argparse.Namespace) -> None:
    off, on = runs["off"], runs["on"]
    print()
    print(f"Summary: medians of {args.rounds} rounds ({args.window} in flight, send -> first "
          f"ExecutionReport, µs; crossing pairs, durable journal, audit trail off)")
    head = (f"{'writer':6} {'orders/s':>9} {'ratio':>6} {'cost':>7} {'p50/p99':>12} "
            f"{'rows/s':>8} {'rows/order':>10} {'lag at end':>11} {'drain':>8}")
    print(head)
    print("-" * len(head))
    for arm, rs in runs.items():
        rate = median([r["rate"] for r in rs])
        p = (f"{median([r['many']['p50'] for r in rs]):.0f} / "
             f"{median([r['many']['p99'] for r in rs]):.0f}")
        ratio = cost = rows = per = lag = drain = "-"
        if arm == "on":
            ratio = f"{median([r['rate'] / o['rate'] for r, o in zip(on, off, strict=False)]):.2f}"
            cost = f"{median(costs_of(on, off)):.1f}%"
            rows = f"{median([r['rows_rate'] for r in rs]):,.0f}"
            per = f"{median([r['per_order'] for r in rs]):.1f}"
            lag = f"{median([r['lag'] for r in rs]):,.0f}"
            drains = [r["drain"] for r in rs]
            drain = "timeout" if None in drains else seconds_text(median(drains))
        print(f"{arm:6} {rate:>9,.0f} {ratio:>6} {cost:>7} {p:>12} {rows:>8} {per:>10} "
              f"{lag:>11} {drain:>8}")
    print("-" * len(head))
    print("ratio, cost: the medians of the per-round ratios and costs in orders/s against the "
          "run with the writer off of the same round; per-round costs: "
          + ", ".join(f"{c:.1f}%" for c in costs_of(on, off)))
    print("rows/s: rows the load added to orders, order_events, trades and settlements, over "
          "the time from its first order until writer_checkpoint had the journal's last seq.")
    print("lag at end: entries not yet written when the load ended (the journal's last seq - "
          "the checkpoint's); drain: from then until the writer had them all.")
    c = median(costs_of(on, off))
    print(f"goal: orders/s at most {GOAL_PCT:.0f}% lower with the writer on: "
          f"{'MET' if c <= GOAL_PCT else 'NOT MET'} ({c:.1f}% lower, median of "
          f"{len(on)} rounds)")


def main() -> int:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=int(env("BENCH_DATABASE_ROUNDS", 3)),
                   help="rounds of off/on runs (BENCH_DATABASE_ROUNDS)")
    p.add_argument("--seconds", type=float, default=float(env("BENCH_DATABASE_SECONDS", 5)),
                   help="duration of each load (BENCH_DATABASE_SECONDS)")
    p.add_argument("--window", type=int, default=int(env("BENCH_DATABASE_WINDOW", 64)),
                   help="orders in flight (BENCH_DATABASE_WINDOW)")
    p.add_argument("--max-orders", type=int,
                   default=int(env("BENCH_DATABASE_MAX_ORDERS", 500_000)),
                   help="most orders per load (BENCH_DATABASE_MAX_ORDERS)")
    p.add_argument("--drain-timeout", type=float,
                   default=float(env("BENCH_DATABASE_DRAIN_TIMEOUT", 120)),
                   help="longest wait for the writer to catch up, seconds "
                        "(BENCH_DATABASE_DRAIN_TIMEOUT)")
    p.add_argument("--quick", action="store_true", help="one round of 2 s loads")
    p.add_argument("--no-pin", action="store_true", default=env("BENCH_NO_PIN") == "1",
                   help="do not pin the server and the load generator to separate CPUs")
    args = p.parse_args()
    if args.quick:
        args.rounds, args.seconds = 1, 2.0
    if args.rounds < 1:
        p.error("--rounds: at least 1")

    avail = sorted(os.sched_getaffinity(0))
    cpus = pin_cpus(not args.no_pin)
    # The servers' [audit] and [postgres] come from exchange.toml only.
    for var in (*AUDIT_ENV, POSTGRES_DSN_ENV):
        if os.environ.pop(var, None) is not None:
            print(f"({var} is ignored here: each arm sets it in exchange.toml)")

    services = None
    base_dsn = env(PG_DSN_VAR, "").strip()
    if not base_dsn:
        try:
            services = Services()
        except (OSError, RuntimeError) as e:
            print(f"PostgreSQL writer: not measured: {PG_DSN_VAR} is not set and "
                  f"scripts/test-services could not start one: {e}")
            return 0
        base_dsn = services.dsn
    where = "its own throwaway (scripts/test-services)" if services else f"{PG_DSN_VAR}"
    pin = (f"load generator on CPU {cpus[0]}, server on CPU {cpus[1]}, writer child off it "
           f"({cpus_text(avail)} available)" if cpus[0] is not None
           else "load generator and server not pinned")
    print(f"PostgreSQL writer benchmark: {sys.executable} on {os.cpu_count()} CPUs, {pin}; "
          f"PostgreSQL {base_dsn} ({where}); load average {os.getloadavg()[0]:.2f} at start; "
          f"{args.rounds} rounds of off, on; each {args.seconds:g} s at {args.window} in "
          f"flight (crossing pairs, durable journal, audit trail off)", flush=True)

    results: dict = {}
    runs: dict[str, list[dict]] = {a: [] for a in ARMS}
    try:
        for n in range(args.rounds):
            for arm in ARMS if n % 2 == 0 else ARMS[::-1]:
                r = run_once(arm, args, cpus[1], base_dsn, results)
                runs[arm].append(r)
                print(f"  round {n + 1} {arm:3}: {run_text(r)}", flush=True)
    finally:
        if services is not None:
            services.stop()

    print_table(runs, args)
    for text in results.get("problems", []):
        print(f"PROBLEM {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
