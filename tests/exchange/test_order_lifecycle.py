"""Order lifecycles end to end over TCP: brokers send FIX orders to the exchange
server and check every ExecutionReport field by field (simplefix on the wire).

BRK1 and BRK3 speak FIX.4.4, BRK2 FIX.4.2 (see ``exchangeclient``). AAPL trades in
0.01 ticks, lots of 1, with a 10% band around 190.00 (then around the last trade).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests.exchange.exchangeclient import (
    BUY,
    SELL,
    Broker,
    Msg,
    connect,
    values_outside_dictionary,
)

pytestmark = pytest.mark.slow


def avg(*fills: tuple[int, str]) -> Decimal:
    """The volume-weighted average of (qty, price) fills."""
    qty = sum(q for q, _ in fills)
    return sum(q * Decimal(p) for q, p in fills) / qty


def assert_avg_px(er: Msg, expected: Decimal) -> None:
    # AvgPx has at most 4 decimals on this exchange: within one unit of the 4th.
    assert abs(er.dec(6) - expected) < Decimal("0.0001"), (er[6], expected, er)


def assert_fill(er: Msg, cl_ord_id: str, last_qty: int, last_px: str, cum: int, leaves: int,
                status: str) -> None:
    """A FIX.4.4 trade report (ExecType F)."""
    assert er[150] == "F", er
    assert er[11] == cl_ord_id
    assert (er.dec(31), int(er[32])) == (Decimal(last_px), last_qty), er
    assert (int(er[14]), int(er[151]), er[39]) == (cum, leaves, status), er


# -- new, partial fill, fill ---------------------------------------------------------------

def test_new_limit_order_is_acknowledged_with_exec_type_new(brk1: Broker) -> None:
    brk1.new_order("N1", BUY, 100, "189.50")
    er = brk1.er()
    assert (er[150], er[39], er[11]) == ("0", "0", "N1")
    assert er[37] not in ("", "NONE")
    assert (er[55], er[54], er[40], er.dec(44), int(er[38])) == \
        ("AAPL", "1", "2", Decimal("189.50"), 100)
    assert (int(er[14]), int(er[151]), er.dec(6)) == (0, 100, 0)
    assert 31 not in er and 32 not in er


def test_partial_fill_and_fill_are_reported_to_both_sides(brk1: Broker, brk3: Broker) -> None:
    resting = brk1.rest("S1", SELL, 100, "190.00")
    brk3.new_order("B1", BUY, 40, "190.00")
    assert brk3.er()[150] == "0"
    buyer_fill = brk3.er()
    assert_fill(buyer_fill, "B1", 40, "190.00", cum=40, leaves=0, status="2")
    seller_partial = brk1.er()
    assert_fill(seller_partial, "S1", 40, "190.00", cum=40, leaves=60, status="1")
    assert seller_partial[37] == resting[37]

    brk3.new_order("B2", BUY, 60, "190.00")
    brk3.er()
    assert_fill(brk3.er(), "B2", 60, "190.00", cum=60, leaves=0, status="2")
    seller_fill = brk1.er()
    assert_fill(seller_fill, "S1", 60, "190.00", cum=100, leaves=0, status="2")
    assert_avg_px(seller_fill, Decimal("190.00"))
    # Each execution has its own ExecID.
    ids = [m[17] for m in brk1.app + brk3.app]
    assert len(ids) == len(set(ids))


def test_avg_px_is_the_volume_weighted_price_of_fills_at_different_prices(
        brk1: Broker, brk3: Broker) -> None:
    brk1.rest("S1", SELL, 100, "190.00")
    brk1.rest("S2", SELL, 200, "190.01")
    brk1.rest("S3", SELL, 50, "190.07")
    brk3.new_order("B1", BUY, 330, "190.07")
    assert brk3.er()[150] == "0"
    first, second, third = brk3.ers(3)
    assert_fill(first, "B1", 100, "190.00", cum=100, leaves=230, status="1")
    assert_avg_px(first, avg((100, "190.00")))
    assert_fill(second, "B1", 200, "190.01", cum=300, leaves=30, status="1")
    assert_avg_px(second, avg((100, "190.00"), (200, "190.01")))
    assert_fill(third, "B1", 30, "190.07", cum=330, leaves=0, status="2")
    assert_avg_px(third, avg((100, "190.00"), (200, "190.01"), (30, "190.07")))


def test_fix42_fills_report_exec_type_partial_then_fill_with_last_shares(
        brk2: Broker, brk3: Broker) -> None:
    brk3.rest("S1", SELL, 30, "190.00")
    brk3.rest("S2", SELL, 70, "190.02")
    brk2.new_order("B1", BUY, 100, "190.02")
    new, partial, fill = brk2.ers(3)
    assert (new[20], new[150], new[39]) == ("0", "0", "0")
    assert (partial[20], partial[150], partial[39]) == ("0", "1", "1")
    assert (int(partial[32]), partial.dec(31)) == (30, Decimal("190.00"))
    assert (int(partial[14]), int(partial[151])) == (30, 70)
    assert (fill[20], fill[150], fill[39]) == ("0", "2", "2")
    assert (int(fill[32]), fill.dec(31)) == (70, Decimal("190.02"))
    assert (int(fill[14]), int(fill[151])) == (100, 0)
    assert_avg_px(fill, avg((30, "190.00"), (70, "190.02")))


# -- cancel --------------------------------------------------------------------------------

def test_cancel_is_reported_with_exec_type_canceled_and_both_cl_ord_ids(brk1: Broker) -> None:
    new = brk1.rest("O1", BUY, 100, "189.00")
    brk1.cancel("C1", "O1", BUY)
    er = brk1.er()
    assert (er[150], er[39]) == ("4", "4")
    assert (er[11], er[41], er[37]) == ("C1", "O1", new[37])
    assert (int(er[14]), int(er[151])) == (0, 0)


def test_cancel_of_a_partially_filled_order_keeps_its_cum_qty(brk1: Broker,
                                                              brk3: Broker) -> None:
    brk1.rest("S1", SELL, 100, "190.00")
    brk3.new_order("B1", BUY, 30, "190.00")
    assert_fill(brk1.er(), "S1", 30, "190.00", cum=30, leaves=70, status="1")
    brk1.cancel("C1", "S1", SELL)
    er = brk1.er()
    assert (er[150], er[39], er[11], er[41]) == ("4", "4", "C1", "S1")
    assert (int(er[14]), int(er[151])) == (30, 0)
    assert_avg_px(er, Decimal("190.00"))


# -- replace and priority ------------------------------------------------------------------

def test_replace_lowering_quantity_keeps_time_priority(brk1: Broker, brk3: Broker) -> None:
    first = brk1.rest("S1", SELL, 100, "190.00")
    brk1.rest("S2", SELL, 100, "190.00")
    brk1.replace("S1b", "S1", SELL, 60, "190.00")
    er = brk1.er()
    assert (er[150], er[39], er[11], er[41]) == ("5", "0", "S1b", "S1")
    assert (int(er[38]), int(er[151]), er[37]) == (60, 60, first[37])
    # The replaced order is still first in the queue at 190.00.
    brk3.new_order("B1", BUY, 60, "190.00")
    assert_fill(brk1.er(), "S1b", 60, "190.00", cum=60, leaves=0, status="2")
    brk1.quiet()


def test_replace_changing_price_loses_time_priority(brk1: Broker, brk3: Broker) -> None:
    brk1.rest("S1", SELL, 100, "190.01")
    brk1.rest("S2", SELL, 100, "190.00")
    # S1 moves to S2's price: it queues behind S2, which was there first.
    brk1.replace("S1b", "S1", SELL, 100, "190.00")
    er = brk1.er()
    assert (er[150], er[11], er[41], er.dec(44)) == ("5", "S1b", "S1", Decimal("190.00"))
    brk3.new_order("B1", BUY, 100, "190.00")
    assert_fill(brk1.er(), "S2", 100, "190.00", cum=100, leaves=0, status="2")
    brk1.quiet()


def test_replace_raising_quantity_loses_time_priority(brk1: Broker, brk3: Broker) -> None:
    brk1.rest("S1", SELL, 100, "190.00")
    brk1.rest("S2", SELL, 100, "190.00")
    brk1.replace("S1b", "S1", SELL, 150, "190.00")
    er = brk1.er()
    assert (er[150], er[11], int(er[38]), int(er[151])) == ("5", "S1b", 150, 150)
    brk3.new_order("B1", BUY, 100, "190.00")
    assert_fill(brk1.er(), "S2", 100, "190.00", cum=100, leaves=0, status="2")
    brk1.quiet()


def test_replace_to_a_crossing_price_trades_at_once(brk1: Broker, brk3: Broker) -> None:
    brk3.rest("S1", SELL, 100, "190.05")
    brk1.rest("B1", BUY, 100, "190.00")
    brk1.replace("B1b", "B1", BUY, 100, "190.05")
    replaced, fill = brk1.ers(2)
    assert (replaced[150], replaced[11]) == ("5", "B1b")
    assert_fill(fill, "B1b", 100, "190.05", cum=100, leaves=0, status="2")


# -- time in force and order types ---------------------------------------------------------

def test_ioc_fills_what_it_can_and_cancels_the_remainder(brk1: Broker, brk3: Broker) -> None:
    brk1.rest("S1", SELL, 60, "190.00")
    brk3.new_order("I1", BUY, 100, "190.00", tif="3")
    new, fill, canceled = brk3.ers(3)
    assert (new[150], new[59]) == ("0", "3")
    assert_fill(fill, "I1", 60, "190.00", cum=60, leaves=40, status="1")
    assert (canceled[150], canceled[39], canceled[11]) == ("4", "4", "I1")
    assert (int(canceled[14]), int(canceled[151])) == (60, 0)
    assert_fill(brk1.er(), "S1", 60, "190.00", cum=60, leaves=0, status="2")
    # Nothing rests: a later sell at that price does not trade.
    brk1.rest("S2", SELL, 10, "190.00")
    brk3.quiet()


def test_fok_that_cannot_fill_in_full_is_canceled_without_trading(brk1: Broker,
                                                                   brk3: Broker) -> None:
    brk1.rest("S1", SELL, 60, "190.00")
    brk3.new_order("F1", BUY, 100, "190.00", tif="4")
    new, canceled = brk3.ers(2)
    assert new[150] == "0"
    assert (canceled[150], canceled[39], int(canceled[14]), int(canceled[151])) == \
        ("4", "4", 0, 0)
    brk1.quiet()  # the resting order was not touched


def test_fok_that_can_fill_is_filled_in_full(brk1: Broker, brk3: Broker) -> None:
    brk1.rest("S1", SELL, 60, "190.00")
    brk1.rest("S2", SELL, 60, "190.01")
    brk3.new_order("F1", BUY, 100, "190.01", tif="4")
    assert brk3.er()[150] == "0"
    first, second = brk3.ers(2)
    assert_fill(first, "F1", 60, "190.00", cum=60, leaves=40, status="1")
    assert_fill(second, "F1", 40, "190.01", cum=100, leaves=0, status="2")


def test_market_order_fills_within_the_protection_band_and_cancels_the_rest(
        brk1: Broker, brk3: Broker) -> None:
    # market_protection_pct = 5: from a touch of 190.00 a buy may pay up to 199.50.
    brk1.rest("S1", SELL, 100, "190.00")
    brk1.rest("S2", SELL, 100, "199.50")
    brk1.rest("S3", SELL, 100, "199.51")
    brk3.new_order("M1", BUY, 300)
    new, first, second, canceled = brk3.ers(4)
    assert (new[150], new[40]) == ("0", "1")
    assert_fill(first, "M1", 100, "190.00", cum=100, leaves=200, status="1")
    assert_fill(second, "M1", 100, "199.50", cum=200, leaves=100, status="1")
    assert (canceled[150], canceled[39], int(canceled[14]), int(canceled[151])) == \
        ("4", "4", 200, 0)
    assert_avg_px(canceled, avg((100, "190.00"), (100, "199.50")))


def test_market_order_on_an_empty_book_is_canceled(brk3: Broker) -> None:
    brk3.new_order("M1", SELL, 100)
    new, canceled = brk3.ers(2)
    assert new[150] == "0"
    assert (canceled[150], canceled[39], int(canceled[14])) == ("4", "4", 0)


def test_stop_order_is_triggered_by_a_trade_and_then_trades(brk1: Broker, brk2: Broker,
                                                            brk3: Broker) -> None:
    stop = brk1.rest("ST", BUY, 100, None, ord_type="3", stop_px="190.50")
    assert stop.dec(99) == Decimal("190.50")
    brk2.rest("A1", SELL, 100, "190.50")
    brk2.rest("A2", SELL, 100, "190.60")
    brk1.quiet(0.1)  # no trade yet: the stop waits
    brk3.new_order("T1", BUY, 100, "190.50")  # trades at 190.50: elects the stop
    fills = [m for m in (brk1.er(), brk1.er()) if m[150] == "F"]
    assert len(fills) == 1
    assert_fill(fills[0], "ST", 100, "190.60", cum=100, leaves=0, status="2")


def test_fix44_stop_trigger_report_uses_an_exec_type_defined_in_fix44(brk1: Broker,
                                                                       brk3: Broker) -> None:
    brk1.rest("ST", BUY, 100, None, ord_type="3", stop_px="190.50")
    brk3.rest("A1", SELL, 200, "190.50")
    brk1.new_order("T1", BUY, 100, "190.50")
    reports = brk1.ers(4)  # T1 new and fill; the stop's trigger report and fill
    assert [(m[11], m[150]) for m in reports if m[150] == "F"] == [("T1", "F"), ("ST", "F")]
    outside = [(m[11], bad) for m in reports
               if (bad := values_outside_dictionary(m, "FIX.4.4"))]
    assert outside == []


def test_gtd_order_expires_at_its_expire_time(brk1: Broker) -> None:
    expire = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.5)
    new = brk1.rest("G1", BUY, 100, "189.00", tif="6",
                    extra=[(126, expire.strftime("%Y%m%d-%H:%M:%S.%f")[:-3])])
    assert new[59] == "6" and 126 in new
    expired = brk1.er(timeout=2.5)
    assert (expired[150], expired[39], expired[11], int(expired[151])) == ("C", "C", "G1", 0)


def test_day_orders_expire_at_the_end_of_day_and_gtc_orders_do_not(start_server,
                                                                   clients) -> None:
    # end_of_day a few seconds from now (whole seconds, UTC): the server must be up
    # before it, or it would wait for tomorrow's.
    end_of_day = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=4)
    server = start_server(end_of_day=end_of_day.strftime("%H:%M:%S"))
    brk = connect(server, "BRK3")
    clients.append(brk)
    brk.logon()
    day = brk.rest("D1", BUY, 100, "189.00")               # no TimeInForce: Day
    brk.rest("G1", BUY, 100, "189.00", tif="1")            # good till cancel
    assert dt.datetime.now(dt.UTC) < end_of_day.replace(microsecond=0), "started too late"
    expired = brk.er(timeout=8)
    assert (expired[150], expired[39], expired[11], expired[37]) == ("C", "C", "D1", day[37])
    assert (int(expired[14]), int(expired[151])) == (0, 0)
    brk.quiet(1.2)  # the GTC order stays (a timer tick later)
    brk.status("G1", BUY)
    assert brk.er()[39] == "0"


# -- status --------------------------------------------------------------------------------

def test_fix44_status_request_answers_exec_type_i_with_the_order_state(brk1: Broker,
                                                                         brk3: Broker) -> None:
    new = brk1.rest("S1", SELL, 100, "190.00")
    brk3.new_order("B1", BUY, 25, "190.00")
    brk1.er()
    brk1.status("S1", SELL)
    er = brk1.er()
    assert (er[150], er[39], er[11], er[37]) == ("I", "1", "S1", new[37])
    assert (int(er[14]), int(er[151]), int(er[38])) == (25, 75, 100)
    assert_avg_px(er, Decimal("190.00"))
    assert 20 not in er


def test_fix42_status_request_answers_exec_trans_type_status(brk2: Broker) -> None:
    new = brk2.rest("B1", BUY, 100, "189.00")
    brk2.status("B1", BUY)
    er = brk2.er()
    assert (er[20], er[150], er[39], er[37]) == ("3", "0", "0", new[37])
    assert (int(er[14]), int(er[151])) == (0, 100)


# -- mass cancel ---------------------------------------------------------------------------

def test_mass_cancel_by_symbol_cancels_that_symbols_orders_only(brk1: Broker) -> None:
    a = brk1.rest("A1", BUY, 100, "189.00")
    b = brk1.rest("A2", SELL, 100, "191.00")
    brk1.rest("M1", BUY, 10, "419.00", symbol="MSFT")
    brk1.mass_cancel("Q1", "1", "AAPL")
    c1, c2 = brk1.ers(2)
    assert {(m[37], m[11], m[150], m[39]) for m in (c1, c2)} == \
        {(a[37], "A1", "4", "4"), (b[37], "A2", "4", "4")}
    report = brk1.next_of("r")
    assert (report[11], report[530], report[531], report[533]) == ("Q1", "1", "1", "2")
    assert report[55] == "AAPL"
    # MSFT is still there.
    brk1.status("M1", BUY, symbol="MSFT")
    assert brk1.er()[39] == "0"


def test_mass_cancel_of_all_orders_cancels_every_open_order_of_the_session(
        brk1: Broker, brk3: Broker) -> None:
    ids = {brk1.rest("A1", BUY, 100, "189.00")[37], brk1.rest("A2", SELL, 50, "191.00")[37],
           brk1.rest("M1", BUY, 10, "419.00", symbol="MSFT")[37]}
    brk3.rest("OTHER", BUY, 10, "189.00")
    brk1.mass_cancel("Q1", "7")
    canceled = brk1.ers(3)
    assert {m[37] for m in canceled} == ids
    assert all(m[150] == "4" and m[39] == "4" for m in canceled)
    report = brk1.next_of("r")
    assert (report[530], report[531], report[533]) == ("7", "7", "3")
    brk3.quiet()  # another firm's order is not affected
    brk3.status("OTHER", BUY)
    assert brk3.er()[39] == "0"


def test_mass_cancel_with_nothing_to_cancel_reports_zero_affected(brk1: Broker) -> None:
    brk1.mass_cancel("Q1", "7")
    report = brk1.next_of("r")
    assert (report[531], report[533]) == ("7", "0")
