"""The feed publisher (consumers.feed.MulticastFeed) without a network: the ticks it
makes of the core's events, how it cuts them into packets, what it keeps and serves
again, and that a failing send never reaches the order path."""

from __future__ import annotations

from consumers.feed import MulticastFeed
from marketdata import feed
from marketdata.feed import Tick
from matching.constants import BUY, CLOSED, SELL
from matching.events import BookChanged, PhaseChanged, Trade
from venue.stream import Entry

SESSION = feed.session_name("T")


def publisher(max_ticks: int = 2, retain: int = 100) -> tuple[MulticastFeed, list[bytes]]:
    sent: list[bytes] = []
    return MulticastFeed({"AAPL": 1}, sent.append, SESSION, retain=retain,
                         max_ticks=max_ticks), sent


def entry(seq: int, *events: object) -> Entry:
    return Entry(seq, 1_000 * seq, None, list(events), [])  # type: ignore[arg-type]


def trade(trade_id: int, auction: bool = False) -> Trade:
    return Trade("AAPL", trade_id, 1_900_000, 10, BUY, 1, 1, 0, 10, 2, 2, 0, 10, auction)


def ticks_of(sent: list[bytes]) -> list[Tick]:
    return [t for packet in sent for t in feed.decode_packet(packet).ticks]


def test_a_new_level_is_added_then_modified_then_deleted() -> None:
    pub, sent = publisher()
    pub.on_batch([entry(1, BookChanged("AAPL", BUY, 1_890_000, 100, 1))])
    pub.on_batch([entry(2, BookChanged("AAPL", BUY, 1_890_000, 150, 2))])
    pub.on_batch([entry(3, BookChanged("AAPL", BUY, 1_890_000, 0, 0))])
    assert [(t.kind, t.qty, t.orders) for t in ticks_of(sent)] == [
        (feed.LEVEL_ADDED, 100, 1), (feed.LEVEL_MODIFIED, 150, 2), (feed.LEVEL_DELETED, 0, 0)]


def test_a_trade_carries_the_aggressor_side_and_none_in_an_auction() -> None:
    pub, sent = publisher()
    pub.on_batch([entry(1, trade(7), trade(8, auction=True))])
    assert [(t.kind, t.side, t.orders) for t in ticks_of(sent)] == [
        (feed.TRADE, BUY, 7), (feed.TRADE, 0, 8)]


def test_a_phase_change_is_a_tick_with_the_phase() -> None:
    pub, sent = publisher()
    pub.on_batch([entry(1, PhaseChanged("AAPL", 3, CLOSED))])
    assert [(t.kind, t.side, t.symbol) for t in ticks_of(sent)] == [(feed.PHASE, CLOSED, 1)]


def test_ticks_are_cut_into_packets_numbered_in_sequence() -> None:
    pub, sent = publisher(max_ticks=2)
    pub.on_batch([entry(1, *(BookChanged("AAPL", SELL, 1_900_000 + i * 100, 1, 1)
                             for i in range(5)))])
    assert [(p.sequence, len(p.ticks)) for p in map(feed.decode_packet, sent)] == [
        (1, 2), (3, 2), (5, 1)]
    assert pub.next_seq == 6


def test_a_retransmission_serves_what_is_kept_capped_at_a_packet() -> None:
    pub, sent = publisher(max_ticks=2)
    pub.on_batch([entry(1, *(BookChanged("AAPL", SELL, 1_900_000 + i * 100, 1, 1)
                             for i in range(5)))])
    answer = pub.retransmit(feed.HEADER.pack(SESSION, 2, 10))
    assert answer is not None
    packet = feed.decode_packet(answer)
    assert (packet.sequence, packet.ticks) == (2, tuple(ticks_of(sent)[1:3]))


def test_what_is_no_longer_kept_is_answered_from_the_oldest_kept() -> None:
    pub, _ = publisher(max_ticks=10, retain=3)
    pub.on_batch([entry(1, *(BookChanged("AAPL", SELL, 1_900_000 + i * 100, 1, 1)
                             for i in range(5)))])
    answer = pub.retransmit(feed.HEADER.pack(SESSION, 1, 5))
    assert answer is not None and feed.decode_packet(answer).sequence == 3


def test_a_request_past_the_end_gets_a_heartbeat_and_another_session_nothing() -> None:
    pub, _ = publisher()
    assert feed.decode_packet(pub.retransmit(feed.HEADER.pack(SESSION, 1, 1)) or b"") == \
        feed.Packet(SESSION, 1, ())
    assert pub.retransmit(feed.HEADER.pack(feed.session_name("OTHER"), 1, 1)) is None
    assert pub.retransmit(b"garbage") is None


def test_a_failing_send_is_counted_not_raised() -> None:
    def refuse(packet: bytes) -> None:
        raise OSError("Network is unreachable")
    pub = MulticastFeed({"AAPL": 1}, refuse, SESSION)
    pub.on_batch([entry(1, trade(1))])
    pub.heartbeat()
    assert (pub.send_failures, pub.next_seq) == (2, 2)
