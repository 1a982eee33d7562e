"""The event log: every entry of the event stream, on disk beside the journal.

Durable consumers (the audit trail, PostgreSQL, later a standby) read their entries
here, each at its own pace and from its own checkpoint, in their own threads: the
log is their queue, bounded by the disk rather than by memory, and a consumer that
was down for an hour finds the hour here. The writer is the event stream, which
appends each published batch once, on the order path (one encode and one
``pwrite`` per batch, no fsync).

No fsync, because nothing here is the source of truth: the command journal is, and
the core is deterministic, so every entry can be made again by replaying the
journal. At start-up the exchange replays its journal anyway; the entries past the
log's last one (a tail lost in a crash) are appended then (:meth:`EventLog.fill`).
A log that cannot be read (corrupt, or written by another version) is moved aside
and rebuilt the same way.

Format: a journal file (``persistence.journal``: the file header with kind
``"events"`` and the caller's schema version, then CRC-framed records). Each record
is one batch: ``<u64 first seq><u64 last seq>`` and the batch's entries as one
msgpack array; the two sequence numbers let the log index itself without decoding.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from array import array
from bisect import bisect_right
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from .journal import (
    RECORD_HEADER_SIZE,
    Journal,
    JournalCorrupt,
    JournalFormatError,
    read_records_at,
)

log = logging.getLogger("persistence.eventlog")

KIND = "events"
_SEQS = struct.Struct("<QQ")


class EventLog:
    """Appends batches of entries and reads them back by sequence number.

    ``entry_type`` is the msgspec type of one entry (it must have ``seq``); appends
    come from one thread, reads (:meth:`read_after`) from any number of others.
    ``readonly`` opens a log another process is writing (a tool, a test, a durable
    consumer in a process of its own): nothing is repaired or moved; the records
    complete at opening are read, and ``refresh`` adds those completed since.
    """

    def __init__(self, path: str | Path, entry_type: Any, schema_version: int, *,
                 readonly: bool = False) -> None:
        self.path = Path(path)
        self.schema_version = schema_version
        # Per record: the first and last seq it holds, and where it starts and ends.
        self._firsts = array("q")
        self._lasts = array("q")
        self._starts = array("q")
        self._ends = array("q")
        self._journal: Journal | None = None
        self._tail: Any = None    # a read-only log's JournalTail
        if readonly:
            # Through the tail, which takes a record the writer is in the middle of (or
            # the preallocated zeros) for the end, not for damage as a scan would.
            self.refresh()
        else:
            end = self._index()
            self._journal = Journal(self.path, kind=KIND, schema_version=schema_version,
                                    fsync=False, end=end)
        self._reader = os.open(self.path, os.O_RDONLY)
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(list[entry_type])

    def _index(self) -> int | None:
        """Index the records on disk (after repairing a torn tail); a log that cannot
        be read is moved aside. Returns the offset after the last record."""
        try:
            return self._index_records(repair=True)
        except (JournalCorrupt, JournalFormatError) as e:
            aside = _free_name(self.path.with_name(self.path.name + ".unreadable"))
            log.warning("%s cannot be read (%s): moved to %s; it is rebuilt from the journal",
                        self.path, e, aside.name)
            self.path.rename(aside)
            for a in (self._firsts, self._lasts, self._starts, self._ends):
                del a[:]
            return None

    def _index_records(self, repair: bool) -> int | None:
        end = None
        for offset, payload in read_records_at(self.path, kind=KIND,
                                               schema_version=self.schema_version,
                                               repair=repair):
            first, last = _SEQS.unpack_from(payload)
            end = offset + RECORD_HEADER_SIZE + len(payload)
            self._add(first, last, offset, end)
        return end

    def refresh(self) -> int:
        """Index the records another process completed since (read-only logs): how
        many there were."""
        if self._journal is not None:
            return 0
        if self._tail is None:
            from .tail import JournalTail
            self._tail = JournalTail(self.path, kind=KIND, schema_version=self.schema_version)
        start = self._tail.offset
        records = self._tail.read()
        for payload, (_, end) in records:
            first, last = _SEQS.unpack_from(payload)
            self._add(first, last, start, end)
            start = end
        return len(records)

    def _add(self, first: int, last: int, start: int, end: int) -> None:
        # The end offset goes last: readers take len(self._ends) as the record count.
        self._firsts.append(first)
        self._lasts.append(last)
        self._starts.append(start)
        self._ends.append(end)

    @property
    def last_seq(self) -> int:
        """The sequence number of the last entry in the log (0: empty)."""
        return self._lasts[-1] if self._lasts else 0

    @property
    def first_seq(self) -> int:
        """The sequence number of the first entry in the log (0: empty)."""
        return self._firsts[0] if self._firsts else 0

    def append(self, entries: Sequence[Any]) -> None:
        """One batch of entries, in sequence order, after the last one."""
        if not entries:
            return
        if self._journal is None:
            raise ValueError(f"{self.path} is open read-only")
        first, last = entries[0].seq, entries[-1].seq
        if first <= self.last_seq:
            raise ValueError(f"{self.path}: entry {first} is not after the last one "
                             f"({self.last_seq})")
        payload = _SEQS.pack(first, last) + self._encoder.encode(entries)
        start = self._journal.end
        self._journal.append(payload)
        self._journal.commit()
        self._add(first, last, start, self._journal.end)

    def fill(self, entries: Sequence[Any]) -> None:
        """Append those of ``entries`` (replayed, in order) that the log lacks."""
        last = self.last_seq
        if entries and entries[-1].seq > last:
            self.append([e for e in entries if e.seq > last] if entries[0].seq <= last
                        else entries)

    def read_after(self, seq: int, max_entries: int = 1000) -> list[Any]:
        """The entries after ``seq``, in order: whole batches, until at least
        ``max_entries`` (or the end of the log) is reached."""
        out: list[Any] = []
        count = len(self._ends)
        i = bisect_right(self._lasts, seq, 0, count)
        while i < count and len(out) < max_entries:
            entries = self._read(i)
            if self._firsts[i] <= seq:
                entries = [e for e in entries if e.seq > seq]
            out.extend(entries)
            i += 1
        return out

    def _read(self, i: int) -> list[Any]:
        start, end = self._starts[i], self._ends[i]
        data = os.pread(self._reader, end - start, start)
        length, crc, _ = struct.unpack_from("<III", data)
        payload = data[RECORD_HEADER_SIZE:]
        if len(payload) != length or zlib.crc32(payload) != crc:
            raise JournalCorrupt(f"{self.path}: record at offset {start} changed on disk")
        return self._decoder.decode(memoryview(payload)[_SEQS.size:])

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
        if self._tail is not None:
            self._tail.close()
        os.close(self._reader)


def _free_name(path: Path) -> Path:
    """``path``, or ``path.1``, ``path.2``, ... whichever does not exist yet."""
    candidate, n = path, 0
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.{n}")
    return candidate
