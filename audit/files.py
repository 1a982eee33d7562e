"""The audit trail in JSON-lines files: ``<data-dir>/audit/audit-YYYY-MM-DD.jsonl``,
one file per UTC day of the records' timestamps, one record per line.

The files are their own checkpoint: a batch is appended and fsynced, and where the
trail stands is read back from the last line. A crash can leave a torn last line or
only part of one entry's records; ``position`` cuts both away (the records of the
entry the last line belongs to are made again, byte for byte, from the event log),
so the files hold whole entries, once each.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from .chain import ChainState, Sealed, state_of

PREFIX = "audit-"
SUFFIX = ".jsonl"
_CHUNK = 1 << 16


class AuditFileError(Exception):
    """An audit file that cannot be read back (names the file and the offset)."""


def file_name(timestamp: str) -> str:
    """The file of a record: its UTC date (``timestamp`` is ISO-8601)."""
    return f"{PREFIX}{timestamp[:10]}{SUFFIX}"


def audit_files(path: Path) -> list[Path]:
    """``path`` itself if it is a file, else the trail's files in it, oldest first."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.glob(f"{PREFIX}*{SUFFIX}") if p.is_file())


def read_lines(path: Path) -> Iterator[tuple[Path, int, bytes]]:
    """Every complete line of the trail at ``path``: (file, line number from 1, line)."""
    for file in audit_files(path):
        with file.open("rb") as f:
            for number, line in enumerate(f, 1):
                if line.endswith(b"\n"):
                    yield file, number, line.rstrip(b"\n")


def _lines_backwards(f: BinaryIO, end: int) -> Iterator[tuple[int, bytes]]:
    """(offset, line) of the complete lines before ``end``, last first; ``end`` is
    just past a newline, or 0."""
    base, buf, hi = end, b"", 0   # not yet yielded: buf[:hi], at offset base, "\n"-ended
    while hi or base:
        j = buf.rfind(b"\n", 0, hi - 1) if hi else -1
        if j < 0 and base > 0:
            start = max(0, base - _CHUNK)
            f.seek(start)
            buf = f.read(base - start) + buf[:hi]
            hi, base = len(buf), start
            continue
        yield base + j + 1, buf[j + 1:hi - 1]
        hi = j + 1


def _after_last_newline(f: BinaryIO, size: int) -> int:
    """The offset just past the file's last newline (0: none)."""
    pos = size
    while pos > 0:
        start = max(0, pos - _CHUNK)
        f.seek(start)
        i = f.read(pos - start).rfind(b"\n")
        if i >= 0:
            return start + i + 1
        pos = start
    return 0


class AuditFiles:
    """Appends sealed records to the day files of one directory, fsynced."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO | None = None
        self._name = ""
        existing = audit_files(directory)
        self._newest = existing[-1].name if existing else ""

    def position(self) -> ChainState:
        """Where the trail stands, after cutting a torn line and the records of the
        last entry (seq) away: the state after the last whole entry before it."""
        self.close()
        last_seq: int | None = None   # the last entry's, once a file has shown it
        for file in reversed(audit_files(self.directory)):
            state, last_seq = self._trim(file, last_seq)
            if state is not None:
                return state
        return ChainState()

    def _trim(self, file: Path, last_seq: int | None = None
              ) -> tuple[ChainState | None, int | None]:
        """Trim ``file`` as ``position`` says: the state it ends with (None if nothing
        is left) and the last entry's seq (-1: unknown, a torn line's). ``last_seq``:
        the last entry's, when a later file held it: an entry's records are all in
        the file of its timestamp, so this file's own last entry is whole."""
        with file.open("r+b") as f:
            size = f.seek(0, os.SEEK_END)
            if size == 0:
                return None, last_seq
            end = _after_last_newline(f, size)   # before a torn last line, if any
            cut = end
            state = None
            for offset, line in _lines_backwards(f, end):
                try:
                    s = state_of(line)
                except (ValueError, KeyError, TypeError) as e:
                    raise AuditFileError(f"{file}: the record at byte {offset} cannot be "
                                         f"read back ({e}); move the file aside to "
                                         "rewrite the trail from the event log") from None
                if last_seq is None:
                    last_seq = s.seq
                if s.seq != last_seq:
                    state = s
                    break
                cut = offset
            if cut != size:
                f.truncate(cut)
                os.fsync(f.fileno())
            return state, -1 if last_seq is None else last_seq

    def write(self, records: list[Sealed]) -> None:
        """Append ``records`` (whole entries), fsync each file written to."""
        lines: list[bytes] = []
        for r in records:
            # Never back into an older day's file, should the clock step back across
            # midnight: the files are read oldest first, so the chain stays in order.
            name = max(file_name(r.timestamp), self._newest)
            if name != self._name:
                self._flush(lines)
                lines = []
                self._open(name)
            lines.append(r.line)
        self._flush(lines)

    def _open(self, name: str) -> None:
        self.close()
        path = self.directory / name
        new = not path.exists()
        self._file = path.open("ab")
        self._name = self._newest = name
        if new:   # the file's name must survive a crash too
            fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _flush(self, lines: list[bytes]) -> None:
        if not lines or self._file is None:
            return
        lines.append(b"")
        self._file.write(b"\n".join(lines))
        self._file.flush()
        os.fdatasync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._name = ""


def follow_lines(path: Path, poll_seconds: float = 0.5,
                 stop: Callable[[], bool] = lambda: False) -> Iterator[bytes]:
    """Every complete line of the trail at ``path``, then each new one as it is
    written (a new day's file included), until ``stop()``. A line being written is
    held back until its newline arrives."""
    done: dict[Path, int] = {}     # file -> offset read up to (past a newline)
    while True:
        for file in audit_files(path):
            offset = done.get(file, 0)
            with file.open("rb") as f:
                f.seek(offset)
                data = f.read()
            end = data.rfind(b"\n") + 1
            if end:
                yield from data[:end].splitlines()
                done[file] = offset + end
        if stop():
            return
        time.sleep(poll_seconds)
