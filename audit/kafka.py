"""The audit trail on a Kafka topic (kafka-python).

Produced with ``acks=all`` and the idempotent producer, each record to the partition
of its key (``key_of``: the symbol, so one symbol's records stay in order on one
partition; ``session:<id>`` for a session's own records; ``exchange`` for the rest).
The topic is created when it is missing, with the configured partitions and
replication factor.

Exactly once across failures: after every acknowledged batch the writer keeps its
position (record number, seq, hash) in a small local file; when it starts again
(the broker was down, the server crashed) it goes on from there and first reads the
last record of every partition, skipping what a partition already has. So a batch
the broker acknowledged just before a crash is not sent twice, and a broker that
lost its data (a memory-only one restarted) is not sent again what it had.
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .chain import ChainState, Sealed, state_of

log = logging.getLogger("audit.kafka")

LINGER_MS = 20
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    """Where and how to reach the cluster (``[audit]`` in exchange.toml)."""

    bootstrap: str
    topic: str = "fix-exchange-audit"
    client_id: str = "fix-exchange"
    partitions: int = 3
    replication_factor: int = 1
    security_protocol: str = "PLAINTEXT"
    ssl_cafile: str = ""
    ssl_certfile: str = ""
    ssl_keyfile: str = ""
    sasl_mechanism: str = ""
    sasl_username: str = ""
    sasl_password: str = ""
    timeout_ms: int = 10_000   # connecting, metadata, one request
    delivery_timeout_ms: int = 30_000   # a batch not acknowledged by then is retried

    def client_options(self) -> dict[str, Any]:
        """The connection options every kafka-python client takes."""
        options: dict[str, Any] = {"bootstrap_servers": self.bootstrap.split(","),
                                   "client_id": self.client_id,
                                   "security_protocol": self.security_protocol,
                                   "request_timeout_ms": self.timeout_ms,
                                   "bootstrap_timeout_ms": self.timeout_ms,
                                   # A broker back after an outage is found within a second.
                                   "reconnect_backoff_max_ms": 1000}
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            if getattr(self, name):
                options[name] = getattr(self, name)
        if self.sasl_mechanism:
            options.update(sasl_mechanism=self.sasl_mechanism,
                           sasl_plain_username=self.sasl_username,
                           sasl_plain_password=self.sasl_password)
        return options


def key_of(record: dict[str, Any]) -> str:
    """The message key of a record (so its partition)."""
    symbol = record.get("symbol")
    if symbol:
        return str(symbol)
    session = record.get("session")
    if session:
        return f"session:{session}"
    return "exchange"


@cache   # a few keys (symbols, sessions) over and over: murmur2 in Python is 2.8 us
def partition_of(key: str, partitions: int) -> int:
    """Kafka's default partitioner (murmur2 of the key), so that any client agrees."""
    # Imported here: kafka takes 250 ms to import, and exchange.toml's reader imports
    # this module for its constants.
    from kafka.partitioner.default import murmur2
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def _admin(settings: KafkaSettings) -> Any:
    from kafka import KafkaAdminClient
    return KafkaAdminClient(**settings.client_options())


def ensure_topic(settings: KafkaSettings) -> None:
    """Create the topic unless it exists."""
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError
    admin = _admin(settings)
    try:
        if settings.topic in admin.list_topics():
            return
        try:
            admin.create_topics([NewTopic(settings.topic, settings.partitions,
                                          settings.replication_factor)])
            log.info("audit: created topic %s (%d partitions, replication %d)",
                     settings.topic, settings.partitions, settings.replication_factor)
        except TopicAlreadyExistsError:
            pass
    finally:
        admin.close()


def _consumer(settings: KafkaSettings) -> Any:
    from kafka import KafkaConsumer
    return KafkaConsumer(group_id=None, enable_auto_commit=False,
                         auto_offset_reset="earliest", **settings.client_options())


def _partitions(consumer: Any, topic: str, timeout: float) -> list[Any]:
    from kafka import TopicPartition
    deadline = time.monotonic() + timeout
    while True:
        ids = consumer.partitions_for_topic(topic)
        if ids:
            return [TopicPartition(topic, p) for p in sorted(ids)]
        if time.monotonic() > deadline:
            raise RuntimeError(f"topic {topic} has no partitions (does it exist?)")
        time.sleep(0.2)


def _drain(consumer: Any, quiet_polls: int = 2) -> Iterator[Any]:
    """Every message from the consumer's positions on, until ``quiet_polls`` polls in
    a row bring nothing. The end offsets a broker reports are only a hint: Tansu's
    are below the real end when the producer batched records."""
    quiet = 0
    while quiet < quiet_polls:
        batch = consumer.poll(timeout_ms=500)
        if not batch:
            quiet += 1
            continue
        quiet = 0
        for messages in batch.values():
            yield from messages


def last_records(settings: KafkaSettings) -> dict[int, int]:
    """Partition -> the record number of the last record on it (partitions without
    any are absent)."""
    consumer = _consumer(settings)
    try:
        parts = _partitions(consumer, settings.topic, settings.timeout_ms / 1000)
        consumer.assign(parts)
        for tp, end in consumer.end_offsets(parts).items():
            consumer.seek(tp, max(0, end - 1))
        last: dict[int, int] = {}
        for m in _drain(consumer):
            last[m.partition] = max(last.get(m.partition, 0), _number(m.value))
        return last
    finally:
        consumer.close()


