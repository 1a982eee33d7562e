"""The core's whole state at one sequence number: what a snapshot file holds.

:class:`CoreState` gathers the state of each part of the core, each defined beside
the code that owns it: the matching engine's books, orders, stops and counters
(``matching.snapshot.EngineState``), order entry's views, ClOrdID maps, local ExecID
counter and GTD heap (``venue.orderentry.OrderEntryState``), and the risk engine's
balances, positions, reservations, open-order records, counters and kill switches
(``risk.checks.RiskState``). With the sequence number and timestamp of the last
command applied, that is everything the journal up to that command determines: a
core restored from it and given the rest of the journal ends in exactly the state a
full replay gives.

The configuration is not in the state: limits, instruments and which firm each
session belongs to come from ``exchange.toml`` and ``sessions.cfg`` at start-up.
The state records a digest of that configuration (:func:`config_digest`); a snapshot
taken under another configuration is not used, since the journal after it would be
replayed under rules it was not run under.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

import msgspec

from matching import snapshot as engine_snapshot
from matching.snapshot import EngineState
from risk.checks import RiskState

from .orderentry import OrderEntryState

if TYPE_CHECKING:
    from .config import ExchangeConfig
    from .exchange import Exchange

# Version of the CoreState encoding (a snapshot file records it): bump it when any
# part's state record changes; a snapshot of another version is skipped, and the
# journal, which is the truth, is replayed instead.
CORE_STATE_VERSION: Final = 3     # 3: the day's statistics; 2: levels by index


class CoreState(msgspec.Struct, array_like=True, gc=False):
    """The core after the command ``seq`` (stamped ``ts``)."""

    version: int
    seq: int
    ts: int
    config_digest: str
    engine: EngineState
    order_entry: OrderEntryState
    risk: RiskState


def config_digest(config: ExchangeConfig, sessions: Iterable[tuple[str, str]]) -> str:
    """A digest of what the core's behaviour depends on besides the journal: the risk
    configuration, the instruments, the firms and each session's firm (``sessions``:
    (session id, firm name or "") pairs)."""
    material = msgspec.msgpack.encode([
        config.risk_config(), list(config.instruments.values()), list(config.firms.values()),
        sorted(sessions)])
    return hashlib.sha256(material).hexdigest()


def capture(exchange: Exchange, seq: int, ts: int) -> CoreState:
    """The state of ``exchange``'s core, which has applied every command up to ``seq``."""
    return CoreState(CORE_STATE_VERSION, seq, ts, exchange.config_digest(),
                     engine_snapshot.capture(exchange.engine),
                     exchange.order_entry.state(), exchange.risk.state())


def restore(exchange: Exchange, state: CoreState) -> None:
    """Put ``exchange``'s core (freshly built from the same configuration) in ``state``."""
    if state.version != CORE_STATE_VERSION:
        raise ValueError(f"core state version {state.version} is not {CORE_STATE_VERSION}")
    engine_snapshot.restore_into(exchange.engine, state.engine)
    exchange.order_entry.load_state(state.order_entry)
    exchange.risk.load_state(state.risk)


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(CoreState).decode


def encode(state: CoreState) -> bytes:
    return _encode(state)


def decode(data: bytes | memoryview) -> CoreState:
    """A CoreState from ``encode`` bytes; msgspec.DecodeError if they are not one."""
    return _decode(data)
