"""The multicast feed of a real server (exchange.toml ``[marketdata.multicast]``), in a
network namespace of the test's own with multicast on its loopback: trades and book
changes arrive as ticks in sequence, a lost one is served again by the
retransmission port, heartbeats keep coming, and the server's stop ends the session.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.netns import run_kit

pytestmark = pytest.mark.slow



def test_a_servers_feed_carries_the_book_and_the_trades_and_ends_with_it(tmp_path: Path
                                                                        ) -> None:
    seen = run_kit("tests.exchange.feed_server_kit", tmp_path, timeout=90)
    # S1 rests (a level added), B1 trades 15 with it (the trade, the level modified).
    assert seen["kinds"][:3] == ["A", "T", "M"]
    assert seen["trade"] == [1_900_000, 15, 1]
    assert seen["first_sequence"] == 1
    assert seen["again"] == [1, True]
    assert seen["heartbeat_next"] == seen["end_next"] == len(seen["kinds"]) + 1
    assert seen["session_logged"]
