"""Alerts evaluated in the server over a sliding window of readings.

``Alerts.update(reading)`` keeps the readings of the last ``window`` seconds, computes
each rule's value from the newest and the oldest of them (counters and histogram
buckets are totals, so a difference is what happened in the window) and returns the
transitions: an alert fires when its value goes past its limit and clears when it is
back within it. Pure: no clock, no I/O; the caller logs, counts and shows the
transitions (``server/observe.py``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from .latency import END_TO_END, JOURNAL, quantile, window
from .readings import Reading

# The rules, by name.
ORDER_PATH_P99 = "order_path_p99"
ERROR_RATE = "error_rate"
CONSUMER_LAG = "consumer_lag"
JOURNAL_FSYNC = "journal_fsync"
RISK_BREACH = "risk_breach"
KILL_SWITCH = "kill_switch"
RULES = (ORDER_PATH_P99, ERROR_RATE, CONSUMER_LAG, JOURNAL_FSYNC, RISK_BREACH, KILL_SWITCH)


class AlertLimits(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``[alerts]`` of exchange.toml: the seed's thresholds by default."""

    window_seconds: int = 60
    order_path_p99_us: int = 1000         # end to end, read to send
    error_rate: float = 0.0001            # 0.01% of the messages read
    consumer_lag_seconds: float = 30.0
    journal_fsync_p99_ms: float = 20.0
    risk_rejects: int = 0                 # more risk rejects than this in the window
    min_samples: int = 100                # fewer observations decide nothing

    def problem(self) -> str | None:
        """What is wrong with these limits, or None."""
        if self.window_seconds < 2:
            return "window_seconds must be at least 2"
        if not all(0 < v < math.inf for v in (self.order_path_p99_us,
                                              self.consumer_lag_seconds,
                                              self.journal_fsync_p99_ms)):
            return "order_path_p99_us, consumer_lag_seconds and journal_fsync_p99_ms " \
                   "must be positive numbers"
        if not 0 <= self.error_rate < 1:
            return "error_rate must be a fraction between 0 and 1"
        if self.risk_rejects < 0 or self.min_samples < 0:
            return "risk_rejects and min_samples must not be negative"
        return None


class Transition(msgspec.Struct, frozen=True):
    """An alert that fired or cleared, with the value and limit that decided it."""

    alert: str
    firing: bool
    value: float
    limit: float
    text: str
    at: float


@dataclass
class Alert:
    """The state of one rule."""

    name: str
    firing: bool = False
    since: float = 0.0
    value: float = 0.0
    limit: float = 0.0
    text: str = ""
    fired: int = 0      # times it fired since the start


def _errors(r: Reading) -> int:
    return (r.exchange_faults + sum(s.rejects_sent + s.error_disconnects
                                    for s in r.sessions))


def _received(r: Reading) -> int:
    return sum(s.received for s in r.sessions)


@dataclass
class Alerts:
    """Every rule of ``limits`` over the window; see the module."""

    limits: AlertLimits = field(default_factory=AlertLimits)
    readings: deque[Reading] = field(default_factory=deque)
    state: dict[str, Alert] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in RULES:
            self.state.setdefault(name, Alert(name))

    def update(self, reading: Reading) -> list[Transition]:
        """Take ``reading``; the alerts that fired or cleared with it."""
        readings = self.readings
        readings.append(reading)
        while len(readings) > 2 and reading.at - readings[1].at >= self.limits.window_seconds:
            readings.popleft()
        first = readings[0]
        out = []
        for name, rule in self._rules().items():
            value, limit, text = rule(first, reading)
            alert = self.state[name]
            alert.value, alert.limit = value, limit
            firing = value > limit
            if firing != alert.firing:
                alert.firing, alert.since, alert.text = firing, reading.at, text
                alert.fired += firing
                out.append(Transition(name, firing, value, limit, text, reading.at))
            elif firing:
                alert.text = text
        return out

    def active(self) -> list[Alert]:
        return [a for a in self.state.values() if a.firing]

    def _rules(self) -> dict[str, Callable[[Reading, Reading], tuple[float, float, str]]]:
        return {ORDER_PATH_P99: self._order_path, ERROR_RATE: self._error_rate,
                CONSUMER_LAG: self._lag, JOURNAL_FSYNC: self._fsync,
                RISK_BREACH: self._risk, KILL_SWITCH: self._kill}

    def _p99(self, first: Reading, last: Reading, stage: str) -> tuple[float, int]:
        counts = window(last.stages[stage], first.stages[stage])
        n = sum(counts)
        if n < max(self.limits.min_samples, 1):
            return 0.0, n
        return (quantile(counts, 0.99) or 0) / 1e3, n    # µs

    def _order_path(self, first: Reading, last: Reading) -> tuple[float, float, str]:
        p99, n = self._p99(first, last, END_TO_END)
        limit = float(self.limits.order_path_p99_us)
        return p99, limit, (f"order path p99 {p99:,.0f} µs over the last "
                            f"{last.at - first.at:.0f} s ({n} reads), limit {limit:,.0f} µs")

    def _fsync(self, first: Reading, last: Reading) -> tuple[float, float, str]:
        p99, n = self._p99(first, last, JOURNAL)
        limit = self.limits.journal_fsync_p99_ms
        return p99 / 1e3, limit, (f"journal commit p99 {p99 / 1e3:,.2f} ms over {n} "
                                  f"commits, limit {limit:g} ms")

    def _error_rate(self, first: Reading, last: Reading) -> tuple[float, float, str]:
        received = _received(last) - _received(first)
        errors = _errors(last) - _errors(first)
        limit = self.limits.error_rate
        if received < max(self.limits.min_samples, 1):
            return 0.0, limit, ""
        rate = errors / received
        return rate, limit, (f"error rate {rate:.4%}: {errors} errors (session rejects, "
                             f"disconnects on errors, the exchange's own rejects) in "
                             f"{received} messages, limit {limit:.4%}")

    def _lag(self, first: Reading, last: Reading) -> tuple[float, float, str]:
        limit = self.limits.consumer_lag_seconds
        worst = max(last.consumers, key=lambda c: c.lag_seconds, default=None)
        if worst is None:
            return 0.0, limit, ""
        return worst.lag_seconds, limit, (f"{worst.name} is {worst.lag} entries "
                                          f"({worst.lag_seconds:.1f} s) behind, limit "
                                          f"{limit:g} s")

    def _risk(self, first: Reading, last: Reading) -> tuple[float, float, str]:
        n = last.risk_rejects - first.risk_rejects
        limit = float(self.limits.risk_rejects)
        return float(n), limit, (f"{n} orders refused by pre-trade risk in the last "
                                 f"{last.at - first.at:.0f} s")

    def _kill(self, first: Reading, last: Reading) -> tuple[float, float, str]:
        on = [f"{scope} {name}" for scope, names in sorted(last.killed.items())
              for name in names]
        return float(len(on)), 0.0, "kill switch on: " + ", ".join(on)
