"""The journal: an append-only write-ahead log of records, with a versioned file header.

A journal file starts with a 32-byte header (little endian, like everything here)::

    8s   magic b"FIXEXLOG"
    16s  kind, ASCII, NUL-padded ("commands"; "events" for the event log)
    u16  framing version (1: the record framing below)
    u16  schema version of the payloads (the caller's; this module never looks inside)
    u32  crc32 of the 28 bytes before it

Records follow it, each ``<u32 length><u32 payload crc32><u32 header crc32><payload>``
(the header crc covers the first eight bytes). Records are buffered by
:meth:`Journal.append` and made durable together by :meth:`Journal.commit` — one
``write`` and one ``fdatasync`` per batch (group commit). Nothing that depends on a
record may leave the process before the commit that holds it has returned.

At start-up :func:`read_records` checks the file header — a file that is not a
journal, one of another kind, or one written by a newer exchange is refused with a
:class:`JournalFormatError` that says what to do — and replays the records. A torn
last record (a crash in the middle of a write) or a zero-filled tail (a power cut
after the file grew but before its blocks were written) is detected and cut off; a bad
record *followed by more data* is corruption (:class:`JournalCorrupt`), and replay
refuses to guess. The record header has its own checksum so that a corrupt length is
never mistaken for a torn tail. A file that is empty or holds only zeros is a journal
whose header never reached the disk: it is treated as new.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("persistence.journal")

MAGIC = b"FIXEXLOG"
FRAMING_VERSION = 1  # the record framing this module reads and writes
KIND_SIZE = 16

_FILE_HEADER = struct.Struct(f"<{len(MAGIC)}s{KIND_SIZE}sHHI")
FILE_HEADER_SIZE = _FILE_HEADER.size  # 32
_RECORD_HEADER = struct.Struct("<III")
RECORD_HEADER_SIZE = _RECORD_HEADER.size  # 12

UPGRADE_COMMAND = "fixserver-journal upgrade"


class JournalCorrupt(Exception):
    """A record in the middle of the journal fails its checksum."""


class JournalFormatError(Exception):
    """The file is not a journal this code can read: not a journal, another kind, a
    corrupt or truncated file header, or a format version out of range. The message
    names the file and says what to do."""


class LegacyJournalError(JournalFormatError):
    """A journal written before journal files had a header (marshal records):
    ``fixserver-journal upgrade`` converts it."""


@dataclass(frozen=True, slots=True)
class FileHeader:
    """The decoded header of a journal file."""

    kind: str
    framing_version: int
    schema_version: int


def _encode_kind(kind: str) -> bytes:
    raw = kind.encode("ascii")
    if not raw or len(raw) > KIND_SIZE or b"\0" in raw:
        raise ValueError(f"journal kind {kind!r}: 1 to {KIND_SIZE} ASCII characters, no NUL")
    return raw


def encode_file_header(kind: str, schema_version: int,
                       framing_version: int = FRAMING_VERSION) -> bytes:
    """The 32-byte header a journal file of ``kind`` starts with."""
    head = _FILE_HEADER.pack(MAGIC, _encode_kind(kind), framing_version, schema_version, 0)
    body = head[:-4]
    return body + struct.pack("<I", zlib.crc32(body))


def encode_record(payload: bytes) -> bytes:
    """One journal record."""
    head = struct.pack("<II", len(payload), zlib.crc32(payload))
    return head + struct.pack("<I", zlib.crc32(head)) + payload


def _is_record_header(data: bytes) -> bool:
    """Whether ``data`` starts with a record header whose own checksum holds."""
    if len(data) < RECORD_HEADER_SIZE:
        return False
    _, _, head_crc = _RECORD_HEADER.unpack_from(data)
    return zlib.crc32(data[:8]) == head_crc


def parse_file_header(path: Path, head: bytes) -> FileHeader | None:
    """The header in ``head`` (the first bytes of the file ``path``, at least
    FILE_HEADER_SIZE of them when the file has that many).

    None when there is no header yet: ``head`` is empty or all zeros (the caller checks
    that the rest of the file is zeros too). Raises JournalFormatError when the bytes
    are anything but a sound header; kind and versions are checked by
    :func:`check_file_header`.
    """
    if head.count(0) == len(head):
        return None
    if not head.startswith(MAGIC[:len(head)]):
        if _is_record_header(head):
            raise LegacyJournalError(
                f"{path}: this journal was written before journal files had a format "
                f"header (marshal records); convert it with `{UPGRADE_COMMAND} {path}` "
                "(the old file is kept beside it as .v0), then start again")
        raise JournalFormatError(
            f"{path}: not a journal file (it starts with {head[:len(MAGIC)]!r}, not "
            f"{MAGIC!r}); check the journal path in the configuration")
    if len(head) < FILE_HEADER_SIZE:
        raise JournalFormatError(
            f"{path}: the journal's file header is truncated ({len(head)} of "
            f"{FILE_HEADER_SIZE} bytes) and no record follows; if nothing was ever "
            "journaled, move the file away and start again")
    _, raw_kind, framing, schema, crc = _FILE_HEADER.unpack_from(head)
    if zlib.crc32(head[:FILE_HEADER_SIZE - 4]) != crc:
        raise JournalFormatError(
            f"{path}: the journal's file header is corrupt (its checksum does not match); "
            "restore the file from a backup or a standby")
    return FileHeader(raw_kind.rstrip(b"\0").decode("ascii", "replace"), framing, schema)


def check_file_header(path: Path, header: FileHeader, *, kind: str, schema_version: int,
                      min_schema_version: int) -> None:
    """Raise JournalFormatError unless ``header`` is a ``kind`` journal in a framing and a
    schema version in [min_schema_version, schema_version] that this code reads."""
    if header.framing_version > FRAMING_VERSION:
        raise JournalFormatError(
            f"{path}: record framing version {header.framing_version} was written by a "
            f"newer version of the exchange (this one reads framing version "
            f"{FRAMING_VERSION}); run the version that wrote it")
    if header.framing_version < 1:
        raise JournalFormatError(
            f"{path}: record framing version {header.framing_version} is not one this "
            f"exchange knows (it reads framing version {FRAMING_VERSION}); the file "
            "header is damaged: restore the file from a backup")
    if header.kind != kind:
        raise JournalFormatError(
            f"{path}: this is a {header.kind!r} journal, not a {kind!r} journal; check "
            "the journal paths in the configuration")
    if header.schema_version > schema_version:
        raise JournalFormatError(
            f"{path}: {kind} schema version {header.schema_version} was written by a "
            f"newer version of the exchange (this one reads {kind} schema versions "
            f"{min_schema_version} to {schema_version}); run the version that wrote it")
    if header.schema_version < min_schema_version:
        raise JournalFormatError(
            f"{path}: {kind} schema version {header.schema_version} is older than this "
            f"exchange reads ({min_schema_version} to {schema_version}); convert it with "
            f"`{UPGRADE_COMMAND} {path}`")


def _min_version(schema_version: int, min_schema_version: int | None) -> int:
    if min_schema_version is None:
        return schema_version
    if not 0 <= min_schema_version <= schema_version:
        raise ValueError(f"min_schema_version {min_schema_version} is not in "
                         f"[0, schema_version {schema_version}]")
    return min_schema_version


def _zeros_from(fd: int, offset: int) -> bool:
    """Whether the file holds nothing but zeros from ``offset`` on."""
    while chunk := os.pread(fd, 1 << 20, offset):
        if chunk.count(0) != len(chunk):
            return False
        offset += len(chunk)
    return True


def _header_zeroed_but_data_follows(path: Path) -> JournalFormatError:
    return JournalFormatError(
        f"{path}: the journal's file header is all zeros but data follows it; restore "
        "the file from a backup or a standby")


def fsync_path(path: Path) -> None:
    """fsync a file or a directory by name (a directory: to make a new entry durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """Appends records to the journal file with group commit.

    A new (or empty, or zero-filled) file gets its header first, made durable with the
    file's directory entry when ``fsync``; an existing file's header is checked. Records
    are appended only to a file of exactly ``schema_version``: a header must never
    describe records it does not hold, so an older file is converted first.
    ``end`` is the file offset where the next record goes (the size of the file after
    :func:`read_records` repaired it); by default the file is read to find it.

    The file is extended ahead of the records in zero-filled chunks: an fdatasync
    that does not have to record a new file size is about a third faster on ext4.
    The zero tail is cut off at close, and read_records drops it after a crash.
    """

    CHUNK = 16 << 20

    def __init__(self, path: str | Path, *, kind: str, schema_version: int,
                 fsync: bool = True, end: int | None = None) -> None:
        self.path = Path(path)
        self.kind = kind
        self.schema_version = schema_version
        self.fsync = fsync
        _encode_kind(kind)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if end is None:
            # Checks the header, finds the last good record and cuts the tail after it.
            for _ in read_records(self.path, kind=kind, schema_version=schema_version):
                pass
        created = not self.path.exists()
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            header = parse_file_header(self.path, os.pread(self._fd, FILE_HEADER_SIZE, 0))
            if header is None:
                if not _zeros_from(self._fd, FILE_HEADER_SIZE):
                    raise _header_zeroed_but_data_follows(self.path)
                self._write_header(created)
                end = FILE_HEADER_SIZE
            else:
                check_file_header(self.path, header, kind=kind,
                                  schema_version=schema_version,
                                  min_schema_version=schema_version)
                if end is None:
                    end = os.fstat(self._fd).st_size
                end = max(end, FILE_HEADER_SIZE)
        except BaseException:
            os.close(self._fd)
            raise
        self._end = end  # where the next record goes
        self._allocated = os.fstat(self._fd).st_size
        self._pending: list[bytes] = []
        self.commits = 0
        self.records = 0

    def _write_header(self, created: bool) -> None:
        header = encode_file_header(self.kind, self.schema_version)
        if os.pwrite(self._fd, header, 0) != len(header):
            raise OSError(f"{self.path}: short write of the journal's file header")
        if self.fsync:
            os.fsync(self._fd)  # the header and the file's new size
            if created:
                fsync_path(self.path.parent)  # a journal nobody can find is lost

    def append(self, payload: bytes) -> None:
        """Buffer one record; it is durable only after the next commit()."""
        self._pending.append(encode_record(payload))

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def end(self) -> int:
        """The file offset after the last committed record."""
        return self._end

    def _extend(self, needed: int) -> None:
        size = self._allocated + max(self.CHUNK, needed)
        try:
            os.posix_fallocate(self._fd, self._allocated, size - self._allocated)
        except OSError:
            return  # no preallocation here: writes just extend the file
        if self.fsync:
            os.fsync(self._fd)  # the new size, once per chunk
        self._allocated = size

    def commit(self) -> None:
        """Write every buffered record with one write and make it durable."""
        if not self._pending:
            return
        data = b"".join(self._pending)
        n = len(self._pending)
        self._pending.clear()
        if self._end + len(data) > self._allocated:
            self._extend(len(data))
        view = memoryview(data)
        offset = self._end
        while view:
            written = os.pwrite(self._fd, view, offset)
            view = view[written:]
            offset += written
        self._end = offset
        if self.fsync:
            os.fdatasync(self._fd)
        self.commits += 1
        self.records += n

    def close(self) -> None:
        self.commit()
        os.ftruncate(self._fd, self._end)
        os.close(self._fd)


def read_records(path: str | Path, *, kind: str, schema_version: int,
                 min_schema_version: int | None = None, repair: bool = True
                 ) -> Iterator[bytes]:
    """Yield every intact record's payload in order, after checking the file header
    (see :func:`read_records_at`)."""
    for _, payload in read_records_at(path, kind=kind, schema_version=schema_version,
                                      min_schema_version=min_schema_version, repair=repair):
        yield payload


def read_records_at(path: str | Path, *, kind: str, schema_version: int,
                    min_schema_version: int | None = None, repair: bool = True,
                    start: int | None = None) -> Iterator[tuple[int, bytes]]:
    """Yield the file offset and payload of every intact record, in order.

    The header must name ``kind`` and a schema version in [min_schema_version (default
    schema_version), schema_version], or JournalFormatError is raised before any record.
    A missing file has no records. A torn tail is truncated away (when ``repair``) so
    new records append after the last good one; a file of zeros (a crash before its
    header was written) is truncated to nothing. ``start``: the offset of a record to
    begin at (the file header is checked all the same), rather than the first one.
    """
    path = Path(path)
    minimum = _min_version(schema_version, min_schema_version)
    if not path.exists():
        return
    with open(path, "rb") as f:
        if start is None:
            data = f.read()
        else:
            head = f.read(FILE_HEADER_SIZE)
            f.seek(start)
            tail = f.read()
    if start is None:
        head = data[:FILE_HEADER_SIZE]
    header = parse_file_header(path, head)
    if header is None:
        if start is not None:
            raise JournalFormatError(f"{path}: no journal header, so no record at offset "
                                     f"{start}")
        if data.count(0) != len(data):
            raise _header_zeroed_but_data_follows(path)
        if data:
            log.warning("%s: %d zero bytes and no header (a crash before the header was "
                        "written): starting a new journal", path, len(data))
            if repair:
                os.truncate(path, 0)
        return
    check_file_header(path, header, kind=kind, schema_version=schema_version,
                      min_schema_version=minimum)
    if start is None:
        yield from _scan(path, data, FILE_HEADER_SIZE, repair)
    else:
        yield from _scan(path, tail, 0, repair, base=start)


def read_legacy_records(path: str | Path) -> Iterator[tuple[int, bytes]]:
    """The file offset and payload of every intact record of a journal written before
    journal files had a header (the same record framing from offset 0), for the
    converter. Never repairs the file."""
    path = Path(path)
    with open(path, "rb") as f:
        data = f.read()
    yield from _scan(path, data, 0, repair=False)


def _scan(path: Path, data: bytes, start: int, repair: bool, base: int = 0
          ) -> Iterator[tuple[int, bytes]]:
    """The records of ``data``, the file's bytes from offset ``base`` on, beginning at
    ``start`` in ``data``; offsets yielded (and truncated at) are the file's."""
    size = len(data)
    pos = start
    while pos < size:
        if size - pos < RECORD_HEADER_SIZE:
            break
        length, crc, head_crc = _RECORD_HEADER.unpack_from(data, pos)
        if zlib.crc32(data[pos:pos + 8]) != head_crc:
            if data.count(0, pos) == size - pos:
                break  # a zero-filled tail: nothing was ever written there
            if size - pos <= RECORD_HEADER_SIZE:
                break
            raise JournalCorrupt(f"{path}: record header at offset {base + pos} fails its "
                                 f"checksum ({size - pos} bytes from there to the end)")
        end = pos + RECORD_HEADER_SIZE + length
        if end > size:
            break
        payload = data[pos + RECORD_HEADER_SIZE:end]
        if zlib.crc32(payload) != crc:
            if end == size:
                break
            raise JournalCorrupt(f"{path}: record at offset {base + pos} fails its checksum "
                                 f"and {size - end} bytes follow it")
        yield base + pos, payload
        pos = end
    if pos < size:
        if data.count(0, pos) == size - pos:
            log.info("%s: dropping %d preallocated bytes after offset %d", path, size - pos,
                     base + pos)
        else:
            log.warning("%s: dropping a torn last record (%d bytes at offset %d)", path,
                        size - pos, base + pos)
        if repair:
            os.truncate(path, base + pos)
