"""The snapshotter: a process of its own that follows the journal with a core of its
own and writes the snapshots, so that the exchange never stalls for one.

Capturing a million resting orders takes seconds of CPU, and the core is one
thread: taken in the exchange's process it would stop trading for that long (a
``fork`` would copy-on-write instead, but the fork itself copies the page tables,
~10 ms at a gigabyte, measured on this machine). Since the core is deterministic, a
second process that reads the journal as it is written and runs every command
through the same code holds the same state, a few milliseconds behind, and can take
all the time it needs. The exchange's order path does not notice it.

The exchange starts it (``server/snapshots.py``) once it is serving, as
``python -m venue.snapshotter``, and talks to it over its stdin and stdout:

* in: one JSON line :class:`Setup` (the configuration, the data directory, the
  sessions and their CompIDs, the interval and how many snapshots to keep), then
  command lines: ``snapshot`` (one now, after catching up with the journal) and
  ``stop``; the end of stdin (the exchange is gone) stops it too;
* out: one JSON line per event: ``{"event": "ready", "seq": ..., "seconds": ...}``
  once its core is loaded, ``{"event": "snapshot", "seq": ..., "file": ...,
  "seconds": ..., "orders": ..., "bytes": ...}`` for each snapshot written (and
  ``"new": false`` when an asked-for one had nothing new to capture).

It loads its core the way the exchange recovers (the newest usable snapshot, then
the journal after it), then follows the journal (``persistence.tail``) and writes a
snapshot every ``interval`` seconds when there is something new, deleting all but the
newest ``keep``. It runs at a lower priority, on any CPU.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import select
import signal
import sys
import time
from pathlib import Path

import msgspec

from persistence.journal import JournalCorrupt
from persistence.sequencer import Sequenced
from persistence.snapshots import remove_stale_temporaries, snapshots
from persistence.tail import JournalTail

from .commands import SCHEMA_VERSION, Command
from .config import ExchangeConfig
from .exchange import JOURNAL_KIND, Exchange

log = logging.getLogger("venue.snapshotter")

# How often the journal is read when the snapshotter has caught up: each read wakes
# an idle CPU (cold: at 0.02 s it spent 27-33 us a command under load, at 0.1-0.2 s
# 20), and a snapshot is taken once a second at most.
POLL_SECONDS = 0.1
NICE = 10
LOAD_ATTEMPTS = 5       # loads of a journal caught mid-write before it is taken for corrupt


class Setup(msgspec.Struct):
    """What the exchange tells its snapshotter on start."""

    config: ExchangeConfig
    data_dir: str
    sessions: list[tuple[str, str]]     # (session id, counterparty CompID)
    interval: float
    keep: int


class Snapshotter:
    """A core that follows the journal, and writes snapshots of itself."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.exchange = self._new_exchange()
        self.interval = setup.interval
        self.keep = setup.keep
        self._decode = msgspec.msgpack.Decoder(Sequenced[Command]).decode
        self.tail: JournalTail | None = None

    def _new_exchange(self) -> Exchange:
        exchange = Exchange(self.setup.config, Path(self.setup.data_dir))
        for session_id, comp_id in self.setup.sessions:
            exchange.add_session(session_id, comp_id)
        return exchange

    def load(self, attempts: int = LOAD_ATTEMPTS) -> None:
        """The newest usable snapshot and the journal after it. The journal is live: a
        read can catch the exchange in the middle of a write, whose half-written record
        followed by the rest reads as corruption; the load then starts again from
        scratch, a few times, before the journal is taken for corrupt."""
        for attempt in range(1, attempts + 1):
            try:
                # The exchange owns the journal: never cut it here.
                self.exchange.load(repair=False)
                break
            except JournalCorrupt as e:
                if attempt == attempts:
                    raise
                log.info("journal read during a write (%s): loading again", e)
                time.sleep(0.05 * attempt)
                self.exchange = self._new_exchange()
        ex = self.exchange
        self.tail = JournalTail(ex.journal_path, kind=JOURNAL_KIND,
                                schema_version=SCHEMA_VERSION, position=ex.journal_position)
        gc.freeze()

    def follow(self) -> int:
        """Apply what the journal has gained; how many commands."""
        assert self.tail is not None
        n = 0
        while records := self.tail.read():
            for payload, _ in records:
                self.exchange.apply(self._decode(payload))
            n += len(records)
        if n:
            # The replayed state is long-lived and acyclic: out of the collector's view
            # (an O(1) move), else collections walk every order applied since start-up.
            gc.freeze()
        return n

    def snapshot(self) -> dict[str, object]:
        """Catch up with the journal and write a snapshot (if there is anything new)."""
        assert self.tail is not None
        self.follow()
        ex = self.exchange
        t0 = time.perf_counter()
        path = ex.write_snapshot(self.tail.position)
        if path is None:
            newest = next(iter(snapshots(ex.snapshot_dir)), None)
            return {"event": "snapshot", "new": False, "seq": ex.snapshot_seq,
                    "file": newest.path.name if newest is not None else None}
        self.prune()
        return {"event": "snapshot", "new": True, "seq": ex.snapshot_seq, "file": path.name,
                "seconds": round(time.perf_counter() - t0, 3),
                "orders": len(ex.engine.orders), "bytes": path.stat().st_size}

    def prune(self) -> None:
        """Delete all but the newest ``keep`` snapshots."""
        for old in list(snapshots(self.exchange.snapshot_dir))[self.keep:]:
            old.path.unlink(missing_ok=True)

    def due(self, last: float) -> bool:
        ex = self.exchange
        return (self.interval > 0 and time.monotonic() - last >= self.interval
                and ex.applied_seq > ex.snapshot_seq)


