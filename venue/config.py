"""Reader of ``exchange.toml``: instruments, firms, accounts, who owns which session,
and the risk limits (``[risk]`` defaults, per firm, per account).

Prices and money in the file are decimal strings ("189.50") and become integers
with PRICE_DECIMALS decimals; a float in a price field is refused, because money is
never a float here. Every problem is an error naming the file, the key and why.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import tomllib
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path

import msgspec

from audit.kafka import SASL_MECHANISMS, SECURITY_PROTOCOLS
from database.partitions import RETENTION_DAYS
from metrics.alerts import AlertLimits
from risk.config import (
    NO_LIMIT,
    AccountConfig,
    FirmRisk,
    InstrumentRisk,
    Limits,
    RiskConfig,
    resolve,
)

from .fixedpoint import PRICE_DECIMALS, PRICE_SCALE
from .schedule import Schedule, ScheduleError, parse_schedule

# Self-trade prevention modes by name (the matching engine's STP_* codes).
STP_MODES = {"none": 0, "cancel_resting": 1, "cancel_aggressor": 2, "cancel_both": 3,
             "decrement_and_cancel": 4}


class ExchangeConfigError(Exception):
    """A problem in exchange.toml, naming the file, the key and the problem."""


@dataclass(frozen=True, slots=True)
class InstrumentConfig:
    """One tradable symbol; prices are fixed-point integers (PRICE_DECIMALS)."""

    symbol: str
    tick_size: int
    lot_size: int
    reference_price: int
    sector: str
    max_order_qty: int
    price_band_pct: int
    fat_finger_pct: int = 5


@dataclass(frozen=True, slots=True)
class FirmConfig:
    """A member firm: its accounts, its order-entry CompIDs and default account."""

    name: str
    accounts: tuple[str, ...]
    default_account: str
    comp_ids: tuple[str, ...]
    self_trade_prevention: str = "none"  # applies to each of the firm's accounts


@dataclass(frozen=True, slots=True)
class AccountSettings:
    """An ``[[accounts]]`` table: starting balances and the account's own limits."""

    name: str
    cash: int = 0
    positions: dict[str, int] = field(default_factory=dict)
    limits: Limits = Limits()
    self_trade_prevention: str | None = None  # None: the firm's


@dataclass(frozen=True, slots=True)
class MulticastConfig:
    """The binary market-data feed (``[marketdata.multicast]``): where it is sent and
    where lost packets are asked for again."""

    group: str
    port: int
    interface: str = "127.0.0.1"
    ttl: int = 0
    retransmission_port: int = 0      # UDP, on ``interface``; 0: ``port`` + 1
    retain: int = 100_000             # ticks kept for retransmission
    snapshot_port: int = 0            # TCP, on ``interface``; 0: ``port`` + 2


# What the audit trail does when it is spool_limit entries behind (README, "The audit
# trail"): keep trading and spooling to disk (the event log), or refuse new orders.
SPOOL_POLICIES = ("keep_trading", "reject_orders")
# Environment variables that override [audit] (a password is better kept out of files).
AUDIT_ENV = {"FIXSERVER_AUDIT_KAFKA": "kafka", "FIXSERVER_AUDIT_TOPIC": "topic",
             "FIXSERVER_AUDIT_SASL_USERNAME": "sasl_username",
             "FIXSERVER_AUDIT_SASL_PASSWORD": "sasl_password"}


@dataclass(frozen=True, slots=True)
class AuditConfig:
    """The audit trail (``[audit]``): to a Kafka topic when ``kafka`` names its
    bootstrap servers, else to the JSON-lines files of ``<data-dir>/audit/``."""

    enabled: bool = True
    kafka: str = ""                     # "host:port[,host:port...]"; "": local files
    topic: str = "fix-exchange-audit"
    client_id: str = "fix-exchange"
    partitions: int = 3                 # when the exchange creates the topic
    replication_factor: int = 1
    security_protocol: str = "PLAINTEXT"
    ssl_cafile: str = ""
    ssl_certfile: str = ""
    ssl_keyfile: str = ""
    sasl_mechanism: str = ""
    sasl_username: str = ""
    sasl_password: str = ""
    spool_limit: int = 1_000_000        # entries behind before the spool counts as full
    when_spool_full: str = "keep_trading"
    # Seconds a batch may wait for the broker's acknowledgement before the writer
    # reconnects and sends it again (what the broker already has is skipped).
    send_timeout: float = 30.0

    def with_environment(self, env: dict[str, str]) -> AuditConfig:
        """This configuration with the AUDIT_ENV variables that are set."""
        changes = {key: env[var] for var, key in AUDIT_ENV.items() if env.get(var)}
        return replace(self, **changes) if changes else self


