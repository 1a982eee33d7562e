"""The throwaway Kafka-protocol broker (Tansu) started by scripts/test-services works.

Real broker, kafka-python clients, no mocks. Every test uses its own topic (and group).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

pytestmark = pytest.mark.services

POLL_DEADLINE_S = 20.0  # bounded: a broken broker fails the test instead of hanging it


def create_topic(bootstrap: str, topic: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="test-services-admin")
    try:
        admin.create_topics([NewTopic(name=topic, num_partitions=1, replication_factor=1)])
    finally:
        admin.close()


def produce(bootstrap: str, topic: str, key: bytes, value: bytes) -> int:
    """Send one record, wait for the broker's ack, return its offset."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", client_id="test-services")
    try:
        metadata = producer.send(topic, key=key, value=value).get(timeout=10)
    finally:
        producer.close(timeout=5)
    return metadata.offset


def poll_until(consumer: KafkaConsumer, want: int) -> list:
    """Poll until `want` records arrived or the deadline passed; return what arrived."""
    records: list = []
    deadline = time.monotonic() + POLL_DEADLINE_S
    while len(records) < want and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    return records


def test_kafka_record_produced_is_consumed_back(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("svc-roundtrip")
    create_topic(kafka_bootstrap, topic)
    key, value = b"ord-1", b'{"event": "Accepted", "cl_ord_id": "ord-1", "qty": 100}'

    offset = produce(kafka_bootstrap, topic, key, value)

    consumer = KafkaConsumer(
        bootstrap_servers=kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        client_id="test-services",
    )
    try:
        consumer.assign([TopicPartition(topic, 0)])
        records = poll_until(consumer, 1)
    finally:
        consumer.close()
    assert [(r.offset, r.key, r.value) for r in records] == [(offset, key, value)]


def test_kafka_consumer_group_member_receives_a_produced_record(
    kafka_bootstrap: str, unique_name: Callable[[str], str], kafka_group_settings: dict[str, int]
) -> None:
    topic = unique_name("svc-group")
    create_topic(kafka_bootstrap, topic)
    value = b'{"event": "Trade", "exec_id": "E1"}'

    produce(kafka_bootstrap, topic, b"E1", value)

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=unique_name("svc-group"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        client_id="test-services",
        **kafka_group_settings,
    )
    try:
        records = poll_until(consumer, 1)
    finally:
        consumer.close()
    assert [r.value for r in records] == [value]
