"""The sequencer: gives every state-changing command its sequence number and
timestamp and appends it to the journal.

A journal record is a :class:`Sequenced` encoded with msgpack: the array
``[seq, ts, command]``, the command itself a typed record (a tagged ``msgspec.Struct``
encoded as an array, its tag first). Unlike ``marshal`` the encoding does not depend
on the Python version, and the journal's file header records the schema version of
the commands. This module knows neither the command types nor their schema version:
the venue passes them in (persistence sits below the venue).

The sequencer, not the core, owns the clock: the core sees time only as the
timestamp stamped here, so replaying the journal gives the same events.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

import msgspec

from .journal import RECORD_HEADER_SIZE, Journal, JournalCorrupt
from .segments import SegmentedJournal, read_segments

C = TypeVar("C")


class Sequenced(msgspec.Struct, Generic[C], array_like=True, frozen=True, gc=False):
    """A command with its sequence number and timestamp (ns since the epoch)."""

    seq: int
    ts: int
    command: C


class JournalDecodeError(JournalCorrupt):
    """A record whose checksums hold does not decode as a sequenced command of the
    expected schema."""


class Sequencer(Generic[C]):
    """Stamps commands and batches them for one group commit."""

    def __init__(self, journal: Journal | SegmentedJournal, next_seq: int = 1,
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.journal = journal
        self.next_seq = next_seq
        self.clock = clock
        self._batch: list[Sequenced[C]] = []
        # One encoder for every record: msgspec reuses its internal buffer.
        self._encode = msgspec.msgpack.Encoder().encode

    def submit(self, command: C) -> Sequenced[C]:
        """Stamp ``command`` and buffer it; durable after commit()."""
        stamped = Sequenced(self.next_seq, self.clock(), command)
        self.next_seq += 1
        self.journal.append(self._encode(stamped))
        self._batch.append(stamped)
        return stamped

    @property
    def pending(self) -> int:
        return len(self._batch)

    def commit(self) -> list[Sequenced[C]]:
        """Make the buffered commands durable (one write, one fsync) and return them,
        in order, for the core to process."""
        batch, self._batch = self._batch, []
        self.journal.commit()
        return batch


def replay(path: str | Path, command_type: Any, *, kind: str = "commands",
           schema_version: int, min_schema_version: int | None = None,
           start: tuple[str, int] | None = None) -> Iterator[Sequenced[Any]]:
    """Every sequenced command of a journal, in order, across its segments (a torn
    tail is dropped); see :func:`replay_at`."""
    for _, _, stamped in replay_at(path, command_type, kind=kind,
                                   schema_version=schema_version,
                                   min_schema_version=min_schema_version, start=start):
        yield stamped


def replay_at(path: str | Path, command_type: Any, *, kind: str = "commands",
              schema_version: int, min_schema_version: int | None = None,
              start: tuple[str, int] | None = None, repair: bool = True
              ) -> Iterator[tuple[Path, int, Sequenced[Any]]]:
    """(segment, offset after the record, sequenced command) of every record of the
    journal configured at ``path`` (``persistence.segments``), in order.

    ``command_type`` is the type (typically a tagged union of Structs) the commands
    decode to; each file header must name ``kind`` and a schema version in
    [min_schema_version (default schema_version), schema_version]. ``start``: the
    segment's file name and the offset of the record to begin with (a snapshot says
    where its journal goes on). ``repair``: cut a torn tail off the last segment
    (False for a reader beside the running exchange). Raises JournalFormatError for a
    file it must not read, JournalCorrupt for a damaged record and JournalDecodeError
    for one that does not decode.
    """
    decode = msgspec.msgpack.Decoder(Sequenced[command_type]).decode
    last_seq: int | None = None
    for segment, offset, payload in read_segments(Path(path), kind=kind,
                                                  schema_version=schema_version,
                                                  min_schema_version=min_schema_version,
                                                  start=start, repair=repair):
        try:
            stamped = decode(payload)
        except msgspec.DecodeError as e:  # ValidationError is a DecodeError
            after = "the first record" if last_seq is None else f"after seq {last_seq}"
            raise JournalDecodeError(
                f"{segment}: the record at offset {offset} ({after}) does not decode as a "
                f"{kind} record of schema version {schema_version}: {e}; the journal was "
                "written by a different version of the exchange, or by a bug: keep the "
                "file and report it") from None
        last_seq = stamped.seq
        yield segment, offset + RECORD_HEADER_SIZE + len(payload), stamped
