"""FIX market data on real sessions: MarketDataRequest in, W / X / Y out.

The exchange of the shipped exchange.toml (journal fsync off, in a temporary
folder) with the market-data consumer on its event stream, and sessions played by
the session test harness: BRK1 (FIX 4.4) and BRK2 (FIX 4.2) trade and subscribe,
MD1 is a session with Application=marketdata. A subscriber applies what it gets
the way a client does (levels by side and price) and must hold, after every
message, exactly what a fresh snapshot shows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from consumers.marketdata import MarketData
from fixserver.settings import load_sessions
from marketdata.book import engine_levels
from matching.constants import CLOSED, CLOSING_AUCTION, CONTINUOUS, HALTED, OPENING_AUCTION
from server.compose import connect_consumers, report_consumers
from tests.marketdata.wire import md_entries
from tests.session.harness import Driver, Out
from venue.application import ExchangeApplication, MarketDataApplication
from venue.commands import EndTradingDay
from venue.config import load_exchange_config
from venue.exchange import Exchange

REPO = Path(__file__).resolve().parents[2]
SHIPPED = {c.target_comp_id: c for c in load_sessions(REPO / "sessions.cfg")}
BUY, SELL = 1, 2


class Venue:
    """The exchange with BRK1, BRK2 and MD1 as harness-driven sessions."""

    def __init__(self, tmp: Path) -> None:
        cfg = load_exchange_config(REPO / "exchange.toml")
        cfg.fsync = False
        cfg.journal_path = str(tmp / "journal.wal")
        self.exchange = Exchange(cfg, tmp)
        self.market_data = MarketData(cfg.instruments)
        self.drivers: dict[str, Driver] = {}
        for comp_id in ("BRK1", "BRK2"):
            config = dataclasses.replace(SHIPPED[comp_id], cancel_on_disconnect=False)
            driver = Driver(config=config,
                            app=ExchangeApplication(self.exchange, self.market_data))
            self.exchange.add_session(driver.session.session_id, comp_id)
            self.drivers[comp_id] = driver
        md1 = dataclasses.replace(SHIPPED["BRK1"], target_comp_id="MD1",
                                  application="marketdata", cancel_on_disconnect=False)
        self.drivers["MD1"] = Driver(config=md1, app=MarketDataApplication(self.exchange,
                                                                           self.market_data))
        self.exchange.recover()
        self.market_data.load(engine_levels(self.exchange.engine), self.exchange.last_seq)
        sessions = [d.session for d in self.drivers.values()]
        connect_consumers(self.exchange, None, report_consumers(self.exchange, sessions), None,
                          market_data=self.market_data)
        for driver in self.drivers.values():
            driver.logon(reset=True)
        self.n = 0
        self.inbox: dict[str, list[Out]] = {comp_id: [] for comp_id in self.drivers}

    def send(self, comp_id: str, msg_type: str, *fields: tuple[int, object]) -> list[Out]:
        """Send from ``comp_id``; what it got back (it is also in its inbox)."""
        out = self.drivers[comp_id].send(msg_type, *fields)
        self.inbox[comp_id] += out
        self.exchange.flush()
        for cid, driver in self.drivers.items():
            more = driver.drain()
            self.inbox[cid] += more
            if cid == comp_id:
                out += more
        return out

    def received(self, comp_id: str) -> list[Out]:
        """Everything ``comp_id`` got since the last call."""
        out, self.inbox[comp_id] = self.inbox[comp_id], []
        return out

    def order(self, comp_id: str, side: int, qty: int, price: str, symbol: str = "AAPL",
              cl_ord_id: str | None = None) -> str:
        self.n += 1
        cl = cl_ord_id or f"o{self.n}"
        self.send(comp_id, "D", (11, cl), (21, 1), (38, qty), (40, 2), (44, price),
                  (54, side), (55, symbol), (59, 1), (60, "20260101-00:00:00"))
        return cl

    def cancel(self, comp_id: str, orig: str, side: int, symbol: str = "AAPL") -> None:
        self.n += 1
        self.send(comp_id, "F", (11, f"c{self.n}"), (41, orig), (54, side), (55, symbol),
                  (60, "20260101-00:00:00"))


def md_request(req_id: str, *, subscription: int = 1, depth: int = 0,
               update_type: int | None = 1, entry_types: Iterable[int] = (0, 1, 2),
               symbols: Iterable[str] = ("AAPL",)) -> list[tuple[int, object]]:
    types, syms = list(entry_types), list(symbols)
    fields: list[tuple[int, object]] = [(262, req_id), (263, subscription), (264, depth)]
    if update_type is not None:
        fields.append((265, update_type))
    fields += [(267, len(types)), *((269, t) for t in types), (146, len(syms)),
               *((55, s) for s in syms)]
    return fields


def entries(msg: Out) -> list[dict[int, str]]:
    return md_entries(msg.msg_type, msg.pairs)


def book_of(snapshot: Out) -> dict[tuple[str, str], tuple[str, str]]:
    """(MDEntryType, price) -> (size, orders) of the levels of a W."""
    return {(e[269], e[270]): (e[271], e[346]) for e in entries(snapshot) if e[269] in "01"}


def apply(book: dict[tuple[str, str], tuple[str, str]], update: Out) -> None:
    """Apply an X's level entries the way a client does: by side and price."""
    for e in entries(update):
        if e[269] not in "01":
            continue
        key = (e[269], e[270])
        if e[279] == "2":
            del book[key]
        else:
            assert (e[279] == "0") == (key not in book), e
            book[key] = (e[271], e[346])


