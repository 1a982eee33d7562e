"""Reader of ``sessions.cfg`` in QuickFIX SessionSettings format.

``[DEFAULT]`` holds values every ``[SESSION]`` inherits; each ``[SESSION]`` names
one acceptor session by BeginString, SenderCompID (ours) and TargetCompID (the
counterparty). Keys mean what QuickFIX documents.

Every key is in :data:`KEYS`, one row each, with how it is parsed, its default and
what the exchange does with it:

* ``IMPLEMENTED``: works as QuickFIX (or QuickFIX/J, for the keys it names) documents;
* ``EXTENSION``: this exchange's own (the application, logon passwords, log rotation);
* ``IGNORED``: a key QuickFIX documents that the exchange accepts and does not act
  on (an initiator's key, a database store, ...): it is logged once at start-up as a
  warning naming it, so a broker's QuickFIX file starts as it is.

A key in no engine's documentation is an error naming the file, line and key, with
the closest known key as a suggestion: a misspelt setting must never pass silently.
A plain-text ``Password`` is refused: a session's password is kept as the hash that
``fixserver-passwd`` prints (``PasswordHash``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import ipaddress
import logging
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from zoneinfo import ZoneInfoNotFoundError

from .schedule import Schedule, parse_day, zone_of

log = logging.getLogger("fixserver.settings")


class SettingsError(Exception):
    """A sessions.cfg problem, with the file and line it was found at."""


IMPLEMENTED, EXTENSION, IGNORED = "implemented", "extension", "ignored"
APPLICATIONS = ("exchange", "dropcopy", "marketdata", "echo")
LOG_ROTATIONS = ("daily", "size", "none")


@dataclass(frozen=True)
class Key:
    """One settings key: how its value is parsed, its default, the SessionConfig
    field it sets (None for an ignored key) and its status."""

    kind: str
    default: object = None
    field: str | None = None
    status: str = IMPLEMENTED
    note: str = ""


def _ignored(note: str = "not used by this acceptor") -> Key:
    return Key("str", None, None, IGNORED, note)


KEYS: dict[str, Key] = {
    # -- the session ----------------------------------------------------------------
    "ConnectionType": Key("str", "acceptor", "connection_type"),
    "BeginString": Key("str", None, "begin_string"),
    "SenderCompID": Key("str", None, "sender_comp_id"),
    "TargetCompID": Key("str", None, "target_comp_id"),
    "HeartBtInt": Key("int", 30, "heartbeat_interval"),
    "ResetOnLogon": Key("bool", False, "reset_on_logon"),
    "ResetOnLogout": Key("bool", False, "reset_on_logout"),
    "ResetOnDisconnect": Key("bool", False, "reset_on_disconnect"),
    "RefreshOnLogon": Key("bool", False, "refresh_on_logon"),
    "SendRedundantResendRequests": Key("bool", False, "send_redundant_resend_requests"),
    "LogonTimeout": Key("int", 10, "logon_timeout"),
    "LogoutTimeout": Key("int", 2, "logout_timeout"),
    "SendLogoutBeforeDisconnectFromTimeout": Key("bool", False,
                                                 "send_logout_before_timeout_disconnect"),
    "MillisecondsInTimeStamp": Key("bool", True, "milliseconds_in_timestamp"),
    "TimeStampPrecision": Key("precision", None, "timestamp_precision"),
    "ResendRequestChunkSize": Key("int", 0, "resend_request_chunk_size",
                                  note="accepted; resends are always streamed"),
    # -- the schedule -------------------------------------------------------------------
    "StartTime": Key("time", None, "start_time"),
    "EndTime": Key("time", None, "end_time"),
    "StartDay": Key("day", None, "start_day"),
    "EndDay": Key("day", None, "end_day"),
    "TimeZone": Key("zone", "", "time_zone"),
    "UseLocalTime": Key("bool", False, "use_local_time"),
    "NonStopSession": Key("bool", False, "non_stop_session"),
    # -- validation ---------------------------------------------------------------------
    "UseDataDictionary": Key("bool", True, "use_data_dictionary"),
    "DataDictionary": Key("str", None, "data_dictionary"),
    "CheckCompID": Key("bool", True, "check_comp_id"),
    "CheckLatency": Key("bool", True, "check_latency"),
    "MaxLatency": Key("int", 120, "max_latency"),
    "ValidateUserDefinedFields": Key("bool", True, "validate_user_defined_fields"),
    "ValidateFieldsOutOfOrder": Key("bool", True, "validate_fields_out_of_order"),
    "ValidateFieldsHaveValues": Key("bool", True, "validate_fields_have_values"),
    "AllowUnknownMsgFields": Key("bool", False, "allow_unknown_msg_fields"),
    "ValidateUnorderedGroupFields": Key("bool", True, "validate_unordered_group_fields"),
    # -- the acceptor's socket --------------------------------------------------------------
    "SocketAcceptPort": Key("int", None, "port"),
    "SocketAcceptAddress": Key("str", "0.0.0.0", "address"),
    "SocketReuseAddress": Key("bool", True, "socket_reuse_address"),
    "SocketNodelay": Key("bool", True, "socket_nodelay",
                         note="Y by default here (QuickFIX C++: N), as QuickFIX/J"),
    "SocketTcpNoDelay": Key("bool", None, "socket_tcp_no_delay",
                            note="QuickFIX/J's name for SocketNodelay"),
    "SocketSendBufferSize": Key("int", 0, "socket_send_buffer_size"),
    "SocketReceiveBufferSize": Key("int", 0, "socket_receive_buffer_size"),
    "SendBufferSize": Key("int", None, "send_buffer_size",
                          note="older QuickFIX name of SocketSendBufferSize"),
    "ReceiveBufferSize": Key("int", None, "receive_buffer_size",
                             note="older QuickFIX name of SocketReceiveBufferSize"),
    # -- TLS ----------------------------------------------------------------------------------
    "SocketUseSSL": Key("bool", False, "socket_use_ssl"),
    "ServerCertificateFile": Key("str", None, "server_certificate_file"),
    "ServerCertificateKeyFile": Key("str", None, "server_certificate_key_file"),
    "CertificationAuthoritiesFile": Key("str", None, "certification_authorities_file"),
    "CertificateVerifyLevel": Key("int", 0, "certificate_verify_level"),
    "SSLProtocol": Key("str", "", "ssl_protocol"),
    "SSLCipherSuite": Key("str", "", "ssl_cipher_suite"),
    # -- storage and logs ---------------------------------------------------------------------
    "FileStorePath": Key("str", "store", "file_store_path"),
    "PersistMessages": Key("bool", True, "persist_messages"),
    "FileLogPath": Key("str", None, "file_log_path"),
    "FileLogRotation": Key("rotation", "daily", "file_log_rotation", EXTENSION),
    "FileLogMaxSize": Key("int", 100 << 20, "file_log_max_size", EXTENSION),
    "FileLogRetentionDays": Key("int", 30, "file_log_retention_days", EXTENSION),
    # -- logon authentication -----------------------------------------------------------------
    "AllowedRemoteAddresses": Key("addresses", (), "allowed_remote_addresses"),
    "Username": Key("str", None, "username", EXTENSION),
    "PasswordHash": Key("str", None, "password_hash", EXTENSION),
    # -- the exchange ---------------------------------------------------------------------------
    "Application": Key("app", "exchange", "application", EXTENSION),
    "CancelOnDisconnect": Key("bool", False, "cancel_on_disconnect", EXTENSION),
    # -- documented by QuickFIX, accepted and ignored ------------------------------------------
    "SessionQualifier": _ignored("sessions are told apart by their CompIDs"),
    "DefaultApplVerID": _ignored("FIXT.1.1 only"),
    "TransportDataDictionary": _ignored("FIXT.1.1 only"),
    "AppDataDictionary": _ignored("FIXT.1.1 only"),
    "LogonTime": _ignored("an initiator's setting"),
    "LogoutTime": _ignored("an initiator's setting"),
    "LogonDay": _ignored("an initiator's setting"),
    "LogoutDay": _ignored("an initiator's setting"),
    "SendResetSeqNumFlag": _ignored("an initiator's setting"),
    "ReconnectInterval": _ignored("an initiator's setting"),
    "SocketConnectHost": _ignored("an initiator's setting"),
    "SocketConnectPort": _ignored("an initiator's setting"),
    "SocketConnectSourceHost": _ignored("an initiator's setting"),
    "SocketConnectSourcePort": _ignored("an initiator's setting"),
    "ClientCertificateFile": _ignored("an initiator's setting"),
    "ClientCertificateKeyFile": _ignored("an initiator's setting"),
    "HttpAcceptPort": _ignored("the operator page is configured in exchange.toml"),
    "ValidateLengthAndChecksum": _ignored("BodyLength and CheckSum are always checked"),
    "PreserveMessageFieldsOrder": _ignored(),
    "ResendSessionLevelRejects": _ignored(),
    "EnableLastMsgSeqNumProcessed": _ignored(),
    "MaxMessagesInResendRequest": _ignored("resends are streamed whatever their size"),
    "IgnorePossDupResendRequests": _ignored(),
    "RequiresOrigSendingTime": _ignored(),
    "SocketSendTimeout": _ignored(),
    "SocketReceiveTimeout": _ignored(),
    "SocketKeepAlive": _ignored(),
    "SocketOobInline": _ignored(),
    "SocketLinger": _ignored(),
    "SocketTrafficClass": _ignored(),
    "SocketAcceptProtocol": _ignored(),
    "FileLogBackupPath": _ignored("logs rotate in FileLogPath (FileLogRotation)"),
    "FileIncludeMilliseconds": _ignored("log timestamps always have milliseconds"),
    "FileIncludeTimeStampForMessages": _ignored("message log lines always have a timestamp"),
    "FileLogHeartbeats": _ignored("heartbeats are always logged"),
    "ScreenLogShowIncoming": _ignored(),
    "ScreenLogShowOutgoing": _ignored(),
    "ScreenLogShowEvents": _ignored(),
    "CertificationAuthoritiesDirectory": _ignored("use CertificationAuthoritiesFile"),
    "CertificateRevocationListFile": _ignored(),
    "CertificateRevocationListDirectory": _ignored(),
    "AcceptorTemplate": _ignored("every session is configured explicitly"),
    "ThreadModel": _ignored(),
    "UseJmx": _ignored(),
    "Password": Key("password"),
    **{name: _ignored("a database store or log")
       for prefix in ("MySQLStore", "MySQLLog", "PostgreSQLStore", "PostgreSQLLog",
                      "OdbcStore", "OdbcLog")
       for name in (f"{prefix}{suffix}" for suffix in (
           "Database", "User", "Password", "Host", "Port", "UseConnectionPool",
           "ConnectionString", "IncomingTable", "OutgoingTable", "EventTable"))},
}
# SocketConnectHost1, SocketConnectPort2, ...: an initiator's failover addresses.
_NUMBERED = re.compile(r"(SocketConnectHost|SocketConnectPort)\d+")


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """The settings of one session, with defaults applied."""

    begin_string: str
    sender_comp_id: str
    target_comp_id: str
    port: int
    address: str
    heartbeat_interval: int
    reset_on_logon: bool
    reset_on_logout: bool
    reset_on_disconnect: bool
    file_store_path: str
    data_dictionary: str | None
    use_data_dictionary: bool
    check_comp_id: bool
    check_latency: bool
    max_latency: int
    validate_user_defined_fields: bool
    validate_fields_out_of_order: bool
    validate_fields_have_values: bool
    start_time: dt.time | None
    end_time: dt.time | None
    logon_timeout: int
    logout_timeout: int
    persist_messages: bool
    resend_request_chunk_size: int
    send_redundant_resend_requests: bool
    application: str
    cancel_on_disconnect: bool
    # Added since: with defaults, so a config can be written with the fields above only.
    connection_type: str = "acceptor"
    start_day: int | None = None
    end_day: int | None = None
    time_zone: str = ""
    use_local_time: bool = False
    non_stop_session: bool = False
    refresh_on_logon: bool = False
    send_logout_before_timeout_disconnect: bool = False
    milliseconds_in_timestamp: bool = True
    timestamp_precision: int | None = None
    allow_unknown_msg_fields: bool = False
    validate_unordered_group_fields: bool = True
    socket_reuse_address: bool = True
    socket_nodelay: bool = True
    socket_tcp_no_delay: bool | None = None
    socket_send_buffer_size: int = 0
    socket_receive_buffer_size: int = 0
    send_buffer_size: int | None = None
    receive_buffer_size: int | None = None
    socket_use_ssl: bool = False
    server_certificate_file: str | None = None
    server_certificate_key_file: str | None = None
    certification_authorities_file: str | None = None
    certificate_verify_level: int = 0
    ssl_protocol: str = ""
    ssl_cipher_suite: str = ""
    file_log_path: str | None = None
    file_log_rotation: str = "daily"
    file_log_max_size: int = 100 << 20
    file_log_retention_days: int = 30
    allowed_remote_addresses: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    username: str | None = None
    password_hash: str | None = None
    # Derived from the schedule keys above (so dataclasses.replace keeps it in step).
    schedule: Schedule = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "schedule", Schedule(
            self.start_time, self.end_time, self.start_day, self.end_day,
            zone_of(self.time_zone, self.use_local_time), self.non_stop_session))

    @property
    def session_id(self) -> str:
        return f"{self.begin_string}:{self.sender_comp_id}->{self.target_comp_id}"

    @property
    def nodelay(self) -> bool:
        """TCP_NODELAY, from SocketNodelay or QuickFIX/J's SocketTcpNoDelay."""
        return self.socket_nodelay if self.socket_tcp_no_delay is None \
            else self.socket_tcp_no_delay

    @property
    def send_buffer(self) -> int:
        """SO_SNDBUF (0: the system's), from either of QuickFIX's names."""
        return self.send_buffer_size if self.send_buffer_size is not None \
            else self.socket_send_buffer_size

    @property
    def receive_buffer(self) -> int:
        return self.receive_buffer_size if self.receive_buffer_size is not None \
            else self.socket_receive_buffer_size

    @property
    def precision(self) -> int:
        """Digits of the seconds' fraction in SendingTime: TimeStampPrecision, else 3
        with MillisecondsInTimeStamp=Y (the default), 0 with N."""
        if self.timestamp_precision is not None:
            return self.timestamp_precision
        return 3 if self.milliseconds_in_timestamp else 0


def _bool(value: str) -> bool:
    if value.upper() in ("Y", "YES", "TRUE", "1"):
        return True
    if value.upper() in ("N", "NO", "FALSE", "0"):
        return False
    raise ValueError(f"expected Y or N, got {value!r}")


def _addresses(value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    out = []
    for item in re.split(r"[,\s]+", value.strip()):
        if item:
            try:
                out.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
    return tuple(out)


def _parse(kind: str, value: str) -> object:
    if kind == "str":
        return value
    if kind == "int":
        return int(value)
    if kind == "bool":
        return _bool(value)
    if kind == "time":
        return dt.time.fromisoformat(value)
    if kind == "day":
        return parse_day(value)
    if kind == "zone":
        try:
            zone_of(value, False)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as "
                             "America/New_York)") from None
        return value
    if kind == "precision":
        digits = int(value)
        if not 0 <= digits <= 9:
            raise ValueError(f"expected 0 to 9, got {digits}")
        return digits
    if kind == "rotation":
        if value.lower() not in LOG_ROTATIONS:
            raise ValueError(f"expected one of {', '.join(LOG_ROTATIONS)}, got {value!r}")
        return value.lower()
    if kind == "addresses":
        return _addresses(value)
    if kind == "app":
        if value not in APPLICATIONS:
            raise ValueError(f"expected one of {', '.join(APPLICATIONS)}, got {value!r}")
        return value
    if kind == "password":
        raise ValueError("a plain-text password is refused: put the hash that "
                         "`fixserver-passwd` prints in PasswordHash instead")
    raise AssertionError(kind)


