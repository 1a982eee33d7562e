"""The market-data messages as FIX bodies: MarketDataSnapshotFullRefresh (W),
MarketDataIncrementalRefresh (X) and MarketDataRequestReject (Y).

Each entry's fields are written in the order of its repeating group in the data
dictionary (the same for FIX 4.2 and 4.4 in what is used here). A level is an
entry with MDEntryPx (270), MDEntrySize (271), NumberOfOrders (346) and
MDEntryPositionNo (290, its rank from the best); a trade has MDEntryPx, MDEntrySize
and MDEntryTime (273). Every W and X also carries, in the header,
LastMsgSeqNumProcessed (369) = the exchange sequence number of the last command
whose effect it shows (docs/FIX.md), so that a snapshot and incrementals line up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

from fixserver.codec import Field, encode_fields
from matching.stats import DayStats
from venue.fixedpoint import format_price

from .book import Level, LevelAction, Print
from .requests import (
    CLOSING_PRICE,
    HIGH_PRICE,
    LOW_PRICE,
    OPENING_PRICE,
    TRADE_VOLUME,
    Refused,
)

LAST_SEQ_PROCESSED = 369


# The indicative uncross of a call, kept among the statistics under these keys and
# sent as the opening (4) or closing (5) price flagged as expected: FIX 4.4's
# OpenCloseSettlFlag (286) = 3; FIX 4.2, which lacks that value, QuoteCondition
# (276) = I, non-firm (docs/FIX.md).
INDICATIVE_OPEN = OPENING_PRICE + b"*"
INDICATIVE_CLOSE = CLOSING_PRICE + b"*"


class Entry(NamedTuple):
    """One entry of a W or X: what it is (MDEntryType), and a level (with its rank
    from the best, 0: none), a trade, a statistic's value (a price, or for the
    trade volume a quantity), or an indicative uncross (price, volume)."""

    entry_type: bytes
    level: Level | None = None
    position: int = 0
    trade: Print | None = None
    value: int = 0
    indicative: tuple[int, int] | None = None


def statistic_entry(key: bytes, value: int | tuple[int, int]) -> Entry:
    """The entry of a statistic kept under ``key`` (an MDEntryType, or an
    INDICATIVE_* key)."""
    if isinstance(value, tuple):
        return Entry(key[:1], indicative=value)
    return Entry(key, value=value)


def statistic_key(entry: Entry) -> bytes:
    """The key ``statistic_entry`` made ``entry`` from."""
    return entry.entry_type + b"*" if entry.indicative is not None else entry.entry_type


def _time(ns: int) -> bytes:
    moment = dt.datetime.fromtimestamp(ns // 1_000_000_000, dt.UTC)
    return b"%s.%03d" % (moment.strftime("%H:%M:%S").encode(), ns // 1_000_000 % 1000)


# Every subscriber of a batch is sent the same entries: each is formatted once
# (bench_marketdata: the trade time's strftime alone was ~10 us an order with 10
# subscribers).
@lru_cache(maxsize=8192)
def _entry_fields(entry: Entry, fix44: bool) -> tuple[Field, ...]:
    if entry.indicative is not None:
        price, volume = entry.indicative
        return ((270, format_price(price)), (271, b"%d" % volume),
                (286, b"3") if fix44 else (276, b"I"))
    if entry.level is not None:
        level = entry.level
        fields = ((270, format_price(level.price)), (271, b"%d" % level.qty),
                  (346, b"%d" % level.orders))
        return (*fields, (290, b"%d" % entry.position)) if entry.position else fields
    if entry.trade is not None:
        return ((270, format_price(entry.trade.price)), (271, b"%d" % entry.trade.qty),
                (273, _time(entry.trade.ts)))
    if entry.entry_type == TRADE_VOLUME:
        return ((271, b"%d" % entry.value),)
    return ((270, format_price(entry.value)),)


def statistics(stats: DayStats) -> dict[bytes, int]:
    """The statistics an instrument has now, by MDEntryType: open, high and low once
    it has traded today, the close once it has closed, the volume always."""
    out = {CLOSING_PRICE: stats.close} if stats.close else {}
    if stats.trades:
        out.update({OPENING_PRICE: stats.open, HIGH_PRICE: stats.high, LOW_PRICE: stats.low})
    out[TRADE_VOLUME] = stats.volume
    return out


def header(last_seq: int) -> list[Field]:
    """The header fields of a W or X."""
    return [(LAST_SEQ_PROCESSED, b"%d" % last_seq)]


def snapshot(md_req_id: bytes, symbol: str, entries: Sequence[Entry], fix44: bool = True
             ) -> list[Field]:
    """The body of a MarketDataSnapshotFullRefresh (W) of one symbol."""
    body: list[Field] = [(262, md_req_id), (55, symbol.encode()), (268, b"%d" % len(entries))]
    for entry in entries:
        body.append((269, entry.entry_type))
        body.extend(_entry_fields(entry, fix44))
    return body


def incremental(md_req_id: bytes, changes: Sequence[tuple[str, bytes, Entry]],
                fix44: bool = True) -> list[Field]:
    """The body of a MarketDataIncrementalRefresh (X): (symbol, MDUpdateAction, entry)
    per change, in order."""
    body: list[Field] = [(262, md_req_id), (268, b"%d" % len(changes))]
    for symbol, action, entry in changes:
        body += [(279, action), (269, entry.entry_type), (55, symbol.encode())]
        body.extend(_entry_fields(entry, fix44))
    return body


def incremental_entries(changes: Sequence[tuple[str, bytes, Entry]], fix44: bool = True
                        ) -> bytes:
    """The part of an X body after its MDReqID, encoded: the same for every
    subscriber of a version sent the same changes (see ``incremental``)."""
    return encode_fields(incremental(b"", changes, fix44)[1:])


def with_md_req_id(md_req_id: bytes, entries: bytes) -> bytes:
    """An encoded X body: MDReqID, then the encoded entries."""
    return b"262=%b\x01%b" % (md_req_id, entries)


def reject(refused: Refused) -> list[Field]:
    """The body of a MarketDataRequestReject (Y)."""
    body: list[Field] = [(262, refused.md_req_id)]
    if refused.reason is not None:
        body.append((281, refused.reason))
    body.append((58, refused.text.encode()))
    return body


def level_entries(side_type: bytes, levels: Sequence[Level]) -> list[Entry]:
    """The entries of one side's levels, best first, with their positions."""
    return [Entry(side_type, level, i) for i, level in enumerate(levels, 1)]


def action_entries(side_type: bytes, actions: Sequence[LevelAction]) -> list[tuple[bytes, Entry]]:
    """(MDUpdateAction, entry) of each level action of one side."""
    return [(a.action, Entry(side_type, a.level, a.position)) for a in actions]

