"""The multicast feed of a real server (exchange.toml ``[marketdata.multicast]``), in a
network namespace of the test's own with multicast on its loopback: trades and book
changes arrive as ticks in sequence, a lost one is served again by the
retransmission port, heartbeats keep coming, and the server's stop ends the session.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SETUP = "ip link set lo up multicast on && ip route add 239.0.0.0/8 dev lo && "


def test_a_servers_feed_carries_the_book_and_the_trades_and_ends_with_it(tmp_path: Path
                                                                        ) -> None:
    assert shutil.which("unshare") and shutil.which("ip"), "unshare and ip are needed"
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c",
         SETUP + f"exec {sys.executable} -m tests.exchange.feed_server_kit {tmp_path}"],
        cwd=REPO, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    seen = json.loads(done.stdout.splitlines()[-1])
    # S1 rests (a level added), B1 trades 15 with it (the trade, the level modified).
    assert seen["kinds"][:3] == ["A", "T", "M"]
    assert seen["trade"] == [1_900_000, 15, 1]
    assert seen["first_sequence"] == 1
    assert seen["again"] == [1, True]
    assert seen["heartbeat_next"] == seen["end_next"] == len(seen["kinds"]) + 1
    assert seen["session_logged"]