def only(out: list[Out], msg_type: str) -> list[Out]:
    return [m for m in out if m.msg_type == msg_type]


@pytest.fixture
def venue(tmp_path: Path) -> Iterator[Venue]:
    v = Venue(tmp_path)
    yield v
    v.exchange.close(snapshot=False)


def test_a_snapshot_shows_each_side_best_first_with_sizes_and_order_counts(venue: Venue
                                                                            ) -> None:
    venue.order("BRK2", BUY, 100, "189.00")
    venue.order("BRK2", BUY, 50, "189.00")
    venue.order("BRK2", BUY, 10, "189.50")
    venue.order("BRK1", SELL, 30, "190.10")
    (w,) = only(venue.send("BRK1", "V", *md_request("s", subscription=0, update_type=None)),
                "W")
    assert (w.get(262), w.get(55), w.get(268)) == ("s", "AAPL", "3")
    assert [(e[269], e[270], e[271], e[346], e[290]) for e in entries(w)] == [
        ("0", "189.5", "10", "1", "1"), ("0", "189", "150", "2", "2"),
        ("1", "190.1", "30", "1", "1")]


def test_a_snapshot_of_an_empty_book_has_no_entries(venue: Venue) -> None:
    (w,) = only(venue.send("BRK1", "V", *md_request("s", subscription=0, update_type=None)),
                "W")
    assert w.get(268) == "0" and entries(w) == []


def test_every_snapshot_and_update_carries_the_exchange_seq_it_reflects(venue: Venue) -> None:
    logons = venue.exchange.last_seq     # the sessions' logons are journaled too
    venue.order("BRK2", BUY, 100, "189.00")
    (w,) = only(venue.send("BRK1", "V", *md_request("s")), "W")
    assert int(w.get(369)) == venue.exchange.last_seq == logons + 1
    venue.order("BRK2", BUY, 10, "189.00")
    (x,) = only(venue.received("BRK1"), "X")
    assert int(x.get(369)) == venue.exchange.last_seq == logons + 2


