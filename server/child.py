"""What the server's child processes (the snapshotter, the audit trail) have in
common on the server's side: their reports, one JSON object a line on stdout, and
where they run."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any

import trio


async def json_lines(stdout: trio.abc.ReceiveStream) -> AsyncIterator[dict[str, Any]]:
    """The objects a child writes, until it closes its stdout (exits)."""
    buffer = b""
    while data := await stdout.receive_some(65536):
        buffer += data
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            yield json.loads(line)


def off_the_servers_cpus(pid: int) -> None:
    """Run the child ``pid`` on the CPUs the server is not pinned to, if it is pinned to
    some (a child inherits its parent's affinity, and would take turns with the order
    path on the very core it was given; bench_audit measured the server waiting 8-13
    µs per order for its CPU that way). A server free to use every CPU leaves it so."""
    mine = os.sched_getaffinity(0)
    others = set(range(os.cpu_count() or 1)) - mine
    if others:
        try:
            os.sched_setaffinity(pid, others)
        except OSError:   # a CPU set the machine refuses (cgroup limits): leave it
            pass
