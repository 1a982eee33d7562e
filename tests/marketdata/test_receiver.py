"""A feed subscriber (marketdata.receiver.FeedReceiver) against the real publisher
(consumers.feed.MulticastFeed): whatever the network loses, repeats or reorders,
and whenever the subscriber joins, the snapshot service and the retransmission
service bring it to exactly the publisher's books."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.feed import MulticastFeed
from marketdata import feed, feed_snapshot
from marketdata.book import Level
from marketdata.feed import Packet
from marketdata.receiver import FeedReceiver, Gap
from matching.constants import BUY, CLOSED, CONTINUOUS, HALTED, SELL
from matching.events import BookChanged, PhaseChanged, Trade
from venue.stream import Entry

SESSION = feed.session_name("R")
IDS = {"AAPL": 1, "MSFT": 2}

events = st.one_of(
    st.builds(BookChanged, st.sampled_from(sorted(IDS)), st.sampled_from([BUY, SELL]),
              st.sampled_from([1_890_000, 1_900_000, 1_910_000]), st.integers(0, 3),
              st.integers(1, 3)),
    st.builds(lambda s, n: Trade(s, n, 1_900_000, 5, BUY, 1, 1, 0, 5, 2, 2, 0, 5, False),
              st.sampled_from(sorted(IDS)), st.integers(1, 1000)),
    st.builds(lambda s, p: PhaseChanged(s, CONTINUOUS, p), st.sampled_from(sorted(IDS)),
              st.sampled_from([HALTED, CLOSED, CONTINUOUS])),
)


def publisher(retain: int = 100_000) -> tuple[MulticastFeed, list[bytes]]:
    sent: list[bytes] = []
    return MulticastFeed(IDS, sent.append, SESSION, retain=retain, max_ticks=3), sent


def publish(pub: MulticastFeed, seq: int, batch: list[object]) -> None:
    pub.on_batch([Entry(seq, seq * 1_000, None, batch, [])])  # type: ignore[arg-type]


def recover(rx: FeedReceiver, pub: MulticastFeed) -> None:
    """What the subscriber's loop does once the network is quiet."""
    for _ in range(1_000):
        if rx.needs_snapshot:
            rx.on_snapshot(feed_snapshot.decode(pub.snapshot()))
        gap = rx.gap()
        if gap is None:
            return
        answer = pub.retransmit(feed.HEADER.pack(SESSION, gap.first, gap.count))
        assert answer is not None
        rx.on_retransmission(gap, feed.decode_packet(answer))
    raise AssertionError("recovery does not end")


def books(source: MulticastFeed | FeedReceiver) -> dict[str, tuple]:
    if isinstance(source, MulticastFeed):
        return {s: (b.bids, b.asks, source.phases[s], b.last)
                for s, b in source.books.items()}
    return {i.name: (i.book.bids, i.book.asks, i.phase, i.book.last)
            for i in source.instruments.values()}


@settings(max_examples=150, deadline=None)
@given(batches=st.lists(st.lists(events, min_size=1, max_size=6), min_size=1, max_size=25),
       data=st.data(), retain=st.sampled_from([5, 100_000]))
