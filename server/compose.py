"""The composition module: every piece of the running exchange is built and wired here.

Nothing else knows how the parts fit together. The FIX engine (``fixserver``) moves
bytes and runs sessions; the venue (``venue``) turns their messages into commands and
sequences them into the core; the core's event stream goes to the consumers
(``consumers``). This module creates the sessions with their stores, validators and
applications, the exchange, the event log and the event stream with every
consumer, the admin interface and the timers, and connects the acceptor's one
hook to the exchange's group commit.

To add a consumer of the event stream: write it in ``consumers/`` (an in-process
``Consumer`` or a ``DurableConsumer``, see ``venue/stream.py``) and subscribe it in
``build_server`` below.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import trio

from audit.records import Parties
from consumers.audit import AuditTrail, SpoolWatch
from consumers.bodies import ReportBodies
from consumers.database import DatabaseWriter, Seed
from consumers.delivery import DeliveryMark
from consumers.dropcopy import DropCopy
from consumers.executions import ExecutionReports
from consumers.feed import (
    MulticastFeed,
    RetransmissionServer,
    SnapshotServer,
    multicast_sender,
)
from consumers.marketdata import MarketData
from consumers.metrics import TradingMetrics
from consumers.tape import Tape
from fixserver import auth, dictionary
from fixserver.acceptor import Acceptor, PortOptions
from fixserver.connection import SessionRegistry
from fixserver.echo import EchoApplication
from fixserver.filelog import FileLogWriter, Rotation
from fixserver.session import Application, Session
from fixserver.settings import SessionConfig
from fixserver.store import FileStore, MemoryStore
from fixserver.validation import Validator
from marketdata.book import engine_levels, engine_phases
from marketdata.feed import session_name
from marketdata.security_list import security_ids
from metrics.latency import Stages
from persistence.eventlog import EventLog
from persistence.marks import SeqMark
from venue import admin
from venue.application import DropCopyApplication, ExchangeApplication, MarketDataApplication
from venue.config import AuditConfig, ExchangeConfig, PostgresConfig
from venue.exchange import Exchange
from venue.stream import EVENT_LOG_VERSION, Consumer, DurableConsumer, Entry, EventStream

from .consumer_process import AuditSetup, ConsumerProcess, DatabaseSetup
from .observe import Observatory
from .retention import JournalRetention, keep_journal
from .snapshots import SnapshotterProcess

log = logging.getLogger("server")

DELIVERED_MARK = "delivered.seq"   # in the data directory (consumers/delivery.py)


class ConfigError(Exception):
    """A configuration problem the operator must fix; the message names it."""


def _dictionary_for(config: SessionConfig, cfg_dir: Path) -> dictionary.DataDictionary:
    if config.data_dictionary is None:
        return dictionary.for_begin_string(config.begin_string.encode())
    path = Path(config.data_dictionary)
    for candidate in (path, cfg_dir / path, dictionary.DICTIONARY_DIR / path.name):
        if candidate.exists():
            dd = dictionary.load(candidate.resolve())
            if dd.begin_string.decode() != config.begin_string:
                raise ConfigError(f"{config.session_id}: DataDictionary {candidate} is for "
                                  f"{dd.begin_string.decode()}")
            return dd
    raise ConfigError(f"{config.session_id}: DataDictionary {config.data_dictionary} not found")


def in_data_dir(path: str, data_dir: Path) -> Path:
    """A path of sessions.cfg (FileStorePath, FileLogPath): relative to the data directory."""
    p = Path(path)
    return p if p.is_absolute() else data_dir / p


def build_sessions(configs: list[SessionConfig], cfg_dir: Path, data_dir: Path,
                   exchange: Exchange | None = None,
                   file_logs: FileLogWriter | None = None,
                   market_data: MarketData | None = None) -> list[Session]:
    """Create each configured session with its store, validator and application; a
    session with FileLogPath gets its message and event log from ``file_logs``;
    ``market_data`` serves MarketDataRequests."""
    apps: dict[str, Application] = {"echo": EchoApplication()}
    if exchange is not None:
        apps["exchange"] = ExchangeApplication(exchange, market_data)
        apps["dropcopy"] = DropCopyApplication()
        if market_data is not None:
            apps["marketdata"] = MarketDataApplication(exchange, market_data)
    sessions = []
    for config in configs:
        if config.application not in apps:
            raise ConfigError(f"{config.session_id}: Application={config.application} "
                              "needs the exchange configuration")
        if config.password_hash is not None:
            try:
                auth.PasswordHash.parse(config.password_hash)
            except auth.HashFormatError as e:
                raise ConfigError(f"{config.session_id}: bad PasswordHash: {e}") from None
        validator = None
        if config.use_data_dictionary:
            validator = Validator(
                _dictionary_for(config, cfg_dir),
                check_fields_out_of_order=config.validate_fields_out_of_order,
                check_fields_have_values=config.validate_fields_have_values,
                check_user_defined_fields=config.validate_user_defined_fields,
                allow_unknown_msg_fields=config.allow_unknown_msg_fields,
                check_group_field_order=config.validate_unordered_group_fields,
            )
        store_dir = in_data_dir(config.file_store_path, data_dir)
        name = f"{config.begin_string}-{config.sender_comp_id}-{config.target_comp_id}"
        store = FileStore(store_dir, name) if config.persist_messages else MemoryStore()
        session = Session(config, store, apps[config.application], validator)
        if config.file_log_path is not None and file_logs is not None:
            session.message_log = file_logs.open(in_data_dir(config.file_log_path, data_dir),
                                                 name, Rotation.of(config))
        sessions.append(session)
        if exchange is not None and config.application == "exchange":
            exchange.add_session(session.session_id, config.target_comp_id)
    return sessions


def event_log_path(exchange: Exchange) -> Path:
    """The event log lives beside the journal it is derived from."""
    return exchange.journal_path.with_name("events.log")


@dataclass
class Server:
    """The assembled exchange, everything but the sockets: sessions, the exchange,
    the event log and the event stream with its consumers."""

    sessions: list[Session]
    exchange: Exchange | None = None
    event_log: EventLog | None = None
    stream: EventStream | None = None
    replayed: int = 0     # commands replayed from the journal at start-up
    file_logs: FileLogWriter | None = None  # the sessions' message and event logs
    delivered: SeqMark | None = None        # how far the reports reached the stores
    market_data: MarketData | None = None   # FIX market data (consumers/marketdata.py)
    feed: MulticastFeed | None = None       # the binary feed (consumers/feed.py)
    retransmission: RetransmissionServer | None = None
    feed_snapshots: SnapshotServer | None = None
    redelivered: int = 0  # replayed entries whose reports were checked against the stores
    audit: AuditTrail | None = None          # the audit trail in a thread (consumers/audit.py)
    audit_process: ConsumerProcess | None = None   # or in a process (server/consumer_process.py)
    audit_watch: SpoolWatch | None = None    # its lag and spool limit
    database: DatabaseWriter | None = None   # the PostgreSQL writer in a thread
    database_process: ConsumerProcess | None = None   # or in a process
    observatory: Observatory | None = None   # metrics and alerts (server/observe.py)

    def consumer_processes(self) -> list[ConsumerProcess]:
        """The durable consumers that run in child processes."""
        return [c for c in (self.audit_process, self.database_process) if c is not None]

    def close(self) -> None:
        """Run what is submitted and close the journal, write the rest of the event
        log and stop the durable feeds, close the log and the stores, then write the
        rest of the sessions' message and event logs."""
        if self.exchange is not None:
            self.exchange.close()
        if self.feed is not None:
            self.feed.end_of_session()
        if self.retransmission is not None:
            self.retransmission.close()
        if self.feed_snapshots is not None:
            self.feed_snapshots.close()
        if self.stream is not None:
            self.stream.close()
        if self.audit is not None:     # its feed has stopped with the stream's
            self.audit.close()
        if self.database is not None:
            self.database.close()
        if self.event_log is not None:
            self.event_log.close()
        for session in self.sessions:
            session.store.close()
        if self.delivered is not None:
            self.delivered.close()
        if self.file_logs is not None:  # last: everything above may still send
            self.file_logs.close()