class ExchangeGone(Exception):
    """The exchange closed its end of our stdout (it died, or is stopping)."""


def _emit(event: dict[str, object]) -> None:
    try:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # Nothing may write to the closed pipe again, not even the flush at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise ExchangeGone from None


def _lower_priority() -> None:
    """Yield the CPU to the exchange, and run on any CPU (not pinned to its one); a
    Ctrl-C in the terminal, or a SIGTERM to the whole process group (``timeout``, a
    service manager), is for the exchange, which stops this process itself (and an
    exchange that is gone closes its pipe, which stops it too)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        os.nice(NICE)
        os.sched_setaffinity(0, range(os.cpu_count() or 1))
    except OSError as e:
        log.info("snapshotter: priority unchanged: %s", e)


def main() -> int:
    try:
        return _serve()
    except ExchangeGone:
        log.info("the exchange is gone: stopping")
        return 0


def _serve() -> int:
    # A process of the server's (server/snapshots.py): it logs as the server does.
    from server import logs
    logs.configure("INFO", logs.inherited_format(),
                   "%(asctime)s %(levelname)s snapshotter: %(message)s")
    stdin = sys.stdin.buffer
    first = stdin.readline()
    if not first:
        return 0
    setup = msgspec.json.decode(first, type=Setup)
    _lower_priority()
    snapshotter = Snapshotter(setup)
    remove_stale_temporaries(snapshotter.exchange.snapshot_dir)
    t0 = time.perf_counter()
    snapshotter.load()
    _emit({"event": "ready", "seq": snapshotter.exchange.applied_seq,
           "seconds": round(time.perf_counter() - t0, 3)})
    fd = stdin.fileno()
    pending = b""
    last = time.monotonic()
    while True:
        readable, _, _ = select.select([fd], [], [], POLL_SECONDS)
        if readable:
            data = os.read(fd, 4096)
            if not data:
                return 0          # the exchange is gone
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                command = line.strip().decode("ascii", "replace")
                if command == "stop":
                    return 0
                if command == "snapshot":
                    _emit(snapshotter.snapshot())
                    last = time.monotonic()
                elif command:
                    _emit({"event": "error", "text": f"unknown command {command!r}"})
        snapshotter.follow()
        if snapshotter.due(last):
            _emit(snapshotter.snapshot())
            last = time.monotonic()


if __name__ == "__main__":
    sys.exit(main())
