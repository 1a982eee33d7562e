"""A MarketDataRequest (V) read into what it asks for, or the reason it is refused.

The session layer has already checked the message against the data dictionary
(required fields, value types, enumerations, group counts); what is left here is
what the exchange serves: the symbols it lists, aggregated books at any depth,
bids, offers and trades, snapshots, subscriptions with full or incremental
refreshes. Anything else is a :class:`Refused` with the MDReqRejReason (281) the
dictionary defines for it and a Text.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

import msgspec

from fixserver.codec import Message

# SubscriptionRequestType (263).
SNAPSHOT: Final = b"0"
SUBSCRIBE: Final = b"1"
UNSUBSCRIBE: Final = b"2"

# MDUpdateType (265).
FULL_REFRESH: Final = 0
INCREMENTAL: Final = 1

# MDEntryType (269) served.
BID: Final = b"0"
OFFER: Final = b"1"
TRADE: Final = b"2"
OPENING_PRICE: Final = b"4"
CLOSING_PRICE: Final = b"5"
HIGH_PRICE: Final = b"7"
LOW_PRICE: Final = b"8"
TRADE_VOLUME: Final = b"B"      # FIX 4.4
STATISTICS: Final = (OPENING_PRICE, CLOSING_PRICE, HIGH_PRICE, LOW_PRICE, TRADE_VOLUME)
SERVED_ENTRY_TYPES: Final = (BID, OFFER, TRADE, *STATISTICS)

# MDReqRejReason (281).
UNKNOWN_SYMBOL: Final = b"0"
DUPLICATE_MD_REQ_ID: Final = b"1"
UNSUPPORTED_SUBSCRIPTION_REQUEST_TYPE: Final = b"4"
UNSUPPORTED_MARKET_DEPTH: Final = b"5"
UNSUPPORTED_MD_UPDATE_TYPE: Final = b"6"
UNSUPPORTED_AGGREGATED_BOOK: Final = b"7"
UNSUPPORTED_MD_ENTRY_TYPE: Final = b"8"

_MD_REQ_ID, _SUBSCRIPTION, _DEPTH, _UPDATE_TYPE, _AGGREGATED = 262, 263, 264, 265, 266
_ENTRY_TYPE, _SYMBOL = 269, 55


class MarketDataRequest(msgspec.Struct, frozen=True):
    """What a MarketDataRequest asks for, checked."""

    md_req_id: bytes
    subscription: bytes               # SNAPSHOT, SUBSCRIBE or UNSUBSCRIBE
    depth: int                        # 0: the whole book
    update_type: int | None           # FULL_REFRESH or INCREMENTAL (SUBSCRIBE only)
    entry_types: tuple[bytes, ...]    # in the order asked, without repeats
    symbols: tuple[str, ...]          # in the order asked, without repeats


class Refused(Exception):
    """The request cannot be served: answered with a MarketDataRequestReject."""

    def __init__(self, md_req_id: bytes, reason: bytes | None, text: str) -> None:
        super().__init__(text)
        self.md_req_id = md_req_id
        self.reason = reason       # MDReqRejReason, None when no value fits
        self.text = text


def _unique(values: list[bytes]) -> tuple[bytes, ...]:
    return tuple(dict.fromkeys(values))


def read(msg: Message, listed: Collection[str]) -> MarketDataRequest:
    """The request in ``msg``, for an exchange that lists the symbols ``listed``;
    Refused if it cannot be served."""
    md_req_id = msg.get(_MD_REQ_ID) or b""
    subscription = msg.get(_SUBSCRIPTION) or b""
    if subscription not in (SNAPSHOT, SUBSCRIBE, UNSUBSCRIBE):
        raise Refused(md_req_id, UNSUPPORTED_SUBSCRIPTION_REQUEST_TYPE,
                      f"SubscriptionRequestType {subscription.decode(errors='replace')} "
                      "is not served (0 snapshot, 1 snapshot + updates, 2 unsubscribe)")
    depth = msg.get_int(_DEPTH)
    if depth is None or depth < 0:
        raise Refused(md_req_id, UNSUPPORTED_MARKET_DEPTH,
                      "MarketDepth must be 0 (the whole book) or a number of levels")
    update_type = msg.get_int(_UPDATE_TYPE)
    if subscription == SUBSCRIBE and update_type is None:
        raise Refused(md_req_id, UNSUPPORTED_MD_UPDATE_TYPE,
                      "MDUpdateType (265) is required with SubscriptionRequestType=1: "
                      "0 full refresh or 1 incremental refresh")
    if update_type not in (None, FULL_REFRESH, INCREMENTAL):
        raise Refused(md_req_id, UNSUPPORTED_MD_UPDATE_TYPE,
                      f"MDUpdateType {update_type} is not served (0 full, 1 incremental)")
    if msg.get(_AGGREGATED) == b"N":
        raise Refused(md_req_id, UNSUPPORTED_AGGREGATED_BOOK,
                      "only aggregated books (AggregatedBook=Y) are published: one entry "
                      "per price level")
    entry_types = _unique(msg.values(_ENTRY_TYPE))
    unserved = [t for t in entry_types if t not in SERVED_ENTRY_TYPES]
    if unserved:
        raise Refused(md_req_id, UNSUPPORTED_MD_ENTRY_TYPE,
                      f"MDEntryType {b','.join(unserved).decode(errors='replace')} is not "
                      "published: 0 bid, 1 offer, 2 trade, 4 opening, 5 closing, 7 high, "
                      "8 low and B volume are")
    symbols = tuple(s.decode(errors="replace") for s in _unique(msg.values(_SYMBOL)))
    unknown = [s for s in symbols if s not in listed]
    if unknown and subscription != UNSUBSCRIBE:
        raise Refused(md_req_id, UNKNOWN_SYMBOL,
                      f"unknown symbol {', '.join(unknown)}: not listed on this exchange")
    return MarketDataRequest(md_req_id, subscription, depth,
                             update_type if subscription == SUBSCRIBE else None,
                             entry_types, symbols)
