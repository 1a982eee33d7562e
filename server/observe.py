"""What the operator sees: readings of the running server, and its alerts.

``Observatory`` is built by the composition with the parts it reads (the server,
the stage histograms, the trading counters, the tape) and the acceptor once it
runs. ``reading()`` takes a ``metrics.readings.Reading`` of all of them, in the
event loop's thread (the only one that changes them), for the Prometheus scrape,
the admin API and the operator page. ``watch()`` is the server's task that takes a
reading every second, runs the alert rules and logs each alert that fires or clears
as a structured event.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from typing import TYPE_CHECKING

import trio

from consumers.metrics import TradingMetrics
from consumers.tape import Tape
from metrics.alerts import AlertLimits, Alerts, Transition
from metrics.latency import Stages
from metrics.readings import ConsumerReading, Reading, SessionReading
from persistence.snapshots import SUFFIX as SNAPSHOT_SUFFIX
from venue import admin

if TYPE_CHECKING:
    from fixserver.acceptor import Acceptor
    from matching.book import Book

    from .compose import Server

log = logging.getLogger("server.alerts")


class Observatory:
    """The server's figures and alerts (see the module)."""

    def __init__(self, server: Server, stages: Stages, trading: TradingMetrics,
                 tape: Tape, limits: AlertLimits | None = None) -> None:
        self.server = server
        self.stages = stages
        self.trading = trading
        self.tape = tape
        self.alerts = Alerts(limits or AlertLimits())
        self.acceptor: Acceptor | None = None
        self.transitions: deque[Transition] = deque(maxlen=100)   # newest last

    def peers(self) -> dict[str, str]:
        return self.acceptor.peers() if self.acceptor is not None else {}

    def reading(self, now: float | None = None) -> Reading:
        """Everything, now."""
        now = time.time() if now is None else now
        server, exchange, trading = self.server, self.server.exchange, self.trading
        assert exchange is not None
        peers = self.peers()
        sessions = [SessionReading(
            s.session_id, s.config.application, s.state.name.lower(), s.logged_on,
            s.logons, s.received, s.rejects_sent, s.error_disconnects, s.next_sender_seq,
            s.next_target_seq, s.backlog, peers.get(s.session_id, ""), s.logged_on_at)
            for s in server.sessions]
        consumers = []
        stream = server.stream
        for feed in stream.feeds if stream is not None else ():
            lag = stream.lag(feed, int(now * 1e9))
            consumers.append(ConsumerReading(feed.name, *lag))
        engine = exchange.engine
        md, feed = server.market_data, server.feed
        if md is not None and md.subscriptions:
            # In process, so never behind the stream itself; its slowest subscriber
            # (held back while its socket is behind) is what can lag.
            oldest = min(s.synced for s in md.subscriptions.values())
            consumers.append(ConsumerReading("marketdata", max(0, md.last_seq - oldest)
                                             if oldest >= 0 else 0, 0.0))
        throttled = sum({id(s.app): getattr(s.app, "throttled", 0)
                         for s in server.sessions}.values())
        return Reading(
            now, exchange.last_seq,
            {name: h.copy() for name, h in self.stages.items()},
            {name: h.sum for name, h in self.stages.items()},
            dict(trading.orders), dict(trading.cancels), dict(trading.replaces),
            dict(trading.rejects), dict(trading.cancel_rejects), dict(trading.trades),
            dict(trading.volume), dict(trading.notional),
            {symbol: _resting(book) for symbol, book in engine.books.items()},
            admin.phases(exchange),
            sessions, consumers, trading.risk_rejects(), trading.exchange_faults(),
            throttled, md.messages_sent if md is not None else 0,
            feed.next_seq - 1 if feed is not None else 0,
            max(0.0, now - exchange.last_ts / 1e9) if exchange.last_ts else 0.0,
            _snapshot_age(exchange.snapshot_dir, now),
            admin.killed(exchange),
            # Recovered: the observatory is built once the exchange has recovered, and
            # nothing is served before that.
            True, exchange.journal_writable())

    def update(self, now: float | None = None) -> list[Transition]:
        """Run the alert rules over a new reading; log and keep what fired or cleared."""
        transitions = self.alerts.update(self.reading(now))
        for t in transitions:
            self.transitions.append(t)
            log.log(logging.WARNING if t.firing else logging.INFO,
                    "ALERT %s %s: %s", t.alert, "firing" if t.firing else "cleared",
                    t.text or f"{t.value:g} within {t.limit:g}",
                    extra={"event": "alert", "alert": t.alert,
                           "state": "firing" if t.firing else "cleared",
                           "value": t.value, "limit": t.limit})
        return transitions

    async def watch(self, interval: float = 1.0) -> None:
        """The alerts, every ``interval`` seconds, until cancelled."""
        while True:
            await trio.sleep(interval)
            try:
                self.update()
            except Exception:   # the alerts must never take the server down
                log.exception("alert evaluation failed")


def _resting(book: Book) -> int:
    return sum(level.count for side in (book.bids, book.asks) for level in side.levels.values())


def _snapshot_age(directory: os.PathLike[str], now: float) -> float | None:
    """Seconds since the newest snapshot file was written (None: there is none)."""
    try:
        with os.scandir(directory) as it:
            newest = max((e.stat().st_mtime for e in it if e.name.endswith(SNAPSHOT_SUFFIX)
                          and e.name[:-len(SNAPSHOT_SUFFIX)].isdigit()), default=None)
    except FileNotFoundError:
        return None
    return None if newest is None else max(0.0, now - newest)
