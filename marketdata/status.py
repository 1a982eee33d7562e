"""Trading status on the wire: an instrument's phase as a SecurityStatus (f), the
market's as a TradingSessionStatus (h), and the requests for them (e, g).

The engine's phases (``matching.constants``) have no exact FIX codes, so each gets
the closest SecurityTradingStatus (326) and TradSesStatus (340), and on FIX 4.4 the
phase's own name in TradingSessionSubID (625). The exchange has one trading
session, ``DAY``: its status is the phase every instrument is in when the operator
moves them all (one instrument's halt is that instrument's SecurityStatus).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final, NamedTuple

from fixserver.codec import Field, Message
from fixserver.session import BusinessReject
from matching.constants import (
    CLOSED,
    CLOSING_AUCTION,
    CONTINUOUS,
    HALTED,
    OPENING_AUCTION,
    PHASE_NAMES,
    PRE_OPEN,
)

TRADING_SESSION: Final = b"DAY"

# SubscriptionRequestType (263).
SNAPSHOT: Final = b"0"
SUBSCRIBE: Final = b"1"
UNSUBSCRIBE: Final = b"2"

# BusinessRejectReason (380).
UNKNOWN_ID: Final = 1
UNKNOWN_SECURITY: Final = 2
REQUIRED_FIELD_MISSING: Final = 5


class Codes(NamedTuple):
    """The FIX codes of one phase."""

    security_44: bytes        # SecurityTradingStatus on FIX 4.4
    security_42: bytes        # ... on FIX 4.2 (which has no Pre-open)
    session: bytes            # TradSesStatus


CODES: Final = {
    PRE_OPEN: Codes(b"21", b"1", b"4"),
    OPENING_AUCTION: Codes(b"21", b"1", b"4"),
    CONTINUOUS: Codes(b"17", b"17", b"2"),
    HALTED: Codes(b"2", b"2", b"1"),
    CLOSING_AUCTION: Codes(b"17", b"17", b"5"),
    CLOSED: Codes(b"18", b"18", b"3"),
}


class StatusRequest(NamedTuple):
    """A SecurityStatusRequest (``symbol`` set) or TradingSessionStatusRequest."""

    req_id: bytes
    subscription: bytes
    symbol: str = ""


def read_security_status(msg: Message, listed: Collection[str]) -> StatusRequest:
    """The SecurityStatusRequest in ``msg``; BusinessReject for an unlisted symbol."""
    req_id = msg.get(324) or b""
    symbol = (msg.get(55) or b"").decode(errors="replace")
    subscription = msg.get(263) or SNAPSHOT
    if not symbol and subscription != UNSUBSCRIBE:
        # FIX 4.4 puts Symbol in the Instrument component, which the dictionary
        # cannot require field by field.
        raise BusinessReject(REQUIRED_FIELD_MISSING, "Symbol (55) is required", req_id)
    if subscription != UNSUBSCRIBE and symbol not in listed:
        raise BusinessReject(UNKNOWN_SECURITY, f"unknown symbol {symbol}: not listed on "
                             "this exchange", req_id)
    return StatusRequest(req_id, subscription, symbol)


def read_trading_session_status(msg: Message) -> StatusRequest:
    """The TradingSessionStatusRequest in ``msg``; BusinessReject for a trading
    session other than DAY."""
    req_id = msg.get(335) or b""
    session = msg.get(336)
    if session is not None and session != TRADING_SESSION:
        raise BusinessReject(0, f"unknown TradingSessionID {session.decode(errors='replace')}:"
                             " the exchange has one trading session, DAY", req_id)
    return StatusRequest(req_id, msg.get(263) or SNAPSHOT)


def _sub_id(begin_string: bytes, phase: int) -> list[Field]:
    return [(625, PHASE_NAMES[phase].encode())] if begin_string >= b"FIX.4.4" else []


def security_status(begin_string: bytes, req_id: bytes, symbol: str, phase: int,
                    unsolicited: bool) -> list[Field]:
    """The body of a SecurityStatus (f)."""
    codes = CODES[phase]
    body: list[Field] = [(324, req_id)] if req_id else []
    body += [(55, symbol.encode()), (336, TRADING_SESSION), *_sub_id(begin_string, phase),
             (325, b"Y" if unsolicited else b"N"),
             (326, codes.security_44 if begin_string >= b"FIX.4.4" else codes.security_42)]
    return body


def trading_session_status(begin_string: bytes, req_id: bytes, phase: int,
                           unsolicited: bool) -> list[Field]:
    """The body of a TradingSessionStatus (h)."""
    body: list[Field] = [(335, req_id)] if req_id else []
    body += [(336, TRADING_SESSION), *_sub_id(begin_string, phase),
             (325, b"Y" if unsolicited else b"N"), (340, CODES[phase].session)]
    return body
