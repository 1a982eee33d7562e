"""Reader of ``sessions.cfg`` in QuickFIX SessionSettings format.

``[DEFAULT]`` holds values every ``[SESSION]`` inherits; each ``[SESSION]`` names
one acceptor session by BeginString, SenderCompID (ours) and TargetCompID (the
counterparty). Keys mean what QuickFIX documents. An unknown key is an error
naming the file, line and key: a misspelt setting must never be silently ignored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path


class SettingsError(Exception):
    """A sessions.cfg problem, with the file and line it was found at."""


# key -> (parser name, default). Values are parsed per key; see _parse.
KEYS: dict[str, tuple[str, object]] = {
    "ConnectionType": ("str", "acceptor"),
    "BeginString": ("str", None),
    "SenderCompID": ("str", None),
    "TargetCompID": ("str", None),
    "SocketAcceptPort": ("int", None),
    "SocketAcceptAddress": ("str", "0.0.0.0"),
    "HeartBtInt": ("int", 30),
    "ResetOnLogon": ("bool", False),
    "ResetOnLogout": ("bool", False),
    "ResetOnDisconnect": ("bool", False),
    "FileStorePath": ("str", "store"),
    "DataDictionary": ("str", None),
    "UseDataDictionary": ("bool", True),
    "CheckCompID": ("bool", True),
    "CheckLatency": ("bool", True),
    "MaxLatency": ("int", 120),
    "ValidateUserDefinedFields": ("bool", True),
    "ValidateFieldsOutOfOrder": ("bool", True),
    "ValidateFieldsHaveValues": ("bool", True),
    "StartTime": ("time", None),
    "EndTime": ("time", None),
    "LogonTimeout": ("int", 10),
    "LogoutTimeout": ("int", 2),
    "PersistMessages": ("bool", True),
    "ResendRequestChunkSize": ("int", 0),
    "SendRedundantResendRequests": ("bool", False),
    "Application": ("app", "exchange"),
    "CancelOnDisconnect": ("bool", False),
}
APPLICATIONS = ("exchange", "dropcopy", "echo")


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

    @property
    def session_id(self) -> str:
        return f"{self.begin_string}:{self.sender_comp_id}->{self.target_comp_id}"

    def period_start(self, now: dt.datetime) -> dt.datetime | None:
        """Start of the daily session period ``now`` (UTC) falls in, or None when
        there is no schedule or ``now`` is outside the window."""
        if self.start_time is None or not self.in_session_time(now):
            return None
        start = now.replace(hour=self.start_time.hour, minute=self.start_time.minute,
                            second=self.start_time.second, microsecond=0)
        if start > now:
            start -= dt.timedelta(days=1)
        return start

    def in_session_time(self, now: dt.datetime) -> bool:
        """Whether ``now`` (UTC) falls in the daily StartTime..EndTime window."""
        if self.start_time is None or self.end_time is None:
            return True
        t = now.time()
        if self.start_time <= self.end_time:
            return self.start_time <= t <= self.end_time
        return t >= self.start_time or t <= self.end_time


def _parse(kind: str, value: str) -> object:
    if kind == "str":
        return value
    if kind == "int":
        return int(value)
    if kind == "bool":
        if value.upper() in ("Y", "YES", "TRUE", "1"):
            return True
        if value.upper() in ("N", "NO", "FALSE", "0"):
            return False
        raise ValueError(f"expected Y or N, got {value!r}")
    if kind == "time":
        return dt.time.fromisoformat(value)
    if kind == "app":
        if value not in APPLICATIONS:
            raise ValueError(f"expected one of {', '.join(APPLICATIONS)}, got {value!r}")
        return value
    raise AssertionError(kind)


def _snake(key: str) -> str:
    out = []
    for i, ch in enumerate(key):
        if ch.isupper() and i and not key[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


_FIELD_FOR_KEY = {
    "SocketAcceptPort": "port",
    "SocketAcceptAddress": "address",
    "HeartBtInt": "heartbeat_interval",
    "SenderCompID": "sender_comp_id",
    "TargetCompID": "target_comp_id",
    "CheckCompID": "check_comp_id",
}


def load_sessions(path: str | Path) -> list[SessionConfig]:
    """Parse a sessions.cfg file. Relative FileStorePath and DataDictionary paths
    are kept as written; the caller resolves them."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise SettingsError(f"{path}: cannot read: {e.strerror}") from e
    default: dict[str, object] = {}
    sessions: list[tuple[int, dict[str, object]]] = []
    current: dict[str, object] | None = None
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
        if key not in KEYS:
            raise SettingsError(f"{where}: unknown key {key!r}")
        try:
            current[key] = _parse(KEYS[key][0], value)
        except ValueError as e:
            raise SettingsError(f"{where}: bad value for {key}: {e}") from e
    configs = []
    for lineno, values in sessions:
        merged = {k: d for k, (_, d) in KEYS.items()}
        merged.update(default)
        merged.update(values)
        where = f"{path}:{lineno}"
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
        kwargs = {}
        for key, value in merged.items():
            if key == "ConnectionType":
                continue
            kwargs[_FIELD_FOR_KEY.get(key) or _snake(key)] = value
        configs.append(SessionConfig(**kwargs))  # type: ignore[arg-type]
    ids = [c.session_id for c in configs]
    for sid in ids:
        if ids.count(sid) > 1:
            raise SettingsError(f"{path}: session {sid} is defined twice")
    return configs
