"""The multicast feed on a real socket: an exchange's trading day multicast on the
loopback of a network namespace of the test's own, received, rebuilt into the book
the engine holds, and a lost packet served again by the retransmission service.

Multicast needs ``lo`` with MULTICAST on and a route for the group, which the test
sets up inside ``unshare -n`` (root in the test machine; a machine that forbids it
fails the test loudly, it is not skipped).
"""

from __future__ import annotations

from pathlib import Path

from tests.netns import run_kit


def test_the_days_ticks_arrive_in_sequence_rebuild_the_book_and_can_be_asked_again(
        tmp_path: Path) -> None:
    seen = run_kit("tests.marketdata.feed_kit", tmp_path / "data", timeout=60)
    assert seen["contiguous"] and seen["sequences"][0] == 1
    assert seen["book_matches"]
    assert seen["trades"] == 2                 # b2 takes s1 (100 at 190.00) and 20 of s2
    assert seen["phases"] == [[seen["aapl"], seen["closed"]]]
    assert seen["retransmitted"] == [1, True]
