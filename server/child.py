"""What the server's child processes (the snapshotter, the audit trail) have in
common on the server's side: their reports, one JSON object a line on stdout."""

from __future__ import annotations

import json
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
