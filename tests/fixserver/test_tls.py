"""Specification of TLS on acceptor ports (QuickFIX's SSL keys) and of the acceptor's
socket options.

Certificates are made at test time with ``cryptography``: a CA, a server
certificate for localhost and 127.0.0.1, a client certificate the CA signed, and an
untrusted client certificate signed by another CA. The behaviour on the wire is
checked through the real server process (``python -m server``) with Python ``ssl``
clients; the socket options in process, on the very sockets the acceptor made.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fixserver.acceptor import Acceptor, ListenerConfigError, port_options
from fixserver.codec import Framer, Message, encode, parse
from fixserver.connection import SessionRegistry
from fixserver.settings import load_sessions
from fixserver.tls import TLSConfigError, TLSSettings, protocol_range, server_context
from server.compose import build_sessions
from tests.conftest import REPO, FixServer, free_port

# -- certificates ------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificates:
    """PEM files made for the tests; every path is absolute."""

    ca: Path                  # the CA that signed the server and the trusted client
    server_cert: Path         # CN=localhost, SAN localhost and 127.0.0.1
    server_key: Path
    client_cert: Path         # signed by ``ca``
    client_key: Path
    untrusted_cert: Path      # signed by another CA
    untrusted_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str,
                 issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool = False,
                 server: bool = False) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(hours=1))
               .not_valid_after(now + dt.timedelta(days=7))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    elif server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def write_certificates(directory: Path) -> Certificates:
    """Make the test PKI in ``directory`` (EC P-256 keys: quick to make)."""
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {}

    def key(name: str) -> ec.EllipticCurvePrivateKey:
        k = ec.generate_private_key(ec.SECP256R1())
        files[name] = k.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
        return k

    def cert(name: str, c: x509.Certificate) -> None:
        files[name] = c.public_bytes(serialization.Encoding.PEM)

    ca_key, other_ca_key = key("ca.key"), key("other-ca.key")
    cert("ca.pem", _certificate("Test CA", ca_key, "Test CA", ca_key, ca=True))
    cert("server.pem", _certificate("localhost", key("server.key"), "Test CA", ca_key,
                                    server=True))
    cert("client.pem", _certificate("client", key("client.key"), "Test CA", ca_key))
    cert("untrusted.pem", _certificate("intruder", key("untrusted.key"), "Other CA",
                                       other_ca_key))
    for name, data in files.items():
        (directory / name).write_bytes(data)
    d = directory.resolve()
    return Certificates(d / "ca.pem", d / "server.pem", d / "server.key", d / "client.pem",
                        d / "client.key", d / "untrusted.pem", d / "untrusted.key")


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return write_certificates(tmp_path_factory.mktemp("tls"))


def tls_cfg(certs: Certificates, level: int = 0, extra: str = "") -> str:
    """An echo session EXCH <- TLS1 on a TLS port."""
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
{extra}
[SESSION]
BeginString=FIX.4.4
TargetCompID=TLS1
"""


# -- FIX over a socket -------------------------------------------------------------------


def logon(sender: str = "TLS1") -> bytes:
    now = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime()).encode()
    return encode(b"FIX.4.4", [(35, b"A"), (34, b"1"), (49, sender.encode()), (52, now),
                               (56, b"EXCH"), (98, b"0"), (108, b"30"), (141, b"Y")])


def first_message(sock: socket.socket, timeout: float = 5.0) -> Message | None:
    """The first FIX message the server sends; None if it closes the connection (or
    the TLS layer fails) first. Fails after ``timeout`` seconds of neither."""
    sock.settimeout(timeout)
    framer = Framer()
    while True:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"neither a message nor a close within {timeout}s") from None
        except (ssl.SSLError, ConnectionError):
            return None
        if not data:
            return None
        frames = framer.feed(data)
        if frames:
            return parse(frames[0])


def client_context(certs: Certificates, cert: Path | None = None,
                   key: Path | None = None) -> ssl.SSLContext:
    """A client that trusts the test CA, presenting ``cert`` if given."""
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    if cert is not None:
        ctx.load_cert_chain(cert, key)
    return ctx


