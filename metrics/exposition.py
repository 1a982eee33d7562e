"""A reading (``readings.py``) and the alerts as Prometheus metric families.

``ReadingCollector`` is a prometheus-client collector: at each scrape it asks for a
fresh reading and yields every family from it, so nothing is counted twice and the
order path never touches prometheus-client. Names follow Prometheus' conventions:
``fixserver_`` prefix, ``_total`` for counters, base units (seconds, the instrument's
units for quantities and its currency for notional).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from matching.constants import PRICE_SCALE

from .alerts import RULES, Alerts
from .latency import BOUNDS_NS
from .readings import Reading

PREFIX = "fixserver"
_BOUNDS_S = [f"{b / 1e9:g}" for b in BOUNDS_NS] + ["+Inf"]


def _per(name: str, doc: str, label: str, values: Mapping[str, int | float],
         kind: type = CounterMetricFamily, scale: int = 1) -> Metric:
    family = kind(f"{PREFIX}_{name}", doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value / scale if scale != 1 else value)
    return family


def families(r: Reading, alerts: Alerts | None = None) -> Iterator[Metric]:
    """Every metric family of reading ``r`` (and of ``alerts``)."""
    stage = HistogramMetricFamily(
        f"{PREFIX}_stage_seconds", "Time spent per stage of the order path: decode and "
        "validation per message, journal per group commit, risk and matching per command, "
        "encode per report, end_to_end from a socket read to its replies' send",
        labels=["stage"])
    for name, counts in r.stages.items():
        cumulative, total = [], 0
        for bound, n in zip(_BOUNDS_S, counts, strict=True):
            total += n
            cumulative.append((bound, total))
        stage.add_metric([name], cumulative, r.stage_sums[name] / 1e9)
    yield stage
    yield _per("orders_total", "NewOrderSingle requests sequenced", "symbol", r.orders)
    yield _per("cancels_total", "OrderCancelRequests sequenced", "symbol", r.cancels)
    yield _per("replaces_total", "OrderCancelReplaceRequests sequenced", "symbol", r.replaces)
    yield _per("rejects_total", "Orders rejected, by reject code", "reason", r.rejects)
    yield _per("cancel_rejects_total", "Cancels and replaces refused, by reject code",
               "reason", r.cancel_rejects)
    yield _per("trades_total", "Trades", "symbol", r.trades)
    yield _per("volume_total", "Traded quantity", "symbol", r.volume)
    yield _per("notional_total", "Traded price x quantity", "symbol", r.notional,
               scale=PRICE_SCALE)
    yield CounterMetricFamily(f"{PREFIX}_risk_rejects_total",
                              "Orders refused by pre-trade risk", value=r.risk_rejects)
    yield CounterMetricFamily(f"{PREFIX}_throttle_rejects_total",
                              "Messages refused by the per-session throttle",
                              value=r.throttled)
    yield CounterMetricFamily(f"{PREFIX}_exchange_fault_rejects_total",
                              "Orders rejected through the exchange's fault",
                              value=r.exchange_faults)
    yield CounterMetricFamily(f"{PREFIX}_marketdata_messages_total",
                              "FIX market-data messages sent (W, X, Y, f, h, y)",
                              value=r.market_data_messages)
    yield CounterMetricFamily(f"{PREFIX}_feed_ticks_total",
                              "Ticks sent on the multicast feed", value=r.feed_ticks)
    yield _per("resting_orders", "Orders resting in the book", "symbol", r.resting,
               kind=GaugeMetricFamily)
    phase = GaugeMetricFamily(f"{PREFIX}_trading_phase", "1 for each instrument's phase",
                              labels=["symbol", "phase"])
    for symbol, name in sorted(r.phases.items()):
        phase.add_metric([symbol, name], 1)
    yield phase
    yield from _session_families(r)
    lag = GaugeMetricFamily(f"{PREFIX}_consumer_lag_entries",
                            "Entries of the event stream a consumer has not stored",
                            labels=["consumer"])
    lag_s = GaugeMetricFamily(f"{PREFIX}_consumer_lag_seconds",
                              "Age of the oldest entry a consumer has not stored",
                              labels=["consumer"])
    failures = GaugeMetricFamily(f"{PREFIX}_consumer_failures",
                                 "Failed batches in a row (its store unreachable?)",
                                 labels=["consumer"])
    for c in r.consumers:
        lag.add_metric([c.name], c.lag)
        lag_s.add_metric([c.name], c.lag_seconds)
        failures.add_metric([c.name], c.failures)
    yield lag
    yield lag_s
    yield failures
    yield GaugeMetricFamily(f"{PREFIX}_journal_writable",
                            "1 while the journal is open and its file writable",
                            value=int(r.journal_writable))
    yield GaugeMetricFamily(f"{PREFIX}_recovered", "1 once recovery is done",
                            value=int(r.recovered))
    yield GaugeMetricFamily(f"{PREFIX}_journal_age_seconds",
                            "Seconds since the last command was journaled",
                            value=r.journal_age)
    if r.snapshot_age is not None:
        yield GaugeMetricFamily(f"{PREFIX}_snapshot_age_seconds",
                                "Seconds since the newest snapshot was taken",
                                value=r.snapshot_age)
    yield GaugeMetricFamily(f"{PREFIX}_last_seq", "The last sequence number journaled",
                            value=r.last_seq)
    killed = GaugeMetricFamily(f"{PREFIX}_kill_switches", "Kill switches on, by scope",
                               labels=["scope"])
    for scope, names in sorted(r.killed.items()):
        killed.add_metric([scope], len(names))
    yield killed
    if alerts is not None:
        active = GaugeMetricFamily(f"{PREFIX}_alert_active", "1 while an alert fires",
                                   labels=["alert"])
        fired = CounterMetricFamily(f"{PREFIX}_alerts_fired_total", "Times an alert fired",
                                    labels=["alert"])
        for name in RULES:
            alert = alerts.state[name]
            active.add_metric([name], int(alert.firing))
            fired.add_metric([name], alert.fired)
        yield active
        yield fired


def _session_families(r: Reading) -> Iterator[Metric]:
    logged_on = GaugeMetricFamily(f"{PREFIX}_session_logged_on",
                                  "1 while the session is logged on",
                                  labels=["session", "application"])
    logons = CounterMetricFamily(f"{PREFIX}_session_logons_total", "Logons accepted",
                                 labels=["session"])
    received = CounterMetricFamily(f"{PREFIX}_session_messages_received_total",
                                   "Messages read", labels=["session"])
    rejects = CounterMetricFamily(f"{PREFIX}_session_rejects_total",
                                  "Session-level Rejects (3) sent", labels=["session"])
    errors = CounterMetricFamily(f"{PREFIX}_session_error_disconnects_total",
                                 "Connections ended on a problem", labels=["session"])
    queued = GaugeMetricFamily(f"{PREFIX}_session_queued_messages",
                               "Messages waiting for the session's socket",
                               labels=["session"])
    for s in r.sessions:
        logged_on.add_metric([s.session, s.application], int(s.logged_on))
        logons.add_metric([s.session], s.logons)
        received.add_metric([s.session], s.received)
        rejects.add_metric([s.session], s.rejects_sent)
        errors.add_metric([s.session], s.error_disconnects)
        queued.add_metric([s.session], s.queued)
    yield from (logged_on, logons, received, rejects, errors, queued)


class ReadingCollector(Collector):
    """Yields the families of a fresh reading at each collection."""

    def __init__(self, read: Callable[[], Reading], alerts: Alerts | None = None) -> None:
        self.read = read
        self.alerts = alerts

    def collect(self) -> Iterator[Metric]:
        return families(self.read(), self.alerts)


def registry_of(read: Callable[[], Reading], alerts: Alerts | None = None
                ) -> CollectorRegistry:
    """A registry of the exchange's metrics and its process' (CPU, memory, open
    files, start time: ``process_*``), kept apart from prometheus-client's global one."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ReadingCollector(read, alerts))
    ProcessCollector(registry=registry)
    return registry