def build_server(configs: list[SessionConfig], cfg_dir: Path, data_dir: Path,
                 exchange_config: ExchangeConfig | None,
                 durable: Sequence[DurableConsumer] = (),
                 clock: Callable[[], int] = time.time_ns,
                 consumer_processes: bool = False) -> Server:
    """Build every session and, with an exchange configuration, the exchange,
    recovered from its snapshot and journal, with the event stream and its consumers.
    ``clock`` is the sequencer's (ns since the epoch). The audit trail and the
    PostgreSQL writer are threads of this process, or with ``consumer_processes``
    child processes that ``run`` starts (``server/consumer_process.py``: what the
    server does)."""
    exchange = (Exchange(exchange_config, data_dir, clock=clock)
                if exchange_config is not None else None)
    file_logs = FileLogWriter()
    market_data = (MarketData(exchange_config.instruments)
                   if exchange_config is not None else None)
    sessions = build_sessions(configs, cfg_dir, data_dir, exchange, file_logs, market_data)
    if exchange is None:
        server = Server(sessions, file_logs=file_logs)
    else:
        server = _exchange_server(exchange, sessions, data_dir, durable, market_data,
                                  consumer_processes)
        server.file_logs = file_logs
    if file_logs.logs:
        file_logs.start()  # once the build succeeded: a failed start leaves no thread
    return server


