"""Readings made by hand for the alert and exposition tests.

``reading(at, **changes)`` is a quiet exchange at ``at`` (nothing counted, nothing
timed, no session, no consumer, no kill switch) with ``changes`` applied through
``msgspec.structs.replace``; ``timed(*groups)`` is the bucket counts of a histogram
that observed ``n`` durations of ``ns`` for each ``(n, ns)``. Counters and bucket
counts in a reading are totals since the start, as the server's are: a test that
takes several readings gives each one the totals so far.

This folder has no ``__init__.py``: with one, pytest would import it as the package
``metrics`` and shadow the code under test.
"""

from __future__ import annotations

from typing import Any

import msgspec

from metrics.latency import BOUNDS_NS, STAGES, Histogram
from metrics.readings import ConsumerReading, Reading, SessionReading

EMPTY = [0] * (len(BOUNDS_NS) + 1)

QUIET = Reading(
    at=0.0, last_seq=0,
    stages={name: list(EMPTY) for name in STAGES},
    stage_sums=dict.fromkeys(STAGES, 0),
    orders={}, cancels={}, replaces={}, rejects={}, cancel_rejects={}, trades={},
    volume={}, notional={}, resting={}, phases={}, sessions=[], consumers=[],
    risk_rejects=0, exchange_faults=0, throttled=0, market_data_messages=0,
    feed_ticks=0, journal_age=0.0, snapshot_age=None, killed={})


def timed(*groups: tuple[int, int]) -> list[int]:
    """Bucket counts of ``n`` observations of ``ns`` for each ``(n, ns)``."""
    h = Histogram()
    for n, ns in groups:
        for _ in range(n):
            h.observe(ns)
    return h.copy()


def reading(at: float = 0.0, **changes: Any) -> Reading:
    """The quiet reading at ``at`` with ``changes``; ``stages`` may name only some
    stages (the others stay empty)."""
    if "stages" in changes:
        changes["stages"] = {**QUIET.stages, **changes["stages"]}
    return msgspec.structs.replace(QUIET, at=at, **changes)


def session(name: str = "FIX.4.4:EXCH->BRK1", received: int = 0, rejects_sent: int = 0,
            error_disconnects: int = 0) -> SessionReading:
    """A logged-on session with these counts."""
    return SessionReading(name, "orders", "active", True, 1, received, rejects_sent,
                          error_disconnects, received + 1, received + 1, 0)


def consumer(name: str, lag_seconds: float, lag: int = 10) -> ConsumerReading:
    return ConsumerReading(name, lag, lag_seconds)
