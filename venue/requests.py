"""FIX order-entry messages -> journaled commands (``commands.py``).

Pure functions of one message. A field the exchange cannot use (a price finer
than four decimals, an OrdType it does not support, ...) does not raise: the
command carries an error code and a text naming the field, and the sequenced
command is answered with a reject, so that every request consumes its ClOrdID
and ExecID the same way on replay.
"""

from __future__ import annotations

from fixserver.codec import Message
from fixserver.utctime import parse_utc
from matching.constants import (
    GTD,
    ORD_TYPE_NAMES,
    PRICED_ORD_TYPES,
    SIDE_NAMES,
    STOP_ORD_TYPES,
    TIF_NAMES,
)

from . import orderentry as OE
from .commands import (
    Code,
    NewOrderSingle,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    OrderMassCancelRequest,
    OrderStatusRequest,
)
from .fixedpoint import parse_price, parse_qty


def _values(codes: dict[int, str]) -> dict[bytes, int]:
    """FIX value -> the engine's code (the engine's codes are FIX's: ``constants``)."""
    return {b"%d" % code: code for code in codes}


SIDES = _values(SIDE_NAMES)
ORD_TYPES = _values(ORD_TYPE_NAMES)
TIFS = _values(TIF_NAMES)


class _Fields:
    """Reads typed fields from a message, remembering the first problem."""

    __slots__ = ("msg", "code", "text")

    def __init__(self, msg: Message) -> None:
        self.msg = msg
        self.code = ""
        self.text = ""

    def problem(self, code: str, text: str) -> None:
        if not self.code:
            self.code, self.text = code, text

    def text_field(self, tag: int) -> str:
        v = self.msg.get(tag)
        return v.decode("latin-1") if v else ""

    def enum(self, tag: int, name: str, table: dict[bytes, int], default: int | None) -> Code:
        v = self.msg.get(tag)
        if v is None:
            if default is None:
                self.problem(OE.INVALID_FIELD, f"{name} ({tag}) is required")
                return 0
            return default
        if v not in table:
            self.problem(OE.UNSUPPORTED, f"{name} ({tag}) {v.decode('latin-1')} is not "
                         "supported by this exchange")
            # The reject reports the value as sent (the command never reaches the engine).
            return v.decode("latin-1")
        return table[v]

    def price(self, tag: int, name: str, required: bool) -> int:
        v = self.msg.get(tag)
        if v is None:
            if required:
                self.problem(OE.INVALID_FIELD, f"{name} ({tag}) is required for this OrdType")
            return 0
        p = parse_price(v)
        if p is None or p <= 0:
            self.problem(OE.INVALID_FIELD, f"{name} ({tag}) {v.decode('latin-1')} must be "
                         "positive with at most 4 decimals")
            return 0
        return p

    def qty(self, tag: int, name: str, required: bool) -> int:
        v = self.msg.get(tag)
        if v is None:
            if required:
                self.problem(OE.INVALID_FIELD, f"{name} ({tag}) is required")
            return 0
        q = parse_qty(v)
        if q is None:
            self.problem(OE.INVALID_FIELD, f"{name} ({tag}) {v.decode('latin-1')} must be a "
                         "whole number")
            return 0
        return q

    def timestamp_ns(self, tag: int, name: str) -> int:
        v = self.msg.get(tag)
        if v is None:
            return 0
        t = parse_utc(v)
        if t is None:
            self.problem(OE.INVALID_FIELD, f"{name} ({tag}) is not a UTC timestamp")
            return 0
        return int(round(t * 1000)) * 1_000_000


def new_order(msg: Message, session: str) -> NewOrderSingle:
    """NewOrderSingle (D)."""
    f = _Fields(msg)
    side = f.enum(54, "Side", SIDES, None)
    ord_type = f.enum(40, "OrdType", ORD_TYPES, None)
    tif = f.enum(59, "TimeInForce", TIFS, 0)
    qty = f.qty(38, "OrderQty", True)
    price = f.price(44, "Price", ord_type in PRICED_ORD_TYPES)
    stop_price = f.price(99, "StopPx", ord_type in STOP_ORD_TYPES)
    expire = f.timestamp_ns(126, "ExpireTime")
    if tif == GTD and not expire:
        f.problem(OE.INVALID_FIELD, "ExpireTime (126) is required for TimeInForce 6 (GTD)")
    min_qty = f.qty(110, "MinQty", False)
    max_floor = f.qty(111, "MaxFloor", False)
    return NewOrderSingle(session, f.text_field(11), f.text_field(1), f.text_field(55), side,
                          ord_type, price, stop_price, qty, tif, expire, min_qty, max_floor,
                          f.code, f.text)


def cancel(msg: Message, session: str) -> OrderCancelRequest:
    """OrderCancelRequest (F)."""
    return OrderCancelRequest(session, _s(msg, 11), _s(msg, 41), _s(msg, 37), _s(msg, 55),
                              _side(msg))


def replace(msg: Message, session: str) -> OrderCancelReplaceRequest:
    """OrderCancelReplaceRequest (G). An absent TimeInForce or Symbol (-1, "") means
    "unchanged"."""
    f = _Fields(msg)
    side = f.enum(54, "Side", SIDES, None)
    ord_type = f.enum(40, "OrdType", ORD_TYPES, None)
    tif = f.enum(59, "TimeInForce", TIFS, -1)
    qty = f.qty(38, "OrderQty", True)
    price = f.price(44, "Price", ord_type in PRICED_ORD_TYPES)
    stop_price = f.price(99, "StopPx", ord_type in STOP_ORD_TYPES)
    return OrderCancelReplaceRequest(session, _s(msg, 11), _s(msg, 41), _s(msg, 37),
                                     _s(msg, 55), side, qty, price, stop_price, ord_type, tif,
                                     f.code, f.text)


def status(msg: Message, session: str) -> OrderStatusRequest:
    """OrderStatusRequest (H)."""
    return OrderStatusRequest(session, _s(msg, 11), _s(msg, 37), _s(msg, 55), _side(msg))


def mass_cancel(msg: Message, session: str) -> OrderMassCancelRequest:
    """OrderMassCancelRequest (q) (FIX 4.4 q has no Account)."""
    return OrderMassCancelRequest(session, _s(msg, 11), _s(msg, 530), _s(msg, 55),
                                  _side(msg), "")


def _side(msg: Message) -> Code:
    """Side as the engine's int, or the text as sent when it is not one we support."""
    v = msg.get(54)
    if not v:
        return 0
    return SIDES.get(v) or v.decode("latin-1")


def _s(msg: Message, tag: int) -> str:
    v = msg.get(tag)
    return v.decode("latin-1") if v else ""
