"""Command line: ``fixserver --sessions FILE --data-dir DIR``."""

from __future__ import annotations

import argparse
import gc
import logging
import resource
import sys
from functools import partial
from pathlib import Path

import trio

from consumers.audit import AUDIT_DIR
from fixserver.acceptor import ListenerConfigError, port_options
from fixserver.connection import SessionRegistry
from fixserver.settings import SettingsError, load_sessions
from persistence.journal import JournalCorrupt, JournalFormatError
from venue import admin
from venue.config import ExchangeConfigError, load_exchange_config

from . import logs
from .compose import (
    ConfigError,
    audit_config,
    build_server,
    in_data_dir,
    journal_retention,
    run,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SESSIONS = REPO_ROOT / "sessions.cfg"

log = logging.getLogger("fixserver")


def _default_exchange_file(sessions_file: Path) -> Path:
    beside = sessions_file.resolve().parent / "exchange.toml"
    return beside if beside.exists() else REPO_ROOT / "exchange.toml"


def _raise_open_files_limit() -> None:
    """Every connection is a descriptor: use what the hard limit allows (the usual soft
    default of 1024 is too small for a busy exchange)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    target = min(target, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            log.info("open files limit raised from %d to %d", soft, target)
        except (ValueError, OSError) as e:
            log.warning("open files limit stays at %d: %s", soft, e)


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["replay"]:
        # Imported here: replay reads this module's defaults, and the server's start
        # need not load it.
        from .replay import main as replay
        return replay(argv[1:])
    if argv[:1] == ["feed"]:
        from .feed_client import main as feed
        return feed(argv[1:])
    if argv[:1] == ["audit"]:
        from .audit_cli import main as audit
        return audit(argv[1:])
    if argv[:1] == ["db"]:
        from .db_cli import main as db
        return db(argv[1:])
    parser = argparse.ArgumentParser(prog="fixserver", description=__doc__)
    parser.add_argument("--sessions", type=Path, default=DEFAULT_SESSIONS,
                        help="QuickFIX-style session settings (default: the shipped sessions.cfg)")
    parser.add_argument("--exchange", type=Path, default=None,
                        help="instruments, firms and accounts (default: exchange.toml next to "
                             "the sessions file, else the shipped one)")
    parser.add_argument("--data-dir", type=Path, default=Path("var"),
                        help="where stores, journal and audit files live (default: ./var)")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--log-format", choices=logs.FORMATS, default="text",
                        help="text lines (default) or one JSON object per line, with "
                             "the fields of the record (seq, session, cl_ord_id, ...)")
    args = parser.parse_args(argv)
    logs.configure(args.log_level, args.log_format)
    try:
        configs = load_sessions(args.sessions)
        if not configs:
            raise ConfigError(f"{args.sessions}: no [SESSION] defined")
        # TLS contexts and per-port agreement first: a bad certificate fails at once,
        # not after a journal replay.
        ports = port_options(configs, args.sessions.resolve().parent)
        args.data_dir.mkdir(parents=True, exist_ok=True)
        exchange_config = None
        if any(c.application in ("exchange", "dropcopy") for c in configs):
            exchange_path = args.exchange or _default_exchange_file(args.sessions)
            exchange_config = load_exchange_config(exchange_path)
            log.info("exchange configuration %s: %d instruments, %d firms", exchange_path,
                     len(exchange_config.instruments), len(exchange_config.firms))
        server = build_server(configs, args.sessions.resolve().parent, args.data_dir,
                              exchange_config, consumer_processes=True)
        gc.freeze()  # the replayed state is long-lived: keep it out of collections
    except (SettingsError, ConfigError, ListenerConfigError, ExchangeConfigError,
            JournalCorrupt, JournalFormatError) as e:
        print(f"fixserver: {e}", file=sys.stderr)
        return 2
    sessions, exchange = server.sessions, server.exchange
    _raise_open_files_limit()
    registry = SessionRegistry(sessions)
    for s in sessions:
        c = s.config
        tls = ports[c.port].tls is not None
        log.info("session %s (Application=%s): connect a %s initiator to %s:%d%s with "
                 "SenderCompID=%s TargetCompID=%s%s", s.session_id, c.application,
                 c.begin_string, "127.0.0.1" if c.address in ("0.0.0.0", "") else c.address,
                 c.port, " over TLS" if tls else "", c.target_comp_id, c.sender_comp_id,
                 " and a Username/Password" if c.username else "")
    for directory in sorted({str(in_data_dir(c.file_log_path, args.data_dir).resolve())
                             for c in configs if c.file_log_path is not None}):
        log.info("message and event logs of the sessions in %s", directory)
    admin_socket = None
    if exchange is not None:
        admin_socket = admin.socket_path(args.data_dir)
        log.info("admin interface (kill switches, balances) on %s: fixserver-admin "
                 "--data-dir %s %s", admin_socket.resolve(), args.data_dir, admin.USAGE)
    if exchange is not None and server.audit_watch is not None:
        cfg = audit_config(exchange)
        if cfg.kafka:
            log.info("audit trail: Kafka %s, topic %s; check it with: fixserver audit verify "
                     "--kafka %s --topic %s", cfg.kafka, cfg.topic, cfg.kafka, cfg.topic)
        else:
            trail = args.data_dir / AUDIT_DIR
            log.info("audit trail: JSON lines in %s; check it with: fixserver audit verify "
                     "--file %s", trail.resolve(), trail)
    if (server.feed is not None and server.retransmission is not None
            and server.feed_snapshots is not None):
        mc = exchange.config.multicast if exchange is not None else None
        assert mc is not None
        log.info("market-data feed: MoldUDP64 session %s to %s:%d (interface %s, ttl %d); "
                 "retransmission requests to %s:%d, snapshots from %s:%d; watch it with: "
                 "fixserver feed --group %s --port %d --top", server.feed.session.decode().strip(),
                 mc.group, mc.port, mc.interface, mc.ttl, *server.retransmission.address,
                 *server.feed_snapshots.address,
                 mc.group, mc.port)
    try:
        trio.run(partial(run, registry, exchange, admin_socket=admin_socket,
                         stream=server.stream, ports=ports,
                         retention=journal_retention(server),
                         market_data=server.market_data, feed=server.feed,
                         server=server))
    except OSError as e:
        print(f"fixserver: cannot listen: {e}", file=sys.stderr)
        return 1
    finally:
        server.close()
    log.info("stopped")
    return 0
