"""The multicast feed on a real socket: an exchange's trading day multicast on the
loopback of a network namespace of the test's own, received, rebuilt into the book
the engine holds, and a lost packet served again by the retransmission service.

Multicast needs ``lo`` with MULTICAST on and a route for the group, which the test
sets up inside ``unshare -n`` (root in the test machine; a machine that forbids it
fails the test loudly, it is not skipped).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SETUP = "ip link set lo up multicast on && ip route add 239.0.0.0/8 dev lo && "


def run_kit(data_dir: Path) -> dict:
    assert shutil.which("unshare") and shutil.which("ip"), "unshare and ip are needed"
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c",
         SETUP + f"exec {sys.executable} -m tests.marketdata.feed_kit {data_dir}"],
        cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_the_days_ticks_arrive_in_sequence_rebuild_the_book_and_can_be_asked_again(
        tmp_path: Path) -> None:
    seen = run_kit(tmp_path / "data")
    assert seen["contiguous"] and seen["sequences"][0] == 1
    assert seen["book_matches"]
    assert seen["trades"] == 2                 # b2 takes s1 (100 at 190.00) and 20 of s2
    assert seen["phases"] == [[seen["aapl"], seen["closed"]]]
    assert seen["retransmitted"] == [1, True]
