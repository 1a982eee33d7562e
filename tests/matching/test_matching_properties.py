"""Property tests: random command streams against the reference model, invariants
after every command, and snapshot/restore in the middle of a stream.

The number of examples comes from the hypothesis profile "matching" (quick, the
default) or "matching-thorough" (select it with MATCHING_HYPOTHESIS=thorough).
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching.book import NO_ASK
from matching.commands import Cancel, Command, EndOfDay, MassCancel, NewOrder, Replace, SetPhase
from matching.constants import (
    BUY,
    CLOSED,
    CLOSING_AUCTION,
    CONTINUOUS,
    DAY,
    FOK,
    GTC,
    HALTED,
    IOC,
    LIMIT,
    MARKET,
    OPENING_AUCTION,
    PRE_OPEN,
    SELL,
    STOP,
    STOP_LIMIT,
    STP_NAMES,
)
from matching.engine import Engine
from matching.events import (
    Accepted,
    BookChanged,
    Cancelled,
    Event,
    Expired,
    Replaced,
    Restated,
    Trade,
)
from matching.instruments import Instrument
from tests.matching.reference_model import Model, normalise

settings.register_profile("matching", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("matching-thorough", max_examples=3000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
PROFILE = settings.get_profile(
    "matching-thorough" if os.environ.get("MATCHING_HYPOTHESIS") == "thorough" else "matching")

SYM = "PROP"
TICK = 100
LOT = 10
REF = 100_000
BAND_BPS = 300        # 3% of 10.00: 30 ticks, wider than the generated prices
ACCOUNTS = ("A", "B", "C")
SESSIONS = ("S1", "S2")

# ---------------------------------------------------------------- strategies

prices = st.integers(-4, 4).map(lambda t: REF + t * TICK)
quantities = st.integers(1, 8).map(lambda n: n * LOT)
sides = st.sampled_from((BUY, SELL))
accounts = st.sampled_from(ACCOUNTS)
sessions = st.sampled_from(SESSIONS)
oids = st.integers(0, 12)


def mostly(common: Any, *others: Any) -> st.SearchStrategy:
    """``common`` three times in four, else one of ``others``."""
    return st.integers(0, 3).flatmap(
        lambda n: st.just(common) if n else st.sampled_from(others))


@st.composite
def limit_orders(draw: Any) -> NewOrder:
    qty = draw(quantities)
    tif = draw(mostly(DAY, GTC, IOC, FOK))
    display = draw(mostly(0, LOT, 2 * LOT)) if tif in (DAY, GTC) else 0
    min_qty = draw(mostly(0, 0, LOT, 3 * LOT))
    return NewOrder(symbol=SYM, side=draw(sides), order_qty=qty, price=draw(prices),
                    ord_type=LIMIT, time_in_force=tif, session=draw(sessions),
                    account=draw(accounts), max_floor=display, min_qty=min(min_qty, qty))


@st.composite
def market_orders(draw: Any) -> NewOrder:
    return NewOrder(symbol=SYM, side=draw(sides), order_qty=draw(quantities), ord_type=MARKET,
                    time_in_force=draw(mostly(DAY, IOC, FOK)), session=draw(sessions),
                    account=draw(accounts), min_qty=draw(mostly(0, LOT)))


@st.composite
def stop_orders(draw: Any) -> NewOrder:
    ord_type = draw(st.sampled_from((STOP, STOP_LIMIT)))
    return NewOrder(symbol=SYM, side=draw(sides), order_qty=draw(quantities),
                    price=draw(prices) if ord_type == STOP_LIMIT else 0, ord_type=ord_type,
                    time_in_force=draw(st.sampled_from((DAY, GTC))), stop_px=draw(prices),
                    session=draw(sessions), account=draw(accounts))


@st.composite
def invalid_orders(draw: Any) -> NewOrder:
    """Orders the engine must refuse: off the tick grid, off the lot size, zero quantity."""
    flaw = draw(st.sampled_from(("tick", "lot", "zero")))
    return NewOrder(symbol=SYM, side=draw(sides),
                    order_qty={"lot": LOT + 1, "zero": 0}.get(flaw, LOT),
                    price=draw(prices) + (1 if flaw == "tick" else 0), session="S1")


@st.composite
def replaces(draw: Any) -> Replace:
    return Replace(order_id=draw(oids), session=draw(sessions), order_qty=draw(quantities),
                   price=draw(prices), stop_px=draw(mostly(0, REF - TICK, REF + TICK)))


@st.composite
def mass_cancels(draw: Any) -> MassCancel:
    return MassCancel(session=draw(st.sampled_from(("",) + SESSIONS)),
                      account=draw(st.sampled_from(("",) + ACCOUNTS)),
                      side=draw(st.sampled_from((0, BUY, SELL))))


phase_changes = st.sampled_from((CONTINUOUS, CONTINUOUS, PRE_OPEN, OPENING_AUCTION,
                                 OPENING_AUCTION, CLOSING_AUCTION, HALTED, CLOSED)
                                ).map(lambda p: SetPhase(symbol=SYM, phase=p))
cancels = st.builds(lambda oid, session: Cancel(order_id=oid, session=session), oids,
                    mostly("S1", "S2", ""))

# (weight, strategy): mostly orders, then cancels and replaces, a few of the rest.
WEIGHTED = (
    (50, limit_orders()), (6, market_orders()), (6, stop_orders()), (3, invalid_orders()),
    (12, cancels), (10, replaces()), (6, phase_changes), (2, mass_cancels()),
    (1, st.just(EndOfDay(symbol=SYM))),
)


def pick(n: int) -> st.SearchStrategy:
    for weight, strategy in WEIGHTED:
        if n < weight:
            return strategy
        n -= weight
    raise AssertionError(n)


commands = st.integers(0, sum(w for w, _ in WEIGHTED) - 1).flatmap(pick)
streams = st.lists(commands, min_size=10, max_size=80)
stp_configs = st.fixed_dictionaries({a: st.sampled_from(sorted(STP_NAMES)) for a in ACCOUNTS})
# Half the streams start in the opening call, so that auctions see full books.
start_phases = st.sampled_from((CONTINUOUS, OPENING_AUCTION))


def make_engine(stp: dict[str, int], phase: int) -> Engine:
    return Engine([Instrument(SYM, TICK, LOT, REF)], phase=phase,
                  market_protection_bps=BAND_BPS, self_trade_prevention=stp)


def make_model(stp: dict[str, int], phase: int) -> Model:
    return Model(SYM, TICK, LOT, REF, phase, {a: m for a, m in stp.items() if m}, BAND_BPS)


def engine_book(engine: Engine) -> dict[str, list[tuple[int, int, int, int]]]:
    """Resting orders per side in priority order: (oid, price, leaves, visible)."""
    book = engine.books[SYM]
    return {name: [(o.oid, o.price, o.leaves, o.visible)
                   for level in side.iter_levels() for o in level.live_orders()]
            for name, side in (("bids", book.bids), ("asks", book.asks))}


def model_book(model: Model) -> dict[str, list[tuple[int, int, int, int]]]:
    return {name: [(o.oid, o.price, o.leaves, o.visible) for o in model.book(side)]
            for name, side in (("bids", BUY), ("asks", SELL))}


# -------------------------------------------------------------------- tests


@settings(PROFILE)
@given(stream=streams, stp=stp_configs, phase=start_phases)
def test_engine_agrees_with_the_reference_model(stream: list[Command], stp: dict[str, int],
                                                phase: int) -> None:
    engine, model = make_engine(stp, phase), make_model(stp, phase)
    for ts, command in enumerate(stream, start=1):
        got = [n for n in map(normalise, engine.process(command, ts)) if n is not None]
        want = model.process(command, ts)
        assert got == want, f"command {ts}: {command}"
    assert engine_book(engine) == model_book(model)
    assert sorted(engine.orders) == sorted(model.orders)
    stops = {oid for oid, o in engine.orders.items() if o.stop_key is not None}
    assert stops == {oid for oid, o in model.orders.items() if not o.resting}


@settings(PROFILE)
@given(stream=streams, stp=stp_configs, phase=start_phases)
def test_invariants_hold_after_every_command(stream: list[Command], stp: dict[str, int],
                                            phase: int) -> None:
    engine = make_engine(stp, phase)
    ordered: dict[int, int] = {}       # oid -> order quantity (after replaces, restatements)
    filled: dict[int, int] = {}
    ended: dict[int, int] = {}         # oid -> quantity cancelled or expired
    market_data: dict[tuple[int, int], tuple[int, int]] = {}
    for ts, command in enumerate(stream, start=1):
        for event in engine.process(command, ts):
            record(event, ordered, filled, ended, market_data)
        check_book(engine)
        for oid, qty in ordered.items():
            assert filled.get(oid, 0) <= qty                 # filled <= ordered
            order = engine.orders.get(oid)
            leaves = order.leaves if order is not None else 0
            # Quantity is conserved: every unit is filled, ended, or still open.
            assert filled.get(oid, 0) + ended.get(oid, 0) + leaves == qty, oid
            if order is not None:
                assert order.cum == filled.get(oid, 0) and order.qty == qty
        # Market data rebuilt from BookChanged events is the book.
        book = engine.books[SYM]
        assert market_data == {(side.side, price): (qty, count)
                               for side in (book.bids, book.asks)
                               for price, qty, count in side.depth()}


def record(event: Event, ordered: dict[int, int], filled: dict[int, int],
           ended: dict[int, int], market_data: dict[tuple[int, int], tuple[int, int]]) -> None:
    """Account for one event in the running totals of the invariants test."""
    kind = type(event)
    if kind is Accepted:
        ordered[event.order_id] = event.order.order_qty
    elif kind is Trade:
        qty = event.last_qty
        filled[event.aggressor_order_id] = filled.get(event.aggressor_order_id, 0) + qty
        filled[event.resting_order_id] = filled.get(event.resting_order_id, 0) + qty
        assert event.aggressor_leaves_qty >= 0 and event.resting_leaves_qty >= 0
    elif kind is Cancelled:
        ended[event.order_id] = ended.get(event.order_id, 0) + event.cancelled_qty
    elif kind is Expired:
        ended[event.order_id] = ended.get(event.order_id, 0) + event.expired_qty
    elif kind is Restated:
        ordered[event.order_id] -= event.reduced_by
    elif kind is Replaced:                                   # a new quantity
        ordered[event.order_id] = event.order_qty
    elif kind is BookChanged:
        key = (event.side, event.price)
        if event.qty:
            market_data[key] = (event.qty, event.order_count)
        else:
            market_data.pop(key, None)


def check_book(engine: Engine) -> None:
    """Structural invariants of one book."""
    book = engine.books[SYM]
    if book.phase == CONTINUOUS:
        assert not book.crossed()
    assert book.top_bid == (book.bids.best.price if book.bids.best else 0)
    assert book.top_ask == (book.asks.best.price if book.asks.best else NO_ASK)
    resting = set()
    for side in (book.bids, book.asks):
        assert side.ranks == sorted(-side.sign * p for p in side.levels)
        assert side.best is (side.levels[-side.sign * side.ranks[-1]] if side.ranks else None)
        # Empty levels may stay for reuse, but never ahead of the best level.
        assert side.empty == sum(1 for level in side.levels.values() if not level.count)
        assert side.best is None or side.best.count
        for price, level in side.levels.items():
            live = level.live_orders()
            assert level.count == len(live) and level.price == price
            assert len(level.orders) == level.count + level.dead
            assert level.qty == sum(o.visible for o in live)
            for o in live:
                assert o.side == side.side and o.price == price
                assert 0 < o.visible <= o.leaves and o.leaves > 0 and o.cum >= 0
                assert o.cum + o.leaves == o.qty
                assert not o.display or o.visible <= o.display
                resting.add(o.oid)
    stops = {oid for oid, o in engine.orders.items() if o.stop_key is not None}
    assert resting | stops == set(engine.orders) and not resting & stops
    assert book.stop_count == len(stops)


@settings(PROFILE)
@given(stream=streams, stp=stp_configs, phase=start_phases, cut=st.floats(0, 1))
def test_snapshot_restore_then_replay_gives_identical_events(
        stream: list[Command], stp: dict[str, int], phase: int, cut: float) -> None:
    k = int(cut * len(stream))
    original = make_engine(stp, phase)
    events = [original.process(command, ts) for ts, command in enumerate(stream, start=1)]
    first = make_engine(stp, phase)
    for ts, command in enumerate(stream[:k], start=1):
        first.process(command, ts)
    restored = Engine.restore(first.snapshot())
    replayed = [restored.process(command, ts)
                for ts, command in enumerate(stream[k:], start=k + 1)]
    assert replayed == events[k:]
    assert restored.snapshot() == original.snapshot()
