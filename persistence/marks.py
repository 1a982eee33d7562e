"""A sequence number kept on disk at the cost of a memory write.

:class:`SeqMark` holds one number in a small file through a shared memory map, as the
session stores keep their sequence numbers: setting it is a store into memory that
the kernel writes back, so it survives a crash of the process (a kill -9), though
not a power cut. The exchange uses one to record how far the reports of the journal
have reached the sessions' stores (``delivered.seq``).
"""

from __future__ import annotations

import mmap
import os
import re
from pathlib import Path

_SIZE = 32
_TEXT = re.compile(rb"(\d+)\n")


class SeqMark:
    """One sequence number in the file ``path`` (created holding ``initial``)."""

    def __init__(self, path: Path, initial: int = 0) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            m = _TEXT.match(os.pread(fd, _SIZE, 0))
            if os.fstat(fd).st_size < _SIZE:
                os.ftruncate(fd, _SIZE)
            self._map = mmap.mmap(fd, _SIZE)
        finally:
            os.close(fd)     # the map keeps the file
        self._value = int(m[1]) if m else initial
        if m is None:
            self.set(initial)

    @property
    def value(self) -> int:
        return self._value

    def set(self, seq: int) -> None:
        self._value = seq
        text = b"%020d\n" % seq
        self._map[:len(text)] = text

    def close(self) -> None:
        self._map.close()
