"""``fixserver replay``: the exchange's state at any point of its journal, offline.

::

    fixserver replay --data-dir DIR [--until SEQ] [--exchange exchange.toml]
                     [--sessions sessions.cfg] [--json]

The core is rebuilt with the code the server recovers with (``Exchange.load``): the
newest usable snapshot at or before SEQ, then the journal after it, across its
segments, up to command SEQ (default: its end). What it holds is printed: the
snapshot used, how long the replay took, the last command, the orders by status, the
open orders per symbol, the number of trades and every account's balances and
positions; as text tables, or one JSON object with ``--json``.

It writes nothing, so it may run beside a server that is running on DIR: the
journal is read without repair (a torn last record is skipped, not cut off) and the
sessions are only named to the exchange, as the server does for its
``Application=exchange`` sessions (their firms decide which orders are accepted, and
are part of the configuration a snapshot must match), without stores or logs.

The summary goes to stdout, the exchange's log (the snapshot loaded, the replay's
progress) to stderr. Exit status: 0; 1 when the journal cannot be read; 2 for a
usage error, a missing data directory or a configuration problem.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import msgspec

from fixserver.settings import SessionConfig, SettingsError, load_sessions
from matching.constants import BUY
from persistence.journal import JournalCorrupt, JournalFormatError
from persistence.segments import segment_files
from persistence.snapshots import snapshot_path
from venue import orderentry as OE
from venue.config import ExchangeConfig, ExchangeConfigError, load_exchange_config
from venue.exchange import Exchange
from venue.fixedpoint import format_price

from .cli import DEFAULT_SESSIONS, _default_exchange_file
from .tables import text_table

PROG = "fixserver replay"

# OrdStatus names, in the order of an order's life; every one is listed, even at 0.
STATUS_NAMES: dict[str, str] = {
    OE.ST_NEW: "New",
    OE.ST_PARTIAL: "Partially filled",
    OE.ST_FILLED: "Filled",
    OE.ST_CANCELED: "Canceled",
    OE.ST_REJECTED: "Rejected",
    OE.ST_EXPIRED: "Expired",
}


class Problem(Exception):
    """Something the operator must fix before a replay can run; the message names it.
    ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


# -- the summary --------------------------------------------------------------------------


class SnapshotUsed(msgspec.Struct, frozen=True):
    """The snapshot the replay started from."""

    file: str
    seq: int


class OpenOrders(msgspec.Struct, frozen=True):
    """The open orders (resting, or stops not yet triggered) of one symbol."""

    symbol: str
    buy: int
    sell: int


class Balance(msgspec.Struct, frozen=True):
    """One account: money as decimal strings (never floats), positions in units."""

    account: str
    firm: str
    cash: str
    reserved: str
    available: str
    open_orders: int
    positions: dict[str, int]


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    """What a replay left in the core, and how it got there."""

    data_dir: str
    snapshot: SnapshotUsed | None      # None: the whole journal was replayed
    until: int | None                  # --until, as given
    past_end: bool                     # --until lies beyond the journal's last command
    replayed: int                      # commands run through the core
    seconds: float                     # time the load and replay took
    last_seq: int                      # 0: the journal holds no command
    last_ts: int                       # its timestamp, ns since the epoch (0: none)
    last_time: str | None              # the same in UTC, ISO 8601
    orders: dict[str, int]             # OrdStatus name -> orders
    open_orders: list[OpenOrders]
    trades: int
    accounts: list[Balance]


