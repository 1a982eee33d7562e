"""A reading: every figure the exchange exposes, taken at one moment, as plain data.

The composition takes one (``server/observe.py``) when Prometheus scrapes, once a
second for the alerts, and for each update of the operator page; the exposition
(``exposition.py``), the alert rules (``alerts.py``) and the page all read the same
record, so they never disagree. Counters are totals since the start; quantities are
whole units, notional a fixed-point integer (4 decimals).
"""

from __future__ import annotations

import msgspec


class SessionReading(msgspec.Struct, frozen=True):
    """One FIX session: its state and its counts since the start."""

    session: str
    application: str
    state: str
    logged_on: bool
    logons: int
    received: int
    rejects_sent: int
    error_disconnects: int
    next_sender_seq: int
    next_target_seq: int
    queued: int               # messages waiting to be written to its socket
    peer: str = ""
    logged_on_at: float = 0.0


class ConsumerReading(msgspec.Struct, frozen=True):
    """A consumer of the event stream that can fall behind."""

    name: str
    lag: int                  # entries behind the stream
    lag_seconds: float        # age of the oldest entry it has not stored
    failures: int = 0         # failed batches in a row


class Reading(msgspec.Struct, frozen=True):
    """The whole picture at ``at`` (seconds since the epoch)."""

    at: float
    last_seq: int
    stages: dict[str, list[int]]          # bucket counts per stage (metrics.latency)
    stage_sums: dict[str, int]            # ns per stage
    orders: dict[str, int]                # NewOrderSingle by symbol
    cancels: dict[str, int]
    replaces: dict[str, int]
    rejects: dict[str, int]               # rejected orders by reject code
    cancel_rejects: dict[str, int]
    trades: dict[str, int]
    volume: dict[str, int]
    notional: dict[str, int]
    resting: dict[str, int]               # resting orders by symbol
    phases: dict[str, str]
    sessions: list[SessionReading]
    consumers: list[ConsumerReading]
    risk_rejects: int
    exchange_faults: int
    throttled: int
    market_data_messages: int
    feed_ticks: int
    journal_age: float                    # seconds since the last command was journaled
    snapshot_age: float | None            # seconds since the newest snapshot (None: none)
    killed: dict[str, list[str]]          # kill switches on, by scope
    recovered: bool = True
    journal_writable: bool = True
