"""The binary market-data feed: the core's book changes, trades and phase changes as
sequenced ticks (``marketdata.feed``) in MoldUDP64 packets, sent to a UDP address
(a multicast group), served again on request, and the whole book on a TCP port.

:class:`MulticastFeed` is a consumer of the event stream. Every batch becomes the
ticks of its events, numbered from 1 for the feed's session, cut into packets of at
most ``max_ticks`` (a packet stays under a 1,500-byte MTU); the last ``retain``
ticks are kept for :meth:`MulticastFeed.retransmit`, which answers a MoldUDP64
request (session, first sequence number, count) with at most ``max_ticks`` of them,
and the levels and phases the ticks have built are what :meth:`MulticastFeed.snapshot`
encodes (``marketdata.feed_snapshot``) at the sequence number of the last tick.
:class:`RetransmissionServer` serves requests on a UDP port, unicast to the
requester; :class:`SnapshotServer` writes a snapshot to each receiver that connects
to its TCP port. Both are threads: a batch holds the feed's lock while it changes
the books and numbers its ticks, so that what they read is always one sequence
number's state. A send that fails (no route to the group, say) is counted and
logged once, never raised into the order path.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence

from marketdata import feed, feed_snapshot
from marketdata.book import Level, LevelBook, Print
from marketdata.feed_snapshot import SnapshotLevel, SymbolState
from matching.constants import BUY, CONTINUOUS, SELL
from matching.events import BookChanged, PhaseChanged, Trade
from venue.stream import Entry

log = logging.getLogger("consumers.feed")

MAX_TICKS = 48          # 20 + 48 x 28 = 1,364 bytes a packet


class MulticastFeed:
    """Ticks of the event stream, numbered and sent; the recent ones kept."""

    def __init__(self, symbol_ids: Mapping[str, int], send: Callable[[bytes], None],
                 session: bytes, *, retain: int = 100_000, max_ticks: int = MAX_TICKS) -> None:
        self.ids = dict(symbol_ids)
        self.books = {symbol: LevelBook(symbol) for symbol in symbol_ids}
        self.send = send
        self.session = session
        self.max_ticks = max_ticks
        self.next_seq = 1
        self.phases = dict.fromkeys(symbol_ids, CONTINUOUS)
        self.kept: deque[bytes] = deque(maxlen=retain)  # the blocks before next_seq
        # Books, phases, kept and next_seq change together under the lock; the
        # retransmission and snapshot threads read them under it.
        self._lock = threading.Lock()
        self.send_failures = 0

    def load(self, levels: Iterable[tuple[str, int, Level]],
             phases: Mapping[str, int] | None = None) -> None:
        """Start from the core's book as recovered (its levels are not sent)."""
        with self._lock:
            for symbol, side, level in levels:
                if symbol in self.books:
                    self.books[symbol].set_level(side, level)
            for symbol, phase in (phases or {}).items():
                if symbol in self.phases:
                    self.phases[symbol] = phase

    def on_batch(self, entries: Sequence[Entry]) -> None:
        """Send the ticks of ``entries``, a packet as soon as it is full: the first
        packet of a batch of 64 orders (96 ticks) leaves once its own 48 ticks are
        encoded, not the whole batch's (bench_feed: p50 58 us, against 94 us for all
        of a batch's packets)."""
        with self._lock:
            self._publish(entries)

    def _publish(self, entries: Sequence[Entry]) -> None:
        blocks: list[bytes] = []
        limit = self.max_ticks
        ids, books = self.ids, self.books
        pack = feed.TICK_BLOCK.pack
        size = feed.TICK.size
        try:
            for entry in entries:
                ts = entry.ts
                for event in entry.events:
                    kind = type(event)
                    if kind is BookChanged:
                        book = books.get(event.symbol)
                        if book is None:
                            continue
                        existed = event.price in book.side(event.side)
                        book.apply_level(event)
                        code = (feed.LEVEL_DELETED if not event.qty else
                                feed.LEVEL_MODIFIED if existed else feed.LEVEL_ADDED)
                        blocks.append(pack(size, ts, ids[event.symbol], event.price, event.qty,
                                           event.order_count, event.side, code))
                    elif kind is Trade and event.symbol in ids:
                        trade_id = event.trade_id & feed.U32
                        books[event.symbol].last = Print(trade_id, event.last_px,
                                                         event.last_qty, ts)
                        blocks.append(pack(size, ts, ids[event.symbol], event.last_px,
                                           event.last_qty, trade_id,
                                           0 if event.auction else event.aggressor_side,
                                           feed.TRADE))
                    elif kind is PhaseChanged and event.symbol in ids:
                        self.phases[event.symbol] = event.new_phase
                        blocks.append(pack(size, ts, ids[event.symbol], 0, 0, 0,
                                           event.new_phase, feed.PHASE))
                    else:
                        continue
                    if len(blocks) == limit:
                        self._send_blocks(blocks)
                        blocks = []
        except struct.error as e:
            raise feed.FeedError(f"a tick of seq {entry.seq} does not fit the feed: {e}"
                                 ) from None
        finally:
            if blocks:
                self._send_blocks(blocks)

    def _send_blocks(self, blocks: list[bytes]) -> None:
        """Number ``blocks``, keep them, and send them as one packet."""
        packet = feed.packet_of_blocks(self.session, self.next_seq, blocks)
        self.kept.extend(blocks)
        self.next_seq += len(blocks)
        self._send(packet)

    def snapshot(self) -> bytes:
        """Every instrument's phase and levels at the last tick sent, encoded."""
        with self._lock:
            symbols = [SymbolState(n, symbol, self.phases[symbol], self.books[symbol].last)
                       for symbol, n in self.ids.items()]
            levels = [SnapshotLevel(self.ids[symbol], side, level)
                      for symbol, book in self.books.items()
                      for side in (BUY, SELL) for level in book.top(side)]
            sequence = self.next_seq - 1
        return feed_snapshot.encode(self.session, sequence, symbols, levels)

    def heartbeat(self) -> None:
        self._send(feed.heartbeat(self.session, self.next_seq))

    def end_of_session(self) -> None:
        self._send(feed.end_of_session(self.session, self.next_seq))

    def retransmit(self, request: bytes) -> bytes | None:
        """The answer to a MoldUDP64 request: a packet of the ticks asked for that are
        still kept (at most ``max_ticks``), a heartbeat when none is; None for a
        request that is not one, or of another session."""
        if len(request) != feed.HEADER.size:
            return None
        session, first, count = feed.HEADER.unpack(request)
        if session != self.session or count in (feed.HEARTBEAT_COUNT, feed.END_OF_SESSION):
            return None
        with self._lock:
            next_seq = self.next_seq
            oldest = next_seq - len(self.kept)
            start = max(first, oldest)
            stop = min(first + count, next_seq, start + self.max_ticks)
            blocks = [self.kept[s - oldest] for s in range(start, stop)]
        if not blocks:
            return feed.heartbeat(self.session, next_seq)
        return feed.packet_of_blocks(self.session, start, blocks)

    def _send(self, packet: bytes) -> None:
        try:
            self.send(packet)
        except OSError as e:
            self.send_failures += 1
            if self.send_failures == 1:
                log.error("market-data feed: cannot send (%s); the feed goes on, "
                          "receivers recover by retransmission", e)