def utc_iso(ns: int) -> str:
    """``ns`` since the epoch as ISO 8601 in UTC, to the microsecond (no float)."""
    seconds, rest = divmod(ns, 1_000_000_000)
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC).replace(microsecond=rest // 1000)
    return moment.isoformat(timespec="microseconds")


def _money(value: int) -> str:
    return format_price(value).decode()


def summarize(exchange: Exchange, *, replayed: int = 0, seconds: float = 0.0,
              until: int | None = None) -> Summary:
    """The summary of ``exchange``'s core as it is now; ``replayed``, ``seconds`` and
    ``until`` say how it got there."""
    statuses = Counter(view.status for view in exchange.order_entry.views.values())
    orders = {name: statuses.pop(code, 0) for code, name in STATUS_NAMES.items()}
    orders.update(sorted(statuses.items()))   # a status this code does not name: as is
    sides: dict[str, list[int]] = {}
    for order in exchange.engine.orders.values():
        counts = sides.setdefault(order.symbol, [0, 0])
        counts[0 if order.side == BUY else 1] += 1
    risk = exchange.risk
    accounts = []
    for name in risk.accounts():
        view = risk.account(name)
        accounts.append(Balance(view.name, view.firm, _money(view.cash), _money(view.reserved),
                                _money(view.buying_power), view.open_orders,
                                dict(sorted(view.positions.items()))))
    seq = exchange.applied_seq
    snapshot = (SnapshotUsed(snapshot_path(exchange.snapshot_dir, exchange.snapshot_seq).name,
                             exchange.snapshot_seq) if exchange.snapshot_seq else None)
    return Summary(
        data_dir=str(exchange.data_dir.resolve()), snapshot=snapshot, until=until,
        past_end=until is not None and seq < until, replayed=replayed,
        seconds=round(seconds, 3), last_seq=seq, last_ts=exchange.last_ts if seq else 0,
        last_time=utc_iso(exchange.last_ts) if seq else None, orders=orders,
        open_orders=[OpenOrders(symbol, buy, sell)
                     for symbol, (buy, sell) in sorted(sides.items())],
        # Trades are events, not state: the engine's next trade id counts them.
        trades=exchange.engine.next_trade_id - 1, accounts=accounts)


# -- rendering ------------------------------------------------------------------------------


def _how_far(s: Summary) -> str:
    if s.until is None:
        return "to the end of the journal"
    if s.past_end:
        return f"to the end of the journal: it ends before --until {s.until}"
    return f"up to --until {s.until}"


def render_text(s: Summary) -> str:
    """The summary as text for a terminal: a few facts, then tables."""
    snapshot = (f"{s.snapshot.file} (seq {s.snapshot.seq})" if s.snapshot is not None
                else "none: the whole journal")
    last = (f"{s.last_seq} at {s.last_time}" if s.last_time is not None
            else "none (the journal holds no command)")
    lines = [
        f"data dir   {s.data_dir}",
        f"snapshot   {snapshot}",
        f"replayed   {s.replayed} commands in {s.seconds:.3f} s, {_how_far(s)}",
        f"last seq   {last}",
        f"trades     {s.trades}",
        "",
        "orders by status",
        *text_table(["status", "orders"], list(s.orders.items()), numeric=[1]),
    ]
    if s.orders.get(STATUS_NAMES[OE.ST_REJECTED]) == 0:
        lines.append("  (an order refused at entry is not kept in the state: none counted)")
    lines += ["", "open orders per symbol"]
    if s.open_orders:
        lines += text_table(["symbol", "buy", "sell"],
                        [(o.symbol, o.buy, o.sell) for o in s.open_orders], numeric=[1, 2])
    else:
        lines.append("  none")
    lines += ["", "balances",
              *text_table(["account", "firm", "cash", "reserved", "available", "open orders"],
                      [(b.account, b.firm, b.cash, b.reserved, b.available, b.open_orders)
                       for b in s.accounts], numeric=[2, 3, 4, 5])]
    held = [(b.account, symbol, qty) for b in s.accounts
            for symbol, qty in b.positions.items() if qty]
    lines += ["", "positions"]
    lines += text_table(["account", "symbol", "position"], held, numeric=[2]) if held \
        else ["  none"]
    return "\n".join(lines) + "\n"


def render_json(s: Summary) -> str:
    """The summary as one JSON object."""
    return msgspec.json.format(msgspec.json.encode(s), indent=2).decode() + "\n"


# -- loading ----------------------------------------------------------------------------------


def exchange_sessions(configs: Sequence[SessionConfig]) -> list[tuple[str, str]]:
    """(session id, counterparty CompID) of each ``Application=exchange`` session, as
    ``server.compose.build_sessions`` gives them to the exchange."""
    return [(c.session_id, c.target_comp_id) for c in configs if c.application == "exchange"]


def check_data_dir(data_dir: Path) -> None:
    """A Problem unless ``data_dir`` is a directory this process can read."""
    if not data_dir.exists():
        raise Problem(f"data directory {data_dir} does not exist")
    if not data_dir.is_dir():
        raise Problem(f"data directory {data_dir} is not a directory")
    if not os.access(data_dir, os.R_OK | os.X_OK):
        raise Problem(f"data directory {data_dir} cannot be read (permission denied)")


def open_exchange(config: ExchangeConfig, data_dir: Path,
                  sessions: Sequence[tuple[str, str]]) -> Exchange:
    """An exchange on ``data_dir`` with ``sessions``, not loaded yet (nothing is
    opened for writing: no journal, no sequencer)."""
    exchange = Exchange(config, data_dir)
    for session_id, comp_id in sessions:
        exchange.add_session(session_id, comp_id)
    if not segment_files(exchange.journal_path):
        raise Problem(f"no journal at {exchange.journal_path}: is {data_dir} the server's "
                      "--data-dir, and --exchange its exchange.toml?")
    return exchange


def replay(exchange: Exchange, until: int | None = None) -> Summary:
    """Load ``exchange`` up to command ``until`` (None: the end of the journal)
    without touching its files; the summary. A Problem (exit 1) when the journal
    cannot be read."""
    t0 = time.perf_counter()
    try:
        # repair=False: a torn tail may be a record the running server is writing.
        n = exchange.load(until=until, repair=False)
    except (JournalCorrupt, JournalFormatError) as e:
        raise Problem(f"the journal cannot be read ({type(e).__name__}): {e}", 1) from None
    except OSError as e:
        raise Problem(f"the journal cannot be read: {e}", 1) from None
    return summarize(exchange, replayed=n, seconds=time.perf_counter() - t0, until=until)


# -- the command ------------------------------------------------------------------------------


def _sequence_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a sequence number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"a journal's sequence numbers start at 1, so {value} is not one (leave "
            "--until out to replay the whole journal)")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, description="Rebuild the exchange's state from a data directory, as "
        "the server recovers it, and print a summary. Writes nothing: safe beside a "
        "running server.",
        epilog="Exit status: 0; 1 when the journal cannot be read; 2 for a usage or "
               "configuration error.")
    p.add_argument("--data-dir", type=Path, required=True,
                   help="the server's --data-dir (its journal and snapshots)")
    p.add_argument("--until", type=_sequence_number, metavar="SEQ",
                   help="stop after command SEQ (default: the end of the journal)")
    p.add_argument("--exchange", type=Path, default=None,
                   help="instruments, firms and accounts (default: exchange.toml next to "
                        "the sessions file, else the shipped one)")
    p.add_argument("--sessions", type=Path, default=DEFAULT_SESSIONS,
                   help="the server's session settings: its Application=exchange "
                        "sessions and their firms (default: the shipped sessions.cfg)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--log-level", default="INFO", type=str.upper,
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                   help="of the log on stderr (default: INFO, which shows the progress)")
    return p


def _load_configs(args: argparse.Namespace) -> tuple[ExchangeConfig, list[tuple[str, str]]]:
    try:
        configs = load_sessions(args.sessions)
        sessions = exchange_sessions(configs)
        if not sessions:
            raise Problem(f"{args.sessions}: no [SESSION] with Application=exchange, so "
                          "no order could be replayed as the server took it")
        return load_exchange_config(args.exchange or _default_exchange_file(args.sessions)), \
            sessions
    except (SettingsError, ExchangeConfigError) as e:
        raise Problem(str(e)) from None


def main(argv: list[str] | None = None) -> int:
    """``fixserver replay``: the exit status."""
    args = parser().parse_args(argv)
    # The summary is for stdout; the log (progress of a long replay) goes to stderr.
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        check_data_dir(args.data_dir)
        config, sessions = _load_configs(args)
        exchange = open_exchange(config, args.data_dir, sessions)
        summary = replay(exchange, args.until)
    except Problem as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    sys.stdout.write(render_json(summary) if args.json else render_text(summary))
    return 0
