"""CPU per order through the whole composed server, in process: no sockets, no fsync.

Builds the server exactly as ``fixserver`` does (``server.compose.build_server`` on the
shipped sessions.cfg and exchange.toml; fsync off, no snapshotter, no audit trail, no
HTTP, limits raised so nothing is refused), binds BRK1's FIX 4.4 session to a sans-IO
``Connection`` and feeds it pre-encoded NewOrderSingles 64 at a time, as the acceptor
would: ``Connection.receive`` (framing, parse, validation, session, the application,
the sequencer), ``Exchange.flush`` (journal write, core, the event stream and its
in-process consumers), ``Connection.drain`` (the replies as bytes). It prints the CPU
time per order (``time.process_time``) of each run, and of each consumer of the event
stream. The orders rest (buys below the touch), or with ``--trade`` every second one
sells into the one before. After each run, the work of the server's two children over
that run is done and timed the same way: a snapshotter (``venue.snapshotter``) following
the run's journal, and the audit trail writing the run's entries from the event log
to its files (``server.consumer_process``); fsync off as for the rest.

Socket and scheduling noise, which dominate ``bench_exchange.py`` on a shared 2-core
machine, are out of the picture, so small changes show: with ``--against REV`` the
same runs alternate between this tree and a git worktree of REV (e.g. ``HEAD~1``), and
the table gives both, min and median, and the difference. Each run is a fresh process
pinned to one CPU.

    python bench/bench_inprocess.py [--orders 10000] [--runs 5] [--against HEAD~1] [--trade]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BATCH = 64          # orders per read, as with 64 in flight


def _toml(repo: Path) -> str:
    """The shipped exchange.toml with fsync, snapshots, the audit trail and the limits
    that would refuse a long run turned off."""
    toml = (repo / "exchange.toml").read_text()
    for pattern, value in (
            (r"fsync = true", "fsync = false"),
            (r"snapshot_interval = [0-9.]+", "snapshot_interval = 0"),
            (r'cash = "[0-9.]+"', 'cash = "100000000000.00"'),
            (r"max_messages_per_second = [0-9]+", "max_messages_per_second = 100000000"),
            (r"max_open_orders = [0-9]+", "max_open_orders = 10000000"),
            (r"max_orders_per_day = [0-9]+", "max_orders_per_day = 100000000"),
            (r'max_order_value = "[0-9.]+"', 'max_order_value = "100000000.00"')):
        toml = re.sub(pattern, value, toml)
    return toml.replace("[audit]\n", "[audit]\nenabled = false\n", 1)


def run_once(orders: int, trade: bool) -> dict[str, float]:
    """One run in this process (of whichever tree is first on sys.path): CPU µs per
    order in all and per consumer."""
    os.environ["FIXSERVER_HTTP_LISTEN"] = ""
    from fixserver.codec import encode
    from fixserver.connection import Connection, SessionRegistry
    from fixserver.settings import load_sessions
    from server.compose import build_server
    from venue.config import load_exchange_config

    repo = Path(sys.path[0])
    tmp = Path(tempfile.mkdtemp(prefix="bench-inprocess-"))
    (tmp / "exchange.toml").write_text(_toml(repo))
    configs = load_sessions(repo / "sessions.cfg")
    server = build_server(configs, repo, tmp / "data",
                          load_exchange_config(tmp / "exchange.toml"))
    assert server.exchange is not None and server.stream is not None
    port = next(c.port for c in configs if c.target_comp_id == "BRK1")
    conn = Connection(SessionRegistry(server.sessions), port, "127.0.0.1:1", time.time())
    observatory = getattr(server, "observatory", None)
    if observatory is not None and getattr(server.exchange.config, "stage_timing", False):
        conn.stages = observatory.stages     # as the acceptor sets it
    spent: dict[str, int] = {}
    for consumer in server.stream.consumers:
        consumer.on_batch = _timed(consumer.on_batch, type(consumer).__name__, spent)
    stamp = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime()).encode()
    seq = 0

    def message(msg_type: bytes, *fields: tuple[int, bytes]) -> bytes:
        nonlocal seq
        seq += 1
        return encode(b"FIX.4.4", [(35, msg_type), (34, b"%d" % seq), (49, b"BRK1"),
                                   (52, stamp), (56, b"EXCH"), *fields])

    conn.receive(message(b"A", (98, b"0"), (108, b"30"), (141, b"Y")), time.time())
    server.exchange.flush()
    conn.drain(time.time())
    wire = []
    for i in range(orders):
        sell = trade and i % 2 == 1
        price = b"189.00" if trade else b"%d.%02d" % (175 + i % 14, i % 100)
        wire.append(message(b"D", (1, b"BRK1-MAIN"), (11, b"o%d" % i), (38, b"100"),
                            (40, b"2"), (44, price), (54, b"2" if sell else b"1"),
                            (55, b"AAPL"), (59, b"0"), (60, stamp)))
    snapshotter, trail = _children(server, tmp)
    spent.clear()
    started = time.process_time()
    for i in range(0, orders, BATCH):
        conn.receive(b"".join(wire[i:i + BATCH]), time.time())
        server.exchange.flush()
        conn.drain(time.time())
    total = time.process_time() - started
    result = {"order": total / orders * 1e6}
    result.update({name: ns / orders / 1e3 for name, ns in spent.items()})
    result.update(_children_cost(server, snapshotter, trail, orders))
    server.close()
    return result


def _children(server, tmp: Path):  # noqa: ANN001, ANN202
    """The work of the server's two children, done here after the run: a snapshotter
    as ``venue.snapshotter`` runs it (loaded now, following the journal later) and the
    audit trail to files, as ``server.consumer_process`` runs it."""
    from consumers.audit import AuditTrail
    from server.compose import audit_parties
    from venue.config import AuditConfig
    from venue.snapshotter import Setup, Snapshotter

    ex = server.exchange
    snapshotter = Snapshotter(Setup(ex.config, str(ex.data_dir), sorted(ex.comp_ids.items()),
                                    1.0, 2))
    snapshotter.load()
    trail = AuditTrail.configured(AuditConfig(), audit_parties(ex, server.sessions),
                                  tmp / "audit-child")
    return snapshotter, trail


def _children_cost(server, snapshotter, trail, orders: int) -> dict[str, float]:  # noqa: ANN001
    """CPU µs per order of following the run's journal (the snapshotter) and of
    writing its entries' audit records (the audit child)."""
    started = time.process_time()
    snapshotter.follow()
    snapshot = time.process_time() - started
    log = server.event_log
    started = time.process_time()
    seq = trail.checkpoint()
    while entries := log.read_after(seq, 1000):
        trail.on_batch(entries)
        seq = entries[-1].seq
    audit = time.process_time() - started
    trail.close()
    return {"child: snapshotter": snapshot / orders * 1e6,
            "child: audit trail": audit / orders * 1e6}