def test_a_subscriber_applying_the_updates_holds_what_a_new_snapshot_shows(
        venue: Venue) -> None:
    (w,) = only(venue.send("BRK1", "V", *md_request("inc", entry_types=(0, 1))), "W")
    held = book_of(w)
    steps = [("BRK2", BUY, 100, "189.00"), ("BRK2", BUY, 40, "189.20"),
             ("BRK2", SELL, 70, "190.50"), ("BRK2", SELL, 20, "190.40"),
             ("BRK1", SELL, 120, "189.10"),       # trades through 189.20, rests at 189.10
             ("BRK1", BUY, 90, "190.50")]         # takes 190.40 and part of 190.50
    orders = []
    for n, (comp_id, side, qty, price) in enumerate(steps):
        orders.append((comp_id, venue.order(comp_id, side, qty, price), side))
        for x in only(venue.received("BRK1"), "X"):
            apply(held, x)
        (fresh,) = only(venue.send("BRK2", "V", *md_request(f"chk{n}", subscription=0,
                                                            update_type=None,
                                                            entry_types=(0, 1))), "W")
        assert held == book_of(fresh), f"after step {n}"
    venue.cancel(*orders[0][:2], BUY)
    for x in only(venue.received("BRK1"), "X"):
        apply(held, x)
    (fresh,) = only(venue.send("BRK2", "V", *md_request("end", subscription=0,
                                                        update_type=None,
                                                        entry_types=(0, 1))), "W")
    assert held == book_of(fresh)


def test_a_top_of_book_subscriber_sees_levels_enter_and_leave_its_window(venue: Venue
                                                                       ) -> None:
    venue.order("BRK2", BUY, 100, "189.00")
    only(venue.send("BRK1", "V", *md_request("top", depth=1, entry_types=(0,))), "W")
    venue.order("BRK2", BUY, 10, "188.00")            # below the window: nothing
    assert only(venue.received("BRK1"), "X") == []
    venue.order("BRK2", BUY, 10, "189.50")            # a new best
    (x,) = only(venue.received("BRK1"), "X")
    assert [(e[279], e[270]) for e in entries(x)] == [("2", "189"), ("0", "189.5")]


def test_a_trade_is_one_entry_with_its_price_size_and_time(venue: Venue) -> None:
    only(venue.send("BRK1", "V", *md_request("t", entry_types=(2,))), "W")
    venue.order("BRK2", SELL, 30, "190.00")
    venue.order("BRK1", BUY, 20, "190.00")
    (x,) = only(venue.received("BRK1"), "X")
    (trade,) = entries(x)
    assert (trade[279], trade[269], trade[55], trade[270], trade[271]) == \
        ("0", "2", "AAPL", "190", "20")
    assert len(trade[273]) == len("HH:MM:SS.sss")
    (w,) = only(venue.send("BRK1", "V", *md_request("t2", subscription=0, update_type=None,
                                                    entry_types=(2,))), "W")
    assert [(e[269], e[270], e[271]) for e in entries(w)] == [("2", "190", "20")]


def test_a_full_refresh_subscription_gets_a_snapshot_of_each_symbol_that_changed(
        venue: Venue) -> None:
    out = venue.send("BRK2", "V", *md_request("full", update_type=0,
                                             symbols=("AAPL", "MSFT")))
    assert [w.get(55) for w in only(out, "W")] == ["AAPL", "MSFT"]
    venue.received("BRK2")
    venue.order("BRK1", BUY, 10, "419.00", symbol="MSFT")
    (w,) = only(venue.received("BRK2"), "W")
    assert (w.get(262), w.get(55), [e[270] for e in entries(w)]) == ("full", "MSFT", ["419"])
    venue.order("BRK1", BUY, 10, "22.00", symbol="INTC")     # not subscribed
    assert only(venue.received("BRK2"), "W") == []


def test_updates_stop_after_an_unsubscription(venue: Venue) -> None:
    venue.send("BRK1", "V", *md_request("u"))
    assert only(venue.send("BRK1", "V", *md_request("u", subscription=2)), "Y") == []
    venue.order("BRK2", BUY, 100, "189.00")
    assert only(venue.received("BRK1"), "X") == []


def test_a_subscription_ends_with_the_session(venue: Venue) -> None:
    venue.send("BRK1", "V", *md_request("gone"))
    session = venue.drivers["BRK1"].session
    session.on_disconnect(venue.drivers["BRK1"].clock.wall)
    assert venue.market_data.subscriptions == {}


