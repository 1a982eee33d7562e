"""The schema's migrations: versioned SQL files, applied in order, in one transaction.

``migrations/NNNN_name.sql`` are the versions (1, 2, ...: no gap). ``migrate`` takes an
advisory lock (two servers starting at once do not both migrate), reads the version
table ``fixserver_schema``, refuses a database whose schema is newer than this code
knows (a newer exchange wrote it: running against it could corrupt it), and applies
what is missing, recording each version; all or nothing. Applied twice it does nothing
the second time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "fixserver_schema"
_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")
# Any constant unique to this project: the key of the advisory lock migrations hold.
_LOCK_KEY = 0x66697865   # "fixe"


class MigrationError(Exception):
    """The schema cannot be brought to this code's version (says why)."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations(directory: Path = MIGRATIONS) -> list[Migration]:
    """The migrations in ``directory``, in version order; a gap or a badly named file
    is an error (so a file cannot be skipped by mistake)."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.fullmatch(path.name)
        if m is None:
            raise MigrationError(f"{path}: a migration is named NNNN_name.sql")
        found.append(Migration(int(m[1]), m[2], path.read_text()))
    for expected, migration in enumerate(found, 1):
        if migration.version != expected:
            raise MigrationError(f"migration {migration.version:04d}_{migration.name}.sql: "
                                 f"expected version {expected} (no gaps, no repeats)")
    return found


def current_version(conn: Any) -> int:
    """The newest version applied (0: none, or no version table)."""
    row = conn.execute("SELECT to_regclass(%s)", (VERSION_TABLE,)).fetchone()
    if row is None or row[0] is None:
        return 0
    row = conn.execute(f"SELECT coalesce(max(version), 0) FROM {VERSION_TABLE}").fetchone()
    return int(row[0])


def migrate(conn: Any, directory: Path = MIGRATIONS) -> list[Migration]:
    """Bring the schema of ``conn`` (a psycopg connection; its search_path) to the
    newest version; the migrations applied."""
    todo = migrations(directory)
    latest = todo[-1].version if todo else 0
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} ("
                     "version integer PRIMARY KEY, name text NOT NULL, "
                     "applied_at timestamptz NOT NULL DEFAULT now())")
        current = current_version(conn)
        if current > latest:
            raise MigrationError(f"the database's schema is version {current}, newer than "
                                 f"this exchange's ({latest}): refusing to use it; run the "
                                 "exchange version that wrote it, or another database")
        applied = [m for m in todo if m.version > current]
        for m in applied:
            conn.execute(m.sql)
            conn.execute(f"INSERT INTO {VERSION_TABLE} (version, name) VALUES (%s, %s)",
                         (m.version, m.name))
    return applied
