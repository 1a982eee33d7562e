"""Logon authentication end to end: the real server (``python -m server``) with
Username/PasswordHash sessions made by ``fixserver-passwd``, and a real QuickFIX
initiator putting Username (553) / Password (554) on its Logon: the right password
logs on and trades with the echo application, a wrong one is never answered and
the server logs the refusal with the peer's address."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixserver.codec import encode
from tests.conftest import REPO, FixServer
from tests.interop.qfinitiator import QuickFixInitiator, new_order_single

pytestmark = pytest.mark.slow

FIXSERVER_PASSWD = Path(sys.executable).with_name("fixserver-passwd")


def password_hash_line(password: str) -> str:
    """What the operator pastes into sessions.cfg: ``fixserver-passwd --stdin``'s line."""
    result = subprocess.run([str(FIXSERVER_PASSWD), "--stdin"], input=password + "\n",
                            capture_output=True, text=True, timeout=30, check=True)
    return result.stdout.strip()


@pytest.fixture(scope="module")
def sessions_cfg() -> str:
    return f"""\
[DEFAULT]
ConnectionType=acceptor
SocketAcceptPort=5001
SocketAcceptAddress=127.0.0.1
SenderCompID=EXCH
FileStorePath=store
Application=echo

[SESSION]
BeginString=FIX.4.4
TargetCompID=QF44
DataDictionary=FIX44.xml
Username=broker44
{password_hash_line("pass-44")}

[SESSION]
BeginString=FIX.4.2
TargetCompID=QF42
DataDictionary=FIX42.xml
Username=broker42
{password_hash_line("pass-42")}

[SESSION]
BeginString=FIX.4.4
TargetCompID=QFLAN
DataDictionary=FIX44.xml
AllowedRemoteAddresses=10.0.0.0/8, 2001:db8::/32
"""


@pytest.fixture
def server(server_factory, sessions_cfg: str) -> FixServer:
    return server_factory(sessions_cfg)


@pytest.fixture
def make_initiator(tmp_path: Path):
    """QuickFIX initiators that are always stopped at the end of the test."""
    made: list[QuickFixInitiator] = []

    def make(server: FixServer, begin_string: str, sender: str,
             credentials: tuple[str, str] | None) -> QuickFixInitiator:
        qf = QuickFixInitiator(tmp_path / f"qf-{sender}", server.port, begin_string, sender,
                               "EXCH", credentials=credentials)
        made.append(qf)
        return qf

    yield make
    for qf in made:
        qf.stop(force=True)


def wait_server_log(server: FixServer, pattern: str, timeout: float = 10.0) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while (m := re.search(pattern, server.log())) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"server log lacks {pattern!r}:\n{server.log()}")
        time.sleep(0.05)
    return m


@pytest.mark.parametrize(("begin_string", "sender", "credentials"), [
    ("FIX.4.4", "QF44", ("broker44", "pass-44")),
    ("FIX.4.2", "QF42", ("broker42", "pass-42")),
])
def test_quickfix_with_the_right_password_logs_on_and_gets_its_order_echoed(
        server, make_initiator, begin_string, sender, credentials) -> None:
    qf = make_initiator(server, begin_string, sender, credentials)
    qf.start()

    qf.wait_logon()
    qf.send(new_order_single(begin_string, "AUTH-1"))
    qf.wait_for(lambda: len(qf.messages("in", "D")) == 1, 5, "the echo")

    assert qf.messages("in", "D")[0].get(11) == "AUTH-1"
    assert qf.messages("out", "A")[0].get(553) == credentials[0]   # it did send them
    assert qf.messages("out", "3") == [] and qf.logged_on()
    wait_server_log(server, rf"{re.escape(begin_string)}:EXCH->{sender}: logged on")


def test_quickfix_with_a_wrong_password_never_logs_on_and_the_refusal_is_logged(
        server, make_initiator) -> None:
    qf = make_initiator(server, "FIX.4.4", "QF44", ("broker44", "wrong-pass"))
    qf.start()

    m = wait_server_log(server, r"logon refused from (127\.0\.0\.1:\d+) for "
                                r"FIX\.4\.4:EXCH->QF44: wrong Password")
    # It reconnects every second (ReconnectInterval=1): refused again, never answered.
    wait_server_log(server, r"(?s)(logon refused from [^\n]*wrong Password.*){2}")

    assert "logon" not in qf.events and not qf.logged_on()
    assert qf.messages("in", "A") == [] and qf.messages("in", "5") == []
    assert qf.messages("out", "A"), "QuickFIX sent no Logon"
    assert int(m[1].rpartition(":")[2]) > 0
    assert "wrong-pass" not in server.log()


def test_quickfix_from_an_address_not_allowed_is_refused(server, make_initiator) -> None:
    qf = make_initiator(server, "FIX.4.4", "QFLAN", None)
    qf.start()

    wait_server_log(server, r"logon refused from 127\.0\.0\.1:\d+ for FIX\.4\.4:EXCH->QFLAN: "
                            r"address not in AllowedRemoteAddresses")

    assert "logon" not in qf.events and qf.messages("in", "A") == []


def guessed_logon() -> bytes:
    sending_time = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime()).encode()
    return encode(b"FIX.4.4", [(35, b"A"), (34, b"1"), (49, b"QF44"), (52, sending_time),
                               (56, b"EXCH"), (98, b"0"), (108, b"30"), (553, b"broker44"),
                               (554, b"guess")])


def seconds_until_closed(port: int, data: bytes) -> float:
    """Send ``data`` on a new connection; how long until the server closes it (it
    must send nothing)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        start = time.monotonic()
        assert sock.recv(4096) == b""       # the close, with no reply before it
        return time.monotonic() - start


def test_over_tcp_an_address_with_too_many_failures_is_closed_only_after_the_delay(
        server) -> None:
    immediate = [seconds_until_closed(server.port, guessed_logon()) for _ in range(5)]

    held = seconds_until_closed(server.port, guessed_logon())

    assert max(immediate) < 0.9
    assert 0.9 <= held < 5
    wait_server_log(server, r"logon refused from 127\.0\.0\.1:\d+ for FIX\.4\.4:EXCH->QF44: "
                            r"too many refused Logons from this address; closing in 1 s")


def test_a_malformed_password_hash_stops_the_server_at_start_naming_the_session(
        tmp_path: Path, sessions_cfg: str) -> None:
    cfg = tmp_path / "sessions.cfg"
    # The first PasswordHash, QF44's, cut short as a bad copy-paste would.
    cfg.write_text(re.sub(r"(?m)^PasswordHash=.*$", "PasswordHash=scrypt$n=16384,r=8,p=1$oops",
                          sessions_cfg, count=1))

    result = subprocess.run([sys.executable, "-m", "server", "--sessions", str(cfg),
                             "--data-dir", str(tmp_path / "data")],
                            cwd=REPO, capture_output=True, text=True, timeout=30)

    assert result.returncode == 2
    assert "FIX.4.4:EXCH->QF44: bad PasswordHash" in result.stderr, result.stderr
