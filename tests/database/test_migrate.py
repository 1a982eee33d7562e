"""database.migrate and ``fixserver db migrate``: the schema's versions, applied once,
all or nothing, never over a newer schema. Real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from database.migrate import MigrationError, current_version, migrate, migrations
from tests.database.conftest import fixserver_db

pytestmark = pytest.mark.services

TABLES = {"instruments", "accounts", "positions", "orders", "order_events", "trades",
          "settlements", "writer_checkpoint", "fixserver_schema"}


def tables(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                        ).fetchall()
    partitioned = conn.execute(
        "SELECT relname FROM pg_class JOIN pg_namespace ns ON ns.oid = relnamespace "
        "WHERE relkind = 'p' AND ns.nspname = current_schema()").fetchall()
    return {r[0] for r in rows + partitioned}


def test_a_new_database_gets_every_table_and_the_newest_version(conn) -> None:
    applied = migrate(conn)
    assert [m.version for m in applied] == [m.version for m in migrations()]
    assert tables(conn) == TABLES
    assert current_version(conn) == migrations()[-1].version


def test_migrating_twice_applies_nothing_the_second_time(conn) -> None:
    migrate(conn)
    assert migrate(conn) == []
    assert conn.execute("SELECT count(*) FROM fixserver_schema").fetchone() == (
        len(migrations()),)


def test_money_and_prices_are_never_floating_point(conn) -> None:
    migrate(conn)
    kinds = conn.execute(
        "SELECT DISTINCT data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema()").fetchall()
    assert not {k for (k,) in kinds} & {"real", "double precision"}


def test_a_schema_newer_than_the_code_is_refused(conn) -> None:
    migrate(conn)
    conn.execute("INSERT INTO fixserver_schema (version, name) VALUES (999, 'future')")
    conn.commit()
    with pytest.raises(MigrationError, match="version 999, newer than this exchange's"):
        migrate(conn)


def test_a_failing_migration_leaves_nothing_behind(conn, tmp_path: Path) -> None:
    (tmp_path / "0001_good.sql").write_text("CREATE TABLE good (x bigint);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE bad (x bigint); SELECT 1/0;")
    with pytest.raises(psycopg.errors.DivisionByZero):
        migrate(conn, tmp_path)
    conn.rollback()
    assert tables(conn) == set() and current_version(conn) == 0


def test_a_gap_in_the_versions_is_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("")
    (tmp_path / "0003_c.sql").write_text("")
    with pytest.raises(MigrationError, match="expected version 2"):
        migrations(tmp_path)


def test_fixserver_db_migrate_applies_and_then_says_nothing_to_do(schema_dsn: str) -> None:
    first = fixserver_db("migrate", "--dsn", schema_dsn)
    assert first.returncode == 0, first.stderr
    assert "applied 0001_history.sql" in first.stdout
    again = fixserver_db("migrate", "--dsn", schema_dsn)
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_fixserver_db_migrate_names_a_database_it_cannot_reach() -> None:
    out = fixserver_db("migrate", "--dsn", "postgresql://postgres@127.0.0.1:1/none")
    assert out.returncode == 2
    assert out.stderr.startswith("fixserver db: OperationalError")