def tls_logon(port: int, ctx: ssl.SSLContext) -> tuple[Message | None, int]:
    """Log on as TLS1 over TLS: (the server's first message or None, our local port)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    local_port = raw.getsockname()[1]
    try:
        with ctx.wrap_socket(raw, server_hostname="localhost") as sock:
            sock.sendall(logon())
            return first_message(sock), local_port
    except (ssl.SSLError, ConnectionError):
        return None, local_port   # refused during the handshake (TLS 1.2)
    finally:
        raw.close()


def wait_log(server: FixServer, pattern: str, timeout: float = 5.0) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while not (m := re.search(pattern, server.log())):
        if time.monotonic() > deadline:
            raise AssertionError(f"server log lacks {pattern!r}:\n{server.log()}")
        time.sleep(0.05)
    return m


def refusal(port: int, client_port: int, reason: str) -> str:
    return (rf"TLS connection from 127\.0\.0\.1:{client_port} on port {port} refused: "
            + reason)


def run_server(cfg: str, directory: Path) -> subprocess.CompletedProcess[str]:
    """Start the server and wait for it to exit (a start-up error)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "sessions.cfg"
    path.write_text(cfg.replace("SocketAcceptPort=5001", f"SocketAcceptPort={free_port()}"))
    return subprocess.run([sys.executable, "-m", "server", "--sessions", str(path),
                           "--data-dir", str(directory / "data")],
                          cwd=REPO, capture_output=True, text=True, timeout=60)


# -- SSLProtocol -------------------------------------------------------------------------


TLS = ssl.TLSVersion


def test_no_ssl_protocol_means_tls_1_2_and_later() -> None:
    assert protocol_range("") == (TLS.TLSv1_2, TLS.MAXIMUM_SUPPORTED)


def test_a_single_version_is_that_version_only() -> None:
    assert protocol_range("TLSv1_2") == (TLS.TLSv1_2, TLS.TLSv1_2)


def test_a_plus_adds_a_version() -> None:
    assert protocol_range("TLSv1_2 +TLSv1_3") == (TLS.TLSv1_2, TLS.MAXIMUM_SUPPORTED)


def test_all_minus_sslv2_and_sslv3_starts_at_tls_1_0() -> None:
    assert protocol_range("all -SSLv2 -SSLv3") == (TLS.TLSv1, TLS.MAXIMUM_SUPPORTED)


def test_a_minus_removes_a_version() -> None:
    assert protocol_range("all -SSLv2 -SSLv3 -TLSv1 -TLSv1_1 -TLSv1_3") \
        == (TLS.TLSv1_2, TLS.TLSv1_2)


def test_protocol_words_are_case_insensitive_and_may_be_dotted() -> None:
    assert protocol_range("tlsv1.2") == protocol_range("TLSv1_2")


def test_only_ssl_versions_is_an_error() -> None:
    with pytest.raises(TLSConfigError, match=r"SSLProtocol 'SSLv3' enables no TLS version"):
        protocol_range("SSLv3")


def test_a_gap_between_versions_is_an_error() -> None:
    with pytest.raises(TLSConfigError, match="leaves a gap"):
        protocol_range("TLSv1 +TLSv1_2")


def test_an_unknown_protocol_word_is_an_error_naming_it() -> None:
    with pytest.raises(TLSConfigError, match=r"unknown protocol 'TLS12'"):
        protocol_range("TLS12")


# -- the server context ------------------------------------------------------------------


def settings(certs: Certificates, **changes: object) -> TLSSettings:
    values: dict[str, object] = dict(
        server_certificate_file=certs.server_cert, server_certificate_key_file=certs.server_key,
        certification_authorities_file=certs.ca, certificate_verify_level=0,
        ssl_protocol="", ssl_cipher_suite="")
    values.update(changes)
    return TLSSettings(**values)  # type: ignore[arg-type]


def test_level_0_asks_no_client_certificate(certs: Certificates) -> None:
    ctx = server_context(settings(certs))
    assert ctx.verify_mode == ssl.CERT_NONE
    assert ctx.minimum_version == TLS.TLSv1_2


