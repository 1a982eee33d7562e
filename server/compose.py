"""The composition module: every piece of the running exchange is built and wired here.

Nothing else knows how the parts fit together. The FIX engine (``fixserver``) moves
bytes and runs sessions; the venue (``venue``) turns their messages into commands and
sequences them into the core; the core's event stream goes to the consumers
(``consumers``). This module creates the sessions with their stores, validators and
applications, the exchange, the admin interface and the timers, and connects the
acceptor's one hook to the exchange's group commit.
"""

from __future__ import annotations

import gc
import logging
import signal
import time
from pathlib import Path

import trio

from fixserver import dictionary
from fixserver.acceptor import Acceptor
from fixserver.connection import SessionRegistry
from fixserver.echo import EchoApplication
from fixserver.session import Application, Session
from fixserver.settings import SessionConfig
from fixserver.store import FileStore, MemoryStore
from fixserver.validation import Validator
from venue import admin
from venue.exchange import DropCopyApplication, Exchange, ExchangeApplication

log = logging.getLogger("server")


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


def build_sessions(configs: list[SessionConfig], cfg_dir: Path, data_dir: Path,
                   exchange: Exchange | None = None) -> list[Session]:
    """Create each configured session with its store, validator and application."""
    apps: dict[str, Application] = {"echo": EchoApplication()}
    if exchange is not None:
        apps["exchange"] = ExchangeApplication(exchange)
        apps["dropcopy"] = DropCopyApplication()
    sessions = []
    for config in configs:
        if config.application not in apps:
            raise ConfigError(f"{config.session_id}: Application={config.application} "
                              "needs the exchange configuration")
        validator = None
        if config.use_data_dictionary:
            validator = Validator(
                _dictionary_for(config, cfg_dir),
                check_fields_out_of_order=config.validate_fields_out_of_order,
                check_fields_have_values=config.validate_fields_have_values,
                check_user_defined_fields=config.validate_user_defined_fields,
            )
        store_dir = Path(config.file_store_path)
        if not store_dir.is_absolute():
            store_dir = data_dir / store_dir
        name = f"{config.begin_string}-{config.sender_comp_id}-{config.target_comp_id}"
        store = FileStore(store_dir, name) if config.persist_messages else MemoryStore()
        session = Session(config, store, apps[config.application], validator)
        sessions.append(session)
        if exchange is not None and config.application in ("exchange", "dropcopy"):
            exchange.add_session(session)
    return sessions



async def drive_exchange(exchange: Exchange) -> None:
    """Once a second: time-driven commands (GTD expiry, end of day) and their flush.
    Orders are flushed by the connection that read them (the acceptor's hook)."""
    while True:
        exchange.on_timer(time.time_ns())
        exchange.flush()
        # Orders live long: move survivors out of the collector's view so a full
        # collection never walks a million resting orders (pauses of ~0.5 s otherwise).
        gc.freeze()
        await trio.sleep(1.0)


async def run(registry: SessionRegistry, exchange: Exchange | None = None,
              task_status: trio.TaskStatus[list[tuple[str, int]]] = trio.TASK_STATUS_IGNORED,
              *, admin_socket: Path | None = None) -> None:
    """Serve until SIGINT/SIGTERM, then log sessions out and stop. With an exchange
    and ``admin_socket``, the operator's admin interface listens there (admin.py)."""
    acceptor = Acceptor(registry, on_read_batch=exchange.flush if exchange is not None else None)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            if exchange is not None:
                nursery.start_soon(drive_exchange, exchange)
                if admin_socket is not None:
                    # Its reports reach the sockets as drive_exchange's do: Session.send
                    # wakes the connection's writer. Listening before the FIX ports.
                    await nursery.start(admin.serve, exchange, admin_socket)
            addresses = await nursery.start(acceptor.serve)
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
