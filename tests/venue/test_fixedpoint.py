"""venue.fixedpoint: FIX decimal text <-> fixed-point integers, never a float."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from venue.fixedpoint import (
    PRICE_DECIMALS,
    PRICE_SCALE,
    format_price,
    format_qty,
    parse_price,
    parse_qty,
)


def test_price_scale_is_four_decimals() -> None:
    assert (PRICE_DECIMALS, PRICE_SCALE) == (4, 10_000)


@given(st.integers(min_value=-10**30, max_value=10**30))
def test_parse_of_formatted_price_gives_the_same_int(value: int) -> None:
    assert parse_price(format_price(value)) == value


@given(st.integers(min_value=-10**30, max_value=10**30))
def test_formatted_price_is_canonical_decimal_text(value: int) -> None:
    # Decimal is the oracle: same value, no trailing zeros, no exponent.
    text = format_price(value).decode()
    with localcontext(prec=80):
        assert Decimal(text) * PRICE_SCALE == value
    assert not ("." in text and text.endswith("0")) and "e" not in text.lower()


@given(whole=st.integers(0, 10**12), frac=st.text("0123456789", max_size=4),
       trailing_zeros=st.integers(0, 3), negative=st.booleans())
def test_parse_price_agrees_with_decimal(whole: int, frac: str, trailing_zeros: int,
                                         negative: bool) -> None:
    text = ("-" if negative else "") + str(whole) + ("." + frac + "0" * trailing_zeros
                                                     if frac else "")
    with localcontext(prec=80):
        expected = int(Decimal(text) * PRICE_SCALE)
    assert parse_price(text.encode()) == expected


@given(st.integers(min_value=0, max_value=10**30))
def test_parse_of_formatted_qty_gives_the_same_int(value: int) -> None:
    assert parse_qty(format_qty(value)) == value


@pytest.mark.parametrize(("value", "text"), [
    (1_234_500, b"123.45"), (1_000_000, b"100"), (5, b"0.0005"), (0, b"0"),
    (-1_234_500, b"-123.45"), (-5, b"-0.0005"), (10_000, b"1"), (12_345, b"1.2345"),
])
def test_format_price_examples(value: int, text: bytes) -> None:
    assert format_price(value) == text


@pytest.mark.parametrize(("text", "value"), [
    (b"123.45", 1_234_500), (b"100", 1_000_000), (b"0.0001", 1), (b"100.", 1_000_000),
    (b".5", 5_000), (b"-1.5", -15_000), (b"1.23450000", 12_345), (b"007.10", 71_000),
    (b"0", 0),
])
def test_parse_price_examples(text: bytes, value: int) -> None:
    assert parse_price(text) == value


@pytest.mark.parametrize("text", [
    b"", b".", b"-", b"-.", b"abc", b"1.2.3", b"1e5", b"+1", b" 1", b"1 ", b"1.00001",
    b"--1", b"1,5", b"0x10", b"1_000", b"1.-5", b"\xd9\xa1", b"NaN", b"inf",
])
def test_parse_price_rejects_malformed_text(text: bytes) -> None:
    assert parse_price(text) is None


@pytest.mark.parametrize(("text", "value"), [
    (b"100", 100), (b"100.00", 100), (b"100.", 100), (b"0", 0), (b"007", 7),
    (b"5.0000000", 5),
])
def test_parse_qty_accepts_whole_numbers_with_or_without_zero_fraction(text: bytes,
                                                                        value: int) -> None:
    assert parse_qty(text) == value


@pytest.mark.parametrize("text", [
    b"", b"1.5", b"100.01", b"-1", b"+1", b"abc", b".5", b"1e2", b"1.0.0", b" 1", b"1 ",
    b".", b"1,000",
])
def test_parse_qty_rejects_fractions_signs_and_garbage(text: bytes) -> None:
    assert parse_qty(text) is None


def test_format_qty_is_plain_digits() -> None:
    assert format_qty(1_000_000) == b"1000000"