def test_level_1_requires_a_client_certificate(certs: Certificates) -> None:
    assert server_context(settings(certs, certificate_verify_level=1)).verify_mode \
        == ssl.CERT_REQUIRED


def test_the_key_may_be_in_the_certificate_file(certs: Certificates, tmp_path: Path) -> None:
    both = tmp_path / "both.pem"
    both.write_bytes(certs.server_cert.read_bytes() + certs.server_key.read_bytes())
    server_context(settings(certs, server_certificate_file=both,
                            server_certificate_key_file=None))


def test_a_missing_certificate_file_is_named(certs: Certificates, tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(TLSConfigError, match=rf"ServerCertificateFile {missing}: cannot read"):
        server_context(settings(certs, server_certificate_file=missing))


def test_a_certificate_file_without_a_certificate_is_named(certs: Certificates) -> None:
    with pytest.raises(TLSConfigError,
                       match=rf"ServerCertificateFile {certs.server_key}: no PEM certificate"):
        server_context(settings(certs, server_certificate_file=certs.server_key))


def test_a_key_that_does_not_match_the_certificate_is_named(certs: Certificates) -> None:
    with pytest.raises(TLSConfigError, match=rf"ServerCertificateKeyFile {certs.client_key}: "
                                             "the private key does not match"):
        server_context(settings(certs, server_certificate_key_file=certs.client_key))


def test_an_encrypted_key_is_refused_rather_than_prompted_for(certs: Certificates,
                                                              tmp_path: Path) -> None:
    key = serialization.load_pem_private_key(certs.server_key.read_bytes(), None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")))
    with pytest.raises(TLSConfigError, match=rf"{encrypted}: the private key is encrypted"):
        server_context(settings(certs, server_certificate_key_file=encrypted))


def test_an_unreadable_ca_file_is_named(certs: Certificates) -> None:
    with pytest.raises(TLSConfigError,
                       match=rf"CertificationAuthoritiesFile {certs.server_key}: no PEM"):
        server_context(settings(certs, certification_authorities_file=certs.server_key))


def test_a_cipher_suite_openssl_cannot_use_is_an_error(certs: Certificates) -> None:
    with pytest.raises(TLSConfigError, match=r"SSLCipherSuite 'NO-SUCH-CIPHER'"):
        server_context(settings(certs, ssl_cipher_suite="NO-SUCH-CIPHER"))


# -- per-port agreement ------------------------------------------------------------------


def two_sessions(first: str = "", second: str = "", default: str = "") -> str:
    return ("[DEFAULT]\nSocketAcceptPort=5001\nSenderCompID=EXCH\nApplication=echo\n"
            + default + "[SESSION]\nBeginString=FIX.4.4\nTargetCompID=A\n" + first
            + "[SESSION]\nBeginString=FIX.4.4\nTargetCompID=B\n" + second)


def options_of(tmp_path: Path, text: str) -> dict:
    path = tmp_path / "sessions.cfg"
    path.write_text(text)
    return port_options(load_sessions(path), tmp_path)


def test_sessions_on_one_port_disagreeing_on_tls_is_an_error_naming_them(
        certs: Certificates, tmp_path: Path) -> None:
    tls = f"SocketUseSSL=Y\nServerCertificateFile={certs.server_cert}\n" \
          f"ServerCertificateKeyFile={certs.server_key}\n"
    with pytest.raises(ListenerConfigError) as info:
        options_of(tmp_path, two_sessions(first=tls))
    assert str(info.value) == (
        "port 5001: sessions FIX.4.4:EXCH->A and FIX.4.4:EXCH->B disagree on SocketUseSSL "
        "(Y vs N); sessions sharing a port share its TLS and socket settings")


def test_sessions_on_one_tls_port_must_present_the_same_certificate(
        certs: Certificates, tmp_path: Path) -> None:
    tls = "SocketUseSSL=Y\nServerCertificateKeyFile={key}\nServerCertificateFile={cert}\n"
    with pytest.raises(ListenerConfigError, match="disagree on ServerCertificateFile"):
        options_of(tmp_path, two_sessions(
            first=tls.format(cert=certs.server_cert, key=certs.server_key),
            second=tls.format(cert=certs.client_cert, key=certs.client_key)))


def test_sessions_on_one_port_disagreeing_on_a_socket_option_is_an_error(
        tmp_path: Path) -> None:
    with pytest.raises(ListenerConfigError, match=r"disagree on SocketNodelay \(Y vs N\)"):
        options_of(tmp_path, two_sessions(second="SocketNodelay=N\n"))


def test_tls_keys_of_plain_sessions_need_not_agree(certs: Certificates, tmp_path: Path) -> None:
    options = options_of(tmp_path, two_sessions(first=f"ServerCertificateFile={certs.ca}\n"))
    assert options[5001].tls is None


def test_relative_certificate_paths_are_read_beside_the_sessions_cfg(
        certs: Certificates, tmp_path: Path) -> None:
    (tmp_path / "pki").mkdir()
    for path in (certs.server_cert, certs.server_key):
        (tmp_path / "pki" / path.name).write_bytes(path.read_bytes())
    options = options_of(tmp_path, two_sessions(default=(
        "SocketUseSSL=Y\nServerCertificateFile=pki/server.pem\n"
        "ServerCertificateKeyFile=pki/server.key\n")))
    assert options[5001].tls is not None


# -- TLS through the server process ------------------------------------------------------

slow = pytest.mark.slow


@slow
def test_a_tls_client_logs_on_and_gets_the_logon_back(server_factory,
                                                      certs: Certificates) -> None:
    server = server_factory(tls_cfg(certs))
    reply, client_port = tls_logon(server.port, client_context(certs))
    assert reply is not None and reply.msg_type == b"A"
    assert (reply.get(49), reply.get(56)) == (b"EXCH", b"TLS1")
    wait_log(server, rf"TLS connection from 127\.0\.0\.1:{client_port} on port {server.port}: "
                     r"TLSv1\.[23] ")


@slow
def test_a_plain_tcp_client_on_a_tls_port_is_disconnected_and_logged(
        server_factory, certs: Certificates) -> None:
    server = server_factory(tls_cfg(certs))
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        client_port = sock.getsockname()[1]
        sock.sendall(logon())
        received = b""
        while chunk := first_bytes(sock):
            received += chunk
    assert b"8=FIX" not in received   # at most a TLS alert, never a FIX message
    wait_log(server, refusal(server.port, client_port, "not a TLS client hello"))
    assert "TLS1: logged on" not in server.log()


def first_bytes(sock: socket.socket, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    try:
        return sock.recv(65536)
    except ConnectionError:
        return b""
    except TimeoutError:
        raise AssertionError(f"the server did not close within {timeout}s") from None


@slow
def test_a_tls_client_that_never_starts_the_handshake_is_closed_after_logon_timeout(
        server_factory, certs: Certificates) -> None:
    server = server_factory(tls_cfg(certs, extra="LogonTimeout=1"))
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        client_port = sock.getsockname()[1]
        assert first_bytes(sock) == b""
    wait_log(server, refusal(server.port, client_port, r"no TLS handshake within 1s"))


@slow
def test_level_1_refuses_a_client_without_a_certificate(server_factory,
                                                        certs: Certificates) -> None:
    server = server_factory(tls_cfg(certs, level=1))
    reply, client_port = tls_logon(server.port, client_context(certs))
    assert reply is None
    wait_log(server, refusal(server.port, client_port, "no client certificate"))


@slow
def test_level_1_refuses_a_certificate_signed_by_another_ca(server_factory,
                                                             certs: Certificates) -> None:
    server = server_factory(tls_cfg(certs, level=1))
    reply, client_port = tls_logon(
        server.port, client_context(certs, certs.untrusted_cert, certs.untrusted_key))
    assert reply is None
    wait_log(server, refusal(server.port, client_port, "client certificate refused: "))


@slow
def test_level_1_lets_a_client_with_a_ca_signed_certificate_log_on(
        server_factory, certs: Certificates) -> None:
    server = server_factory(tls_cfg(certs, level=1))
    reply, client_port = tls_logon(server.port,
                                   client_context(certs, certs.client_cert, certs.client_key))
    assert reply is not None and reply.msg_type == b"A"
    wait_log(server, rf"TLS connection from 127\.0\.0\.1:{client_port} .*"
                     r"client certificate commonName=client")


@slow
def test_ssl_protocol_caps_the_version_the_server_speaks(server_factory,
                                                         certs: Certificates) -> None:
    server = server_factory(tls_cfg(certs, extra="SSLProtocol=TLSv1_2"))
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    with client_context(certs).wrap_socket(raw, server_hostname="localhost") as sock:
        assert sock.version() == "TLSv1.2"


@slow
def test_a_bad_server_certificate_file_stops_the_start_with_exit_2_naming_it(
        certs: Certificates, tmp_path: Path) -> None:
    not_a_cert = tmp_path / "not-a-cert.pem"
    not_a_cert.write_text("garbage\n")
    cfg = tls_cfg(certs).replace(f"ServerCertificateFile={certs.server_cert}",
                                 f"ServerCertificateFile={not_a_cert}")
    result = run_server(cfg, tmp_path / "server")
    assert result.returncode == 2, result.stderr
    assert re.search(rf"^fixserver: port \d+ \(FIX\.4\.4:EXCH->TLS1\): ServerCertificateFile "
                     rf"{re.escape(str(not_a_cert))}: no PEM certificate in it$",
                     result.stderr, re.M), result.stderr


@slow
def test_two_sessions_on_one_port_disagreeing_on_tls_stop_the_start(
        certs: Certificates, tmp_path: Path) -> None:
    cfg = tls_cfg(certs) + "[SESSION]\nBeginString=FIX.4.2\nTargetCompID=PLAIN\nSocketUseSSL=N\n"
    result = run_server(cfg, tmp_path / "server")
    assert result.returncode == 2, result.stderr
    assert re.search(r"^fixserver: port \d+: sessions FIX\.4\.4:EXCH->TLS1 and "
                     r"FIX\.4\.2:EXCH->PLAIN disagree on SocketUseSSL \(Y vs N\)",
                     result.stderr, re.M), result.stderr


# -- socket options, on the acceptor's own sockets -----------------------------------------


PLAIN_CFG = """\
[DEFAULT]
SocketAcceptPort={port}
SocketAcceptAddress=127.0.0.1
SenderCompID=EXCH
Application=echo
PersistMessages=N
{extra}
[SESSION]
BeginString=FIX.4.4
TargetCompID=TLS1
"""


@contextmanager
def acceptor_in_process(tmp_path: Path, extra: str = "",
                        max_pending: int | None = None) -> Iterator[int]:
    """The acceptor of ``extra``'s options, serving an echo session in a thread of this
    process (so that its sockets can be looked at); yields its port."""
    port = free_port()
    path = tmp_path / "sessions.cfg"
    path.write_text(PLAIN_CFG.format(port=port, extra=extra))
    configs = load_sessions(path)
    acceptor = Acceptor(SessionRegistry(build_sessions(configs, tmp_path, tmp_path)),
                        max_pending=max_pending, ports=port_options(configs, tmp_path))
    ready = threading.Event()
    loop: dict[str, object] = {}

    async def serve() -> None:
        async with trio.open_nursery() as nursery:
            loop["token"], loop["cancel"] = trio.lowlevel.current_trio_token(), \
                nursery.cancel_scope.cancel
            await nursery.start(acceptor.serve)
            ready.set()

    def run() -> None:
        try:
            trio.run(serve)
        except BaseException as e:  # reported by the test thread
            loop["error"] = e
            ready.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10) and "error" not in loop, loop.get("error")
    try:
        yield port
    finally:
        trio.from_thread.run_sync(loop["cancel"], trio_token=loop["token"])
        thread.join(10)
        assert not thread.is_alive()


def own_socket(match) -> socket.socket:
    """A duplicate of this process's socket for which ``match(sock)`` holds."""
    for name in os.listdir("/proc/self/fd"):
        try:
            sock = socket.socket(fileno=os.dup(int(name)))
        except OSError:
            continue   # not a socket (or already closed)
        try:
            if sock.family == socket.AF_INET and match(sock):
                return sock
        except OSError:
            pass
        sock.close()
    raise AssertionError("no such socket in this process")


def accepted_socket(client: socket.socket) -> socket.socket:
    """The server's end of ``client``'s connection (logged on, so fully set up)."""
    client.sendall(logon())
    reply = first_message(client)
    assert reply is not None and reply.msg_type == b"A"
    here, there = client.getsockname(), client.getpeername()

    def is_it(s: socket.socket) -> bool:
        return s.getsockname() == there and s.getpeername() == here
    return own_socket(is_it)


def listening_socket(port: int) -> socket.socket:
    def is_it(s: socket.socket) -> bool:
        return (s.getsockname() == ("127.0.0.1", port)
                and s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1)
    return own_socket(is_it)


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="finds the acceptor's sockets in /proc/self/fd")


@linux_only
def test_tcp_nodelay_is_on_by_default(tmp_path: Path) -> None:
    with acceptor_in_process(tmp_path) as port, \
            socket.create_connection(("127.0.0.1", port), timeout=5) as client, \
            accepted_socket(client) as server_side:
        assert server_side.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


@linux_only
def test_socket_nodelay_n_turns_tcp_nodelay_off(tmp_path: Path) -> None:
    with acceptor_in_process(tmp_path, "SocketNodelay=N") as port, \
            socket.create_connection(("127.0.0.1", port), timeout=5) as client, \
            accepted_socket(client) as server_side:
        assert server_side.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0


@linux_only
def test_quickfix_j_s_socket_tcp_no_delay_n_turns_it_off_too(tmp_path: Path) -> None:
    with acceptor_in_process(tmp_path, "SocketTcpNoDelay=N") as port, \
            socket.create_connection(("127.0.0.1", port), timeout=5) as client, \
            accepted_socket(client) as server_side:
        assert server_side.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0


@linux_only
def test_buffer_sizes_are_applied_to_accepted_sockets(tmp_path: Path) -> None:
    extra = "SocketSendBufferSize=65536\nSocketReceiveBufferSize=49152"
    with acceptor_in_process(tmp_path, extra) as port, \
            socket.create_connection(("127.0.0.1", port), timeout=5) as client, \
            accepted_socket(client) as server_side:
        # Linux doubles the value asked for, for its bookkeeping (socket(7)).
        assert server_side.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) == 2 * 65536
        assert server_side.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == 2 * 49152


