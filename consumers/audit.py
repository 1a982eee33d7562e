"""The audit trail: a durable consumer that writes every entry's audit records.

It reads the event log from its own checkpoint (``venue.stream.DurableFeed``, a
thread; never the order path), turns each entry into records (``audit.records``),
chains them (``audit.chain``) and hands whole entries to its writer: the day files
of ``<data-dir>/audit/`` (``audit.files``) or a Kafka topic (``audit.kafka``). The
writer says where the trail stands, and the records after it are made again from
the event log, identical, so the chain goes on across crashes and outages.

While the writer cannot keep up or is down, the event log is the spool: on disk,
never in memory. ``SpoolWatch`` turns how far behind it is into warnings, an alert
and, if configured, the refusal of new orders (watched by ``server/compose.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from audit.chain import Chain, ChainState, Sealed
from audit.files import AuditFiles
from audit.kafka import KafkaAudit, KafkaSettings, key_of
from audit.records import AuditRecords, Parties
from venue.config import AuditConfig
from venue.stream import Entry

# The audit trail's files (and the Kafka writer's position), under the data directory.
AUDIT_DIR = "audit"

log = logging.getLogger("consumers.audit")


class AuditWriter(Protocol):
    """Where the records go: the files or the Kafka topic."""

    def position(self) -> ChainState:
        """The state after the last whole entry the store holds (connecting or
        repairing it first)."""

    def write(self, records: list[Sealed]) -> None:
        """Store the records of whole entries durably; raise if that failed."""

    def close(self) -> None: ...


class AuditTrail:
    """The durable consumer of the audit trail."""

    name = "audit"

    def __init__(self, records: AuditRecords, writer: AuditWriter) -> None:
        self.records = records
        self.writer = writer
        self.state = ChainState()
        self.last_ts = 0     # the timestamp (ns) of the last entry written

    @classmethod
    def configured(cls, cfg: AuditConfig, parties: Parties, data_dir: Path) -> AuditTrail:
        """The trail ``cfg`` describes: to Kafka when it names a cluster, else to the
        day files of ``<data-dir>/audit/``."""
        directory = data_dir / AUDIT_DIR
        if not cfg.kafka:
            return cls(AuditRecords(parties), AuditFiles(directory))
        directory.mkdir(parents=True, exist_ok=True)
        settings = KafkaSettings(
            cfg.kafka, cfg.topic, cfg.client_id, cfg.partitions, cfg.replication_factor,
            cfg.security_protocol, cfg.ssl_cafile, cfg.ssl_certfile, cfg.ssl_keyfile,
            cfg.sasl_mechanism, cfg.sasl_username, cfg.sasl_password,
            delivery_timeout_ms=int(cfg.send_timeout * 1000))
        return cls(AuditRecords(parties),
                   KafkaAudit(settings, directory / f"kafka-{cfg.topic}.checkpoint"))

    def checkpoint(self) -> int:
        self.state = self.writer.position()
        return self.state.seq

    def on_batch(self, entries: Sequence[Entry]) -> None:
        chain = Chain(self.state)
        out: list[Sealed] = []
        make, seal = self.records.of, chain.seal
        for entry in entries:
            for record in make(entry):
                line = seal(record)
                out.append(Sealed(chain.record, entry.seq, record["timestamp"],
                                  key_of(record), line))
        self.writer.write(out)
        self.state = chain.state
        self.last_ts = entries[-1].ts

    def close(self) -> None:
        self.writer.close()


class SpoolWatch:
    """How far behind the audit trail is, seen once a second: a warning while it
    lags, an alert when the spool (the event log after the trail's checkpoint) holds
    ``limit`` entries or more and when it drains again; with the ``reject_orders``
    policy, ``refusal`` says why new orders are refused while it is full."""

    WARN_EVERY = 10.0     # seconds between two lag warnings
    WARN_AFTER = 5.0      # a lag shorter than this is normal (the trail is busy)

    def __init__(self, limit: int, policy: str) -> None:
        self.limit = limit
        self.policy = policy
        self.full = False
        self._refusal: str | None = None
        self._warned = float("-inf")

    def refusal(self) -> str | None:
        return self._refusal

    def update(self, lag: int, seconds: float, now: float) -> None:
        """``lag`` entries not yet written, the oldest ``seconds`` old; ``now``: a
        monotonic clock."""
        if lag >= self.limit and not self.full:
            self.full = True
            action = ("new orders are refused until it drains"
                      if self.policy == "reject_orders" else
                      "trading goes on and the entries wait in the event log on disk")
            log.error("ALERT audit trail: spool full: %d entries not written (limit %d, "
                      "%.1f s behind): %s", lag, self.limit, seconds, action)
            if self.policy == "reject_orders":
                self._refusal = (f"the exchange's audit trail is {lag} entries behind; "
                                 "new orders are refused until it catches up")
        elif self.full and lag < self.limit:
            self.full = False
            self._refusal = None
            log.warning("audit trail: spool below its limit again (%d entries behind)", lag)
        elif lag and seconds >= self.WARN_AFTER and now - self._warned >= self.WARN_EVERY:
            self._warned = now
            log.warning("audit trail behind by %d entries (%.1f s)", lag, seconds)
