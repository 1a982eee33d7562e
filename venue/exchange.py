"""The exchange: commands through the sequencer and journal into the core, and the
event stream out of it.

Flow of one NewOrderSingle::

    ExchangeApplication.on_message   D -> NewOrderSingle (requests.py)
    Exchange.submit                  stamped by the sequencer, buffered in the journal
    Exchange.flush                   one write + fsync for the batch, then per command:
    OrderEntry.process               checks, matching, risk, settlement -> events, reports
    publish(entries)                 the event stream (stream.py): ExecutionReports to the
                                     owner, drop copies, the event log, ...

``flush`` runs once per batch (the acceptor's hook calls it after each pass of
reads), so nothing about a command leaves before its journal record is durable.
On start-up ``recover`` replays the journal through the same OrderEntry, which
rebuilds every order, ClOrdID and fill; the replayed entries go to whoever asks
for them (the event log, to fill in what it lacks), never to the sessions.

The exchange knows no session and no consumer: the composition module gives it
``publish`` and tells it which session belongs to which firm.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from matching.engine import Engine
from matching.instruments import Instrument
from persistence.journal import Journal
from persistence.sequencer import Sequencer, replay
from risk.checks import RiskEngine, touch_of

from .commands import SCHEMA_VERSION, Command, EndTradingDay, ExpireGTDOrders, KillSwitch
from .config import ExchangeConfig, FirmConfig
from .orderentry import OrderEntry
from .stream import Entry

log = logging.getLogger("venue.exchange")

JOURNAL_KIND = "commands"
Publish = Callable[[Sequence[Entry]], None]


class Exchange:
    """The core (order entry, matching, risk) behind its sequencer and journal."""

    PROGRESS_SECONDS = 2.0   # a long replay logs its progress this often

    def __init__(self, config: ExchangeConfig, data_dir: Path, *,
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.config = config
        risk_config = config.risk_config()
        self.risk = RiskEngine(risk_config)
        self.engine = Engine(
            [Instrument(i.symbol, i.tick_size, i.lot_size, i.reference_price)
             for i in config.instruments.values()],
            market_protection_bps=risk_config.market_protection_bps, risk=self.risk.check,
            self_trade_prevention=self.risk.self_trade_prevention())
        self.risk.touch = touch_of(self.engine)
        self.order_entry = OrderEntry(self.engine, self.accounts_of, self._default_account,
                                      risk=self.risk)
        journal_path = Path(config.journal_path)
        if not journal_path.is_absolute():
            journal_path = data_dir / journal_path
        self.journal_path = journal_path
        self.journal: Journal | None = None
        self.sequencer: Sequencer | None = None
        self.clock = clock
        # Where each durable batch goes (the event stream); set by the composition module.
        self.publish: Publish | None = None
        # The order-entry sessions by id, and the firm each belongs to.
        self.session_ids: set[str] = set()
        self._firm_of_session: dict[str, FirmConfig] = {}
        self.commands = 0
        self._expiry_pending = False
        # The date of the last end of day seen; None until the first timer tick, so a
        # start after the end-of-day time does not expire the day's orders at once.
        self._last_end_of_day: dt.date | None = None

    # -- sessions ----------------------------------------------------------------

    def add_session(self, session_id: str, comp_id: str) -> None:
        """An order-entry session whose counterparty is ``comp_id``: its orders are
        for the accounts of the firm that owns that CompID."""
        self.session_ids.add(session_id)
        firm = self.config.firm_of_comp_id(comp_id)
        if firm is None:
            log.warning("%s: CompID %s belongs to no firm in %s: its orders will be rejected",
                        session_id, comp_id, self.config.source)
        else:
            self._firm_of_session[session_id] = firm

    def firm_of(self, session_id: str) -> FirmConfig | None:
        return self._firm_of_session.get(session_id)

    def accounts_of(self, session_id: str) -> tuple[str, ...]:
        firm = self._firm_of_session.get(session_id)
        return firm.accounts if firm is not None else ()

    def _default_account(self, session_id: str) -> str | None:
        firm = self._firm_of_session.get(session_id)
        return firm.default_account if firm is not None else None

    # -- journal -------------------------------------------------------------------

    def recover(self, replayed: Publish | None = None) -> int:
        """Replay the journal into the core (nothing is sent to sessions) and open it
        for appending; returns the number of commands replayed. ``replayed``, if
        given, receives the replayed entries in order, in batches."""
        n, last_seq = self.replay(replayed)
        end = self.journal_path.stat().st_size if self.journal_path.exists() else 0
        self.journal = Journal(self.journal_path, kind=JOURNAL_KIND,
                               schema_version=SCHEMA_VERSION, fsync=self.config.fsync,
                               end=end or None)
        self.sequencer = Sequencer(self.journal, last_seq + 1, self.clock)
        return n

    def replay(self, replayed: Publish | None = None, batch: int = 1000) -> tuple[int, int]:
        """Run every command of the journal through the core; (commands, last seq)."""
        last_seq = 0
        n = 0
        t0 = time.perf_counter()
        next_progress = t0 + self.PROGRESS_SECONDS
        process = self.order_entry.process
        pending: list[Entry] = []
        for stamped in replay(self.journal_path, Command, kind=JOURNAL_KIND,
                              schema_version=SCHEMA_VERSION):
            events, reports = process(stamped.command, stamped.ts)
            last_seq = stamped.seq
            n += 1
            if not n % 8192 and time.perf_counter() >= next_progress:
                elapsed = time.perf_counter() - t0
                log.info("journal %s: replaying, %d commands so far (%.0f/s, %d open orders)",
                         self.journal_path, n, n / elapsed, len(self.engine.orders))
                next_progress += self.PROGRESS_SECONDS
            if replayed is not None:
                pending.append(Entry(last_seq, stamped.ts, stamped.command, events, reports))
                if len(pending) >= batch:
                    replayed(pending)
                    pending = []
        if pending and replayed is not None:
            replayed(pending)
        if n:
            log.info("journal %s: replayed %d commands in %.3f s (%d open orders)",
                     self.journal_path, n, time.perf_counter() - t0, len(self.engine.orders))
        return n, last_seq

    @property
    def last_seq(self) -> int:
        """The sequence number of the last command sequenced (0: none yet)."""
        return self.sequencer.next_seq - 1 if self.sequencer is not None else 0

    def submit(self, command: Command) -> None:
        """Sequence a command; it takes effect at the next flush."""
        assert self.sequencer is not None, "recover() first"
        self.sequencer.submit(command)

    @property
    def pending(self) -> int:
        return self.sequencer.pending if self.sequencer is not None else 0

    def flush(self) -> int:
        """Make the batch durable, run it through the core and publish its entries."""
        sequencer = self.sequencer
        if sequencer is None or not sequencer.pending:
            return 0
        batch = sequencer.commit()
        self._expiry_pending = False
        process = self.order_entry.process
        entries = []
        for stamped in batch:
            events, reports = process(stamped.command, stamped.ts)
            entries.append(Entry(stamped.seq, stamped.ts, stamped.command, events, reports))
        self.commands += len(batch)
        if self.publish is not None:
            self.publish(entries)
        return len(batch)

    def on_timer(self, now_ns: int) -> None:
        """Submit the time-driven commands that are due: GTD expiry, end of day."""
        expiry = self.order_entry.next_gtd_expiry()
        if expiry is not None and expiry <= now_ns and not self._expiry_pending:
            self._expiry_pending = True
            self.submit(ExpireGTDOrders(now_ns))
        eod = self.config.end_of_day
        if eod is not None:
            now = dt.datetime.fromtimestamp(now_ns / 1e9, dt.UTC)
            today, past_eod = now.date(), now.time() >= eod
            if self._last_end_of_day is None:
                # First tick: a start after today's end of day does not expire at once.
                self._last_end_of_day = today if past_eod else today - dt.timedelta(days=1)
            if past_eod and self._last_end_of_day != today:
                self._last_end_of_day = today
                self.submit(EndTradingDay())

    def kill(self, scope: str, name: str, on: bool = True) -> None:
        """Turn the kill switch of a firm, account or session on (its open orders are
        cancelled, new orders and replaces refused) or off; journaled like an order."""
        known = {"firm": self.config.firms, "account": self.risk.ledger.firm,
                 "session": self.session_ids}
        if scope not in known:
            raise ValueError(f"kill switch scope must be firm, account or session, not {scope!r}")
        if name not in known[scope]:
            raise ValueError(f"unknown {scope} {name!r}")
        self.submit(KillSwitch(scope, name, on))

    def close(self) -> None:
        if self.journal is not None:
            self.flush()
            self.journal.close()