def report_consumers(exchange: Exchange, sessions: list[Session]
                     ) -> tuple[ExecutionReports, DropCopy]:
    """The consumers that store reports in the sessions: to the owner, and the copies."""
    owners = [s for s in sessions if s.config.application == "exchange"]
    bodies = ReportBodies()     # a copy in the owner's FIX version reuses its encoding
    return (ExecutionReports(owners, bodies=bodies),
            DropCopy(_drop_copies(sessions, exchange.config), owners,
                     {s.session_id: firm.name for s in owners
                      if (firm := exchange.firm_of(s.session_id)) is not None},
                     bodies=bodies))


def _exchange_server(exchange: Exchange, sessions: list[Session], data_dir: Path,
                     durable: Sequence[DurableConsumer],
                     market_data: MarketData | None = None,
                     consumer_processes: bool = False) -> Server:
    """Recover the exchange, put back any report a crash kept from the stores, connect
    the consumers and cancel the orders of sessions a crash left logged on."""
    reporters = report_consumers(exchange, sessions)
    mark_path = data_dir / DELIVERED_MARK
    # A data directory from before the mark existed: its stores hold what they hold.
    mark = SeqMark(mark_path) if mark_path.exists() else None
    event_log, replayed, redelivered = _recovered(exchange, sessions, data_dir, reporters,
                                                  mark.value if mark is not None else None)
    if mark is None:
        mark = SeqMark(mark_path, initial=exchange.last_seq)
    if market_data is not None:
        market_data.load(engine_levels(exchange.engine), exchange.last_seq,
                         engine_phases(exchange.engine),
                         exchange.order_entry.stats)
    feed = binary_feed(exchange)
    cfg = audit_config(exchange)
    audit = child = None
    if cfg.enabled and consumer_processes:
        child = ConsumerProcess(AuditSetup(str(data_dir), str(event_log.path), cfg,
                                        *audit_parties(exchange, sessions).tables()))
    elif cfg.enabled:
        audit = AuditTrail.configured(cfg, audit_parties(exchange, sessions), data_dir)
        durable = [*durable, audit]
    pg = postgres_config(exchange)
    database = database_child = None
    if pg.dsn and consumer_processes:
        database_child = ConsumerProcess(DatabaseSetup(str(event_log.path), pg,
                                                       Seed.of(exchange.config)))
    elif pg.dsn:
        database = DatabaseWriter(pg.dsn, Seed.of(exchange.config), pg.retention_days)
        durable = [*durable, database]
    stream = connect_consumers(exchange, event_log, reporters, mark, durable, market_data,
                               feed)
    server = Server(sessions, exchange, event_log, stream, replayed, delivered=mark,
                    redelivered=redelivered, market_data=market_data, feed=feed,
                    audit=audit, audit_process=child, database=database,
                    database_process=database_child)
    server.observatory = observe(server, reporters[0])
    for process in server.consumer_processes():
        stream.attach(process.feed)
    if cfg.enabled:
        server.audit_watch = SpoolWatch(cfg.spool_limit, cfg.when_spool_full)
        for session in sessions:
            if isinstance(session.app, ExchangeApplication):
                session.app.order_gate = server.audit_watch.refusal
    if feed is not None:
        mc = exchange.config.multicast
        assert mc is not None
        try:
            server.retransmission = RetransmissionServer(feed, mc.interface,
                                                         mc.retransmission_port)
            server.feed_snapshots = SnapshotServer(feed, mc.interface, mc.snapshot_port)
        except OSError as e:
            server.close()
            raise ConfigError(f"[marketdata.multicast]: cannot listen on {mc.interface} "
                              f"(retransmission port {mc.retransmission_port}, snapshot "
                              f"port {mc.snapshot_port}): {e}") from None
    _cancel_orders_left_by_a_crash(exchange)
    return server


