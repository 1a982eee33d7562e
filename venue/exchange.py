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
import gc
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any

import msgspec

from matching.constants import HALTED, PHASE_NAMES
from matching.engine import Engine
from matching.instruments import Instrument
from persistence.journal import JournalCorrupt
from persistence.segments import (
    JournalIncomplete,
    SegmentedJournal,
    first_seq_of,
    segment_files,
)
from persistence.sequencer import Sequenced, Sequencer, replay_at
from persistence.snapshots import (
    SnapshotError,
    SnapshotFile,
    SnapshotHeader,
    snapshots,
    write_snapshot,
)
from risk.checks import RiskEngine, touch_of

from . import snapshot as core_state
from .commands import (
    SCHEMA_VERSION,
    CancelOnDisconnect,
    Command,
    EndTradingDay,
    ExpireGTDOrders,
    KillSwitch,
    TradingPhase,
)
from .config import ExchangeConfig, FirmConfig
from .orderentry import OrderEntry
from .stream import Entry

if TYPE_CHECKING:
    from metrics.latency import Stages

log = logging.getLogger("venue.exchange")

JOURNAL_KIND = "commands"
SNAPSHOT_KIND = "core"
SNAPSHOT_DIR = "snapshots"      # in the data directory
Publish = Callable[[Sequence[Entry]], None]


class SnapshotMismatch(Exception):
    """A snapshot whose journal position does not hold the command after it."""


