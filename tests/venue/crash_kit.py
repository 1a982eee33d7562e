"""A kill -9 between the journal and the sessions' stores, for the no-report-lost tests.

Run as a script (``python -m tests.venue.crash_kit DATA_DIR POSITION BATCH``) it builds
the exchange of the shipped configuration with the composition module, runs the
trading day of ``stream_kit`` three commands per group commit and, during batch
number BATCH (from 1), SIGKILLs itself after the batch is in the journal and ran
through the core, from inside the event stream: at POSITION 0 before any consumer
got the batch, 1 after the owners' reports were stored, 2 after the drop copies too
but before the delivered mark moved.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from venue.stream import Entry

from .stream_kit import run, server, trading_day

BATCH = 3


class Killer:
    """An in-process consumer that kills the process at its ``batch``-th batch."""

    def __init__(self, batch: int) -> None:
        self.batch = batch
        self.seen = 0

    def on_batch(self, entries: Sequence[Entry]) -> None:
        self.seen += 1
        if self.seen == self.batch:
            os.kill(os.getpid(), signal.SIGKILL)


def main(argv: list[str]) -> int:
    data_dir, position, batch = Path(argv[0]), int(argv[1]), int(argv[2])
    srv = server(data_dir)
    assert srv.stream is not None
    srv.stream.consumers.insert(position, Killer(batch))
    run(srv, trading_day(), batch=BATCH)
    srv.close()
    return 1      # the kill never came


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
