"""Reading market-data messages in tests: the entries of a W or X."""

from __future__ import annotations

from collections.abc import Iterable

GROUP_FIELDS = (279, 269, 55, 270, 271, 346, 290, 273, 276, 286)


def md_entries(msg_type: str, pairs: Iterable[tuple[int, str]]) -> list[dict[int, str]]:
    """The repeating group of a W or X (``msg_type``), one dict per entry."""
    start = 279 if msg_type == "X" else 269
    out: list[dict[int, str]] = []
    for tag, value in pairs:
        if tag == start:
            out.append({})
        if out and tag in GROUP_FIELDS:
            out[-1][tag] = value
    return out
