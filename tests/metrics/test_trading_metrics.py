"""consumers.metrics and consumers.tape on the real event stream: the scripted trading day
of tests/venue/stream_kit (plus a trade in MSFT, two refused cancels/replaces and two
duplicate ClOrdIDs) through the composed exchange, with a TradingMetrics and Tapes
subscribed to its stream. Each count is checked against one made here from the
commands and the entries, and against the figures the script was written to make."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest

from consumers.metrics import TradingMetrics
from consumers.tape import Print, Tape
from matching.constants import SELL
from matching.events import Cancelled, Trade
from tests.venue.stream_kit import B1, B2, run, server, trading_day
from tests.venue.support import cancel, new, px, replace
from venue.commands import (
    Command,
    NewOrderSingle,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    OrderMassCancelRequest,
)
from venue.orderentry import AUDIT_UNAVAILABLE
from venue.reports import ExecutionReport, OrderCancelReject
from venue.stream import Entry


def the_day() -> list[Command]:
    """The scripted day, with before its end: a MSFT sell that trades with the resting
    replaced order, a cancel and a replace of unknown orders, and two duplicate
    ClOrdIDs (one of a filled order, one of a resting one)."""
    day = trading_day()
    more = [
        new(B2, "ms1", SELL, 50, px("419.50"), symbol="MSFT"),
        cancel(B1, "nc1", orig="nope", symbol="AAPL"),
        replace(B2, "nr1", "nope2", 10, px("190.00"), symbol="AAPL"),
        new(B1, "s3", SELL, 60, px("190.00"), symbol="AAPL"),
        new(B1, "s4", SELL, 60, px("190.00"), symbol="AAPL"),
        new(B1, "s4", SELL, 60, px("190.00"), symbol="AAPL"),
    ]
    return day[:-1] + more + day[-1:]


@dataclass
class Day:
    commands: list[Command]
    entries: list[Entry]
    metrics: TradingMetrics
    tape: Tape
    short_tape: Tape            # keep=2
    composed: TradingMetrics    # the one the composition subscribed itself


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Day:
    srv = server(tmp_path_factory.mktemp("trading"))
    assert srv.stream is not None and srv.event_log is not None
    assert srv.observatory is not None
    metrics, tape, short_tape = TradingMetrics(), Tape(), Tape(keep=2)
    for consumer in (metrics, tape, short_tape):
        srv.stream.subscribe(consumer)
    commands = the_day()
    run(srv, commands)
    entries = srv.event_log.read_after(0, 10**6)
    srv.close()
    assert len(entries) == len(commands)
    return Day(commands, entries, metrics, tape, short_tape, srv.observatory.trading)


def trades_of(entries: list[Entry]) -> list[Trade]:
    return [e for entry in entries for e in entry.events if isinstance(e, Trade)]


def by_symbol(commands: list[Command], kind: type) -> Counter[str]:
    return Counter(c.symbol for c in commands if isinstance(c, kind))


# -- requests -------------------------------------------------------------------------------


def test_orders_are_counted_by_symbol_from_the_new_order_singles(day: Day) -> None:
    assert day.metrics.orders == by_symbol(day.commands, NewOrderSingle)
    # rejected orders count too: XOM's only order was refused
    assert day.metrics.orders == {"AAPL": 11, "MSFT": 2, "JPM": 2, "INTC": 2, "XOM": 1}


def test_cancels_and_replaces_are_counted_by_symbol(day: Day) -> None:
    assert day.metrics.cancels == by_symbol(day.commands, OrderCancelRequest) == \
        {"AAPL": 2}
    assert day.metrics.replaces == by_symbol(day.commands, OrderCancelReplaceRequest) == \
        {"MSFT": 2, "AAPL": 1}


def test_mass_cancels_and_commands_are_counted(day: Day) -> None:
    assert day.metrics.mass_cancels == sum(isinstance(c, OrderMassCancelRequest)
                                           for c in day.commands) == 1
    assert day.metrics.commands == len(day.entries)
    assert day.metrics.last_seq == day.entries[-1].seq


# -- trades ---------------------------------------------------------------------------------


def test_trades_and_volume_are_counted_by_symbol_from_the_trade_events(day: Day) -> None:
    trades = trades_of(day.entries)
    assert day.metrics.trades == Counter(t.symbol for t in trades)
    volume: Counter[str] = Counter()
    for t in trades:
        volume[t.symbol] += t.last_qty
    assert day.metrics.volume == volume
    assert day.metrics.trades == {"AAPL": 4, "MSFT": 1}
    assert day.metrics.volume == {"AAPL": 100 + 20 + 30 + 60, "MSFT": 50}


def test_notional_is_price_times_quantity_in_fixed_point(day: Day) -> None:
    assert day.metrics.notional == {
        "AAPL": px("190.00") * 100 + px("190.10") * 20 + px("190.10") * 30
        + px("190.00") * 60,
        "MSFT": px("419.50") * 50}


# -- rejects --------------------------------------------------------------------------------


def test_rejects_are_counted_by_code_from_the_rejected_execution_reports(day: Day) -> None:
    expected = Counter(r.reject_code for entry in day.entries for r in entry.reports
                       if isinstance(r, ExecutionReport) and r.exec_type == "8")
    assert day.metrics.rejects == expected
    # the lot size, the kill switch and order entry's own duplicate checks (which have
    # no Rejected event of the engine)
    assert day.metrics.rejects == {"QUANTITY_NOT_LOT_MULTIPLE": 1, "KILL_SWITCH": 1,
                                   "DUPLICATE_CL_ORD_ID": 2}


def test_refused_cancels_and_replaces_are_counted_by_code(day: Day) -> None:
    expected = Counter(r.reject_code for entry in day.entries for r in entry.reports
                       if isinstance(r, OrderCancelReject))
    assert day.metrics.cancel_rejects == expected == {"UNKNOWN_ORDER": 2}


def test_the_kill_switch_reject_is_a_risk_reject_and_none_is_the_exchange_s_fault(
        day: Day) -> None:
    assert day.metrics.risk_rejects() == 1
    assert day.metrics.exchange_faults() == 0


def test_cancelled_orders_are_counted_by_reason(day: Day) -> None:
    expected = Counter(e.reason for entry in day.entries for e in entry.events
                       if isinstance(e, Cancelled))
    assert day.metrics.cancelled == expected and sum(expected.values()) >= 4


def test_the_composition_counts_the_same(day: Day) -> None:
    ours, theirs = day.metrics, day.composed
    assert (ours.orders, ours.rejects, ours.cancel_rejects, ours.trades, ours.volume,
            ours.notional) == (theirs.orders, theirs.rejects, theirs.cancel_rejects,
                               theirs.trades, theirs.volume, theirs.notional)


def test_the_counts_do_not_depend_on_the_batches(day: Day) -> None:
    one_by_one, all_at_once = TradingMetrics(), TradingMetrics()
    for entry in day.entries:
        one_by_one.on_batch([entry])
    all_at_once.on_batch(day.entries)
    all_at_once.on_batch([])
    for m in (one_by_one, all_at_once):
        assert (m.orders, m.cancels, m.replaces, m.rejects, m.cancel_rejects, m.trades,
                m.volume, m.notional, m.commands, m.last_seq) == (
            day.metrics.orders, day.metrics.cancels, day.metrics.replaces,
            day.metrics.rejects, day.metrics.cancel_rejects, day.metrics.trades,
            day.metrics.volume, day.metrics.notional, day.metrics.commands,
            day.metrics.last_seq)


def rejected(code: str) -> Entry:
    order = new(B1, "r1", SELL, 1, px("1.00"), symbol="AAPL")
    return Entry(1, 0, order, [], [ExecutionReport(B1, 0, "8", "8", "E1", cl_ord_id="r1",
                                                   reject_code=code)])


def test_an_audit_outage_reject_is_the_exchange_s_fault_not_a_risk_reject() -> None:
    m = TradingMetrics()
    m.on_batch([rejected(AUDIT_UNAVAILABLE)])
    assert (m.exchange_faults(), m.risk_rejects()) == (1, 0)


def test_a_reject_without_a_code_is_counted_as_other() -> None:
    m = TradingMetrics()
    m.on_batch([rejected("")])
    assert m.rejects == {"OTHER": 1}


# -- the tape -------------------------------------------------------------------------------


def prints_of(entries: list[Entry]) -> list[Print]:
    """Every trade as the tape should show it, oldest first."""
    return [Print(entry.seq, entry.ts, e.trade_id, e.symbol, e.last_px, e.last_qty,
                  "BUY" if e.aggressor_side != SELL else "SELL", e.auction)
            for entry in entries for e in entry.events if isinstance(e, Trade)]


def test_the_tape_returns_the_newest_trade_first(day: Day) -> None:
    assert day.tape.recent(100) == prints_of(day.entries)[::-1]
    assert [p.trade_id for p in day.tape.recent(100)] == [5, 4, 3, 2, 1]


def test_the_tape_shows_who_took_liquidity(day: Day) -> None:
    assert [p.aggressor for p in day.tape.recent(100)] == ["SELL", "SELL", "BUY", "BUY",
                                                           "BUY"]


def test_the_tape_returns_at_most_the_limit(day: Day) -> None:
    assert [p.trade_id for p in day.tape.recent(2)] == [5, 4]
    assert [p.trade_id for p in day.tape.recent(1)] == [5]


def test_the_tape_filters_by_symbol(day: Day) -> None:
    assert [p.trade_id for p in day.tape.recent(100, "MSFT")] == [5]
    assert [p.trade_id for p in day.tape.recent(100, "AAPL")] == [4, 3, 2, 1]
    assert [p.trade_id for p in day.tape.recent(2, "AAPL")] == [4, 3]
    assert day.tape.recent(100, "XOM") == []


def test_the_tape_keeps_only_the_last_keep_trades(day: Day) -> None:
    assert [p.trade_id for p in day.short_tape.recent(100)] == [5, 4]
    assert day.short_tape.recent(100, "AAPL") == [day.tape.recent(1, "AAPL")[0]]
