"""``fixserver feed`` with a real server, in a network namespace of the test's own with
multicast on its loopback: a late joiner starts from the snapshot service's book, a
subscriber that falls behind and loses packets recovers them by retransmission, or
by a new snapshot once the server no longer keeps them, and ends with the server's
book when the session ends."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.netns import run_kit

pytestmark = pytest.mark.slow



def test_a_late_joiner_that_loses_packets_recovers_them_by_retransmission(tmp_path: Path
                                                                          ) -> None:
    seen = run_kit("tests.exchange.feed_client_kit", tmp_path, 100_000)
    aapl = next(b for b in seen["first_table"]["books"] if b["symbol"] == "AAPL")
    assert aapl["asks"] == [{"price": "190", "qty": 25, "orders": 1}]   # S1 after B1's 15
    assert aapl["last"] == {"price": "190", "qty": 15}
    assert seen["gap_seen"] and seen["recovered"], seen["notes"]
    assert seen["snapshots"] == 1 and not seen["no_longer_held"], seen["notes"]
    assert seen["last_table"] == seen["server_book"]
    assert seen["ended"] and seen["returncode"] == 0, seen["notes"]


def test_a_subscriber_whose_gap_is_no_longer_kept_takes_a_new_snapshot(tmp_path: Path
                                                                       ) -> None:
    seen = run_kit("tests.exchange.feed_client_kit", tmp_path, 5)
    assert seen["gap_seen"] and seen["no_longer_held"], seen["notes"]
    assert seen["snapshots"] == 2, seen["notes"]
    assert seen["last_table"] == seen["server_book"]
    assert seen["ended"] and seen["returncode"] == 0, seen["notes"]