@linux_only
def test_the_listener_reuses_its_address_by_default(tmp_path: Path) -> None:
    with acceptor_in_process(tmp_path) as port, listening_socket(port) as listener:
        assert listener.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0


@linux_only
def test_socket_reuse_address_n_leaves_so_reuseaddr_off(tmp_path: Path) -> None:
    with acceptor_in_process(tmp_path, "SocketReuseAddress=N") as port, \
            listening_socket(port) as listener:
        assert listener.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 0


def test_handshakes_count_against_max_pending_with_connections_awaiting_logon(
        tmp_path: Path, certs: Certificates) -> None:
    tls = (f"SocketUseSSL=Y\nServerCertificateFile={certs.server_cert}\n"
           f"ServerCertificateKeyFile={certs.server_key}\nLogonTimeout=30")
    with acceptor_in_process(tmp_path, tls, max_pending=1) as port, \
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            client_context(certs).wrap_socket(raw, server_hostname="localhost") as oldest, \
            socket.create_connection(("127.0.0.1", port), timeout=5) as newest:
        # The oldest finished its handshake and sends no Logon; the newest does not
        # even start its handshake. Its arrival drops the oldest at once, not after
        # the 30 s LogonTimeout, and it is itself kept.
        assert first_message(oldest) is None
        newest.settimeout(0.5)
        with pytest.raises(TimeoutError):
            newest.recv(1)
