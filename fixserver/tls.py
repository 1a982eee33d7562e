"""TLS for acceptor ports: QuickFIX's SSL keys turned into a server ``ssl.SSLContext``.

A port with ``SocketUseSSL=Y`` presents ``ServerCertificateFile`` (with its private
key in ``ServerCertificateKeyFile``, or in the certificate file when that key is not
set, as QuickFIX does). ``CertificateVerifyLevel=1`` asks every client for a
certificate and accepts only one signed by a CA of ``CertificationAuthoritiesFile``
(mutual TLS); 0 asks for none.

``SSLProtocol`` uses QuickFIX C++'s syntax (1.16, mod_ssl's): words ``SSLv2``,
``SSLv3``, ``TLSv1``, ``TLSv1_1``, ``TLSv1_2``, ``TLSv1_3`` and ``all``, any case, each
optionally prefixed ``+`` (add) or ``-`` (remove); a bare word replaces what came
before (dotted spellings such as ``TLSv1.2`` are accepted too). The versions left
enabled become the context's minimum and maximum version:

* empty (the default): TLS 1.2 and later (QuickFIX's default, ``all -SSLv2``, would
  allow TLS 1.0);
* ``TLSv1_2`` is TLS 1.2 only, ``all -SSLv2 -SSLv3`` TLS 1.0 and later, as in QuickFIX;
* SSLv2 and SSLv3 are not available in OpenSSL 3: they are ignored beside a TLS
  version and an error alone;
* a gap (``TLSv1 +TLSv1_2``) is an error, since only a range can be set;
* under OpenSSL 3, TLS 1.0 and 1.1 also need ``@SECLEVEL=0`` in ``SSLCipherSuite``.

``SSLCipherSuite`` is an OpenSSL cipher string (``set_ciphers``); it governs TLS 1.2
and earlier, TLS 1.3 keeps OpenSSL's suites.

Every problem is a :class:`TLSConfigError` naming the key and the file.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from pathlib import Path

from .settings import SessionConfig


class TLSConfigError(Exception):
    """A TLS setting that cannot be used; the message names the key and the file."""


# QuickFIX's protocol words, oldest first; None: a version OpenSSL 3 cannot speak.
_PROTOCOLS: dict[str, ssl.TLSVersion | None] = {
    "sslv2": None,
    "sslv3": None,
    "tlsv1": ssl.TLSVersion.TLSv1,
    "tlsv1_1": ssl.TLSVersion.TLSv1_1,
    "tlsv1_2": ssl.TLSVersion.TLSv1_2,
    "tlsv1_3": ssl.TLSVersion.TLSv1_3,
}
_TLS_ORDER = [v for v in _PROTOCOLS.values() if v is not None]
_TOKEN = re.compile(r"([+-]?)([A-Za-z0-9_.]+)")
DEFAULT_MINIMUM = ssl.TLSVersion.TLSv1_2


def protocol_range(text: str) -> tuple[ssl.TLSVersion, ssl.TLSVersion]:
    """(minimum, maximum) TLS version of an ``SSLProtocol`` value (see the module's
    docstring); ``TLSVersion.MAXIMUM_SUPPORTED`` as the maximum leaves it open."""
    if not text.strip():
        return DEFAULT_MINIMUM, ssl.TLSVersion.MAXIMUM_SUPPORTED
    enabled: set[str] = set()
    for token in text.split():
        m = _TOKEN.fullmatch(token)
        word = m[2].lower().replace(".", "_") if m else ""
        if word != "all" and word not in _PROTOCOLS:
            raise TLSConfigError(
                f"SSLProtocol {text!r}: unknown protocol {token!r} (expected SSLv2, SSLv3, "
                "TLSv1, TLSv1_1, TLSv1_2, TLSv1_3 or all, each optionally after + or -)")
        assert m is not None
        words = set(_PROTOCOLS) if word == "all" else {word}
        if m[1] == "+":
            enabled |= words
        elif m[1] == "-":
            enabled -= words
        else:
            enabled = words
    versions = sorted(_TLS_ORDER.index(v) for w in enabled if (v := _PROTOCOLS[w]) is not None)
    if not versions:
        why = " (SSLv2 and SSLv3 are not supported)" if enabled else ""
        raise TLSConfigError(f"SSLProtocol {text!r} enables no TLS version{why}")
    if versions != list(range(versions[0], versions[-1] + 1)):
        raise TLSConfigError(f"SSLProtocol {text!r} leaves a gap between TLS versions: "
                             "only a range of versions can be enabled")
    low, high = _TLS_ORDER[versions[0]], _TLS_ORDER[versions[-1]]
    return low, (ssl.TLSVersion.MAXIMUM_SUPPORTED if high == _TLS_ORDER[-1] else high)


def resolve(value: str, cfg_dir: Path) -> Path:
    """A certificate path as written in sessions.cfg: an absolute path is kept; a
    relative one is looked up in the sessions.cfg's directory, then in the current
    directory (QuickFIX's reading), and reported against the former when in neither."""
    path = Path(value)
    if path.is_absolute():
        return path
    beside = cfg_dir / path
    if not beside.exists() and path.exists():
        return path.resolve()
    return beside.resolve()


@dataclass(frozen=True, slots=True)
class TLSSettings:
    """The TLS keys of one session (SocketUseSSL=Y), certificate paths resolved:
    what sessions sharing a port must agree on. Field order is the keys' order."""

    server_certificate_file: Path
    server_certificate_key_file: Path | None
    certification_authorities_file: Path | None
    certificate_verify_level: int
    ssl_protocol: str
    ssl_cipher_suite: str

    @classmethod
    def of(cls, config: SessionConfig, cfg_dir: Path) -> TLSSettings | None:
        """The session's TLS settings; None when SocketUseSSL=N."""
        if not config.socket_use_ssl:
            return None
        assert config.server_certificate_file  # settings.py requires it with SocketUseSSL=Y

        def path(value: str | None) -> Path | None:
            return resolve(value, cfg_dir) if value else None

        return cls(resolve(config.server_certificate_file, cfg_dir),
                   path(config.server_certificate_key_file),
                   path(config.certification_authorities_file),
                   config.certificate_verify_level,
                   config.ssl_protocol.strip(), config.ssl_cipher_suite.strip())


# The sessions.cfg key of each TLSSettings field, for messages.
KEY_NAMES = {
    "server_certificate_file": "ServerCertificateFile",
    "server_certificate_key_file": "ServerCertificateKeyFile",
    "certification_authorities_file": "CertificationAuthoritiesFile",
    "certificate_verify_level": "CertificateVerifyLevel",
    "ssl_protocol": "SSLProtocol",
    "ssl_cipher_suite": "SSLCipherSuite",
}


class _EncryptedKey(Exception):
    pass


def _no_passphrase() -> str:
    # Without a password callback OpenSSL would prompt on the terminal and the
    # server would hang at start-up; QuickFIX has no key for a passphrase either.
    raise _EncryptedKey


def _readable(key: str, path: Path) -> None:
    try:
        with path.open("rb") as f:
            f.read(1)
    except OSError as e:
        raise TLSConfigError(f"{key} {path}: cannot read: {e.strerror}") from e


def server_context(settings: TLSSettings) -> ssl.SSLContext:
    """A server-side context for ``settings``; every file is read now."""
    cert = settings.server_certificate_file
    key = settings.server_certificate_key_file
    # Where the private key is, named as the operator wrote it.
    key_name, key_path = ("ServerCertificateKeyFile", key) if key is not None else (
        "ServerCertificateFile", cert)
    ca = settings.certification_authorities_file
    _readable("ServerCertificateFile", cert)
    if key is not None:
        _readable("ServerCertificateKeyFile", key)
    if ca is not None:
        _readable("CertificationAuthoritiesFile", ca)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version, ctx.maximum_version = protocol_range(settings.ssl_protocol)
    if settings.ssl_cipher_suite:
        try:
            ctx.set_ciphers(settings.ssl_cipher_suite)
        except ssl.SSLError as e:
            raise TLSConfigError(f"SSLCipherSuite {settings.ssl_cipher_suite!r}: "
                                 "no cipher can be selected") from e
    # OpenSSL's errors from load_cert_chain do not say which file is wrong: the
    # certificate is checked on its own first, so what fails after it is the key.
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_verify_locations(cafile=cert)
    except ssl.SSLError as e:
        raise TLSConfigError(f"ServerCertificateFile {cert}: no PEM certificate in it") from e
    try:
        ctx.load_cert_chain(cert, key, password=_no_passphrase)
    except _EncryptedKey:
        raise TLSConfigError(f"{key_name} {key_path}: the private key is encrypted; "
                             "a passphrase is not supported") from None
    except ssl.SSLError as e:
        if e.reason == "KEY_VALUES_MISMATCH":
            raise TLSConfigError(f"{key_name} {key_path}: the private key does not match "
                                 f"the certificate in ServerCertificateFile {cert}") from e
        raise TLSConfigError(f"{key_name} {key_path}: no PEM private key in it") from e
    if ca is not None:
        try:
            ctx.load_verify_locations(cafile=ca)
        except ssl.SSLError as e:
            raise TLSConfigError(f"CertificationAuthoritiesFile {ca}: "
                                 "no PEM certificate in it") from e
    if settings.certificate_verify_level == 1:
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx
