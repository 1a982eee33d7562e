"""Interoperability over TLS: a real QuickFIX initiator (the C++ engine's
SSLSocketInitiator, with OpenSSL) logs on to the server on a TLS port, checking the
server's certificate against the test CA, with and without a client certificate
(CertificateVerifyLevel 1 and 0), and has an order echoed by the echo application.

The certificates are made at test time (``tests/fixserver/test_tls.py``). These
tests need a quickfix built with OpenSSL (HAVE_SSL), as the Makefile builds it; the
PyPI source build is not. Without it they fail, saying how to get one: a component
a test needs is never skipped.
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

import pytest
import quickfix as fix

from tests.conftest import FixServer
from tests.fixserver.test_tls import Certificates, write_certificates
from tests.interop.qfinitiator import QuickFixInitiator, new_order_single


class _Silent(fix.Application):
    def onCreate(self, session_id): pass
    def onLogon(self, session_id): pass
    def onLogout(self, session_id): pass
    def toAdmin(self, message, session_id): pass
    def fromAdmin(self, message, session_id): pass
    def toApp(self, message, session_id): pass
    def fromApp(self, message, session_id): pass


def quickfix_has_ssl() -> bool:
    """Whether this quickfix can make an SSLSocketInitiator: without OpenSSL its
    constructor raises ConfigError "HAVE_SSL not enabled" (it needs a session)."""
    with tempfile.TemporaryDirectory() as d:
        cfg = Path(d) / "probe.cfg"
        cfg.write_text("[DEFAULT]\nConnectionType=initiator\nSocketConnectHost=127.0.0.1\n"
                       "SocketConnectPort=1\nHeartBtInt=30\nStartTime=00:00:00\n"
                       "EndTime=00:00:00\nUseDataDictionary=N\n[SESSION]\nBeginString=FIX.4.4\n"
                       "SenderCompID=A\nTargetCompID=B\n")
        settings = fix.SessionSettings(str(cfg))
        try:
            fix.SSLSocketInitiator(_Silent(), fix.MemoryStoreFactory(), settings)
        except fix.ConfigError as e:
            return "HAVE_SSL" not in str(e)
    return True


pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True, scope="module")
def quickfix_with_tls() -> None:
    if not quickfix_has_ssl():
        pytest.fail("the installed quickfix has no TLS (built without HAVE_SSL): `make test` "
                    "builds and installs one (its wheel is built with CPPFLAGS=-DHAVE_SSL=1 "
                    "LDFLAGS='-Wl,--no-as-needed -lssl -lcrypto')", pytrace=False)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return write_certificates(tmp_path_factory.mktemp("tls"))


def sessions_cfg(certs: Certificates, level: int) -> str:
    return f"""\
[DEFAULT]
ConnectionType=acceptor
SocketAcceptPort=5001
SocketAcceptAddress=127.0.0.1
SenderCompID=EXCH
FileStorePath=store
Application=echo
SocketUseSSL=Y
ServerCertificateFile={certs.server_cert}
ServerCertificateKeyFile={certs.server_key}
CertificationAuthoritiesFile={certs.ca}
CertificateVerifyLevel={level}

[SESSION]
BeginString=FIX.4.4
TargetCompID=QF44
DataDictionary=FIX44.xml
"""


@pytest.fixture
def make_initiator(tmp_path: Path):
    """QuickFIX SSL initiators that are always stopped at the end of the test."""
    made: list[QuickFixInitiator] = []

    def make(server: FixServer, **ssl: str) -> QuickFixInitiator:
        qf = QuickFixInitiator(tmp_path / f"qf-{len(made)}", server.port, "FIX.4.4", "QF44",
                               "EXCH", ssl=ssl)
        made.append(qf)
        return qf

    yield make
    for qf in made:
        qf.stop(force=True)


def wait_server_log(server: FixServer, pattern: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not re.search(pattern, server.log()):
        if time.monotonic() > deadline:
            raise AssertionError(f"server log lacks {pattern!r}:\n{server.log()}")
        time.sleep(0.05)


def order_is_echoed(qf: QuickFixInitiator) -> None:
    qf.send(new_order_single("FIX.4.4", "TLS-1", symbol="MSFT", qty=250, price="101.25"))
    qf.wait_for(lambda: len(qf.messages("in", "D")) == 1, 5, "the echo")
    echo = qf.messages("in", "D")[0]
    assert (echo.get(11), echo.get(55), echo.get(38)) == ("TLS-1", "MSFT", "250")
    assert qf.messages("out", "3") == [] and qf.logged_on()


def test_quickfix_logs_on_over_tls_and_its_order_is_echoed(server_factory, make_initiator,
                                                           certs: Certificates) -> None:
    server = server_factory(sessions_cfg(certs, level=0))
    qf = make_initiator(server, CertificationAuthoritiesFile=str(certs.ca))
    qf.start()
    qf.wait_logon()
    order_is_echoed(qf)
    wait_server_log(server, rf"TLS connection from 127\.0\.0\.1:\d+ on port {server.port}: "
                            r"TLSv1\.3 ")
    wait_server_log(server, r"FIX\.4\.4:EXCH->QF44: logged on")


def test_quickfix_with_a_ca_signed_certificate_logs_on_with_mutual_tls(
        server_factory, make_initiator, certs: Certificates) -> None:
    server = server_factory(sessions_cfg(certs, level=1))
    qf = make_initiator(server, CertificationAuthoritiesFile=str(certs.ca),
                        ClientCertificateFile=str(certs.client_cert),
                        ClientCertificateKeyFile=str(certs.client_key))
    qf.start()
    qf.wait_logon()
    order_is_echoed(qf)
    wait_server_log(server, r"TLS connection from .* client certificate commonName=client")


def test_quickfix_without_a_client_certificate_is_refused_at_level_1(
        server_factory, make_initiator, certs: Certificates) -> None:
    server = server_factory(sessions_cfg(certs, level=1))
    qf = make_initiator(server, CertificationAuthoritiesFile=str(certs.ca))
    qf.start()
    wait_server_log(server, rf"TLS connection from 127\.0\.0\.1:\d+ on port {server.port} "
                            r"refused: no client certificate")
    assert "logon" not in qf.events and not qf.logged_on()
    assert "logged on" not in server.log()


def test_quickfix_ssl_protocol_tls_1_2_is_spoken_by_the_server(
        server_factory, make_initiator, certs: Certificates) -> None:
    server = server_factory(sessions_cfg(certs, level=0))
    qf = make_initiator(server, CertificationAuthoritiesFile=str(certs.ca),
                        SSLProtocol="TLSv1_2")
    qf.start()
    qf.wait_logon()
    wait_server_log(server, r"TLS connection from 127\.0\.0\.1:\d+ on port \d+: TLSv1\.2 ")


def test_quickfix_logs_on_over_mutual_tls_with_a_password_and_a_wrong_one_is_refused(
        server_factory, tmp_path: Path, certs: Certificates) -> None:
    from fixserver.auth import hash_password
    cfg = sessions_cfg(certs, level=1) + ("Username=qf44\n"
                                          f"PasswordHash={hash_password('s3cret', n=1 << 12)}\n")
    server = server_factory(cfg)
    ssl = {"CertificationAuthoritiesFile": str(certs.ca),
           "ClientCertificateFile": str(certs.client_cert),
           "ClientCertificateKeyFile": str(certs.client_key)}
    wrong = QuickFixInitiator(tmp_path / "wrong", server.port, "FIX.4.4", "QF44", "EXCH",
                              ssl=ssl, credentials=("qf44", "guess"))
    right = QuickFixInitiator(tmp_path / "right", server.port, "FIX.4.4", "QF44", "EXCH",
                              ssl=ssl, credentials=("qf44", "s3cret"))
    try:
        wrong.start()
        wait_server_log(server, r"logon refused from 127\.0\.0\.1:\d+ for "
                                r"FIX\.4\.4:EXCH->QF44: wrong Password")
        wrong.stop(force=True)
        assert "logon" not in wrong.events and wrong.messages("in", "A") == []
        right.start()
        right.wait_logon()
        order_is_echoed(right)
    finally:
        wrong.stop(force=True)
        right.stop(force=True)
