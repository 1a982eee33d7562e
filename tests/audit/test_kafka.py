"""The audit trail on Kafka: the real Tansu broker, kafka-python, no mocks.

The records are a pure function of the journal, so the trail the exchange writes to
files on one run of the scripted day is what the topic must hold after another run
of it, record for record, whatever happened to the broker or the server meanwhile.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from audit.chain import Verifier, parse
from audit.files import read_lines
from tests.audit.audit_kit import wait_for_trail
from tests.audit.kafka_kit import Broker, audit_server, topic_lines
from tests.conftest import free_port
from tests.venue.stream_kit import REPO_ROOT, run, trading_day

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """The trail of the scripted day, written to files."""
    data_dir = tmp_path_factory.mktemp("files")
    srv = audit_server(data_dir)
    run(srv, trading_day())
    wait_for_trail(srv)
    srv.close()
    return [line for _, _, line in read_lines(data_dir / "audit")]


@pytest.fixture
def broker(tmp_path: Path) -> Broker:
    b = Broker(free_port(), tmp_path / "tansu.log")
    b.start()
    yield b
    b.stop()


def numbers(lines: list[bytes]) -> list[int]:
    return [parse(line)["record"] for line in lines]


def test_a_trading_day_reaches_the_topic_once_each_in_order(
        tmp_path: Path, kafka_bootstrap: str, unique_name: Callable[[str], str],
        expected: list[bytes]) -> None:
    topic = unique_name("audit")
    srv = audit_server(tmp_path, kafka_bootstrap, topic)
    run(srv, trading_day())
    wait_for_trail(srv)
    srv.close()
    assert topic_lines(kafka_bootstrap, topic) == expected


def test_the_topic_verifies(tmp_path: Path, kafka_bootstrap: str,
                            unique_name: Callable[[str], str]) -> None:
    topic = unique_name("audit")
    srv = audit_server(tmp_path, kafka_bootstrap, topic)
    run(srv, trading_day())
    wait_for_trail(srv)
    srv.close()
    out = subprocess.run([sys.executable, "-c", "import sys; from server.cli import main; "
                          "sys.exit(main(sys.argv[1:]))", "audit", "verify", "--kafka",
                          kafka_bootstrap, "--topic", topic],
                         capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "OK: every record checks out" in out.stdout


def test_one_symbols_records_are_on_one_partition_in_order(
        tmp_path: Path, kafka_bootstrap: str, unique_name: Callable[[str], str]) -> None:
    from kafka import KafkaConsumer, TopicPartition
    topic = unique_name("audit")
    srv = audit_server(tmp_path, kafka_bootstrap, topic)
    run(srv, trading_day())
    wait_for_trail(srv)
    srv.close()
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(parts)
        by_key: dict[bytes, list[tuple[int, int]]] = {}
        quiet = 0
        while quiet < 2:
            batch = consumer.poll(timeout_ms=500)
            quiet = 0 if batch else quiet + 1
            for tp, messages in batch.items():
                for m in messages:
                    by_key.setdefault(m.key, []).append((tp.partition, parse(m.value)["record"]))
    finally:
        consumer.close()
    assert b"AAPL" in by_key and b"MSFT" in by_key
    for key, seen in by_key.items():
        assert len({p for p, _ in seen}) == 1, key
        assert [n for _, n in seen] == sorted(n for _, n in seen), key


def test_the_broker_stopped_while_orders_flow_then_started_gets_every_record_once(
        tmp_path: Path, broker: Broker, expected: list[bytes]) -> None:
    day = trading_day()
    half = len(day) // 2
    srv = audit_server(tmp_path, broker.bootstrap, "audit")
    run(srv, day[:half])
    wait_for_trail(srv)
    before = topic_lines(broker.bootstrap, "audit")
    broker.stop()                       # memory only: what it had is gone with it
    run(srv, day[half:])                # trading goes on; the trail waits in the spool
    assert srv.stream is not None
    assert srv.stream.status()["audit"]["lag"] > 0
    broker.start()
    wait_for_trail(srv)
    srv.close()
    after = topic_lines(broker.bootstrap, "audit")
    # What a consumer read before the outage, then after it: every record, once.
    assert before + after == expected
    assert numbers(after)[0] == numbers(before)[-1] + 1


def test_records_spooled_when_the_server_was_killed_are_sent_once_after_a_restart(
        tmp_path: Path, broker: Broker, expected: list[bytes]) -> None:
    broker.stop()                       # down while the day runs: all goes to the spool
    killed = subprocess.run([sys.executable, "-m", "tests.audit.kafka_kit", str(tmp_path),
                             broker.bootstrap, "audit"], cwd=REPO_ROOT, timeout=120,
                            capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    broker.start()
    srv = audit_server(tmp_path, broker.bootstrap, "audit")
    wait_for_trail(srv)
    srv.close()
    assert topic_lines(broker.bootstrap, "audit") == expected


def test_a_batch_the_broker_had_before_a_crash_is_not_sent_again(
        tmp_path: Path, broker: Broker, expected: list[bytes]) -> None:
    srv = audit_server(tmp_path, broker.bootstrap, "audit")
    run(srv, trading_day())
    wait_for_trail(srv)
    srv.close()
    # As if the server died after the broker's acknowledgement, before its checkpoint.
    checkpoint = tmp_path / "audit" / "kafka-audit.checkpoint"
    assert checkpoint.exists()
    checkpoint.unlink()
    srv = audit_server(tmp_path, broker.bootstrap, "audit")
    wait_for_trail(srv)
    srv.close()
    lines = topic_lines(broker.bootstrap, "audit")
    assert lines == expected
    verifier = Verifier()
    assert all(verifier.check(line) for line in lines)
