"""The event stream: what the exchange hands every consumer after each durable batch.

After a batch of commands is in the journal (fsynced) and has run through the
core, the exchange publishes one list of :class:`Entry` records: per command, its
sequence number and timestamp, the command itself, the core's events (book
changes, trades each followed by its settlement, phase changes, ...) and the
reports order entry made of them. Every consumer sees the same entries, in
sequence order, through one of two small interfaces:

* :class:`Consumer` — in process, on the order path, called synchronously with
  each batch: it must be cheap and never block (ExecutionReports to the owner
  session, drop copy, later FIX market data, the multicast feed, metrics).
* :class:`DurableConsumer` — a consumer with a store of its own (the audit trail,
  PostgreSQL, later a standby). It never runs on the order path: its feed (a
  thread) reads the entries from the event log on disk (``persistence.eventlog``)
  from the consumer's own checkpoint, so it receives every later entry exactly
  once and in order across its own outages and the server's restarts. The event
  log is its queue: bounded by the disk, not by memory (a feed holds at most one
  read of ``max_batch`` entries); nothing is ever dropped, and a consumer that
  falls behind shows as lag (``EventStream.status``) and in the log.

Consumers are registered in one place, the composition module
(``server/compose.py``). Nothing downstream calls back into the exchange.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

import msgspec

from matching.events import Event

from .commands import Command
from .reports import Report

log = logging.getLogger("venue.stream")

# Version of the Entry encoding in the event log (the commands, events and reports it
# holds). The log is derived data: one of another version is moved aside and rebuilt
# from the journal, so a change here needs no converter, only a new number.
EVENT_LOG_VERSION = 1


class Entry(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """One sequenced command and everything it caused, in order."""

    seq: int
    ts: int
    command: Command
    events: list[Event]
    reports: list[Report]


class Consumer(Protocol):
    """An in-process consumer on the order path: cheap, never blocking."""

    def on_batch(self, entries: Sequence[Entry]) -> None:
        """The entries of one durable batch, in sequence order."""


class DurableConsumer(Protocol):
    """A consumer that keeps its own store and resumes from its own checkpoint."""

    name: str

    def checkpoint(self) -> int:
        """The sequence number of the last entry made durable in the store (0: none).
        Read when the feed starts and after a failed ``on_batch``."""

    def on_batch(self, entries: Sequence[Entry]) -> None:
        """Make these entries durable together with the checkpoint of the last one
        (atomically: after a crash the checkpoint says exactly what is stored).
        Raising makes the feed retry from ``checkpoint()`` after a pause."""


class EntrySource(Protocol):
    """Where a durable feed reads entries (the event log)."""

    @property
    def last_seq(self) -> int:
        """The sequence number of the last entry there is."""

    def read_after(self, seq: int, max_entries: int) -> list[Entry]:
        """Up to ``max_entries`` entries with a sequence number above ``seq``."""


class Lag(NamedTuple):
    """How far a durable consumer is behind the stream (``EventStream.lag``)."""

    entries: int
    seconds: float
    failures: int      # failed batches in a row


class Feed(Protocol):
    """What the stream knows of a durable consumer's feed: a ``DurableFeed`` thread
    here, or one that runs in another process (``server/consumer_process.py``)."""

    name: str
    position: int   # the last seq the consumer has made durable
    failures: int   # consecutive failures
    last_ts: int    # the timestamp of the last entry it stored (ns; 0: none yet)

    def wake(self) -> None: ...

    def stop(self, timeout: float = 5.0) -> None: ...


class DurableFeed:
    """Feeds one durable consumer from the event log, in its own thread."""

    RETRY_SECONDS = 1.0

    def __init__(self, consumer: DurableConsumer, source: EntrySource,
                 max_batch: int = 1000, poll_seconds: float = 0.5) -> None:
        self.consumer = consumer
        self.name = consumer.name
        self.source = source
        self.max_batch = max_batch
        self.poll_seconds = poll_seconds
        self.position = 0             # the last seq the consumer has made durable
        self.failures = 0             # consecutive failed on_batch calls
        self.last_ts = 0              # the timestamp of the last entry stored (ns)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"feed-{consumer.name}",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the batch in hand; the consumer resumes from its checkpoint."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        name = self.consumer.name
        position = self._checkpoint()
        if position is None:
            return
        self.position = position
        log.info("consumer %s: resuming after seq %d", name, position)
        if position > self.source.last_seq:
            log.warning("consumer %s holds entries up to seq %d, beyond the event log's last "
                        "(%d): its store has entries the journal does not (a journal that lost "
                        "its tail with fsync off?); it resumes after %d", name, position,
                        self.source.last_seq, position)
        while not self._stop.is_set():
            self._wake.clear()     # before reading: a publish from now on wakes the wait
            entries = self.source.read_after(self.position, self.max_batch)
            if not entries:
                self._wake.wait(self.poll_seconds)
                continue
            try:
                self.consumer.on_batch(entries)
            except Exception:
                self.failures += 1
                log.exception("consumer %s: failed at seq %d..%d (failure %d); retrying "
                              "from its checkpoint in %.1f s", name, entries[0].seq,
                              entries[-1].seq, self.failures, self.RETRY_SECONDS)
                self._stop.wait(self.RETRY_SECONDS)
                # What the store holds now decides where to go on (a batch may have
                # been stored in part, or in full with only the answer lost).
                position = self._checkpoint()
                if position is None:
                    return
                self.position = position
                continue
            if self.failures:
                log.info("consumer %s: recovered after %d failures", name, self.failures)
                self.failures = 0
            self.last_ts = entries[-1].ts
            self.position = entries[-1].seq

    def _checkpoint(self) -> int | None:
        """The consumer's checkpoint, retried until its store answers; None if the
        feed is stopped meanwhile."""
        while not self._stop.is_set():
            try:
                return self.consumer.checkpoint()
            except Exception:
                self.failures += 1
                log.exception("consumer %s: cannot read its checkpoint (failure %d); "
                              "retrying in %.1f s", self.consumer.name, self.failures,
                              self.RETRY_SECONDS)
                self._stop.wait(self.RETRY_SECONDS)
        return None


class EventLogWriter(Protocol):
    """What the stream needs of the event log: append a batch (no fsync)."""

    def append(self, entries: Sequence[Entry]) -> None: ...


class EventStream:
    """Hands every published batch to the in-process consumers and wakes the feeds
    of the durable ones. ``log_writer`` (the event log) gets each batch first."""

    def __init__(self, log_writer: EventLogWriter | None = None,
                 source: EntrySource | None = None, last_seq: int = 0) -> None:
        """``last_seq``: the last entry already in the event log (for the lag)."""
        self.log_writer = log_writer
        self.source = source
        self.consumers: list[Consumer] = []
        self.feeds: list[Feed] = []
        self.last_seq = last_seq
        self.consumer_errors = 0
        # Entries published but not yet in the event log. A driver that sets
        # ``on_unwritten`` (called after each publish) writes them later with
        # ``write_log``: the trio server does it once the batch's reports are on
        # their sockets, so the log's encode and write are not between an order and
        # its ExecutionReport. Without it they are written at once.
        self._unwritten: list[Entry] = []
        self.on_unwritten: Callable[[], None] | None = None

    def subscribe(self, consumer: Consumer) -> None:
        """An in-process consumer, called with every batch from now on."""
        self.consumers.append(consumer)

    def subscribe_durable(self, consumer: DurableConsumer, max_batch: int = 1000
                          ) -> DurableFeed:
        """A durable consumer, fed from the event log from its own checkpoint (its
        feed starts at once)."""
        if self.source is None:
            raise ValueError("a durable consumer needs the event log")
        feed = DurableFeed(consumer, self.source, max_batch)
        self.feeds.append(feed)
        feed.start()
        return feed

    def attach(self, feed: Feed) -> None:
        """A durable consumer fed elsewhere (in a process of its own, reading the
        event log itself): its lag shows in ``status`` and it is stopped at ``close``."""
        self.feeds.append(feed)

    def publish(self, entries: Sequence[Entry]) -> None:
        """One durable batch: to each in-process consumer, then into the event log
        (at once, or at the driver's next ``write_log`` when it defers them)."""
        if not entries:
            return
        self.last_seq = entries[-1].seq
        for consumer in self.consumers:
            try:
                consumer.on_batch(entries)
            except Exception:
                # A consumer's bug must not stop the order path or the other consumers.
                self.consumer_errors += 1
                log.exception("consumer %s failed on seq %d..%d", type(consumer).__name__,
                              entries[0].seq, entries[-1].seq)
        if self.log_writer is None:
            return
        self._unwritten.extend(entries)
        if self.on_unwritten is None:
            self.write_log()
        else:
            self.on_unwritten()

    def write_log(self) -> None:
        """Append the entries published since the last call to the event log (one
        write) and wake the durable feeds."""
        if not self._unwritten or self.log_writer is None:
            return
        entries, self._unwritten = self._unwritten, []
        self.log_writer.append(entries)
        for feed in self.feeds:
            feed.wake()

    def lag(self, feed: Feed, now_ns: int) -> Lag:
        """How far ``feed`` is behind the stream: entries, and the seconds since the
        last entry it stored while it is behind (0 when caught up or before its first)."""
        entries = max(0, self.last_seq - feed.position)
        seconds = (now_ns - feed.last_ts) / 1e9 if entries and feed.last_ts else 0.0
        return Lag(entries, max(0.0, seconds), feed.failures)

    def feed(self, name: str) -> Feed | None:
        """The feed of the durable consumer ``name`` (None: no such consumer)."""
        return next((feed for feed in self.feeds if feed.name == name), None)

    def status(self) -> dict[str, dict[str, int]]:
        """Per durable consumer: its position, its lag behind the stream, failures."""
        return {feed.name: {"position": feed.position,
                            "lag": max(0, self.last_seq - feed.position),
                            "failures": feed.failures}
                for feed in self.feeds}

    def close(self) -> None:
        """Write what is left into the event log; stop the feeds (each consumer
        resumes from its own checkpoint next time)."""
        self.write_log()
        for feed in self.feeds:
            feed.stop()
