"""Following a journal that another process is writing.

:class:`JournalTail` reads the records appended to a segmented journal
(``persistence.segments``) as they arrive, from a position on: each :meth:`read`
returns the complete records written since the last one, and moves to the next
segment once the writer has started it (a segment is closed before the next one
exists, so by then nothing more will be appended to it). It only reads: a record
that is not complete yet (the writer is in the middle of its ``pwrite``, or it is
the preallocated zero tail) is simply not there yet, and the tail never repairs
anything; the writer owns the files.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

from .journal import (
    FILE_HEADER_SIZE,
    RECORD_HEADER_SIZE,
    check_file_header,
    parse_file_header,
)
from .segments import segment_files

_RECORD_HEADER = struct.Struct("<III")
# Bytes read at a time: from MIN_CHUNK while it keeps up, doubling up to CHUNK while it
# is behind. The writer preallocates zeros ahead, so a read at the live end returns
# a whole chunk, of zeros mostly: at a fixed 4 MB the snapshotter copied 8 MB a poll
# (17% of its CPU under load).
CHUNK = 4 << 20
MIN_CHUNK = 64 << 10


class JournalTail:
    """The records of the journal configured at ``path`` from ``position`` (a
    segment's file name and the offset of the next record; None: the beginning)."""

    def __init__(self, path: Path, *, kind: str, schema_version: int,
                 position: tuple[str, int] | None = None) -> None:
        self.base = path
        self.kind = kind
        self.schema_version = schema_version
        if position is None:
            files = segment_files(path)
            position = ((files[0] if files else path).name, FILE_HEADER_SIZE)
        self.segment = path.with_name(position[0])
        self.offset = position[1]
        self._fd: int | None = None
        self._checked = False      # the current segment's header
        self._chunk = MIN_CHUNK

    @property
    def position(self) -> tuple[str, int]:
        """Where the next record will be: (segment file name, offset)."""
        return self.segment.name, self.offset

    def read(self, max_records: int = 10_000) -> list[tuple[bytes, tuple[str, int]]]:
        """The complete records after the position, up to ``max_records``, each with the
        position after it; the position moves past them."""
        out: list[tuple[bytes, tuple[str, int]]] = []
        while len(out) < max_records:
            got = self._read_segment(max_records - len(out))
            if got:
                out.extend(got)
                continue
            following = self._following()
            if following is None:
                break
            # The writer started the next segment, so it closed this one: anything
            # still to read here was written before that.
            got = self._read_segment(max_records - len(out))
            if got:
                out.extend(got)
                continue
            self.close()
            self.segment, self.offset = following, FILE_HEADER_SIZE
        return out

    def _read_segment(self, limit: int) -> list[tuple[bytes, tuple[str, int]]]:
        if not self._open():
            return []
        assert self._fd is not None
        chunk = self._chunk
        data = os.pread(self._fd, chunk, self.offset)
        out = []
        pos = 0
        name = self.segment.name
        while len(out) < limit and len(data) - pos >= RECORD_HEADER_SIZE:
            length, crc, head_crc = _RECORD_HEADER.unpack_from(data, pos)
            if zlib.crc32(data[pos:pos + 8]) != head_crc:
                break                      # not written yet (zeros), or half written
            end = pos + RECORD_HEADER_SIZE + length
            if end > len(data):
                if pos == 0 and end > chunk:   # a record bigger than a read: read it whole
                    data = os.pread(self._fd, end, self.offset)
                    if len(data) < end:
                        break
                else:
                    break
            payload = data[pos + RECORD_HEADER_SIZE:end]
            if zlib.crc32(payload) != crc:
                break
            pos = end
            out.append((payload, (name, self.offset + pos)))
        self.offset += pos
        self._chunk = (min(chunk * 2, CHUNK) if pos > chunk // 2
                       else max(chunk // 2, MIN_CHUNK))
        return out

    def _open(self) -> bool:
        """Open the current segment and check its header; False if it is not there or
        its header is not written yet."""
        if self._fd is None:
            try:
                self._fd = os.open(self.segment, os.O_RDONLY)
            except FileNotFoundError:
                return False
        if not self._checked:
            header = parse_file_header(self.segment, os.pread(self._fd, FILE_HEADER_SIZE, 0))
            if header is None:
                return False
            check_file_header(self.segment, header, kind=self.kind,
                              schema_version=self.schema_version,
                              min_schema_version=self.schema_version)
            self._checked = True
        return True

    def _following(self) -> Path | None:
        """The segment after the current one, if the writer has started it."""
        files = segment_files(self.base)
        for i, path in enumerate(files[:-1]):
            if path.name == self.segment.name:
                return files[i + 1]
        return None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._checked = False
