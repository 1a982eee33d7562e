"""No report lost in a crash: what the report consumers share.

The journal is fsynced before a batch runs, and the batch's reports are written to
the sessions' stores right after it runs. A kill -9 in between leaves commands in
the journal whose reports no store holds: the order is in the book and the broker
never heard of it. Three pieces close that gap:

* every report message is stored with the journal sequence number of its command
  (``Session.send(..., source=seq)``, kept in the store's records), and the report
  consumers write their sessions' stores at the end of each batch;
* :class:`DeliveryMark`, the last in-process consumer of the stream, then records the
  batch's last sequence number in ``delivered.seq``: every report up to it is stored;
* at start-up the core replays the journal anyway; the entries after the mark go to
  the report consumers' ``redeliver``, which uses :class:`StoredReports` to skip what
  a store already holds (its last source and how many messages carry it) and stores
  the rest, before any session accepts a Logon. The core is deterministic, so these
  are the very reports that were lost; the broker gets them by resend, or as new
  messages.
"""

from __future__ import annotations

from collections.abc import Sequence

from fixserver.session import Session
from persistence.marks import SeqMark
from venue.stream import Entry


class StoredReports:
    """Which of the replayed entries' messages for a session its store already holds.

    A store's ``last_source`` is (seq, n): the last entry it holds messages of, and
    how many. Entries before seq are all stored, the first n messages of seq are, and
    nothing after it. It is read once per session, before anything is redelivered to
    it (what is redelivered moves it on). Ask :meth:`missing` for each message in the
    order they are made, entry by entry.
    """

    def __init__(self) -> None:
        self._stored: dict[str, tuple[int, int]] = {}  # session -> its last_source at first
        self._seen: dict[str, tuple[int, int]] = {}    # session -> (entry seq, messages so far)

    def missing(self, session: Session, seq: int) -> bool:
        key = session.session_id
        stored = self._stored.get(key)
        if stored is None:
            stored = self._stored[key] = session.store.last_source
        stored_seq, count = stored
        if seq != stored_seq:
            return seq > stored_seq
        entry, seen = self._seen.get(key, (0, 0))
        seen = seen + 1 if entry == seq else 1
        self._seen[key] = (seq, seen)
        return seen > count


def sync_stores(sessions: set[Session]) -> None:
    """Write what the sessions' stores hold in memory (before the mark moves on)."""
    for session in sessions:
        session.store.sync()


class DeliveryMark:
    """Records that every report up to a batch's last entry is in the stores; it must
    be the last in-process consumer (after every consumer that stores reports)."""

    def __init__(self, mark: SeqMark) -> None:
        self.mark = mark

    def on_batch(self, entries: Sequence[Entry]) -> None:
        self.mark.set(entries[-1].seq)