def observe(server: Server, reports: ExecutionReports) -> Observatory:
    """Metrics: the trading counters and the tape on the event stream, the stage
    timers in each part of the order path (``[metrics] stage_timing``; the acceptor's
    are given in ``run``), and the observatory that reads them all."""
    exchange, stream = server.exchange, server.stream
    assert exchange is not None and stream is not None
    stages, trading, tape = Stages(), TradingMetrics(), Tape()
    stream.subscribe(trading)
    stream.subscribe(tape)
    if exchange.config.stage_timing:
        exchange.time_stages(stages)
        reports.stages = stages
        for session in server.sessions:
            session.stages = stages
    return Observatory(server, stages, trading, tape, exchange.config.alerts)


def journal_retention(server: Server) -> JournalRetention | None:
    """Retention of ``server``'s journal, with every reader that still needs some of
    it: the report stores, the event log and its durable consumers."""
    if server.exchange is None:
        return None
    needs: dict[str, Callable[[], int]] = {}
    if server.delivered is not None:
        needs["the report stores (delivered.seq)"] = lambda mark=server.delivered: mark.value
    if server.event_log is not None:
        needs["the event log"] = lambda log=server.event_log: log.last_seq
    for feed in server.stream.feeds if server.stream is not None else ():
        needs[f"consumer {feed.name}"] = lambda feed=feed: feed.position
    return JournalRetention(server.exchange, needs)


def binary_feed(exchange: Exchange) -> MulticastFeed | None:
    """The multicast feed of exchange.toml's ``[marketdata.multicast]`` (None: off),
    starting from the recovered book. Its session is named after the start time, so
    a receiver sees a restart as a new session."""
    mc = exchange.config.multicast
    if mc is None:
        return None
    ids = security_ids(exchange.config.instruments)
    start = dt.datetime.fromtimestamp(exchange.clock() / 1e9, dt.UTC)
    feed = MulticastFeed(ids, multicast_sender(mc.group, mc.port, mc.interface, mc.ttl),
                         session_name(start.strftime("%y%m%d%H%M")), retain=mc.retain)
    feed.load(engine_levels(exchange.engine),
              engine_phases(exchange.engine))
    return feed


def audit_config(exchange: Exchange, env: Mapping[str, str] | None = None
                 ) -> AuditConfig:
    """``[audit]`` of exchange.toml with the environment's overrides."""
    return exchange.config.audit.with_environment(dict(os.environ if env is None else env))


def postgres_config(exchange: Exchange, env: Mapping[str, str] | None = None
                    ) -> PostgresConfig:
    """``[postgres]`` of exchange.toml with FIXSERVER_PG_DSN, when it is set."""
    return exchange.config.postgres.with_environment(dict(os.environ if env is None else env))


