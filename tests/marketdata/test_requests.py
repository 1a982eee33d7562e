"""Reading a MarketDataRequest (marketdata.requests): what is served, what is refused
and with which MDReqRejReason."""

from __future__ import annotations

import pytest

from fixserver.codec import Message
from marketdata.requests import (
    INCREMENTAL,
    UNKNOWN_SYMBOL,
    UNSUPPORTED_AGGREGATED_BOOK,
    UNSUPPORTED_MARKET_DEPTH,
    UNSUPPORTED_MD_ENTRY_TYPE,
    UNSUPPORTED_MD_UPDATE_TYPE,
    MarketDataRequest,
    Refused,
    read,
)

LISTED = ("AAPL", "MSFT")


def message(*fields: tuple[int, str]) -> Message:
    return Message(b"FIX.4.4", [(35, b"V"), *((t, v.encode()) for t, v in fields)])


def request(subscription: str = "1", depth: str = "0", update: str | None = "1",
            types: tuple[str, ...] = ("0", "1"), symbols: tuple[str, ...] = ("AAPL",),
            *extra: tuple[int, str]) -> Message:
    fields = [(262, "r1"), (263, subscription), (264, depth)]
    if update is not None:
        fields.append((265, update))
    fields += [*extra, (267, str(len(types))), *((269, t) for t in types),
               (146, str(len(symbols))), *((55, s) for s in symbols)]
    return message(*fields)


def refusal(msg: Message) -> tuple[bytes | None, str]:
    with pytest.raises(Refused) as caught:
        read(msg, LISTED)
    assert caught.value.md_req_id == b"r1"
    return caught.value.reason, caught.value.text


def test_a_subscription_is_read_with_its_types_and_symbols_in_order_without_repeats() -> None:
    got = read(request("1", "5", "1", ("1", "0", "1"), ("MSFT", "AAPL", "MSFT")), LISTED)
    assert got == MarketDataRequest(b"r1", b"1", 5, INCREMENTAL, (b"1", b"0"),
                                    ("MSFT", "AAPL"))


def test_a_snapshot_needs_no_update_type_and_keeps_none() -> None:
    assert read(request("0", update=None), LISTED).update_type is None


def test_a_subscription_without_an_update_type_is_refused() -> None:
    assert refusal(request("1", update=None))[0] == UNSUPPORTED_MD_UPDATE_TYPE


def test_an_update_type_other_than_full_or_incremental_is_refused() -> None:
    assert refusal(request("1", update="7"))[0] == UNSUPPORTED_MD_UPDATE_TYPE


def test_a_negative_depth_is_refused() -> None:
    assert refusal(request(depth="-1"))[0] == UNSUPPORTED_MARKET_DEPTH


def test_a_book_that_is_not_aggregated_is_refused() -> None:
    assert refusal(request("1", "0", "1", ("0",), ("AAPL",), (266, "N")))[0] == \
        UNSUPPORTED_AGGREGATED_BOOK


def test_entry_types_that_are_not_published_are_refused_and_named() -> None:
    reason, text = refusal(request(types=("0", "3", "9")))
    assert reason == UNSUPPORTED_MD_ENTRY_TYPE and "3,9" in text


def test_an_unlisted_symbol_is_refused_and_named() -> None:
    reason, text = refusal(request(symbols=("AAPL", "ZZZ")))
    assert reason == UNKNOWN_SYMBOL and "ZZZ" in text


def test_an_unsubscription_needs_no_listed_symbol() -> None:
    assert read(request("2", symbols=("ZZZ",)), LISTED).subscription == b"2"

