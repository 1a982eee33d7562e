"""A durable consumer for the event-stream tests, and a scripted trading day.

``EntryFile`` keeps every entry it is given as one JSON line in a file, fsynced per
batch; its checkpoint is the last complete line's seq. It is a consumer as the audit
trail or the database will be: nothing of the exchange's, only the stream's
interface. ``fail`` makes it refuse batches (an outage of its store) until cleared.

``fail`` also makes its checkpoint unreadable, as a store that is down would.

``trading_day()`` is a day of journaled commands over the shipped configuration:
resting orders, trades with fees (settlements), a replace chain, cancels, rejects,
a mass cancel, a kill switch, a GTD expiry and the end of the day.

Run as a script (``python -m tests.venue.stream_kit DATA_DIR OUT FROM TO [--kill]``)
it builds the exchange with the composition module and an ``EntryFile`` at OUT,
submits commands FROM..TO-1 of the day one batch of three at a time, waits until
the consumer has them all and exits. With ``--kill`` it waits only until the
consumer has the first half, then SIGKILLs itself right after the last flush,
whatever the consumer's feed is doing: the consumer holds part of what the journal
holds.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import msgspec

from fixserver.settings import load_sessions
from matching.constants import BUY, GTC, GTD, IOC, SELL
from server.compose import Server, build_server
from venue.commands import Command, EndTradingDay, ExpireGTDOrders, KillSwitch
from venue.config import load_exchange_config
from venue.stream import Entry

from .support import SHIPPED_EXCHANGE_TOML, SHIPPED_SESSIONS_CFG, px
from .support import cancel as _cancel
from .support import mass_cancel as _mass_cancel
from .support import new as _new
from .support import replace as _replace

B1 = "FIX.4.4:EXCH->BRK1"
B2 = "FIX.4.2:EXCH->BRK2"
T0 = 1_750_000_000_000_000_000
SECOND = 1_000_000_000
REPO_ROOT = SHIPPED_SESSIONS_CFG.parent


class EntryFile:
    """A durable consumer: one JSON line per entry, fsynced per batch."""

    name = "entry-file"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fail = False
        self.batches = 0
        self.changed = threading.Condition()

    def checkpoint(self) -> int:
        """Called by the feed only (before it writes): a line torn by a crash is
        cut off, as it is not stored, so not in the checkpoint either."""
        if self.fail:
            raise OSError("the store is down")
        return self._last_seq(self._lines(repair=True))

    def stored(self) -> int:
        """The last seq stored, for any thread: never cuts the file, which the
        feed may be writing (a read can see half of its write)."""
        return self._last_seq(self._lines())

    @staticmethod
    def _last_seq(lines: list[bytes]) -> int:
        return msgspec.json.decode(lines[-1], type=Entry).seq if lines else 0

    def _lines(self, repair: bool = False) -> list[bytes]:
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        complete = data[:data.rfind(b"\n") + 1]
        if repair and len(complete) != len(data):
            with open(self.path, "r+b") as f:
                f.truncate(len(complete))
        return complete.splitlines()

    def on_batch(self, entries: Sequence[Entry]) -> None:
        if self.fail:
            raise OSError("the store is down")
        with open(self.path, "ab") as f:
            f.write(b"".join(msgspec.json.encode(e) + b"\n" for e in entries))
            f.flush()
            os.fsync(f.fileno())
        with self.changed:
            self.batches += 1
            self.changed.notify_all()

    def entries(self) -> list[Entry]:
        return [msgspec.json.decode(line, type=Entry) for line in self._lines()]

    def wait_for(self, seq: int, timeout: float = 20.0) -> bool:
        """Wait until the store holds ``seq``."""
        deadline = time.monotonic() + timeout
        while self.stored() < seq:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with self.changed:
                self.changed.wait(min(left, 0.05))
        return True


def trading_day() -> list[Command]:
    """The commands of a day, in order (see the module docstring)."""
    def new(*args: object, symbol: str = "AAPL", **kw: object) -> Command:
        return _new(*args, symbol=symbol, **kw)  # type: ignore[arg-type]

    def replace(*args: object, symbol: str = "AAPL", **kw: object) -> Command:
        return _replace(*args, symbol=symbol, **kw)  # type: ignore[arg-type]

    return [
        new(B1, "s1", SELL, 100, px("190.00")),
        new(B1, "s2", SELL, 50, px("190.10"), account="BRK1-PROP"),
        new(B2, "b1", BUY, 30, px("189.00")),
        new(B2, "b2", BUY, 120, px("190.10")),             # two trades, fees for BROKER2
        new(B1, "m1", BUY, 200, px("420.00"), symbol="MSFT", tif=GTC),
        replace(B1, "m1r", "m1", 150, px("419.50"), symbol="MSFT", tif=GTC),
        replace(B1, "m1r2", "m1r", 140, px("419.50"), symbol="MSFT", tif=GTC),
        new(B2, "x1", BUY, 10, px("115.00"), symbol="XOM"),   # lot 100: rejected
        _cancel(B2, "b1c", orig="b1", symbol="AAPL"),
        new(B2, "i1", BUY, 40, px("190.10"), tif=IOC),        # 30 of s2, the rest cancelled
        new(B1, "j1", BUY, 10, px("240.00"), symbol="JPM"),
        new(B1, "j2", BUY, 10, px("239.00"), symbol="JPM"),
        _mass_cancel(B1, "mc", "1", symbol="JPM"),
        new(B1, "g1", BUY, 10, px("189.00"), tif=GTD, expire_time=T0 + 60 * SECOND),
        new(B2, "k1", SELL, 5, px("22.50"), symbol="INTC"),
        KillSwitch("firm", "BROKER2", True),                  # cancels k1
        new(B2, "k2", SELL, 5, px("22.50"), symbol="INTC"),   # refused: kill switch
        KillSwitch("firm", "BROKER2", False),
        ExpireGTDOrders(T0 + 61 * SECOND),                    # g1 expires
        new(B2, "b3", BUY, 60, px("190.00")),                 # nothing left at 190.00: rests
        new(B1, "s3", SELL, 60, px("190.00")),                # trades with b3
        EndTradingDay(),                                      # every DAY order expires
    ]


def server(data_dir: Path, consumer: EntryFile | None = None, start_ns: int = T0) -> Server:
    """The exchange of the shipped configuration (fsync off) on ``data_dir``, with
    ``consumer`` as its durable consumer."""
    config = dataclasses.replace(load_exchange_config(SHIPPED_EXCHANGE_TOML), fsync=False)
    clock = itertools.count(start_ns, 1_000_000)
    return build_server(load_sessions(SHIPPED_SESSIONS_CFG), SHIPPED_SESSIONS_CFG.parent,
                        data_dir, config, (consumer,) if consumer is not None else (),
                        clock=lambda: next(clock))


def run(srv: Server, commands: Sequence[Command], batch: int = 3) -> None:
    """Submit and flush ``commands``, ``batch`` per group commit."""
    exchange = srv.exchange
    assert exchange is not None
    for i in range(0, len(commands), batch):
        for command in commands[i:i + batch]:
            exchange.submit(command)
        exchange.flush()


def main(argv: list[str]) -> int:
    data_dir, out, first, last = Path(argv[0]), Path(argv[1]), int(argv[2]), int(argv[3])
    consumer = EntryFile(out)
    srv = server(data_dir, consumer, start_ns=T0 + first * SECOND)
    assert srv.exchange is not None
    commands = trading_day()[first:last]
    if "--kill" in argv:
        half = len(commands) // 2
        run(srv, commands[:half])
        consumer.wait_for(srv.exchange.last_seq)
        run(srv, commands[half:])
        os.kill(os.getpid(), signal.SIGKILL)
    run(srv, commands)
    ok = consumer.wait_for(srv.exchange.last_seq)
    srv.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