def test_a_subscriber_recovers_the_publishers_books_through_any_loss(
        batches: list[list[object]], data: st.DataObject, retain: int) -> None:
    pub, sent = publisher(retain)
    join = data.draw(st.integers(0, len(batches)), label="batches before joining")
    snap_at = data.draw(st.integers(join, len(batches)), label="batches before the snapshot")
    snapshot = None
    first_packet = 0
    for n, batch in enumerate(batches, 1):
        if n - 1 == join:
            first_packet = len(sent)
        if n - 1 == snap_at:
            snapshot = pub.snapshot()
        publish(pub, n, batch)
    if snapshot is None:
        first_packet = first_packet if join < len(batches) else len(sent)
        snapshot = pub.snapshot()
    heard = sent[first_packet:]
    fates = data.draw(st.lists(st.sampled_from(["once", "lost", "twice"]),
                               min_size=len(heard), max_size=len(heard)), label="fates")
    arriving = [p for p, fate in zip(heard, fates, strict=True)
                for _ in range({"once": 1, "lost": 0, "twice": 2}[fate])]
    arriving = data.draw(st.permutations(arriving), label="order of arrival")
    at = data.draw(st.integers(0, len(arriving)), label="packets before the snapshot")
    rx = FeedReceiver()
    for packet in arriving[:at]:
        rx.on_packet(feed.decode_packet(packet))
    rx.on_snapshot(feed_snapshot.decode(snapshot))
    for packet in arriving[at:]:
        rx.on_packet(feed.decode_packet(packet))
    pub.heartbeat()                            # tells a subscriber that lost the tail
    rx.on_packet(Packet(SESSION, pub.next_seq, ()))
    recover(rx, pub)
    assert rx.next_seq == pub.next_seq
    assert books(rx) == books(pub)


def test_ticks_after_a_gap_wait_until_it_is_filled_then_apply_in_order() -> None:
    pub, sent = publisher()
    rx = FeedReceiver()
    rx.on_snapshot(feed_snapshot.decode(pub.snapshot()))
    for n in range(1, 4):
        publish(pub, n, [BookChanged("AAPL", BUY, 1_900_000, n, 1) for _ in range(3)])
    assert rx.on_packet(feed.decode_packet(sent[1])) == []
    assert rx.gap() == Gap(1, 3)
    applied = rx.on_packet(feed.decode_packet(sent[0]))
    assert [a.seq for a in applied] == [1, 2, 3, 4, 5, 6]
    assert rx.gap() is None and rx.next_seq == 7


def test_a_late_joiner_applies_only_the_ticks_after_its_snapshot() -> None:
    pub, sent = publisher()
    publish(pub, 1, [BookChanged("AAPL", SELL, 1_910_000, 10, 1)])
    snapshot = pub.snapshot()
    publish(pub, 2, [BookChanged("AAPL", SELL, 1_910_000, 0, 0)])
    rx = FeedReceiver()
    for packet in sent:                         # the first is from before the snapshot
        rx.on_packet(feed.decode_packet(packet))
    applied = rx.on_snapshot(feed_snapshot.decode(snapshot))
    assert [(a.seq, chr(a.tick.kind)) for a in applied] == [(2, "D")]
    assert rx.top(1) == (None, None)


def test_a_retransmission_that_no_longer_holds_the_gap_asks_for_a_snapshot() -> None:
    pub, sent = publisher(retain=3)
    rx = FeedReceiver()
    rx.on_snapshot(feed_snapshot.decode(pub.snapshot()))
    publish(pub, 1, [BookChanged("AAPL", BUY, 1_890_000 + i * 100, 1, 1) for i in range(9)])
    rx.on_packet(feed.decode_packet(sent[-1]))
    gap = rx.gap()
    assert gap == Gap(1, 6)
    rx.on_retransmission(gap, feed.decode_packet(
        pub.retransmit(feed.HEADER.pack(SESSION, *gap)) or b""))
    assert rx.needs_snapshot and rx.gap() is None


def test_a_new_session_starts_over_from_a_snapshot() -> None:
    rx = FeedReceiver()
    rx.on_snapshot(feed_snapshot.Snapshot(SESSION, 0, (feed_snapshot.SymbolState(1, "AAPL", 3),),
                                          (feed_snapshot.SnapshotLevel(1, BUY,
                                                                       Level(1, 1, 1)),)))
    assert not rx.needs_snapshot
    rx.on_packet(Packet(feed.session_name("NEXT"), 1, ()))
    assert rx.needs_snapshot and rx.next_seq is None and rx.session == feed.session_name("NEXT")


def test_the_end_of_the_session_is_seen() -> None:
    rx = FeedReceiver()
    rx.on_packet(feed.decode_packet(feed.end_of_session(SESSION, 1)))
    assert rx.ended
