"""Cancel on disconnect: BRK1 has CancelOnDisconnect=Y, BRK2 and BRK3 do not.

When BRK1's connection goes, every open order of BRK1 is canceled (the drop copy
DC1 sees the ExecType 4 reports at once), and BRK1 gets those reports through
the normal ResendRequest when it logs on again. A clean server stop disconnects
it too. Other sessions' orders stay.
"""

from __future__ import annotations

import pytest

from tests.exchange.exchangeclient import BUY, SELL, Broker, Msg, connect

pytestmark = pytest.mark.slow


def open_orders_of_brk1(brk1: Broker, brk3: Broker) -> dict[str, str]:
    """BRK1: two resting orders, a partially filled one and an untriggered stop;
    BRK3: one resting order. Returns BRK1's {OrderID: ClOrdID}."""
    orders = {}
    for cl, side, qty, price in (("A", BUY, 100, "189.00"), ("B", SELL, 100, "191.00"),
                                 ("C", SELL, 50, "190.00")):
        orders[brk1.rest(cl, side, qty, price)[37]] = cl
    orders[brk1.rest("D", BUY, 10, None, ord_type="3", stop_px="195.00")[37]] = "D"
    brk3.new_order("X", BUY, 20, "190.00")           # fills 20 of C
    brk3.ers(2)
    brk1.er()
    brk3.rest("Y", BUY, 100, "188.00")
    return orders


def cancels_seen(dc: Broker, n: int) -> list[Msg]:
    """The next ``n`` drop copies, skipping the ones of the set-up."""
    out: list[Msg] = []
    while len(out) < n:
        msg = dc.next()
        if msg.type == "8" and msg[150] == "4":
            out.append(msg)
    return out


@pytest.mark.parametrize("how", ["connection dropped", "logout"])
def test_disconnect_of_a_cancel_on_disconnect_session_cancels_its_open_orders(
        how: str, brk1: Broker, brk3: Broker, dc1: Broker) -> None:
    orders = open_orders_of_brk1(brk1, brk3)
    if how == "logout":
        brk1.logout_and_close()
    else:
        brk1.close()
    canceled = cancels_seen(dc1, len(orders))
    assert {m[37]: m[11] for m in canceled} == orders
    assert all((m[128], m[39], m[151]) == ("BRK1", "4", "0") for m in canceled)
    assert all("disconnect" in m[58] for m in canceled), canceled
    partially_filled = next(m for m in canceled if m[11] == "C")
    assert (partially_filled[14], partially_filled[151]) == ("20", "0")
    dc1.quiet()  # BRK3's order is not canceled
    brk3.status("Y", BUY)
    assert brk3.er()[39] == "0"


def test_the_session_gets_the_cancel_reports_by_resend_when_it_logs_on_again(
        login, brk1: Broker, brk3: Broker, dc1: Broker) -> None:
    orders = open_orders_of_brk1(brk1, brk3)
    brk1.close()
    cancels_seen(dc1, len(orders))
    again = login("BRK1", next_seq=brk1.next_seq)
    again.resend_request(brk1.last_seq_in + 1)
    resent = [again.er() for _ in orders]
    assert {m[37]: m[11] for m in resent} == orders
    assert all((m[150], m[39], m[43]) == ("4", "4", "Y") for m in resent)
    # Open orders are gone for good: a status request says canceled.
    again.next_of("4")  # gap fill over the Logon
    again.status("A", BUY)
    assert again.er()[39] == "4"


def test_disconnect_of_a_session_without_cancel_on_disconnect_keeps_its_orders(
        login, brk2: Broker, brk3: Broker, dc1: Broker) -> None:
    kept = brk2.rest("K1", BUY, 100, "189.00")
    dc1.next()
    brk2.close()
    dc1.quiet(0.5)  # no cancel
    brk3.new_order("S1", SELL, 100, "189.00")
    fill = brk3.ers(2)[1]
    assert (fill[150], fill[39], fill[31]) == ("F", "2", "189")
    again = login("BRK2", next_seq=brk2.next_seq)
    again.resend_request(brk2.last_seq_in + 1)
    resent = again.er()
    assert (resent[37], resent[11], resent[150], resent[39], resent[43]) == \
        (kept[37], "K1", "2", "2", "Y")


def test_a_clean_server_stop_cancels_them_too_and_they_are_reported_after_restart(
        start_server, clients: list[Broker]) -> None:
    server = start_server(durable=True)
    brk1 = connect(server, "BRK1")
    clients.append(brk1)
    brk1.logon()
    new = brk1.rest("A", BUY, 100, "189.00")
    assert server.stop() == 0
    assert brk1.next(2).type == "5"        # the server logged BRK1 out
    server.start()
    again = connect(server, "BRK1", next_seq=brk1.next_seq)
    clients.append(again)
    again.logon()
    again.resend_request(brk1.last_seq_in + 1)
    canceled = again.er()
    assert (canceled[37], canceled[150], canceled[39], canceled[43]) == (new[37], "4", "4", "Y")
    assert "disconnect" in canceled[58]