# The environment variable that overrides [postgres] dsn (a DSN may hold a password).
POSTGRES_DSN_ENV = "FIXSERVER_PG_DSN"


@dataclass(frozen=True, slots=True)
class PostgresConfig:
    """The history database (``[postgres]``): off while ``dsn`` is empty."""

    dsn: str = ""                       # a libpq connection string or URI
    retention_days: int = RETENTION_DAYS   # whole daily partitions older than this are dropped

    def with_environment(self, env: dict[str, str]) -> PostgresConfig:
        """This configuration with FIXSERVER_PG_DSN, when it is set."""
        dsn = env.get(POSTGRES_DSN_ENV)
        return replace(self, dsn=dsn) if dsn else self


# The environment variable that overrides [http] listen ("" turns it off).
HTTP_LISTEN_ENV = "FIXSERVER_HTTP_LISTEN"


@dataclass(frozen=True, slots=True)
class HttpConfig:
    """``[http]``: the one listener for /metrics, the admin API and the operator page."""

    listen: str = "127.0.0.1:8080"     # host:port; "" turns it off
    metrics_listen: str = ""           # host:port of a /metrics of its own ("": none)

    def with_environment(self, env: dict[str, str]) -> HttpConfig:
        """This configuration with FIXSERVER_HTTP_LISTEN, when it is set."""
        return replace(self, listen=env[HTTP_LISTEN_ENV]) if HTTP_LISTEN_ENV in env else self


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) as (host, port); ValueError naming the problem."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"{address!r} is not host:port (port 0 to 65535)")
    return host.strip("[]"), int(port)


@dataclass(frozen=True, slots=True)
class DropCopyConfig:
    """A drop-copy session (by counterparty CompID) and the firms it sees ('*': all)."""

    comp_id: str
    firms: tuple[str, ...]

    def sees(self, firm: str) -> bool:
        return "*" in self.firms or firm in self.firms


@dataclass(slots=True)
class ExchangeConfig:
    """The whole exchange configuration."""

    instruments: dict[str, InstrumentConfig] = field(default_factory=dict)
    firms: dict[str, FirmConfig] = field(default_factory=dict)
    dropcopy: dict[str, DropCopyConfig] = field(default_factory=dict)
    multicast: MulticastConfig | None = None   # None: no binary feed
    audit: AuditConfig = AuditConfig()
    postgres: PostgresConfig = PostgresConfig()
    http: HttpConfig = HttpConfig()
    alerts: AlertLimits = AlertLimits()
    # [metrics] stage_timing: time the stages of the order path (bench_metrics measures
    # what it costs); the counters and gauges are always on.
    stage_timing: bool = True
    journal_path: str = "journal/commands.wal"
    fsync: bool = True
    journal_segment_mb: float = 64     # a journal segment is closed past this size
    snapshot_interval: float = 1.0     # seconds between snapshots (0: none while running)
    snapshots_kept: int = 3            # the newest snapshots kept, older ones deleted
    snapshot_on_close: bool = True     # a clean shutdown writes a snapshot
    # Hours a journal segment no longer needed for recovery or by a durable consumer
    # is kept before it is deleted (snapshots: the newest snapshots_kept are kept).
    retention_hours: float = 168.0
    # Microseconds the event loop keeps polling the sockets after each read instead of
    # sleeping (0: off): lower latency for a CPU kept busy while orders flow.
    busy_poll_us: int = 0
    market_protection_pct: int = 5
    end_of_day: dt.time | None = None  # UTC time at which DAY orders expire
    # Symbol -> its trading day (venue.schedule); an instrument without one trades
    # continuously and the operator alone moves its phase.
    schedules: dict[str, Schedule] = field(default_factory=dict)
    # Application messages one session may send per second; more are rejected.
    max_messages_per_second: int = 1000
    risk_defaults: Limits = Limits()              # [risk]
    firm_limits: dict[str, Limits] = field(default_factory=dict)
    accounts: dict[str, AccountSettings] = field(default_factory=dict)
    source: str = ""

    def firm_of_comp_id(self, comp_id: str) -> FirmConfig | None:
        for firm in self.firms.values():
            if comp_id in firm.comp_ids:
                return firm
        return None

    def firm_of_account(self, account: str) -> FirmConfig | None:
        for firm in self.firms.values():
            if account in firm.accounts:
                return firm
        return None

    @property
    def journal_segment_bytes(self) -> int:
        return int(self.journal_segment_mb * (1 << 20))

    def risk_config(self) -> RiskConfig:
        """What the risk engine needs: [risk] defaults are folded into each firm's limits;
        an account's self-trade prevention is its own, else its firm's."""
        instruments = {
            s: InstrumentRisk(s, i.reference_price, i.sector, i.tick_size,
                              collar_bps=i.price_band_pct * 100,
                              fat_finger_bps=i.fat_finger_pct * 100,
                              max_order_qty=i.max_order_qty)
            for s, i in self.instruments.items()}
        firms = {name: FirmRisk(name, resolve(self.firm_limits.get(name), self.risk_defaults))
                 for name in self.firms}
        accounts = {}
        for name, firm in self.firms.items():
            for account in firm.accounts:
                a = self.accounts.get(account, AccountSettings(account))
                stp = a.self_trade_prevention or firm.self_trade_prevention
                accounts[account] = AccountConfig(account, name, a.cash, dict(a.positions),
                                                  a.limits, STP_MODES[stp])
        return RiskConfig(instruments, firms, accounts,
                          market_protection_bps=self.market_protection_pct * 100)


