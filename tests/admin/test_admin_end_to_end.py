"""The admin interface of a running fixserver, driven with the fixserver-admin command.

A real server runs as a subprocess (tests.conftest.FixServer) with the exchange
end-to-end tests' sessions and exchange.toml (tests/exchange/exchangeclient.py);
BROKER1 connects over FIX (simplefix client) while the operator runs
``python -m venue.admin`` as a separate process.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import REPO, FixServer, free_port
from tests.exchange.exchangeclient import (
    BUY,
    SESSIONS_CFG,
    Broker,
    wait_for,
    write_exchange_toml,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FixServer]:
    write_exchange_toml(tmp_path)
    server = FixServer(SESSIONS_CFG, tmp_path, free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def brk1(server: FixServer) -> Iterator[Broker]:
    """BROKER1 (FIX.4.4, account BRK1-MAIN by default), logged on."""
    broker = Broker(server.port, "BRK1")
    broker.logon()
    yield broker
    broker.close()


def fixserver_admin(data_dir: Path, *words: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "venue.admin", "--data-dir",
                           str(data_dir), *words],
                          cwd=REPO, capture_output=True, text=True, timeout=30)


def admin_ok(server: FixServer, *words: str) -> dict:
    done = fixserver_admin(server.data_dir, *words)
    assert done.returncode == 0, (done.stdout, done.stderr)
    return json.loads(done.stdout)


# -- the kill switch ---------------------------------------------------------------------------

def test_kill_account_cancels_a_resting_order_with_a_text_naming_the_kill_switch(
        server: FixServer, brk1: Broker) -> None:
    brk1.rest("o1", BUY, 100, "189.00")
    assert admin_ok(server, "kill", "account", "BRK1-MAIN")["cancelled"] == 1
    er = brk1.er()
    assert (er[150], er[39], er[11]) == ("4", "4", "o1"), er
    assert "kill switch of account BRK1-MAIN" in er[58], er


def test_new_order_of_a_killed_account_is_rejected_naming_the_kill_switch(
        server: FixServer, brk1: Broker) -> None:
    admin_ok(server, "kill", "account", "BRK1-MAIN")
    brk1.new_order("o2", BUY, 100, "189.00")
    er = brk1.er()
    assert (er[150], er[39], er[103]) == ("8", "8", "99"), er
    assert "kill switch" in er[58], er


def test_new_order_after_lift_is_accepted(server: FixServer, brk1: Broker) -> None:
    admin_ok(server, "kill", "account", "BRK1-MAIN")
    admin_ok(server, "lift", "account", "BRK1-MAIN")
    brk1.rest("o3", BUY, 100, "189.00")


# -- balances ----------------------------------------------------------------------------------

def test_account_returns_the_configured_cash(server: FixServer) -> None:
    config = tomllib.loads((server.data_dir / "exchange.toml").read_text())
    configured = next(a["cash"] for a in config["accounts"] if a["name"] == "BRK1-MAIN")
    cash = admin_ok(server, "account", "BRK1-MAIN")["account"]["cash"]
    assert Decimal(cash) == Decimal(configured) > 0


# -- the server's side -------------------------------------------------------------------------

def test_server_logs_the_admin_socket_path_at_start(server: FixServer) -> None:
    assert f"admin interface (kill switches, balances) on {server.data_dir / 'admin.sock'}" \
        in server.log()


def test_server_removes_the_admin_socket_when_it_stops(server: FixServer) -> None:
    path = server.data_dir / "admin.sock"
    wait_for(path.exists, 5, "the admin socket")
    server.stop()
    assert not path.exists()


# -- the command's errors ----------------------------------------------------------------------

def test_cli_with_an_unknown_account_exits_1_naming_it(server: FixServer) -> None:
    done = fixserver_admin(server.data_dir, "account", "NOPE")
    assert (done.returncode, json.loads(done.stdout)["ok"]) == (1, False)
    assert "unknown account 'NOPE'" in done.stderr


def test_cli_without_a_server_exits_2_naming_the_missing_socket(tmp_path: Path) -> None:
    done = fixserver_admin(tmp_path, "killed")
    assert (done.returncode, done.stdout) == (2, "")
    assert f"no admin socket at {tmp_path / 'admin.sock'}" in done.stderr


def test_cli_on_a_socket_nobody_serves_says_so(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(str(tmp_path / "admin.sock"))
    done = fixserver_admin(tmp_path, "killed")
    assert done.returncode == 2 and "nothing is serving" in done.stderr, done.stderr
