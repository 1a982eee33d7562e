"""The audit trail in files, for the tests: the exchange of the shipped configuration
(``tests.venue.stream_kit.server``: fsync off, a clock that ticks 1 ms a call) with
its trail in ``<data-dir>/audit/``, waiting for the trail to catch up, reading it
back, and a second scripted day for the event types the first one has not.

``trading_day()`` (the stream kit's) makes ORDER_PLACED, ORDER_ACCEPTED,
ORDER_REJECTED, ORDER_REPLACED, ORDER_CANCELLED, ORDER_EXPIRED, TRADE_EXECUTED,
SETTLEMENT, CANCEL_REQUESTED, REPLACE_REQUESTED, MASS_CANCEL, KILL_SWITCH and
TRADING_DAY_ENDED; ``other_day()`` makes the rest: logons and logouts, phase changes
with an auction uncross, a stop order triggered, cancel and replace rejects, a mass
cancel refused, an unsupported Side, a status request (no record) and, on an
exchange whose BROKER1 has decrement-and-cancel self-trade prevention
(``server(..., stp=True)``), a restatement.

Run as a script (``python -m tests.audit.audit_kit DATA_DIR FROM TO [--kill]``) it
submits commands FROM..TO-1 of ``trading_day()`` three per group commit, waits until
the trail has them all and exits. With ``--kill`` it waits only until the trail has
the first half, then SIGKILLs itself right after the last flush, whatever the
trail's writer is doing (a torn line, part of an entry, nothing yet).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import signal
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from audit.chain import parse
from audit.files import read_lines
from consumers.audit import AUDIT_DIR, AuditTrail
from fixserver.settings import load_sessions
from matching.constants import BUY, CONTINUOUS, HALTED, OPENING_AUCTION, SELL, STOP
from server.compose import Server, build_server
from tests.venue.stream_kit import B1, B2, SECOND, T0, run, trading_day
from tests.venue.support import (
    SHIPPED_EXCHANGE_TOML,
    SHIPPED_SESSIONS_CFG,
    cancel,
    mass_cancel,
    new,
    px,
    replace,
    status,
)
from venue import orderentry as OE
from venue.commands import (
    CancelOnDisconnect,
    Command,
    OperatorAction,
    SessionLogon,
    SessionLogout,
    TradingPhase,
)
from venue.config import AuditConfig, load_exchange_config

AUDIT = AUDIT_DIR   # the trail's folder in the data directory
STP_LINE = 'self_trade_prevention = "decrement_and_cancel"\n'


def server(data_dir: Path, start_ns: int = T0, stp: bool = False,
           audit: AuditConfig | None = None) -> Server:
    """The shipped exchange on ``data_dir`` with its audit trail in files (or as
    ``audit`` says); with ``stp``, BROKER1's accounts have decrement-and-cancel
    self-trade prevention."""
    toml = SHIPPED_EXCHANGE_TOML
    if stp:
        data_dir.mkdir(parents=True, exist_ok=True)
        toml = data_dir / "exchange.toml"
        text = SHIPPED_EXCHANGE_TOML.read_text()
        assert 'name = "BROKER1"\n' in text
        toml.write_text(text.replace('name = "BROKER1"\n', 'name = "BROKER1"\n' + STP_LINE, 1))
    config = dataclasses.replace(load_exchange_config(toml), fsync=False)
    if audit is not None:
        config = dataclasses.replace(config, audit=audit)
    clock = itertools.count(start_ns, 1_000_000)
    return build_server(load_sessions(SHIPPED_SESSIONS_CFG), SHIPPED_SESSIONS_CFG.parent,
                        data_dir, config, clock=lambda: next(clock))


def wait_for_trail(srv: Server, timeout: float = 30.0) -> None:
    """Until the trail has written every entry the exchange has made."""
    assert srv.stream is not None and srv.exchange is not None
    deadline = time.monotonic() + timeout
    while srv.stream.status()[AuditTrail.name]["position"] != srv.exchange.last_seq:
        assert time.monotonic() < deadline, f"the audit trail is behind: {srv.stream.status()}"
        time.sleep(0.01)


def write_day(data_dir: Path, commands: list[Command], start_ns: int = T0, batch: int = 3,
              stp: bool = False) -> Path:
    """Run ``commands`` on a server of their own, wait for the trail, close: the trail's
    directory."""
    srv = server(data_dir, start_ns, stp)
    run(srv, commands, batch)
    wait_for_trail(srv)
    srv.close()
    return data_dir / AUDIT


def restart(data_dir: Path, start_ns: int = T0) -> Path:
    """Start the server on ``data_dir`` again, with no new command: the trail catches
    up from the event log. The trail's directory."""
    return write_day(data_dir, [], start_ns)


def lines(trail: Path) -> list[bytes]:
    """Every stored line of the trail (a directory or a file), oldest first."""
    return [line for _, _, line in read_lines(trail)]


def records(trail: Path) -> list[dict[str, Any]]:
    """Every record of the trail, prices as ``Decimal``."""
    return [parse(line) for line in lines(trail)]


def decimal(fixed_point: int) -> Decimal:
    """A fixed-point price as the exact decimal it stands for (no code under test)."""
    return Decimal(fixed_point) / 10_000


def other_day() -> list[Command]:
    """The commands that make the event types ``trading_day()`` does not (run them with
    ``stp=True``); see the module docstring."""
    return [
        SessionLogon(B1),
        SessionLogon(B2),
        TradingPhase("MSFT", OPENING_AUCTION),
        new(B1, "a1", SELL, 10, px("420.00"), symbol="MSFT"),
        new(B2, "a2", BUY, 10, px("420.00"), symbol="MSFT"),
        TradingPhase("MSFT", CONTINUOUS),                      # the uncross: a2 buys a1
        new(B2, "st1", BUY, 5, 0, symbol="AAPL", ord_type=STOP, stop_price=px("190.50")),
        new(B1, "t1", SELL, 5, px("190.50"), symbol="AAPL"),
        new(B2, "t2", BUY, 5, px("190.50"), symbol="AAPL"),    # trades at 190.50: st1 fires
        cancel(B2, "nc", orig="nope", symbol="AAPL"),           # unknown order
        replace(B2, "nr", "nope", 10, px("190.00"), symbol="AAPL"),
        mass_cancel(B1, "mc9", "9"),                            # an unsupported type
        status(B1, "t1", symbol="AAPL", side=SELL),             # no record
        new(B2, "bad", "7", 10, px("190.00"), symbol="AAPL", error_code=OE.UNSUPPORTED,
            error_text="Side (54) 7 is not supported"),
        new(B1, "r1", SELL, 10, px("190.00"), symbol="AAPL"),
        new(B1, "r2", BUY, 4, px("190.00"), symbol="AAPL"),     # self-trade: r1 restated
        TradingPhase("", HALTED),
        CancelOnDisconnect(B2),
        SessionLogout(B1, "logout requested"),
        OperatorAction("SET_SEQUENCE_NUMBERS", B1, "next_target_seq=5 (were 9:4)"),
    ]


def main(argv: list[str]) -> int:
    data_dir, first, last = Path(argv[0]), int(argv[1]), int(argv[2])
    srv = server(data_dir, start_ns=T0 + first * SECOND)
    assert srv.exchange is not None
    commands = trading_day()[first:last]
    if "--kill" in argv:
        half = len(commands) // 2
        run(srv, commands[:half])
        wait_for_trail(srv)
        run(srv, commands[half:])
        os.kill(os.getpid(), signal.SIGKILL)
    run(srv, commands)
    wait_for_trail(srv)
    srv.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
