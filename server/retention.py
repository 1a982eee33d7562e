"""Journal retention in the running server: segments nothing needs, deleted when old.

:class:`JournalRetention` asks everything that may still read the journal how far
it has got (``needs``: the report stores' ``delivered.seq``, the event log's end,
each durable consumer's checkpoint) and adds recovery's need, the oldest snapshot
it could load; the lowest is the floor of ``persistence.retention``. The server runs
:func:`keep_journal` as a task: after each snapshot the snapshotter reports (when
the floor moves) and once a minute (when segments age past ``retention_hours``).

Snapshots are not aged: the snapshotter keeps the newest ``snapshots_kept``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence

import trio

from persistence import retention
from persistence.snapshots import SnapshotFile, snapshots
from venue.exchange import Exchange

log = logging.getLogger("server.retention")

CHECK_SECONDS = 60.0


class JournalRetention:
    """Deletes the journal segments of ``exchange`` that recovery and every reader in
    ``needs`` (name -> the last seq it has made durable) are done with, once they
    are ``config.retention_hours`` old."""

    def __init__(self, exchange: Exchange, needs: Mapping[str, Callable[[], int]]) -> None:
        self.exchange = exchange
        self.needs = dict(needs)
        self.deleted = 0      # segments deleted by this process

    def floor(self, snaps: list[SnapshotFile] | None = None) -> tuple[int, str]:
        """The highest seq every reader is past, and the reader that holds it there
        (``snaps``: the snapshot files, when already listed)."""
        ex = self.exchange
        if snaps is None:
            snaps = list(snapshots(ex.snapshot_dir))
        usable = [s for s in snaps if ex.unusable(s) is None]
        # No snapshot to load: a restart replays the journal from its first record.
        held = [(min(s.seq for s in usable) if usable else 0, "the oldest snapshot")]
        held += [(need(), name) for name, need in self.needs.items()]
        return min(held)

    def enforce(self, now_ns: int | None = None) -> list[retention.Span]:
        """Delete what may go now; the segments deleted."""
        ex = self.exchange
        snaps = list(snapshots(ex.snapshot_dir))    # each header read once
        floor, holder = self.floor(snaps)
        # The segments a snapshot points into (it may sit at a segment's very end).
        keep = {s.header.journal_file for s in snaps}
        spans = retention.spans(ex.journal_path)
        gone = retention.expired(spans, floor=floor, keep=keep,
                                 now_ns=time.time_ns() if now_ns is None else now_ns,
                                 retention_ns=int(ex.config.retention_hours * 3600e9))
        if gone:
            retention.remove(gone)
            self.deleted += len(gone)
            log.info("journal retention: deleted %d segment(s), %s to %s (seq %d to %d); "
                     "the journal now begins at seq %d, and %s needs seq %d on", len(gone),
                     gone[0].path.name, gone[-1].path.name, gone[0].first_seq,
                     gone[-1].last_seq, (gone[-1].last_seq or 0) + 1, holder, floor + 1)
        return gone


async def keep_journal(policy: JournalRetention,
                       wakes: Callable[[], Sequence[trio.Event]],
                       interval: float = CHECK_SECONDS) -> None:
    """Enforce ``policy`` now, whenever one of the events ``wakes()`` returns is set
    (a snapshot written, a consumer's checkpoint moved), and every ``interval``
    seconds; a failure is logged and tried again at the next turn."""
    while True:
        try:
            await trio.to_thread.run_sync(policy.enforce)
        except OSError as e:
            log.error("journal retention: %s", e)
        with trio.move_on_after(interval if interval > 0 else math.inf):
            await _any(wakes())


async def _any(events: Sequence[trio.Event]) -> None:
    """Until one of ``events`` is set."""
    async with trio.open_nursery() as nursery:
        for event in events:
            async def wait(event: trio.Event = event) -> None:
                await event.wait()
                nursery.cancel_scope.cancel()
            nursery.start_soon(wait)