def audit_parties(exchange: Exchange, sessions: Sequence[Session]) -> Parties:
    """Who is who for the audit records: the firm of every account and session."""
    config = exchange.config
    return Parties(
        {account: firm.name for firm in config.firms.values() for account in firm.accounts},
        {s.session_id: (s.config.target_comp_id,
                        firm.name if (firm := exchange.firm_of(s.session_id)) else "")
         for s in sessions})


async def watch_audit(server: Server) -> None:
    """Once a second: how far behind the audit trail is (``SpoolWatch``)."""
    stream = server.stream
    assert stream is not None and server.audit_watch is not None
    while True:
        feed = stream.feed(AuditTrail.name)
        if feed is not None:
            lag = stream.lag(feed, time.time_ns())
            server.audit_watch.update(lag.entries, lag.seconds, time.monotonic())
        await trio.sleep(1.0)


LAG_LOG_SECONDS = 10.0   # how often a database writer that is behind says so


async def watch_database(server: Server) -> None:
    """Log how far behind the PostgreSQL writer is, while it is behind (records and
    seconds), and when it has caught up."""
    stream = server.stream
    assert stream is not None
    behind = False
    while True:
        await trio.sleep(LAG_LOG_SECONDS)
        feed = stream.feed(DatabaseWriter.name)
        if feed is None:
            continue
        lag = stream.lag(feed, time.time_ns())
        if lag.entries and (lag.failures or lag.seconds > LAG_LOG_SECONDS):
            behind = True
            log.warning("postgres writer: %d entries behind (%.1f s)%s", lag.entries,
                        lag.seconds, f", {lag.failures} failures in a row (PostgreSQL "
                        "unreachable?)" if lag.failures else "")
        elif behind and not lag.entries:
            behind = False
            log.info("postgres writer: caught up")


def connect_consumers(exchange: Exchange, event_log: EventLog | None,
                      reporters: Sequence[Consumer], mark: SeqMark | None,
                      durable: Sequence[DurableConsumer] = (),
                      market_data: MarketData | None = None,
                      feed: MulticastFeed | None = None) -> EventStream:
    """The event stream of ``exchange`` with every consumer: the one place they are
    registered. ``event_log`` (None: no durable consumers) gets every batch first;
    ``reporters`` store the reports in the sessions, then ``mark`` records it;
    ``market_data`` follows (a broker hears of its order before the market does)."""
    stream = EventStream(event_log, event_log, event_log.last_seq if event_log else 0)
    if feed is not None:
        # First: its sendto puts the packets on the wire at once, while the reports
        # below only reach their sockets once the batch is published, so no order of
        # subscription makes the feed wait for them; placed after them it waited
        # ~1.4 ms for a batch of 64 orders to be encoded (bench_feed).
        stream.subscribe(feed)
    for reporter in reporters:
        stream.subscribe(reporter)
    if mark is not None:
        stream.subscribe(DeliveryMark(mark))   # after every consumer that stores reports
    if market_data is not None:
        stream.subscribe(market_data)
    for consumer in durable:
        stream.subscribe_durable(consumer)
    exchange.publish = stream.publish
    return stream


