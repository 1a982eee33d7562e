"""``fixserver db``: the exchange's PostgreSQL database.

    fixserver db migrate [--dsn DSN]   bring its schema to this version, and say where it stands
    fixserver db orders [--account A] [--symbol S] [--since DATE] [--limit N] [--dsn DSN]
    fixserver db trades [--account A] [--symbol S] [--since DATE] [--limit N] [--dsn DSN]
                                       a table of the orders or trades from DATE on
                                       (default: today, UTC), oldest first

The DSN is a libpq connection string or URI; without ``--dsn``, ``FIXSERVER_PG_DSN``.
The queries are in database/queries.py (and README) for use in psql.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from typing import Any

from database import queries
from matching.constants import SIDE_NAMES
from venue.config import POSTGRES_DSN_ENV as DSN_ENV
from venue.fixedpoint import format_price

from .tables import text_table

ORDER_COLUMNS = ("date", "order", "session", "ClOrdID", "account", "symbol", "side", "price",
                 "qty", "cum", "leaves", "status", "updated (UTC)")
TRADE_COLUMNS = ("date", "trade", "executed (UTC)", "symbol", "price", "qty", "aggressor",
                 "phase", "buyer", "seller")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fixserver db", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("migrate", help="apply the schema's migrations")
    p.add_argument("--dsn", default=os.environ.get(DSN_ENV, ""),
                   help=f"the database (default: ${DSN_ENV})")
    for name in ("orders", "trades"):
        p = sub.add_parser(name, help=f"print {name} as a table")
        p.add_argument("--dsn", default=os.environ.get(DSN_ENV, ""),
                       help=f"the database (default: ${DSN_ENV})")
        p.add_argument("--account")
        p.add_argument("--symbol")
        p.add_argument("--since", type=_date, default=dt.datetime.now(dt.UTC).date(),
                       help="the first trade date, YYYY-MM-DD (default: today, UTC)")
        p.add_argument("--limit", type=int, default=100, help="at most this many rows")
    return parser


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _price(value: int | None) -> str:
    return "" if value is None else format_price(value).decode()


def _when(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%H:%M:%S.%f")[:-3]


def _order_line(r: tuple[Any, ...]) -> tuple[object, ...]:
    date, oid, session, clid, account, symbol, side, price, qty, cum, leaves, st, at = r
    return (date, oid, session, clid, account, symbol, SIDE_NAMES.get(side, side),
            _price(price), qty, cum, leaves, st, _when(at))


def _trade_line(r: tuple[Any, ...]) -> tuple[object, ...]:
    date, tid, at, symbol, price, qty, aggressor, phase, buyer, seller = r
    return (date, tid, _when(at), symbol, _price(price), qty,
            SIDE_NAMES.get(aggressor, "") if aggressor is not None else "", phase, buyer,
            seller)


def _show(conn: Any, args: argparse.Namespace) -> int:
    params = {"since": args.since, "account": args.account, "symbol": args.symbol,
              "limit": args.limit}
    if args.command == "orders":
        rows = conn.execute(queries.ORDERS, params).fetchall()
        lines = text_table(ORDER_COLUMNS, [_order_line(r) for r in rows],
                           numeric=(1, 7, 8, 9, 10))
    else:
        rows = conn.execute(queries.TRADES, params).fetchall()
        lines = text_table(TRADE_COLUMNS, [_trade_line(r) for r in rows], numeric=(1, 4, 5))
    if not rows:
        print(f"no {args.command} from {args.since} on")
        return 0
    print("\n".join(lines))
    more = " (the first --limit; there may be more)" if len(rows) == args.limit else ""
    print(f"{len(rows)} {args.command}{more}")
    return 0


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if not args.dsn:
        print(f"fixserver db: no database: give --dsn or set {DSN_ENV}", file=sys.stderr)
        return 2
    import psycopg

    from database.migrate import MigrationError, current_version, migrate, migrations
    try:
        with psycopg.connect(args.dsn, connect_timeout=10) as conn:
            if args.command != "migrate":
                if current_version(conn) == 0:
                    print("fixserver db: the database has no exchange schema yet (run "
                          "fixserver db migrate, or start the exchange with [postgres])",
                          file=sys.stderr)
                    return 2
                return _show(conn, args)
            applied = migrate(conn)
            version = current_version(conn)
    except psycopg.Error as e:
        print(f"fixserver db: {type(e).__name__}: {str(e).strip()}", file=sys.stderr)
        return 2
    except MigrationError as e:
        print(f"fixserver db: {e}", file=sys.stderr)
        return 2
    for m in applied:
        print(f"applied {m.version:04d}_{m.name}.sql")
    latest = migrations()[-1].version
    print(f"schema at version {version} (this exchange's: {latest})"
          + ("" if applied else "; nothing to do"))
    return 0
