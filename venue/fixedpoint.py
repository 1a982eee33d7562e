"""Fixed-point conversion between FIX decimal text and integers.

Prices carry PRICE_DECIMALS decimals (123.45 -> 1234500); quantities are whole
units. No float is ever involved: the text is split at the decimal point.
"""

from __future__ import annotations

PRICE_DECIMALS = 4
PRICE_SCALE = 10 ** PRICE_DECIMALS


def parse_price(text: bytes) -> int | None:
    """``b"123.45"`` -> 1234500; None when malformed or finer than PRICE_DECIMALS."""
    negative = text[:1] == b"-"
    if negative:
        text = text[1:]
    whole, dot, frac = text.partition(b".")
    if not whole and not frac:
        return None
    if (whole and not whole.isdigit()) or (frac and not frac.isdigit()):
        return None
    frac = frac.rstrip(b"0")
    if len(frac) > PRICE_DECIMALS:
        return None
    value = int(whole or b"0") * PRICE_SCALE + (int(frac.ljust(PRICE_DECIMALS, b"0"))
                                                if frac else 0)
    return -value if negative else value


def format_price(value: int) -> bytes:
    """1234500 -> ``b"123.45"``; 1000000 -> ``b"100"``."""
    sign = b"-" if value < 0 else b""
    whole, frac = divmod(abs(value), PRICE_SCALE)
    if not frac:
        return b"%b%d" % (sign, whole)
    return b"%b%d.%b" % (sign, whole, (b"%0*d" % (PRICE_DECIMALS, frac)).rstrip(b"0"))


def parse_qty(text: bytes) -> int | None:
    """``b"100"`` or ``b"100.00"`` -> 100; None for fractions, signs or garbage."""
    whole, _, frac = text.partition(b".")
    if not whole.isdigit() or (frac and not frac.isdigit()) or frac.strip(b"0"):
        return None
    return int(whole)


def format_qty(value: int) -> bytes:
    return b"%d" % value
