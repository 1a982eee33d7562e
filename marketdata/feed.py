"""The binary market-data feed's wire format: MoldUDP64 packets of fixed 26-byte ticks.

Pure encoding and decoding, for the multicast publisher and its retransmission
service (``consumers.feed``) and the subscribers (``marketdata.receiver``). All
integers are big-endian.

Packet (MoldUDP64)::

    session     10 bytes   ASCII, space-padded: names the feed's day
    sequence    u64        the sequence number of the first message in the packet
    count       u16        messages that follow; 0 = heartbeat (``sequence`` is then
                           the next message's number), 0xFFFF = end of session
    messages    count x (length u16, payload)

Every payload is one :class:`Tick` of 26 bytes, the seed's packed tick with a kind::

    ts          u64   ns since the epoch (the command's sequencer time)
    symbol      u32   the instrument's number (SecurityID of the SecurityList: from 1
                      in the order of exchange.toml)
    price       u32   fixed point, 4 decimals (0 when the kind has none)
    qty         u32   a level's displayed quantity, a trade's quantity
    orders      u32   a level's number of orders; a trade's trade id
    side        u8    1 buy, 2 sell (a trade: the aggressor's, 0 in an auction); a
                      phase change: the phase (matching.constants)
    kind        u8    b"A" level added, b"M" level modified, b"D" level deleted (qty 0),
                      b"T" trade, b"P" phase change
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from typing import Final, NamedTuple

SESSION_BYTES: Final = 10
HEADER: Final = struct.Struct(">10sQH")
TICK: Final = struct.Struct(">QIIIIBB")
BLOCK: Final = struct.Struct(">H")
# A message block of one tick (its length, 26, then the tick) in one pack, for the
# publisher's hot path: no Tick record, no checks but struct's own (bench_feed, with
# encoded blocks kept for retransmission: the feed's own part of a 64-order batch
# went from p50 150 us to 87 us).
TICK_BLOCK: Final = struct.Struct(">HQIIIIBB")
HEARTBEAT_COUNT: Final = 0
END_OF_SESSION: Final = 0xFFFF
MAX_COUNT: Final = 0xFFFE

LEVEL_ADDED: Final = ord("A")
LEVEL_MODIFIED: Final = ord("M")
LEVEL_DELETED: Final = ord("D")
TRADE: Final = ord("T")
PHASE: Final = ord("P")
KINDS: Final = frozenset((LEVEL_ADDED, LEVEL_MODIFIED, LEVEL_DELETED, TRADE, PHASE))

U32: Final = 0xFFFF_FFFF


class FeedError(ValueError):
    """Bytes that are not a packet of this feed, or a tick that does not fit it."""


class Tick(NamedTuple):
    """One feed message (see the module docstring for the fields)."""

    ts: int
    symbol: int
    price: int
    qty: int
    orders: int
    side: int
    kind: int


class Packet(NamedTuple):
    """A decoded packet: its session, the first message's sequence number, and the
    ticks (empty for a heartbeat and at the end of the session)."""

    session: bytes
    sequence: int
    ticks: tuple[Tick, ...]
    end_of_session: bool = False


def session_name(name: str) -> bytes:
    """A session name as the header carries it: ASCII, 10 bytes, space-padded."""
    raw = name.encode("ascii")
    if len(raw) > SESSION_BYTES:
        raise FeedError(f"session name {name!r} is longer than {SESSION_BYTES} bytes")
    return raw.ljust(SESSION_BYTES)


def encode_tick(tick: Tick) -> bytes:
    if tick.kind not in KINDS:
        raise FeedError(f"unknown tick kind {tick.kind!r}")
    if not (0 <= tick.price <= U32 and 0 <= tick.qty <= U32 and 0 <= tick.orders <= U32
            and 0 <= tick.symbol <= U32):
        raise FeedError(f"a field of {tick} does not fit its 32 bits")
    try:
        return TICK.pack(*tick)
    except struct.error as e:
        raise FeedError(f"{tick} does not fit the tick layout: {e}") from None


def encode_packet(session: bytes, sequence: int, ticks: Sequence[Tick]) -> bytes:
    """One packet of ``ticks``, the first numbered ``sequence``."""
    if len(ticks) > MAX_COUNT:
        raise FeedError(f"{len(ticks)} messages do not fit one packet")
    return packet_of_blocks(session, sequence, [BLOCK.pack(TICK.size) + encode_tick(t)
                                                for t in ticks])


def packet_of_blocks(session: bytes, sequence: int, blocks: Sequence[bytes]) -> bytes:
    """One packet of message blocks already encoded (``TICK_BLOCK``)."""
    return HEADER.pack(session, sequence, len(blocks)) + b"".join(blocks)


def heartbeat(session: bytes, next_sequence: int) -> bytes:
    return HEADER.pack(session, next_sequence, HEARTBEAT_COUNT)


def end_of_session(session: bytes, next_sequence: int) -> bytes:
    return HEADER.pack(session, next_sequence, END_OF_SESSION)


def decode_packet(data: bytes) -> Packet:
    """The packet in ``data``; FeedError for anything else."""
    if len(data) < HEADER.size:
        raise FeedError(f"{len(data)} bytes: shorter than a packet header")
    session, sequence, count = HEADER.unpack_from(data)
    if count == END_OF_SESSION:
        return Packet(session, sequence, (), True)
    ticks = tuple(_blocks(data, HEADER.size, count))
    return Packet(session, sequence, ticks)


def _blocks(data: bytes, offset: int, count: int) -> Iterator[Tick]:
    for _ in range(count):
        if offset + BLOCK.size > len(data):
            raise FeedError("the packet ends inside a message length")
        (length,) = BLOCK.unpack_from(data, offset)
        offset += BLOCK.size
        if length != TICK.size or offset + length > len(data):
            raise FeedError(f"a message of {length} bytes where a tick has {TICK.size}")
        tick = Tick(*TICK.unpack_from(data, offset))
        if tick.kind not in KINDS:
            raise FeedError(f"unknown tick kind {tick.kind!r}")
        offset += length
        yield tick
    if offset != len(data):
        raise FeedError(f"{len(data) - offset} bytes after the last message")