def _recovered(exchange: Exchange, sessions: list[Session], data_dir: Path,
               reporters: Sequence[ExecutionReports | DropCopy], delivered: int | None
               ) -> tuple[EventLog, int, int]:
    """Replay the journal into the exchange, completing the event log on the way and
    storing the reports that ``delivered`` (the mark; None: no mark yet) says may be
    missing; the log, the commands replayed and the entries redelivered."""
    path = event_log_path(exchange)
    event_log = EventLog(path, Entry, EVENT_LOG_VERSION)
    redelivered = 0

    def replayed_batch(entries: Sequence[Entry]) -> None:
        nonlocal redelivered
        event_log.fill(entries)
        if delivered is not None and entries[-1].seq > delivered:
            missing = [e for e in entries if e.seq > delivered]
            redelivered += len(missing)
            for reporter in reporters:
                reporter.redeliver(missing)

    # A snapshot past the log's end would leave a gap in it, and one past the mark
    # would skip reports that may be missing: the replay must cover both.
    limit = event_log.last_seq if delivered is None else min(event_log.last_seq, delivered)
    replayed = exchange.recover(replayed=replayed_batch, snapshot_limit=limit)
    if redelivered:
        log.info("after seq %d (the last whose reports were all stored), %d commands were "
                 "replayed: their reports and drop copies that were not stored are now",
                 delivered, redelivered)
    if event_log.last_seq <= exchange.last_seq:
        return event_log, replayed, redelivered
    # The log reaches past the journal: the journal lost its tail (fsync off and a
    # power cut). The journal is the truth; the log is made again from it.
    log.error("%s reaches seq %d but the journal only %d (did the journal lose its tail "
              "with fsync off?): rebuilding the event log from the journal", path,
              event_log.last_seq, exchange.last_seq)
    event_log.close()
    path.rename(path.with_name(f"{path.name}.ahead-of-journal"))
    event_log = EventLog(path, Entry, EVENT_LOG_VERSION)
    shadow = Exchange(exchange.config, data_dir, clock=exchange.clock)
    for session in sessions:
        if session.config.application == "exchange":
            shadow.add_session(session.session_id, session.config.target_comp_id)
    shadow.replay(replayed=event_log.fill)
    return event_log, replayed, redelivered


def _cancel_orders_left_by_a_crash(exchange: Exchange) -> None:
    """CancelOnDisconnect for the sessions with CancelOnDisconnect=Y that were logged
    on when the exchange died (their logon is journaled, their logout was not)."""
    for session_id in exchange.cancel_on_disconnect_after_crash():
        log.warning("%s was logged on when the exchange stopped without logging it out: "
                    "its orders are cancelled (CancelOnDisconnect=Y)", session_id)


def _drop_copies(sessions: list[Session], config: ExchangeConfig
                 ) -> list[tuple[Session, tuple[str, ...]]]:
    """Each drop-copy session with the firms it follows (exchange.toml [[dropcopy]])."""
    copies = []
    for session in sessions:
        if session.config.application != "dropcopy":
            continue
        dc = config.dropcopy.get(session.config.target_comp_id)
        if dc is None:
            log.warning("%s: drop-copy session not in exchange.toml [[dropcopy]]: it will "
                        "receive nothing", session.session_id)
        copies.append((session, dc.firms if dc is not None else ()))
    return copies



async def drive_exchange(exchange: Exchange, market_data: MarketData | None = None,
                         feed: MulticastFeed | None = None) -> None:
    """Once a second: time-driven commands (GTD expiry, end of day) and their flush,
    and market data for subscribers that were behind. Orders are flushed by the
    connection that read them (the acceptor's hook)."""
    while True:
        exchange.on_timer(time.time_ns())
        exchange.flush()
        if market_data is not None:
            market_data.catch_up()
        if feed is not None:
            feed.heartbeat()
        # Orders live long: move survivors out of the collector's view so a full
        # collection never walks a million resting orders (pauses of ~0.5 s otherwise).
        gc.freeze()
        await trio.sleep(1.0)


async def write_event_log(stream: EventStream) -> None:
    """Write the published entries into the event log whenever some are waiting:
    this task runs once the reader that published them has yielded, i.e. after the
    batch's reports went to their sockets."""
    pending = trio.Event()

    def unwritten() -> None:
        pending.set()

    stream.on_unwritten = unwritten
    try:
        while True:
            await pending.wait()
            pending = trio.Event()
            stream.write_log()
    finally:
        stream.on_unwritten = None


