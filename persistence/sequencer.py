"""The sequencer: gives every state-changing command its sequence number and
timestamp and appends it to the journal.

Commands are plain tuples of ints, strings and bytes (``marshal`` encodes them
in about a microsecond, and the journal stays readable by any later Python).
The sequencer, not the core, owns the clock: the core sees time only as the
timestamp stamped here, so replaying the journal gives the same events.
"""

from __future__ import annotations

import marshal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from .journal import Journal, read_records

# A sequenced command: (seq, timestamp in ns since the epoch, command tuple).
Sequenced = tuple[int, int, tuple]


class Sequencer:
    """Stamps commands and batches them for one group commit."""

    def __init__(self, journal: Journal, next_seq: int = 1,
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.journal = journal
        self.next_seq = next_seq
        self.clock = clock
        self._batch: list[Sequenced] = []

    def submit(self, command: tuple) -> Sequenced:
        """Stamp ``command`` and buffer it; durable after commit()."""
        ts = self.clock()
        stamped = (self.next_seq, ts, command)
        self.next_seq += 1
        self.journal.append(marshal.dumps(stamped))
        self._batch.append(stamped)
        return stamped

    @property
    def pending(self) -> int:
        return len(self._batch)

    def commit(self) -> list[Sequenced]:
        """Make the buffered commands durable (one write, one fsync) and return them,
        in order, for the core to process."""
        batch, self._batch = self._batch, []
        self.journal.commit()
        return batch


def replay(path: str | Path) -> Iterator[Sequenced]:
    """Every sequenced command of a journal file, in order (a torn tail is dropped)."""
    for payload in read_records(path):
        seq, ts, command = marshal.loads(payload)
        yield seq, ts, command