def read_topic(settings: KafkaSettings) -> Iterator[bytes]:
    """Every record on the topic now, in record-number order (all partitions merged;
    the records are read into memory to be ordered)."""
    consumer = _consumer(settings)
    try:
        parts = _partitions(consumer, settings.topic, settings.timeout_ms / 1000)
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        lines = [(_number(m.value), m.value) for m in _drain(consumer)]
    finally:
        consumer.close()
    lines.sort(key=lambda x: x[0])
    for _, line in lines:
        yield line


def follow_topic(settings: KafkaSettings, stop: Callable[[], bool] = lambda: False
                 ) -> Iterator[bytes]:
    """Every record on the topic, then each new one as it arrives, in record-number
    order across the partitions: a record is held back until the ones before it
    arrived (they may be on another partition), until ``stop()``."""
    consumer = _consumer(settings)
    try:
        parts = _partitions(consumer, settings.topic, settings.timeout_ms / 1000)
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        held: list[tuple[int, bytes]] = []
        first = [(_number(m.value), m.value) for m in _drain(consumer)]
        first.sort(key=lambda x: x[0])
        expected = first[0][0] if first else 1
        for number, line in first:
            heapq.heappush(held, (number, line))
        while True:
            while held and held[0][0] <= expected:
                number, line = heapq.heappop(held)
                if number == expected:
                    expected += 1
                    yield line
            if stop():
                return
            for messages in consumer.poll(timeout_ms=500).values():
                for m in messages:
                    heapq.heappush(held, (_number(m.value), m.value))
    finally:
        consumer.close()


def _number(line: bytes) -> int:
    try:
        return state_of(line).record
    except (ValueError, KeyError, TypeError):
        return -1     # unreadable: first, where verify reports it


class KafkaAudit:
    """Writes sealed records to the topic; keeps its position in ``checkpoint``."""

    def __init__(self, settings: KafkaSettings, checkpoint: Path) -> None:
        self.settings = settings
        self.checkpoint = checkpoint
        self._producer: Any = None
        self._partitions = settings.partitions
        self._on_topic: dict[int, int] = {}   # partition -> last record it already has
        self.sent = 0   # records acknowledged by the broker since start

    def position(self) -> ChainState:
        """Connect (again), make sure the topic is there, learn what it already
        holds; the position is the local checkpoint's."""
        self.close()
        ensure_topic(self.settings)
        self._on_topic = last_records(self.settings)
        from kafka import KafkaProducer
        options = self.settings.client_options()
        # Kafka requires delivery.timeout.ms >= linger.ms + request.timeout.ms.
        options["request_timeout_ms"] = min(options["request_timeout_ms"],
                                            self.settings.delivery_timeout_ms - LINGER_MS - 10)
        self._producer = KafkaProducer(
            # Batches of up to 256 kB: 13.8 instead of 22.7 us of CPU per 400-byte record
            # (to Tansu, one process); the linger costs no latency, as each write flushes.
            acks="all", enable_idempotence=True, linger_ms=LINGER_MS, batch_size=262144,
            max_block_ms=self.settings.timeout_ms,
            delivery_timeout_ms=self.settings.delivery_timeout_ms, **options)
        found = self._producer.partitions_for(self.settings.topic)
        self._partitions = len(found) if found else self.settings.partitions
        state = self._read_checkpoint()
        log.info("audit: Kafka %s topic %s: resuming after record %d (seq %d)",
                 self.settings.bootstrap, self.settings.topic, state.record, state.seq)
        return state

    def write(self, records: list[Sealed]) -> None:
        """Send ``records`` (whole entries) and wait for every acknowledgement."""
        if self._producer is None:
            raise RuntimeError("not connected")
        topic, partitions, on_topic = self.settings.topic, self._partitions, self._on_topic
        futures = []
        send = self._producer.send
        for r in records:
            p = partition_of(r.key, partitions)
            if r.record <= on_topic.get(p, 0):
                continue    # the broker acknowledged it before a crash or an outage
            futures.append(send(topic, key=r.key.encode(), value=r.line, partition=p))
        self._producer.flush(timeout=self.settings.delivery_timeout_ms / 1000 + 5)
        for f in futures:
            f.get(timeout=0)   # raises the error of a record that was not acknowledged
        self.sent += len(futures)
        if records:
            last = records[-1]
            self._write_checkpoint(ChainState(last.record, last.seq,
                                              state_of(last.line).hash))

    def _read_checkpoint(self) -> ChainState:
        try:
            data = json.loads(self.checkpoint.read_text())
            return ChainState(int(data["record"]), int(data["seq"]), str(data["hash"]))
        except FileNotFoundError:
            return ChainState()

    def _write_checkpoint(self, state: ChainState) -> None:
        tmp = self.checkpoint.with_suffix(".tmp")
        tmp.write_text(json.dumps({"record": state.record, "seq": state.seq,
                                   "hash": state.hash, "topic": self.settings.topic}))
        os.replace(tmp, self.checkpoint)

    def close(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=1)
            except Exception:   # closing a producer whose broker is gone
                log.debug("audit: closing the producer", exc_info=True)
            self._producer = None
