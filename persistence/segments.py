"""A journal in segments: numbered files, so that old ones can be deleted.

The configured journal path (``journal/commands.wal``) names the first segment; each
later one is named after the sequence number of its first record, beside it::

    journal/commands.wal                  seq 1 ...
    journal/commands.000000412903.wal     seq 412903 ...
    journal/commands.000000825118.wal     seq 825118 ... (the active segment)

Every segment is a journal file of its own (``persistence.journal``: header, CRC-framed
records). :class:`SegmentedJournal` appends to the last one and starts a new one when
it has grown past its size at a commit, so a segment ends on a batch boundary and
never changes once the next exists. :func:`read_segments` reads them in order, from a
position a snapshot gave or from the first; only the last may end in a torn record.
Retention (``persistence.retention``) removes whole segments from the front.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

from .journal import (
    FILE_HEADER_SIZE,
    RECORD_HEADER_SIZE,
    Journal,
    JournalCorrupt,
    read_records_at,
)

log = logging.getLogger("persistence.segments")

_DIGITS = 12


class JournalIncomplete(JournalCorrupt):
    """The journal does not begin where a replay must: its first segments are gone."""


def segment_files(path: Path) -> list[Path]:
    """The segments of the journal configured at ``path``, in order (the file at
    ``path`` itself first, when it exists)."""
    pattern = re.compile(re.escape(path.stem) + rf"\.(\d{{{_DIGITS}}})"
                         + re.escape(path.suffix) + "$")
    numbered = sorted(p for p in path.parent.glob(f"{path.stem}.*{path.suffix}")
                      if pattern.match(p.name)) if path.parent.is_dir() else []
    return ([path] if path.exists() else []) + numbered


def segment_path(path: Path, first_seq: int) -> Path:
    """The name of the segment that starts with ``first_seq``."""
    return path.with_name(f"{path.stem}.{first_seq:0{_DIGITS}d}{path.suffix}")


def first_seq_of(segment: Path, path: Path) -> int:
    """The seq the segment ``segment`` of the journal configured at ``path`` begins
    with, from its name (the configured file itself: 1)."""
    if segment == path:
        return 1
    m = re.fullmatch(re.escape(path.stem) + rf"\.(\d{{{_DIGITS}}})" + re.escape(path.suffix),
                     segment.name)
    if m is None:
        raise ValueError(f"{segment}: not a segment of the journal {path}")
    return int(m[1])


def read_segments(path: Path, *, kind: str, schema_version: int,
                  min_schema_version: int | None = None,
                  start: tuple[str, int] | None = None, repair: bool = True
                  ) -> Iterator[tuple[Path, int, bytes]]:
    """(segment, offset, payload) of every record from ``start`` (a segment's file
    name and the offset of a record in it; None: the first record of the first
    segment) to the end. FileNotFoundError when ``start`` names no segment. Only the
    last segment's torn tail is repaired (cut off, unless not ``repair``: a reader
    beside the writer); one elsewhere is corruption."""
    files = segment_files(path)
    first = 0
    if start is not None:
        names = [p.name for p in files]
        if start[0] not in names:
            raise FileNotFoundError(f"{path.parent / start[0]}: no such journal segment "
                                    "(deleted?)")
        first = names.index(start[0])
    for i in range(first, len(files)):
        last = i == len(files) - 1
        offset = start[1] if start is not None and i == first else None
        end = offset if offset is not None else FILE_HEADER_SIZE
        for pos, payload in read_records_at(files[i], kind=kind, schema_version=schema_version,
                                            min_schema_version=min_schema_version,
                                            repair=repair and last, start=offset):
            end = pos + RECORD_HEADER_SIZE + len(payload)
            yield files[i], pos, payload
        # A segment is closed (its preallocated tail cut off) before the next begins.
        if not last and end != files[i].stat().st_size:
            raise JournalCorrupt(f"{files[i]}: the segment does not end with its last "
                                 f"whole record (at offset {end}), but a later segment "
                                 f"({files[i + 1].name}) follows it")


class SegmentedJournal:
    """Appends records to the last segment with group commit, and rolls over to a new
    segment at a commit after which the active one holds ``segment_bytes`` or more.

    ``end``: the offset after the last record of the last segment (after recovery
    repaired it), or None to have it read. The interface is the Journal's."""

    def __init__(self, path: Path, *, kind: str, schema_version: int, fsync: bool = True,
                 segment_bytes: int = 64 << 20, end: int | None = None) -> None:
        self.base = path
        self.kind = kind
        self.schema_version = schema_version
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        files = segment_files(path)
        self.path = files[-1] if files else path
        self._journal = self._open(self.path, end)
        self.rolled = 0     # segments started by this writer
        self.commits = 0
        self.records = 0

    def _open(self, path: Path, end: int | None) -> Journal:
        return Journal(path, kind=self.kind, schema_version=self.schema_version,
                       fsync=self.fsync, end=end)

    def append(self, payload: bytes) -> None:
        self._journal.append(payload)

    @property
    def pending(self) -> int:
        return self._journal.pending

    @property
    def end(self) -> int:
        """The offset after the last committed record in the active segment."""
        return self._journal.end

    def commit(self) -> None:
        pending = self._journal.pending
        self._journal.commit()
        if pending:
            self.commits += 1
            self.records += pending

    def roll_if_full(self, next_seq: int) -> bool:
        """After a commit: start the segment of ``next_seq`` if the active one is full."""
        if self._journal.end < self.segment_bytes or self._journal.pending:
            return False
        self._journal.close()
        self.path = segment_path(self.base, next_seq)
        self._journal = self._open(self.path, None)
        self.rolled += 1
        log.info("journal: segment %s started", self.path.name)
        return True

    def close(self) -> None:
        self._journal.close()
