"""The PostgreSQL writer of a running server: FIX sessions in, rows out, through an
outage of the database and a kill -9 of the server.

Real server subprocess (the writer in its child process), real FIX over TCP, the
throwaway PostgreSQL of `make test`, each test in a schema of its own. Two outages:
the network path cut (a relay on loopback that goes down, tests/exchange/tcp_outage.py)
and PostgreSQL itself stopped and started (a cluster of the test's own).
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from database.rows import rows_of
from persistence.eventlog import EventLog
from tests.conftest import FixServer
from tests.exchange.exchangeclient import BUY, SELL, Broker, connect, one_trade
from tests.exchange.tcp_outage import TcpOutage
from venue.stream import EVENT_LOG_VERSION, Entry

pytestmark = pytest.mark.slow
SERVICES = str(Path(__file__).resolve().parents[2] / "scripts" / "test-services")
TABLES = ("orders", "order_events", "trades", "settlements")


def postgres(dsn: str) -> str:
    return f'[postgres]\ndsn = "{dsn}"\n'


def via(outage: TcpOutage, dsn: str) -> str:
    parts = urlsplit(dsn)
    netloc = f"{parts.username}@127.0.0.1:{outage.port}" if parts.username else (
        f"127.0.0.1:{outage.port}")
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture
def outage(schema_dsn: str) -> Iterator[TcpOutage]:
    parts = urlsplit(schema_dsn)
    relay = TcpOutage((parts.hostname or "127.0.0.1", parts.port or 5432))
    yield relay
    relay.close()


def count(dsn: str, sql: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchone()[0]


def wait_for(server: FixServer, check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, server.log()[-3000:]
        time.sleep(0.1)


def table_is_there(dsn: str) -> bool:
    return count(dsn, "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() "
                      "AND tablename = 'writer_checkpoint'") == 1


def checkpoint(dsn: str) -> int:
    if not table_is_there(dsn):
        return 0
    return count(dsn, "SELECT coalesce(max(seq), 0) FROM writer_checkpoint")


def test_a_trade_between_two_sessions_is_in_the_database(
        start_server, clients: list[Broker], schema_dsn: str) -> None:
    server = start_server(risk=postgres(schema_dsn))
    one_trade(server, clients)
    wait_for(server, lambda: table_is_there(schema_dsn)
             and count(schema_dsn, "SELECT count(*) FROM settlements") == 2)
    with psycopg.connect(schema_dsn) as conn:
        trade = conn.execute("SELECT price, quantity, buy_account, sell_account, phase "
                             "FROM trades").fetchall()
        orders = conn.execute("SELECT cl_ord_id, ord_status, leaves_qty FROM orders "
                              "ORDER BY cl_ord_id").fetchall()
    assert trade == [(1_900_000, 40, "BRK2-MAIN", "BRK3-MAIN", "CONTINUOUS")]
    assert orders == [("B1", "2", 0), ("S1", "1", 60)]


def orders_through_an_outage(start_server, clients: list[Broker], dsn: str, via_dsn: str,
                             cut: Callable[[], object], restore: Callable[[], object],
                             reachable_while_cut: bool) -> None:
    """One order written, the database cut off (``cut``) while 20 more are acknowledged,
    then back (``restore``): every order arrives, once, and the failures were logged.
    ``reachable_while_cut``: the test itself still reaches the database (only the
    server's path was cut), and checks that nothing more arrived meanwhile."""
    server = start_server(risk=postgres(via_dsn))
    brk2 = connect(server, "BRK2")
    clients.append(brk2)
    brk2.logon()
    brk2.rest("A0", BUY, 1, "180.00")
    wait_for(server, lambda: table_is_there(dsn)
             and count(dsn, "SELECT count(*) FROM orders") == 1)
    cut()
    for n in range(1, 21):       # the exchange keeps trading
        assert brk2.rest(f"A{n}", BUY, 1, "180.00")[39] == "0"
    time.sleep(1.0)
    if reachable_while_cut:
        assert count(dsn, "SELECT count(*) FROM orders") == 1
    restore()
    wait_for(server, lambda: count(dsn, "SELECT count(*) FROM orders") == 21, timeout=40)
    assert count(dsn, "SELECT count(*) FROM order_events") == 21
    assert count(dsn, "SELECT count(DISTINCT cl_ord_id) FROM orders") == 21
    assert "consumer postgres: failed at seq" in server.log()


def test_orders_sent_while_postgres_is_down_all_arrive_once_it_is_back(
        start_server, clients: list[Broker], schema_dsn: str, outage: TcpOutage) -> None:
    orders_through_an_outage(start_server, clients, schema_dsn, via(outage, schema_dsn),
                             outage.down, outage.up, reachable_while_cut=True)



def database_counts(dsn: str) -> dict[str, int]:
    return {t: count(dsn, f"SELECT count(*) FROM {t}") for t in TABLES}


@pytest.fixture
def own_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A PostgreSQL of this test's own (scripts/test-services), so that it can be stopped
    and started again; its directory and DSN."""
    where = tmp_path_factory.mktemp("pg")
    started = subprocess.run([SERVICES, "start", str(where)], capture_output=True, text=True,
                             timeout=120)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        env = dict(line.split("=", 1) for line in (where / "env").read_text().split())
        yield where, env["FIXEX_PG_DSN"]
    finally:
        subprocess.run([SERVICES, "stop", str(where)], capture_output=True, timeout=120)


def test_orders_sent_while_postgres_is_stopped_all_arrive_once_it_is_started_again(
        start_server, clients: list[Broker], own_postgres: tuple[Path, str]) -> None:
    where, dsn = own_postgres
    orders_through_an_outage(
        start_server, clients, dsn, dsn,
        lambda: subprocess.run([SERVICES, "pg-stop", str(where)], check=True, timeout=60),
        lambda: subprocess.run([SERVICES, "pg-start", str(where)], check=True, timeout=60),
        reachable_while_cut=False)


def test_a_server_killed_mid_flow_writes_every_row_once_after_its_restart(
        start_server, clients: list[Broker], schema_dsn: str) -> None:
    server = start_server(durable=True, risk=postgres(schema_dsn))
    brk2, brk3 = connect(server, "BRK2"), connect(server, "BRK3")
    clients += [brk2, brk3]
    brk2.logon()
    brk3.logon()
    brk3.rest("S1", SELL, 1000, "180.00")
    for n in range(300):
        brk2.new_order(f"K{n}", BUY, 1 + n % 3, "180.00" if n % 2 else "179.00")
    acked = set()
    while len(acked) < 150:       # the writer is busy with its batches by now
        er = brk2.er()
        if er[39] != "8":
            acked.add(er[11])
    server.stop(signal.SIGKILL)
    server.start()
    # Let the writer catch up with what the journal holds, then stop cleanly and
    # compare the database with the rows of the whole event log.
    last = -1
    while (now := checkpoint(schema_dsn)) != last:
        last = now
        time.sleep(2.0)
    server.stop()
    log = EventLog(server.data_dir / "journal" / "events.log", Entry, EVENT_LOG_VERSION,
                   readonly=True)
    entries = log.read_after(0, 10**7)
    log.close()
    assert checkpoint(schema_dsn) == entries[-1].seq
    assert database_counts(schema_dsn) == rows_of(entries, {}).counts()
    with psycopg.connect(schema_dsn) as conn:
        stored = {r[0] for r in conn.execute("SELECT cl_ord_id FROM orders").fetchall()}
    assert acked <= stored      # every acknowledged order is there
