"""Drop copy end to end: DC1 (FIX.4.4) sees every firm, DC2 (FIX.4.2) only BROKER1.

A drop-copy session receives a copy of every ExecutionReport of the firms it
sees, in its own FIX version, with OnBehalfOfCompID (115) = the exchange and
DeliverToCompID (128) = the broker session the report was for; it is read only;
and after a reconnect it gets what it missed through the normal ResendRequest.
"""

from __future__ import annotations

import pytest

from tests.exchange.exchangeclient import BUY, SELL, Broker, Msg, wait_for

pytestmark = pytest.mark.slow


def trading(brk1: Broker, brk2: Broker) -> None:
    """Some activity of both firms: new, trade, cancel, reject, status, replace."""
    brk1.rest("S1", SELL, 100, "190.00")
    brk2.new_order("B1", BUY, 60, "190.00")
    brk2.ers(2)
    brk1.er()
    brk2.rest("B2", BUY, 100, "189.00")
    brk2.replace("B3", "B2", BUY, 90, "189.00")
    brk2.er()
    brk2.cancel("B4", "B3", BUY)
    brk2.er()
    brk1.new_order("R1", BUY, 10, "1.00", symbol="NOPE")
    brk1.er()
    brk1.status("S1", SELL)
    brk1.er()
    brk1.cancel("C1", "UNKNOWN", SELL)  # a cancel reject: not an ExecutionReport
    brk1.next_of("9")


def key(er: Msg) -> tuple[str, ...]:
    """What must be identical between a report and its copy, whatever the version."""
    return tuple(er.get(t, "") for t in (17, 37, 11, 41, 14, 151, 6, 31, 32, 55, 54, 1))


def collect(dc: Broker, n: int) -> list[Msg]:
    return [dc.next() for _ in range(n)]


def test_drop_copy_receives_every_execution_report_of_both_firms(
        brk1: Broker, brk2: Broker, dc1: Broker) -> None:
    trading(brk1, brk2)
    sent = [(b.sender, m) for b in (brk1, brk2) for m in b.app if m.type == "8"]
    copies = collect(dc1, len(sent))
    dc1.quiet()  # nothing else: no copy of the cancel reject
    assert all(c.type == "8" for c in copies), copies
    assert sorted((s, key(m)) for s, m in sent) == sorted((c[128], key(c)) for c in copies)


def test_drop_copies_name_the_exchange_and_the_broker_session(
        brk1: Broker, brk2: Broker, dc1: Broker) -> None:
    brk1.rest("S1", SELL, 100, "190.00")
    brk2.rest("B1", BUY, 100, "189.00")
    first, second = collect(dc1, 2)
    assert [(c[49], c[56], c[115], c[128], c[11]) for c in (first, second)] == \
        [("EXCH", "DC1", "EXCH", "BRK1", "S1"), ("EXCH", "DC1", "EXCH", "BRK2", "B1")]


def test_drop_copy_reports_follow_the_drop_copy_sessions_fix_version(
        login, brk1: Broker, brk2: Broker, dc1: Broker) -> None:
    dc2 = login("DC2")   # FIX.4.2, sees BROKER1 (FIX.4.4)
    brk1.rest("S1", SELL, 100, "190.00")
    brk2.new_order("B1", BUY, 40, "190.00")
    # DC1 (4.4) gets BRK2's 4.2 reports in 4.4 terms ...
    new_s1, new_b1, *trades = collect(dc1, 4)
    b1_fill = next(c for c in trades if c[128] == "BRK2")
    assert (b1_fill[8], b1_fill[150], b1_fill[39]) == ("FIX.4.4", "F", "2")
    assert 20 not in b1_fill
    # ... and DC2 (4.2) gets BRK1's 4.4 reports in 4.2 terms.
    new, partial = collect(dc2, 2)
    assert (new[8], new[20], new[150], new[128]) == ("FIX.4.2", "0", "0", "BRK1")
    assert (partial[20], partial[150], partial[39], partial[32]) == ("0", "1", "1", "40")


def test_drop_copy_of_one_firm_does_not_see_other_firms(login, brk1: Broker,
                                                        brk2: Broker) -> None:
    dc2 = login("DC2")
    brk2.rest("B1", BUY, 100, "189.00")
    brk1.rest("S1", SELL, 100, "191.00")
    copy = dc2.next()
    assert (copy[128], copy[11]) == ("BRK1", "S1")
    dc2.quiet()


@pytest.mark.parametrize(("drop_copy", "reason"), [("DC1", "6"), ("DC2", "0")],
                         ids=["FIX.4.4 Not authorized", "FIX.4.2 Other"])
def test_order_sent_on_a_drop_copy_session_is_refused_with_a_business_reject(
        login, brk1: Broker, drop_copy: str, reason: str) -> None:
    dc = login(drop_copy)
    dc.new_order("X1", BUY, 100, "190.00")
    reject = dc.next_of("j")
    assert (reject[372], reject[380], reject[379]) == ("D", reason, "X1")
    assert "read only" in reject[58]
    # Nothing reached the book: a sell at that price rests instead of trading.
    brk1.rest("S1", SELL, 100, "190.00")
    brk1.quiet()


def test_drop_copy_gets_the_reports_it_missed_through_resend_request(
        server, login, brk1: Broker, brk2: Broker, dc1: Broker) -> None:
    brk1.rest("S0", SELL, 10, "195.00")
    dc1.next()
    dc1.logout_and_close()
    wait_for(lambda: "DC1: logged out" in server.log(), 5, "DC1 logged out")
    trading(brk1, brk2)
    missed = [(b.sender, m) for b in (brk1, brk2) for m in b.app
              if m.type == "8" and m[11] != "S0"]

    again = login("DC1", next_seq=dc1.next_seq)
    again.resend_request(dc1.last_seq_in + 1)
    resent = []
    while len(resent) < len(missed):
        msg = again.next()
        if msg.type == "8":
            resent.append(msg)
    assert all(m[43] == "Y" and m.get(122) for m in resent), resent
    assert all((m[49], m[56], m[115]) == ("EXCH", "DC1", "EXCH") for m in resent)
    assert sorted((s, key(m)) for s, m in missed) == sorted((m[128], key(m)) for m in resent)
    gap_fill = again.next()  # for the Logon, an admin message
    assert (gap_fill.type, gap_fill[123]) == ("4", "Y")
    again.quiet()
