"""Latency histograms for the stages of the order path, in integer nanoseconds.

A ``Histogram`` is a fixed list of bucket counts (cumulative counts are made at
exposition, as Prometheus wants them); ``observe`` is one bisect and two adds, cheap
enough to run on every message. ``Stages`` holds one histogram per stage and is
handed to the parts that time themselves (the acceptor, the sessions, the exchange,
the report consumer); each part takes it as ``None`` when metrics are off.

Quantiles come from the buckets, as Prometheus' ``histogram_quantile`` computes them
(linear within a bucket), so the page, the alerts and a Grafana panel agree.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import Final

# Upper bounds of the buckets (ns, inclusive): 1-2-5 steps from 1 µs to 10 s; one more
# bucket (+Inf) above the last.
BOUNDS_NS: Final = tuple(m * 10 ** e for e in range(3, 10) for m in (1, 2, 5)) + (
    10_000_000_000,)

# The stages, in the order a NewOrderSingle meets them.
DECODE: Final = "decode"            # framing and tag=value parse of one message
VALIDATION: Final = "validation"    # the data dictionary's checks of one message
JOURNAL: Final = "journal"          # the group commit: one write + fdatasync per batch
RISK: Final = "risk"                # the pre-trade risk check of one order or replace
MATCHING: Final = "matching"        # one command through the core, risk excluded
ENCODE: Final = "encode"            # one report written as a FIX message and queued
END_TO_END: Final = "end_to_end"    # a read of the socket to its replies' send
STAGES: Final = (DECODE, VALIDATION, JOURNAL, RISK, MATCHING, ENCODE, END_TO_END)


class Histogram:
    """Counts of observations per bucket of ``BOUNDS_NS``, and their sum."""

    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(BOUNDS_NS) + 1)
        self.sum = 0

    def observe(self, ns: int) -> None:
        self.counts[bisect_left(BOUNDS_NS, ns)] += 1
        self.sum += ns

    @property
    def count(self) -> int:
        return sum(self.counts)

    def copy(self) -> list[int]:
        """The bucket counts now (for a window: subtract an earlier copy)."""
        return list(self.counts)


def quantile(counts: Sequence[int], q: float) -> int | None:
    """The ``q`` quantile (0..1) in ns of the bucket ``counts``, interpolated within
    its bucket as Prometheus does; None without observations. Above the last bound
    it is that bound."""
    total = sum(counts)
    if not total:
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(counts):
        if n and seen + n >= rank:
            if i == len(BOUNDS_NS):
                return BOUNDS_NS[-1]
            low = BOUNDS_NS[i - 1] if i else 0
            return int(low + (BOUNDS_NS[i] - low) * (rank - seen) / n)
        seen += n
    return BOUNDS_NS[-1]


def window(now: Sequence[int], before: Sequence[int]) -> list[int]:
    """The bucket counts observed between two copies of one histogram."""
    return [a - b for a, b in zip(now, before, strict=True)]


class Stages:
    """One histogram per stage of the order path (``STAGES``)."""

    __slots__ = ("decode", "validation", "journal", "risk", "matching", "encode",
                 "end_to_end")

    def __init__(self) -> None:
        for name in STAGES:
            setattr(self, name, Histogram())

    def get(self, name: str) -> Histogram:
        return getattr(self, name)

    def items(self) -> list[tuple[str, Histogram]]:
        return [(name, getattr(self, name)) for name in STAGES]
