"""``fixserver feed``: a subscriber of the exchange's binary feed.

It joins the multicast group, loads the book of every instrument from the snapshot
service (TCP), applies the ticks after it in sequence, asks the retransmission
service for what the network lost, takes a new snapshot when retransmission no
longer holds it or the exchange restarted, and prints the ticks or a table of the
top of each book (``--json``: one JSON object a line, for scripts). What it is
doing (the snapshot, gaps and their recovery, the end of the session) goes to
stderr. The sans-IO part is ``marketdata.receiver``; this module owns the sockets
and the clock.

``fixserver feed --group 239.255.0.1 --port 31001 [--top] [--json] [--count N]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import selectors
import socket
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from consumers.feed import multicast_receiver
from marketdata import feed, feed_snapshot
from marketdata.book import Level
from marketdata.feed import FeedError
from marketdata.receiver import Applied, FeedReceiver, Gap
from matching.constants import BUY, PHASE_NAMES, SELL, SIDE_NAMES
from venue.fixedpoint import format_price

EVENTS = {feed.LEVEL_ADDED: "ADD", feed.LEVEL_MODIFIED: "MODIFY", feed.LEVEL_DELETED: "DELETE",
          feed.TRADE: "TRADE", feed.PHASE: "PHASE"}
ASK_AGAIN_AFTER = 0.2          # s: a gap still open is asked for again
RECEIVE_BUFFER = 4 << 20       # bytes: room for a burst while the snapshot loads


class FeedClientError(Exception):
    """A problem the subscriber cannot go on from (the message names it)."""


def _address(text: str, what: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{what} {text!r} is not HOST:PORT")
    return host or "127.0.0.1", int(port)


def _price(value: int) -> str:
    return format_price(value).decode()


def _time(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts // 1_000_000_000, dt.UTC).strftime("%H:%M:%S") + \
        f".{ts % 1_000_000_000 // 1000:06d}"


def fetch_snapshot(address: tuple[str, int], timeout: float = 5.0) -> feed_snapshot.Snapshot:
    """The snapshot service's answer, read to its end."""
    chunks = []
    with socket.create_connection(address, timeout=timeout) as conn:
        while chunk := conn.recv(1 << 16):
            chunks.append(chunk)
    return feed_snapshot.decode(b"".join(chunks))


class Printer:
    """Ticks or top-of-book tables, as text or JSON lines."""

    def __init__(self, rx: FeedReceiver, out: TextIO, *, as_json: bool) -> None:
        self.rx, self.out, self.as_json = rx, out, as_json
        self.header_printed = False

    def name(self, symbol: int) -> str:
        inst = self.rx.instruments.get(symbol)
        return inst.name if inst is not None else f"#{symbol}"

    def ticks(self, applied: Sequence[Applied]) -> None:
        for seq, t in applied:
            event = EVENTS[t.kind]
            if self.as_json:
                row: dict[str, Any] = {"seq": seq, "ts": t.ts, "symbol": self.name(t.symbol),
                                       "event": event}
                if t.kind == feed.PHASE:
                    row["phase"] = PHASE_NAMES.get(t.side, str(t.side))
                else:
                    row |= {"side": SIDE_NAMES.get(t.side), "price": _price(t.price),
                            "qty": t.qty}
                    row["trade_id" if t.kind == feed.TRADE else "orders"] = t.orders
                print(json.dumps(row), file=self.out)
                continue
            if not self.header_printed:
                print(f"{'SEQ':>8}  {'TIME (UTC)':<15}  {'SYMBOL':<8} {'EVENT':<7} {'SIDE':<4} "
                      f"{'PRICE':>12} {'QTY':>10} {'ORDERS/ID':>10}", file=self.out)
                self.header_printed = True
            if t.kind == feed.PHASE:
                what = f"{'':<4} {PHASE_NAMES.get(t.side, str(t.side)):>12}"
                print(f"{seq:>8}  {_time(t.ts)}  {self.name(t.symbol):<8} {event:<7} {what}",
                      file=self.out)
            else:
                print(f"{seq:>8}  {_time(t.ts)}  {self.name(t.symbol):<8} {event:<7} "
                      f"{SIDE_NAMES.get(t.side, '-'):<4} {_price(t.price):>12} {t.qty:>10} "
                      f"{t.orders:>10}", file=self.out)
        self.out.flush()

    def top(self, depth: int = 1) -> None:
        """Each instrument's best ``depth`` levels a side, phase and last trade."""
        rx = self.rx
        seq = (rx.next_seq or 1) - 1
        session = (rx.session or b"").decode(errors="replace").strip()
        books = [(inst.name, PHASE_NAMES.get(inst.phase, str(inst.phase)),
                  inst.book.top(BUY, depth), inst.book.top(SELL, depth), inst.book.last)
                 for _, inst in sorted(rx.instruments.items())]
        if self.as_json:
            def levels(side: list[Level]) -> list[dict[str, Any]]:
                return [{"price": _price(lv.price), "qty": lv.qty, "orders": lv.orders}
                        for lv in side]
            print(json.dumps({"session": session, "seq": seq, "books": [
                {"symbol": name, "phase": phase, "bids": levels(bids), "asks": levels(asks),
                 "last": None if last is None else {"price": _price(last.price),
                                                    "qty": last.qty}}
                for name, phase, bids, asks, last in books]}), file=self.out)
            self.out.flush()
            return
        print(f"{'SYMBOL':<8} {'PHASE':<15} {'BID QTY':>9} {'BID':>10} {'ASK':>10} "
              f"{'ASK QTY':>9} {'LAST':>10} {'LAST QTY':>9}", file=self.out)
        for name, phase, bids, asks, last in books:
            for row in range(max(1, len(bids), len(asks))):
                bid = bids[row] if row < len(bids) else None
                ask = asks[row] if row < len(asks) else None
                first = row == 0
                line = (f"{name if first else '':<8} {phase if first else '':<15} "
                        f"{bid.qty if bid else '':>9} {_price(bid.price) if bid else '':>10} "
                        f"{_price(ask.price) if ask else '':>10} {ask.qty if ask else '':>9} "
                        f"{_price(last.price) if first and last else '':>10} "
                        f"{last.qty if first and last else '':>9}")
                print(line.rstrip(), file=self.out)
        print(f"(feed session {session}, sequence {seq})\n", file=self.out)
        self.out.flush()


