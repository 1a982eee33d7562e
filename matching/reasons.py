"""Reason codes carried by Rejected, Cancelled, CancelRejected, Expired and Restated.

A reason is a stable, machine-readable string code (never renamed: the FIX layer,
the audit trail and tests key on it) plus a human text. Events carry both: the
text is the fixed text below, or a more specific one for validation failures
(e.g. naming the tick size). ``REASONS`` also gives the FIX value the FIX layer
should send: OrdRejReason (103) for Rejected, CxlRejReason (102) for
CancelRejected (FIX 4.4 values; 99 is "Other").
"""

from __future__ import annotations

from typing import Final, NamedTuple


class Reason(NamedTuple):
    """A reason code with its default text and FIX mapping."""

    code: str
    text: str
    ord_rej_reason: int   # FIX tag 103 when the reason rejects a new order
    cxl_rej_reason: int   # FIX tag 102 when the reason rejects a cancel or replace


# --- rejects of new orders and other commands (Rejected) ---
UNKNOWN_SYMBOL: Final = "UNKNOWN_SYMBOL"
MARKET_CLOSED: Final = "MARKET_CLOSED"
MARKET_HALTED: Final = "MARKET_HALTED"
INVALID_SIDE: Final = "INVALID_SIDE"
INVALID_ORDER_TYPE: Final = "INVALID_ORDER_TYPE"
INVALID_TIME_IN_FORCE: Final = "INVALID_TIME_IN_FORCE"
INVALID_QUANTITY: Final = "INVALID_QUANTITY"
QUANTITY_NOT_LOT_MULTIPLE: Final = "QUANTITY_NOT_LOT_MULTIPLE"
INVALID_PRICE: Final = "INVALID_PRICE"
PRICE_NOT_ON_TICK: Final = "PRICE_NOT_ON_TICK"
INVALID_STOP_PRICE: Final = "INVALID_STOP_PRICE"
INVALID_DISPLAY_QTY: Final = "INVALID_DISPLAY_QTY"
INVALID_MIN_QTY: Final = "INVALID_MIN_QTY"
INVALID_EXPIRE_TIME: Final = "INVALID_EXPIRE_TIME"
NOT_ALLOWED_IN_PHASE: Final = "NOT_ALLOWED_IN_PHASE"
DUPLICATE_SYMBOL: Final = "DUPLICATE_SYMBOL"
INVALID_INSTRUMENT: Final = "INVALID_INSTRUMENT"
INVALID_PHASE: Final = "INVALID_PHASE"
INVALID_STP_MODE: Final = "INVALID_STP_MODE"
RISK_REJECTED: Final = "RISK_REJECTED"  # default code when a risk hook gives none

# --- rejects of cancels and replaces (CancelRejected) ---
UNKNOWN_ORDER: Final = "UNKNOWN_ORDER"
TOO_LATE: Final = "TOO_LATE"
NOT_OWNER: Final = "NOT_OWNER"

# --- why an open order ended or shrank (Cancelled, Expired, Restated) ---
CANCEL_REQUESTED: Final = "CANCEL_REQUESTED"
MASS_CANCEL: Final = "MASS_CANCEL"
IOC_REMAINDER: Final = "IOC_REMAINDER"
FOK_NOT_FILLABLE: Final = "FOK_NOT_FILLABLE"
MIN_QTY_NOT_AVAILABLE: Final = "MIN_QTY_NOT_AVAILABLE"
MARKET_NO_LIQUIDITY: Final = "MARKET_NO_LIQUIDITY"
AUCTION_MARKET_UNFILLED: Final = "AUCTION_MARKET_UNFILLED"
SELF_TRADE: Final = "SELF_TRADE"
REPLACED_TO_FILLED: Final = "REPLACED_TO_FILLED"
DAY_EXPIRED: Final = "DAY_EXPIRED"
GTD_EXPIRED: Final = "GTD_EXPIRED"

_O = 99  # FIX "Other"
REASONS: Final[dict[str, Reason]] = {r.code: r for r in (
    Reason(UNKNOWN_SYMBOL, "unknown symbol", 1, _O),
    Reason(MARKET_CLOSED, "the instrument is closed", 2, 2),
    Reason(MARKET_HALTED, "the instrument is halted", 2, 2),
    Reason(INVALID_SIDE, "side must be buy (1) or sell (2)", 11, _O),
    Reason(INVALID_ORDER_TYPE, "unsupported order type", 11, _O),
    Reason(INVALID_TIME_IN_FORCE, "unsupported time in force", 11, _O),
    Reason(INVALID_QUANTITY, "quantity must be positive", 13, _O),
    Reason(QUANTITY_NOT_LOT_MULTIPLE, "quantity is not a multiple of the lot size", 13, _O),
    Reason(INVALID_PRICE, "a limit price must be positive", _O, _O),
    Reason(PRICE_NOT_ON_TICK, "price is not a multiple of the tick size", _O, _O),
    Reason(INVALID_STOP_PRICE, "stop price must be positive and on the tick grid", _O, _O),
    Reason(INVALID_DISPLAY_QTY, "invalid display quantity", 11, _O),
    Reason(INVALID_MIN_QTY, "invalid minimum quantity", 11, _O),
    Reason(INVALID_EXPIRE_TIME, "invalid or past expire time", 11, _O),
    Reason(NOT_ALLOWED_IN_PHASE, "not allowed in the current trading phase", 11, 2),
    Reason(DUPLICATE_SYMBOL, "instrument already defined", 6, _O),
    Reason(INVALID_INSTRUMENT, "invalid instrument definition", _O, _O),
    Reason(INVALID_PHASE, "unknown trading phase", _O, _O),
    Reason(INVALID_STP_MODE, "unknown self-trade prevention mode", _O, _O),
    Reason(RISK_REJECTED, "rejected by pre-trade risk checks", 3, 2),
    Reason(UNKNOWN_ORDER, "unknown order", 5, 1),
    Reason(TOO_LATE, "order is no longer open", 4, 0),
    Reason(NOT_OWNER, "order belongs to another session", 5, 1),
    Reason(CANCEL_REQUESTED, "cancelled on request", _O, _O),
    Reason(MASS_CANCEL, "cancelled by a mass cancel", _O, _O),
    Reason(IOC_REMAINDER, "immediate-or-cancel remainder", _O, _O),
    Reason(FOK_NOT_FILLABLE, "fill-or-kill order could not be filled in full", _O, _O),
    Reason(MIN_QTY_NOT_AVAILABLE, "minimum quantity not available", _O, _O),
    Reason(MARKET_NO_LIQUIDITY, "market order remainder: no liquidity within the protection band",
           _O, _O),
    Reason(AUCTION_MARKET_UNFILLED, "market order remainder: not executed in the auction",
           _O, _O),
    Reason(SELF_TRADE, "self-trade prevention", _O, _O),
    Reason(REPLACED_TO_FILLED, "replaced to a quantity at or below the filled quantity", _O, _O),
    Reason(DAY_EXPIRED, "day order expired at end of day", _O, _O),
    Reason(GTD_EXPIRED, "good-till-date order expired", _O, _O),
)}

# The default text of each code, for the hot path (one dict lookup, or a constant).
TEXT: Final[dict[str, str]] = {code: r.text for code, r in REASONS.items()}
