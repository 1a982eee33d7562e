"""Small integer codes shared by commands, events and the book.

They are plain ``int`` constants, not ``enum`` members: the hot path compares
them millions of times per second and an ``IntEnum`` comparison costs several
times more. Where FIX has a code for the same thing, the value is FIX's
(Side 54, OrdType 40, TimeInForce 59), so the FIX layer converts with ``int()``.
The ``*_NAMES`` dicts give a readable name for logs and error texts.
"""

from __future__ import annotations

from typing import Final

# Price and quantity scale: a price of 12.3400 is the integer 123400.
PRICE_DECIMALS: Final = 4
PRICE_SCALE: Final = 10 ** PRICE_DECIMALS

# Side (FIX tag 54).
BUY: Final = 1
SELL: Final = 2
SIDE_NAMES: Final = {BUY: "BUY", SELL: "SELL"}

# Order type (FIX tag 40).
MARKET: Final = 1
LIMIT: Final = 2
STOP: Final = 3
STOP_LIMIT: Final = 4
ORD_TYPE_NAMES: Final = {MARKET: "MARKET", LIMIT: "LIMIT", STOP: "STOP", STOP_LIMIT: "STOP_LIMIT"}
PRICED_ORD_TYPES: Final = frozenset((LIMIT, STOP_LIMIT))   # they carry a limit Price
STOP_ORD_TYPES: Final = frozenset((STOP, STOP_LIMIT))      # they carry a StopPx

# Time in force (FIX tag 59).
DAY: Final = 0
GTC: Final = 1
IOC: Final = 3
FOK: Final = 4
GTD: Final = 6
TIF_NAMES: Final = {DAY: "DAY", GTC: "GTC", IOC: "IOC", FOK: "FOK", GTD: "GTD"}

# Trading phase of one instrument.
PRE_OPEN: Final = 1          # orders accepted, no matching
OPENING_AUCTION: Final = 2   # call period; leaving it uncrosses the book
CONTINUOUS: Final = 3        # price-time matching on arrival
HALTED: Final = 4            # no matching; only cancels accepted
CLOSING_AUCTION: Final = 5   # call period; leaving it uncrosses the book
CLOSED: Final = 6            # new orders and replaces rejected; cancels accepted
PHASE_NAMES: Final = {
    PRE_OPEN: "PRE_OPEN", OPENING_AUCTION: "OPENING_AUCTION", CONTINUOUS: "CONTINUOUS",
    HALTED: "HALTED", CLOSING_AUCTION: "CLOSING_AUCTION", CLOSED: "CLOSED",
}
# Phases in which orders are collected without matching (a call); the book may cross.
CALL_PHASES: Final = frozenset((PRE_OPEN, OPENING_AUCTION, CLOSING_AUCTION))
AUCTION_PHASES: Final = frozenset((OPENING_AUCTION, CLOSING_AUCTION))

# Self-trade prevention mode of an account (applies when both sides have that account).
STP_NONE: Final = 0
STP_CANCEL_RESTING: Final = 1
STP_CANCEL_AGGRESSOR: Final = 2
STP_CANCEL_BOTH: Final = 3
STP_DECREMENT_AND_CANCEL: Final = 4
STP_NAMES: Final = {
    STP_NONE: "NONE", STP_CANCEL_RESTING: "CANCEL_RESTING",
    STP_CANCEL_AGGRESSOR: "CANCEL_AGGRESSOR", STP_CANCEL_BOTH: "CANCEL_BOTH",
    STP_DECREMENT_AND_CANCEL: "DECREMENT_AND_CANCEL",
}