def multicast_sender(group: str, port: int, interface: str = "127.0.0.1", ttl: int = 0
                     ) -> Callable[[bytes], None]:
    """A function that sends a datagram to ``group``:``port`` out of ``interface``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    sock.setblocking(False)        # a full send buffer drops a packet, never waits
    address = (group, port)

    def send(packet: bytes) -> None:
        sock.sendto(packet, address)
    return send


def multicast_receiver(group: str, port: int, interface: str = "127.0.0.1") -> socket.socket:
    """A UDP socket joined to ``group`` on ``interface``, bound to ``port``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("", port))
    membership = struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton(interface))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
    return sock


class RetransmissionServer:
    """Answers MoldUDP64 requests for ``feed``'s ticks on a UDP port (a thread)."""

    def __init__(self, feed_: MulticastFeed, host: str = "127.0.0.1", port: int = 0) -> None:
        self.feed = feed_
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.address = self.sock.getsockname()
        self.served = 0
        self._thread = threading.Thread(target=self._serve, name="feed-retransmission",
                                        daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                request, peer = self.sock.recvfrom(64)
            except OSError:
                return            # closed
            answer = self.feed.retransmit(request)
            if answer is not None:
                self.served += 1
                try:
                    self.sock.sendto(answer, peer)
                except OSError as e:
                    log.warning("retransmission to %s failed: %s", peer, e)

    def close(self) -> None:
        self.sock.close()


class SnapshotServer:
    """Writes ``feed``'s snapshot to every receiver that connects to a TCP port, then
    closes the connection (a thread that accepts, one short thread per receiver so
    that a slow one delays no other; at most ``max_clients`` at a time)."""

    def __init__(self, feed_: MulticastFeed, host: str = "127.0.0.1", port: int = 0, *,
                 max_clients: int = 16, timeout: float = 10.0) -> None:
        self.feed = feed_
        self.sock = socket.create_server((host, port))
        self.address = self.sock.getsockname()
        self.timeout = timeout
        self.served = 0
        self._slots = threading.BoundedSemaphore(max_clients)
        self._thread = threading.Thread(target=self._accept, name="feed-snapshots",
                                        daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return            # closed
            if not self._slots.acquire(blocking=False):
                log.warning("feed snapshot for %s refused: too many receivers at once", peer)
                conn.close()
                continue
            threading.Thread(target=self._serve, args=(conn, peer), daemon=True,
                             name="feed-snapshot").start()

    def _serve(self, conn: socket.socket, peer: object) -> None:
        try:
            with conn:
                conn.settimeout(self.timeout)
                conn.sendall(self.feed.snapshot())
                self.served += 1
        except OSError as e:
            log.warning("feed snapshot to %s failed: %s", peer, e)
        finally:
            self._slots.release()

    def close(self) -> None:
        self.sock.close()
