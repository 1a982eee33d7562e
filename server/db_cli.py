"""``fixserver db``: the exchange's PostgreSQL database.

    fixserver db migrate [--dsn DSN]   bring its schema to this version, and say where it stands

The DSN is a libpq connection string or URI; without ``--dsn``, ``FIXSERVER_PG_DSN``.
"""

from __future__ import annotations

import argparse
import os
import sys

DSN_ENV = "FIXSERVER_PG_DSN"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fixserver db", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("migrate", help="apply the schema's migrations")
    p.add_argument("--dsn", default=os.environ.get(DSN_ENV, ""),
                   help=f"the database (default: ${DSN_ENV})")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if not args.dsn:
        print(f"fixserver db: no database: give --dsn or set {DSN_ENV}", file=sys.stderr)
        return 2
    import psycopg

    from database.migrate import MigrationError, current_version, migrate, migrations
    try:
        with psycopg.connect(args.dsn, connect_timeout=10) as conn:
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
