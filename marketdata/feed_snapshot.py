"""The binary feed's snapshot service, on the wire: the book of every instrument at
one feed sequence number, sent over TCP to a receiver that joins late or lost
more than retransmission still holds.

The server writes the snapshot as soon as a receiver connects, then closes the
connection (the receiver sends nothing). It is a run of MoldUDP64-style blocks
(length u16, payload), big-endian, each payload starting with its kind::

    H  session 10s, sequence u64, symbols u32, levels u32
           sequence: the last tick the snapshot reflects (0: none yet); the
           receiver applies the feed's ticks from sequence + 1
    S  symbol u32, phase u8, last trade: id u32, price u32, qty u32, ts u64 (all 0:
       no trade yet), name (ASCII, 1 to 32 bytes)             one per instrument
    L  symbol u32, side u8, price u32, qty u32, orders u32   one per price level
    E  sequence u64                                          the header's again

A snapshot is whole only with its E block (a connection cut short is detected by
its absence), and the counts of H must match the blocks received.

Pure encoding and decoding; the service is ``consumers.feed.SnapshotServer``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Final, NamedTuple

from marketdata.book import Level, Print
from marketdata.feed import BLOCK, SESSION_BYTES, FeedError

HEADER: Final = struct.Struct(">c10sQII")
SYMBOL: Final = struct.Struct(">cIBIIIQ")
LEVEL: Final = struct.Struct(">cIBIII")
END: Final = struct.Struct(">cQ")
MAX_NAME: Final = 32


class SymbolState(NamedTuple):
    """One instrument in a snapshot: its feed number, name, phase and last trade."""

    symbol: int
    name: str
    phase: int
    last: Print | None = None


class SnapshotLevel(NamedTuple):
    """One price level in a snapshot."""

    symbol: int
    side: int
    level: Level


class Snapshot(NamedTuple):
    """A decoded snapshot: the feed session, the last tick it reflects, the
    instruments and their levels."""

    session: bytes
    sequence: int
    symbols: tuple[SymbolState, ...]
    levels: tuple[SnapshotLevel, ...]


def _block(payload: bytes) -> bytes:
    return BLOCK.pack(len(payload)) + payload


def encode(session: bytes, sequence: int, symbols: Iterable[SymbolState],
           levels: Iterable[SnapshotLevel]) -> bytes:
    """The bytes a receiver is sent."""
    if len(session) != SESSION_BYTES:
        raise FeedError(f"a session is {SESSION_BYTES} bytes, not {len(session)}")
    body: list[bytes] = []
    n_symbols = n_levels = 0
    for s in symbols:
        name = s.name.encode("ascii")
        if not 1 <= len(name) <= MAX_NAME:
            raise FeedError(f"symbol {s.name!r}: a name is 1 to {MAX_NAME} ASCII bytes")
        last = s.last or Print(0, 0, 0, 0)
        body.append(_block(SYMBOL.pack(b"S", s.symbol, s.phase, last.trade_id, last.price,
                                       last.qty, last.ts) + name))
        n_symbols += 1
    for lv in levels:
        body.append(_block(LEVEL.pack(b"L", lv.symbol, lv.side, *lv.level)))
        n_levels += 1
    head = _block(HEADER.pack(b"H", session, sequence, n_symbols, n_levels))
    return head + b"".join(body) + _block(END.pack(b"E", sequence))


def decode(data: bytes) -> Snapshot:
    """The snapshot in ``data`` (everything the server sent); FeedError for anything
    that is not one whole snapshot."""
    blocks = list(_payloads(data))
    if not blocks or blocks[0][:1] != b"H" or len(blocks[0]) != HEADER.size:
        raise FeedError("a snapshot starts with its H block")
    _, session, sequence, n_symbols, n_levels = HEADER.unpack(blocks[0])
    if blocks[-1][:1] != b"E" or len(blocks[-1]) != END.size:
        raise FeedError("the snapshot is cut short: no E block")
    if END.unpack(blocks[-1])[1] != sequence:
        raise FeedError("the E block's sequence is not the header's")
    symbols: list[SymbolState] = []
    levels: list[SnapshotLevel] = []
    for payload in blocks[1:-1]:
        kind = payload[:1]
        if kind == b"S" and SYMBOL.size < len(payload) <= SYMBOL.size + MAX_NAME:
            _, number, phase, trade_id, price, qty, ts = SYMBOL.unpack_from(payload)
            last = Print(trade_id, price, qty, ts) if trade_id else None
            symbols.append(SymbolState(number, payload[SYMBOL.size:].decode("ascii"), phase,
                                       last))
        elif kind == b"L" and len(payload) == LEVEL.size:
            _, number, side, price, qty, orders = LEVEL.unpack(payload)
            levels.append(SnapshotLevel(number, side, Level(price, qty, orders)))
        else:
            raise FeedError(f"a snapshot block of kind {kind!r} and {len(payload)} bytes")
    if (len(symbols), len(levels)) != (n_symbols, n_levels):
        raise FeedError(f"the header announces {n_symbols} symbols and {n_levels} levels, "
                        f"the snapshot has {len(symbols)} and {len(levels)}")
    return Snapshot(session, sequence, tuple(symbols), tuple(levels))


def _payloads(data: bytes) -> Iterable[bytes]:
    offset = 0
    while offset < len(data):
        if offset + BLOCK.size > len(data):
            raise FeedError("the snapshot ends inside a block length")
        (length,) = BLOCK.unpack_from(data, offset)
        offset += BLOCK.size
        if offset + length > len(data):
            raise FeedError("the snapshot ends inside a block")
        yield data[offset:offset + length]
        offset += length
