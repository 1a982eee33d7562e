"""Running a test kit in a network namespace of its own with multicast on its
loopback (``unshare -n``; root on the test machines). A machine that forbids it
fails the test loudly: it is not skipped."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SETUP = "ip link set lo up multicast on && ip route add 239.0.0.0/8 dev lo && "


def run_kit(module: str, *args: object, timeout: float = 120) -> Any:
    """Run ``python -m module args...`` in a fresh network namespace; its last line of
    output, as JSON."""
    assert shutil.which("unshare") and shutil.which("ip"), "unshare and ip are needed"
    argv = " ".join(str(a) for a in args)
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", SETUP + f"exec {sys.executable} -m {module} {argv}"],
        cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.splitlines()[-1])