# Limit keys allowed in [risk], [[firms]] and [[accounts]], by kind of value:
# "bool"; "pct" an int 0..100; "count" an int >= 0 or "unlimited"; "money" a decimal
# string or "unlimited"; "bps" an int >= 0.
LIMIT_KEYS: dict[str, str] = {
    "allow_short": "bool", "margin_pct": "pct", "short_margin_pct": "pct",
    "max_long": "count", "max_short": "count", "max_concentration_pct": "pct",
    "concentration_floor": "money", "sector_limit": "money", "max_order_qty": "count",
    "max_order_value": "money", "max_orders_per_day": "count", "max_open_orders": "count",
    "fee_bps": "bps",
}
UNLIMITED = "unlimited"


def parse_limits(table: dict, where: str) -> Limits:
    """The LIMIT_KEYS present in ``table`` as a Limits (absent keys inherit)."""
    values: dict[str, object] = {}
    for key, kind in LIMIT_KEYS.items():
        if key not in table:
            continue
        value = table[key]
        here = f"{where}: {key}"
        if kind == "bool":
            if not isinstance(value, bool):
                raise ExchangeConfigError(f"{here} must be true or false, got {value!r}")
        elif value == UNLIMITED and kind in ("count", "money"):
            value = NO_LIMIT
        elif kind == "money":
            if not isinstance(value, str):
                raise ExchangeConfigError(f"{here} must be a decimal string like "
                                          f"\"1000000.00\" or \"unlimited\", got {value!r}")
            value = parse_price(value, here)
        elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
            extra = ' or "unlimited"' if kind == "count" else ""
            raise ExchangeConfigError(f"{here} must be a whole number >= 0{extra}, "
                                      f"got {value!r}")
        elif kind == "pct" and value > 100:
            raise ExchangeConfigError(f"{here} is a percentage: 0..100, got {value}")
        values[key] = value
    return Limits(**values)  # type: ignore[arg-type]


def parse_price(text: object, where: str) -> int:
    """A decimal string -> fixed-point int; refuses floats and sub-tick precision."""
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise ExchangeConfigError(f"{where}: expected a decimal string like \"12.34\", "
                                  f"got {text!r}")
    try:
        value = Decimal(str(text)) * PRICE_SCALE
    except InvalidOperation as e:
        raise ExchangeConfigError(f"{where}: not a number: {text!r}") from e
    if not value.is_finite():
        raise ExchangeConfigError(f"{where}: not a finite number: {text!r}")
    if value < 0:
        raise ExchangeConfigError(f"{where}: must not be negative: {text!r}")
    if value != value.to_integral_value():
        raise ExchangeConfigError(f"{where}: more than {PRICE_DECIMALS} decimals: {text!r}")
    return int(value)


