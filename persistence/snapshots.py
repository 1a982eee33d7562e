"""Snapshot files: the core's state at a sequence number, written atomically.

A snapshot shortens recovery; it never replaces the journal, which stays the truth.
Each file is ``<dir>/<seq, 12 digits>.snapshot``::

    8s   magic b"FIXEXSNP"
    u32  length of the header record that follows, u32 its crc32
    ...  the header (:class:`SnapshotHeader`, msgpack): format version, the payload's
         kind and schema version, the sequence number and timestamp it covers, where
         the journal goes on after it, a digest of the configuration, the payload's
         length and crc32
    ...  the payload (the caller's encoding of the state; this module never looks
         inside)

Writing (:func:`write_snapshot`) goes to a temporary file, fsyncs it, renames it into
place and fsyncs the directory: a crash leaves either the whole new file or none of
it. Reading (:func:`snapshots`, :meth:`SnapshotFile.payload`) checks everything a
damaged or foreign file could get wrong, and says what, so that recovery can skip a
bad snapshot and take the previous one.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import msgspec

from .journal import fsync_path

log = logging.getLogger("persistence.snapshots")

MAGIC = b"FIXEXSNP"
FORMAT_VERSION = 1
SUFFIX = ".snapshot"
_PREFIX = struct.Struct(f"<{len(MAGIC)}sII")


class SnapshotError(Exception):
    """A snapshot file that cannot be used; the message names the file and the reason."""


class SnapshotHeader(msgspec.Struct, array_like=True, frozen=True):
    """What a snapshot covers, readable without reading the payload."""

    format_version: int
    kind: str
    schema_version: int
    seq: int                 # the last command the state has applied
    ts: int                  # its timestamp (ns)
    journal_file: str        # the journal file holding the record after ``seq`` ...
    journal_offset: int      # ... and where in it that record starts
    config_digest: str
    created_ns: int          # wall clock when the state was captured
    payload_length: int
    payload_crc: int


_encode_header = msgspec.msgpack.Encoder().encode
_decode_header = msgspec.msgpack.Decoder(SnapshotHeader).decode


def snapshot_path(directory: Path, seq: int) -> Path:
    return directory / f"{seq:012d}{SUFFIX}"


def write_snapshot(directory: Path, header: SnapshotHeader, payload: bytes,
                   fsync: bool = True) -> Path:
    """Write a snapshot atomically; its path. ``header``'s payload length and crc are
    filled in here."""
    header = msgspec.structs.replace(header, format_version=FORMAT_VERSION,
                                     payload_length=len(payload),
                                     payload_crc=zlib.crc32(payload))
    head = _encode_header(header)
    directory.mkdir(parents=True, exist_ok=True)
    path = snapshot_path(directory, header.seq)
    tmp = directory / f".{path.name}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(_PREFIX.pack(MAGIC, len(head), zlib.crc32(head)))
        f.write(head)
        f.write(payload)
        f.flush()
        if fsync:
            os.fsync(f.fileno())
    os.replace(tmp, path)
    if fsync:
        fsync_path(directory)
    return path


class SnapshotFile:
    """One snapshot file whose header has been read and checked."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            with open(path, "rb") as f:
                prefix = f.read(_PREFIX.size)
                if len(prefix) < _PREFIX.size:
                    raise SnapshotError(f"{path}: truncated ({len(prefix)} bytes)")
                magic, length, crc = _PREFIX.unpack(prefix)
                if magic != MAGIC:
                    raise SnapshotError(f"{path}: not a snapshot file (starts with {magic!r})")
                head = f.read(length)
        except OSError as e:
            raise SnapshotError(f"{path}: cannot be read: {e}") from None
        if len(head) != length or zlib.crc32(head) != crc:
            raise SnapshotError(f"{path}: its header is damaged (checksum mismatch)")
        try:
            self.header = _decode_header(head)
        except msgspec.DecodeError as e:
            raise SnapshotError(f"{path}: its header does not decode: {e}") from None
        if self.header.format_version != FORMAT_VERSION:
            raise SnapshotError(f"{path}: snapshot format version "
                                f"{self.header.format_version}, this exchange reads "
                                f"{FORMAT_VERSION}")
        self._payload_at = _PREFIX.size + length

    @property
    def seq(self) -> int:
        return self.header.seq

    def payload(self) -> bytes:
        """The payload, checked against its length and crc (SnapshotError if not)."""
        h = self.header
        try:
            with open(self.path, "rb") as f:
                f.seek(self._payload_at)
                data = f.read(h.payload_length + 1)
        except OSError as e:
            raise SnapshotError(f"{self.path}: cannot be read: {e}") from None
        if len(data) != h.payload_length:
            raise SnapshotError(f"{self.path}: truncated or padded (payload of {len(data)} "
                                f"bytes, the header says {h.payload_length})")
        if zlib.crc32(data) != h.payload_crc:
            raise SnapshotError(f"{self.path}: damaged (payload checksum mismatch)")
        return data


def snapshots(directory: Path) -> Iterator[SnapshotFile]:
    """The snapshots in ``directory``, newest (highest seq) first; one whose header is
    unusable is logged as a warning and skipped."""
    if not directory.is_dir():
        return
    paths = sorted((p for p in directory.iterdir()
                    if p.suffix == SUFFIX and p.stem.isdigit()), reverse=True)
    for path in paths:
        try:
            yield SnapshotFile(path)
        except SnapshotError as e:
            log.warning("skipping snapshot: %s", e)


def remove_stale_temporaries(directory: Path) -> None:
    """Delete what a crash in the middle of a write left behind."""
    if directory.is_dir():
        for p in directory.glob(f".*{SUFFIX}.*.tmp"):
            p.unlink(missing_ok=True)
