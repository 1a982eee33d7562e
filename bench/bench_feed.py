"""How long the binary feed takes from the core's events to the packet on the wire.

The exchange is built as the server builds it (``server.compose.build_server``: the
journal, the core, the event stream with the ExecutionReport, market-data and feed
consumers) with bench_exchange.py's exchange.toml (fsync off) and
``[marketdata.multicast]`` on, inside a network namespace of its own with multicast
on its loopback (``unshare -n``, as the tests do), so that every packet really goes
to the group. The load is bench_exchange's trading flow without the FIX layer:
batches of 64 orders (64 in flight), a buy then a sell of 100 BTRD at 100.00 (every
sell trades), submitted to the exchange and flushed as the acceptor's hook does.

In-process timestamps (``time.perf_counter_ns``), per packet: from the moment the
batch's entries are published to the event stream (the core is done with them) to
the return of the packet's ``sendto``. That includes the consumers ahead of the feed
(ExecutionReports and FIX market data, as in the server); the feed's own part is
shown beside it, from its ``on_batch`` to each packet's send. The goal is the seed's:
p99 under 50 us from the core's event to the packet.

Run from the repository root: ``python bench/bench_feed.py [--seconds S]`` (as root,
for the namespace; elsewhere it says so and stops). Takes about 10 s.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_exchange import SESSIONS_CFG, exchange_toml, free_port, pct  # noqa: E402

from fixserver.settings import load_sessions  # noqa: E402
from matching.constants import BUY, DAY, LIMIT, SELL  # noqa: E402
from server.compose import build_server  # noqa: E402
from venue.commands import NewOrderSingle  # noqa: E402
from venue.config import load_exchange_config  # noqa: E402

GROUP, PORT = "239.255.0.9", 31091
IN_NAMESPACE = "BENCH_FEED_IN_NAMESPACE"
WINDOW = 64
GOAL_US = 50


def in_namespace(argv: list[str]) -> int:
    """Run this script again in a network namespace with multicast on loopback."""
    if not (shutil.which("unshare") and shutil.which("ip")):
        print("bench_feed: unshare and ip are needed for a network namespace; skipped")
        return 0
    setup = "ip link set lo up multicast on && ip route add 239.0.0.0/8 dev lo && "
    command = " ".join([sys.executable, str(Path(__file__).resolve()), *argv])
    env = dict(os.environ, **{IN_NAMESPACE: "1"})
    done = subprocess.run(["unshare", "-n", "sh", "-c", setup + "exec " + command], env=env)
    if done.returncode != 0:
        print(f"bench_feed: could not run in a network namespace (exit {done.returncode}; "
              "it needs root)")
    return done.returncode


def run(seconds: float) -> dict[str, list[int] | int]:
    with tempfile.TemporaryDirectory(prefix="bench-feed-") as tmp:
        directory = Path(tmp)
        (directory / "sessions.cfg").write_text(SESSIONS_CFG.format(port=free_port()))
        (directory / "exchange.toml").write_text(
            exchange_toml(fsync=False)
            + f'\n[marketdata.multicast]\ngroup = "{GROUP}"\nport = {PORT}\n')
        configs = load_sessions(directory / "sessions.cfg")
        server = build_server(configs, directory, directory / "data",
                              load_exchange_config(directory / "exchange.toml"))
        exchange, feed = server.exchange, server.feed
        assert exchange is not None and feed is not None
        session = server.sessions[0].session_id
        published = [0]
        event_to_packet: list[int] = []
        first_packet: list[int] = []       # the first packet of each batch
        feed_only: list[int] = []
        feed_started = [0]
        publish, on_batch, send = exchange.publish, feed.on_batch, feed.send

        def timed_publish(entries: list) -> None:
            published[0] = time.perf_counter_ns()
            count = len(event_to_packet)
            publish(entries)
            if len(event_to_packet) > count:
                first_packet.append(event_to_packet[count])

        def timed_on_batch(entries: list) -> None:
            feed_started[0] = time.perf_counter_ns()
            on_batch(entries)

        def timed_send(packet: bytes) -> None:
            send(packet)
            now = time.perf_counter_ns()
            event_to_packet.append(now - published[0])
            feed_only.append(now - feed_started[0])

        exchange.publish = timed_publish
        feed.on_batch = timed_on_batch      # type: ignore[method-assign]  # the stream looks it up per batch
        feed.send = timed_send
        n = orders = 0
        deadline = time.monotonic() + seconds
        frozen = time.monotonic()
        gc.freeze()
        while time.monotonic() < deadline:
            if time.monotonic() - frozen > 1:     # as the server's timer does
                gc.freeze()
                frozen = time.monotonic()
            for _ in range(WINDOW // 2):
                n += 1
                for side in (BUY, SELL):
                    exchange.submit(NewOrderSingle(session, f"{side}-{n}", "", "BTRD", side,
                                                   LIMIT, 1_000_000, 0, 100, DAY, 0, 0, 0,
                                                   "", ""))
            exchange.flush()
            orders += WINDOW
        packets = len(event_to_packet)
        server.close()
    return {"event_to_packet": sorted(event_to_packet), "feed_only": sorted(feed_only),
            "first_packet": sorted(first_packet),
            "orders": orders, "packets": packets, "ticks": feed.next_seq - 1}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float,
                        default=float(os.environ.get("BENCH_FEED_SECONDS", 8)))
    args = parser.parse_args()
    if not os.environ.get(IN_NAMESPACE):
        return in_namespace(sys.argv[1:])
    result = run(args.seconds)
    e2p, own = result["event_to_packet"], result["feed_only"]
    assert isinstance(e2p, list) and isinstance(own, list)
    if not e2p:
        print("bench_feed: no packet was sent")
        return 1
    print(f"binary feed, {result['orders']:,} orders in batches of {WINDOW}: "
          f"{result['ticks']:,} ticks in {result['packets']:,} packets")
    print(f"{'us':<32} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}")
    first = result["first_packet"]
    assert isinstance(first, list)
    for label, values in (("event -> packet sent", e2p), ("  the first packet of a batch", first),
                          ("the feed's own part", own)):
        print(f"{label:<32} " + " ".join(f"{pct(values, q):>8.1f}" for q in (0.5, 0.9, 0.99))
              + f" {values[-1] / 1000:>8.1f}")
    p99 = pct(e2p, 0.99)
    print(f"goal: p99 event -> packet under {GOAL_US} us: "
          f"{'met' if p99 < GOAL_US else 'not met'} ({p99:.1f} us)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