def _get(table: dict, key: str, kind: type | tuple[type, ...], where: str,
         default: object = ...) -> object:
    if key not in table:
        if default is ...:
            raise ExchangeConfigError(f"{where}: missing key {key!r}")
        return default
    value = table[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ExchangeConfigError(f"{where}: {key} has the wrong type ({type(value).__name__})")
    return value


def _percent(table: dict, key: str, where: str, default: int) -> int:
    """A whole percentage 0..100 (a collar or fat finger of 0 is off, see README)."""
    value = int(_get(table, key, int, where, default))  # type: ignore[arg-type]
    if not 0 <= value <= 100:
        raise ExchangeConfigError(f"{where}: {key} is a percentage: 0..100, got {value}")
    return value


def _whole(table: dict, key: str, where: str, default: int, minimum: int) -> int:
    """A whole number of at least ``minimum``."""
    value = int(_get(table, key, int, where, default))  # type: ignore[arg-type]
    if value < minimum:
        raise ExchangeConfigError(f"{where}: {key} must be at least {minimum}, got {value}")
    return value


def _non_negative(table: dict, key: str, where: str, default: float) -> float:
    """A number >= 0, an int or a float: a time or a size, never money."""
    value = _get(table, key, (int, float), where, default)
    if isinstance(value, bool) or not 0 <= value < float("inf"):  # type: ignore[operator]
        raise ExchangeConfigError(f"{where}: {key} must be a number >= 0, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def _stp_mode(table: dict, where: str, default: str | None) -> str | None:
    """The ``self_trade_prevention`` mode name of a firm or account table."""
    name = _get(table, "self_trade_prevention", str, where, default)
    if name is not None and name not in STP_MODES:
        raise ExchangeConfigError(f"{where}: self_trade_prevention must be one of "
                                  f"{', '.join(STP_MODES)}, got {name!r}")
    return name  # type: ignore[return-value]


def _check_keys(table: dict, allowed: set[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise ExchangeConfigError(f"{where}: unknown key {key!r}")


def load_exchange_config(path: str | Path) -> ExchangeConfig:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise ExchangeConfigError(f"{path}: cannot read: {e.strerror}") from e
    except tomllib.TOMLDecodeError as e:
        raise ExchangeConfigError(f"{path}: {e}") from e
    _check_keys(data, {"exchange", "risk", "schedule", "instruments", "firms", "accounts",
                       "dropcopy", "marketdata", "audit", "postgres", "http", "alerts",
                       "metrics"}, str(path))
    for section in ("exchange", "risk", "schedule", "marketdata", "audit", "postgres",
                    "http", "alerts", "metrics"):
        if not isinstance(data.get(section, {}), dict):
            raise ExchangeConfigError(f"{path}: {section} must be a table: [{section}]")
    for section in ("instruments", "firms", "accounts", "dropcopy"):
        items = data.get(section, [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ExchangeConfigError(f"{path}: {section} must be an array of tables: "
                                      f"[[{section}]]")
    cfg = ExchangeConfig(source=str(path))
    ex = data.get("exchange", {})
    where = f"{path}: [exchange]"
    _check_keys(ex, {"journal", "fsync", "market_protection_pct", "end_of_day",
                     "max_messages_per_second", "journal_segment_mb", "snapshot_interval",
                     "snapshots_kept", "snapshot_on_close", "retention_hours",
                     "busy_poll_us"}, where)
    if "end_of_day" in ex:
        try:
            cfg.end_of_day = dt.time.fromisoformat(str(_get(ex, "end_of_day", str, where)))
        except ValueError as e:
            raise ExchangeConfigError(f"{where}: end_of_day must be HH:MM:SS (UTC): {e}") from e
    cfg.journal_path = str(_get(ex, "journal", str, where, cfg.journal_path))
    cfg.fsync = bool(_get(ex, "fsync", bool, where, True))
    cfg.market_protection_pct = _percent(ex, "market_protection_pct", where, 5)
    cfg.max_messages_per_second = int(_get(ex, "max_messages_per_second", int, where, 1000))  # type: ignore[arg-type]
    if cfg.max_messages_per_second <= 0:
        raise ExchangeConfigError(f"{where}: max_messages_per_second must be positive")
    # A fraction of a MB is allowed (small segments to try retention with); 0 rolls
    # the journal at every commit.
    cfg.journal_segment_mb = _non_negative(ex, "journal_segment_mb", where, cfg.journal_segment_mb)
    cfg.snapshots_kept = _whole(ex, "snapshots_kept", where, cfg.snapshots_kept, 1)
    cfg.snapshot_interval = _non_negative(ex, "snapshot_interval", where, cfg.snapshot_interval)
    cfg.retention_hours = _non_negative(ex, "retention_hours", where, cfg.retention_hours)
    cfg.snapshot_on_close = bool(_get(ex, "snapshot_on_close", bool, where, True))
    cfg.busy_poll_us = _whole(ex, "busy_poll_us", where, cfg.busy_poll_us, 0)
    risk = data.get("risk", {})
    _check_keys(risk, set(LIMIT_KEYS), f"{path}: [risk]")
    cfg.risk_defaults = parse_limits(risk, f"{path}: [risk]")
    for i, inst in enumerate(data.get("instruments", [])):
        where = f"{path}: instruments[{i}]"
        symbol = str(_get(inst, "symbol", str, where))
        where = f"{path}: instrument {symbol}"
        _check_keys(inst, {"symbol", "tick_size", "lot_size", "reference_price", "sector",
                           "max_order_qty", "price_band_pct", "fat_finger_pct", "schedule"},
                    where)
        tick = parse_price(_get(inst, "tick_size", (str, int), where), f"{where}: tick_size")
        ref = parse_price(_get(inst, "reference_price", (str, int), where),
                          f"{where}: reference_price")
        lot = int(_get(inst, "lot_size", int, where, 1))  # type: ignore[arg-type]
        if tick <= 0 or lot <= 0:
            raise ExchangeConfigError(f"{where}: tick_size and lot_size must be positive")
        if ref % tick:
            raise ExchangeConfigError(f"{where}: reference_price is not on the tick grid")
        if symbol in cfg.instruments:
            raise ExchangeConfigError(f"{where}: defined twice")
        max_qty = int(_get(inst, "max_order_qty", int, where, 1_000_000))  # type: ignore[arg-type]
        if max_qty <= 0:
            raise ExchangeConfigError(f"{where}: max_order_qty must be positive")
        cfg.instruments[symbol] = InstrumentConfig(
            symbol, tick, lot, ref, str(_get(inst, "sector", str, where, "")), max_qty,
            _percent(inst, "price_band_pct", where, 10), _percent(inst, "fat_finger_pct", where, 5))
        table = inst.get("schedule", data.get("schedule"))
        if table is not None:
            try:
                cfg.schedules[symbol] = parse_schedule(
                    table, f"{where}: schedule" if "schedule" in inst else f"{path}: [schedule]")
            except ScheduleError as e:
                raise ExchangeConfigError(str(e)) from None
    for i, firm in enumerate(data.get("firms", [])):
        where = f"{path}: firms[{i}]"
        name = str(_get(firm, "name", str, where))
        where = f"{path}: firm {name}"
        _check_keys(firm, {"name", "accounts", "default_account", "comp_ids",
                           "self_trade_prevention", *LIMIT_KEYS}, where)
        accounts = tuple(str(a) for a in _get(firm, "accounts", list, where))  # type: ignore[union-attr]
        if not accounts:
            raise ExchangeConfigError(f"{where}: accounts is empty")
        default = str(_get(firm, "default_account", str, where, accounts[0]))
        if default not in accounts:
            raise ExchangeConfigError(f"{where}: default_account {default!r} is not one of "
                                      "its accounts")
        comp_ids = tuple(str(c) for c in _get(firm, "comp_ids", list, where))  # type: ignore[union-attr]
        if name in cfg.firms:
            raise ExchangeConfigError(f"{where}: defined twice")
        stp = _stp_mode(firm, where, "none")
        cfg.firms[name] = FirmConfig(name, accounts, default, comp_ids, stp)
        cfg.firm_limits[name] = parse_limits(firm, where)
    for what, names_of in (("CompID", lambda f: f.comp_ids), ("account", lambda f: f.accounts)):
        owners: dict[str, str] = {}
        for firm in cfg.firms.values():
            for name in names_of(firm):
                if name in owners:
                    raise ExchangeConfigError(f"{path}: {what} {name} belongs to both "
                                              f"{owners[name]} and {firm.name}")
                owners[name] = firm.name
    for i, acc in enumerate(data.get("accounts", [])):
        where = f"{path}: accounts[{i}]"
        name = str(_get(acc, "name", str, where))
        where = f"{path}: account {name}"
        _check_keys(acc, {"name", "cash", "positions", "self_trade_prevention", *LIMIT_KEYS},
                    where)
        if cfg.firm_of_account(name) is None:
            raise ExchangeConfigError(f"{where}: not an account of any firm (list it in a "
                                      "firm's accounts)")
        if name in cfg.accounts:
            raise ExchangeConfigError(f"{where}: defined twice")
        cash = parse_price(_get(acc, "cash", (str, int), where, "0"), f"{where}: cash")
        positions = _get(acc, "positions", dict, where, {})
        for symbol, qty in positions.items():  # type: ignore[union-attr]
            if symbol not in cfg.instruments:
                raise ExchangeConfigError(f"{where}: positions: unknown instrument {symbol!r}")
            if isinstance(qty, bool) or not isinstance(qty, int):
                raise ExchangeConfigError(f"{where}: positions: {symbol} must be a whole "
                                          f"number of units, got {qty!r}")
        stp_name = _stp_mode(acc, where, None)
        cfg.accounts[name] = AccountSettings(name, cash, dict(positions),  # type: ignore[arg-type]
                                             parse_limits(acc, where), stp_name)
    for i, dc in enumerate(data.get("dropcopy", [])):
        where = f"{path}: dropcopy[{i}]"
        _check_keys(dc, {"comp_id", "firms"}, where)
        comp_id = str(_get(dc, "comp_id", str, where))
        firms = tuple(str(f) for f in _get(dc, "firms", list, where))  # type: ignore[union-attr]
        for f in firms:
            if f != "*" and f not in cfg.firms:
                raise ExchangeConfigError(f"{where}: unknown firm {f!r}")
        if comp_id in cfg.dropcopy:
            raise ExchangeConfigError(f"{where}: drop-copy comp_id {comp_id} defined twice")
        cfg.dropcopy[comp_id] = DropCopyConfig(comp_id, firms)
    cfg.multicast = _multicast(data.get("marketdata", {}), f"{path}: [marketdata]")
    cfg.audit = _audit(data.get("audit", {}), f"{path}: [audit]")
    cfg.postgres = _postgres(data.get("postgres", {}), f"{path}: [postgres]")
    cfg.http = _http(data.get("http", {}), f"{path}: [http]")
    cfg.alerts = _alerts(data.get("alerts", {}), f"{path}: [alerts]")
    metrics = data.get("metrics", {})
    _check_keys(metrics, {"stage_timing"}, f"{path}: [metrics]")
    cfg.stage_timing = bool(_get(metrics, "stage_timing", bool, f"{path}: [metrics]", True))
    return cfg


def _http(table: dict, where: str) -> HttpConfig:
    _check_keys(table, {"listen", "metrics_listen"}, where)
    default = HttpConfig()
    cfg = HttpConfig(str(_get(table, "listen", str, where, default.listen)),
                     str(_get(table, "metrics_listen", str, where, default.metrics_listen)))
    for key in ("listen", "metrics_listen"):
        value = getattr(cfg, key)
        if value:
            try:
                split_address(value)
            except ValueError as e:
                raise ExchangeConfigError(f"{where}: {key}: {e}") from None
    return cfg


def _alerts(table: dict, where: str) -> AlertLimits:
    try:
        limits = msgspec.convert(table, AlertLimits)
    except msgspec.ValidationError as e:
        raise ExchangeConfigError(f"{where}: {e}") from None
    problem = limits.problem()
    if problem is not None:
        raise ExchangeConfigError(f"{where}: {problem}")
    return limits


def _postgres(table: dict, where: str) -> PostgresConfig:
    _check_keys(table, {"dsn", "retention_days"}, where)
    default = PostgresConfig()
    return PostgresConfig(str(_get(table, "dsn", str, where, default.dsn)),
                          _whole(table, "retention_days", where, default.retention_days, 1))


def _audit(table: dict, where: str) -> AuditConfig:
    strings = ("kafka", "topic", "client_id", "security_protocol", "ssl_cafile",
               "ssl_certfile", "ssl_keyfile", "sasl_mechanism", "sasl_username",
               "sasl_password", "when_spool_full")
    _check_keys(table, {"enabled", "partitions", "replication_factor", "spool_limit",
                        "send_timeout", *strings}, where)
    default = AuditConfig()
    values: dict[str, object] = {k: str(_get(table, k, str, where, getattr(default, k)))
                                 for k in strings}
    values["enabled"] = bool(_get(table, "enabled", bool, where, True))
    values["partitions"] = _whole(table, "partitions", where, default.partitions, 1)
    values["replication_factor"] = _whole(table, "replication_factor", where,
                                          default.replication_factor, 1)
    values["spool_limit"] = _whole(table, "spool_limit", where, default.spool_limit, 1)
    values["send_timeout"] = _non_negative(table, "send_timeout", where, default.send_timeout)
    if not values["send_timeout"]:
        raise ExchangeConfigError(f"{where}: send_timeout must be more than 0 seconds")
    if values["when_spool_full"] not in SPOOL_POLICIES:
        raise ExchangeConfigError(f"{where}: when_spool_full must be one of "
                                  f"{', '.join(SPOOL_POLICIES)}, got {values['when_spool_full']!r}")
    if values["security_protocol"] not in SECURITY_PROTOCOLS:
        raise ExchangeConfigError(f"{where}: security_protocol must be one of "
                                  f"{', '.join(SECURITY_PROTOCOLS)}, got "
                                  f"{values['security_protocol']!r}")
    if values["sasl_mechanism"] and values["sasl_mechanism"] not in SASL_MECHANISMS:
        raise ExchangeConfigError(f"{where}: sasl_mechanism must be one of "
                                  f"{', '.join(SASL_MECHANISMS)}, got "
                                  f"{values['sasl_mechanism']!r}")
    if not values["topic"]:
        raise ExchangeConfigError(f"{where}: topic must not be empty")
    return AuditConfig(**values)  # type: ignore[arg-type]


def _multicast(table: dict, where: str) -> MulticastConfig | None:
    _check_keys(table, {"multicast"}, where)
    mc = table.get("multicast")
    if mc is None:
        return None
    where = where[:-1] + ".multicast]"
    if not isinstance(mc, dict):
        raise ExchangeConfigError(f"{where} must be a table")
    _check_keys(mc, {"group", "port", "interface", "ttl", "retransmission_port", "retain",
                     "snapshot_port"}, where)
    group = str(_get(mc, "group", str, where))
    try:
        if not ipaddress.IPv4Address(group).is_multicast:
            raise ExchangeConfigError(f"{where}: group {group} is not a multicast address "
                                      "(224.0.0.0 to 239.255.255.255)")
    except ipaddress.AddressValueError:
        raise ExchangeConfigError(f"{where}: group {group!r} is not an IPv4 address") from None
    port = int(_get(mc, "port", int, where))  # type: ignore[arg-type]
    retransmission = int(_get(mc, "retransmission_port", int, where, port + 1))  # type: ignore[arg-type]
    snapshot = int(_get(mc, "snapshot_port", int, where, port + 2))  # type: ignore[arg-type]
    for name, value in (("port", port), ("retransmission_port", retransmission),
                        ("snapshot_port", snapshot)):
        if not 0 < value < 65536:
            raise ExchangeConfigError(f"{where}: {name} must be 1 to 65535, got {value}")
    ttl = _whole(mc, "ttl", where, 0, 0)
    if ttl > 255:
        raise ExchangeConfigError(f"{where}: ttl must be 0 to 255, got {ttl}")
    return MulticastConfig(group, port, str(_get(mc, "interface", str, where, "127.0.0.1")),
                           ttl, retransmission, _whole(mc, "retain", where, 100_000, 1),
                           snapshot)