def test_market_data_is_gap_filled_on_a_resend(venue: Venue) -> None:
    out = venue.send("BRK1", "V", *md_request("r"))
    (w,) = only(out, "W")
    venue.order("BRK2", BUY, 100, "189.00")
    (x,) = only(venue.received("BRK1"), "X")
    resent = venue.send("BRK1", "2", (7, w.seq), (16, 0))
    assert [m.msg_type for m in resent] == ["4"]
    assert (resent[0].get(123), int(resent[0].get(36))) == ("Y", x.seq + 1)


def test_a_second_subscription_with_the_same_md_req_id_is_refused(venue: Venue) -> None:
    venue.send("BRK1", "V", *md_request("dup"))
    (y,) = only(venue.send("BRK1", "V", *md_request("dup")), "Y")
    assert (y.get(262), y.get(281)) == ("dup", "1")


def test_an_unknown_symbol_refuses_the_whole_request(venue: Venue) -> None:
    out = venue.send("BRK1", "V", *md_request("u", symbols=("AAPL", "NOPE")))
    assert only(out, "W") == []
    (y,) = only(out, "Y")
    assert (y.get(281), y.get(58)) == ("0", "unknown symbol NOPE: not listed on this exchange")


def test_a_market_data_session_is_served_market_data(venue: Venue) -> None:
    venue.order("BRK2", SELL, 5, "191.00")
    (w,) = only(venue.send("MD1", "V", *md_request("m", entry_types=(1,))), "W")
    assert [(e[269], e[270]) for e in entries(w)] == [("1", "191")]
    venue.order("BRK2", SELL, 5, "190.90")
    assert len(only(venue.received("MD1"), "X")) == 1


def test_a_market_data_session_cannot_send_orders(venue: Venue) -> None:
    before = venue.exchange.last_seq
    out = venue.send("MD1", "D", (11, "x"), (21, 1), (38, 1), (40, 2), (44, "190"), (54, 1),
                     (55, "AAPL"), (60, "20260101-00:00:00"))
    (j,) = only(out, "j")
    assert j.get(380) == "3"
    assert venue.exchange.last_seq == before


# -- a subscriber that does not read ------------------------------------------------------


@pytest.fixture
def slow_venue(tmp_path: Path) -> Iterator[Venue]:
    v = Venue(tmp_path)
    v.market_data.backlog_limit = 5
    v.market_data.held_trades_limit = 3
    yield v
    v.exchange.close(snapshot=False)


def stalled(v: Venue, comp_id: str) -> None:
    """From now on ``comp_id`` reads nothing: what it is sent stays queued."""
    v.drivers[comp_id].drain = lambda: []      # type: ignore[method-assign]


def test_a_subscriber_that_stops_reading_is_sent_no_more_than_the_backlog_limit(
        slow_venue: Venue) -> None:
    v = slow_venue
    v.send("BRK1", "V", *md_request("slow", entry_types=(0, 1)))
    session = v.drivers["BRK1"].session
    stalled(v, "BRK1")
    for i in range(40):
        v.order("BRK2", BUY, 10 + i, f"{180 + i * 0.1:.2f}")
    assert session.backlog <= v.market_data.backlog_limit + 1


