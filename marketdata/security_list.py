"""The instruments on the wire: a SecurityListRequest (x) answered with a SecurityList
(y), FIX 4.4 only (FIX 4.2 has neither).

Each instrument is its Symbol, a SecurityID (48) with SecurityIDSource 8 (exchange
symbol): the instrument's number, from 1 in the order of exchange.toml, by which
the binary feed will name it; its lot as RoundLot (561) and MinTradeVol (562); and,
as FIX 4.4 has no field for them, its tick size and reference price in the entry's
Text (58): ``tick 0.01 reference 190``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final, NamedTuple

from fixserver.codec import Field, Message
from venue.config import InstrumentConfig
from venue.fixedpoint import format_price

# SecurityListRequestType (559).
ONE_SYMBOL: Final = b"0"
ALL_SECURITIES: Final = b"4"

# SecurityRequestResult (560).
VALID: Final = b"0"
UNSUPPORTED: Final = b"1"
NONE_FOUND: Final = b"2"


def security_ids(instruments: Iterable[str]) -> dict[str, int]:
    """Symbol -> its number: from 1 in the order of exchange.toml (the SecurityID of
    the SecurityList, and the symbol id of the binary feed)."""
    return {symbol: n for n, symbol in enumerate(instruments, 1)}


class SecurityListRequest(NamedTuple):
    req_id: bytes
    request_type: bytes
    symbol: str


def read(msg: Message) -> SecurityListRequest:
    return SecurityListRequest(msg.get(320) or b"", msg.get(559) or b"",
                               (msg.get(55) or b"").decode(errors="replace"))


def answer(request: SecurityListRequest, response_id: bytes,
           instruments: Mapping[str, InstrumentConfig]) -> list[Field]:
    """The body of the SecurityList that answers ``request``."""
    numbers = security_ids(instruments)
    if request.request_type == ALL_SECURITIES:
        chosen, result = list(instruments), VALID
    elif request.request_type == ONE_SYMBOL:
        chosen = [request.symbol] if request.symbol in instruments else []
        result = VALID if chosen else NONE_FOUND
    else:
        chosen, result = [], UNSUPPORTED
    body: list[Field] = [(320, request.req_id), (322, response_id), (560, result)]
    if result != VALID:
        return body
    body += [(393, b"%d" % len(chosen)), (893, b"Y"), (146, b"%d" % len(chosen))]
    for symbol in chosen:
        inst = instruments[symbol]
        body += [(55, symbol.encode()), (48, b"%d" % numbers[symbol]), (22, b"8"),
                 (561, b"%d" % inst.lot_size), (562, b"%d" % inst.lot_size),
                 (336, b"DAY"),
                 (58, b"tick %b reference %b" % (format_price(inst.tick_size),
                                                 format_price(inst.reference_price)))]
    return body
