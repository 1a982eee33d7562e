"""README's binary-feed example stays true: its exchange.toml lines load with the
shipped file, and its ``fixserver feed`` command subscribes to what they configure
(the command itself runs against a real server in tests/exchange/test_feed_client.py)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from server.feed_client import parse
from venue.config import load_exchange_config

REPO = Path(__file__).resolve().parents[2]


def section() -> str:
    readme = (REPO / "README.md").read_text()
    return readme[readme.index("## The binary feed"):readme.index("## sessions.cfg")]


def test_the_readme_feed_configuration_loads_and_the_command_subscribes_to_it(
        tmp_path: Path) -> None:
    toml = re.search(r"```toml\n(.*?)```", section(), re.S)
    command = re.search(r"^\.venv/bin/fixserver feed (.*)$", section(), re.M)
    assert toml is not None and command is not None
    path = tmp_path / "exchange.toml"
    path.write_text((REPO / "exchange.toml").read_text() + "\n" + toml[1])
    mc = load_exchange_config(path).multicast
    args = parse(shlex.split(command[1]))
    assert mc is not None and (args.group, args.port) == (mc.group, mc.port)
    assert args.snapshot == (mc.interface, mc.snapshot_port)
    assert args.retransmission == (mc.interface, mc.retransmission_port)