def test_once_it_reads_again_it_gets_the_latest_state_of_each_level_in_one_update(
        slow_venue: Venue) -> None:
    v = slow_venue
    (w,) = only(v.send("BRK1", "V", *md_request("slow", entry_types=(0, 1))), "W")
    held = book_of(w)
    driver = v.drivers["BRK1"]
    read = driver.drain
    stalled(v, "BRK1")
    orders = [v.order("BRK2", BUY, 10, "189.00") for _ in range(12)]
    for cl in orders[:3]:
        v.cancel("BRK2", cl, BUY)
    v.order("BRK2", SELL, 5, "191.00")
    driver.drain = read                        # type: ignore[method-assign]
    backlog = driver.drain()
    assert v.market_data.catch_up() == 1
    catch_up = only(driver.drain(), "X")
    assert len(catch_up) == 1
    for x in only(backlog, "X"):
        apply(held, x)
    apply(held, catch_up[0])
    # Conflated: the 189.00 level once, at its latest size, not each of its changes.
    assert [(e[279], e[270], e[271]) for e in entries(catch_up[0]) if e[269] == "0"] == [
        ("1", "189", "90")]
    (fresh,) = only(v.send("BRK2", "V", *md_request("chk", subscription=0, update_type=None,
                                                    entry_types=(0, 1))), "W")
    assert held == book_of(fresh)


def test_past_the_held_trades_limit_it_is_sent_a_fresh_snapshot_instead(
        slow_venue: Venue) -> None:
    v = slow_venue
    v.send("BRK1", "V", *md_request("slow"))
    driver = v.drivers["BRK1"]
    read = driver.drain
    stalled(v, "BRK1")
    v.order("BRK2", SELL, 100, "190.00")
    for _ in range(10):
        v.order("BRK2", BUY, 1, "190.00")
    driver.drain = read                        # type: ignore[method-assign]
    driver.drain()
    v.market_data.catch_up()
    out = driver.drain()
    assert only(out, "X") == []
    (w,) = only(out, "W")
    assert [(e[269], e[270], e[271]) for e in entries(w)] == [("1", "190", "90"),
                                                              ("2", "190", "1")]


# -- trading status ------------------------------------------------------------------------


def status_request(msg_type: str, req_id: str, subscription: int = 1,
                   symbol: str = "AAPL") -> list[tuple[int, object]]:
    if msg_type == "e":
        return [(324, req_id), (55, symbol), (263, subscription)]
    return [(335, req_id), (263, subscription)]


def test_a_security_status_request_is_answered_with_the_instruments_phase(venue: Venue
                                                                         ) -> None:
    (f,) = only(venue.send("BRK1", "e", *status_request("e", "s", 0)), "f")
    assert (f.get(324), f.get(55), f.get(325), f.get(326), f.get(625)) == \
        ("s", "AAPL", "N", "17", "CONTINUOUS")


def test_a_halt_is_pushed_to_the_instruments_status_subscribers_only(venue: Venue) -> None:
    venue.send("BRK1", "e", *status_request("e", "a", symbol="AAPL"))
    venue.send("BRK2", "e", *status_request("e", "m", symbol="MSFT"))
    venue.send("BRK1", "g", *status_request("g", "t"))
    venue.received("BRK1"), venue.received("BRK2")
    venue.exchange.set_phase("AAPL", HALTED)
    venue.send("BRK2", "0")                               # any message: a flush
    got = venue.received("BRK1")
    (f,) = only(got, "f")
    assert (f.get(324), f.get(325), f.get(326), f.get(625)) == ("a", "Y", "2", "HALTED")
    assert only(got, "h") == []                           # one halt is not the market's
    assert only(venue.received("BRK2"), "f") == []


def test_moving_every_instrument_pushes_the_market_status(venue: Venue) -> None:
    venue.send("BRK2", "g", *status_request("g", "t"))
    venue.received("BRK2")
    venue.exchange.set_phase("", CLOSED)
    venue.send("BRK1", "0")
    (h,) = only(venue.received("BRK2"), "h")
    assert (h.get(335), h.get(336), h.get(325), h.get(340), h.get(625)) == \
        ("t", "DAY", "Y", "3", None)                      # FIX 4.2: no TradingSessionSubID


def test_a_status_unsubscription_stops_the_pushes(venue: Venue) -> None:
    venue.send("BRK1", "e", *status_request("e", "a"))
    assert only(venue.send("BRK1", "e", *status_request("e", "a", 2)), "j") == []
    venue.received("BRK1")
    venue.exchange.set_phase("AAPL", HALTED)
    venue.send("BRK1", "0")
    assert only(venue.received("BRK1"), "f") == []