def _unknown_key(key: str) -> str:
    close = difflib.get_close_matches(key, list(KEYS), n=1, cutoff=0.6)
    if not close:
        lowered = {k.lower(): k for k in KEYS}
        if key.lower() in lowered:
            close = [lowered[key.lower()]]
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown key {key!r}{hint}"


def load_sessions(path: str | Path) -> list[SessionConfig]:
    """Parse a sessions.cfg file. Relative FileStorePath, FileLogPath, DataDictionary
    and certificate paths are kept as written; the caller resolves them."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise SettingsError(f"{path}: cannot read: {e.strerror}") from e
    default: dict[str, object] = {}
    sessions: list[tuple[int, dict[str, object]]] = []
    current: dict[str, object] | None = None
    ignored: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        where = f"{path}:{lineno}"
        if line.startswith("["):
            name = line.strip("[]").strip().upper()
            if name == "DEFAULT":
                current = default
            elif name == "SESSION":
                current = {}
                sessions.append((lineno, current))
            else:
                raise SettingsError(f"{where}: unknown section [{name}] "
                                    "(expected [DEFAULT] or [SESSION])")
            continue
        if current is None:
            raise SettingsError(f"{where}: setting outside a [DEFAULT] or [SESSION] section")
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep:
            raise SettingsError(f"{where}: expected Key=Value, got {line!r}")
        spec = KEYS.get(key)
        if spec is None and _NUMBERED.fullmatch(key):
            spec = _ignored("an initiator's setting")
        if spec is None:
            raise SettingsError(f"{where}: {_unknown_key(key)}")
        if spec.status == IGNORED:
            ignored.setdefault(key, spec.note)
            continue
        try:
            current[key] = _parse(spec.kind, value)
        except ValueError as e:
            raise SettingsError(f"{where}: bad value for {key}: {e}") from e
    for key, note in ignored.items():
        log.warning("%s: %s is ignored by this exchange (%s)", path, key, note)
    configs = [_config(f"{path}:{lineno}", default, values) for lineno, values in sessions]
    ids = [c.session_id for c in configs]
    for sid in ids:
        if ids.count(sid) > 1:
            raise SettingsError(f"{path}: session {sid} is defined twice")
    return configs


_CONFIG_FIELDS = {f.name for f in fields(SessionConfig)}


def _config(where: str, default: dict[str, object], values: dict[str, object]
            ) -> SessionConfig:
    merged = {k: spec.default for k, spec in KEYS.items() if spec.field is not None}
    merged.update(default)
    merged.update(values)
    for required in ("BeginString", "SenderCompID", "TargetCompID", "SocketAcceptPort"):
        if merged[required] is None:
            raise SettingsError(f"{where}: [SESSION] lacks {required}")
    if merged["ConnectionType"] != "acceptor":
        raise SettingsError(f"{where}: ConnectionType must be acceptor "
                            f"(got {merged['ConnectionType']!r})")
    if merged["BeginString"] not in ("FIX.4.2", "FIX.4.4"):
        raise SettingsError(f"{where}: BeginString {merged['BeginString']!r} is not "
                            "supported (FIX.4.2 or FIX.4.4)")
    if (merged["StartTime"] is None) != (merged["EndTime"] is None):
        raise SettingsError(f"{where}: StartTime and EndTime go together")
    if (merged["StartDay"] is None) != (merged["EndDay"] is None):
        raise SettingsError(f"{where}: StartDay and EndDay go together")
    if merged["StartDay"] is not None and merged["StartTime"] is None:
        raise SettingsError(f"{where}: StartDay and EndDay need StartTime and EndTime")
    if merged["CertificateVerifyLevel"] not in (0, 1):
        raise SettingsError(f"{where}: CertificateVerifyLevel must be 0 (do not verify) "
                            "or 1 (require a client certificate the CA signed)")
    if merged["SocketUseSSL"] and not merged["ServerCertificateFile"]:
        raise SettingsError(f"{where}: SocketUseSSL=Y needs ServerCertificateFile")
    if merged["CertificateVerifyLevel"] and not merged["CertificationAuthoritiesFile"]:
        raise SettingsError(f"{where}: CertificateVerifyLevel=1 needs "
                            "CertificationAuthoritiesFile")
    if (merged["Username"] is None) != (merged["PasswordHash"] is None):
        raise SettingsError(f"{where}: Username and PasswordHash go together")
    kwargs = {KEYS[k].field: v for k, v in merged.items() if KEYS[k].field is not None}
    assert set(kwargs) <= _CONFIG_FIELDS, set(kwargs) - _CONFIG_FIELDS
    return SessionConfig(**kwargs)  # type: ignore[arg-type]
