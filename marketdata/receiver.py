"""A subscriber's side of the binary feed, sans-IO: packets, retransmissions and
snapshots in; the ticks applied in sequence, the books they build, and what to ask
for next out.

:class:`FeedReceiver` applies ticks strictly in sequence. A tick that arrives
ahead of a missing one waits in ``pending``; :meth:`FeedReceiver.gap` names the
range to ask the retransmission service for. Until a snapshot is loaded every
tick waits, so that a late joiner starts from the book at the snapshot's
sequence number and applies only the ticks after it. A new snapshot is needed
(``needs_snapshot``) at the start, when the retransmission service no longer
holds a missing tick, when ``pending`` outgrows its limit, and when the feed's
session changes (the exchange restarted).

Pure and deterministic: the caller owns the sockets and the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from marketdata import feed
from marketdata.book import Level, LevelBook, Print
from marketdata.feed import Packet, Tick
from marketdata.feed_snapshot import Snapshot
from matching.constants import BUY, SELL


class Applied(NamedTuple):
    """A tick applied to the books, with its sequence number."""

    seq: int
    tick: Tick


class Gap(NamedTuple):
    """Ticks to ask the retransmission service for."""

    first: int
    count: int


@dataclass(slots=True)
class Instrument:
    """One instrument as the feed shows it."""

    name: str
    phase: int
    book: LevelBook


@dataclass(slots=True)
class FeedReceiver:
    """The books of one feed session, rebuilt from a snapshot and the ticks after it."""

    max_pending: int = 1_000_000
    max_request: int = feed.MAX_COUNT
    session: bytes | None = None
    next_seq: int | None = None        # the next tick to apply; None before a snapshot
    high: int = 1                      # the next sequence number any packet announced
    needs_snapshot: bool = True
    ended: bool = False
    instruments: dict[int, Instrument] = field(default_factory=dict)
    pending: dict[int, Tick] = field(default_factory=dict)

    def on_packet(self, packet: Packet) -> list[Applied]:
        """A packet from the group (or a retransmission): the ticks it lets apply."""
        if self.session is None:
            self.session = packet.session
        elif packet.session != self.session:
            self._new_session(packet.session)
        if packet.end_of_session:
            self.ended = True
        self.high = max(self.high, packet.sequence + len(packet.ticks))
        start = self.next_seq or 0
        for seq, tick in enumerate(packet.ticks, packet.sequence):
            if seq >= start:
                self.pending[seq] = tick
        if len(self.pending) > self.max_pending:
            self.pending.clear()
            self.needs_snapshot = True
        return self._drain()

    def on_retransmission(self, asked: Gap, packet: Packet) -> list[Applied]:
        """The service's answer to ``asked``: it starts later than asked (or holds
        nothing) when the missing ticks are no longer kept; a snapshot is then needed."""
        if packet.session == self.session and packet.sequence > asked.first:
            self.needs_snapshot = True
        return self.on_packet(packet)

    def on_snapshot(self, snapshot: Snapshot) -> list[Applied]:
        """Start again from ``snapshot``; the waiting ticks after it apply."""
        if snapshot.session != self.session:
            self.pending.clear()
            self.session = snapshot.session
            self.ended = False
        self.instruments = {s.symbol: Instrument(s.name, s.phase, LevelBook(s.name))
                            for s in snapshot.symbols}
        for s in snapshot.symbols:
            self.instruments[s.symbol].book.last = s.last
        for lv in snapshot.levels:
            inst = self.instruments.get(lv.symbol)
            if inst is not None:
                inst.book.set_level(lv.side, lv.level)
        self.next_seq = snapshot.sequence + 1
        self.high = max(self.high, self.next_seq)
        self.pending = {s: t for s, t in self.pending.items() if s >= self.next_seq}
        self.needs_snapshot = False
        return self._drain()

    def gap(self) -> Gap | None:
        """The missing ticks before the first waiting one (or before what a
        heartbeat announced), at most ``max_request`` of them; None: nothing missing."""
        nxt = self.next_seq
        if nxt is None or self.needs_snapshot or nxt >= self.high:
            return None
        end = min(self.pending) if self.pending else self.high
        return Gap(nxt, min(end - nxt, self.max_request))

    def top(self, symbol: int) -> tuple[Level | None, Level | None]:
        """The best bid and offer of an instrument (None: that side is empty)."""
        book = self.instruments[symbol].book
        bid, ask = book.top(BUY, 1), book.top(SELL, 1)
        return (bid[0] if bid else None, ask[0] if ask else None)

    def _new_session(self, session: bytes) -> None:
        self.session = session
        self.next_seq = None
        self.high = 1
        self.pending.clear()
        self.needs_snapshot = True
        self.ended = False

    def _drain(self) -> list[Applied]:
        applied: list[Applied] = []
        nxt = self.next_seq
        if nxt is None:
            return applied
        pending = self.pending
        while nxt in pending:
            tick = pending.pop(nxt)
            self._apply(tick)
            applied.append(Applied(nxt, tick))
            nxt += 1
        self.next_seq = nxt
        return applied

    def _apply(self, tick: Tick) -> None:
        inst = self.instruments.get(tick.symbol)
        if inst is None:
            return
        kind = tick.kind
        if kind == feed.LEVEL_DELETED:
            inst.book.remove_level(tick.side, tick.price)
        elif kind in (feed.LEVEL_ADDED, feed.LEVEL_MODIFIED):
            inst.book.set_level(tick.side, Level(tick.price, tick.qty, tick.orders))
        elif kind == feed.TRADE:
            inst.book.last = Print(tick.orders, tick.price, tick.qty, tick.ts)
        elif kind == feed.PHASE:
            inst.phase = tick.side
