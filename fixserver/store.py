"""Per-session message store on disk: sequence numbers and sent application messages.

Two files per session under FileStorePath, named after the session:

* ``<id>.seqnums`` — next sender and next target MsgSeqNum, rewritten in place;
* ``<id>.body``    — append-only records ``<seq> <length> <source>\\n<message>\\n``.

On open the body file is scanned once to rebuild an index (seq -> offset), so a
restarted server can answer a ResendRequest for messages sent before the
restart; messages are read back one at a time, never all at once. A torn last
record (crash mid-write) is cut off.

``source`` is an opaque number the application gives with a message (the exchange:
the journal sequence number of the command the message reports on; 0 for none;
records written before it existed have no third field). The store remembers the
last source it holds and how many messages carry it (``last_source``): after a
crash, the exchange knows from it which of the journal's reports reached this
store and which it must make again.
"""

from __future__ import annotations

import mmap
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

_SEQNUMS_SIZE = 64
_SEQNUMS = re.compile(rb"(\d+) : (\d+)(?: : (\d+))?")


class MemoryStore:
    """A store that keeps nothing across restarts (PersistMessages=N, and tests)."""

    def __init__(self) -> None:
        self.next_sender_seq = 1
        self.next_target_seq = 1
        # When the sequence numbers were last reset (seconds since the epoch): a session
        # with StartTime/EndTime starts each daily period from 1.
        self.creation_time = int(time.time())
        self._messages: dict[int, bytes] = {}
        # (source, how many stored messages carry it) of the last message with one.
        self.last_source = (0, 0)

    def set_next_sender(self, seq: int) -> None:
        self.next_sender_seq = seq

    def set_next_target(self, seq: int) -> None:
        self.next_target_seq = seq

    def save(self, seq: int, raw: bytes, source: int = 0) -> None:
        self._messages[seq] = raw
        if source:
            self._note_source(source)

    def _note_source(self, source: int) -> None:
        last, count = self.last_source
        self.last_source = (source, count + 1) if source == last else (source, 1)

    def sync(self) -> None:
        """Make saved messages durable before they are sent (nothing to do in memory)."""

    def messages(self, begin: int, end: int) -> Iterator[tuple[int, bytes]]:
        """Stored messages with begin <= seq <= end, in order."""
        for seq in range(begin, end + 1):
            raw = self._messages.get(seq)
            if raw is not None:
                yield seq, raw

    def reset(self, now: float | None = None) -> None:
        """Both sequence numbers back to 1, the sent messages forgotten; ``now`` (the
        session's time) becomes the creation time."""
        self.next_sender_seq = self.next_target_seq = 1
        self.creation_time = int(time.time() if now is None else now)
        self._messages.clear()
        self.last_source = (0, 0)

    def refresh(self) -> None:
        """Re-read the state from where it is kept (RefreshOnLogon): nothing to re-read
        in memory."""

    def close(self) -> None:
        pass


class FileStore(MemoryStore):
    """The durable store: survives a restart of the server."""

    def __init__(self, directory: str | Path, session_name: str, *, fsync: bool = False) -> None:
        super().__init__()
        self.fsync = fsync
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", session_name)
        self._seq_path = directory / f"{safe}.seqnums"
        self._body_path = directory / f"{safe}.body"
        self._seq_fd = os.open(self._seq_path, os.O_RDWR | os.O_CREAT, 0o644)
        m = _SEQNUMS.match(os.pread(self._seq_fd, 64, 0))
        if os.fstat(self._seq_fd).st_size < _SEQNUMS_SIZE:
            os.ftruncate(self._seq_fd, _SEQNUMS_SIZE)
        # Sequence numbers change with every message: a shared memory map makes each
        # update a memory write that survives a crash of the process (not of the machine,
        # unless fsync is set).
        self._seq_map = mmap.mmap(self._seq_fd, _SEQNUMS_SIZE)
        if m:
            self.next_sender_seq, self.next_target_seq = int(m[1]), int(m[2])
            if m[3]:
                self.creation_time = int(m[3])
        else:
            self._write_seqnums()
        self._body = open(self._body_path, "a+b")  # noqa: SIM115 - held open for the session
        self._index: dict[int, tuple[int, int]] = {}
        self._pending: list[bytes] = []
        self._load_index()
        self._end = self._body.seek(0, os.SEEK_END)

    def _load_index(self) -> None:
        body = self._body
        body.seek(0)
        offset = 0
        while True:
            line = body.readline()
            if not line:
                break
            head = line.split()
            if len(head) not in (2, 3) or not line.endswith(b"\n") or not all(
                    field.isdigit() for field in head):
                break
            seq, length = int(head[0]), int(head[1])
            start = offset + len(line)
            body.seek(start + length)
            if body.read(1) != b"\n":
                break
            self._index[seq] = (start, length)
            if len(head) == 3 and head[2] != b"0":
                self._note_source(int(head[2]))
            offset = start + length + 1
        if offset != body.seek(0, os.SEEK_END):
            body.truncate(offset)  # a torn last record is dropped, never replayed

    def _write_seqnums(self) -> None:
        data = b"%010d : %010d : %012d\n" % (self.next_sender_seq, self.next_target_seq,
                                               self.creation_time)
        self._seq_map[:len(data)] = data
        if self.fsync:
            self._seq_map.flush()

    def set_next_sender(self, seq: int) -> None:
        self.next_sender_seq = seq
        self._write_seqnums()

    def set_next_target(self, seq: int) -> None:
        self.next_target_seq = seq
        self._write_seqnums()

    def save(self, seq: int, raw: bytes, source: int = 0) -> None:
        """Buffer a sent message; sync() writes it (the session syncs before any
        message leaves, so a message is never sent without being stored)."""
        if source:
            head = b"%d %d %d\n" % (seq, len(raw), source)
            self._note_source(source)
        else:
            head = b"%d %d\n" % (seq, len(raw))
        self._index[seq] = (self._end + len(head), len(raw))
        self._end += len(head) + len(raw) + 1
        self._pending.append(head)
        self._pending.append(raw)
        self._pending.append(b"\n")

    def sync(self) -> None:
        """Write the buffered messages with one write."""
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        body = self._body
        body.write(data)
        body.flush()
        if self.fsync:
            os.fsync(body.fileno())

    def messages(self, begin: int, end: int) -> Iterator[tuple[int, bytes]]:
        self.sync()
        index = self._index
        seqs = sorted(s for s in index if begin <= s <= end) if len(index) < end - begin else (
            s for s in range(begin, end + 1) if s in index)
        for seq in seqs:
            start, length = index[seq]
            yield seq, os.pread(self._body.fileno(), length, start)

    def refresh(self) -> None:
        """Re-read the sequence numbers and the message index from the files, which
        another process (a standby taking over) may have written (RefreshOnLogon)."""
        self.sync()
        m = _SEQNUMS.match(bytes(self._seq_map[:_SEQNUMS_SIZE]))
        if m:
            self.next_sender_seq, self.next_target_seq = int(m[1]), int(m[2])
            if m[3]:
                self.creation_time = int(m[3])
        self._index.clear()
        self.last_source = (0, 0)
        self._load_index()
        self._end = self._body.seek(0, os.SEEK_END)

    def reset(self, now: float | None = None) -> None:
        self._pending.clear()
        self._end = 0
        super().reset(now)
        self._index.clear()
        self._body.truncate(0)
        self._body.flush()
        self._write_seqnums()

    def close(self) -> None:
        self.sync()
        self._body.close()
        self._seq_map.close()
        os.close(self._seq_fd)