def _timed(on_batch, name: str, spent: dict[str, int]):   # noqa: ANN001, ANN202
    def timed(entries) -> None:  # noqa: ANN001
        started = time.perf_counter_ns()
        on_batch(entries)
        spent[name] = spent.get(name, 0) + time.perf_counter_ns() - started
    return timed


def _child(tree: Path, orders: int, trade: bool, cpu: int | None) -> dict[str, float]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(tree),
           "--orders", str(orders)] + (["--trade"] if trade else [])
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(tree)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--orders", type=int, default=int(os.environ.get("BENCH_ORDERS", 10_000)))
    p.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", 5)))
    p.add_argument("--against", default=os.environ.get("BENCH_AGAINST"),
                   help="a git revision to alternate with (a worktree of it is made)")
    p.add_argument("--trade", action="store_true", help="every second order trades")
    p.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child is not None:
        sys.path.insert(0, str(args.child))
        print(json.dumps(run_once(args.orders, args.trade)))
        return 0
    cpus = sorted(os.sched_getaffinity(0))
    cpu = cpus[-1] if len(cpus) > 1 else None
    trees = {"this tree": REPO}
    worktree = None
    if args.against:
        worktree = Path(tempfile.mkdtemp(prefix="bench-against-"))
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "-q", "--detach",
                        str(worktree), args.against], check=True)
        rev = subprocess.run(["git", "-C", str(worktree), "log", "-1", "--format=%h %s"],
                             capture_output=True, text=True).stdout.strip()
        trees[f"{args.against} ({rev[:60]})"] = worktree
    kind = "trading (every second order sells into the last)" if args.trade else "resting"
    print(f"in-process CPU per order: {args.orders:,} {kind} orders in batches of {BATCH}, "
          f"{args.runs} runs per tree, alternating, each a fresh process"
          f"{f' on CPU {cpu}' if cpu is not None else ''}; load average "
          f"{os.getloadavg()[0]:.2f}")
    results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    try:
        for run in range(args.runs):
            for name, tree in trees.items():
                r = _child(tree, args.orders, args.trade, cpu)
                results[name].append(r)
                children = ", ".join(f"{k[len('child: '):]} {v:.2f}" for k, v in r.items()
                                     if k.startswith("child: "))
                print(f"  run {run + 1} {name}: {r['order']:.2f} µs/order (children: "
                      f"{children})")
    finally:
        if worktree is not None:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force",
                            str(worktree)], check=False)
    names = sorted({k for rs in results.values() for r in rs for k in r} - {"order"})
    print(f"\n{'':34}" + "".join(f"{n[:26]:>28}" for n in trees))
    for key in ["order", *names]:
        cells = []
        for name in trees:
            values = [r.get(key, 0.0) for r in results[name]]
            cells.append(f"{min(values):9.2f} min {statistics.median(values):7.2f} med")
        label = ("CPU per order (µs)" if key == "order" else
                 f"+ {key[len('child: '):]} child" if key.startswith("child: ") else
                 f"  of which {key}")
        print(f"{label:34}" + "".join(f"{c:>28}" for c in cells))
    if len(trees) == 2:
        a, b = (results[n] for n in trees)
        da = min(r["order"] for r in a) - min(r["order"] for r in b)
        dm = (statistics.median(r["order"] for r in a)
              - statistics.median(r["order"] for r in b))
        base = min(r["order"] for r in b)
        print(f"\nthis tree against {args.against}: {da:+.2f} µs/order by the minimum "
              f"({da / base:+.1%}), {dm:+.2f} µs by the median")
        for key in (k for k in names if k.startswith("child: ")):
            ca = min(r.get(key, 0.0) for r in a)
            cb = min(r.get(key, 0.0) for r in b)
            if cb:
                print(f"  {key[len('child: '):]} child: {ca - cb:+.2f} µs/order by the "
                      f"minimum ({(ca - cb) / cb:+.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
