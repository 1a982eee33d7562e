"""The exchange: FIX order entry through the sequencer and journal into the core,
and ExecutionReports back out to their sessions and to drop copies.

Flow of one NewOrderSingle::

    ExchangeApplication.on_message   D -> order-entry command tuple (requests.py)
    Exchange.submit                  stamped by the sequencer, buffered in the journal
    Exchange.flush                   one write + fsync for the batch, then per command:
    OrderEntry.process               checks, matching engine, events -> Reports
    Exchange._fan_out                Report -> ExecutionReport to the owner session,
                                     a copy to each drop-copy session of its firm

``flush`` runs once per batch (the acceptor calls it after each pass of reads),
so nothing about a command leaves before its journal record is durable. On
start-up ``recover`` replays the journal through the same OrderEntry without
sending, which rebuilds every order, ClOrdID and fill.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from pathlib import Path

from fixserver import dictionary
from fixserver.codec import Message
from fixserver.session import BusinessReject, Session, UnsupportedMessageType
from fixserver.validation import Layout
from matching.engine import Engine
from matching.instruments import Instrument
from persistence.journal import Journal
from persistence.sequencer import Sequencer, replay
from risk.accounts import AccountView
from risk.checks import RiskEngine, touch_of
from risk.throttle import Throttle

from . import orderentry as OE
from . import positions, requests
from .config import ExchangeConfig, FirmConfig
from .report_writer import ReportWriter

log = logging.getLogger("fixserver.exchange")


class Exchange:
    """The exchange core with its journal, and the sessions it reports to."""

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
        self.order_entry = OE.OrderEntry(self.engine, self.accounts_of, self._default_account,
                                         risk=self.risk)
        journal_path = Path(config.journal_path)
        if not journal_path.is_absolute():
            journal_path = data_dir / journal_path
        self.journal_path = journal_path
        self.journal: Journal | None = None
        self.sequencer: Sequencer | None = None
        self.clock = clock
        self.sessions: dict[str, Session] = {}
        self._firm_of_session: dict[str, FirmConfig] = {}
        self._dropcopy_sessions: list[tuple[Session, tuple[str, ...]]] = []
        self._writers: dict[bytes, ReportWriter] = {}
        self.commands = 0
        self._expiry_pending = False
        # The date of the last end of day seen; None until the first timer tick, so a
        # start after the end-of-day time does not expire the day's orders at once.
        self._last_end_of_day: dt.date | None = None

    # -- wiring ------------------------------------------------------------------

    def add_session(self, session: Session) -> None:
        """Register an order-entry or drop-copy session (by its counterparty CompID)."""
        comp_id = session.config.target_comp_id
        self.sessions[session.session_id] = session
        if session.begin_string not in self._writers:
            dd = (session.validator.dd if session.validator is not None
                  else dictionary.for_begin_string(session.begin_string))
            self._writers[session.begin_string] = ReportWriter(dd)
        if session.config.application == "dropcopy":
            dc = self.config.dropcopy.get(comp_id)
            firms = dc.firms if dc is not None else ()
            if dc is None:
                log.warning("%s: drop-copy session not in exchange.toml [[dropcopy]]: it will "
                            "receive nothing", session.session_id)
            self._dropcopy_sessions.append((session, firms))
            return
        firm = self.config.firm_of_comp_id(comp_id)
        if firm is None:
            log.warning("%s: CompID %s belongs to no firm in %s: its orders will be rejected",
                        session.session_id, comp_id, self.config.source)
        else:
            self._firm_of_session[session.session_id] = firm

    def accounts_of(self, session_id: str) -> tuple[str, ...]:
        firm = self._firm_of_session.get(session_id)
        return firm.accounts if firm is not None else ()

    def _default_account(self, session_id: str) -> str | None:
        firm = self._firm_of_session.get(session_id)
        return firm.default_account if firm is not None else None

    # -- journal -------------------------------------------------------------------

    def recover(self) -> int:
        """Replay the journal into the core (nothing is sent); open it for appending."""
        last_seq = 0
        n = 0
        t0 = time.perf_counter()
        process = self.order_entry.process
        for seq, ts, command in replay(self.journal_path):
            process(command, ts)
            last_seq = seq
            n += 1
        if n:
            log.info("journal %s: replayed %d commands in %.3f s (%d open orders)",
                     self.journal_path, n, time.perf_counter() - t0, len(self.engine.orders))
        end = self.journal_path.stat().st_size if self.journal_path.exists() else 0
        self.journal = Journal(self.journal_path, fsync=self.config.fsync, end=end)
        self.sequencer = Sequencer(self.journal, last_seq + 1, self.clock)
        return n

    def submit(self, command: tuple) -> None:
        """Sequence a command; it takes effect at the next flush."""
        assert self.sequencer is not None, "recover() first"
        self.sequencer.submit(command)

    @property
    def pending(self) -> int:
        return self.sequencer.pending if self.sequencer is not None else 0

    def flush(self) -> int:
        """Make the batch durable, then run it through the core and send the reports."""
        if self.sequencer is None or not self.sequencer.pending:
            return 0
        batch = self.sequencer.commit()
        self._expiry_pending = False
        process = self.order_entry.process
        fan_out = self._fan_out
        for _seq, ts, command in batch:
            fan_out(process(command, ts))
        self.commands += len(batch)
        return len(batch)

    def on_timer(self, now_ns: int) -> None:
        """Submit the time-driven commands that are due: GTD expiry, end of day."""
        expiry = self.order_entry.next_gtd_expiry()
        if expiry is not None and expiry <= now_ns and not self._expiry_pending:
            self._expiry_pending = True
            self.submit((OE.EXPIRE_GTD, now_ns))
        eod = self.config.end_of_day
        if eod is not None:
            now = dt.datetime.fromtimestamp(now_ns / 1e9, dt.UTC)
            today, past_eod = now.date(), now.time() >= eod
            if self._last_end_of_day is None:
                # First tick: a start after today's end of day does not expire at once.
                self._last_end_of_day = today if past_eod else today - dt.timedelta(days=1)
            if past_eod and self._last_end_of_day != today:
                self._last_end_of_day = today
                self.submit((OE.END_OF_DAY,))

    def kill(self, scope: str, name: str, on: bool = True) -> None:
        """Turn the kill switch of a firm, account or session on (its open orders are
        cancelled, new orders and replaces refused) or off; journaled like an order."""
        known = {"firm": self.config.firms, "account": self.risk.ledger.firm,
                 "session": self.sessions}
        if scope not in known:
            raise ValueError(f"kill switch scope must be firm, account or session, not {scope!r}")
        if name not in known[scope]:
            raise ValueError(f"unknown {scope} {name!r}")
        self.submit((OE.KILL, scope, name, on))

    def close(self) -> None:
        if self.journal is not None:
            self.flush()
            self.journal.close()

    # -- fan-out ---------------------------------------------------------------------

    def _fan_out(self, reports: list[OE.Report]) -> None:
        sessions = self.sessions
        writers = self._writers
        for r in reports:
            session = sessions.get(r.session)
            if session is None:
                log.error("report for unknown session %s dropped", r.session)
                continue
            msg_type, body = writers[session.begin_string].write(r)
            session.send(msg_type, body)
            if self._dropcopy_sessions and r.kind == OE.EXECUTION_REPORT:
                self._drop_copy(r, session)

    def _drop_copy(self, r: OE.Report, owner: Session) -> None:
        firm = self._firm_of_session.get(owner.session_id)
        firm_name = firm.name if firm is not None else ""
        routing = [(115, owner.sender_comp_id), (128, owner.target_comp_id)]
        for dc, firms in self._dropcopy_sessions:
            if "*" in firms or firm_name in firms:
                msg_type, body = self._writers[dc.begin_string].write(r)
                dc.send(msg_type, body, routing)


class ExchangeApplication:
    """Order entry on sessions with Application=exchange."""

    HANDLERS = {b"D": requests.new_order, b"F": requests.cancel, b"G": requests.replace,
                b"H": requests.status, b"q": requests.mass_cancel}
    # Every application message accepted: the orders above, and RequestForPositions,
    # a query answered at once rather than sequenced.
    MSG_TYPES = frozenset((*HANDLERS, b"AN"))

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        # At the edge, before sequencing: a throttled message is never journaled, so the
        # wall clock here does not make replay differ.
        self.throttle = Throttle(exchange.config.max_messages_per_second, 1_000_000_000)
        self.position_reports = 0

    def on_logon(self, session: Session) -> None:
        pass

    def on_logout(self, session: Session) -> None:
        if session.config.cancel_on_disconnect:
            log.info("%s: cancel on disconnect", session.session_id)
            self.exchange.submit((OE.DISCONNECTED, session.session_id))

    def on_message(self, session: Session, msg: Message, layout: Layout | None) -> None:
        if msg.msg_type not in self.MSG_TYPES:
            raise UnsupportedMessageType(msg.msg_type)
        if self.throttle.check(session.session_id, self.exchange.clock()) is not None:
            raise BusinessReject(0, f"throttled: more than {self.throttle.max_messages} "
                                 "messages in one second on this session",
                                 msg.get(11) or msg.get(710))   # ClOrdID, else PosReqID
        handler = self.HANDLERS.get(msg.msg_type)
        if handler is None:
            self._positions(session, msg)
            return
        self.exchange.submit(handler(msg, session.session_id))

    def _positions(self, session: Session, msg: Message) -> None:
        if session.begin_string < b"FIX.4.4":
            raise UnsupportedMessageType(msg.msg_type)   # AN/AO/AP are FIX 4.4
        exchange = self.exchange
        exchange.flush()   # the answer reflects every order received before it
        risk = exchange.risk
        self.position_reports += 1

        def view_of(account: str) -> AccountView | None:
            return risk.account(account) if account in risk.ledger.firm else None

        def reference(symbol: str) -> int:
            inst = risk.instruments.get(symbol)
            return inst.reference_price if inst is not None else 0

        today = dt.datetime.fromtimestamp(exchange.clock() / 1e9, dt.UTC).strftime("%Y%m%d")
        for msg_type, body in positions.answer(
                msg, f"P{self.position_reports}", exchange.accounts_of(session.session_id),
                view_of, risk.mark, reference, today.encode()):
            session.send(msg_type, body)


class DropCopyApplication:
    """Drop-copy sessions only receive: any application message is refused."""

    def on_logon(self, session: Session) -> None:
        pass

    def on_logout(self, session: Session) -> None:
        pass

    def on_message(self, session: Session, msg: Message, layout: Layout | None) -> None:
        # BusinessRejectReason 6 (Not authorized) exists from FIX 4.3; 4.2 has 0 (Other).
        reason = 6 if session.begin_string >= b"FIX.4.3" else 0
        raise BusinessReject(reason, "Not authorized: a drop-copy session is read only",
                             msg.get(11))
