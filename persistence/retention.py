"""Which journal segments may go: those no reader will need again, once old enough.

A segment is needed while anything could still read a record of it: recovery (the
oldest snapshot kept, since a damaged newer one falls back to it, and replays the
journal after it), the stores' redelivery after a crash (``delivered.seq``) and the
event log's catching up (its end), and the durable consumers (their checkpoints).
The lowest of these sequence numbers is the *floor*: a segment whose every record
is at or below it will not be read again. It is still kept for ``retention``
(``retention_hours`` in exchange.toml; ``fixserver replay --until`` can look into
it meanwhile), and then deleted, oldest first, so that what remains is always one
contiguous journal. The active segment and a segment a kept snapshot points into
(a snapshot taken at a segment's very end starts its replay there) never go.

The decision is a pure function of the segments' spans, the floor and the clock
(:func:`expired`); :func:`spans` and :func:`remove` are the file system's part.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from .segments import first_seq_of, segment_files


@dataclass(frozen=True)
class Span:
    """One segment: its file, the seqs it holds and when it was last written."""

    path: Path
    first_seq: int
    last_seq: int | None      # None: the active segment, still growing
    modified_ns: int


def spans(base: Path) -> list[Span]:
    """The segments of the journal configured at ``base``, in order."""
    files = segment_files(base)
    firsts = [first_seq_of(p, base) for p in files]
    return [Span(p, first, firsts[i + 1] - 1 if i + 1 < len(files) else None,
                 p.stat().st_mtime_ns)
            for i, (p, first) in enumerate(zip(files, firsts, strict=True))]


def expired(segments: Sequence[Span], *, floor: int, keep: Collection[str], now_ns: int,
            retention_ns: int) -> list[Span]:
    """The segments to delete: the longest run from the first whose records are all at
    or below ``floor``, last written ``retention_ns`` or more before ``now_ns``, and
    whose file name is not in ``keep``; never the last segment."""
    out = []
    for span in segments[:-1]:
        if (span.last_seq is None or span.last_seq > floor or span.path.name in keep
                or now_ns - span.modified_ns < retention_ns):
            break
        out.append(span)
    return out


def remove(segments: Sequence[Span]) -> None:
    """Delete ``segments`` oldest first, then make the deletions durable."""
    if not segments:
        return
    for span in segments:
        span.path.unlink(missing_ok=True)
    fd = os.open(segments[0].path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