class Exchange:
    """The core (order entry, matching, risk) behind its sequencer and journal."""

    PROGRESS_SECONDS = 2.0   # a long replay logs its progress this often

    def __init__(self, config: ExchangeConfig, data_dir: Path, *,
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.config = config
        self._build_core()
        journal_path = Path(config.journal_path)
        if not journal_path.is_absolute():
            journal_path = data_dir / journal_path
        self.journal_path = journal_path
        self.data_dir = data_dir
        self.snapshot_dir = data_dir / SNAPSHOT_DIR
        self.journal: SegmentedJournal | None = None
        self.sequencer: Sequencer | None = None
        self.clock = clock
        # Where each durable batch goes (the event stream); set by the composition module.
        self.publish: Publish | None = None
        # The order-entry sessions by id, and the firm each belongs to.
        self.session_ids: set[str] = set()
        self.comp_ids: dict[str, str] = {}      # session id -> its counterparty's CompID
        self._firm_of_session: dict[str, FirmConfig] = {}
        self.commands = 0
        self.applied_seq = 0      # the last command applied to the core
        self.last_ts = 0          # its timestamp
        self.snapshot_seq = 0     # the seq of the last snapshot loaded or written (0: none)
        # After load: where the journal goes on after the last command applied
        # (segment file name, offset); None for a journal with no record.
        self.journal_position: tuple[str, int] | None = None
        self._expiry_pending = False
        self._phase_pending: dict[str, int] = {}   # scheduled moves not yet flushed
        self.stages: Stages | None = None   # see time_stages
        self._risk_ns = [0]                 # the risk checks' time in the current command
        # The date of the last end of day seen; None until the first timer tick, so a
        # start after the end-of-day time does not expire the day's orders at once.
        self._last_end_of_day: dt.date | None = None

    def _build_core(self) -> None:
        """The core in its initial state, from the configuration."""
        risk_config = self.config.risk_config()
        self.risk = RiskEngine(risk_config)
        self.engine = Engine(
            [Instrument(i.symbol, i.tick_size, i.lot_size, i.reference_price)
             for i in self.config.instruments.values()],
            market_protection_bps=risk_config.market_protection_bps, risk=self.risk.check,
            self_trade_prevention=self.risk.self_trade_prevention())
        self.risk.touch = touch_of(self.engine)
        self.order_entry = OrderEntry(self.engine, self.accounts_of, self._default_account,
                                      risk=self.risk)

    # -- sessions ----------------------------------------------------------------

    def add_session(self, session_id: str, comp_id: str) -> None:
        """An order-entry session whose counterparty is ``comp_id``: its orders are
        for the accounts of the firm that owns that CompID."""
        self.session_ids.add(session_id)
        self.comp_ids[session_id] = comp_id
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

    def config_digest(self) -> str:
        """The digest of the configuration the core runs under (see venue.snapshot)."""
        firms = self._firm_of_session
        return core_state.config_digest(
            self.config, [(s, firms[s].name if s in firms else "") for s in self.session_ids])

    # -- journal -------------------------------------------------------------------

    def recover(self, replayed: Publish | None = None, *,
                snapshot_limit: int | None = None) -> int:
        """Bring the core to the end of the journal (nothing is sent to sessions) and
        open the journal for appending; returns the number of commands replayed (see
        :meth:`load`)."""
        n = self.load(replayed, snapshot_limit=snapshot_limit)
        files = segment_files(self.journal_path)
        position = self.journal_position
        # Where the last segment ends, when the replay read to it (else it is read).
        end = (position[1] if position is not None and files and files[-1].name == position[0]
               else None)
        self.journal = SegmentedJournal(self.journal_path, kind=JOURNAL_KIND,
                                        schema_version=SCHEMA_VERSION,
                                        fsync=self.config.fsync,
                                        segment_bytes=self.config.journal_segment_bytes,
                                        end=end)
        self.sequencer = Sequencer(self.journal, self.applied_seq + 1, self.clock)
        return n

    def load(self, replayed: Publish | None = None, *,
             snapshot_limit: int | None = None, until: int | None = None,
             repair: bool = True) -> int:
        """Bring the core to the end of the journal (or to command ``until``); the
        number of commands replayed.

        The newest usable snapshot is loaded first and only the journal after it is
        replayed; without one, the whole journal is. ``snapshot_limit``: the highest
        seq a snapshot may cover (the caller needs every entry after what it has: the
        event log's end). ``replayed``, if given, receives the replayed entries in
        order, in batches. ``repair``: cut a torn last record off the journal (False:
        a reader beside a running exchange, which owns the files)."""
        if until is not None:
            snapshot_limit = until if snapshot_limit is None else min(snapshot_limit, until)
        for snap in snapshots(self.snapshot_dir):
            if not self._usable(snap, snapshot_limit):
                continue
            try:
                self._load(snap)
                return self.replay(replayed, start=(snap.header.journal_file,
                                                    snap.header.journal_offset),
                                   after=snap.seq, until=until, repair=repair)
            except (SnapshotError, SnapshotMismatch, JournalCorrupt, FileNotFoundError,
                    msgspec.DecodeError, ValueError) as e:
                log.warning("snapshot %s not used: %s; trying the one before it",
                            snap.path.name, e)
                self._build_core()
                gc.unfreeze()   # what the attempt froze is garbage now (cycles included)
                self.snapshot_seq = self.applied_seq = self.last_ts = 0
        return self.replay(replayed, until=until, repair=repair)

    def _usable(self, snap: SnapshotFile, limit: int | None) -> bool:
        """Whether ``snap`` may be loaded, from its header alone (the reason is logged)."""
        problem = self.unusable(snap, limit)
        if problem is not None:
            log.warning("snapshot %s not used: %s", snap.path.name, problem)
        return problem is None

    def unusable(self, snap: SnapshotFile, limit: int | None = None) -> str | None:
        """Why ``snap`` cannot be loaded, from its header alone (None: it can)."""
        h = snap.header
        problem = None
        if h.kind != SNAPSHOT_KIND or h.schema_version != core_state.CORE_STATE_VERSION:
            problem = (f"it holds {h.kind!r} state of version {h.schema_version}, this "
                       f"exchange reads {SNAPSHOT_KIND!r} version "
                       f"{core_state.CORE_STATE_VERSION}")
        elif h.config_digest != self.config_digest():
            problem = ("the exchange configuration (exchange.toml, or the sessions' firms) "
                       "changed since it was taken; the journal is replayed under the "
                       "new one")
        elif limit is not None and h.seq > limit:
            problem = f"it reaches seq {h.seq}, past what the event log holds ({limit})"
        return problem

    def _load(self, snap: SnapshotFile) -> None:
        t0 = time.perf_counter()
        payload = snap.payload()
        gc_was_enabled = gc.isenabled()
        # Millions of objects that live on: no collection meanwhile (the decode alone
        # took 1.2 s instead of 0.7 s at a million orders with the collector on).
        gc.disable()
        try:
            state = core_state.decode(payload)
            core_state.restore(self, state)
            seq, ts = state.seq, state.ts
            del state
            # ... and none of them later: the first collection after the restore
            # walked them all (0.9 s at a million orders), and so did every full one
            # during the replay after it (1.5 s).
            gc.freeze()
        finally:
            if gc_was_enabled:
                gc.enable()
        self.snapshot_seq = self.applied_seq = seq
        self.last_ts = ts
        log.info("snapshot %s: seq %d, %d open orders, %.1f MB, loaded in %.3f s",
                 snap.path.name, seq, len(self.engine.orders), len(payload) / 1e6,
                 time.perf_counter() - t0)

    def replay(self, replayed: Publish | None = None, batch: int = 1000, *,
               start: tuple[str, int] | None = None, after: int = 0,
               until: int | None = None, repair: bool = True) -> int:
        """Run the commands of the journal through the core: all of them, or those from
        ``start`` (a segment's file name and the offset of a record in it), which must
        begin with command ``after`` + 1 (a SnapshotMismatch otherwise), up to command
        ``until`` if given; returns how many ran."""
        n = 0
        t0 = time.perf_counter()
        next_progress = t0 + self.PROGRESS_SECONDS
        process = self.order_entry.process
        pending: list[Entry] = []
        if start is not None:
            segment = self.journal_path.with_name(start[0])
            size = segment.stat().st_size if segment.exists() else 0
            if size < start[1]:
                raise SnapshotMismatch(f"the journal segment {start[0]} ends at offset "
                                       f"{size}, before the snapshot's position {start[1]} "
                                       "(it lost its tail, or is not the journal the "
                                       "snapshot follows)")
        else:
            files = segment_files(self.journal_path)
            if files and (first := first_seq_of(files[0], self.journal_path)) != 1:
                raise JournalIncomplete(
                    f"{files[0]}: the journal begins at seq {first}: its earlier segments "
                    "were deleted (retention_hours) and no usable snapshot covers them, "
                    "so the state cannot be rebuilt; restore the snapshots or the "
                    "segments from a backup")
        self.journal_position = start
        expected = after + 1
        for segment, end, stamped in replay_at(self.journal_path, Command, kind=JOURNAL_KIND,
                                               schema_version=SCHEMA_VERSION, start=start,
                                               repair=repair):
            if stamped.seq != expected:
                if n:
                    raise JournalIncomplete(f"{segment}: seq {stamped.seq} follows seq "
                                            f"{expected - 1} (a segment is missing?)")
                if start is None:
                    raise JournalIncomplete(f"{segment}: the journal's first record is seq "
                                            f"{stamped.seq}, not 1")
                raise SnapshotMismatch(f"the journal record at {start[0]}:{start[1]} is "
                                       f"seq {stamped.seq}, not {after + 1}")
            expected = stamped.seq + 1
            if until is not None and stamped.seq > until:
                break
            events, reports = process(stamped.command, stamped.ts)
            self.applied_seq = stamped.seq
            self.last_ts = stamped.ts
            self.journal_position = (segment.name, end)
            n += 1
            if not n % 65536:
                # What the replay builds lives on too: out of the collector's view.
                gc.freeze()
            if not n % 8192 and time.perf_counter() >= next_progress:
                elapsed = time.perf_counter() - t0
                log.info("journal %s: replaying, %d commands so far (%.0f/s, %d open orders)",
                         segment.name, n, n / elapsed, len(self.engine.orders))
                next_progress += self.PROGRESS_SECONDS
            if replayed is not None:
                pending.append(Entry(stamped.seq, stamped.ts, stamped.command, events,
                                     reports))
                if len(pending) >= batch:
                    replayed(pending)
                    pending = []
        if pending and replayed is not None:
            replayed(pending)
        if n or start is None:
            log.info("journal %s: replayed %d commands%s in %.3f s (%d open orders)",
                     self.journal_path.name, n, f" after seq {after}" if after else "",
                     time.perf_counter() - t0, len(self.engine.orders))
        return n

    def apply(self, stamped: Sequenced[Command]) -> None:
        """Run one journaled command through the core, as replay does (for a process
        that follows the journal another one writes)."""
        if stamped.seq != self.applied_seq + 1:
            raise SnapshotMismatch(f"the journal gives seq {stamped.seq} after "
                                   f"{self.applied_seq}")
        self.order_entry.process(stamped.command, stamped.ts)
        self.applied_seq = stamped.seq
        self.last_ts = stamped.ts

    def write_snapshot(self, position: tuple[str, int] | None = None) -> Path | None:
        """Write a snapshot of the core as it is now (None: nothing new since the last
        one); ``position``: where the journal goes on after it (default: the end of the
        journal this exchange writes). It stalls the order path for as long as it
        takes: at a clean shutdown, or in a process of its own that follows the journal
        (venue.snapshotter)."""
        if position is None:
            if self.journal is None:
                return None
            position = (self.journal.path.name, self.journal.end)
        if self.applied_seq == 0 or self.applied_seq == self.snapshot_seq:
            return None
        t0 = time.perf_counter()
        state = core_state.capture(self, self.applied_seq, self.last_ts)
        payload = core_state.encode(state)
        header = SnapshotHeader(0, SNAPSHOT_KIND, core_state.CORE_STATE_VERSION, state.seq,
                                state.ts, position[0], position[1], state.config_digest,
                                time.time_ns(), 0, 0)
        path = write_snapshot(self.snapshot_dir, header, payload, fsync=self.config.fsync)
        self.snapshot_seq = state.seq
        log.info("snapshot %s: seq %d, %d open orders, %.1f MB, written in %.3f s",
                 path.name, state.seq, len(self.engine.orders), len(payload) / 1e6,
                 time.perf_counter() - t0)
        return path

    @property
    def last_seq(self) -> int:
        """The sequence number of the last command sequenced (0: none yet)."""
        return self.sequencer.next_seq - 1 if self.sequencer is not None else self.applied_seq

    def journal_writable(self) -> bool:
        """Whether the journal is open and its file can be written (readiness)."""
        return self.journal is not None and os.access(self.journal.path, os.W_OK)

    def submit(self, command: Command) -> None:
        """Sequence a command; it takes effect at the next flush."""
        assert self.sequencer is not None, "recover() first"
        self.sequencer.submit(command)

    @property
    def pending(self) -> int:
        return self.sequencer.pending if self.sequencer is not None else 0

    def time_stages(self, stages: Stages) -> None:
        """Observe the journal commit, each risk check and each command through the
        core (risk excluded) in ``stages`` from now on (metrics)."""
        self.stages = stages
        check = self.risk.check
        spent = self._risk_ns

        def timed_check(command: Any, order: Any) -> Any:
            started = perf_counter_ns()
            verdict = check(command, order)
            spent[0] += perf_counter_ns() - started
            return verdict

        self.engine.risk = timed_check

    def flush(self) -> int:
        """Make the batch durable, run it through the core and publish its entries."""
        sequencer = self.sequencer
        if sequencer is None or not sequencer.pending:
            return 0
        stages = self.stages
        if stages is not None:
            started = perf_counter_ns()
            batch = sequencer.commit()
            stages.journal.observe(perf_counter_ns() - started)
        else:
            batch = sequencer.commit()
        self._expiry_pending = False
        self._phase_pending.clear()
        process = self.order_entry.process
        entries = []
        if stages is not None:
            entries = self._run_timed(batch, stages)
        else:
            for stamped in batch:
                events, reports = process(stamped.command, stamped.ts)
                entries.append(Entry(stamped.seq, stamped.ts, stamped.command, events,
                                     reports))
        self.commands += len(batch)
        self.applied_seq = batch[-1].seq
        self.last_ts = batch[-1].ts
        assert self.journal is not None
        self.journal.roll_if_full(sequencer.next_seq)
        if self.publish is not None:
            self.publish(entries)
        return len(batch)

    def _run_timed(self, batch: Sequence[Sequenced[Command]], stages: Stages
                   ) -> list[Entry]:
        """The batch through the core, each command's risk check and the rest timed."""
        process = self.order_entry.process
        risk, matching, spent = stages.risk, stages.matching, self._risk_ns
        entries = []
        for stamped in batch:
            spent[0] = 0
            started = perf_counter_ns()
            events, reports = process(stamped.command, stamped.ts)
            elapsed = perf_counter_ns() - started
            if spent[0]:
                risk.observe(spent[0])
            matching.observe(elapsed - spent[0])
            entries.append(Entry(stamped.seq, stamped.ts, stamped.command, events, reports))
        return entries

    def on_timer(self, now_ns: int) -> None:
        """Submit the time-driven commands that are due: GTD expiry, end of day, the
        schedule's phase changes."""
        self._follow_schedule(now_ns)
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

    def scheduled_phase(self, symbol: str, now_ns: int) -> int | None:
        """The phase the schedule puts ``symbol`` in at ``now_ns`` (None: no schedule)."""
        schedule = self.config.schedules.get(symbol)
        return schedule.phase_at_ns(now_ns) if schedule is not None else None

    def _follow_schedule(self, now_ns: int) -> None:
        # By level: every scheduled instrument not in its phase is moved, unless the
        # operator halted it (``resume`` brings it back to the schedule).
        for symbol, schedule in self.config.schedules.items():
            book = self.engine.books.get(symbol)
            if book is None or book.phase == HALTED:
                continue
            phase = schedule.phase_at_ns(now_ns)
            if book.phase != phase and self._phase_pending.get(symbol) != phase:
                self._phase_pending[symbol] = phase
                self.submit(TradingPhase(symbol, phase))

    def cancel_on_disconnect_after_crash(self) -> list[str]:
        """CancelOnDisconnect for every session with CancelOnDisconnect=Y that the
        journal leaves logged on (the exchange died before logging it out); which."""
        left = list(self.order_entry.logged_on)
        for session_id in left:
            self.submit(CancelOnDisconnect(session_id))
        self.flush()
        return left

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

    def set_phase(self, symbol: str, phase: int) -> None:
        """Move ``symbol`` ("" = every instrument) to trading phase ``phase``
        (``matching.constants``); journaled like an order."""
        if phase not in PHASE_NAMES:
            raise ValueError(f"unknown phase {phase!r}")
        if symbol and symbol not in self.engine.books:
            raise ValueError(f"unknown symbol {symbol!r}")
        self.submit(TradingPhase(symbol, phase))

    def close(self, snapshot: bool = True) -> None:
        """Run what is submitted, close the journal and (``snapshot``) write a
        snapshot, so that the next start replays nothing."""
        if self.journal is not None:
            self.flush()
            self.journal.close()
            if snapshot and self.config.snapshot_on_close:
                self.write_snapshot()