def test_a_status_request_for_an_unknown_symbol_is_a_business_reject(venue: Venue) -> None:
    (j,) = only(venue.send("BRK1", "e", *status_request("e", "x", 0, "NOPE")), "j")
    assert (j.get(380), j.get(379)) == ("2", "x")


# -- statistics of the day ----------------------------------------------------------------


def test_the_days_statistics_are_new_then_changed_then_deleted_at_the_day_end(
        venue: Venue) -> None:
    (w,) = only(venue.send("BRK1", "V", *md_request("day", entry_types=(4, 5, 7, 8, "B"))),
                "W")
    assert [(e[269], e.get(271)) for e in entries(w)] == [("B", "0")]      # no trade yet
    venue.order("BRK2", SELL, 100, "190.00")
    venue.order("BRK2", SELL, 100, "190.50")
    venue.order("BRK1", BUY, 30, "190.00")
    (x,) = only(venue.received("BRK1"), "X")[-1:]
    assert sorted((e[279], e[269], e.get(270), e.get(271)) for e in entries(x)) == [
        ("0", "4", "190", None), ("0", "7", "190", None), ("0", "8", "190", None),
        ("1", "B", None, "30")]
    venue.order("BRK1", BUY, 100, "190.50")                 # 70 at 190.00, 30 at 190.50
    (x,) = only(venue.received("BRK1"), "X")[-1:]
    assert sorted((e[279], e[269], e.get(270), e.get(271)) for e in entries(x)) == [
        ("1", "7", "190.5", None), ("1", "B", None, "130")]
    venue.exchange.submit(EndTradingDay())
    venue.send("BRK2", "0")
    (x,) = only(venue.received("BRK1"), "X")[-1:]
    assert sorted((e[279], e[269], e.get(270), e.get(271)) for e in entries(x)) == [
        ("0", "5", "190.5", None), ("1", "B", None, "0"), ("2", "4", "190", None),
        ("2", "7", "190.5", None), ("2", "8", "190", None)]


# -- the indicative uncross of a call ----------------------------------------------------------


def indicative(msg: Out) -> list[tuple[str | None, str, str | None, str | None, str | None]]:
    """(MDUpdateAction, MDEntryType, price, size, the flag) of the opening and closing
    price entries: OpenCloseSettlFlag on FIX 4.4, QuoteCondition on FIX 4.2."""
    return [(e.get(279), e[269], e.get(270), e.get(271), e.get(286) or e.get(276))
            for e in entries(msg) if e[269] in "45"]


def crossed_call(venue: Venue, phase: int, subscriber: str, entry_type: int) -> None:
    """``subscriber`` subscribes to ``entry_type`` of AAPL in a call ``phase``, then the
    book crosses: sell 100 at 190.00, buy 60 at 190.50."""
    venue.exchange.set_phase("AAPL", phase)
    venue.send(subscriber, "V", *md_request("ind", entry_types=(entry_type,)))
    venue.order("BRK2", SELL, 100, "190.00")
    venue.order("BRK1", BUY, 60, "190.50")


def test_the_opening_call_publishes_its_indicative_price_and_volume_as_expected_opening(
        venue: Venue) -> None:
    crossed_call(venue, OPENING_AUCTION, "BRK1", 4)
    (x,) = only(venue.received("BRK1"), "X")[-1:]
    # 60 execute from 190.00 to 190.50: at the reference price, 190.
    assert indicative(x) == [("0", "4", "190", "60", "3")]
    venue.order("BRK1", BUY, 50, "190.50")
    (x,) = only(venue.received("BRK1"), "X")[-1:]
    assert indicative(x) == [("1", "4", "190", "100", "3")]
    (w,) = only(venue.send("BRK1", "V", *md_request("now", subscription=0, entry_types=(4,))),
                "W")
    assert indicative(w) == [(None, "4", "190", "100", "3")]