def _note(text: str) -> None:
    print(f"fixserver feed: {text}", file=sys.stderr, flush=True)


class Subscriber:
    """The receiver with its sockets: the multicast group, a socket that asks for
    retransmissions and hears their answers, and the snapshot service."""

    def __init__(self, args: argparse.Namespace, out: TextIO) -> None:
        self.args = args
        self.rx = FeedReceiver()
        self.printer = Printer(self.rx, out, as_json=args.json)
        self.group = multicast_receiver(args.group, args.port, args.interface)
        self.group.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, args.receive_buffer)
        self.group.setblocking(False)
        self.asker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.asker.setblocking(False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.group, selectors.EVENT_READ)
        self.selector.register(self.asker, selectors.EVENT_READ)
        self.asked: Gap | None = None
        self.asked_at = 0.0
        self.printed = 0
        self.bad_packets = 0
        self.changed = True
        _note(f"joined {args.group}:{args.port} on {args.interface}")

    def close(self) -> None:
        self.selector.close()
        self.group.close()
        self.asker.close()

    def load_snapshot(self) -> None:
        deadline = time.monotonic() + self.args.timeout
        while True:
            try:
                snapshot = fetch_snapshot(self.args.snapshot)
                break
            except (OSError, FeedError) as e:
                if time.monotonic() >= deadline:
                    raise FeedClientError(
                        f"no snapshot from {self.args.snapshot[0]}:{self.args.snapshot[1]}: "
                        f"{e}") from None
                time.sleep(0.2)
        _note(f"snapshot of session {snapshot.session.decode().strip()} at sequence "
              f"{snapshot.sequence}: {len(snapshot.symbols)} instruments, "
              f"{len(snapshot.levels)} levels")
        self.show(self.rx.on_snapshot(snapshot))
        self.changed = True

    def show(self, applied: Sequence[Applied]) -> None:
        if not applied:
            return
        self.changed = True
        if not self.args.top:
            limit = self.args.count
            if limit:
                applied = applied[:max(0, limit - self.printed)]
            self.printer.ticks(applied)
        self.printed += len(applied)

    def ask(self, now: float) -> None:
        gap = self.rx.gap()
        if gap is None:
            if self.asked is not None:
                _note(f"gap at {self.asked.first} recovered")
                self.asked = None
            return
        if gap == self.asked and now - self.asked_at < ASK_AGAIN_AFTER:
            return
        if self.asked is None or gap.first != self.asked.first:
            _note(f"gap: ticks {gap.first} to {gap.first + gap.count - 1} missing; asking "
                  f"{self.args.retransmission[0]}:{self.args.retransmission[1]}")
        assert self.rx.session is not None
        try:
            self.asker.sendto(feed.HEADER.pack(self.rx.session, gap.first, gap.count),
                              self.args.retransmission)
        except OSError as e:
            _note(f"cannot ask for a retransmission: {e}")
        self.asked, self.asked_at = gap, now

    def receive(self, timeout: float) -> None:
        for key, _ in self.selector.select(timeout):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            while True:
                try:
                    data = sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as e:       # an ICMP port unreachable, say
                    _note(f"receive: {e}")
                    break
                try:
                    packet = feed.decode_packet(data)
                except FeedError as e:
                    self.bad_packets += 1
                    if self.bad_packets == 1:
                        _note(f"a packet that is not of this feed: {e}")
                    continue
                session = self.rx.session
                if sock is self.asker and self.asked is not None:
                    applied = self.rx.on_retransmission(self.asked, packet)
                    if self.rx.needs_snapshot:
                        _note(f"the retransmission service no longer holds {self.asked.first}:"
                              " a new snapshot")
                else:
                    applied = self.rx.on_packet(packet)
                    if session is not None and packet.session != session:
                        _note(f"new feed session {packet.session.decode().strip()} "
                              "(the exchange restarted): a new snapshot")
                self.show(applied)

    def done(self) -> bool:
        count = self.args.count
        return bool(count) and self.printed >= count

    def run(self) -> int:
        args = self.args
        stop_at = time.monotonic() + args.seconds if args.seconds else None
        next_table = 0.0
        while True:
            if self.rx.needs_snapshot:
                if self.rx.ended:
                    _note("the session ended before the book could be recovered")
                    return 1
                self.load_snapshot()
            now = time.monotonic()
            if args.top and self.changed and now >= next_table:
                self.printer.top(args.depth)
                self.changed, next_table = False, now + args.interval
            if self.done() or (stop_at is not None and now >= stop_at):
                break
            if self.rx.ended and self.rx.gap() is None and not self.rx.pending:
                _note(f"session {(self.rx.session or b'').decode().strip()} ended at sequence "
                      f"{(self.rx.next_seq or 1) - 1}")
                break
            self.ask(now)
            self.receive(0.05)
        if args.top and self.changed:
            self.printer.top(args.depth)
        return 0


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="fixserver feed", description="Subscribe to the exchange's binary market-data "
        "feed: the book from the snapshot service, then the ticks, gaps recovered.")
    parser.add_argument("--group", required=True, help="the multicast group (exchange.toml "
                        "[marketdata.multicast] group)")
    parser.add_argument("--port", required=True, type=int, help="the feed's UDP port")
    parser.add_argument("--interface", default="127.0.0.1",
                        help="the interface to join on (default 127.0.0.1)")
    parser.add_argument("--retransmission", type=lambda t: _address(t, "--retransmission"),
                        help="HOST:PORT of the retransmission service (default: the "
                        "interface, port + 1)")
    parser.add_argument("--snapshot", type=lambda t: _address(t, "--snapshot"),
                        help="HOST:PORT of the snapshot service (default: the interface, "
                        "port + 2)")
    parser.add_argument("--top", action="store_true",
                        help="print a table of the top of each book instead of the ticks")
    parser.add_argument("--depth", type=int, default=1,
                        help="price levels a side in the table (default 1; 0: all)")
    parser.add_argument("--once", action="store_true",
                        help="print the book from the snapshot and stop")
    parser.add_argument("--json", action="store_true", help="one JSON object a line")
    parser.add_argument("--count", type=int, default=0, help="stop after N ticks")
    parser.add_argument("--seconds", type=float, default=0, help="stop after S seconds")
    parser.add_argument("--interval", type=float, default=1.0,
                        help="seconds between tables with --top (default 1)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds to keep trying the snapshot service (default 10)")
    parser.add_argument("--receive-buffer", type=int, default=RECEIVE_BUFFER,
                        help=f"the group socket's receive buffer in bytes (default "
                        f"{RECEIVE_BUFFER}); what overflows it is lost and recovered")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65535:
        parser.error(f"--port {args.port} is not a UDP port")
    args.retransmission = args.retransmission or (args.interface, args.port + 1)
    args.snapshot = args.snapshot or (args.interface, min(args.port + 2, 65535))
    return args


def main(argv: Sequence[str], out: TextIO = sys.stdout) -> int:
    args = parse(argv)
    if args.once:
        rx = FeedReceiver()
        try:
            rx.on_snapshot(fetch_snapshot(args.snapshot, args.timeout))
        except (OSError, FeedError) as e:
            print(f"fixserver feed: no snapshot from {args.snapshot[0]}:{args.snapshot[1]}: "
                  f"{e}", file=sys.stderr)
            return 1
        Printer(rx, out, as_json=args.json).top(args.depth)
        return 0
    try:
        subscriber = Subscriber(args, out)
    except OSError as e:
        print(f"fixserver feed: cannot join {args.group}:{args.port} on {args.interface}: {e}",
              file=sys.stderr)
        return 1
    try:
        return subscriber.run()
    except FeedClientError as e:
        print(f"fixserver feed: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        subscriber.close()
