"""The journal: an append-only write-ahead log of sequenced commands.

Each record is ``<u32 length><u32 crc32><payload>`` (little endian). Records are
buffered by :meth:`Journal.append` and made durable together by
:meth:`Journal.commit` — one ``write`` and one ``fdatasync`` per batch (group
commit). Nothing that depends on a command may leave the process before the
commit that holds it has returned.

At start-up :func:`read_records` replays the file. A torn last record (a crash in
the middle of a write) is detected by its length or checksum and cut off; a bad
record *followed by more data* is corruption, and replay refuses to guess.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("persistence.journal")

_HEADER = struct.Struct("<II")


class JournalCorrupt(Exception):
    """A record in the middle of the journal fails its checksum."""


class Journal:
    """Appends records to the journal file with group commit."""

    def __init__(self, path: str | Path, *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._pending: list[bytes] = []
        self.commits = 0
        self.records = 0

    def append(self, payload: bytes) -> None:
        """Buffer one record; it is durable only after the next commit()."""
        self._pending.append(_HEADER.pack(len(payload), zlib.crc32(payload)))
        self._pending.append(payload)

    @property
    def pending(self) -> int:
        return len(self._pending) // 2

    def commit(self) -> None:
        """Write every buffered record with one write and make it durable."""
        if not self._pending:
            return
        data = b"".join(self._pending)
        n = len(self._pending) // 2
        self._pending.clear()
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        if self.fsync:
            os.fdatasync(self._fd)
        self.commits += 1
        self.records += n

    def close(self) -> None:
        self.commit()
        os.close(self._fd)


def read_records(path: str | Path, *, repair: bool = True) -> Iterator[bytes]:
    """Yield every intact record's payload in order.

    A torn tail is truncated away (when ``repair``) so new records append after
    the last good one.
    """
    path = Path(path)
    if not path.exists():
        return
    with open(path, "rb") as f:
        data = f.read()
    size = len(data)
    pos = 0
    while pos < size:
        if size - pos < _HEADER.size:
            break
        length, crc = _HEADER.unpack_from(data, pos)
        end = pos + _HEADER.size + length
        if end > size:
            break
        payload = data[pos + _HEADER.size:end]
        if zlib.crc32(payload) != crc:
            if end == size:
                break
            raise JournalCorrupt(f"{path}: record at offset {pos} fails its checksum "
                                 f"and {size - end} bytes follow it")
        yield payload
        pos = end
    if pos < size:
        log.warning("%s: dropping a torn last record (%d bytes at offset %d)", path,
                    size - pos, pos)
        if repair:
            os.truncate(path, pos)