def test_the_call_ending_replaces_the_indicative_price_by_the_opening_price(venue: Venue
                                                                           ) -> None:
    crossed_call(venue, OPENING_AUCTION, "BRK1", 4)
    venue.received("BRK1")
    venue.exchange.set_phase("AAPL", CONTINUOUS)
    venue.send("BRK2", "0")
    (x,) = only(venue.received("BRK1"), "X")[-1:]
    assert sorted(indicative(x), key=str) == [("0", "4", "190", None, None),
                                              ("2", "4", "190", "60", "3")]


def test_a_fix42_subscriber_sees_the_indicative_price_as_non_firm(venue: Venue) -> None:
    crossed_call(venue, CLOSING_AUCTION, "BRK2", 5)
    (x,) = only(venue.received("BRK2"), "X")[-1:]
    assert indicative(x) == [("0", "5", "190", "60", "I")]


def test_no_indicative_price_is_published_when_the_call_would_not_trade(venue: Venue) -> None:
    venue.exchange.set_phase("AAPL", OPENING_AUCTION)
    venue.send("BRK1", "V", *md_request("ind", entry_types=(0, 1, 4)))
    venue.order("BRK2", SELL, 100, "191.00")
    venue.order("BRK1", BUY, 60, "190.50")
    assert all(indicative(x) == [] for x in only(venue.received("BRK1"), "X"))


# -- the security list -----------------------------------------------------------------------


def test_the_security_list_gives_every_instrument_with_its_number_lot_tick_and_reference(
        venue: Venue) -> None:
    (y,) = only(venue.send("BRK1", "x", (320, "l"), (559, 4)), "y")
    assert (y.get(320), y.get(560), y.get(146)) == ("l", "0", str(len(venue.exchange.config
                                                                      .instruments)))
    symbols = [v for t, v in y.pairs if t == 55]
    assert symbols == list(venue.exchange.config.instruments)
    first = dict(y.pairs[y.pairs.index((55, symbols[0])):][:7])
    inst = venue.exchange.config.instruments[symbols[0]]
    assert (first[48], first[22], first[561]) == ("1", "8", str(inst.lot_size))
    assert first[58] == "tick 0.01 reference 190" and symbols[0] == "AAPL"


def test_a_security_list_of_an_unlisted_symbol_finds_no_instrument(venue: Venue) -> None:
    (y,) = only(venue.send("BRK1", "x", (320, "l"), (559, 0), (55, "NOPE")), "y")
    assert (y.get(560), y.get(146)) == ("2", None)


def test_a_fix42_session_has_no_security_list(venue: Venue) -> None:
    (reject,) = only(venue.send("BRK2", "x", (320, "l"), (559, 4)), "3")
    assert reject.get(373) == "11"


def test_identical_subscribers_one_of_which_fell_behind_each_hold_the_book(
        slow_venue: Venue) -> None:
    # Up-to-date subscribers of the same kind share one computation of the changes;
    # one that was held back is computed on its own.
    v = slow_venue
    helds = {}
    for comp_id in ("BRK1", "MD1"):
        (w,) = only(v.send(comp_id, "V", *md_request("same", entry_types=(0, 1))), "W")
        helds[comp_id] = book_of(w)
    driver = v.drivers["BRK1"]
    read = driver.drain
    stalled(v, "BRK1")
    for i in range(8):
        v.order("BRK2", BUY, 10, f"{189 - i * 0.1:.2f}")
    driver.drain = read                        # type: ignore[method-assign]
    v.inbox["BRK1"] += driver.drain()
    v.market_data.catch_up()
    for i in range(3):
        v.order("BRK2", SELL, 10, f"{191 + i * 0.1:.2f}")
    v.inbox["BRK1"] += driver.drain()
    (fresh,) = only(v.send("BRK2", "V", *md_request("chk", subscription=0, update_type=None,
                                                    entry_types=(0, 1))), "W")
    for comp_id in ("BRK1", "MD1"):
        for x in only(v.received(comp_id), "X"):
            apply(helds[comp_id], x)
        assert helds[comp_id] == book_of(fresh), comp_id