async def run(registry: SessionRegistry, exchange: Exchange | None = None,
              task_status: trio.TaskStatus[list[tuple[str, int]]] = trio.TASK_STATUS_IGNORED,
              *, admin_socket: Path | None = None, stream: EventStream | None = None,
              ports: Mapping[int, PortOptions] | None = None,
              snapshots: bool = True, retention: JournalRetention | None = None,
              market_data: MarketData | None = None, feed: MulticastFeed | None = None,
              server: Server | None = None, http: bool = True) -> None:
    """Serve until SIGINT/SIGTERM, then log sessions out and stop. With an exchange
    and ``admin_socket``, the operator's admin interface listens there (admin.py);
    with ``stream``, its event log is written off the order path; with ``snapshots``
    and a snapshot interval, a snapshotter process follows the journal once the ports
    are open (server/snapshots.py); with ``retention``, the journal segments nothing
    needs are deleted as they age (server/retention.py); ``market_data`` catches its
    slow subscribers up on the timer; with ``server`` (the built server), its
    consumers' child processes run, its audit trail's lag and its alerts are watched,
    and (``http``) its HTTP listener serves ``[http]`` (server/http_service.py). ``ports``:
    TLS and socket options per port
    (``fixserver.acceptor.port_options``)."""
    observatory = server.observatory if server is not None else None
    timed = observatory is not None and exchange is not None and exchange.config.stage_timing
    acceptor = Acceptor(registry, on_read_batch=exchange.flush if exchange is not None else None,
                        ports=ports, stages=observatory.stages if timed else None,
                        busy_poll=exchange.config.busy_poll_us / 1e6 if exchange else 0.0)
    if observatory is not None:
        observatory.acceptor = acceptor
    snapshotter = (SnapshotterProcess(exchange) if exchange is not None and snapshots
                   and exchange.config.snapshot_interval > 0 else None)
    snapshot = (_snapshot_request(exchange, snapshotter) if exchange is not None else None)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            if stream is not None:
                nursery.start_soon(write_event_log, stream)
                if server is not None and server.audit_watch is not None:
                    nursery.start_soon(watch_audit, server)
                if server is not None and (server.database or server.database_process):
                    nursery.start_soon(watch_database, server)
                for process in server.consumer_processes() if server is not None else ():
                    nursery.start_soon(process.run)
            if exchange is not None:
                nursery.start_soon(drive_exchange, exchange, market_data, feed)
                if admin_socket is not None:
                    # Its reports reach the sockets as drive_exchange's do: Session.send
                    # wakes the connection's writer. Listening before the FIX ports.
                    await nursery.start(partial(
                        admin.serve, exchange, admin_socket, snapshot=snapshot))
            if observatory is not None and server is not None:
                # Imported here: the HTTP stack (starlette, hypercorn) loads only to serve.
                from .http_service import http_config, serve_http
                nursery.start_soon(observatory.watch)
                if http:
                    await nursery.start(serve_http, server, http_config(server), snapshot)
            addresses = await nursery.start(acceptor.serve)
            if snapshotter is not None:
                nursery.start_soon(snapshotter.run)
            if retention is not None:
                children = server.consumer_processes() if server is not None else []

                def wakes() -> list[trio.Event]:
                    return ([snapshotter.written] if snapshotter is not None else []) + [
                        c.advanced for c in children]
                nursery.start_soon(keep_journal, retention, wakes)
            task_status.started(addresses)
            async for signum in signals:
                log.info("received %s: shutting down", signal.Signals(signum).name)
                acceptor.stop_accepting()
                acceptor.shutdown()
                with trio.move_on_after(2):
                    while acceptor.connection_count:
                        await trio.sleep(0.05)
                nursery.cancel_scope.cancel()
                break


def _snapshot_request(exchange: Exchange, snapshotter: SnapshotterProcess | None
                      ) -> Callable[[], Awaitable[dict[str, Any]]]:
    """The admin interface's ``snapshot``: by the snapshotter when there is one, else
    in this process (which stalls trading while it writes)."""
    async def snapshot() -> dict[str, Any]:
        if snapshotter is not None:
            return await snapshotter.snapshot(timeout=600)
        exchange.flush()
        path = exchange.write_snapshot()
        return {"event": "snapshot", "new": path is not None, "seq": exchange.snapshot_seq,
                "file": path.name if path is not None else None}
    return snapshot
